//! protojson → BSON in one pass over the body.
//!
//! A hand-written scanner rather than a serde visitor: serde's visitors hand every value to
//! generated code that builds a typed tree, which is what cost 0.94M instructions a frame
//! (issue 13). The scanner follows serde_json's grammar and its error classes exactly (the
//! differential test in `frame::oracle` holds it to that): known values are parsed strictly
//! (strings UTF-8 checked, surrogates paired, containers nested at most 127 deep), skipped
//! values of unknown fields as leniently as `serde::de::IgnoredAny` (syntax only).
//!
//! The bounds of [`crate::frame::limits`] (depth, messages, values) are counted in the same
//! pass, exactly as its pre-scan counts them (every `{` and `[`, every `,` outside strings), so
//! the pre-scan runs only on a body this pass refused (see `frame::decode_document`): a second
//! byte loop over every accepted body cost ~6 µs of a 10.5 KB frame's ~60.

mod numbers;
mod scan;
mod skip;
mod strings;
mod syntax;

use super::bson;
use super::{Deferred, Entry, Scratch, enum_known, reorder_fields, reorder_map, write_timestamp};
use crate::frame::FrameError;
use crate::proto::schema::{self, Cardinality, Field, Kind, Message};

/// serde_json's recursion limit: a 128th nested container is an error.
const MAX_DEPTH: u32 = 128;

/// `LobbySessionStateFrame.session` and `SessionResponse.session_id`: the frame's match.
const SESSION_FIELD: u32 = 4;
const SESSION_ID_FIELD: u32 = 2;

/// Errors are boxed inside the parser: a `Result` of a 56-byte `FrameError` went through
/// memory at every one of the thousands of calls a frame makes, a boxed one stays in a
/// register (the error path allocates once, and only for a refused frame).
type R<T> = Result<T, Box<FrameError>>;

struct Parser<'a, 's> {
    b: &'a [u8],
    i: usize,
    depth: u32,
    out: &'s mut Vec<u8>,
    scratch: &'s mut Scratch,
    deferred: &'s mut Deferred,
    /// `{` seen so far (the pre-scan's messages).
    messages: usize,
    /// `{`, `[` and `,` seen so far (the pre-scan's values).
    values: usize,
}

/// A JSON number token, validated against the grammar.
#[derive(Clone, Copy)]
struct Number {
    start: usize,
    end: usize,
    /// The value as `mantissa × 10^exp10` when both fit Clinger's fast path (the mantissa
    /// at most 2^53, the power of ten at most 10^22: both exact in a double, so one IEEE
    /// multiplication or division is the correctly rounded result); else `None`, and the
    /// token is parsed by `str::parse`. Most of a frame is short decimals: parsing them from
    /// the digits already scanned took the floats' share from 2 passes over the token to 1.
    fast: Option<(u64, i32)>,
    /// An integer token's (no fraction, no exponent) magnitude, when it fits a u64.
    magnitude: Option<u64>,
    negative: bool,
}

/// A number as serde_json hands it to a visitor.
#[derive(Clone, Copy)]
enum Parsed {
    U64(u64),
    I64(i64),
    F64(f64),
}

pub(super) fn transcode(
    body: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
    deferred: &mut Deferred,
) -> Result<(), FrameError> {
    run(body, out, scratch, deferred).map_err(|e| *e)
}

fn run(body: &[u8], out: &mut Vec<u8>, scratch: &mut Scratch, deferred: &mut Deferred) -> R<()> {
    scratch.entries.clear();
    scratch.session_id.clear();
    let mut p = Parser {
        b: body,
        i: 0,
        depth: 0,
        out,
        scratch,
        deferred,
        messages: 0,
        values: 0,
    };
    p.ws();
    let frame = schema::frame();
    match p.peek() {
        Some(b'{') => p.message(frame, None)?,
        _ => p.mismatch("a LobbySessionStateFrame object", None)?,
    }
    p.ws();
    if p.i < p.b.len() {
        return Err(p.syntax("trailing characters"));
    }
    Ok(())
}

