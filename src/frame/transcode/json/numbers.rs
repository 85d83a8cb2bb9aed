//! Numbers as the JSON transcoder stores them: a JSON number or a numeric string converted to
//! the field's schema type with protojson's (and the oracle's) rules.

use super::super::bson;
use super::scan::{POW10, fold_run};
use super::{Key, Number, Parsed, Parser, R};
use crate::proto::schema::{Field, Kind, Message};

/// A numeric value in its stored type (floats already widened).
pub(super) enum Value {
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
}

/// A JSON number into the field's type, with protojson's (and the oracle's) rules: integers
/// exact, or a double with no fraction within range; floats rounded through f64.
pub(super) fn convert(kind: Kind, n: Parsed) -> Option<Value> {
    fn int<T>(n: Parsed, min: f64, max_plus_one: f64) -> Option<T>
    where
        T: TryFrom<u64> + TryFrom<i64> + FromF64,
    {
        match n {
            Parsed::U64(v) => T::try_from(v).ok(),
            Parsed::I64(v) => T::try_from(v).ok(),
            Parsed::F64(v) => {
                (v.fract() == 0.0 && v >= min && v < max_plus_one).then(|| T::from_f64(v))
            }
        }
    }
    Some(match kind {
        Kind::Int32 | Kind::SInt32 | Kind::SFixed32 => {
            Value::I32(int::<i32>(n, i32::MIN as f64, i32::MAX as f64 + 1.0)?)
        }
        Kind::UInt32 | Kind::Fixed32 => Value::U32(int::<u32>(n, 0.0, u32::MAX as f64 + 1.0)?),
        Kind::Int64 | Kind::SInt64 | Kind::SFixed64 => {
            Value::I64(int::<i64>(n, i64::MIN as f64, i64::MAX as f64 + 1.0)?)
        }
        Kind::UInt64 | Kind::Fixed64 => Value::U64(int::<u64>(n, 0.0, u64::MAX as f64 + 1.0)?),
        Kind::Double => Value::F64(match n {
            Parsed::U64(v) => v as f64,
            Parsed::I64(v) => v as f64,
            Parsed::F64(v) => v,
        }),
        Kind::Float => Value::F64(f64::from(match n {
            Parsed::U64(v) => v as f32,
            Parsed::I64(v) => v as f32,
            Parsed::F64(v) => v as f32,
        })),
        _ => return None,
    })
}

trait FromF64 {
    fn from_f64(v: f64) -> Self;
}

macro_rules! from_f64 {
    ($($t:ty),*) => {$(impl FromF64 for $t { fn from_f64(v: f64) -> Self { v as $t } })*};
}
from_f64!(i32, u32, i64, u64);

/// A number written as a JSON string: Rust's `FromStr` for the field's type, as the oracle's
/// number reader uses (`src/proto/number.rs`).
pub(super) fn from_str(kind: Kind, s: &str) -> Option<Value> {
    Some(match kind {
        Kind::Int32 | Kind::SInt32 | Kind::SFixed32 => Value::I32(s.parse().ok()?),
        Kind::UInt32 | Kind::Fixed32 => Value::U32(s.parse().ok()?),
        Kind::Int64 | Kind::SInt64 | Kind::SFixed64 => Value::I64(s.parse().ok()?),
        Kind::UInt64 | Kind::Fixed64 => Value::U64(s.parse().ok()?),
        Kind::Double => Value::F64(s.parse().ok()?),
        Kind::Float => Value::F64(f64::from(s.parse::<f32>().ok()?)),
        _ => return None,
    })
}

