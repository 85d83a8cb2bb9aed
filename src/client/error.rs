//! Why a call failed, and how an error answer of the service becomes a [`ClientError`].

use serde::Deserialize;

use super::Reply;

/// How much of an error body a [`ClientError::Status`] keeps when it is not the service's JSON.
const MAX_ERROR_TEXT: usize = 512;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The builder was given something unusable (bad base URL, node id, user id, token).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The service answered with an error status: `message` is its JSON `error` (or the start
    /// of the body when it was not the service's JSON). `attempts` counts the retries too.
    #[error("the service answered {status} after {attempts} attempt(s): {message}")]
    Status {
        status: u16,
        message: String,
        attempts: u32,
    },
    /// No (complete) answer: connection refused or reset, timeout, truncated body.
    #[error("the request failed after {attempts} attempt(s)")]
    Transport {
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// The WebSocket stream failed (connect, protocol, reset).
    #[error("the WebSocket stream failed")]
    Stream(#[source] Box<tokio_tungstenite::tungstenite::Error>),
    /// The service answered success with a body this client does not understand.
    #[error("cannot decode the service's answer as {what}")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The HTTP status, for [`ClientError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

pub(super) fn status_error(reply: &Reply, attempts: u32) -> ClientError {
    let message = match serde_json::from_slice::<ErrorAnswer>(&reply.body) {
        Ok(answer) => answer.error,
        Err(_) => {
            let text = String::from_utf8_lossy(&reply.body);
            let text = text.trim();
            if text.is_empty() {
                reply
                    .status
                    .canonical_reason()
                    .unwrap_or("no error message")
                    .to_owned()
            } else {
                let mut end = text.len().min(MAX_ERROR_TEXT);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text[..end].to_owned()
            }
        }
    };
    ClientError::Status {
        status: reply.status.as_u16(),
        message,
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::StatusCode;
    #[test]
    fn status_errors_carry_the_service_message() {
        let reply = |status: u16, body: &'static str| Reply {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: Bytes::from_static(body.as_bytes()),
        };
        let err = status_error(
            &reply(
                400,
                r#"{"success":false,"error":"session id is not a UUID"}"#,
            ),
            1,
        );
        assert_eq!(err.status(), Some(400));
        assert!(
            matches!(&err, ClientError::Status { message, .. } if message == "session id is not a UUID")
        );
        let err = status_error(&reply(502, "  bad gateway from proxy \n"), 6);
        assert!(
            matches!(&err, ClientError::Status { message, attempts: 6, .. } if message == "bad gateway from proxy")
        );
        let err = status_error(&reply(500, ""), 1);
        assert!(
            matches!(&err, ClientError::Status { message, .. } if message == "Internal Server Error")
        );
    }
}
