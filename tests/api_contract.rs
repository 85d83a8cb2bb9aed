//! `docs/api.md` is the API contract users read (they do not have the project's specs): it
//! cannot drift from the router unnoticed. Every route it documents answers (neither the
//! router's 404 nor a 405), every `.route("…", …)` under `src/http/` is documented, and the
//! route index lists exactly the documented sections.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::{Backend, spawn_app};

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn api_md() -> String {
    std::fs::read_to_string(repo().join("docs/api.md")).expect("docs/api.md")
}

/// (method, path) of every `## \`METHOD /path\`` section.
fn documented_sections(doc: &str) -> BTreeSet<(String, String)> {
    doc.lines()
        .filter_map(|l| l.strip_prefix("## `")?.strip_suffix('`'))
        .filter_map(|h| {
            let (method, path) = h.split_once(' ')?;
            (METHODS.contains(&method) && path.starts_with('/'))
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

/// (method, path) of every row of the route index: `| GET | \`/path\` | … |`.
fn index_rows(doc: &str) -> BTreeSet<(String, String)> {
    doc.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let method = *cells.get(1)?;
            let path = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
            METHODS
                .contains(&method)
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (method, path) of every `.route("/path", get(…).post(…))` in `src/http/`: the path literal and
/// the method routers named between it and the next `.route(`.
fn routed() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    rust_files(&repo().join("src/http"), &mut files);
    let mut out = BTreeSet::new();
    for file in files {
        let src = std::fs::read_to_string(&file).unwrap();
        let calls: Vec<usize> = src.match_indices(".route(").map(|(i, _)| i).collect();
        for (n, &at) in calls.iter().enumerate() {
            let end = calls.get(n + 1).copied().unwrap_or(src.len());
            let call = &src[at + ".route(".len()..end];
            let Some(path) = call
                .trim_start()
                .strip_prefix('"')
                .and_then(|s| s.split_once('"'))
                .map(|(p, _)| p.to_owned())
            else {
                panic!(
                    "{}: a .route( whose path is not a string literal; write the path inline so \
                     tests/api_contract.rs can check it against docs/api.md",
                    file.display()
                );
            };
            let mut methods = 0;
            for method in METHODS {
                let lower = method.to_lowercase();
                let named = |token: &str| {
                    call.match_indices(token)
                        .any(|(i, _)| i == 0 || !call.as_bytes()[i - 1].is_ascii_alphanumeric())
                };
                if named(&format!("{lower}(")) || named(&format!("{lower}_service(")) {
                    out.insert(((*method).to_owned(), path.clone()));
                    methods += 1;
                }
            }
            assert!(
                methods > 0,
                "{}: route {path}: no method router (get(…), post(…), …) found",
                file.display()
            );
        }
    }
    out
}

/// A concrete path for a documented template: a valid match id, `x` for any other parameter.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| match seg {
            "{match_id}" => "892e23e2-8272-4b07-85e8-5e291ac85f93.n1",
            s if s.starts_with('{') && s.ends_with('}') => "x",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn the_route_index_lists_every_documented_route() {
    let doc = api_md();
    let sections = documented_sections(&doc);
    assert!(
        sections.len() >= 6,
        "docs/api.md: found only these route sections: {sections:?}"
    );
    assert_eq!(
        index_rows(&doc),
        sections,
        "docs/api.md: the route index (| METHOD | `path` | …) and the `## \\`METHOD /path\\`` \
         sections differ"
    );
}

#[test]
fn every_route_of_the_router_is_documented() {
    let documented = documented_sections(&api_md());
    let routed = routed();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes in src/http/ without a section in docs/api.md: {undocumented:?} (documented: \
         {documented:?})"
    );
    let stale: Vec<_> = documented.difference(&routed).collect();
    assert!(
        stale.is_empty(),
        "docs/api.md documents routes src/http/ does not route: {stale:?} (routed: {routed:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_route_answers() {
    let app = spawn_app(Backend::Embedded).await;
    let mut answers = Vec::new();
    let mut failures = Vec::new();
    for (method, template) in documented_sections(&api_md()) {
        let path = concrete(&template);
        let resp = app
            .http
            .request(method.parse().unwrap(), app.url(&path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        // Only the status and, for a 404, the body: a streaming route may never end its body.
        let fallback = status == 404 && {
            let body: serde_json::Value = resp.json().await.unwrap_or_default();
            body["error"] == "no such route"
        };
        answers.push(format!("{method} {path} -> {status}"));
        if fallback || status == 405 {
            failures.push(format!("{method} {template} -> {status}"));
        }
    }
    assert!(
        failures.is_empty(),
        "documented in docs/api.md but not served: {failures:?}\nall: {answers:#?}"
    );
    // The fallback really is what an unknown route gets, so the check above can fail.
    let (status, body) = app.get("/no/such/route").await;
    assert_eq!((status, &body["error"]), (404, &"no such route".into()));
}
