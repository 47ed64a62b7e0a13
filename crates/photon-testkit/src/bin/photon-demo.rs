//! `make demo`: the whitepaper's Alice/Bob/Charlie example on a local dev chain, every number
//! checked. The nodes are `photon` processes: the executable next to this one (cargo builds
//! both into the same folder), or the one `PHOTON_BIN` names.

use std::path::PathBuf;

fn photon_executable() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("PHOTON_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()?;
    let beside = me.with_file_name(format!("photon{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        beside.is_file(),
        "no photon executable at {} (build it: cargo build -p photon-node --bin photon, or set \
         PHOTON_BIN)",
        beside.display()
    );
    Ok(beside)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let run = async {
        let photon = photon_executable()?;
        photon_testkit::demo::run(&mut std::io::stdout(), &photon).await
    };
    match run.await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
