//! Posts a few synthetic frames to a running service and reads them back.
//!
//! ```text
//! cargo run --example embedded_service &          # or the binary, or a deployed service
//! BASE_URL=http://127.0.0.1:8080 cargo run --example client
//! ```

#[cfg(feature = "client")]
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use session_events::client::{Client, PageRequest};
    use session_events::synth::{self, MatchGenerator, Profile};

    const FRAMES: u32 = 25;

    let base_url = std::env::var("BASE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let client = Client::builder(&base_url)
        .node_id("example-node")
        .user_id("example-user")
        .page_size(10)
        .build()?;

    let health = client.health().await?;
    println!(
        "{base_url}: {} (store: {})",
        health.status,
        health.store.as_deref().unwrap_or("?")
    );

    // A fresh match each run, so the counts below are this run's frames only.
    let session = uuid::Uuid::from_u128(fastrand::u128(1..));
    let mut generator = MatchGenerator::new(session, fastrand::u64(..), Profile::Session);
    let mut match_id = String::new();
    for i in 0..FRAMES {
        let frame = generator.frame(i);
        // Alternate the two encodings the service accepts.
        let stored = if i % 2 == 0 {
            client.store_frame(&frame).await?
        } else {
            client.store_json(synth::to_json(&frame)).await?
        };
        match_id = stored.match_id;
    }
    println!("posted {FRAMES} frames to {match_id}");

    let first = client
        .events_page(
            &match_id,
            &PageRequest {
                limit: Some(10),
                ..PageRequest::default()
            },
        )
        .await?;
    println!(
        "first page: {} events, more: {}",
        first.count,
        first.next.is_some()
    );

    let events = client.events(&match_id).await?;
    let indexes: Vec<u32> = events.iter().map(|e| e.data.frame_index).collect();
    println!(
        "read back {} events (frame_index {:?}..={:?}), user {:?}",
        events.len(),
        indexes.first(),
        indexes.last(),
        events.first().and_then(|e| e.user_id.as_deref())
    );
    if events.len() != FRAMES as usize {
        return Err(format!("expected {FRAMES} events, read {}", events.len()).into());
    }
    Ok(())
}

#[cfg(not(feature = "client"))]
fn main() {
    eprintln!("this example needs the `client` feature (on by default)");
}
