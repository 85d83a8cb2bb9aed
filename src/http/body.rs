//! Receiving a request body within the service's memory bound, shared by every ingest route
//! (a POST today; batch and WebSocket ingest take a permit of the same [`BodyBudget`]):
//!
//! - [`BodyBudget`]: the bytes of bodies being received or decoded at once, across all
//!   connections (`MAX_BODY_BYTES_IN_FLIGHT`). Without it `MAX_CONNECTIONS × MAX_BODY_BYTES`
//!   (≈ 10 GB at the defaults) was outside the bound: 300 clients each sending ~1 MB and
//!   stalling took RSS to 326 MB. Beyond it a request is refused at once, 503 + `Retry-After`.
//! - [`receive`]: the raw body, by the request deadline, at most `MAX_BODY_BYTES`, reserving
//!   its bytes from the budget as they arrive (all at once when `Content-Length` says).
//! - [`decompress`]: `Content-Encoding` gzip or zstd (names case-insensitive), at most
//!   `MAX_BODY_BYTES` out (a bomb is a 413); bytes after the first gzip member are a 400, as
//!   trailing bytes are everywhere else. In memory rather than streamed: bodies are small, and
//!   the strict end-of-stream check needs the whole input.
//! - [`off_runtime`]: CPU work on a blocking thread when the body is big, so decoding never
//!   starves the runtime's workers (`/livez` took 1.7 s under eight big decodes).

use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// The budget counts in units of this many bytes (a semaphore holds at most ~2^61 permits,
/// and a permit per byte would make every chunk an atomic of its size).
const UNIT: usize = 1024;
/// A body of unknown length reserves at least this much more each time it outgrows its
/// reservation, so a chunked upload does not touch the semaphore for every small chunk.
const GROW_STEP: usize = 64 * 1024;
/// Bodies up to this size (uncompressed) are decoded on the request's own task: the decode
/// of a 12 KB frame takes ~0.1 ms, less than handing it to a blocking thread. Above it, and
/// for any compressed body (it may inflate to `MAX_BODY_BYTES`), decoding runs on the blocking
/// pool.
pub const INLINE_DECODE_BYTES: usize = 64 * 1024;

/// Bytes of request bodies in flight, shared by every ingest route.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    bytes: usize,
}

/// Bytes reserved from a [`BodyBudget`]; returned when dropped.
#[derive(Debug)]
pub struct BodyPermit {
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
    budget: BodyBudget,
}

const BUSY: &str = "too many request bodies are being received";

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            units: Arc::new(Semaphore::new(bytes.div_ceil(UNIT))),
            bytes,
        }
    }

    /// The bound, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Bytes reserved right now.
    pub fn in_use(&self) -> usize {
        (self.bytes.div_ceil(UNIT) - self.units.available_permits()) * UNIT
    }

    /// Reserves `bytes` at once, or refuses (503) when the budget has not that much left.
    pub fn try_reserve(&self, bytes: usize) -> Result<BodyPermit, ApiError> {
        let mut permit = BodyPermit {
            permit: None,
            bytes: 0,
            budget: self.clone(),
        };
        permit.try_grow_to(bytes)?;
        Ok(permit)
    }
}

impl BodyPermit {
    /// Grows the reservation to `bytes` (no-op if it is that big already). A body bigger than
    /// the whole budget (a batch, when `MAX_BATCH_BYTES` is set above it) reserves all of it,
    /// so it is received alone rather than refused forever.
    pub fn try_grow_to(&mut self, bytes: usize) -> Result<(), ApiError> {
        let bytes = bytes.min(self.budget.bytes);
        if bytes <= self.bytes {
            return Ok(());
        }
        let more = (bytes.div_ceil(UNIT) - self.bytes.div_ceil(UNIT)) as u32;
        if more > 0 {
            let got = self
                .budget
                .units
                .clone()
                .try_acquire_many_owned(more)
                .map_err(|_| ApiError::Busy(BUSY))?;
            match &mut self.permit {
                Some(p) => p.merge(got),
                None => self.permit = Some(got),
            }
        }
        self.bytes = bytes;
        Ok(())
    }
}

/// What `Content-Encoding` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Zstd,
}

impl Coding {
    /// One coding, case-insensitive (RFC 9110 §8.4.1); a list of codings is not accepted.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut values = headers.get_all(header::CONTENT_ENCODING).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return if headers.contains_key(header::CONTENT_ENCODING) {
                Err(unsupported())
            } else {
                Ok(Coding::Identity)
            };
        };
        let value = value.to_str().map_err(|_| unsupported())?.trim();
        if value.eq_ignore_ascii_case("gzip") || value.eq_ignore_ascii_case("x-gzip") {
            Ok(Coding::Gzip)
        } else if value.eq_ignore_ascii_case("zstd") {
            Ok(Coding::Zstd)
        } else if value.eq_ignore_ascii_case("identity") || value.is_empty() {
            Ok(Coding::Identity)
        } else {
            Err(unsupported())
        }
    }
}