impl Parser<'_, '_> {
    /// A message object (at its `{`), written as a BSON document body.
    fn message(&mut self, msg: &'static Message, parent: Option<&'static Field>) -> R<()> {
        self.enter()?;
        let doc = bson::begin(self.out);
        let base = self.scratch.entries.len();
        let mut seen: u64 = 0;
        let mut oneofs: u8 = 0;
        let mut hint = 0usize;
        let mut first = true;
        while self.next_member(first)? {
            first = false;
            let key = self.key()?;
            // Encoders write fields in schema order: the next field's JSON or proto name, compared
            // inline, is what `field_index_after` would find first anyway.
            let expected = msg.fields.get(hint).is_some_and(|f| {
                let k = self.key_bytes(key);
                k == f.json_name.as_bytes() || k == f.name.as_bytes()
            });
            let found = if expected {
                Some(hint)
            } else {
                self.lookup(msg, key, hint)
            };
            let Some(idx) = found else {
                self.colon()?;
                self.deferred.unknown_fields = self.deferred.unknown_fields.saturating_add(1);
                self.skip()?;
                continue;
            };
            hint = idx + 1;
            let field = &msg.fields[idx];
            // Checked before the value (and its colon), where serde's generated code checks.
            let bit = 1u64 << (idx & 63);
            if seen & bit != 0 || field.oneof.is_some_and(|o| oneofs & (1 << o) != 0) {
                return Err(self.schema("duplicate field", Some(field)));
            }
            self.colon()?;
            let start = self.out.len();
            let present = self.field(msg, field, parent)?;
            if present {
                seen |= bit;
                if let Some(o) = field.oneof {
                    oneofs |= 1 << o;
                }
                if std::ptr::eq(msg, schema::frame()) && field.number == SESSION_FIELD {
                    self.deferred.session = true;
                }
            }
            if self.out.len() > start {
                self.scratch.entries.push(Entry {
                    key: idx as u32,
                    start: start as u32,
                    end: self.out.len() as u32,
                });
            }
        }
        let scratch = &mut *self.scratch;
        if scratch.entries.len() > base + 1 {
            reorder_fields(self.out, &mut scratch.entries[base..], &mut scratch.reorder);
        }
        scratch.entries.truncate(base);
        bson::end(self.out, doc);
        self.leave();
        Ok(())
    }

    /// The key just opened by `"`, as a range of either the body or `scratch.text`.
    fn key(&mut self) -> R<Key> {
        self.text()
    }

    fn key_bytes(&self, key: Key) -> &[u8] {
        match key {
            Key::Body(a, b) => &self.b[a..b],
            Key::Text => &self.scratch.text,
            Key::Name(_) | Key::Index(_) => unreachable!("element keys are not read back"),
        }
    }

    fn lookup(&self, msg: &Message, key: Key, hint: usize) -> Option<usize> {
        let k = self.key_bytes(key);
        // Valid UTF-8 (checked by the string scan).
        let k = unsafe { std::str::from_utf8_unchecked(k) };
        msg.field_index_after(k, hint)
    }

    /// One field's value, written as an element keyed by its JSON name (nothing for a
    /// default). Returns false for a `null` the field's type accepts as "absent".
    fn field(
        &mut self,
        msg: &'static Message,
        field: &'static Field,
        parent: Option<&'static Field>,
    ) -> R<bool> {
        let key = field.json_name.as_bytes();
        match field.cardinality {
            Cardinality::Repeated => {
                if self.peek() != Some(b'[') {
                    return self.mismatch("a list", Some(field));
                }
                self.enter()?;
                let start = self.out.len();
                bson::header(self.out, bson::ARRAY, key);
                let doc = bson::begin(self.out);
                let i = match field.kind {
                    Kind::Double | Kind::Float => self.float_list(msg, field, parent)?,
                    _ => {
                        let mut i = 0u32;
                        while self.next_element(i == 0)? {
                            self.value(msg, field, parent, Key::Index(i), false)?;
                            i += 1;
                        }
                        i
                    }
                };
                self.leave();
                if i == 0 {
                    self.out.truncate(start);
                } else {
                    bson::end(self.out, doc);
                }
                Ok(true)
            }
            Cardinality::Map => {
                let Kind::Map(entry) = field.kind else {
                    unreachable!("map fields have map kinds")
                };
                if self.peek() != Some(b'{') {
                    return self.mismatch("a map", Some(field));
                }
                self.enter()?;
                let start = self.out.len();
                bson::header(self.out, bson::DOCUMENT, key);
                let doc = bson::begin(self.out);
                let base = self.scratch.entries.len();
                let mut first = true;
                let mut seq = 0;
                while self.next_member(first)? {
                    first = false;
                    let at = self.out.len();
                    let Kind::String = entry.key else {
                        return Err(self.schema("only string map keys are supported", Some(field)));
                    };
                    self.out.push(bson::STRING);
                    let key_at = self.out.len();
                    self.string_strict(Sink::Out)?;
                    self.deferred.data_key(&self.out[key_at..]);
                    self.out.push(0);
                    self.colon()?;
                    self.map_value(entry.value, field)?;
                    self.scratch.entries.push(Entry {
                        key: seq,
                        start: at as u32,
                        end: self.out.len() as u32,
                    });
                    seq += 1;
                }
                self.leave();
                let scratch = &mut *self.scratch;
                if scratch.entries.len() > base + 1 {
                    reorder_map(self.out, &mut scratch.entries[base..], &mut scratch.reorder);
                }
                scratch.entries.truncate(base);
                if seq == 0 {
                    self.out.truncate(start);
                } else {
                    bson::end(self.out, doc);
                }
                Ok(true)
            }
            Cardinality::Singular | Cardinality::Optional => {
                self.value(msg, field, parent, Key::Name(key), true)
            }
        }
    }

    fn map_value(&mut self, kind: Kind, field: &'static Field) -> R<()> {
        // The value type byte was written as STRING with the key; only strings are supported
        // (the schema's one map is map<string, string>).
        let Kind::String = kind else {
            return Err(self.schema("only string map values are supported", Some(field)));
        };
        if self.peek() != Some(b'"') {
            return self.mismatch("a string", Some(field));
        }
        self.i += 1;
        let at = bson::begin_string(self.out);
        self.string_strict(Sink::Out)?;
        bson::end_string(self.out, at);
        Ok(())
    }

