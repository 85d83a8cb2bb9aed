//! `--verify`: read every match back (pages of 1000, following `next`) and check that each
//! acknowledged frame (match id + frameIndex) is stored exactly once.

use std::collections::HashMap;

use anyhow::Context;
use serde_json::{Value, json};

pub struct Verified {
    pub acknowledged: u64,
    /// Every event read back (including frames that were stored but not acknowledged, e.g.
    /// written after their request timed out).
    pub stored: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub seconds: f64,
}

impl Verified {
    pub fn line(&self) -> String {
        format!(
            "verify: acknowledged {}, stored {}, missing {}, duplicates {}",
            self.acknowledged, self.stored, self.missing, self.duplicates
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "acknowledged": self.acknowledged,
            "stored": self.stored,
            "missing": self.missing,
            "duplicates": self.duplicates,
            "seconds": self.seconds,
        })
    }
}

const PAGE: u32 = 1000;

pub async fn run(
    client: &reqwest::Client,
    target: &str,
    match_ids: &[String],
    acked: &[Vec<u32>],
) -> anyhow::Result<Verified> {
    let started = std::time::Instant::now();
    let mut v = Verified {
        acknowledged: 0,
        stored: 0,
        missing: 0,
        duplicates: 0,
        seconds: 0.0,
    };
    for (match_id, acked) in match_ids.iter().zip(acked) {
        v.acknowledged += acked.len() as u64;
        if acked.is_empty() {
            continue;
        }
        // frameIndex -> times stored.
        let mut seen: HashMap<u64, u32> = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("{target}/session-events/{match_id}?limit={PAGE}");
            if let Some(a) = &after {
                url.push_str("&after=");
                url.push_str(a);
            }
            let page = fetch(client, &url).await?;
            let events = page["events"]
                .as_array()
                .with_context(|| format!("GET {url}: no `events` array"))?;
            for event in events {
                anyhow::ensure!(
                    event["match_id"].as_str() == Some(match_id.as_str()),
                    "GET {url}: an event of another match: {}",
                    event["match_id"]
                );
                // frameIndex is a uint32: a JSON number (a string is accepted too).
                let index = &event["data"]["frameIndex"];
                let index = index
                    .as_u64()
                    .or_else(|| index.as_str().and_then(|s| s.parse().ok()))
                    .unwrap_or(0); // protojson omits a zero frameIndex
                *seen.entry(index).or_default() += 1;
                v.stored += 1;
            }
            match page["next"].as_str() {
                Some(next) if !events.is_empty() => after = Some(next.to_owned()),
                _ => break,
            }
        }
        for index in acked {
            match seen.get(&u64::from(*index)).copied().unwrap_or(0) {
                0 => v.missing += 1,
                1 => {}
                n => v.duplicates += u64::from(n - 1),
            }
        }
    }
    v.seconds = started.elapsed().as_secs_f64();
    Ok(v)
}

async fn fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let mut attempt = 0;
    loop {
        let result = async {
            let resp = client.get(url).send().await?;
            let status = resp.status();
            let body = resp.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        match result {
            Ok((status, body)) if status.is_success() => {
                return serde_json::from_slice(&body)
                    .with_context(|| format!("GET {url}: the body is not JSON"));
            }
            // A busy store may time a read out: try a few times before giving up.
            Ok((status, body)) if attempt < 3 && status.is_server_error() => {
                eprintln!(
                    "loadgen: GET {url}: {status} {}; retrying",
                    String::from_utf8_lossy(&body)
                );
            }
            Ok((status, body)) => {
                anyhow::bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body))
            }
            Err(e) if attempt < 3 => eprintln!("loadgen: GET {url}: {e}; retrying"),
            Err(e) => return Err(e).with_context(|| format!("GET {url}")),
        }
        attempt += 1;
        tokio::time::sleep(std::time::Duration::from_millis(500 << attempt)).await;
    }
}
