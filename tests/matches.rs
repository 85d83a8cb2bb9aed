//! `GET /matches` and `GET /matches/{id}` on both stores: order, counts, timestamps, filters and
//! paging, from summaries the writers keep (posts out of order and with duplicates).

mod common;

use std::collections::HashSet;

use common::{Backend, TestApp, new_match, spawn_app};
use futures::future::join_all;
use serde_json::Value;
use session_events::frame::{self, Encoding, EventDocument};
use session_events::ids::NodeId;
use session_events::synth::{self, DEFAULT_START_UNIX_MS, FRAME_INTERVAL_MS};

backend_tests!(
    list_order_counts_and_timestamps,
    filters_and_paging_have_no_gaps_or_repeats,
    one_match_and_its_errors,
    the_client_pages_the_list,
    concurrent_batches_touching_many_matches_are_all_summarised,
);

async fn the_client_pages_the_list(backend: Backend) {
    use session_events::client::{Client, MatchListRequest};
    let app = spawn_app(backend).await;
    let mut posted = Vec::new();
    for seed in 0..5u64 {
        posted.push(
            post_match(
                &app,
                300 + seed,
                if seed % 2 == 0 { "a" } else { "b" },
                &[1, 0],
            )
            .await,
        );
    }
    posted.reverse();
    let client = Client::new(&app.base).unwrap();
    let mut req = MatchListRequest {
        limit: Some(2),
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = client.matches(&req).await.unwrap();
        seen.extend(page.matches.iter().map(|m| m.match_id.clone()));
        match page.next {
            Some(next) => req.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, posted);
    let only_a = client
        .matches(&MatchListRequest {
            node: Some("a".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(only_a.matches.len(), 3);
    let one = client.match_summary(&posted[0]).await.unwrap().unwrap();
    assert_eq!((one.frames, one.node_id.as_str()), (2, "a"));
    assert!(one.first_timestamp < one.last_timestamp);
    let none = client
        .match_summary("11111111-2222-4333-8444-555555555555.a")
        .await
        .unwrap();
    assert_eq!(none, None);
}

/// Four batches at once (as four writers write them), each touching 64 matches no other batch
/// touches, twice: every match is listed, each frame counted once. FerretDB 1.24 (SQLite)
/// keeps a pool connection for each statement of an `update` that matched a document until
/// the command ends; one summary command per batch (the second round's 256 statements each
/// updating an existing match, against a pool of 100) made it stop answering for good, so this
/// test hung at its bound below (`store/mongo/matches.rs`, `STATEMENTS_PER_COMMAND`).
async fn concurrent_batches_touching_many_matches_are_all_summarised(backend: Backend) {
    const BATCHES: u64 = 4;
    const MATCHES_PER_BATCH: u64 = 64;
    let app = spawn_app(backend).await;
    let node = NodeId::parse("many").unwrap();
    let mut matches: Vec<_> = (0..BATCHES * MATCHES_PER_BATCH)
        .map(|k| new_match(1000 + k))
        .collect();
    // A hang detector, not a speed bound: each round takes seconds even on a loaded machine.
    let bound = std::time::Duration::from_secs(600);
    let mut expected = HashSet::new();
    // Round 0 creates the summaries (upserts that insert), round 1 updates them.
    for round in 0..2u32 {
        let docs: Vec<EventDocument> = matches
            .iter_mut()
            .map(|m| {
                let body = synth::to_protobuf(&m.frame(round));
                let now = std::time::SystemTime::now();
                frame::decode_document(&body, Encoding::Protobuf, &node, None, now)
                    .unwrap()
                    .doc
            })
            .collect();
        expected.extend(docs.iter().map(|d| d.match_id.to_string()));
        let writes = join_all(
            docs.chunks(MATCHES_PER_BATCH as usize)
                .map(|batch| app.raw_store.write_batch(batch)),
        );
        let outcomes = tokio::time::timeout(bound, writes)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "round {round}: {BATCHES} concurrent batches were not written within {bound:?}"
                )
            });
        for o in outcomes {
            assert_eq!(o.unwrap().len() as u64, MATCHES_PER_BATCH);
        }
    }
    assert_eq!(expected.len() as u64, BATCHES * MATCHES_PER_BATCH);
    let page = tokio::time::timeout(bound, list(&app, "?node=many&limit=1000"))
        .await
        .unwrap_or_else(|_| panic!("the match list did not answer within {bound:?}"));
    let listed: HashSet<String> = ids(&page).into_iter().collect();
    println!(
        "listed {} of {} matches, written twice in {BATCHES} concurrent batches",
        listed.len(),
        expected.len()
    );
    assert_eq!(listed, expected);
    for m in page["matches"].as_array().unwrap() {
        assert_eq!(m["frames"], 2, "{m}");
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn list(app: &TestApp, query: &str) -> Value {
    let (status, body) = app.get(&format!("/matches{query}")).await;
    assert_eq!(status, 200, "GET /matches{query}: {body}");
    body
}

fn ids(page: &Value) -> Vec<String> {
    page["matches"]
        .as_array()
        .expect("matches array")
        .iter()
        .map(|m| m["match_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Posts `indexes` of a new match to `node`, each frame twice (the second a duplicate), the
/// frames in the given (shuffled) order; returns the match id.
async fn post_match(app: &TestApp, seed: u64, node: &str, indexes: &[u32]) -> String {
    let mut m = new_match(seed);
    let mut id = String::new();
    for &i in indexes {
        let frame = m.frame(i);
        // The duplicate races the original: both in flight at once.
        let (a, b) = tokio::join!(app.store(&frame, node), app.store(&frame, node));
        assert_eq!(a, b);
        id = a;
    }
    id
}

async fn list_order_counts_and_timestamps(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = post_match(&app, 1, "n1", &[3, 0, 4, 1, 2]).await;
    let b = post_match(&app, 2, "n2", &[7, 5]).await;
    let c = post_match(&app, 3, "n1", &[9]).await;
    // One more frame for `a`, out of order, makes it the most recently active again.
    post_match_frame(&app, 1, "n1", &a, 10).await;

    let page = list(&app, "").await;
    println!("{page:#}");
    assert_eq!(ids(&page), vec![a.clone(), c.clone(), b.clone()]);
    assert!(page.get("next").is_none(), "one page holds all three");

    let ts = |i: i64| rfc3339(DEFAULT_START_UNIX_MS + i * FRAME_INTERVAL_MS);
    let by_id = |id: &str| {
        page["matches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["match_id"] == id)
            .unwrap()
            .clone()
    };
    for (id, node, frames, first, last) in [
        (&a, "n1", 6, 0, 10),
        (&b, "n2", 2, 5, 7),
        (&c, "n1", 1, 9, 9),
    ] {
        let m = by_id(id);
        assert_eq!(m["node_id"], node, "{m}");
        assert_eq!(m["frames"], frames, "duplicates must not count: {m}");
        assert_eq!(m["first_timestamp"], ts(first), "{m}");
        assert_eq!(m["last_timestamp"], ts(last), "{m}");
        // The stored events agree with the summary.
        assert_eq!(app.events(id).await.len() as u64, frames);
    }
    // Activity: strictly ordered as posted (each post finished before the next began).
    let rcv = |id: &str| by_id(id)["last_received_at"].as_str().unwrap().to_owned();
    assert!(rcv(&a) > rcv(&c) && rcv(&c) > rcv(&b), "{page}");
}

async fn post_match_frame(app: &TestApp, seed: u64, node: &str, want: &str, index: u32) {
    let mut m = new_match(seed);
    // Same seed, new random session: rebuild the frame with the wanted session id.
    let mut frame = m.frame(index);
    let session = want.split('.').next().unwrap().to_uppercase();
    frame.session.as_mut().unwrap().session_id = session;
    assert_eq!(app.store(&frame, node).await, want);
}

async fn filters_and_paging_have_no_gaps_or_repeats(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut expected = Vec::new();
    for seed in 0..7u64 {
        let node = if seed % 3 == 0 { "n-a" } else { "n-b" };
        expected.push(post_match(&app, 100 + seed, node, &[seed as u32 % 3, 0]).await);
    }
    expected.reverse(); // most recently active first
    // Several posts at once, so some matches may share a `last_received_at` millisecond and
    // only the `match_id` tiebreak orders them.
    let bodies: Vec<_> = (0..5u64)
        .map(|s| {
            let mut m = new_match(200 + s);
            synth::to_json(&m.frame(0))
        })
        .collect();
    let posted = join_all(bodies.into_iter().map(|b| app.post_json(b, Some("n-c")))).await;
    for r in posted {
        assert_eq!(r.status(), 200);
    }

    let all = list(&app, "?limit=1000").await;
    let all_ids = ids(&all);
    assert_eq!(all_ids.len(), 12);
    assert_eq!(&all_ids[5..], &expected[..], "{all:#}");
    let key = |m: &Value| {
        (
            std::cmp::Reverse(m["last_received_at"].as_str().unwrap().to_owned()),
            m["match_id"].as_str().unwrap().to_owned(),
        )
    };
    let entries = all["matches"].as_array().unwrap();
    for w in entries.windows(2) {
        assert!(
            key(&w[0]) < key(&w[1]),
            "list order: {} then {}",
            w[0],
            w[1]
        );
    }

    // Paging by 1, 2 and 5: the concatenation is exactly the full list.
    for limit in [1, 2, 5] {
        let mut seen = Vec::new();
        let mut query = format!("?limit={limit}");
        let mut pages = 0;
        loop {
            let page = list(&app, &query).await;
            pages += 1;
            let got = ids(&page);
            assert!(got.len() <= limit);
            seen.extend(got);
            match page.get("next").and_then(Value::as_str) {
                Some(next) => query = format!("?limit={limit}&after={next}"),
                None => break,
            }
        }
        println!("limit {limit}: {pages} pages, {} matches", seen.len());
        assert_eq!(seen, all_ids, "paging by {limit}");
    }

    // Node filter, with paging.
    let node_a: Vec<_> = entries
        .iter()
        .filter(|m| m["node_id"] == "n-a")
        .map(|m| m["match_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(node_a.len(), 3);
    let first = list(&app, "?node=n-a&limit=2").await;
    let next = first["next"].as_str().expect("a second page").to_owned();
    let second = list(&app, &format!("?node=n-a&limit=2&after={next}")).await;
    assert_eq!([ids(&first), ids(&second)].concat(), node_a);
    assert!(second.get("next").is_none());
    assert_eq!(ids(&list(&app, "?node=nobody").await), Vec::<String>::new());
    // A node that is a prefix of another is its own node.
    assert_eq!(ids(&list(&app, "?node=n-").await), Vec::<String>::new());

    // Activity window: exactly the entries whose last_received_at is inside, in order.
    let times: Vec<&str> = entries
        .iter()
        .map(|m| m["last_received_at"].as_str().unwrap())
        .collect();
    let (since, until) = (times[8], times[3]);
    let window = list(&app, &format!("?since={since}&until={until}&limit=1000")).await;
    let want: Vec<String> = entries
        .iter()
        .filter(|m| {
            let t = m["last_received_at"].as_str().unwrap();
            t >= since && t <= until
        })
        .map(|m| m["match_id"].as_str().unwrap().to_owned())
        .collect();
    println!("since {since} until {until}: {} matches", want.len());
    assert!(want.len() >= 6);
    assert_eq!(ids(&window), want);
    let with_node = list(&app, &format!("?node=n-b&since={since}&until={until}")).await;
    let want_b: Vec<String> = want
        .iter()
        .filter(|id| id.ends_with(".n-b"))
        .cloned()
        .collect();
    assert_eq!(ids(&with_node), want_b);

    // A match that becomes active while a client pages moves to the top: never repeated.
    let page1 = list(&app, "?limit=3").await;
    let last_match = all_ids.last().unwrap().clone();
    post_match_frame(&app, 999, "n-a", &last_match, 50).await;
    let mut rest = Vec::new();
    let mut next = page1["next"].as_str().map(str::to_owned);
    while let Some(after) = next {
        let page = list(&app, &format!("?limit=3&after={after}")).await;
        rest.extend(ids(&page));
        next = page.get("next").and_then(Value::as_str).map(str::to_owned);
    }
    let mut seen: HashSet<String> = ids(&page1).into_iter().collect();
    for id in &rest {
        assert!(seen.insert(id.clone()), "{id} repeated while paging");
    }
    assert!(!rest.contains(&last_match), "it moved above the cursor");
    assert_eq!(ids(&list(&app, "?limit=1").await), vec![last_match]);
}

async fn one_match_and_its_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let id = post_match(&app, 7, "eu.west.1", &[2, 1]).await;
    let upper = id.to_uppercase().replace(".EU.WEST.1", ".eu.west.1");
    let (status, one) = app.get(&format!("/matches/{upper}")).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["match_id"], id.as_str());
    assert_eq!(one["node_id"], "eu.west.1");
    assert_eq!(one["frames"], 2);
    let listed = list(&app, "").await;
    assert_eq!(listed["matches"][0], one, "the same object as a list entry");

    let unknown = "11111111-2222-4333-8444-555555555555.eu.west.1";
    let (status, body) = app.get(&format!("/matches/{unknown}")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["success"], false);
    for bad in [
        "/matches/not-a-match",
        "/matches/11111111-2222-4333-8444-555555555555.",
    ] {
        let (status, body) = app.get(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("match id"),
            "{body}"
        );
    }
    for bad in [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?after=garbage",
        "?since=yesterday",
        "?until=2026-13-01T00:00:00Z",
        "?node=a%20b",
        "?node=%24gt",
    ] {
        let (status, body) = app.get(&format!("/matches{bad}")).await;
        // `$gt` is a valid node id (data, never an operator): it lists nothing.
        if bad == "?node=%24gt" {
            assert_eq!(status, 200, "{body}");
            assert_eq!(ids(&body), Vec::<String>::new());
            continue;
        }
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["success"], false);
    }
    let (status, body) = app.get("/matches?limit=1000").await;
    assert_eq!(status, 200, "{body}");
}
