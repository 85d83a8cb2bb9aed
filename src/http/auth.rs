//! Optional bearer-token auth, per scope: writing frames, reading events, scraping metrics.
//! A scope with no tokens configured is open. Tokens are compared in constant time and never
//! logged (their `Debug` is redacted).

use std::fmt;
use std::str::FromStr;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::error_response;

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
                    "an AUTH_TOKENS entry is malformed (not shown: it may hold a secret): {why}\n"
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

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<ScopedToken>,
}

impl Auth {
    pub fn new(tokens: Vec<ScopedToken>) -> Self {
        Self { tokens }
    }

    fn required(&self, scope: Scope) -> bool {
        self.tokens.iter().any(|t| t.scope == scope)
    }

    /// Whether `presented` opens `scope`. Every configured token of the scope is compared, in
    /// constant time, so timing tells nothing about which (or how much of one) matched.
    fn allows(&self, scope: Scope, presented: &[u8]) -> bool {
        let mut ok = subtle::Choice::from(0);
        for t in self.tokens.iter().filter(|t| t.scope == scope) {
            ok |= t.token.as_slice().ct_eq(presented);
        }
        ok.into()
    }
}

fn bearer(req: &Request) -> Option<&[u8]> {
    let value = req.headers().get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme.eq_ignore_ascii_case(b"bearer ").then_some(token)
}

/// Middleware guarding one scope.
pub async fn require(
    State((auth, scope)): State<(std::sync::Arc<Auth>, Scope)>,
    req: Request,
    next: Next,
) -> Response {
    if !auth.required(scope) || bearer(&req).is_some_and(|t| auth.allows(scope, t)) {
        return next.run(req).await;
    }
    if scope == Scope::Write {
        metrics::counter!(crate::metrics::FRAMES_REJECTED, "reason" => "auth").increment(1);
    }
    let mut response = error_response(
        StatusCode::UNAUTHORIZED,
        "a valid bearer token is required (Authorization: Bearer <token>)",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scoped_tokens_and_redacts_them() {
        let t: ScopedToken = "write:0123456789abcdef".parse().unwrap();
        assert_eq!(t.scope, Scope::Write);
        assert!(!format!("{t:?}").contains("0123"));
        for bad in [
            "0123456789abcdef",
            "admin:0123456789abcdef",
            "read:short",
            "read:with space in it!!",
        ] {
            assert!(bad.parse::<ScopedToken>().is_err(), "{bad}");
        }
    }

    #[test]
    fn each_scope_checks_its_own_tokens() {
        let auth = Auth::new(vec![
            "write:wwwwwwwwwwwwwwww1".parse().unwrap(),
            "write:wwwwwwwwwwwwwwww2".parse().unwrap(),
            "read:rrrrrrrrrrrrrrrr".parse().unwrap(),
        ]);
        assert!(auth.allows(Scope::Write, b"wwwwwwwwwwwwwwww1"));
        assert!(
            auth.allows(Scope::Write, b"wwwwwwwwwwwwwwww2"),
            "rotation: both tokens work"
        );
        assert!(!auth.allows(Scope::Write, b"rrrrrrrrrrrrrrrr"));
        assert!(!auth.allows(Scope::Write, b"wwwwwwwwwwwwwwww"));
        assert!(auth.allows(Scope::Read, b"rrrrrrrrrrrrrrrr"));
        assert!(!auth.required(Scope::Metrics));
    }
}
