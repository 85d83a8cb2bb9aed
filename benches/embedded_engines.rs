//! The write path of the embedded store on redb and on fjall, side by side: what chose the
//! engine (see the doc comment of `session_events::store::embedded`).
//!
//! Each iteration writes one batch of ~12 KB documents the way the store does: for each
//! document look its `_id` up in an id table, then insert `event key → bytes` and
//! `_id → event key`; then commit durably (redb: one write transaction with
//! `Durability::Immediate`; fjall: one write batch with `PersistMode::SyncAll`, i.e. the journal
//! fsynced). `embedded_store` runs the real `EmbeddedStore::write_batch` on redb (BSON documents
//! of the same size) to show what the store adds on top of the engine.
//!
//! The files live under Cargo's target directory (a real disk, so fsync costs what it costs),
//! never under /tmp, which may be tmpfs.
//!
//! ```text
//! cargo bench --features bench-engines --bench embedded_engines -- --warm-up-time 1 --measurement-time 5
//! ```

use std::hint::black_box;
use std::path::Path;

use bson::RawDocumentBuf;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use session_events::frame::{EventDocument, EventId};
use session_events::ids::{MatchId, NodeId, SessionId};
use session_events::store::Store;
use session_events::store::embedded::EmbeddedStore;

const DOC_BYTES: usize = 12 * 1024;
const BATCHES: [usize; 2] = [100, 500];
/// Distinct values cycled through; each batch still gets fresh keys.
const POOL: usize = 64;
const MATCHES: usize = 4;

/// Telemetry-like bytes: half random (the floats of bone positions), half repeated structure
/// (field names, small integers), so compression has about what a real frame gives it.
fn value(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut v = Vec::with_capacity(DOC_BYTES);
    while v.len() < DOC_BYTES {
        v.extend(std::iter::repeat_with(|| rng.u8(..)).take(8));
        v.extend_from_slice(b"\x01pos\x00\x00\x00");
        v.push(rng.u8(..4));
    }
    v.truncate(DOC_BYTES);
    v
}

/// Keys as the store lays them out: match id, 0x00, timestamp, received_at, id.
struct Keys {
    matches: Vec<String>,
    seq: u64,
}

impl Keys {
    fn new() -> Self {
        let session = SessionId::parse("892e23e2-8272-4b07-85e8-5e291ac85f93").unwrap();
        let matches = (0..MATCHES)
            .map(|i| {
                let node = NodeId::parse(&format!("node-{i}")).unwrap();
                MatchId::new(session, &node).as_str().to_owned()
            })
            .collect();
        Self { matches, seq: 0 }
    }

    /// The next document's (id, event key).
    fn next(&mut self) -> (u128, Vec<u8>) {
        self.seq += 1;
        let id = u128::from(self.seq).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
        let ts = 1_700_000_000_000 + i64::try_from(self.seq / 4).unwrap();
        let m = &self.matches[usize::try_from(self.seq).unwrap() % MATCHES];
        let mut k = Vec::with_capacity(m.len() + 33);
        k.extend_from_slice(m.as_bytes());
        k.push(0);
        k.extend_from_slice(&((ts.cast_unsigned()) ^ (1 << 63)).to_be_bytes());
        k.extend_from_slice(&((ts + 3).cast_unsigned() ^ (1 << 63)).to_be_bytes());
        k.extend_from_slice(&id.to_be_bytes());
        (id, k)
    }
}

const REDB_EVENTS: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("events");
const REDB_IDS: redb::TableDefinition<u128, &[u8]> = redb::TableDefinition::new("event_ids");

fn redb_batch(db: &redb::Database, keys: &mut Keys, values: &[Vec<u8>], n: usize) {
    use redb::ReadableTable;
    let mut txn = db.begin_write().unwrap();
    txn.set_durability(redb::Durability::Immediate).unwrap();
    {
        let mut events = txn.open_table(REDB_EVENTS).unwrap();
        let mut ids = txn.open_table(REDB_IDS).unwrap();
        for i in 0..n {
            let (id, k) = keys.next();
            if ids.get(id).unwrap().is_none() {
                events
                    .insert(k.as_slice(), values[i % POOL].as_slice())
                    .unwrap();
                ids.insert(id, k.as_slice()).unwrap();
            }
        }
    }
    txn.commit().unwrap();
}

