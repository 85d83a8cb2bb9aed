//! A fast protojson number reader, swapped in for pbjson's by `build.rs`.
//!
//! pbjson reads every number through a `#[serde(untagged)]` enum, which makes serde buffer each
//! value into an intermediate tree before trying its variants: a frame holds ~1,500 numbers, so
//! that buffering cost more than the rest of decoding together. This reads the value directly
//! (number or string, as protojson allows) with the same acceptance rules.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A protojson number: a JSON number or a string holding one.
pub struct NumberDeserialize<T>(pub T);

/// The numeric types protobuf fields use, with lossless conversions from what JSON carries.
pub trait ProtoNumber: Sized + FromStr {
    const NAME: &'static str;
    fn from_i64(v: i64) -> Option<Self>;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_f64(v: f64) -> Option<Self>;
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl ProtoNumber for $t {
            const NAME: &'static str = stringify!($t);
            fn from_i64(v: i64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            fn from_u64(v: u64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            /// protojson accepts an integer written with a fraction or exponent (`1.0`, `1e3`).
            fn from_f64(v: f64) -> Option<Self> {
                // `MAX as f64` rounds up to 2^bits for 64-bit types: compare against MAX + 1, exclusive.
                (v.fract() == 0.0 && v >= <$t>::MIN as f64 && v < <$t>::MAX as f64 + 1.0).then(|| v as $t)
            }
        }
    )*};
}
integer!(i32, i64, u32, u64);

impl ProtoNumber for f64 {
    const NAME: &'static str = "f64";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f64)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v)
    }
}

impl ProtoNumber for f32 {
    const NAME: &'static str = "f32";
    fn from_i64(v: i64) -> Option<Self> {
        Some(v as f32)
    }
    fn from_u64(v: u64) -> Option<Self> {
        Some(v as f32)
    }
    fn from_f64(v: f64) -> Option<Self> {
        Some(v as f32)
    }
}

struct NumberVisitor<T>(PhantomData<T>);

impl<T: ProtoNumber> Visitor<'_> for NumberVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} as a number or a string", T::NAME)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::from_i64(v).ok_or_else(|| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_u64(v).ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        T::from_f64(v).ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

impl<'de, T: ProtoNumber> Deserialize<'de> for NumberDeserialize<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(NumberVisitor(PhantomData))
            .map(NumberDeserialize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: ProtoNumber>(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_str::<NumberDeserialize<T>>(json).map(|n| n.0)
    }

    #[test]
    fn numbers_and_strings_as_protojson_allows() {
        assert_eq!(parse::<i32>("-5").unwrap(), -5);
        assert_eq!(parse::<i32>("\"-5\"").unwrap(), -5);
        assert_eq!(parse::<i32>("1e3").unwrap(), 1000);
        assert_eq!(parse::<u64>("\"18446744073709551615\"").unwrap(), u64::MAX);
        assert_eq!(parse::<u64>("18446744073709551615").unwrap(), u64::MAX);
        assert_eq!(parse::<f64>("2").unwrap(), 2.0);
        assert_eq!(parse::<f64>("\"1.5\"").unwrap(), 1.5);
        assert_eq!(parse::<f32>("0.25").unwrap(), 0.25);
        assert!(
            parse::<f64>("\"NaN\"").unwrap().is_nan(),
            "the finite check refuses it later"
        );
    }

    #[test]
    fn out_of_range_and_wrong_types_are_errors() {
        assert!(parse::<i32>("2147483648").is_err());
        assert!(parse::<u32>("-1").is_err());
        assert!(parse::<i32>("1.5").is_err());
        assert!(parse::<i64>("\"x\"").is_err());
        assert!(parse::<f64>("true").is_err());
        assert!(parse::<f64>("[1]").is_err());
    }
}
