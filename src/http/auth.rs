//! Optional bearer-token auth, per scope: writing frames, reading events, scraping metrics.
//! A scope with no tokens configured is open. Tokens are compared in constant time and never
//! logged (their `Debug` is redacted).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::error_response;
pub use crate::config::{Scope, ScopedToken};

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
            ok |= t.secret().ct_eq(presented);
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
