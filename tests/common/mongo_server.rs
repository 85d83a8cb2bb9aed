//! A private FerretDB instance for tests that kill, pause or restart the database, so the
//! shared server other tests use is never disturbed.

use super::free_port;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MongoServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

fn server_bin() -> PathBuf {
    std::env::var_os("SESSION_EVENTS_MONGO_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            panic!(
                "SESSION_EVENTS_MONGO_SERVER_BIN is not set. Run the tests with scripts/test \
                 (it builds the FerretDB test server), or build it with \
                 `scripts/mongo-server build` and export the path it prints."
            )
        })
}

impl MongoServer {
    pub fn start() -> Self {
        let mut server = Self {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
        };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let child = Command::new(server_bin())
            .arg("-listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("-dir")
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the FerretDB test server");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let until = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < until,
                "FerretDB did not listen on {addr} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    fn signal(&self, sig: &str) {
        super::signal(self.pid(), sig);
    }

    /// SIGKILL: the database vanishes mid-whatever, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// SIGSTOP: the database hangs (connections stay open, nothing answers).
    pub fn pause(&self) {
        self.signal("STOP");
    }

    pub fn resume(&self) {
        self.signal("CONT");
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(self.pid().to_string())
                .status();
        }
        self.kill();
    }
}
