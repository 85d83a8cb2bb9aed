//! A Server-Sent Events reader for the live-tail tests: parses the wire format itself (so the
//! tests check what any SSE client would see), over reqwest's streamed body.

use std::time::Duration;

use serde_json::Value;

/// One parsed SSE block.
#[derive(Debug, Clone, PartialEq)]
pub enum SseEvent {
    Frame { id: String, data: Value },
    Lagged(u64),
    Comment(String),
}

impl SseEvent {
    /// The frame index of a frame event (protojson omits 0).
    pub fn frame_index(&self) -> Option<u64> {
        match self {
            SseEvent::Frame { data, .. } => Some(data["data"]["frameIndex"].as_u64().unwrap_or(0)),
            _ => None,
        }
    }
}

pub struct SseClient {
    response: reqwest::Response,
    buf: Vec<u8>,
}

impl SseClient {
    /// Opens `GET {url}` (with an optional `Last-Event-ID`), checks the 200 and the content
    /// type, and waits for the tail's opening comment: from then on it is subscribed.
    pub async fn connect(url: &str, last_event_id: Option<&str>) -> Self {
        let http = reqwest::Client::new();
        let mut req = http.get(url);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let response = req.send().await.expect("tail request reached the service");
        let status = response.status();
        let ctype = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        if status != 200 {
            panic!("tail answered {status}: {}", response.text().await.unwrap());
        }
        assert_eq!(ctype.as_deref(), Some("text/event-stream"));
        let mut client = Self {
            response,
            buf: Vec::new(),
        };
        let first = client.next().await.expect("the opening comment");
        assert_eq!(first, SseEvent::Comment("tail open".into()));
        client
    }

    /// The next event or comment; `None` at a clean end of the stream. A transport error (a
    /// connection cut rather than closed) fails the test.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = find(&self.buf, b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                return Some(parse(std::str::from_utf8(&block).expect("SSE is UTF-8")));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buf.extend_from_slice(&chunk),
                Ok(None) => {
                    assert!(
                        self.buf.is_empty(),
                        "stream ended mid-event: {:?}",
                        self.buf
                    );
                    return None;
                }
                Err(e) => panic!("the tail's stream broke instead of ending: {e:?}"),
            }
        }
    }

    /// The next frame or lagged event (skipping comments), within `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<SseEvent> {
        tokio::time::timeout(timeout, async {
            loop {
                match self.next().await {
                    Some(SseEvent::Comment(_)) => continue,
                    other => return other,
                }
            }
        })
        .await
        .expect("no event within the liveness timeout")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses one block per the SSE rules: `field: value` lines (one optional space), `:` comments.
pub fn parse(block: &str) -> SseEvent {
    let (mut event, mut id, mut data, mut comment) = (None, None, Vec::new(), None);
    for line in block.lines().filter(|l| !l.is_empty()) {
        if let Some(c) = line.strip_prefix(':') {
            comment = Some(c.strip_prefix(' ').unwrap_or(c).to_owned());
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => event = Some(value.to_owned()),
            "id" => id = Some(value.to_owned()),
            "data" => data.push(value.to_owned()),
            other => panic!("unexpected SSE field {other:?} in {block:?}"),
        }
    }
    match event.as_deref() {
        None => SseEvent::Comment(comment.expect("a block is an event or a comment")),
        Some("frame") => {
            assert_eq!(data.len(), 1, "a frame is one data line: {block:?}");
            SseEvent::Frame {
                id: id.expect("frames carry an id"),
                data: serde_json::from_str(&data[0]).expect("frame data is JSON"),
            }
        }
        Some("lagged") => {
            let v: Value = serde_json::from_str(&data[0]).expect("lagged data is JSON");
            SseEvent::Lagged(v["skipped"].as_u64().expect("skipped count"))
        }
        Some(other) => panic!("unexpected event {other:?}"),
    }
}