struct Fjall {
    db: fjall::Database,
    events: fjall::Keyspace,
    ids: fjall::Keyspace,
}

fn fjall_batch(f: &Fjall, keys: &mut Keys, values: &[Vec<u8>], n: usize) {
    let mut batch = f.db.batch().durability(Some(fjall::PersistMode::SyncAll));
    for i in 0..n {
        let (id, k) = keys.next();
        let id = id.to_be_bytes();
        if !f.ids.contains_key(id).unwrap() {
            batch.insert(&f.events, k.clone(), values[i % POOL].as_slice());
            batch.insert(&f.ids, id, k);
        }
    }
    batch.commit().unwrap();
}

/// Documents as the service builds them, padded to [`DOC_BYTES`] with a binary `data` field.
fn store_docs(keys: &mut Keys, values: &[Vec<u8>], n: usize) -> Vec<EventDocument> {
    (0..n)
        .map(|i| {
            let (id, _) = keys.next();
            let m = &keys.matches[usize::try_from(keys.seq).unwrap() % MATCHES];
            let match_id = MatchId::parse(m).unwrap();
            let ts = 1_700_000_000_000 + i64::try_from(keys.seq / 4).unwrap();
            let mut bson = RawDocumentBuf::new();
            bson.append("_id", EventId(id).to_hex());
            bson.append("match_id", match_id.as_str());
            bson.append("timestamp", bson::DateTime::from_millis(ts));
            bson.append("received_at", bson::DateTime::from_millis(ts + 3));
            bson.append(
                "data",
                bson::Binary {
                    subtype: bson::spec::BinarySubtype::Generic,
                    bytes: values[i % POOL][..DOC_BYTES - 160].to_vec(),
                },
            );
            EventDocument {
                id: EventId(id),
                match_id,
                timestamp_ms: ts,
                received_at_ms: ts + 3,
                bson,
            }
        })
        .collect()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("embedded-engines-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

fn open_fjall(dir: &Path) -> Fjall {
    let db = fjall::Database::builder(dir).open().unwrap();
    let events = db
        .keyspace("events", fjall::KeyspaceCreateOptions::default)
        .unwrap();
    let ids = db
        .keyspace("event_ids", fjall::KeyspaceCreateOptions::default)
        .unwrap();
    Fjall { db, events, ids }
}

fn write_path(c: &mut Criterion) {
    let mut rng = fastrand::Rng::with_seed(7);
    let values: Vec<Vec<u8>> = (0..POOL).map(|_| value(&mut rng)).collect();
    let mut group = c.benchmark_group("durable_batch_write");
    group.sample_size(20);
    for n in BATCHES {
        group.throughput(Throughput::ElementsAndBytes {
            elements: n as u64,
            bytes: (n * DOC_BYTES) as u64,
        });

        let dir = tempdir();
        let db = redb::Database::create(dir.path().join("events.redb")).unwrap();
        let mut keys = Keys::new();
        group.bench_with_input(BenchmarkId::new("redb", n), &n, |b, &n| {
            b.iter(|| redb_batch(&db, &mut keys, &values, n));
        });
        drop(db);
        drop(dir);

        let dir = tempdir();
        let f = open_fjall(dir.path());
        let mut keys = Keys::new();
        group.bench_with_input(BenchmarkId::new("fjall", n), &n, |b, &n| {
            b.iter(|| fjall_batch(&f, &mut keys, &values, n));
        });
        drop(f);
        drop(dir);

        let dir = tempdir();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        let mut keys = Keys::new();
        group.bench_with_input(BenchmarkId::new("embedded_store", n), &n, |b, &n| {
            b.iter_batched(
                || store_docs(&mut keys, &values, n),
                |docs| black_box(futures::executor::block_on(store.write_batch(&docs)).unwrap()),
                criterion::BatchSize::LargeInput,
            );
        });
        drop(store);
        drop(dir);
    }
    group.finish();
}

criterion_group!(benches, write_path);
criterion_main!(benches);
