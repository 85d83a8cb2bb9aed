//! Strings for the JSON transcoder: scanned in place when they hold no escape (the usual
//! case), else decoded as serde_json decodes them (escapes, surrogate pairs, UTF-8 checks).

use super::scan::plain_run;
use super::{Key, Parser, R, Sink};

impl Parser<'_, '_> {
    /// Scans a string without escapes (opened by `"`) to its closing quote, checking UTF-8;
    /// false (position unspecified) if it holds an escape.
    #[inline]
    pub(super) fn fast_string(&mut self) -> R<bool> {
        let start = self.i;
        let rest = &self.b[start..];
        let (n, non_ascii) = plain_run(rest);
        let Some(&end) = rest.get(n) else {
            self.i = self.b.len();
            return Err(self.syntax("EOF while parsing a string"));
        };
        match end {
            b'"' => {
                if non_ascii && std::str::from_utf8(&rest[..n]).is_err() {
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
    pub(super) fn string_strict(&mut self, sink: Sink) -> R<()> {
        loop {
            let start = self.i;
            let rest = &self.b[start..];
            let (n, non_ascii) = plain_run(rest);
            if n == rest.len() {
                self.i = self.b.len();
                return Err(self.syntax("EOF while parsing a string"));
            }
            if non_ascii && std::str::from_utf8(&rest[..n]).is_err() {
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
    pub(super) fn push(&mut self, sink: Sink, bytes: &[u8]) {
        match sink {
            Sink::Discard => {}
            Sink::Text => self.scratch.text.extend_from_slice(bytes),
            Sink::Out => self.out.extend_from_slice(bytes),
        }
    }

    pub(super) fn escape(&mut self, sink: Sink) -> R<()> {
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

    pub(super) fn hex4(&mut self) -> R<u16> {
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

    pub(super) fn unicode_escape(&mut self, sink: Sink) -> R<()> {
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

    /// A string's content (opened by `"`): a range of the body when it has no escape, else
    /// decoded into `scratch.text`.
    pub(super) fn text(&mut self) -> R<Key> {
        let start = self.i;
        if self.fast_string()? {
            return Ok(Key::Body(start, self.i - 1));
        }
        self.i = start;
        self.scratch.text.clear();
        self.string_strict(Sink::Text)?;
        Ok(Key::Text)
    }
}
