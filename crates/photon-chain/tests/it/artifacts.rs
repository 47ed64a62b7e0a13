use crate::helpers::net;
use std::path::Path;
use std::process::Command;

/// The committed artifacts are exactly what the pinned compiler makes of the sources.
#[test]
fn committed_artifacts_match_a_fresh_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("node")
        .args(["scripts/compile-contracts.mjs", "--check"])
        .current_dir(&root)
        .output()
        .expect("node runs (make test installs the pinned toolchain)");
    assert!(
        out.status.success(),
        "artifacts drifted from contracts/src:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Rust EIP-712 domain is the contract's, byte for byte.
#[tokio::test]
async fn domain_separator_matches_the_contract() {
    let net = net().await;
    let on_chain = net.network.domainSeparator().call().await.unwrap();
    assert_eq!(on_chain, net.domain.separator());
}

/// The Rust channel id is the contract's.
#[tokio::test]
async fn channel_id_matches_the_contract() {
    let net = net().await;
    let (a, b) = (net.address(1), net.address(2));
    let on_chain = net.network.channelIdentifier(*net.token.address(), b, a).call().await.unwrap();
    assert_eq!(on_chain, net.channel_id(a, b).0);
}
