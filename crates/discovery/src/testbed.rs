//! Hosts with their own addresses on one machine, for tests and benchmarks: a network
//! namespace per host, joined by a bridge into one subnet. Needs root and iproute2's `ip`.
//! Everything is removed when the [`Testbed`] is dropped.
//!
//! All hosts share this machine's kernel, so two of its global limits, sized for one host,
//! bind the whole testbed: the neighbour (ARP) table, which holds every host's neighbours
//! (64 hosts know 4,032; the default hard limit is 1,024, beyond which sends fail with
//! ENOBUFS), and the per-CPU input queues every packet between hosts passes through. The
//! testbed raises `net.ipv4.neigh.default.gc_thresh1..3` and `net.core.netdev_max_backlog` to
//! at least [`LIMITS`]; real hosts, each with its own kernel, do not need this. It leaves them
//! raised, since other testbeds may be running.

use crate::{policy::Publishers, DiscoveryError};
use libp2p::PeerId;
use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

/// Creates the host key of each of `homes` (if missing) and writes a publishers list at
/// `file` on which each may publish anything; returns the hosts' ids, in order.
pub fn trust_all(homes: &[PathBuf], file: &Path) -> Result<Vec<PeerId>, DiscoveryError> {
    let ids = homes
        .iter()
        .map(|home| Ok(crate::cli::host_key(home)?.public().to_peer_id()))
        .collect::<Result<Vec<_>, DiscoveryError>>()?;
    std::fs::write(file, Publishers::everyone(ids.clone()).to_text())?;
    Ok(ids)
}

/// One host of a testbed.
pub struct TestHost {
    /// The network namespace: run a program in it with `ip netns exec NS ...`.
    pub ns: String,
    pub ip: Ipv4Addr,
    /// The bridge side of its link: set down to cut the host off, up to bring it back.
    veth: String,
}

pub struct Testbed {
    bridges: Vec<String>,
    /// With several subnets, the namespace that routes between them (.254 on each).
    router: Option<String>,
    pub hosts: Vec<TestHost>,
}

fn ip(args: &[&str]) -> std::io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Kernel limits (sysctl path, least value) the testbed needs for up to 250 hosts.
pub const LIMITS: [(&str, u64); 4] = [
    ("/proc/sys/net/ipv4/neigh/default/gc_thresh1", 16_384),
    ("/proc/sys/net/ipv4/neigh/default/gc_thresh2", 65_536),
    ("/proc/sys/net/ipv4/neigh/default/gc_thresh3", 131_072),
    ("/proc/sys/net/core/netdev_max_backlog", 50_000),
];

fn raise_limits() -> std::io::Result<()> {
    for (path, least) in LIMITS {
        let now: u64 = std::fs::read_to_string(path)?.trim().parse().unwrap_or(0);
        if now < least {
            std::fs::write(path, least.to_string())?;
        }
    }
    Ok(())
}

impl Testbed {
    /// `n` hosts (at most 250) on a fresh subnet 10.x.y.0/24.
    pub fn new(n: usize) -> std::io::Result<Self> {
        Self::with_subnets(&[n])
    }

    /// Hosts on several subnets (10.x.y.0/24, 10.x.y+1.0/24, ...), `sizes[k]` on subnet k, in
    /// that order; with more than one, a router namespace joins them and every host routes
    /// through it.
    pub fn with_subnets(sizes: &[usize]) -> std::io::Result<Self> {
        if sizes.is_empty() || sizes.iter().any(|&n| n == 0 || n > 250) || sizes.len() > 4 {
            return Err(std::io::Error::other(
                "a testbed has 1 to 4 subnets of 1 to 250 hosts",
            ));
        }
        raise_limits()?;
        let id = (std::process::id().wrapping_mul(31)
            ^ NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919))
            % 0xffff;
        let (a, b) = (100 + (id % 100) as u8, ((id / 100) % 60) as u8 * 4);
        let routed = sizes.len() > 1;
        let mut bed = Self {
            bridges: Vec::new(),
            router: None,
            hosts: Vec::new(),
        };
        let router = format!("agrt{id:04x}");
        if routed {
            ip(&["netns", "add", &router])?;
            bed.router = Some(router.clone());
            ip(&[
                "netns",
                "exec",
                &router,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
            ])?;
        }
        for (k, &n) in sizes.iter().enumerate() {
            let bridge = format!("agb{id:04x}{k}");
            ip(&["link", "add", &bridge, "type", "bridge"])?;
            bed.bridges.push(bridge.clone());
            ip(&["link", "set", &bridge, "up"])?;
            let subnet = |host: u8| Ipv4Addr::new(10, a, b + k as u8, host);
            // The namespace's side is made under a unique name, then renamed inside.
            let attach = |ns: &str, veth: String, name: String, addr: Ipv4Addr| {
                let peer = veth.replacen("ag", "ap", 1);
                ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])?;
                ip(&["link", "set", &peer, "netns", ns])?;
                ip(&["-n", ns, "link", "set", &peer, "name", &name])?;
                ip(&[
                    "-n",
                    ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "brd",
                    "+",
                    "dev",
                    &name,
                ])?;
                ip(&["-n", ns, "link", "set", &name, "up"])?;
                ip(&["link", "set", &veth, "master", &bridge])?;
                ip(&["link", "set", &veth, "up"])
            };
            if routed {
                attach(
                    &router,
                    format!("agr{id:04x}{k}"),
                    format!("r{k}"),
                    subnet(254),
                )?;
            }
            for i in 0..n {
                let ns = format!("agns{id:04x}-{k}-{i}");
                let veth = format!("agv{id:04x}{k}{i}");
                let addr = subnet(i as u8 + 1);
                ip(&["netns", "add", &ns])?;
                bed.hosts.push(TestHost {
                    ns: ns.clone(),
                    ip: addr,
                    veth: veth.clone(),
                });
                attach(&ns, veth, "eth0".into(), addr)?;
                ip(&["-n", &ns, "link", "set", "lo", "up"])?;
                if routed {
                    let gw = subnet(254).to_string();
                    ip(&["-n", &ns, "route", "add", "default", "via", &gw])?;
                }
            }
        }
        Ok(bed)
    }

    /// Cuts host `i` off the subnet (`up = false`) or brings it back.
    pub fn set_link(&self, i: usize, up: bool) -> std::io::Result<()> {
        ip(&[
            "link",
            "set",
            &self.hosts[i].veth,
            if up { "up" } else { "down" },
        ])
    }

    /// A command that runs `program` inside host `i`'s namespace.
    pub fn command(&self, i: usize, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.hosts[i].ns, program]);
        c
    }

    /// The subnet's broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        let o = self.hosts[0].ip.octets();
        Ipv4Addr::new(o[0], o[1], o[2], 255)
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        for h in &self.hosts {
            let _ = ip(&["link", "del", &h.veth]);
            let _ = ip(&["netns", "del", &h.ns]);
        }
        if let Some(router) = &self.router {
            let _ = ip(&["netns", "del", router]);
        }
        for b in &self.bridges {
            let _ = ip(&["link", "del", b]);
        }
    }
}
