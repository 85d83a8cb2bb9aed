//! `GET /session-events/{match_id}/export?format=echoreplay|ndjson`: a match as a file, streamed
//! from the store page by page.
//!
//! - `echoreplay`: a zip (what Spark and nevrcap open) holding one entry,
//!   `<match_id>.echoreplay`, of [`crate::replay`] lines; written by the `zip` crate's
//!   streaming writer (data descriptors, so no seeking back: the body goes out as it is made).
//! - `ndjson`: one protojson frame per line (what jq, DuckDB and pandas read), the same form
//!   POST accepts, so a file can be posted back line by line.
//!
//! Constant memory: the store cursor yields events; up to [`PAGE_FRAMES`] of them (or
//! [`PAGE_BYTES`] of output) are rendered and compressed on a blocking thread, sent as one body
//! chunk, and dropped before the next page is read. hyper pulls the next chunk only when the
//! client has taken the last, so a slow download holds one page, not the match.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use metrics::{counter, histogram};
use serde::Deserialize;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use super::read::{each_within, time_param};
use super::{ApiError, AppState, matches};
use crate::frame::StoredEvent;
use crate::ids::MatchId;
use crate::metrics as m;
use crate::replay;
use crate::store::{EventStream, ReadQuery, StoreError};

/// Frames rendered per body chunk.
const PAGE_FRAMES: usize = 128;
/// Output bytes after which a page is cut short (before compression).
const PAGE_BYTES: usize = 1024 * 1024;
/// A zip entry past 4 GiB needs zip64 fields, decided when the entry starts: matches whose
/// summary suggests more than this (frames × ~16 KB) get them.
const ZIP64_ABOVE_BYTES: u64 = 3 * 1024 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct ExportParams {
    format: Option<String>,
    since: Option<String>,
    until: Option<String>,
    bones: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    EchoReplay,
    Ndjson,
}

pub async fn export(
    State(app): State<AppState>,
    Path(raw): Path<String>,
    Query(params): Query<ExportParams>,
) -> Result<Response, ApiError> {
    let match_id = MatchId::parse(&raw)?;
    let format = match params.format.as_deref() {
        None | Some("echoreplay") => Format::EchoReplay,
        Some("ndjson") => Format::Ndjson,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`format` must be `echoreplay` or `ndjson`".into(),
            ));
        }
    };
    let bones = match params.bones.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::BadRequest(
                "`bones` must be `true` or `false`".into(),
            ));
        }
    };
    if bones && format == Format::Ndjson {
        return Err(ApiError::BadRequest(
            "`bones` applies to echoreplay; ndjson always has the whole frame".into(),
        ));
    }
    // Exports stream from the store like GET does: they share its bound on reads in flight.
    let permit = app.try_read()?;
    let query = ReadQuery {
        match_id: match_id.clone(),
        after: None,
        since_ms: time_param("since", params.since.as_deref())?,
        until_ms: time_param("until", params.until.as_deref())?,
        limit: None,
    };

    // 404 only when nothing at all is stored for the match (its summary, or, for data stored
    // before summaries existed, its first event); an empty time window is an empty file.
    let summary = matches::find(&app, &match_id).await?;
    if summary.is_none() && first_event(&app, &match_id).await?.is_none() {
        return Err(ApiError::UnknownMatch);
    }
    let started = Instant::now();
    let timeout = app.settings.store_timeout;
    let events = tokio::time::timeout(timeout, app.store.read(query))
        .await
        .map_err(|_| StoreError::Timeout(timeout))
        .and_then(|r| r)
        .map_err(ApiError::from_read)?;
    histogram!(m::STORE_READ_DURATION).record(started.elapsed().as_secs_f64());

    let (content_type, extension) = match format {
        Format::EchoReplay => ("application/zip", "echoreplay"),
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    let file_name = format!("{match_id}.{extension}");
    let large = summary.is_some_and(|s| s.frames.saturating_mul(16 * 1024) > ZIP64_ABOVE_BYTES);
    let encoder = match format {
        Format::EchoReplay => Encoder::zip(&file_name, bones, large)?,
        Format::Ndjson => Encoder::Ndjson,
    };
    // A match id is visible ASCII without quotes or backslashes: safe in the quoted filename.
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        // Each page bounded like GET's (per cursor batch, never the whole match); the permit
        // lives as long as the body.
        Body::from_stream(
            body(each_within(events, timeout), encoder).map(move |chunk| {
                let _ = &permit;
                chunk
            }),
        ),
    )
        .into_response())
}

