//! The metrics contract: `/metrics` is valid Prometheus text holding every metric `src/metrics.rs`
//! declares, the counters move by exactly what happened, a real Prometheus scrapes the service,
//! and every query of the Grafana dashboard returns data from it.
//!
//! The metrics recorder is process-wide (every service this binary spawns shares it), so every
//! test that makes traffic holds `LOCK`: deltas measured by one are never moved by another.

#[path = "../common/mod.rs"]
mod common;

mod counters;
mod dashboard;
mod declared;
mod exported;
mod traffic;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::exposition::*;
use common::prometheus::{self, Prometheus};
use common::{
    Backend, MongoServer, TestApp, new_match, spawn_app_with, spawn_config, test_config,
    unique_name,
};
use session_events::config::Config;
use session_events::metrics as m;
use session_events::proto::LobbySessionStateFrame;
use session_events::synth::{self, MatchGenerator};

static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read_repo_file(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

use declared::*;
use traffic::*;
