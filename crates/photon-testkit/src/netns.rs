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

/// How a home router maps its hosts' connections to its public address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatKind {
    /// Endpoint-independent mapping (nftables `masquerade`, keeping the port): a host's
    /// port looks the same to every destination, so hole punching works. Unsolicited packets
    /// are dropped (a port-restricted cone).
    Cone,
    /// A new random port for every destination (`masquerade fully-random`): what the other
    /// side learns of a port is no use to anyone else, so hole punching fails.
    Symmetric,
}

/// A host of an [`Internet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// A publicly reachable host: `11.0.0.(10 + i)`.
    Public(usize),
    /// A host at home: `192.168.(i + 1).2` behind router `i` (`11.0.0.(i + 1)` outside).
    Home(usize),
}

/// A simulated internet made of network namespaces: a bridge "internet" (11.0.0.0/24), public
/// hosts on it, and homes, each a host on a LAN behind its own NAT router:
///
/// ```text
///  home 0: 192.168.1.2 ─ router 0 (NAT) 11.0.0.1 ─┐
///  home 1: 192.168.2.2 ─ router 1 (NAT) 11.0.0.2 ─┼─ internet bridge ─┬─ public 0: 11.0.0.10
///                                                  …                  └─ public 1: 11.0.0.11
/// ```
///
/// Routers drop whatever comes from outside that is not an answer (conntrack), as home
/// routers do. Everything is removed when dropped. Needs root, iproute2 and nftables.
#[derive(Debug)]
pub struct Internet {
    prefix: String,
    publics: usize,
    homes: usize,
}

fn nft(ns: &str, rules: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("nft: no stdin")?
        .write_all(rules.as_bytes())
        .map_err(|e| format!("nft: {e}"))?;
    let output = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "nft in {ns}: {} (is the nftables package installed? `make test` installs it)",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl Internet {
    /// Builds an internet with `publics` public hosts and a home behind a router of each
    /// kind in `homes`; `tag` tells apart tests running at once.
    pub fn create(tag: &str, publics: usize, homes: &[NatKind]) -> Result<Self, String> {
        let internet = Self {
            prefix: format!("ph-{tag}-{}", std::process::id()),
            publics,
            homes: homes.len(),
        };
        let bridge = internet.ns("inet");
        ip(&["netns", "add", &bridge])?;
        ip(&["-n", &bridge, "link", "set", "lo", "up"])?;
        ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &bridge, "link", "set", "br0", "up"])?;
        // a namespace's "wan" side on the bridge at `addr`
        let wan = |ns: &str, port: &str, addr: &str| -> Result<(), String> {
            ip(&[
                "link", "add", "wan", "netns", ns, "type", "veth", "peer", "name", port, "netns",
                &bridge,
            ])?;
            ip(&["-n", &bridge, "link", "set", port, "master", "br0", "up"])?;
            ip(&["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", "wan"])?;
            ip(&["-n", ns, "link", "set", "wan", "up"])
        };
        for i in 0..publics {
            let ns = internet.host_ns(Host::Public(i));
            ip(&["netns", "add", &ns])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            wan(&ns, &format!("pub{i}"), &internet.ip(Host::Public(i)))?;
        }
        for (i, kind) in homes.iter().enumerate() {
            let (router, host) = (internet.ns(&format!("r{i}")), internet.host_ns(Host::Home(i)));
            for ns in [&router, &host] {
                ip(&["netns", "add", ns])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
            }
            wan(&router, &format!("home{i}"), &format!("11.0.0.{}", i + 1))?;
            ip(&[
                "link", "add", "lan", "netns", &router, "type", "veth", "peer", "name", "eth0",
                "netns", &host,
            ])?;
            let lan = format!("192.168.{}", i + 1);
            ip(&["-n", &router, "addr", "add", &format!("{lan}.1/24"), "dev", "lan"])?;
            ip(&["-n", &router, "link", "set", "lan", "up"])?;
            ip(&["-n", &host, "addr", "add", &format!("{lan}.2/24"), "dev", "eth0"])?;
            ip(&["-n", &host, "link", "set", "eth0", "up"])?;
            ip(&["-n", &host, "route", "add", "default", "via", &format!("{lan}.1")])?;
            let forward = Command::new("ip")
                .args(["netns", "exec", &router, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
                .status()
                .map_err(|e| format!("sysctl: {e}"))?;
            if !forward.success() {
                return Err(format!("sysctl ip_forward in {router} failed"));
            }
            let masquerade = match kind {
                NatKind::Cone => "masquerade",
                NatKind::Symmetric => "masquerade fully-random",
            };
            nft(
                &router,
                &format!(
                    "table ip nat {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    oifname \"wan\" {masquerade}
  }}
}}
table ip filter {{
  chain input {{
    type filter hook input priority filter; policy drop;
    ct state established,related accept
    iifname {{ \"lo\", \"lan\" }} accept
  }}
  chain forward {{
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname \"lan\" oifname \"wan\" accept
  }}
}}
"
                ),
            )?;
        }
        Ok(internet)
    }

    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// The namespace of a host.
    pub fn host_ns(&self, host: Host) -> String {
        match host {
            Host::Public(i) => self.ns(&format!("p{i}")),
            Host::Home(i) => self.ns(&format!("h{i}")),
        }
    }

    /// A host's own IPv4 address (a home host's is private: outside, it is its router's).
    pub fn ip(&self, host: Host) -> String {
        match host {
            Host::Public(i) => format!("11.0.0.{}", 10 + i),
            Host::Home(i) => format!("192.168.{}.2", i + 1),
        }
    }

    /// A command that runs `program` on `host`.
    pub fn command(&self, host: Host, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.host_ns(host)]).arg(program);
        command
    }

    /// Runs `task` on a thread of its own inside `host`'s namespace, on a single-threaded
    /// tokio runtime: every socket it opens (and every thread it starts) is on that host.
    /// The thread ends when `task` does.
    pub fn spawn<F, Fut>(&self, host: Host, task: F) -> std::thread::JoinHandle<Result<(), String>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()>,
    {
        let path = format!("/var/run/netns/{}", self.host_ns(host));
        std::thread::spawn(move || {
            enter(&path)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("runtime: {e}"))?;
            runtime.block_on(task());
            Ok(())
        })
    }
}

