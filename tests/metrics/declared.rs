//! What src/metrics.rs declares, read from its source so a new metric is covered the day it
//! lands.

use super::*;

#[derive(Debug)]
pub(crate) struct Declared {
    pub(crate) ident: String,
    pub(crate) name: String,
    pub(crate) kind: String,
}

pub(crate) fn declared_metrics() -> Vec<Declared> {
    let src = read_repo_file("src/metrics.rs");
    let mut consts = Vec::new();
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix("pub const ") else {
            continue;
        };
        let Some((ident, value)) = rest.split_once(": &str = ") else {
            continue;
        };
        let name = value.trim().trim_end_matches(';').trim_matches('"');
        consts.push((ident.trim().to_owned(), name.to_owned()));
    }
    assert!(
        consts.len() >= 19,
        "could not read the metric names from src/metrics.rs: {consts:?}"
    );
    let mut kinds = HashMap::new();
    for kind in ["counter", "gauge", "histogram"] {
        let macro_call = format!("describe_{kind}!(");
        for (at, _) in src.match_indices(&macro_call) {
            let ident: String = src[at + macro_call.len()..]
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                kinds.insert(ident.clone(), kind.to_owned()).is_none(),
                "{ident} described twice"
            );
        }
    }
    consts
        .into_iter()
        .map(|(ident, name)| {
            let kind = kinds.remove(&ident).unwrap_or_else(|| {
                panic!("src/metrics.rs declares {ident} but never describes it")
            });
            Declared { ident, name, kind }
        })
        .collect()
}

/// A `const NAME: &[f64] = &[…];` bucket list of src/metrics.rs.
pub(crate) fn declared_buckets(ident: &str) -> Vec<f64> {
    let src = read_repo_file("src/metrics.rs");
    let start = src
        .find(&format!("const {ident}: &[f64]"))
        .unwrap_or_else(|| panic!("src/metrics.rs has no {ident}"));
    let list = &src[start..];
    let list = &list[list.find('=').unwrap()..];
    let list = &list[list.find("&[").unwrap() + 2..];
    let list = &list[..list.find(']').unwrap()];
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .unwrap_or_else(|_| panic!("{ident}: bad bucket {s:?}"))
        })
        .collect()
}

/// The bucket list `install()` gives each histogram.
pub(crate) fn buckets_for(name: &str) -> Vec<f64> {
    if name == m::BATCH_SIZE_FRAMES {
        declared_buckets("BATCH_FRAMES_BUCKETS")
    } else if name == m::BATCH_SIZE_BYTES {
        declared_buckets("BATCH_BYTES_BUCKETS")
    } else {
        assert!(name.ends_with("_seconds"), "{name}: which buckets?");
        declared_buckets("LATENCY_BUCKETS")
    }
}

/// The standard process metrics (metrics-process), refreshed on each scrape.
pub(crate) const PROCESS_METRICS: &[(&str, &str)] = &[
    ("process_cpu_seconds_total", "counter"),
    ("process_resident_memory_bytes", "gauge"),
    ("process_virtual_memory_bytes", "gauge"),
    ("process_virtual_memory_max_bytes", "gauge"),
    ("process_open_fds", "gauge"),
    ("process_max_fds", "gauge"),
    ("process_start_time_seconds", "gauge"),
    ("process_threads", "gauge"),
];

/// The only labels the service may use (no match, user or session ids: unbounded cardinality).
/// `outcome` is the WebSocket ingest's message outcome, a fixed list (`metrics::WS_OUTCOMES`).
pub(crate) const ALLOWED_LABELS: &[&str] = &[
    "method", "route", "status", "reason", "kind", "version", "le", "outcome",
];
