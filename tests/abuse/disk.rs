//! A full disk (7), on the embedded store.

use super::*;

// 7. A full disk (embedded store): a tmpfs of a few MiB holds the data directory.

/// A tmpfs mounted on a fresh directory for the test's lifetime.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mounting a {size} tmpfs failed: the full-disk test needs root (or CAP_SYS_ADMIN)"
        );
        Self { dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_turns_readiness_503_and_posts_fail_fast() {
    let disk = Tmpfs::mount("8m");
    // Room the test frees later, to show the service recovers when the disk does.
    let filler = disk.dir.path().join("filler");
    std::fs::write(&filler, vec![1u8; 2 * MIB as usize]).unwrap();
    let data = disk.dir.path().join("data").display().to_string();
    let service = start(
        Backend::Embedded,
        &[("DATA_DIR", &data), ("SERVER_TIMEOUT", "10s")],
    )
    .await;
    let mut m = new_match(9);
    let mut stored = 0;
    let mut first_failure = None;
    for i in 0..2000 {
        let (status, body, took) = post(&service, big_frame(&mut m, i, 50_000), &[]).await;
        if status != 200 {
            first_failure = Some((status, body, took));
            break;
        }
        stored += 1;
    }
    let (status, body, took) = first_failure.expect("the disk fills up");
    println!("stored {stored} frames; first failure {status} after {took:?}: {body}");
    let ready = reqwest::get(format!("{}/readyz", service.base()))
        .await
        .unwrap();
    let ready_status = ready.status().as_u16();
    let ready_body = ready.text().await.unwrap();
    println!("/readyz: {ready_status} {ready_body}");
    assert_eq!(ready_status, 503, "{ready_body}");
    assert!(ready_body.contains("write"), "the reason: {ready_body}");
    // POSTs now fail fast with 503 + Retry-After, not at the 10 s deadline.
    let (status, body, took) = post(&service, big_frame(&mut m, 5000, 50_000), &[]).await;
    println!("POST on a full disk: {status} after {took:?}: {body}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["retry_after_header"], true);
    assert!(took < Duration::from_secs(3), "fast: {took:?}");
    let livez_took = livez(&service).await;
    // Free the disk: readiness and writes come back.
    std::fs::remove_file(&filler).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let r = reqwest::get(format!("{}/readyz", service.base()))
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < until, "readiness did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body, _) = post(&service, big_frame(&mut m, 6000, 10_000), &[]).await;
    assert_eq!(status, 200, "{body}");
    report(
        "full_disk",
        Backend::Embedded,
        &service,
        &format!("readyz={ready_status} post={status}"),
        livez_took,
    );
    drop(service);
}