    /// One value of `field` (the field itself, or an element of a repeated one).
    fn value(
        &mut self,
        msg: &'static Message,
        field: &'static Field,
        parent: Option<&'static Field>,
        key: Key,
        singular: bool,
    ) -> R<bool> {
        let start = self.out.len();
        match field.kind {
            Kind::Message(m) => {
                if singular && self.null()? {
                    return Ok(false);
                }
                if self.peek() != Some(b'{') {
                    return self.mismatch("an object", Some(field));
                }
                self.header(bson::DOCUMENT, key);
                self.message(m, Some(field))?;
            }
            Kind::Timestamp => {
                if singular && self.null()? {
                    return Ok(false);
                }
                if self.peek() != Some(b'"') {
                    return self.mismatch("an RFC 3339 timestamp string", Some(field));
                }
                self.i += 1;
                let text = self.text()?;
                let parsed = chrono::DateTime::parse_from_rfc3339(unsafe {
                    std::str::from_utf8_unchecked(self.key_bytes(text))
                });
                let Ok(t) = parsed else {
                    return Err(self.schema("invalid RFC 3339 timestamp", Some(field)));
                };
                let t = t.to_utc();
                let top = std::ptr::eq(msg, schema::frame());
                let (s, n) =
                    self.deferred
                        .timestamp(t.timestamp(), t.timestamp_subsec_nanos() as i32, top);
                self.header(bson::STRING, key);
                write_timestamp(self.out, s, n);
            }
            Kind::String => {
                if self.peek() != Some(b'"') {
                    return self.mismatch("a string", Some(field));
                }
                self.i += 1;
                self.header(bson::STRING, key);
                let at = bson::begin_string(self.out);
                let from = self.out.len();
                self.string_strict(Sink::Out)?;
                if std::ptr::eq(msg, &schema::ENGINE_V1_SESSION_RESPONSE)
                    && field.number == SESSION_ID_FIELD
                {
                    self.scratch.session_id.clear();
                    self.scratch.session_id.extend_from_slice(&self.out[from..]);
                }
                if singular && self.out.len() == from {
                    self.out.truncate(start);
                } else {
                    bson::end_string(self.out, at);
                }
            }
            Kind::Bool => {
                let v = match self.peek() {
                    Some(b't') => {
                        self.ident(b"true")?;
                        true
                    }
                    Some(b'f') => {
                        self.ident(b"false")?;
                        false
                    }
                    _ => return self.mismatch("a boolean", Some(field)),
                };
                if v || !singular {
                    self.header(bson::BOOLEAN, key);
                    self.out.push(u8::from(v));
                }
            }
            Kind::Enum(e) => {
                let number = match self.peek() {
                    Some(b'"') => {
                        self.i += 1;
                        let text = self.text()?;
                        let name = unsafe { std::str::from_utf8_unchecked(self.key_bytes(text)) };
                        match e.number(name) {
                            Some(n) => n,
                            None => return Err(self.schema("unknown enum value", Some(field))),
                        }
                    }
                    Some(b'-' | b'0'..=b'9') => {
                        let n = self.number()?;
                        let v = match self.parsed(n)? {
                            Parsed::U64(v) => i32::try_from(v).ok(),
                            Parsed::I64(v) => i32::try_from(v).ok(),
                            Parsed::F64(_) => {
                                return Err(
                                    self.schema("invalid type: floating point", Some(field))
                                );
                            }
                        };
                        match v.filter(|&v| enum_known(e, v)) {
                            Some(v) => v,
                            None => return Err(self.schema("unknown enum value", Some(field))),
                        }
                    }
                    _ => return self.mismatch("an enum name or number", Some(field)),
                };
                if number != 0 || !singular {
                    self.header(bson::STRING, key);
                    bson::string(self.out, e.name(number).unwrap_or_default().as_bytes());
                }
            }
            Kind::Bytes => {
                return Err(self.schema("bytes fields are not supported", Some(field)));
            }
            Kind::Map(_) => unreachable!("maps are handled by `field`"),
            kind => self.number_value(msg, field, parent, kind, key, singular)?,
        }
        Ok(true)
    }

    fn header(&mut self, kind: u8, key: Key) {
        match key {
            Key::Name(k) => bson::header(self.out, kind, k),
            Key::Index(i) => bson::index_header(self.out, kind, i),
            Key::Body(..) | Key::Text => unreachable!("element keys are names or indices"),
        }
    }
}

/// Where a key (or a string's content) is.
#[derive(Clone, Copy)]
enum Key {
    /// A range of the body (no escapes).
    Body(usize, usize),
    /// In `scratch.text` (decoded).
    Text,
    /// An element key: a field's JSON name.
    Name(&'static [u8]),
    /// An element key: an array index.
    Index(u32),
}

/// Where a decoded string goes.
#[derive(Clone, Copy)]
enum Sink {
    Discard,
    Text,
    Out,
}
