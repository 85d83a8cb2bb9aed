//! The match explorer: a small single-page app served at `/` and `/ui/…`.
//!
//! The page's files live in `ui/` and are compiled into the binary with `include_bytes!`, so
//! `cargo run` and a browser are all it takes: no CDN, no build step, works offline. There are
//! few files and they never change at run time, so a static table beats a crate like
//! `rust-embed` (one less dependency, no directory walking at build time).
//!
//! # Who may load it
//!
//! The shell (HTML, JS, CSS) is public: it holds no data and is the same for everyone, and a
//! browser cannot send a Bearer header on a top-level navigation, so a guarded shell could never
//! show the token prompt. Every piece of data the page shows comes from the public read API
//! (`/matches`, `/session-events/…`), which the `read` scope guards as usual; the page asks for
//! the read token on a 401, keeps it in `sessionStorage` (gone when the tab closes) and sends it
//! as `Authorization: Bearer`.
//!
//! # Why these headers
//!
//! Display names are chosen by players, so the page treats every string from a frame as text
//! (`textContent`, never `innerHTML`). The Content-Security-Policy makes a mistake there
//! harmless: scripts and styles only from this origin (no inline script, no `eval`), no
//! plugins, no framing (clickjacking), and Trusted Types required, so an accidental
//! `innerHTML = string` throws instead of parsing markup. `nosniff` stops a browser from
//! reading a JSON answer as script.

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// The policy every page and asset response carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'; require-trusted-types-for 'script'; \
     trusted-types 'none'";

/// One embedded file: its name under `/ui/assets/`, media type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $type:expr),* $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/assets/", $name)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Everything under `ui/assets/` (a unit test checks that no file there is left out).
static ASSETS: &[Asset] = assets! {
    "style.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "frame.js" => JS,
    "matches.js" => JS,
    "match.js" => JS,
    "topview.js" => JS,
    "chart.js" => JS,
    "live.js" => JS,
};

/// The shell: every view of the app starts from it (the app routes on `location.pathname`).
static INDEX: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/ui/index.html"));

/// `GET /`, `GET /ui`, `GET /ui/`: the shell.
pub async fn index(headers: HeaderMap) -> Response {
    serve(&headers, "text/html; charset=utf-8", INDEX)
}

/// `GET /ui/{*path}`: an asset under `assets/`, else the shell (a deep link such as
/// `/ui/matches/{match_id}`; the app itself says when a path names no view).
pub async fn path(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match path.strip_prefix("assets/") {
        Some(name) => match ASSETS.iter().find(|a| a.name == name) {
            Some(a) => serve(&headers, a.content_type, a.bytes),
            None => ApiError::NotFound.into_response(),
        },
        None => index(headers).await,
    }
}

/// A 200 with the security headers, or a 304 when the browser already holds these bytes.
/// `no-cache` makes it revalidate every time, so a new binary's page is never mixed with the
/// old one's modules; the ETag keeps that revalidation to a few hundred bytes.
fn serve(request: &HeaderMap, content_type: &'static str, bytes: &'static [u8]) -> Response {
    let etag = format!("\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(bytes));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // For browsers that predate `frame-ancestors`.
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Match ids in page URLs are nobody else's business.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file added to `ui/assets/` but not to [`ASSETS`] would be a 404 in the browser.
    #[test]
    fn every_file_under_ui_assets_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/assets");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.name.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
        for a in ASSETS {
            assert_eq!(
                std::fs::read(dir.join(a.name)).unwrap(),
                a.bytes,
                "{}",
                a.name
            );
        }
    }

    /// The shell must load its code from files (the policy forbids inline script and style).
    #[test]
    fn the_shell_has_no_inline_script_or_style() {
        let html = std::str::from_utf8(INDEX).unwrap();
        for bad in [
            "<script>",
            "style=",
            "onload=",
            "onclick=",
            "javascript:",
            "<style",
        ] {
            assert!(!html.contains(bad), "index.html contains {bad}");
        }
        assert!(html.contains(r#"<script type="module" src="/ui/assets/app.js">"#));
    }

    #[test]
    fn the_policy_forbids_inline_script_eval_and_framing() {
        let p = CONTENT_SECURITY_POLICY;
        assert!(p.starts_with("default-src 'self';"));
        assert!(!p.contains("unsafe-inline") && !p.contains("unsafe-eval"));
        assert!(p.contains("frame-ancestors 'none'"));
    }
}
