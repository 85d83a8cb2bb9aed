//! Values of fields the schema does not know, skipped as `serde::de::IgnoredAny` skips them:
//! syntax checked, nothing kept, counted against the bounds of `frame::limits` like the rest.

use super::scan::plain_run;
use super::{Parser, R};

impl Parser<'_, '_> {
    /// Skips one value of an unknown field, as `IgnoredAny` does: syntax checked, strings not
    /// UTF-8 checked, numbers not range checked, no nesting limit.
    pub(super) fn skip(&mut self) -> R<()> {
        // Iterative (serde_json puts no nesting limit on skipped values): the enclosing
        // containers (object = true) on a reused stack.
        let mut stack = std::mem::take(&mut self.scratch.skip);
        stack.clear();
        let result = self.skip_with(&mut stack);
        self.scratch.skip = stack;
        result
    }

    pub(super) fn skip_with(&mut self, stack: &mut Vec<bool>) -> R<()> {
        loop {
            self.ws();
            match self.peek() {
                Some(b'{') => {
                    self.open(true, self.depth as usize + stack.len() + 1)?;
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
                    self.open(false, self.depth as usize + stack.len() + 1)?;
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
                        self.comma()?;
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
    pub(super) fn skip_key(&mut self) -> R<()> {
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

    pub(super) fn skip_string(&mut self) -> R<()> {
        loop {
            let rest = &self.b[self.i..];
            let (n, _) = plain_run(rest);
            if n == rest.len() {
                self.i = self.b.len();
                return Err(self.syntax("EOF while parsing a string"));
            }
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
}