async fn first_event(app: &AppState, match_id: &MatchId) -> Result<Option<StoredEvent>, ApiError> {
    let timeout = app.settings.store_timeout;
    let mut q = ReadQuery::all(match_id.clone());
    q.limit = Some(1);
    let mut events = tokio::time::timeout(timeout, app.store.read(q))
        .await
        .map_err(|_| StoreError::Timeout(timeout))
        .and_then(|r| r)
        .map_err(ApiError::from_read)?;
    events.next().await.transpose().map_err(ApiError::from_read)
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The zip writer's output: taken after each page.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Turns pages of events into body bytes.
enum Encoder {
    Zip {
        zip: Box<ZipWriter<StreamWriter<Sink>>>,
        sink: Sink,
        bones: bool,
    },
    Ndjson,
}

impl Encoder {
    fn zip(entry: &str, bones: bool, large: bool) -> Result<Self, ApiError> {
        let sink = Sink::default();
        let mut zip = ZipWriter::new_stream(sink.clone());
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(large);
        zip.start_file(entry, options)
            .map_err(|e| ApiError::Internal(format!("starting the zip entry: {e}")))?;
        Ok(Encoder::Zip {
            zip: Box::new(zip),
            sink,
            bones,
        })
    }

    /// Renders one page; blocking (deflate), so called on a blocking thread.
    fn page(&mut self, events: &[StoredEvent]) -> Result<Vec<u8>, BoxError> {
        let mut text = Vec::with_capacity(PAGE_BYTES + 64 * 1024);
        for event in events {
            let frame = event.frame()?;
            match self {
                Encoder::Zip { bones, .. } => {
                    replay::echoreplay_line(&frame, event.timestamp_ms()?, *bones, &mut text)?;
                }
                Encoder::Ndjson => {
                    serde_json::to_writer(&mut text, &frame)?;
                    text.push(b'\n');
                }
            }
        }
        match self {
            Encoder::Zip { zip, sink, .. } => {
                zip.write_all(&text)?;
                Ok(sink.take())
            }
            Encoder::Ndjson => Ok(text),
        }
    }

    /// The end of the archive (central directory); nothing for ndjson.
    fn finish(self) -> Result<Vec<u8>, BoxError> {
        match self {
            Encoder::Zip { zip, sink, .. } => {
                zip.finish()?;
                Ok(sink.take())
            }
            Encoder::Ndjson => Ok(Vec::new()),
        }
    }
}

struct Export {
    events: EventStream,
    encoder: Option<Encoder>,
    done: bool,
}

/// The body: one chunk per page, then the archive's end. A store error mid-way ends the body
/// with an error, so the client sees a truncated download (a zip without its directory),
/// never a complete-looking partial file.
fn body(
    events: EventStream,
    encoder: Encoder,
) -> impl futures::Stream<Item = Result<Vec<u8>, BoxError>> + Send {
    let state = Export {
        events,
        encoder: Some(encoder),
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        match st.next_chunk().await {
            Ok(chunk) => Some((Ok(chunk), st)),
            Err(e) => {
                tracing::warn!(error = %crate::logging::error_chain(&*e), "export failed");
                st.done = true;
                Some((Err(e), st))
            }
        }
    })
}

impl Export {
    async fn next_chunk(&mut self) -> Result<Vec<u8>, BoxError> {
        loop {
            let mut page = Vec::with_capacity(PAGE_FRAMES);
            let mut bytes = 0;
            while page.len() < PAGE_FRAMES && bytes < PAGE_BYTES {
                match self.events.next().await.transpose()? {
                    Some(event) => {
                        bytes += event.0.as_bytes().len();
                        page.push(event);
                    }
                    None => break,
                }
            }
            let last = page.len() < PAGE_FRAMES && bytes < PAGE_BYTES;
            let mut encoder = self.encoder.take().ok_or("export already finished")?;
            let (encoder, chunk) = tokio::task::spawn_blocking(move || {
                let chunk = encoder.page(&page);
                counter!(m::EXPORT_FRAMES).increment(page.len() as u64);
                (encoder, chunk)
            })
            .await?;
            let mut chunk = chunk?;
            if last {
                chunk.extend(tokio::task::spawn_blocking(move || encoder.finish()).await??);
                self.done = true;
                return Ok(chunk);
            }
            self.encoder = Some(encoder);
            // Deflate may hold a whole page back; an empty chunk is not worth sending.
            if !chunk.is_empty() {
                return Ok(chunk);
            }
        }
    }
}
