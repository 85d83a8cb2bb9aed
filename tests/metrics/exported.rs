//! 1. The exposition: valid text holding every declared metric, nothing undeclared.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_is_valid_exposition_text_with_every_declared_metric() {
    let _serial = LOCK.lock().await;
    let app = spawn_app_with(Backend::Embedded, |_| {}).await;
    let mut m = new_match(31);
    mixed_traffic(&app, &frames(&mut m, 0..4)).await;

    let resp = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "content type {content_type}"
    );
    let text = resp.text().await.unwrap();

    // promtool's linter: valid syntax, HELP on every family, naming conventions.
    let out = prometheus::promtool(&["check", "metrics"], Some(text.as_bytes()));
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- /metrics ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let exp = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let declared = declared_metrics();
    let mut problems = Vec::new();
    for d in &declared {
        let name = d.name.as_str();
        if !name.starts_with("session_events_") {
            problems.push(format!(
                "{}: {name} lacks the session_events_ prefix",
                d.ident
            ));
        }
        if (d.kind == "counter") != name.ends_with("_total") {
            problems.push(format!(
                "{}: {name} is a {} (only counters end in _total)",
                d.ident, d.kind
            ));
        }
        match exp.types.get(name) {
            Some(t) if *t == d.kind => {}
            other => problems.push(format!("{name}: TYPE {other:?}, declared a {}", d.kind)),
        }
        if exp.help.get(name).is_none_or(|h| h.trim().is_empty()) {
            problems.push(format!("{name}: no HELP text"));
        }
        if d.kind != "histogram" {
            if exp.series(name).next().is_none() {
                problems.push(format!("{name}: no samples"));
            }
            continue;
        }
        // A real histogram: per label set, the declared buckets in order, cumulative, ending
        // in +Inf equal to _count, plus _sum.
        let bucket_name = format!("{name}_bucket");
        let mut sets: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
        for s in exp.series(&bucket_name) {
            let mut labels = s.labels.clone();
            let Some(le) = labels.remove("le") else {
                problems.push(format!("{bucket_name} without le: {:?}", s.labels));
                continue;
            };
            let le = parse_value(&le).unwrap_or(f64::NAN);
            sets.entry(labels).or_default().push((le, s.value));
        }
        if sets.is_empty() {
            problems.push(format!("{name}: no _bucket series"));
        }
        let mut want_les = buckets_for(name);
        want_les.push(f64::INFINITY);
        for (labels, buckets) in &sets {
            let les: Vec<f64> = buckets.iter().map(|b| b.0).collect();
            if les != want_les {
                problems.push(format!(
                    "{name}{labels:?}: buckets {les:?}, declared {want_les:?}"
                ));
            }
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                problems.push(format!(
                    "{name}{labels:?}: bucket counts not cumulative: {buckets:?}"
                ));
            }
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let count_name = format!("{name}_count");
            let count: Vec<_> = exp
                .series(&count_name)
                .filter(|s| &s.labels == labels)
                .collect();
            let sum = exp
                .series(&format!("{name}_sum"))
                .filter(|s| &s.labels == labels)
                .count();
            let inf = buckets.iter().find(|b| b.0 == f64::INFINITY).map(|b| b.1);
            match (count.as_slice(), sum, inf) {
                ([c], 1, Some(inf)) if c.value == inf => {}
                _ => problems.push(format!(
                    "{name}{pairs:?}: _count {count:?}, {sum} _sum series, le=\"+Inf\" bucket {inf:?}"
                )),
            }
        }
    }
    // Nothing of ours is exported that src/metrics.rs does not declare.
    let declared_names: BTreeSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    for family in exp
        .types
        .keys()
        .filter(|f| f.starts_with("session_events_"))
    {
        if !declared_names.contains(family.as_str()) {
            problems.push(format!(
                "{family} is exported but not declared in src/metrics.rs"
            ));
        }
    }
    for (name, kind) in PROCESS_METRICS {
        if exp.types.get(*name).map(String::as_str) != Some(*kind)
            || exp.series(name).next().is_none()
        {
            problems.push(format!(
                "process metric {name} ({kind}) missing: TYPE {:?}",
                exp.types.get(*name)
            ));
        }
    }
    for s in exp
        .samples
        .iter()
        .filter(|s| s.name.starts_with("session_events_"))
    {
        for label in s.labels.keys() {
            if !ALLOWED_LABELS.contains(&label.as_str()) {
                problems.push(format!(
                    "{} has label {label} (allowed: {ALLOWED_LABELS:?})",
                    s.name
                ));
            }
        }
        if s.labels.values().any(|v| v.contains("no/such")) {
            problems.push(format!("an unknown path became a label value: {s:?}"));
        }
    }
    assert!(
        problems.is_empty(),
        "problems:\n  {}\n--- /metrics ---\n{text}",
        problems.join("\n  ")
    );

    // Labelled counters exist from start-up, at 0 where nothing happened yet.
    assert_eq!(
        exp.label_values(m::FRAMES_REJECTED, "reason"),
        m::REJECT_REASONS.iter().map(|r| r.to_string()).collect()
    );
    assert_eq!(
        exp.label_values(m::STORE_WRITE_ERRORS, "kind"),
        m::STORE_ERROR_KINDS.iter().map(|r| r.to_string()).collect()
    );
    assert_eq!(
        exp.sum(m::BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))]),
        1.0
    );
    assert!(
        exp.sum("process_resident_memory_bytes", &[]) > 1e6,
        "RSS is real"
    );
    assert!(exp.sum("process_open_fds", &[]) >= 3.0, "fds are counted");
    app.stop().await;
}

#[test]
fn the_exposition_parser_refuses_what_prometheus_refuses() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\",y=\"q\\\"\"} 3\n\n\
              # TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n";
    let exp = parse_exposition(ok).unwrap();
    assert_eq!(exp.sum("a_total", &[("y", "q\"")]), 3.0);
    assert_eq!(exp.sum("h_count", &[]), 2.0);
    for bad in [
        "a_total 1\n",                                                         // no TYPE
        "# TYPE a counter\na 1\na 2\n",                                        // same series twice
        "# TYPE a counter\na{x=1} 1\n", // unquoted label value
        "# TYPE a counter\na one\n",    // bad value
        "# TYPE a counter\n# TYPE a gauge\na 1\n", // two TYPEs
        "# TYPE a counter\na{x=\"1\"} 1\n# TYPE b gauge\nb 1\na{x=\"2\"} 1\n", // split group
        "# TYPE 1a counter\n",          // bad name
    ] {
        assert!(parse_exposition(bad).is_err(), "accepted {bad:?}");
    }
}
