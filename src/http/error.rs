//! Every error a client can see, and the one place that maps each to a status and a JSON body
//! `{"success":false,"error":"…"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::frame::{DocumentError, FrameError, LimitError};
use crate::ids::IdError;
use crate::logging::error_chain;
use crate::pipeline::{EnqueueError, WriteError};
use crate::store::StoreError;

/// Seconds a client is told to wait after a 503.
const RETRY_AFTER_SECS: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadFrame(#[from] FrameError),
    #[error("{0}")]
    BadId(#[from] IdError),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body could not be read: {0}")]
    BadBody(String),
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("the batch holds more than the limit of {0} frames")]
    TooManyFrames(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the request body did not arrive within the request deadline")]
    BodyTimeout,
    #[error("no such route")]
    NotFound,
    #[error("no frames are stored for this match")]
    UnknownMatch,
    #[error("too many live tails are open on this instance; retry later or on another instance")]
    TooManySubscribers,
    #[error("the ingest queue is full; retry after a moment")]
    QueueFull,
    /// A shared bound of the service is reached (bodies or reads in flight); the string says
    /// which. Routine under load, like a full queue.
    #[error("{0}; retry after a moment")]
    Busy(&'static str),
    /// The store's writes are failing (e.g. a full disk): refused at once, not at the deadline.
    #[error("the store cannot write right now ({0}); retry after a moment")]
    WritesFailing(String),
    #[error("the service is shutting down; retry on another instance")]
    ShuttingDown,
    #[error("the store is unavailable")]
    StoreUnavailable(#[source] StoreError),
    #[error("the write did not complete within the request deadline; it is safe to retry")]
    DeadlineExceeded,
    /// A read (one page, or one cursor batch of it) the store did not serve within its bound:
    /// slow, not down, so a 504 and not the 503 of an outage.
    #[error(
        "the read timed out: the store did not return the next events within {0:?}; retry, \
         or ask for a smaller page with `limit`"
    )]
    ReadTimeout(std::time::Duration),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadFrame(FrameError::Limit(l)) if *l != LimitError::TooDeep => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::BadFrame(_)
            | ApiError::BadId(_)
            | ApiError::BadRequest(_)
            | ApiError::BadBody(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge(_) | ApiError::TooManyFrames(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound | ApiError::UnknownMatch => StatusCode::NOT_FOUND,
            ApiError::TooManySubscribers
            | ApiError::QueueFull
            | ApiError::Busy(_)
            | ApiError::WritesFailing(_)
            | ApiError::ShuttingDown
            | ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::DeadlineExceeded | ApiError::ReadTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Label for `frames_rejected_total{reason}` when a POST fails this way.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadFrame(e) => e.reason(),
            ApiError::BadId(_) => "bad_id",
            ApiError::BadRequest(_) | ApiError::BadBody(_) => "bad_request",
            ApiError::TooLarge(_) | ApiError::TooManyFrames(_) => "too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::BodyTimeout => "body_timeout",
            ApiError::NotFound | ApiError::UnknownMatch => "not_found",
            ApiError::TooManySubscribers => "other",
            ApiError::QueueFull => "queue_full",
            ApiError::Busy(_) => "busy",
            ApiError::WritesFailing(_) => "store_unavailable",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::DeadlineExceeded => "deadline",
            ApiError::ReadTimeout(_) => "read_timeout",
            ApiError::Internal(_) => "internal",
        }
    }
}

impl From<EnqueueError> for ApiError {
    fn from(e: EnqueueError) -> Self {
        match e {
            EnqueueError::Full => ApiError::QueueFull,
            EnqueueError::ShuttingDown => ApiError::ShuttingDown,
        }
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::DeadlineExceeded => ApiError::DeadlineExceeded,
            WriteError::ShuttingDown => ApiError::ShuttingDown,
            WriteError::StoreFailed(why) => {
                ApiError::StoreUnavailable(StoreError::Failed(why.into()))
            }
            WriteError::Rejected(why) => {
                ApiError::Internal(format!("the store refused the frame: {why}"))
            }
        }
    }
}

impl ApiError {
    /// A failed read: a store that did not answer in time is slow (504 read timeout), anything
    /// else is an outage (503).
    pub fn from_read(e: StoreError) -> Self {
        match e {
            StoreError::Timeout(bound) => ApiError::ReadTimeout(bound),
            e => ApiError::StoreUnavailable(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::StoreUnavailable(e)
    }
}

impl From<DocumentError> for ApiError {
    fn from(e: DocumentError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        // Overload and shutdown refusals are expected and counted in metrics: a warn line per
        // refused frame would flood the log exactly when the service is busiest. A 504 is one
        // per waiting request while the store is slow; its cause is logged once per failed
        // attempt by the writer, and counted (`http_requests_total{status="504"}`), so the
        // request line is info, not warn.
        match self {
            ApiError::QueueFull
            | ApiError::Busy(_)
            | ApiError::WritesFailing(_)
            | ApiError::ShuttingDown
            | ApiError::TooManySubscribers => {
                tracing::debug!(status = status.as_u16(), error = %self, "request refused");
            }
            ApiError::DeadlineExceeded | ApiError::ReadTimeout(_) => {
                tracing::info!(status = status.as_u16(), error = %self, "request timed out");
            }
            _ if status.is_server_error() => {
                tracing::warn!(status = status.as_u16(), error = %error_chain(&self), "request failed");
            }
            _ => tracing::debug!(status = status.as_u16(), error = %self, "request refused"),
        }
        let mut response = error_response(status, &self.to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// The JSON error body every failure uses.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "success": false, "error": message }))).into_response()
}
