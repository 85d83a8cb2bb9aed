//! protojson → BSON in one pass over the body.
//!
//! A hand-written scanner rather than a serde visitor: serde's visitors hand every value to
//! generated code that builds a typed tree, which is what cost 0.94M instructions a frame
//! (issue 13). The scanner follows serde_json's grammar and its error classes exactly (the
//! differential test in `frame::oracle` holds it to that): known values are parsed strictly
//! (strings UTF-8 checked, surrogates paired, containers nested at most 127 deep), skipped
//! values of unknown fields as leniently as `serde::de::IgnoredAny` (syntax only).

use super::bson;
use super::{Deferred, Entry, Scratch, enum_known, reorder_fields, reorder_map, write_timestamp};
use crate::frame::{FrameError, JsonError};
use crate::proto::schema::{self, Cardinality, Field, Kind, Message};

/// serde_json's recursion limit: a 128th nested container is an error.
const MAX_DEPTH: u32 = 128;

/// `LobbySessionStateFrame.session` and `SessionResponse.session_id`: the frame's match.
const SESSION_FIELD: u32 = 4;
const SESSION_ID_FIELD: u32 = 2;

type R<T> = Result<T, FrameError>;

struct Parser<'a, 's> {
    b: &'a [u8],
    i: usize,
    depth: u32,
    out: &'s mut Vec<u8>,
    scratch: &'s mut Scratch,
    deferred: &'s mut Deferred,
}

