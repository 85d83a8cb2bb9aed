use std::time::{Duration, UNIX_EPOCH};

use futures::TryStreamExt;

use super::*;
use crate::frame::{self, Encoding};
use crate::ids::{MatchId, NodeId, SessionId};
use crate::store::Cursor;

const SESSION: &str = "892e23e2-8272-4b07-85e8-5e291ac85f93";

/// A frame of `session` from `node` with frame timestamp `ts_ms`, received at `rcv_ms`;
/// `index` tells frames with equal timestamps apart (and so their ids).
fn doc(node: &str, index: u32, ts_ms: i64, rcv_ms: i64) -> EventDocument {
    let ts = chrono::DateTime::from_timestamp_millis(ts_ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = format!(
        r#"{{"frameIndex":{index},"timestamp":"{ts}","session":{{"sessionid":"{SESSION}"}}}}"#
    );
    let decoded = frame::decode(body.as_bytes(), Encoding::Json).unwrap();
    let received_at = UNIX_EPOCH + Duration::from_millis(u64::try_from(rcv_ms).unwrap());
    let d =
        EventDocument::build(&decoded, &NodeId::parse(node).unwrap(), None, received_at).unwrap();
    assert_eq!((d.timestamp_ms, d.received_at_ms), (ts_ms, rcv_ms));
    d
}

fn match_of(node: &str) -> MatchId {
    MatchId::new(
        SessionId::parse(SESSION).unwrap(),
        &NodeId::parse(node).unwrap(),
    )
}

fn position(d: &EventDocument) -> Cursor {
    Cursor {
        timestamp_ms: d.timestamp_ms,
        received_at_ms: d.received_at_ms,
        id: d.id,
    }
}

async fn read(store: &EmbeddedStore, q: ReadQuery) -> Vec<Cursor> {
    let events: Vec<StoredEvent> = store.read(q).await.unwrap().try_collect().await.unwrap();
    events.iter().map(|e| Cursor::of(e).unwrap()).collect()
}

async fn read_all(store: &EmbeddedStore, node: &str) -> Vec<Cursor> {
    read(store, ReadQuery::all(match_of(node))).await
}

fn open() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    (dir, store)
}

const T0: i64 = 1_700_000_000_000;

#[tokio::test]
async fn health_and_name() {
    let (_dir, store) = open();
    assert_eq!(store.name(), "embedded");
    store.ensure_indexes().await.unwrap();
    store.ping().await.unwrap();
    assert_eq!(store.write_batch(&[]).await.unwrap(), vec![]);
    assert!(read_all(&store, "node").await.is_empty());
}

#[tokio::test]
async fn writes_are_idempotent() {
    let (_dir, store) = open();
    let a = doc("node", 1, T0, T0 + 5);
    let b = doc("node", 2, T0 + 10, T0 + 15);
    assert_eq!(
        store.write_batch(std::slice::from_ref(&a)).await.unwrap(),
        vec![WriteOutcome::Stored]
    );
    assert_eq!(
        store.write_batch(std::slice::from_ref(&a)).await.unwrap(),
        vec![WriteOutcome::Duplicate]
    );
    // A retried POST: same frame, received later, so same `_id` under a different key.
    let retry = doc("node", 1, T0, T0 + 900);
    assert_eq!(retry.id, a.id);
    // Duplicates within one batch too.
    assert_eq!(
        store
            .write_batch(&[retry, b.clone(), b.clone()])
            .await
            .unwrap(),
        vec![
            WriteOutcome::Duplicate,
            WriteOutcome::Stored,
            WriteOutcome::Duplicate
        ]
    );
    assert_eq!(
        read_all(&store, "node").await,
        vec![position(&a), position(&b)]
    );
}

#[tokio::test]
async fn reads_order_by_timestamp_then_arrival_then_id() {
    let (_dir, store) = open();
    let docs = [
        doc("node", 1, T0 + 30, T0 + 1),
        doc("node", 2, T0 + 10, T0 + 9),
        doc("node", 3, T0 + 10, T0 + 2),
        doc("node", 4, T0 - 50, T0 + 7),
        doc("node", 5, T0 + 20, T0 + 3),
        // Same timestamp and arrival: `_id` decides.
        doc("node", 6, T0 + 20, T0 + 3),
        doc("node", 7, T0 + 20, T0 + 3),
    ];
    // Out of order, across batches.
    store.write_batch(&docs[4..]).await.unwrap();
    store.write_batch(&docs[..2]).await.unwrap();
    store.write_batch(&docs[2..4]).await.unwrap();

    let mut expected: Vec<Cursor> = docs.iter().map(position).collect();
    expected.sort();
    assert_eq!(expected[0].timestamp_ms, T0 - 50);
    assert_eq!(read_all(&store, "node").await, expected);
}