fn unsupported() -> ApiError {
    ApiError::UnsupportedMediaType(
        "unsupported Content-Encoding: gzip, zstd and identity are accepted".into(),
    )
}

/// A received body and the budget it holds (keep the permit until the bytes, and what was
/// decoded from them, are dropped).
#[derive(Debug)]
pub struct Received {
    pub bytes: Bytes,
    pub permit: BodyPermit,
}

/// Reads the raw body, at most `limit` bytes, by `deadline`, within `budget`.
pub async fn receive(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    deadline: Instant,
    budget: &BodyBudget,
) -> Result<Received, ApiError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if announced.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge(limit));
    }
    let mut permit = budget.try_reserve(announced.unwrap_or(0))?;
    let read = async {
        let mut body = body;
        let mut buf = BytesMut::with_capacity(announced.unwrap_or(0));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                if is_length_limit(&e) {
                    ApiError::TooLarge(limit)
                } else {
                    ApiError::BadBody(crate::logging::error_chain(&e))
                }
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let len = buf.len() + data.len();
            if len > limit {
                return Err(ApiError::TooLarge(limit));
            }
            if len > permit.bytes {
                permit.try_grow_to(len.max(permit.bytes + GROW_STEP).min(limit))?;
            }
            buf.extend_from_slice(&data);
        }
        Ok(buf.freeze())
    };
    match tokio::time::timeout_at(deadline.into(), read).await {
        Err(_) => Err(ApiError::BodyTimeout),
        Ok(bytes) => Ok(Received {
            bytes: bytes?,
            permit,
        }),
    }
}

/// The limit can trip in `RequestBodyLimitLayer` (raw bytes): look through the cause chain.
fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Undoes `coding`, producing at most `limit` bytes, and grows `permit` to cover them.
/// CPU work: call it where [`off_runtime`] put the decode.
pub fn decompress(
    received: Received,
    coding: Coding,
    limit: usize,
) -> Result<(Bytes, BodyPermit), ApiError> {
    let Received { bytes, mut permit } = received;
    let bad = |what: &str, e: std::io::Error| ApiError::BadBody(format!("{what}: {e}"));
    let mut out = Vec::new();
    match coding {
        Coding::Identity => return Ok((bytes, permit)),
        Coding::Gzip => {
            let mut decoder = flate2::bufread::GzDecoder::new(&bytes[..]);
            (&mut decoder)
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad("bad gzip data", e))?;
            if out.len() <= limit && !decoder.into_inner().is_empty() {
                return Err(ApiError::BadBody(
                    "data after the end of the gzip stream (only one gzip member is accepted)"
                        .into(),
                ));
            }
        }
        Coding::Zstd => {
            // A zstd stream may hold several frames; bytes that are not one are an error.
            let decoder = zstd::stream::read::Decoder::with_buffer(&bytes[..])
                .map_err(|e| bad("bad zstd data", e))?;
            decoder
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| bad("bad zstd data", e))?;
        }
    }
    if out.len() > limit {
        return Err(ApiError::TooLarge(limit));
    }
    permit.try_grow_to(bytes.len() + out.len())?;
    drop(bytes);
    Ok((Bytes::from(out), permit))
}

/// Runs CPU work `f` on the request's task when `inline` (small bodies: cheaper than a thread
/// hand-off), else on the blocking pool so the runtime's workers stay free for other requests
/// and the probes.
pub async fn off_runtime<T: Send + 'static>(
    inline: bool,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    if inline {
        return Ok(f());
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("decode task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_returned() {
        let budget = BodyBudget::new(100 * UNIT);
        let a = budget.try_reserve(60 * UNIT).unwrap();
        let mut b = budget.try_reserve(30 * UNIT).unwrap();
        assert!(budget.try_reserve(20 * UNIT).is_err());
        assert!(b.try_grow_to(50 * UNIT).is_err());
        b.try_grow_to(40 * UNIT).unwrap();
        assert_eq!(budget.in_use(), 100 * UNIT);
        drop(a);
        drop(b);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn codings_are_case_insensitive() {
        let mut h = HeaderMap::new();
        assert_eq!(Coding::from_headers(&h).unwrap(), Coding::Identity);
        for (v, c) in [
            ("GZIP", Coding::Gzip),
            (" gzip ", Coding::Gzip),
            ("Zstd", Coding::Zstd),
        ] {
            h.insert(header::CONTENT_ENCODING, v.parse().unwrap());
            assert_eq!(Coding::from_headers(&h).unwrap(), c, "{v}");
        }
        h.insert(header::CONTENT_ENCODING, "br".parse().unwrap());
        assert!(Coding::from_headers(&h).is_err());
    }
}