/// A JSON number token, validated against the grammar.
#[derive(Clone, Copy)]
struct Number {
    start: usize,
    end: usize,
    /// No fraction or exponent.
    integer: bool,
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
) -> R<()> {
    scratch.entries.clear();
    scratch.session_id.clear();
    let mut p = Parser {
        b: body,
        i: 0,
        depth: 0,
        out,
        scratch,
        deferred,
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
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn syntax(&self, msg: &'static str) -> FrameError {
        FrameError::JsonSyntax(JsonError::at(self.b, self.i, msg, None))
    }

    fn schema(&self, msg: &'static str, field: Option<&Field>) -> FrameError {
        FrameError::JsonSchema(JsonError::at(
            self.b,
            self.i,
            msg,
            field.map(|f| f.json_name),
        ))
    }

    /// A value of the wrong type: as serde_json does, a scalar is scanned first (its syntax
    /// errors win), then the type error is reported.
    fn mismatch<T>(&mut self, expected: &'static str, field: Option<&Field>) -> R<T> {
        match self.peek() {
            Some(b'{' | b'[') => {}
            Some(b'"') => {
                self.i += 1;
                self.string_strict(Sink::Discard)?;
            }
            Some(b'-' | b'0'..=b'9') => {
                let n = self.number()?;
                self.f64_of(n)?;
            }
            Some(b't') => self.ident(b"true")?,
            Some(b'f') => self.ident(b"false")?,
            Some(b'n') => self.ident(b"null")?,
            None => return Err(self.syntax("EOF while parsing a value")),
            Some(_) => return Err(self.syntax("expected value")),
        }
        Err(self.schema(expected, field))
    }

    fn ident(&mut self, word: &'static [u8]) -> R<()> {
        for &c in word {
            match self.peek() {
                Some(b) if b == c => self.i += 1,
                None => return Err(self.syntax("EOF while parsing a value")),
                Some(_) => return Err(self.syntax("expected ident")),
            }
        }
        Ok(())
    }

    /// Whether the next value is `null` (consumed if so).
    fn null(&mut self) -> R<bool> {
        if self.peek() == Some(b'n') {
            self.ident(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(self.syntax("recursion limit exceeded"));
        }
        self.i += 1;
        Ok(())
    }

    /// After a key: whitespace, `:`, whitespace.
    fn colon(&mut self) -> R<()> {
        self.ws();
        match self.peek() {
            Some(b':') => self.i += 1,
            None => return Err(self.syntax("EOF while parsing an object")),
            Some(_) => return Err(self.syntax("expected `:`")),
        }
        self.ws();
        Ok(())
    }

    /// After a member: `,` and the next key's quote (true), or the closing `}` (false).
    fn next_member(&mut self, first: bool) -> R<bool> {
        self.ws();
        if !first {
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                    match self.peek() {
                        Some(b'"') => {
                            self.i += 1;
                            return Ok(true);
                        }
                        Some(b'}') => return Err(self.syntax("trailing comma")),
                        None => return Err(self.syntax("EOF while parsing a value")),
                        Some(_) => return Err(self.syntax("key must be a string")),
                    }
                }
                Some(b'}') => {
                    self.i += 1;
                    return Ok(false);
                }
                None => return Err(self.syntax("EOF while parsing an object")),
                Some(_) => return Err(self.syntax("expected `,` or `}`")),
            }
        }
        match self.peek() {
            Some(b'"') => {
                self.i += 1;
                Ok(true)
            }
            Some(b'}') => {
                self.i += 1;
                Ok(false)
            }
            None => Err(self.syntax("EOF while parsing an object")),
            Some(_) => Err(self.syntax("key must be a string")),
        }
    }

    /// After an element: `,` (true) or the closing `]` (false). `first`: nothing read yet.
    fn next_element(&mut self, first: bool) -> R<bool> {
        self.ws();
        match self.peek() {
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    return Err(self.syntax("trailing comma"));
                }
                Ok(true)
            }
            _ if first => Ok(true),
            None => Err(self.syntax("EOF while parsing a list")),
            Some(_) => Err(self.syntax("expected `,` or `]`")),
        }
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

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
            let Some(idx) = self.lookup(msg, key, hint) else {
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
        let start = self.i;
        if self.fast_string()? {
            return Ok(Key::Body(start, self.i - 1));
        }
        self.i = start;
        self.scratch.text.clear();
        self.string_strict(Sink::Text)?;
        Ok(Key::Text)
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
        if let Some(f) = msg.fields.get(hint)
            && f.accepts(k)
        {
            return Some(hint);
        }
        msg.field_index_by_json_key(k)
    }

    /// Scans a string without escapes (opened by `"`) to its closing quote, checking UTF-8;
    /// false (position unspecified) if it holds an escape.
    #[inline]
    fn fast_string(&mut self) -> R<bool> {
        let start = self.i;
        let rest = &self.b[start..];
        let Some(n) = rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        else {
            self.i = self.b.len();
            return Err(self.syntax("EOF while parsing a string"));
        };
        match rest[n] {
            b'"' => {
                if std::str::from_utf8(&rest[..n]).is_err() {
                    self.i = start + n;
                    return Err(self.syntax("invalid unicode code point"));
                }
                self.i = start + n + 1;
                Ok(true)
            }
            b'\\' => Ok(false),
            _ => {
                self.i = start + n;
                Err(self.syntax("control character (\\u0000-\\u001F) found while parsing a string"))
            }
        }
    }

    /// A string (opened by `"`) decoded into `sink`, as serde_json parses one into a `str`.
    fn string_strict(&mut self, sink: Sink) -> R<()> {
        loop {
            let start = self.i;
            let rest = &self.b[start..];
            let Some(n) = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            else {
                self.i = self.b.len();
                return Err(self.syntax("EOF while parsing a string"));
            };
            if std::str::from_utf8(&rest[..n]).is_err() {
                self.i = start + n;
                return Err(self.syntax("invalid unicode code point"));
            }
            self.push(sink, &rest[..n]);
            self.i = start + n + 1;
            match rest[n] {
                b'"' => return Ok(()),
                b'\\' => self.escape(sink)?,
                _ => {
                    self.i -= 1;
                    return Err(self.syntax(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
        }
    }

    #[inline]
    fn push(&mut self, sink: Sink, bytes: &[u8]) {
        match sink {
            Sink::Discard => {}
            Sink::Text => self.scratch.text.extend_from_slice(bytes),
            Sink::Out => self.out.extend_from_slice(bytes),
        }
    }

    fn escape(&mut self, sink: Sink) -> R<()> {
        let Some(c) = self.peek() else {
            return Err(self.syntax("EOF while parsing a string"));
        };
        self.i += 1;
        let byte = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => return self.unicode_escape(sink),
            _ => return Err(self.syntax("invalid escape")),
        };
        self.push(sink, &[byte]);
        Ok(())
    }

    fn hex4(&mut self) -> R<u16> {
        let Some(digits) = self.b.get(self.i..self.i + 4) else {
            self.i = self.b.len();
            return Err(self.syntax("EOF while parsing a string"));
        };
        let mut n = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => {
                    self.i += 4;
                    return Err(self.syntax("invalid escape"));
                }
            };
            n = (n << 4) | u16::from(v);
        }
        self.i += 4;
        Ok(n)
    }

    fn unicode_escape(&mut self, sink: Sink) -> R<()> {
        let n = self.hex4()?;
        let c = match n {
            0xDC00..=0xDFFF => return Err(self.syntax("lone leading surrogate in hex escape")),
            0xD800..=0xDBFF => {
                if self.peek() != Some(b'\\') {
                    self.i = (self.i + 1).min(self.b.len());
                    return Err(self.syntax("unexpected end of hex escape"));
                }
                self.i += 1;
                if self.peek() != Some(b'u') {
                    self.i = (self.i + 1).min(self.b.len());
                    return Err(self.syntax("unexpected end of hex escape"));
                }
                self.i += 1;
                let n2 = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&n2) {
                    return Err(self.syntax("lone leading surrogate in hex escape"));
                }
                0x10000 + ((u32::from(n - 0xD800) << 10) | u32::from(n2 - 0xDC00))
            }
            _ => u32::from(n),
        };
        let c = char::from_u32(c).unwrap_or('\u{FFFD}');
        let mut buf = [0u8; 4];
        self.push(sink, c.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }

    /// A number token at the current position, checked against JSON's grammar.
    fn number(&mut self) -> R<Number> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(self.syntax("invalid number"));
                }
            }
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = self.peek() {
                    self.i += 1;
                }
            }
            None => return Err(self.syntax("EOF while parsing a value")),
            _ => {
                self.i += 1;
                return Err(self.syntax("invalid number"));
            }
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.i += 1;
            let digits = self.i;
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
            if self.i == digits {
                return Err(self.syntax("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            match self.peek() {
                Some(b'0'..=b'9') => {}
                _ => {
                    self.i = (self.i + 1).min(self.b.len());
                    return Err(self.syntax("invalid number"));
                }
            }
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
        }
        Ok(Number {
            start,
            end: self.i,
            integer,
        })
    }

    /// The number as a double, correctly rounded (as serde_json's `float_roundtrip` parses);
    /// out of double range is a syntax error there too.
    fn f64_of(&self, n: Number) -> R<f64> {
        // The token is ASCII (checked by `number`), and JSON's grammar is within Rust's.
        let text = unsafe { std::str::from_utf8_unchecked(&self.b[n.start..n.end]) };
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(self.syntax("number out of range")),
        }
    }

    /// The number as serde_json hands it over: u64, negative i64, else a double (`-0`, and
    /// integers beyond 64 bits, are doubles there).
    fn parsed(&self, n: Number) -> R<Parsed> {
        if n.integer {
            let digits = &self.b[n.start..n.end];
            let (negative, digits) = match digits {
                [b'-', rest @ ..] => (true, rest),
                _ => (false, digits),
            };
            let mut v: u64 = 0;
            let mut overflow = false;
            for &d in digits {
                match v
                    .checked_mul(10)
                    .and_then(|v| v.checked_add(u64::from(d - b'0')))
                {
                    Some(x) => v = x,
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
            if !overflow {
                if !negative {
                    return Ok(Parsed::U64(v));
                }
                let neg = (v as i64).wrapping_neg();
                if neg < 0 {
                    return Ok(Parsed::I64(neg));
                }
            }
        }
        Ok(Parsed::F64(self.f64_of(n)?))
    }

    /// Skips one value of an unknown field, as `IgnoredAny` does: syntax checked, strings not
    /// UTF-8 checked, numbers not range checked, no nesting limit.
    fn skip(&mut self) -> R<()> {
        // Iterative (serde_json puts no nesting limit on skipped values): the enclosing
        // containers (object = true) on a reused stack.
        let mut stack = std::mem::take(&mut self.scratch.skip);
        stack.clear();
        let result = self.skip_with(&mut stack);
        self.scratch.skip = stack;
        result
    }

    fn skip_with(&mut self, stack: &mut Vec<bool>) -> R<()> {
        loop {
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                    } else {
                        self.skip_key()?;
                        stack.push(true);
                        continue;
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    self.ws();
                    if self.peek() == Some(b']') {
                        self.i += 1;
                    } else {
                        stack.push(false);
                        continue;
                    }
                }
                Some(b'"') => {
                    self.i += 1;
                    self.skip_string()?;
                }
                Some(b'-' | b'0'..=b'9') => {
                    self.number()?;
                }
                Some(b't') => self.ident(b"true")?,
                Some(b'f') => self.ident(b"false")?,
                Some(b'n') => self.ident(b"null")?,
                None => return Err(self.syntax("EOF while parsing a value")),
                Some(_) => return Err(self.syntax("expected value")),
            }
            // A value ended: close containers until one continues.
            loop {
                let Some(&object) = stack.last() else {
                    return Ok(());
                };
                self.ws();
                match (self.peek(), object) {
                    (Some(b','), _) => {
                        self.i += 1;
                        if object {
                            self.ws();
                            self.skip_key()?;
                        }
                        break;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => {
                        self.i += 1;
                        stack.pop();
                    }
                    (None, true) => return Err(self.syntax("EOF while parsing an object")),
                    (None, false) => return Err(self.syntax("EOF while parsing a list")),
                    (Some(_), true) => return Err(self.syntax("expected `,` or `}`")),
                    (Some(_), false) => return Err(self.syntax("expected `,` or `]`")),
                }
            }
        }
    }

    /// In a skipped object: a key and its colon.
    fn skip_key(&mut self) -> R<()> {
        match self.peek() {
            Some(b'"') => self.i += 1,
            None => return Err(self.syntax("EOF while parsing an object")),
            Some(_) => return Err(self.syntax("key must be a string")),
        }
        self.skip_string()?;
        self.ws();
        match self.peek() {
            Some(b':') => {
                self.i += 1;
                Ok(())
            }
            None => Err(self.syntax("EOF while parsing an object")),
            Some(_) => Err(self.syntax("expected `:`")),
        }
    }

    fn skip_string(&mut self) -> R<()> {
        loop {
            let rest = &self.b[self.i..];
            let Some(n) = rest
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            else {
                self.i = self.b.len();
                return Err(self.syntax("EOF while parsing a string"));
            };
            self.i += n + 1;
            match rest[n] {
                b'"' => return Ok(()),
                b'\\' => match self.peek() {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => self.i += 1,
                    Some(b'u') => {
                        self.i += 1;
                        self.hex4()?;
                    }
                    None => return Err(self.syntax("EOF while parsing a string")),
                    Some(_) => {
                        self.i += 1;
                        return Err(self.syntax("invalid escape"));
                    }
                },
                _ => {
                    self.i -= 1;
                    return Err(self.syntax(
                        "control character (\\u0000-\\u001F) found while parsing a string",
                    ));
                }
            }
        }
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
                let mut i = 0u32;
                while self.next_element(i == 0)? {
                    self.value(msg, field, parent, Key::Index(i), false)?;
                    i += 1;
                }
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

    /// A string's content (opened by `"`): a range of the body when it has no escape, else
    /// decoded into `scratch.text`.
    fn text(&mut self) -> R<Key> {
        let start = self.i;
        if self.fast_string()? {
            return Ok(Key::Body(start, self.i - 1));
        }
        self.i = start;
        self.scratch.text.clear();
        self.string_strict(Sink::Text)?;
        Ok(Key::Text)
    }

    fn header(&mut self, kind: u8, key: Key) {
        match key {
            Key::Name(k) => bson::header(self.out, kind, k),
            Key::Index(i) => bson::index_header(self.out, kind, i),
            Key::Body(..) | Key::Text => unreachable!("element keys are names or indices"),
        }
    }

    /// A numeric field: a JSON number, or a string holding one (protojson allows both).
    fn number_value(
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
fn convert(kind: Kind, n: Parsed) -> Option<Value> {
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
fn from_str(kind: Kind, s: &str) -> Option<Value> {
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
