//! 3. A real Prometheus scrapes the service, and the Grafana dashboard's queries return data.

use super::*;

pub(crate) fn dashboard() -> serde_json::Value {
    let text = read_repo_file("grafana/dashboards/session-events.json");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("the dashboard is not JSON: {e}"))
}

pub(crate) fn all_panels(panels: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
    for p in panels.as_array().into_iter().flatten() {
        out.push(p.clone());
        all_panels(&p["panels"], out);
    }
}

/// (panel title, refId, expr) of every target of every panel, rows included.
pub(crate) fn dashboard_queries(dash: &serde_json::Value) -> Vec<(String, String, String)> {
    let mut panels = Vec::new();
    all_panels(&dash["panels"], &mut panels);
    let mut out = Vec::new();
    for p in &panels {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                p["title"].as_str().unwrap_or_default().to_owned(),
                t["refId"].as_str().unwrap_or_default().to_owned(),
                t["expr"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    out
}

/// Grafana's variables, as a dashboard user looking at every instance sees them.
pub(crate) fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("${__rate_interval}", "1m")
        .replace("$__interval", "15s")
        .replace("${__interval}", "15s")
        .replace("${instance}", ".*")
        .replace("$instance", ".*")
}

/// The left operand of a top-level `or` (the series the panel is about, before its fallback).
pub(crate) fn primary_arm(expr: &str) -> Option<&str> {
    let (mut depth, mut quoted) = (0i32, false);
    let bytes = expr.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'"' if i == 0 || bytes[i - 1] != b'\\' => quoted = !quoted,
            b'(' | b'{' | b'[' if !quoted => depth += 1,
            b')' | b'}' | b']' if !quoted => depth -= 1,
            b' ' if !quoted && depth == 0 && expr[i..].starts_with(" or ") => {
                return Some(expr[..i].trim());
            }
            _ => {}
        }
    }
    None
}

