//! `AUTH_TOKENS` entries: which scope a bearer token opens (writing frames, reading events,
//! scraping metrics), parsed once at start-up. Here, below `http`, because the configuration
//! holds them; `http::auth` checks requests against them. A token's value is a secret: its
//! `Debug` is redacted and a malformed entry is reported without it.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Write,
    Read,
    Metrics,
}

/// One `scope:token` entry of `AUTH_TOKENS`.
#[derive(Clone, PartialEq, Eq)]
pub struct ScopedToken {
    pub scope: Scope,
    token: Vec<u8>,
}

impl ScopedToken {
    /// The token's bytes, for the constant-time comparison in `http::auth` (and nothing else:
    /// they are never logged).
    pub(crate) fn secret(&self) -> &[u8] {
        &self.token
    }
}

impl fmt::Debug for ScopedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}:***", self.scope)
    }
}

impl FromStr for ScopedToken {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (scope, token) = s
            .split_once(':')
            .ok_or("an auth token is `write:TOKEN`, `read:TOKEN` or `metrics:TOKEN`")?;
        let scope = match scope.trim() {
            "write" => Scope::Write,
            "read" => Scope::Read,
            "metrics" => Scope::Metrics,
            _ => return Err("an auth token's scope is write, read or metrics".into()),
        };
        let token = token.trim();
        if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("an auth token is at least 16 visible ASCII characters".into());
        }
        Ok(Self {
            scope,
            token: token.as_bytes().to_vec(),
        })
    }
}

/// Parses `AUTH_TOKENS` entries for clap without echoing them: clap's own error for a bad value
/// quotes it (`invalid value 'write:…'`), and the value of a malformed entry is a secret (or
/// one with a typo). The error says what is wrong, never the entry.
#[derive(Debug, Clone, Copy)]
pub struct TokenParser;

impl clap::builder::TypedValueParser for TokenParser {
    type Value = ScopedToken;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<ScopedToken, clap::Error> {
        let refuse = |why: &str| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!(
                    "an AUTH_TOKENS entry is malformed (***: not shown, it may hold a secret): {why}\n"
                ),
            )
            .with_cmd(cmd)
        };
        let s = value
            .to_str()
            .ok_or_else(|| refuse("an auth token is visible ASCII"))?;
        s.parse().map_err(|why: String| refuse(&why))
    }
}

impl clap::builder::ValueParserFactory for ScopedToken {
    type Parser = TokenParser;
    fn value_parser() -> TokenParser {
        TokenParser
    }
}
