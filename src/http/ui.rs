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

use std::io::Write;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;

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

/// The gzip of `bytes` (one of the embedded files) when that is smaller, made once on first use:
/// the files never change at run time, so compressing per request would be waste. It cuts the
/// first load from about 58 KB to about 20 KB.
fn gzipped(bytes: &'static [u8]) -> Option<&'static [u8]> {
    static ALL: OnceLock<Vec<(usize, Vec<u8>)>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        std::iter::once(INDEX)
            .chain(ASSETS.iter().map(|a| a.bytes))
            .filter_map(|b| {
                let mut gz = GzEncoder::new(Vec::new(), Compression::best());
                gz.write_all(b).ok()?;
                let gz = gz.finish().ok()?;
                (gz.len() < b.len()).then_some((b.as_ptr() as usize, gz))
            })
            .collect()
    });
    all.iter()
        .find(|(at, _)| *at == bytes.as_ptr() as usize)
        .map(|(_, gz)| gz.as_slice())
}

/// Whether the client accepts gzip (`Accept-Encoding: gzip`, not with `q=0`).
fn accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"))
                && !parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                        .is_some_and(|q| q == 0.0)
                })
        })
}

/// A 200 with the security headers, or a 304 when the browser already holds these bytes.
/// `no-cache` makes it revalidate every time, so a new binary's page is never mixed with the
/// old one's modules; the ETag keeps that revalidation to a few hundred bytes.
fn serve(request: &HeaderMap, content_type: &'static str, bytes: &'static [u8]) -> Response {
    let gz = accepts_gzip(request).then(|| gzipped(bytes)).flatten();
    // Each encoding is its own representation, with its own tag.
    let etag = format!(
        "\"{:016x}{}\"",
        xxhash_rust::xxh3::xxh3_64(bytes),
        if gz.is_some() { "-gz" } else { "" }
    );
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if let Some(gz) = gz {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, "gzip"),
            ],
            gz,
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
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
    fn gzip_only_when_accepted() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
            accepts_gzip(&h)
        };
        assert!(with("gzip, deflate, br, zstd"));
        assert!(with("br;q=1.0, GZIP;q=0.5"));
        assert!(!with("gzip;q=0"));
        assert!(!with("gzip; q=0.0"));
        assert!(!with("br, zstd"));
        assert!(!accepts_gzip(&HeaderMap::new()));
        let gz = gzipped(INDEX).expect("the shell compresses");
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz), &mut back).unwrap();
        assert_eq!(back, INDEX);
    }

    #[test]
    fn the_policy_forbids_inline_script_eval_and_framing() {
        let p = CONTENT_SECURITY_POLICY;
        assert!(p.starts_with("default-src 'self';"));
        assert!(!p.contains("unsafe-inline") && !p.contains("unsafe-eval"));
        assert!(p.contains("frame-ancestors 'none'"));
    }
}