/// Every value of an instant query's result, or why there is none.
pub(crate) fn result_values(body: &serde_json::Value) -> Result<Vec<String>, String> {
    if body["status"] != "success" {
        return Err(format!("status {}: {}", body["status"], body["error"]));
    }
    let data = &body["data"];
    match data["resultType"].as_str() {
        Some("vector") => {
            let result = data["result"].as_array().cloned().unwrap_or_default();
            if result.is_empty() {
                return Err("empty result".into());
            }
            Ok(result
                .iter()
                .map(|s| s["value"][1].as_str().unwrap_or_default().to_owned())
                .collect())
        }
        Some("scalar") => Ok(vec![
            data["result"][1].as_str().unwrap_or_default().to_owned(),
        ]),
        other => Err(format!("unexpected result type {other:?}: {data}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let queries = dashboard_queries(&dashboard());
    assert!(
        queries.len() >= 20,
        "the dashboard has {} queries",
        queries.len()
    );
    let _serial = LOCK.lock().await;
    let app = spawn_app_with(Backend::Embedded, |_| {}).await;
    let prom = Prometheus::start(&[app.addr]).await;
    prom.wait_up(1, Duration::from_secs(30)).await;

    // A few scrapes' worth of everything the panels show.
    let mut m = new_match(35);
    let traffic_until = Instant::now() + Duration::from_secs(6);
    let mut i = 0;
    while Instant::now() < traffic_until {
        let batch = frames(&mut m, i..i + 5);
        mixed_traffic(&app, &batch).await;
        i += 5;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Until Prometheus has scraped the last of it (its frames_received equals the service's),
    // rather than sleeping a guessed number of scrape intervals.
    let received = scrape(&app).await.sum(m::FRAMES_RECEIVED, &[]);
    let query = format!(
        "/api/v1/query?query={}",
        prometheus::encode(m::FRAMES_RECEIVED)
    );
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = prom.api(&query).await;
        let scraped: f64 = answer["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["value"][1].as_str()?.parse::<f64>().ok())
            .sum();
        if scraped == received {
            break;
        }
        assert!(
            Instant::now() < until,
            "Prometheus did not scrape the last traffic within 30 s: {scraped} of {received} \
             frames received: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The `instance` variable's query: label_values(session_events_build_info, instance).
    let instances = prom
        .api(&format!(
            "/api/v1/label/instance/values?match[]={}",
            prometheus::encode(m::BUILD_INFO)
        ))
        .await;
    assert!(
        instances["data"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == app.addr.to_string().as_str())),
        "label_values(session_events_build_info, instance) lacks {}: {instances}",
        app.addr
    );

    let mut failures = Vec::new();
    let mut report = Vec::new();
    for (title, ref_id, raw) in &queries {
        let expr = substitute(raw);
        if expr.contains('$') {
            failures.push(format!(
                "{title} [{ref_id}]: unknown variable left in {expr}"
            ));
            continue;
        }
        match result_values(&prom.query(&expr).await) {
            Err(why) => failures.push(format!("{title} [{ref_id}]: {why}: {expr}")),
            Ok(values) => {
                if values
                    .iter()
                    .any(|v| v.parse::<f64>().is_ok_and(f64::is_nan))
                {
                    failures.push(format!(
                        "{title} [{ref_id}]: NaN (no observations in the window): {expr}"
                    ));
                }
                report.push(format!("{title} [{ref_id}] = {values:?}"));
            }
        }
        // A fallback (`or vector(0)`) must not hide a series that never appears.
        if let Some(primary) = primary_arm(&expr)
            && let Err(why) = result_values(&prom.query(primary).await)
        {
            failures.push(format!(
                "{title} [{ref_id}]: without its fallback: {why}: {primary}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "dashboard queries without data:\n  {}\n\nthe others:\n  {}",
        failures.join("\n  "),
        report.join("\n  ")
    );
    eprintln!("dashboard queries:\n  {}", report.join("\n  "));
    drop(prom);
    app.stop().await;
}

#[test]
pub(crate) fn the_scrape_configs_pass_promtool() {
    let shipped = repo_file("grafana/prometheus.yml");
    let out = prometheus::promtool(&["check", "config", shipped.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "promtool check config grafana/prometheus.yml:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = read_repo_file("grafana/prometheus.yml");
    assert!(
        text.contains("job_name: session-events"),
        "the dashboard selects job=\"session-events\""
    );

    // The config the tests run Prometheus with is valid too.
    let dir = tempfile::tempdir().unwrap();
    let generated = dir.path().join("prometheus.yml");
    std::fs::write(
        &generated,
        prometheus::scrape_config(&["127.0.0.1:8080".parse().unwrap()]),
    )
    .unwrap();
    let out = prometheus::promtool(&["check", "config", generated.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
pub(crate) fn the_dashboard_is_well_formed() {
    let dash = dashboard();
    let mut problems = Vec::new();
    if dash.get("__inputs").is_some() || dash.to_string().contains("${DS_") {
        problems.push(
            "uses import inputs (__inputs / ${DS_…}); provisioning cannot fill them".to_owned(),
        );
    }
    let variables = dash["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let var = |name: &str| variables.iter().find(|v| v["name"] == name).cloned();
    match var("datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        other => problems.push(format!(
            "no `datasource` variable of type datasource (query prometheus): {other:?}"
        )),
    }
    let want_ds = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    if let Some(v) = var("instance")
        && v["datasource"] != want_ds
    {
        problems.push(format!("variable instance uses {}", v["datasource"]));
    }
    let mut panels = Vec::new();
    all_panels(&dash["panels"], &mut panels);
    let mut ids = BTreeMap::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or_default();
        match p["id"].as_u64() {
            None => problems.push(format!("panel {title:?} has no id")),
            Some(id) => {
                if let Some(other) = ids.insert(id, title) {
                    problems.push(format!("panel id {id} used by {other:?} and {title:?}"));
                }
            }
        }
        if p["datasource"] != want_ds {
            problems.push(format!("panel {title:?}: datasource {}", p["datasource"]));
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            if t["datasource"] != want_ds {
                problems.push(format!(
                    "panel {title:?} target {}: datasource {}",
                    t["refId"], t["datasource"]
                ));
            }
            if t["expr"].as_str().is_none_or(|e| e.trim().is_empty()) {
                problems.push(format!("panel {title:?} target {}: no expr", t["refId"]));
            }
        }
    }
    // Every metric a query names exists (histograms through _bucket/_sum/_count).
    let declared = declared_metrics();
    let mut known: BTreeSet<String> = BTreeSet::new();
    for d in &declared {
        known.insert(d.name.clone());
        if d.kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                known.insert(format!("{}{suffix}", d.name));
            }
        }
    }
    for (title, ref_id, expr) in dashboard_queries(&dash) {
        for (at, _) in expr.match_indices("session_events_") {
            let name: String = expr[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !known.contains(&name) {
                problems.push(format!(
                    "{title} [{ref_id}] uses {name}, which the service does not export"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "dashboard problems:\n  {}",
        problems.join("\n  ")
    );
}
