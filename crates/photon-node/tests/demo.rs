//! `make demo` runs `photon demo`; this keeps it working.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_walks_the_whitepaper_and_every_number_matches() {
    let mut out = Vec::new();
    photon_testkit::demo::run(&mut out, std::path::Path::new(env!("CARGO_BIN_EXE_photon")))
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Alice–Bob: Alice   50 | Bob   50"), "{text}");
    assert!(text.contains("Bob–Charlie: Bob   60 | Charlie   20"), "{text}");
    assert!(text.contains("Alice received 50 and Bob 50"), "{text}");
    assert!(text.contains("Every number matches the whitepaper."), "{text}");
}
