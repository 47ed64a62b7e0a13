//! The generated bindings: Kotlin, Swift and Python as committed under `bindings/` are what
//! UniFFI generates from the library now; and the Python ones, loaded by CPython, run two
//! embedded nodes against a `photon run` process on a dev chain.

use anyhow::{bail, ensure, Context, Result};
use photon_testkit::World;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder cargo builds into (`target/debug`): this test runs from its `deps/`.
fn build_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let deps = exe.parent().context("the test's folder")?;
    Ok(deps.parent().context("the build folder")?.to_path_buf())
}

/// An executable or library of the workspace, as the sources are now: the first call of a
/// test process runs `cargo build` for the library, the generator and `photon` (a test run
/// builds the library for linking, not its `cdylib`, which could be left stale).
fn built(name: &str) -> Result<PathBuf> {
    static BUILT: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    let done = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-q", "-p", "photon-mobile", "-p", "photon-bindgen"])
            .args(["-p", "photon-node", "--bin", "photon", "--bin", "uniffi-bindgen", "--lib"])
            .status()
            .map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("cargo build failed: {status}"))
        }
    });
    if let Err(e) = done {
        bail!("{e}");
    }
    let path = build_dir()?.join(name);
    ensure!(path.exists(), "{} not built", path.display());
    Ok(path)
}

fn library() -> Result<PathBuf> {
    built(&format!("libphoton_mobile.{}", if cfg!(target_os = "macos") { "dylib" } else { "so" }))
}

/// Generates `language`'s bindings into `out`.
fn generate(language: &str, out: &Path) -> Result<()> {
    let bindgen = built("uniffi-bindgen")?;
    let library = library()?;
    let output = Command::new(bindgen)
        .args(["generate", "--library"])
        .arg(&library)
        .args(["--language", language, "--out-dir"])
        .arg(out)
        .output()?;
    if !output.status.success() {
        bail!("uniffi-bindgen {language}: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}

/// Every file under `dir`, as (path relative to it, contents).
fn files(dir: &Path) -> Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir)?.to_path_buf();
                out.push((relative, std::fs::read(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[test]
fn the_committed_bindings_are_what_uniffi_generates() -> Result<()> {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("bindings");
    for language in ["kotlin", "swift", "python"] {
        let fresh = tempfile::tempdir()?;
        generate(language, fresh.path())?;
        let (now, then) = (files(fresh.path())?, files(&committed.join(language))?);
        let names = |f: &[(PathBuf, Vec<u8>)]| f.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
        assert_eq!(names(&now), names(&then), "{language}: the files differ; run `make bindings`");
        for ((path, a), (_, b)) in now.iter().zip(&then) {
            assert!(
                a == b,
                "{language}: {} is out of date; run `make bindings` and commit",
                path.display()
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_nodes_pay_through_the_python_bindings() -> Result<()> {
    let bindings = tempfile::tempdir()?;
    generate("python", bindings.path())?;
    let library = library()?;
    std::fs::copy(&library, bindings.path().join(library.file_name().context("name")?))?;
    let photon = built("photon")?;
    let world = World::build(&photon, &["carol"]).funds(1_000_000).start().await?;
    let carol = &world.nodes[0];
    let (alice_key, bob_key) = (world.net.accounts[5].clone(), world.net.accounts[6].clone());
    for who in [&alice_key, &bob_key] {
        world.net.mint(photon_primitives::Signer::address(who), 1_000_000).await?;
    }
    let password = "correct horse battery staple";
    let keystore = photon_node::keystore::encrypt(
        &alice_key.to_bytes(),
        password,
        photon_node::keystore::ScryptCost::LIGHT,
        &mut rand::thread_rng(),
    )?;
    let deployment = serde_json::to_string(&world.net.deployment)?;
    let bootstrap: Vec<String> = carol.p2p_addresses().await?;
    let config = serde_json::json!({
        "rpc": world.net.chain.endpoint().to_string(),
        "chain_id": world.net.deployment.chain_id,
        "deployment": deployment,
        "token": format!("{:#x}", world.token),
        "carol": format!("{:#x}", carol.address),
        "carol_api": carol.url,
        "bootstrap": bootstrap,
        "alice": format!("{:#x}", photon_primitives::Signer::address(&alice_key)),
        "alice_keystore": keystore,
        "alice_password": password,
        "alice_dir": world.dir.join("alice").display().to_string(),
        "bob": format!("{:#x}", photon_primitives::Signer::address(&bob_key)),
        "bob_key": alloy::hex::encode(bob_key.to_bytes()),
        "bob_dir": world.dir.join("bob").display().to_string(),
    });
    let config_file = world.dir.join("python-test.json");
    std::fs::write(&config_file, serde_json::to_vec_pretty(&config)?)?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/test_embedded.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .env("PHOTON_BINDINGS", bindings.path())
        .env("PHOTON_TEST_CONFIG", &config_file)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .output()
        .await
        .context("running python3")?;
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the Python test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("ok: embedded nodes"), "{stdout}\n{stderr}");
    Ok(())
}
