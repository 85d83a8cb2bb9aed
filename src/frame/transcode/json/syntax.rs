//! The JSON transcoder's syntax: whitespace, literals, punctuation between members and
//! elements, the errors serde_json reports for them, and the bounds of `frame::limits` counted
//! as containers open and commas pass (in the pre-scan's order of checks).

use super::{MAX_DEPTH, Parser, R, Sink};
use crate::frame::limits::{self, LimitError};
use crate::frame::{FrameError, JsonError};
use crate::proto::schema::Field;

impl Parser<'_, '_> {
    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    #[inline]
    pub(super) fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    #[cold]
    pub(super) fn syntax(&self, msg: &'static str) -> Box<FrameError> {
        Box::new(FrameError::JsonSyntax(JsonError::at(
            self.b, self.i, msg, None,
        )))
    }

    #[cold]
    pub(super) fn schema(&self, msg: &'static str, field: Option<&Field>) -> Box<FrameError> {
        Box::new(FrameError::JsonSchema(JsonError::at(
            self.b,
            self.i,
            msg,
            field.map(|f| f.json_name),
        )))
    }

    /// A value of the wrong type: as serde_json does, a scalar is scanned first (its syntax
    /// errors win), then the type error is reported.
    pub(super) fn mismatch<T>(&mut self, expected: &'static str, field: Option<&Field>) -> R<T> {
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

    pub(super) fn ident(&mut self, word: &'static [u8]) -> R<()> {
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
    pub(super) fn null(&mut self) -> R<bool> {
        if self.peek() == Some(b'n') {
            self.ident(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    pub(super) fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(self.syntax("recursion limit exceeded"));
        }
        let object = self.b[self.i] == b'{';
        self.open(object, self.depth as usize)?;
        self.i += 1;
        Ok(())
    }

    /// Counts a container opened `depth` levels deep against the bounds of `frame::limits`,
    /// in the pre-scan's order of checks.
    #[inline]
    pub(super) fn open(&mut self, object: bool, depth: usize) -> R<()> {
        self.values += 1;
        self.messages += usize::from(object);
        if depth > limits::MAX_DEPTH {
            return Err(Box::new(FrameError::Limit(LimitError::TooDeep)));
        }
        if self.messages > limits::MAX_MESSAGES {
            return Err(Box::new(FrameError::Limit(LimitError::TooManyMessages)));
        }
        self.value_counted()
    }

    /// Counts a `,` (one more value).
    #[inline]
    pub(super) fn comma(&mut self) -> R<()> {
        self.values += 1;
        self.value_counted()
    }

    #[inline]
    pub(super) fn value_counted(&self) -> R<()> {
        if self.values > limits::MAX_ELEMENTS {
            return Err(Box::new(FrameError::Limit(LimitError::TooManyElements)));
        }
        Ok(())
    }

    /// After a key: whitespace, `:`, whitespace.
    pub(super) fn colon(&mut self) -> R<()> {
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
    pub(super) fn next_member(&mut self, first: bool) -> R<bool> {
        self.ws();
        if !first {
            match self.peek() {
                Some(b',') => {
                    self.comma()?;
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
    pub(super) fn next_element(&mut self, first: bool) -> R<bool> {
        self.ws();
        match self.peek() {
            Some(b']') => {
                self.i += 1;
                Ok(false)
            }
            Some(b',') if !first => {
                self.comma()?;
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

    pub(super) fn leave(&mut self) {
        self.depth -= 1;
    }
}
