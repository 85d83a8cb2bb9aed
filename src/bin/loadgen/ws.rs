//! `--transport ws`: one WebSocket stream per match (as `nevr-agent stream` runs one per game
//! server), opened before the clock starts. A frame is sent when it is due without waiting
//! for earlier replies; replies come back in order, so each is matched to the oldest frame
//! still unanswered on its stream. A stream that drops (the service restarted) counts its
//! unanswered frames as lost in transport (`closed`) and is reopened for the next frame.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::bodies::Body;
use crate::http::Shared;
use crate::requests::Outcome;
use crate::{Args, EncodingArg};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The frames sent on one socket and not answered yet, oldest first.
#[derive(Default)]
struct InFlight {
    frames: VecDeque<(usize, u32, Instant)>,
    /// The reader has ended: nothing more will be answered on this socket.
    dead: bool,
}

/// One stream's sender: frames are handed to its task, which never blocks the schedule.
pub struct Connection {
    tx: mpsc::UnboundedSender<(Body, Instant)>,
    task: tokio::task::JoinHandle<()>,
}

struct Link {
    sink: SplitSink<Socket, Message>,
    in_flight: Arc<Mutex<InFlight>>,
    reader: tokio::task::JoinHandle<()>,
}

struct Dialer {
    request: axum::http::Request<()>,
    text: bool,
    shared: Arc<Shared>,
}

impl Dialer {
    async fn dial(&self) -> anyhow::Result<Link> {
        let (socket, _) = tokio_tungstenite::connect_async(self.request.clone()).await?;
        let (sink, stream) = socket.split();
        let in_flight = Arc::new(Mutex::new(InFlight::default()));
        let reader = tokio::spawn(read_replies(stream, in_flight.clone(), self.shared.clone()));
        Ok(Link {
            sink,
            in_flight,
            reader,
        })
    }
}

impl Connection {
    pub async fn open(
        url: &str,
        node: &str,
        args: &Args,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Self> {
        let mut request = url.into_client_request()?;
        let headers = request.headers_mut();
        headers.insert("x-node-id", node.parse()?);
        if let Some(user) = &args.user_id {
            headers.insert("x-user-id", user.parse()?);
        }
        if let Some(token) = &args.auth_token {
            headers.insert("authorization", format!("Bearer {token}").parse()?);
        }
        let dialer = Dialer {
            request,
            text: args.encoding == EncodingArg::Json,
            shared,
        };
        let link = dialer.dial().await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(dialer, Some(link), rx));
        Ok(Self { tx, task })
    }

    pub fn send(&self, body: Body, at: Instant) {
        // The task lives as long as the sender; a send cannot fail before `finish`.
        let _ = self.tx.send((body, at));
    }

    /// Waits for every reply (the run's in-flight count says when), then closes the stream.
    pub async fn finish(self) {
        drop(self.tx);
        let _ = self.task.await;
    }
}

async fn run(
    dialer: Dialer,
    mut link: Option<Link>,
    mut rx: mpsc::UnboundedReceiver<(Body, Instant)>,
) {
    while let Some((body, at)) = rx.recv().await {
        let (stream, index) = (body.stream, body.index);
        if link
            .as_ref()
            .is_none_or(|l| l.in_flight.lock().unwrap().dead)
        {
            link = match dialer.dial().await {
                Ok(l) => Some(l),
                Err(_) => {
                    dialer
                        .shared
                        .record(stream, index, at, Outcome::Transport("connect"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    None
                }
            };
        }
        let Some(l) = link.as_mut() else { continue };
        {
            let mut in_flight = l.in_flight.lock().unwrap();
            in_flight.frames.push_back((stream, index, at));
        }
        let message = if dialer.text {
            match Utf8Bytes::try_from(body.bytes) {
                Ok(text) => Message::Text(text),
                Err(_) => unreachable!("protojson is UTF-8"),
            }
        } else {
            Message::Binary(body.bytes)
        };
        if l.sink.send(message).await.is_err() {
            // Answered by the reader if it is still running; if it has ended, by us.
            let mut in_flight = l.in_flight.lock().unwrap();
            if in_flight.dead
                && let Some((s, i, at)) = in_flight.frames.pop_back()
            {
                drop(in_flight);
                dialer.shared.record(s, i, at, Outcome::Transport("closed"));
            }
        }
    }
    if let Some(mut l) = link {
        let _ = l.sink.close().await;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut l.reader).await;
        l.reader.abort();
    }
}

/// Matches each reply to the oldest unanswered frame; at the end, the rest are lost.
async fn read_replies(
    mut stream: SplitStream<Socket>,
    in_flight: Arc<Mutex<InFlight>>,
    shared: Arc<Shared>,
) {
    #[derive(serde::Deserialize)]
    struct Reply {
        success: bool,
        #[serde(default)]
        status: Option<u16>,
    }
    while let Some(Ok(message)) = stream.next().await {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => break,
            _ => continue,
        };
        let code = match serde_json::from_str::<Reply>(&text) {
            Ok(Reply { success: true, .. }) => 200,
            Ok(Reply { status, .. }) => status.unwrap_or(500),
            Err(_) => 500,
        };
        let Some((s, i, at)) = in_flight.lock().unwrap().frames.pop_front() else {
            continue;
        };
        // A stream has no Retry-After: a 503 reply is not "missing" one.
        shared.record(
            s,
            i,
            at,
            Outcome::Status {
                code,
                retry_after: true,
            },
        );
    }
    let lost: Vec<_> = {
        let mut in_flight = in_flight.lock().unwrap();
        in_flight.dead = true;
        in_flight.frames.drain(..).collect()
    };
    for (s, i, at) in lost {
        shared.record(s, i, at, Outcome::Transport("closed"));
    }
}