#[tokio::test]
async fn paging_with_limit_and_after_has_no_gaps_or_repeats() {
    let (_dir, store) = open();
    // Plenty of ties on timestamp and arrival, so the cursor's later parts matter.
    let docs: Vec<_> = (0..60)
        .map(|i| doc("node", i, T0 + i64::from(i / 7), T0 + i64::from(i % 3)))
        .collect();
    store.write_batch(&docs).await.unwrap();
    let all = read_all(&store, "node").await;
    assert_eq!(all.len(), 60);

    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let q = ReadQuery {
            after,
            limit: Some(7),
            ..ReadQuery::all(match_of("node"))
        };
        let page = read(&store, q).await;
        assert!(page.len() <= 7);
        let Some(last) = page.last() else { break };
        after = Some(*last);
        paged.extend(page);
    }
    assert_eq!(paged, all);

    let limit_zero = ReadQuery {
        limit: Some(0),
        ..ReadQuery::all(match_of("node"))
    };
    assert!(read(&store, limit_zero).await.is_empty());
}

#[tokio::test]
async fn since_and_until_are_inclusive_and_combine_with_after() {
    let (_dir, store) = open();
    let docs: Vec<_> = (0..10)
        .flat_map(|i| {
            let ts = T0 + i64::from(i) * 100;
            [
                doc("node", i * 2, ts, ts + 1),
                doc("node", i * 2 + 1, ts, ts + 2),
            ]
        })
        .collect();
    store.write_batch(&docs).await.unwrap();
    let window = |since: Option<i64>, until: Option<i64>, after: Option<Cursor>| ReadQuery {
        since_ms: since,
        until_ms: until,
        after,
        ..ReadQuery::all(match_of("node"))
    };
    let ts = |events: Vec<Cursor>| events.iter().map(|c| c.timestamp_ms).collect::<Vec<_>>();

    let got = read(&store, window(Some(T0 + 200), Some(T0 + 400), None)).await;
    assert_eq!(
        ts(got.clone()),
        [200, 200, 300, 300, 400, 400].map(|d| T0 + d)
    );
    // Bounds between timestamps.
    let got = ts(read(&store, window(Some(T0 + 201), Some(T0 + 399), None)).await);
    assert_eq!(got, [T0 + 300, T0 + 300]);
    // Open-ended either side.
    assert_eq!(
        read(&store, window(Some(T0 + 900), None, None)).await.len(),
        2
    );
    assert_eq!(read(&store, window(None, Some(T0), None)).await.len(), 2);
    assert_eq!(
        read(&store, window(Some(i64::MIN), Some(i64::MAX), None))
            .await
            .len(),
        20
    );
    // Empty windows.
    assert!(
        read(&store, window(Some(T0 + 500), Some(T0 + 400), None))
            .await
            .is_empty()
    );
    assert!(
        read(&store, window(Some(T0 + 1), Some(T0 + 99), None))
            .await
            .is_empty()
    );

    // `after` inside the window wins over `since`; `after` before it loses.
    let all = read_all(&store, "node").await;
    let got = read(&store, window(Some(T0 + 200), Some(T0 + 400), Some(all[4]))).await;
    assert_eq!(got, all[5..10]);
    let got = read(&store, window(Some(T0 + 200), Some(T0 + 400), Some(all[1]))).await;
    assert_eq!(got, all[4..10]);
    // `after` beyond `until`.
    assert!(
        read(&store, window(None, Some(T0 + 400), Some(all[12])))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn matches_sharing_a_prefix_stay_apart() {
    let (_dir, store) = open();
    let docs = [
        doc("node", 1, T0, T0),
        doc("node.x", 1, T0, T0),
        doc("node.x", 2, T0 + 1, T0),
        doc("nod", 1, T0, T0),
        doc("node", 2, i64::from(i32::MAX) * 1000, T0),
    ];
    store.write_batch(&docs).await.unwrap();
    assert_eq!(
        read_all(&store, "node").await,
        vec![position(&docs[0]), position(&docs[4])]
    );
    assert_eq!(
        read_all(&store, "node.x").await,
        vec![position(&docs[1]), position(&docs[2])]
    );
    assert_eq!(read_all(&store, "nod").await, vec![position(&docs[3])]);
    assert!(read_all(&store, "node.").await.is_empty());
    assert!(read_all(&store, "no").await.is_empty());
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<_> = (0..5)
        .map(|i| doc("node", i, T0 + i64::from(i), T0))
        .collect();
    {
        let store = EmbeddedStore::open(dir.path()).unwrap();
        store.write_batch(&docs).await.unwrap();
        store.close().await;
        assert!(store.write_batch(&docs).await.is_err());
    }
    let store = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(
        read_all(&store, "node").await,
        docs.iter().map(position).collect::<Vec<_>>()
    );
    // The `_id` index survived too.
    assert_eq!(
        store.write_batch(&docs[..1]).await.unwrap(),
        vec![WriteOutcome::Duplicate]
    );
}

#[tokio::test]
async fn a_batch_of_1000_reads_back_whole_and_in_order() {
    let (_dir, store) = open();
    // Arrival order is the reverse of frame order; several pages of the streaming read.
    let docs: Vec<_> = (0..1000)
        .map(|i| doc("node", i, T0 + 1000 - i64::from(i), T0 + i64::from(i)))
        .collect();
    let outcomes = store.write_batch(&docs).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == WriteOutcome::Stored));
    let mut expected: Vec<Cursor> = docs.iter().map(position).collect();
    expected.sort();
    let got = read_all(&store, "node").await;
    assert_eq!(got.len(), 1000);
    assert_eq!(got, expected);
    // A limit that ends inside the second page.
    let q = ReadQuery {
        limit: Some(300),
        ..ReadQuery::all(match_of("node"))
    };
    assert_eq!(read(&store, q).await, expected[..300]);
    // The documents come back as written.
    let events: Vec<StoredEvent> = store
        .read(ReadQuery::all(match_of("node")))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let first = docs.iter().find(|d| position(d) == expected[0]).unwrap();
    assert_eq!(events[0].0.as_bytes(), first.bson.as_bytes());
    assert_eq!(events[0].frame().unwrap().frame_index, 999);
}

