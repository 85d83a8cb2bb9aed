//! The streaming sender: one WebSocket (`GET /ws`) carries a producer's frames, each answered
//! in order, without waiting for one answer before sending the next (as `nevr-agent stream`
//! does). The node, user and token go on the upgrade request once.
//!
//! ```no_run
//! # async fn demo(client: session_events::client::Client,
//! #   frames: Vec<session_events::proto::LobbySessionStateFrame>)
//! # -> Result<(), session_events::client::ClientError> {
//! use session_events::client::StreamReply;
//!
//! let (mut sender, mut replies) = client.stream().await?;
//! for frame in &frames {
//!     sender.send_frame(frame).await?; // does not wait for the reply
//! }
//! for _ in &frames {
//!     match replies.next().await.transpose()? {
//!         Some(StreamReply::Stored(match_id)) => println!("stored in {match_id}"),
//!         Some(StreamReply::Failed { status, message }) => eprintln!("{status}: {message}"),
//!         Some(StreamReply::Header) | None => break,
//!     }
//! }
//! sender.close().await?;
//! # Ok(()) }
//! ```
//!
//! No retries here: a stream is long-lived and its replies come later. A frame answered 503 or
//! 504 is safe to send again (writes are idempotent), as is every frame sent since the last
//! reply when the connection drops.

use bytes::Bytes;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{Client, ClientError};
use crate::proto::LobbySessionStateFrame;
use crate::proto::telemetry::v1::{Envelope, TelemetryHeader, envelope};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The sending half of a stream.
pub struct FrameSender {
    sink: SplitSink<Socket, Message>,
}

/// The replies of a stream, one per message sent, in order.
pub struct ReplyReceiver {
    stream: SplitStream<Socket>,
    close_code: Option<u16>,
}

/// The service's answer to one stream message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamReply {
    /// A frame is stored (or queued, in `enqueue` ack mode) in this match.
    Stored(String),
    /// A header was taken.
    Header,
    /// The message failed, with the HTTP status a POST of it would have had. 503 and 504 are
    /// worth sending again; 4xx are not.
    Failed { status: u16, message: String },
}

#[derive(Deserialize)]
struct Answer {
    success: bool,
    #[serde(default)]
    match_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    status: Option<u16>,
}

fn stream_error(e: tungstenite::Error) -> ClientError {
    ClientError::Stream(Box::new(e))
}

impl Client {
    /// Opens a WebSocket stream to the service's `/ws`.
    pub async fn stream(&self) -> Result<(FrameSender, ReplyReceiver), ClientError> {
        let mut url = self.url(&["ws"]);
        url.set_scheme("ws")
            .map_err(|()| ClientError::Config("the base URL cannot become ws://".into()))?;
        let mut request = url.as_str().into_client_request().map_err(stream_error)?;
        let headers = request.headers_mut();
        for (name, value) in [
            ("x-node-id", &self.node_id),
            ("x-user-id", &self.user_id),
            ("authorization", &self.authorization),
        ] {
            if let Some(value) = value {
                headers.insert(name, value.clone());
            }
        }
        let (socket, _) = match tokio_tungstenite::connect_async(request).await {
            Ok(connected) => connected,
            Err(tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response.into_body().unwrap_or_default();
                let message = serde_json::from_slice::<Answer>(&body)
                    .ok()
                    .and_then(|a| a.error)
                    .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
                return Err(ClientError::Status {
                    status,
                    message,
                    attempts: 1,
                });
            }
            Err(e) => return Err(stream_error(e)),
        };
        let (sink, stream) = socket.split();
        Ok((
            FrameSender { sink },
            ReplyReceiver {
                stream,
                close_code: None,
            },
        ))
    }
}

impl FrameSender {
    /// Sends a frame as a binary protobuf `Envelope`.
    pub async fn send_frame(&mut self, frame: &LobbySessionStateFrame) -> Result<(), ClientError> {
        let envelope = Envelope {
            message: Some(envelope::Message::Frame(frame.clone())),
        };
        self.send_binary(envelope.encode_to_vec().into()).await
    }

    /// Sends a capture's header (answered, not stored).
    pub async fn send_header(&mut self, header: &TelemetryHeader) -> Result<(), ClientError> {
        let envelope = Envelope {
            message: Some(envelope::Message::Header(header.clone())),
        };
        self.send_binary(envelope.encode_to_vec().into()).await
    }

    /// Sends a protobuf `Envelope` already encoded.
    pub async fn send_binary(&mut self, envelope: Bytes) -> Result<(), ClientError> {
        self.sink
            .send(Message::Binary(envelope))
            .await
            .map_err(stream_error)
    }

    /// Sends protojson text as it is: an `Envelope` or a bare frame.
    pub async fn send_text(&mut self, json: impl Into<String>) -> Result<(), ClientError> {
        self.sink
            .send(Message::Text(json.into().into()))
            .await
            .map_err(stream_error)
    }

    /// Closes the stream. Only once every reply has arrived: the service sends nothing after a
    /// close (the frames are still written).
    pub async fn close(mut self) -> Result<(), ClientError> {
        self.sink.close().await.map_err(stream_error)
    }
}

impl ReplyReceiver {
    /// The next reply; `None` once the stream is closed (see [`ReplyReceiver::close_code`]).
    pub async fn next(&mut self) -> Option<Result<StreamReply, ClientError>> {
        loop {
            let text = match self.stream.next().await? {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(frame)) => {
                    self.close_code = frame.map(|f| u16::from(f.code));
                    return None;
                }
                Ok(_) => continue,
                Err(e) => return Some(Err(stream_error(e))),
            };
            let answer: Answer = match serde_json::from_str(&text) {
                Ok(answer) => answer,
                Err(source) => {
                    return Some(Err(ClientError::Decode {
                        what: "a stream reply",
                        source,
                    }));
                }
            };
            return Some(Ok(match (answer.success, answer.match_id) {
                (true, Some(match_id)) => StreamReply::Stored(match_id),
                (true, None) => StreamReply::Header,
                (false, _) => StreamReply::Failed {
                    status: answer.status.unwrap_or(500),
                    message: answer.error.unwrap_or_default(),
                },
            }));
        }
    }

    /// The close code the service ended the stream with (1001: it is shutting down; 1009: a
    /// message was over its size limit).
    pub fn close_code(&self) -> Option<u16> {
        self.close_code
    }
}
