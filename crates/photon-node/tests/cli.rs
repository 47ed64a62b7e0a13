//! The `photon` binary: accounts, deploy, run, the API clients, and a clean stop on SIGTERM.

use photon_testkit::devchain::DevChain;
use std::process::{Command, Stdio};
use std::time::Duration;

const PHOTON: &str = env!("CARGO_BIN_EXE_photon");

fn photon(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(PHOTON)
        .args(args)
        .env_remove("PHOTON_PASSWORD")
        .output()
        .expect("photon runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn accounts_are_geth_keystores() {
    let dir = tempfile::tempdir().unwrap();
    let ks = dir.path().join("ks");
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "correct horse\n").unwrap();
    let (ks, pass) = (ks.to_str().unwrap(), pass.to_str().unwrap());
    let (ok, out, err) = photon(&["account", "new", "--keystore", ks, "--password-file", pass]);
    assert!(ok, "{err}");
    let created = out.split_whitespace().next().unwrap().to_string();
    let key = dir.path().join("key");
    std::fs::write(&key, "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\n")
        .unwrap();
    let import = || {
        photon(&[
            "account",
            "import",
            "--keystore",
            ks,
            "--password-file",
            pass,
            "--private-key-file",
            key.to_str().unwrap(),
        ])
    };
    let (ok, _, err) = import();
    assert!(ok, "{err}");
    let (ok, out, _) = photon(&["account", "list", "--keystore", ks]);
    assert!(ok);
    assert!(out.contains(&created));
    assert!(out.contains("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
    // the keystore file is the standard JSON v3 format, readable by its owner only
    for entry in std::fs::read_dir(ks).unwrap() {
        let file = entry.unwrap().path();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(json["version"], 3);
        assert_eq!(json["crypto"]["kdfparams"]["n"], 262_144, "geth's standard scrypt cost");
        let mode = std::os::unix::fs::PermissionsExt::mode(&file.metadata().unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
    }
    let dir_mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(ks).unwrap().permissions());
    assert_eq!(dir_mode & 0o777, 0o700, "the keystore directory is the owner's only");
    // importing a key twice is refused; the key unlocks with its password only
    let (ok, _, err) = import();
    assert!(!ok && err.contains("already in the keystore"), "{err}");
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "incorrect horse\n").unwrap();
    let unlock = |password: &str| {
        photon(&[
            "deploy",
            "--keystore",
            ks,
            "--address",
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
            "--password-file",
            password,
            "--rpc-url",
            "http://127.0.0.1:9",
        ])
    };
    let (ok, _, err) = unlock(wrong.to_str().unwrap());
    assert!(!ok && err.contains("wrong password"), "{err}");
    let (ok, _, err) = unlock(pass);
    assert!(!ok && !err.contains("password") && !err.contains("unlock"), "unlocked: {err}");
    // a light key file for small devices
    let light = dir.path().join("light");
    let (ok, _, err) = photon(&[
        "account",
        "new",
        "--light-kdf",
        "--keystore",
        light.to_str().unwrap(),
        "--password-file",
        pass,
    ]);
    assert!(ok, "{err}");
    let file = std::fs::read_dir(&light).unwrap().next().unwrap().unwrap().path();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(json["crypto"]["kdfparams"]["n"], 4096);
    // a bad key file is refused clearly
    std::fs::write(&key, "not a key").unwrap();
    let (ok, _, err) = import();
    assert!(!ok && err.contains("32-byte hex private key"), "{err}");
}

#[test]
fn deploy_run_query_and_stop() {
    let chain = DevChain::spawn().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, alloy::hex::encode(chain.keys()[0])).unwrap();
    let deployment = dir.path().join("deployment.json");
    let rpc = chain.endpoint().to_string();
    let (ok, out, err) = photon(&[
        "deploy",
        "--private-key-file",
        key.to_str().unwrap(),
        "--rpc-url",
        &rpc,
        "--output",
        deployment.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("TokensNetwork"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let api = format!("127.0.0.1:{port}");
    let config = dir.path().join("photon.toml");
    std::fs::write(
        &config,
        format!(
            "rpc_url = \"{rpc}\"\ndeployment = \"{}\"\ndata_dir = \"{}\"\nconfirmations = 0\npoll_ms = 100\nprivate_key_file = \"{}\"\np2p_listen = [\"/ip4/127.0.0.1/tcp/0\", \"/ip4/127.0.0.1/udp/0/quic-v1\"]\n",
            deployment.display(),
            dir.path().join("data").display(),
            key.display()
        ),
    )
    .unwrap();
    // flags win over the file: the API address comes from the flag; the log goes to a file
    let log = dir.path().join("logs/photon.log");
    let mut node = Command::new(PHOTON)
        .args(["run", "--config", config.to_str().unwrap(), "--api-addr", &api])
        .args(["--log-file", log.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://{api}");
    let mut status = None;
    for _ in 0..100 {
        let (ok, out, _) = photon(&["status", "--api", &url]);
        if ok {
            status = Some(out);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = status.expect("the node answers");
    assert!(status.contains("\"chain_id\": 31337"), "{status}");
    // on a loopback API address the dashboard is served by default
    let page = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&api).unwrap();
        stream.write_all(b"GET /ui/ HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut page = String::new();
        stream.read_to_string(&mut page).unwrap();
        page
    };
    assert!(
        page.starts_with("HTTP/1.0 200") && page.contains("<title>Photon node</title>"),
        "{page}"
    );
    let (ok, out, _) = photon(&["channels", "--api", &url]);
    assert!(ok && out.contains("partner"));
    let (ok, _, err) = photon(&[
        "pay",
        "--api",
        &url,
        "0x0000000000000000000000000000000000000001",
        "0x0000000000000000000000000000000000000002",
        "5",
    ]);
    assert!(!ok && err.contains("no route"), "{err}");
    // open a channel from the command line: it waits for the chain, then the node lists it
    let (ok, out, err) = photon(&[
        "open",
        "--api",
        &url,
        "0x00000000000000000000000000000000000000aa",
        "0x00000000000000000000000000000000000000bb",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("opened: transaction 0x"), "{out}");
    let mut listed = false;
    for _ in 0..50 {
        let (_, out, _) = photon(&["channels", "--api", &url]);
        if out.to_lowercase().contains("0x00000000000000000000000000000000000000bb") {
            listed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(listed, "the new channel is listed");
    // a second node on the same data directory is refused
    let (ok, _, err) =
        photon(&["run", "--config", config.to_str().unwrap(), "--api-addr", "127.0.0.1:0"]);
    assert!(!ok && err.contains("in use by another process"), "{err}");
    Command::new("kill").args(["-TERM", &node.id().to_string()]).status().unwrap();
    let exit = node.wait().unwrap();
    assert!(exit.success(), "a clean exit on SIGTERM");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("state restored") && !logged.contains('\u{1b}'), "{logged}");
}

/// The static `photon` (`make static-check` builds it as `make dist` links it; or the binary
/// `PHOTON_STATIC_BINARY` names) needs no shared library: `ldd` finds it is not dynamic, and
/// it runs.
#[test]
fn the_static_binary_needs_no_shared_library() {
    let binary = std::env::var_os("PHOTON_STATIC_BINARY").map_or_else(
        || {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
                || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
                std::path::PathBuf::from,
            );
            target.join("x86_64-unknown-linux-gnu/static-check/photon")
        },
        std::path::PathBuf::from,
    );
    assert!(binary.exists(), "{} is missing: `make static-check` builds it", binary.display());
    let ldd = Command::new("ldd").arg(&binary).output().expect("ldd runs");
    let said =
        format!("{}{}", String::from_utf8_lossy(&ldd.stdout), String::from_utf8_lossy(&ldd.stderr));
    assert!(
        said.contains("not a dynamic executable") || said.contains("statically linked"),
        "{said}"
    );
    let version = Command::new(&binary).arg("--version").output().expect("it runs");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("photon "), "{version:?}");
}

/// `photon swap ltc` checks its keys, amounts and role before it calls anything: a bad one is
/// a clear error (no node is running here: none is needed to refuse).
#[test]
fn a_litecoin_swap_with_bad_arguments_is_refused_before_anything_is_called() {
    let token = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    let with =
        |key: &'static str, role: &'static str, amount: &'static str, extra: &[&'static str]| {
            let mut args = vec![
                "swap",
                "ltc",
                "--coins",
                "sell",
                "--role",
                role,
                "--ltc-key",
                key,
                "--their-ltc-key",
                "02c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5",
                "--refund-height",
                "500",
                "--ltc-amount",
                amount,
                "--from-height",
                "100",
                "--token",
                token,
                "--amount",
                "10",
                "--counterparty",
                token,
                "--ltc-rpc",
                "http://127.0.0.1:9",
            ];
            args.extend_from_slice(extra);
            photon(&args)
        };
    let base = |key, role, extra: &[&'static str]| with(key, role, "0.5", extra);
    let good_key = "0x1111111111111111111111111111111111111111111111111111111111111111";
    let (ok, _, err) = base("zz", "maker", &[]);
    assert!(!ok && err.contains("--ltc-key is not hex"), "{err}");
    let (ok, _, err) = base("0x00", "maker", &[]);
    assert!(!ok && err.contains("not a secp256k1 secret key"), "{err}");
    let (ok, _, err) = base(good_key, "taker", &[]);
    assert!(!ok && err.contains("--secret-hash"), "{err}");
    let hash = "0x2222222222222222222222222222222222222222222222222222222222222222";
    let (ok, _, err) = base(good_key, "maker", &["--secret-hash", hash]);
    assert!(!ok && err.contains("give no --secret-hash"), "{err}");
    let (ok, _, err) = with(good_key, "maker", "lots", &[]);
    assert!(!ok && err.contains("--ltc-amount:"), "{err}");
}