/// Set in the child process of [`acknowledged_writes_survive_kill_9`].
const CRASH_DIR: &str = "SESSION_EVENTS_EMBEDDED_CRASH_DIR";

/// Not a test on its own: the writer that [`acknowledged_writes_survive_kill_9`] runs in a child
/// process and kills. Writes batches forever, printing how many documents are acknowledged.
#[tokio::test]
async fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_DIR) else {
        return;
    };
    let store = EmbeddedStore::open(Path::new(&dir)).unwrap();
    for batch in 0u32.. {
        let docs: Vec<_> = (0..20)
            .map(|i| doc("node", batch * 20 + i, T0 + i64::from(batch), T0))
            .collect();
        store.write_batch(&docs).await.unwrap();
        println!("ACKED {}", (batch + 1) * 20);
    }
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::embedded::tests::crash_child",
            "--nocapture",
        ])
        .env(CRASH_DIR, dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut acked = 0u32;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(n) = line.unwrap().strip_prefix("ACKED ") {
            acked = n.parse().unwrap();
            if acked >= 200 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-write
    child.wait().unwrap();
    assert!(acked >= 200, "the child stopped early");

    let store = EmbeddedStore::open(dir.path()).unwrap();
    let got = read_all(&store, "node").await;
    assert!(got.len() >= acked as usize, "{} < {acked}", got.len());
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    for i in 0..acked {
        let d = doc("node", i, T0 + i64::from(i / 20), T0);
        assert_eq!(
            store.write_batch(&[d]).await.unwrap(),
            vec![WriteOutcome::Duplicate],
            "document {i} was acknowledged but is gone"
        );
    }
}

#[tokio::test]
async fn reopens_after_an_io_error() {
    let (_dir, store) = open();
    let a = doc("node", 1, T0, T0);
    store.write_batch(std::slice::from_ref(&a)).await.unwrap();
    // As after a failed fsync: redb refuses everything until the file is reopened.
    let db = store.inner.db().unwrap();
    assert!(
        store
            .inner
            .failed(&db, redb::Error::PreviousIo)
            .is_transient()
    );
    // Still held (a read in progress): the file cannot be reopened yet, and health says so.
    let err = store.ping().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    drop(db);
    store.ping().await.unwrap();
    assert_eq!(
        store.write_batch(&[a]).await.unwrap(),
        vec![WriteOutcome::Duplicate]
    );
    // Errors that a reopen cannot fix leave the database in service.
    let db = store.inner.db().unwrap();
    assert!(
        !store
            .inner
            .failed(&db, redb::Error::Corrupted("x".into()))
            .is_transient()
    );
    assert!(Arc::ptr_eq(&db, &store.inner.db().unwrap()));
}
