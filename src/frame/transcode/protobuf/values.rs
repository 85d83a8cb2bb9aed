//! Scalar values: decoded from the wire as prost decodes them, and written as their BSON
//! element (defaults dropped for singular fields, as protojson drops them).

use super::super::{bson, enum_known, enum_label};
use super::Decoder;
use super::wire::{R, err, varint};
use crate::proto::schema::{self, Field, Kind, Message};

impl Decoder<'_, '_> {
    /// Packed doubles or floats, most of a frame's values (vectors, bones): fixed-width, so
    /// one tight loop over the payload, with the output reserved once, where the generic path
    /// decodes each value to a [`Scalar`] and matches it again to write it. Values `n…` of the
    /// array being written; a payload not a whole number of values is refused, as prost does.
    pub(super) fn packed_floats(
        &mut self,
        msg: &'static Message,
        field: &'static Field,
        parent: Option<&'static Field>,
        (start, end): (usize, usize),
        n: &mut u32,
    ) -> R<()> {
        let bytes = &self.body()[start..end];
        let width = if let Kind::Double = field.kind { 8 } else { 4 };
        if !bytes.len().is_multiple_of(width) {
            return Err(err("buffer underflow"));
        }
        // Per value: type byte, index key (≤ 10 digits) and NUL, 8 bytes.
        self.out.reserve(bytes.len() / width * 20);
        let mut put = |d: &mut Self, v: f64| {
            d.deferred.non_finite(v, msg, field, parent);
            bson::index_header(d.out, bson::DOUBLE, *n);
            d.out.extend_from_slice(&v.to_le_bytes());
            *n += 1;
        };
        if width == 8 {
            for c in bytes.chunks_exact(8) {
                put(self, f64::from_le_bytes(c.try_into().unwrap()));
            }
        } else {
            for c in bytes.chunks_exact(4) {
                put(self, f64::from(f32::from_le_bytes(c.try_into().unwrap())));
            }
        }
        Ok(())
    }

    pub(super) fn scalar(
        &mut self,
        msg: &'static Message,
        field: &'static Field,
        parent: Option<&'static Field>,
        v: Scalar,
        key: Elem,
        singular: bool,
    ) {
        let header = |out: &mut Vec<u8>, kind: u8| match key {
            Elem::Name(k) => bson::header(out, kind, k),
            Elem::Index(i) => bson::index_header(out, kind, i),
        };
        match v {
            Scalar::I32(v) => {
                if v != 0 || !singular {
                    header(self.out, bson::INT32);
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Scalar::U32(v) => {
                if v != 0 || !singular {
                    header(self.out, bson::INT64);
                    self.out.extend_from_slice(&i64::from(v).to_le_bytes());
                }
            }
            Scalar::I64(v) => {
                if v != 0 || !singular {
                    header(self.out, bson::STRING);
                    bson::decimal_string(self.out, v < 0, v.unsigned_abs());
                }
            }
            Scalar::U64(v) => {
                if v != 0 || !singular {
                    header(self.out, bson::STRING);
                    bson::decimal_string(self.out, false, v);
                }
            }
            Scalar::F64(v) => {
                self.deferred.non_finite(v, msg, field, parent);
                if v != 0.0 || !singular {
                    header(self.out, bson::DOUBLE);
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
            }
            Scalar::Bool(v) => {
                if v || !singular {
                    header(self.out, bson::BOOLEAN);
                    self.out.push(u8::from(v));
                }
            }
            Scalar::Enum(e, v) => {
                if !enum_known(e, v) {
                    self.deferred.out_of_range(enum_label(msg, field));
                }
                if v != 0 || !singular {
                    header(self.out, bson::STRING);
                    bson::string(self.out, e.name(v).unwrap_or_default().as_bytes());
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
pub(super) enum Elem {
    Name(&'static [u8]),
    Index(u32),
}

pub(super) enum Scalar {
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Enum(&'static schema::Enum, i32),
}

/// One scalar value of `kind` at `*at`, decoded as prost does (32-bit varints truncate).
pub(super) fn scalar(b: &[u8], at: &mut usize, kind: Kind) -> R<Scalar> {
    let fixed = |at: &mut usize, n: usize| -> R<[u8; 8]> {
        let Some(bytes) = b.get(*at..*at + n) else {
            return Err(err("buffer underflow"));
        };
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(bytes);
        *at += n;
        Ok(v)
    };
    Ok(match kind {
        Kind::Int32 => Scalar::I32(varint(b, at)? as i32),
        Kind::UInt32 => Scalar::U32(varint(b, at)? as u32),
        Kind::Int64 => Scalar::I64(varint(b, at)? as i64),
        Kind::UInt64 => Scalar::U64(varint(b, at)?),
        Kind::SInt32 => {
            let n = varint(b, at)? as u32;
            Scalar::I32(((n >> 1) as i32) ^ (-((n & 1) as i32)))
        }
        Kind::SInt64 => {
            let n = varint(b, at)?;
            Scalar::I64(((n >> 1) as i64) ^ (-((n & 1) as i64)))
        }
        Kind::Bool => Scalar::Bool(varint(b, at)? != 0),
        Kind::Enum(e) => Scalar::Enum(e, varint(b, at)? as i32),
        Kind::Fixed32 => Scalar::U32(u32::from_le_bytes(fixed(at, 4)?[..4].try_into().unwrap())),
        Kind::SFixed32 => Scalar::I32(i32::from_le_bytes(fixed(at, 4)?[..4].try_into().unwrap())),
        Kind::Float => Scalar::F64(f64::from(f32::from_le_bytes(
            fixed(at, 4)?[..4].try_into().unwrap(),
        ))),
        Kind::Fixed64 => Scalar::U64(u64::from_le_bytes(fixed(at, 8)?)),
        Kind::SFixed64 => Scalar::I64(i64::from_le_bytes(fixed(at, 8)?)),
        Kind::Double => Scalar::F64(f64::from_le_bytes(fixed(at, 8)?)),
        _ => return Err(err("not a scalar")),
    })
}
