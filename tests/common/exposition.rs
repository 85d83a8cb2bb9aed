//! Prometheus's text exposition format, parsed strictly enough to catch what Prometheus would
//! refuse, and a service's `/metrics` scraped into it: for any test that checks a metric.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::TestApp;

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Debug, Default)]
pub struct Exposition {
    pub help: HashMap<String, String>,
    pub types: HashMap<String, String>,
    pub samples: Vec<Sample>,
}

pub fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

pub fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub fn parse_value(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ if s
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            None
        }
        _ => s.parse().ok(),
    }
}

/// Splits `name{a="x",b="y"} value [timestamp]`.
pub fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // label name, or the closing brace (a trailing comma is allowed)
            let start = chars.peek().map(|(i, _)| *i).ok_or("unterminated labels")?;
            if after[start..].starts_with('}') {
                rest = &after[start + 1..];
                break;
            }
            let eq = after[start..].find('=').ok_or("label without '='")? + start;
            let label = &after[start..eq];
            if !is_label_name(label) {
                return Err(format!("bad label name {label:?}"));
            }
            while chars.peek().is_some_and(|(i, _)| *i <= eq) {
                chars.next();
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {label} value is not quoted"));
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    c => value.push(c),
                }
            }
            if labels.insert(label.to_owned(), value).is_some() {
                return Err(format!("label {label} repeated"));
            }
            match chars.peek().map(|(_, c)| *c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                other => return Err(format!("expected ',' or '}}' after a label, got {other:?}")),
            }
        }
    }
    let mut fields = rest.split_ascii_whitespace();
    let raw = fields.next().ok_or("no value")?;
    let value = parse_value(raw).ok_or_else(|| format!("bad value {raw:?}"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing fields".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Parses the text format (version 0.0.4), rejecting what Prometheus would: bad names or
/// values, a TYPE after its samples or repeated, samples of a family split into several groups,
/// the same series twice.
pub fn parse_exposition(text: &str) -> Result<Exposition, String> {
    let mut exp = Exposition::default();
    let mut seen_series = BTreeSet::new();
    let mut finished_families = BTreeSet::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        let family = if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            if keyword != "HELP" && keyword != "TYPE" {
                continue;
            }
            let name = parts
                .next()
                .ok_or_else(|| at("no metric name".into()))?
                .to_owned();
            let text = parts.next().unwrap_or_default().to_owned();
            if !is_metric_name(&name) {
                return Err(at("bad metric name".into()));
            }
            if keyword == "TYPE" {
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&text.as_str())
                {
                    return Err(at(format!("unknown type {text:?}")));
                }
                if exp
                    .samples
                    .iter()
                    .any(|s| family_of(&exp.types, &s.name) == name)
                {
                    return Err(at("TYPE after samples of its family".into()));
                }
                if exp.types.insert(name.clone(), text).is_some() {
                    return Err(at("second TYPE line".into()));
                }
            } else if exp.help.insert(name.clone(), text).is_some() {
                return Err(at("second HELP line".into()));
            }
            name
        } else {
            let sample = parse_sample(line).map_err(at)?;
            let family = family_of(&exp.types, &sample.name);
            if !exp.types.contains_key(&family) {
                return Err(at("sample without a TYPE line".into()));
            }
            if !seen_series.insert((sample.name.clone(), sample.labels.clone())) {
                return Err(at("series repeated".into()));
            }
            exp.samples.push(sample);
            family
        };
        if current.as_ref() != Some(&family) {
            if let Some(done) = current.replace(family.clone()) {
                finished_families.insert(done);
            }
            if finished_families.contains(&family) {
                return Err(at(format!("family {family} split into several groups")));
            }
        }
    }
    Ok(exp)
}

/// The family a sample belongs to: `x_bucket`, `x_sum`, `x_count` of a histogram `x` are `x`.
pub fn family_of(types: &HashMap<String, String>, name: &str) -> String {
    if types.contains_key(name) {
        return name.to_owned();
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

impl Exposition {
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// Sum of the series of `name` carrying all of `labels` (0 when there are none).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.series(name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            })
            .map(|s| s.value)
            .sum()
    }

    pub fn label_values(&self, name: &str, label: &str) -> BTreeSet<String> {
        self.series(name)
            .filter_map(|s| s.labels.get(label).cloned())
            .collect()
    }
}

pub async fn metrics_text(app: &TestApp) -> String {
    let resp = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200, "GET /metrics");
    resp.text().await.expect("/metrics body")
}

pub async fn scrape(app: &TestApp) -> Exposition {
    let text = metrics_text(app).await;
    parse_exposition(&text)
        .unwrap_or_else(|e| panic!("/metrics is not valid exposition text: {e}\n{text}"))
}

/// Scrapes until `ready` holds (counters that move just after the response, such as
/// a failed write attempt, which the writer counts when the attempt ends), at most 30 s (a
/// liveness bound for a busy machine); returns the last.
pub async fn scrape_until(app: &TestApp, ready: impl Fn(&Exposition) -> bool) -> Exposition {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let exp = scrape(app).await;
        if ready(&exp) || Instant::now() > until {
            return exp;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