impl Internet {
    /// Makes `target` (a service of this machine, e.g. the dev chain on 127.0.0.1) reachable
    /// inside `host` at `host`'s address and `port`: a listener opened in the namespace whose
    /// connections are forwarded, from this machine's network, to `target`. Runs on the
    /// current tokio runtime until it stops.
    pub async fn expose(
        &self, host: Host, port: u16, target: std::net::SocketAddr,
    ) -> Result<(), String> {
        let path = format!("/var/run/netns/{}", self.host_ns(host));
        let at: std::net::SocketAddr =
            format!("{}:{port}", self.ip(host)).parse().map_err(|e| format!("{e}"))?;
        // a socket belongs to the namespace of the thread that made it
        let listener = std::thread::spawn(move || {
            enter(&path)?;
            let listener = std::net::TcpListener::bind(at).map_err(|e| format!("{at}: {e}"))?;
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            Ok::<_, String>(listener)
        })
        .join()
        .map_err(|_| "the namespace thread panicked".to_string())??;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(())
    }
}

/// Moves the calling thread into the network namespace at `path`.
fn enter(path: &str) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    // SAFETY: setns on a valid namespace file descriptor changes only this thread's network
    // namespace; the descriptor stays open for the call.
    let done = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if done == 0 {
        Ok(())
    } else {
        Err(format!("setns {path}: {}", std::io::Error::last_os_error()))
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        let mut all: Vec<String> = vec![self.ns("inet")];
        all.extend((0..self.publics).map(|i| self.host_ns(Host::Public(i))));
        for i in 0..self.homes {
            all.push(self.ns(&format!("r{i}")));
            all.push(self.host_ns(Host::Home(i)));
        }
        for ns in all {
            let _ = Command::new("ip")
                .args(["netns", "del", &ns])
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
