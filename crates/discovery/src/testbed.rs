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

use std::{
    net::Ipv4Addr,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

/// One host of a testbed.
pub struct TestHost {
    /// The network namespace: run a program in it with `ip netns exec NS ...`.
    pub ns: String,
    pub ip: Ipv4Addr,
    /// The bridge side of its link: set down to cut the host off, up to bring it back.
    veth: String,
}

pub struct Testbed {
    bridge: String,
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
        if n == 0 || n > 250 {
            return Err(std::io::Error::other("a testbed has 1 to 250 hosts"));
        }
        raise_limits()?;
        let id = (std::process::id().wrapping_mul(31)
            ^ NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(7919))
            % 0xffff;
        let (a, b) = (100 + (id % 100) as u8, ((id / 100) % 250) as u8);
        let mut bed = Self {
            bridge: format!("agb{id:04x}"),
            hosts: Vec::with_capacity(n),
        };
        ip(&["link", "add", &bed.bridge, "type", "bridge"])?;
        ip(&["link", "set", &bed.bridge, "up"])?;
        for i in 0..n {
            let ns = format!("agns{id:04x}-{i}");
            let veth = format!("agv{id:04x}{i}");
            let peer = format!("agp{id:04x}{i}");
            let addr = Ipv4Addr::new(10, a, b, i as u8 + 1);
            ip(&["netns", "add", &ns])?;
            bed.hosts.push(TestHost {
                ns: ns.clone(),
                ip: addr,
                veth: veth.clone(),
            });
            ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])?;
            ip(&["link", "set", &peer, "netns", &ns])?;
            ip(&["-n", &ns, "link", "set", &peer, "name", "eth0"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "brd",
                "+",
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["link", "set", &veth, "master", &bed.bridge])?;
            ip(&["link", "set", &veth, "up"])?;
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
        let _ = ip(&["link", "del", &self.bridge]);
    }
}
