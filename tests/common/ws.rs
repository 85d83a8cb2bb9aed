//! A WebSocket producer for tests: connects to the service's stream ingest with the upgrade
//! headers a producer sends, and reads the replies as JSON.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, http};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// `ws://` for the service at `base` (`http://host:port`), path and query included.
pub fn url(base: &str, path_and_query: &str) -> String {
    format!("{}{path_and_query}", base.replacen("http://", "ws://", 1))
}

/// The upgrade request with these headers.
pub fn request(url: &str, headers: &[(&str, &str)]) -> http::Request<()> {
    let mut request = url.into_client_request().expect("a WebSocket URL");
    for (name, value) in headers {
        request.headers_mut().insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    request
}

/// Connects, or returns the HTTP status the upgrade was refused with.
pub async fn try_connect(url: &str, headers: &[(&str, &str)]) -> Result<Socket, u16> {
    match tokio_tungstenite::connect_async(request(url, headers)).await {
        Ok((socket, response)) => {
            assert_eq!(response.status(), 101);
            Ok(socket)
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(e) => panic!("WebSocket connect to {url} failed: {e}"),
    }
}

pub async fn connect(url: &str, headers: &[(&str, &str)]) -> Socket {
    try_connect(url, headers)
        .await
        .unwrap_or_else(|status| panic!("upgrade refused with {status}"))
}

/// What the next message from the server was.
#[derive(Debug)]
pub enum Next {
    Reply(serde_json::Value),
    Closed(Option<CloseFrame>),
    /// The connection ended without a close frame (or with an error).
    Ended(String),
}

/// The next reply or the close, skipping pings; panics after `within`.
pub async fn next(socket: &mut Socket, within: Duration) -> Next {
    loop {
        let message = tokio::time::timeout(within, socket.next())
            .await
            .unwrap_or_else(|_| panic!("no message from the service within {within:?}"));
        match message {
            None => return Next::Ended("end of stream".into()),
            Some(Err(e)) => return Next::Ended(e.to_string()),
            Some(Ok(Message::Text(text))) => {
                return Next::Reply(
                    serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("a reply that is not JSON ({e}): {text}")),
                );
            }
            Some(Ok(Message::Close(frame))) => return Next::Closed(frame),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Binary(b))) => panic!("a binary reply: {b:?}"),
        }
    }
}

/// The next reply; panics on a close.
pub async fn reply(socket: &mut Socket) -> serde_json::Value {
    match next(socket, Duration::from_secs(30)).await {
        Next::Reply(v) => v,
        other => panic!("expected a reply, got {other:?}"),
    }
}

pub async fn send_text(socket: &mut Socket, text: impl Into<String>) {
    socket
        .send(Message::Text(text.into().into()))
        .await
        .expect("sending a text message");
}

pub async fn send_binary(socket: &mut Socket, bytes: Vec<u8>) {
    socket
        .send(Message::Binary(bytes.into()))
        .await
        .expect("sending a binary message");
}

/// `{"frame": <frame json>}` around raw frame JSON.
pub fn envelope(frame_json: &[u8]) -> String {
    format!("{{\"frame\":{}}}", std::str::from_utf8(frame_json).unwrap())
}
