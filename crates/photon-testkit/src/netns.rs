//! Test support: a local network of two hosts made of Linux network namespaces joined by a
//! veth pair, for tests of what crosses a network (mDNS discovery, nodes without internet).
//! Nothing sent inside it reaches any other network. Needs root and iproute2; tests skip
//! themselves when `PHOTON_SKIP_NETNS` is set ([`skip`]).

use std::process::Command;

/// Whether tests that need network namespaces were asked to skip themselves.
pub fn skip() -> bool {
    let skip = std::env::var_os("PHOTON_SKIP_NETNS").is_some();
    if skip {
        eprintln!("PHOTON_SKIP_NETNS is set: this network namespace test is skipped");
    }
    skip
}

/// Two network namespaces joined by a veth pair (10.77.0.1/24 and 10.77.0.2/24, multicast
/// routed over the link); removed when dropped.
#[derive(Debug)]
pub struct Lan {
    /// The namespaces' names.
    pub namespaces: [String; 2],
    /// The veth pair's interface names.
    veth: [String; 2],
}

fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip").args(args).output().map_err(|e| {
        format!("`ip` (iproute2) is needed ({e}); set PHOTON_SKIP_NETNS=1 to skip this test")
    })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {} (network namespaces need root; set PHOTON_SKIP_NETNS=1 to skip this test)",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Lan {
    /// Creates the namespaces and the link; `tag` (its first four letters or digits count)
    /// tells apart the LANs of tests running at once in one process.
    pub fn create(tag: &str) -> Result<Self, String> {
        let pid = std::process::id();
        // interface names: at most 15 bytes
        let short: String = tag.chars().filter(char::is_ascii_alphanumeric).take(4).collect();
        let lan = Self {
            namespaces: [1, 2].map(|i| format!("photon-{tag}-{pid}-{i}")),
            veth: ["a", "b"].map(|side| format!("p{short}{pid}{side}")),
        };
        let veth = lan.veth.clone();
        for ns in &lan.namespaces {
            ip(&["netns", "add", ns])?;
        }
        ip(&["link", "add", &veth[0], "type", "veth", "peer", "name", &veth[1]])?;
        for (i, (ns, dev)) in lan.namespaces.iter().zip(&veth).enumerate() {
            let addr = format!("10.77.0.{}/24", i + 1);
            ip(&["link", "set", dev, "netns", ns])?;
            ip(&["-n", ns, "addr", "add", &addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            // multicast DNS goes to 224.0.0.251 over the link
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev])?;
        }
        Ok(lan)
    }

    /// A command that runs `program` inside host `host` (0 or 1).
    pub fn command(&self, host: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.namespaces[host]]).arg(program);
        command
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        // a pair not yet moved into the namespaces (creation failed half-way) is here
        let _ = Command::new("ip")
            .args(["link", "del", &self.veth[0]])
            .stderr(std::process::Stdio::null())
            .status();
    }
}
