//! `--requests-csv`: one line per scheduled send, so a run can be lined up against events
//! outside it (a fault injected at a known time) to the millisecond, which per-second progress
//! lines and whole-run totals cannot do.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// How one scheduled send ended.
pub enum Outcome {
    /// Any HTTP status, and whether the response carried `Retry-After`.
    Status { code: u16, retry_after: bool },
    /// No response: connect, timeout, reset... (see `http::transport_kind`).
    Transport(&'static str),
}

pub struct RequestLog {
    out: Mutex<Inner>,
}

struct Inner {
    file: BufWriter<File>,
    /// The first write error, reported by `finish`: one lost line must not abort a run.
    error: Option<std::io::Error>,
}

impl RequestLog {
    pub const HEADER: &'static str = "scheduled_ms,done_ms,stream,frame,outcome,retry_after";

    pub fn create(path: &Path) -> anyhow::Result<Self> {
        let file = File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        let mut file = BufWriter::new(file);
        writeln!(file, "{}", Self::HEADER)?;
        Ok(Self {
            out: Mutex::new(Inner { file, error: None }),
        })
    }

    /// `scheduled` and `done` are offsets from the clock start (the summary's `start_unix_ms`).
    pub fn record(
        &self,
        scheduled: Duration,
        done: Duration,
        stream: usize,
        frame: u32,
        outcome: &Outcome,
    ) {
        match outcome {
            Outcome::Status { code, retry_after } => {
                self.write(scheduled, done, stream, frame, code, *retry_after)
            }
            Outcome::Transport(kind) => self.write(scheduled, done, stream, frame, kind, false),
        }
    }

    /// A send never made: `--max-in-flight` requests were outstanding at its scheduled time.
    pub fn record_dropped(&self, scheduled: Duration, stream: usize, frame: u32) {
        self.write(scheduled, scheduled, stream, frame, "dropped", false);
    }

    fn write(
        &self,
        scheduled: Duration,
        done: Duration,
        stream: usize,
        frame: u32,
        outcome: impl std::fmt::Display,
        retry_after: bool,
    ) {
        let mut out = self.out.lock().unwrap();
        let written = writeln!(
            out.file,
            "{:.3},{:.3},{stream},{frame},{outcome},{}",
            scheduled.as_secs_f64() * 1000.0,
            done.as_secs_f64() * 1000.0,
            u8::from(retry_after)
        );
        if let Err(e) = written {
            out.error.get_or_insert(e);
        }
    }

    pub fn finish(&self) -> anyhow::Result<()> {
        let mut out = self.out.lock().unwrap();
        if let Some(e) = out.error.take() {
            return Err(e.into());
        }
        out.file.flush()?;
        Ok(())
    }
}