impl Parser<'_, '_> {
    /// A number token at the current position, checked against JSON's grammar, its digits
    /// folded into the mantissa as they are scanned: scanning a token and then folding over
    /// its digits read every number twice, and numbers are most of a frame's bytes.
    pub(super) fn number(&mut self) -> R<Number> {
        let b = self.b;
        let start = self.i;
        let negative = b.get(start) == Some(&b'-');
        let mut i = start + usize::from(negative);
        let digits_at = i;
        // Wraps past 19 digits; `digits` says when it did (then the exact path below redoes it).
        let mut mantissa: u64 = 0;
        match b.get(i) {
            Some(b'0') => {
                i += 1;
                if let Some(b'0'..=b'9') = b.get(i) {
                    self.i = i;
                    return Err(self.syntax("invalid number"));
                }
            }
            Some(b'1'..=b'9') => (i, mantissa) = fold_run(b, i, 0),
            None => {
                self.i = i;
                return Err(self.syntax("EOF while parsing a value"));
            }
            _ => {
                self.i = i + 1;
                return Err(self.syntax("invalid number"));
            }
        }
        let int_end = i;
        let mut frac = (i, i);
        if b.get(i) == Some(&b'.') {
            let from = i + 1;
            (i, mantissa) = fold_run(b, from, mantissa);
            if i == from {
                self.i = i;
                return Err(self.syntax("invalid number"));
            }
            frac = (from, i);
        }
        let mut exp: i64 = 0;
        let mut has_exp = false;
        if let Some(b'e' | b'E') = b.get(i) {
            has_exp = true;
            i += 1;
            let mut exp_negative = false;
            if let Some(&sign @ (b'+' | b'-')) = b.get(i) {
                exp_negative = sign == b'-';
                i += 1;
            }
            let from = i;
            // Saturates far outside the fast path's range; such a token goes to `str::parse`.
            while let Some(&d @ b'0'..=b'9') = b.get(i) {
                exp = (exp * 10 + i64::from(d - b'0')).min(1 << 32);
                i += 1;
            }
            if i == from {
                self.i = (i + 1).min(b.len());
                return Err(self.syntax("invalid number"));
            }
            if exp_negative {
                exp = -exp;
            }
        }
        self.i = i;
        let frac_len = frac.1 - frac.0;
        let integer = frac_len == 0 && !has_exp;
        // At most 19 digits fit a u64 whatever they are; longer tokens take the exact path.
        let exact = if int_end - digits_at + frac_len <= 19 {
            true
        } else {
            let (int, frac) = (&b[digits_at..int_end], &b[frac.0..frac.1]);
            let m = int.iter().chain(frac).try_fold(0u64, |m, &d| {
                m.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            mantissa = m.unwrap_or(0);
            m.is_some()
        };
        let exp10 = exp - frac_len as i64;
        let fast = (exact && mantissa <= 1 << 53 && (-22..=22).contains(&exp10))
            .then_some((mantissa, exp10 as i32));
        Ok(Number {
            start,
            end: i,
            fast,
            magnitude: (integer && exact).then_some(mantissa),
            negative,
        })
    }

    /// A numeric field: a JSON number, or a string holding one (protojson allows both).
    pub(super) fn number_value(
        &mut self,
        msg: &'static Message,
        field: &'static Field,
        parent: Option<&'static Field>,
        kind: Kind,
        key: Key,
        singular: bool,
    ) -> R<()> {
        let value = match self.peek() {
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                let parsed = self.parsed(n)?;
                convert(kind, parsed)
            }
            Some(b'"') => {
                self.i += 1;
                let text = self.text()?;
                let s = unsafe { std::str::from_utf8_unchecked(self.key_bytes(text)) };
                from_str(kind, s)
            }
            _ => return self.mismatch("a number or a string holding one", Some(field)),
        };
        let Some(value) = value else {
            return Err(self.schema("number out of the field's range", Some(field)));
        };
        match value {
            Value::I32(v) => {
                if v != 0 || !singular {
                    self.header(bson::INT32, key);
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Value::U32(v) => {
                if v != 0 || !singular {
                    self.header(bson::INT64, key);
                    self.out.extend_from_slice(&i64::from(v).to_le_bytes());
                }
            }
            Value::I64(v) => {
                if v != 0 || !singular {
                    self.header(bson::STRING, key);
                    bson::decimal_string(self.out, v < 0, v.unsigned_abs());
                }
            }
            Value::U64(v) => {
                if v != 0 || !singular {
                    self.header(bson::STRING, key);
                    bson::decimal_string(self.out, false, v);
                }
            }
            Value::F64(v) => {
                self.deferred.non_finite(v, msg, field, parent);
                if v != 0.0 || !singular {
                    self.header(bson::DOUBLE, key);
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        Ok(())
    }

    /// The elements of a repeated double or float field, after its `[`; returns how many.
    /// Number elements take a loop of their own (the lists of 3-4 coordinates are most of a
    /// frame's values, and each went through the general per-element dispatch); anything else
    /// (a string such as `"NaN"`, a wrong type) takes the general path, so errors are its own.
    pub(super) fn float_list(
        &mut self,
        msg: &'static Message,
        field: &'static Field,
        parent: Option<&'static Field>,
    ) -> R<u32> {
        let mut i = 0u32;
        while self.next_element(i == 0)? {
            if let Some(b'-' | b'0'..=b'9') = self.peek() {
                let n = self.number()?;
                // A double is the token's correctly rounded value whatever serde_json's type
                // for it; a float is rounded from that type, as `convert` does.
                let v = match field.kind {
                    Kind::Double => self.f64_of(n)?,
                    kind => match convert(kind, self.parsed(n)?) {
                        Some(Value::F64(v)) => v,
                        _ => unreachable!("floats convert to doubles"),
                    },
                };
                self.deferred.non_finite(v, msg, field, parent);
                bson::index_header(self.out, bson::DOUBLE, i);
                self.out.extend_from_slice(&v.to_le_bytes());
            } else {
                self.value(msg, field, parent, Key::Index(i), false)?;
            }
            i += 1;
        }
        Ok(i)
    }

    /// The number as a double, correctly rounded (as serde_json's `float_roundtrip` parses);
    /// out of double range is a syntax error there too.
    pub(super) fn f64_of(&self, n: Number) -> R<f64> {
        if let Some((mantissa, exp10)) = n.fast {
            let m = mantissa as f64;
            let v = if exp10 < 0 {
                m / POW10[exp10.unsigned_abs() as usize]
            } else {
                m * POW10[exp10 as usize]
            };
            return Ok(if n.negative { -v } else { v });
        }
        // The token is ASCII (checked by `number`), and JSON's grammar is within Rust's.
        let text = unsafe { std::str::from_utf8_unchecked(&self.b[n.start..n.end]) };
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.syntax("number out of range")),
        }
    }

    /// The number as serde_json hands it over: u64, negative i64, else a double (`-0`, and
    /// integers beyond 64 bits, are doubles there).
    pub(super) fn parsed(&self, n: Number) -> R<Parsed> {
        if let Some(v) = n.magnitude {
            if !n.negative {
                return Ok(Parsed::U64(v));
            }
            let neg = (v as i64).wrapping_neg();
            if neg < 0 {
                return Ok(Parsed::I64(neg));
            }
        }
        Ok(Parsed::F64(self.f64_of(n)?))
    }
}
