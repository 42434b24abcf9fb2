//! `agora discovery` on several hosts with their own addresses: network namespaces joined by a
//! bridge, made by each test and removed after it (needs root and iproute2).

mod common;

use agora_discovery::{testbed::Testbed, Client, Event, Kind, Service};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tokio::sync::mpsc::UnboundedReceiver;

const BEACON_MS: u64 = 200;

/// A testbed with one daemon per host (the hosts from `daemons` on have none); daemons are
/// killed before the testbed goes. Every host with a daemon is on the publishers list.
struct Cluster {
    daemons: Vec<Option<Child>>,
    ids: Vec<String>,
    dir: tempfile::TempDir,
    bed: Testbed,
}

impl Cluster {
    fn new(n: usize) -> Self {
        Self::with_idle(n, 0)
    }

    /// `n` hosts with daemons and `idle` more without.
    fn with_idle(n: usize, idle: usize) -> Self {
        let bed =
            Testbed::new(n + idle).expect("cannot build the testbed (root and iproute2 needed)");
        let dir = tempfile::tempdir().unwrap();
        let homes: Vec<PathBuf> = (0..n)
            .map(|i| dir.path().join(format!("host{i}")))
            .collect();
        let ids = agora_discovery::testbed::trust_all(&homes, &dir.path().join("publishers"))
            .unwrap()
            .iter()
            .map(|id| id.to_string())
            .collect();
        let mut c = Self {
            daemons: (0..n).map(|_| None).collect(),
            ids,
            dir,
            bed,
        };
        for i in 0..n {
            c.start(i);
        }
        c
    }

    fn socket(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("host{i}.sock"))
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("host{i}.log"))).unwrap_or_default()
    }

    fn start(&mut self, i: usize) {
        let child = daemon(
            &self.bed,
            i,
            &self.dir.path().join(format!("host{i}")),
            &self.dir.path().join("publishers"),
            &self.socket(i),
        )
        .stderr(std::fs::File::create(self.dir.path().join(format!("host{i}.log"))).unwrap())
        .spawn()
        .unwrap();
        self.daemons[i] = Some(child);
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut d) = self.daemons[i].take() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }

    fn client(&self, i: usize) -> Client {
        Client::connect(self.socket(i), Duration::from_millis(50))
    }

    fn logs(&self) -> String {
        (0..self.daemons.len())
            .map(|i| {
                let log = self.log(i);
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                format!(
                    "--- host {i}\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A daemon on host `i` of `bed` (test periods: beacons every 200 ms, refresh every second).
fn daemon(bed: &Testbed, i: usize, home: &Path, publishers: &Path, socket: &Path) -> Command {
    let mut c = bed.command(i, env!("CARGO_BIN_EXE_agora"));
    c.args(["discovery", "--home"])
        .arg(home)
        .arg("--publishers")
        .arg(publishers)
        .arg("--socket")
        .arg(socket)
        .args([
            "--beacon-ms",
            &BEACON_MS.to_string(),
            "--refresh-ms",
            "1000",
            "--ttl-ms",
            "4000",
        ])
        .env("RUST_LOG", "agora_discovery=debug")
        .stdout(Stdio::null());
    c
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.daemons.len() {
            self.kill(i);
        }
    }
}

fn service(kind: Kind, address: &str) -> Service {
    Service {
        app: "traffic".into(),
        msg: "density".into(),
        kind,
        address: address.into(),
    }
}

/// The next event within `secs`, or a panic that shows the daemons' logs.
async fn next(events: &mut UnboundedReceiver<Event>, secs: u64, cluster: &Cluster) -> Event {
    match tokio::time::timeout(Duration::from_secs(secs), events.recv()).await {
        Ok(Some(e)) => e,
        Ok(None) => panic!("the subscription ended\n{}", cluster.logs()),
        Err(_) => panic!("no event within {secs} s\n{}", cluster.logs()),
    }
}

async fn appeared(events: &mut UnboundedReceiver<Event>, address: &str, cluster: &Cluster) {
    appeared_all(events, &[address], cluster).await
}

/// Waits until each of `addresses` appeared, in any order.
async fn appeared_all(
    events: &mut UnboundedReceiver<Event>,
    addresses: &[&str],
    cluster: &Cluster,
) {
    let mut missing: std::collections::BTreeSet<&str> = addresses.iter().copied().collect();
    while !missing.is_empty() {
        if let Event::Appeared(f) = next(events, 10, cluster).await {
            missing.remove(f.service.address.as_str());
        }
    }
}

async fn gone(events: &mut UnboundedReceiver<Event>, address: &str, cluster: &Cluster) {
    loop {
        if let Event::Gone(f) = next(events, 10, cluster).await {
            if f.service.address == address {
                return;
            }
        }
    }
}

/// Waits until every daemon hears all the others.
async fn settled(cluster: &Cluster) {
    let n = cluster.daemons.len();
    for _ in 0..100 {
        let mut all = true;
        for i in 0..n {
            match agora_discovery::services(&cluster.socket(i)).await {
                Ok(s) if s.hosts.len() == n - 1 => {}
                _ => all = false,
            }
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("hosts did not find each other\n{}", cluster.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_hears_of_a_late_publisher_and_of_its_end() {
    let cluster = Cluster::new(5);
    settled(&cluster).await;
    let clients: Vec<Client> = (0..5).map(|i| cluster.client(i)).collect();
    let mut subs: Vec<_> = clients
        .iter()
        .map(|c| c.subscribe("traffic", "density", Kind::Sub))
        .collect();
    // Let the subscriptions land before the publisher registers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let publisher = common::agora()
        .args([
            "discovery",
            "register",
            "--app",
            "traffic",
            "--msg",
            "density",
            "--kind",
            "pub",
            "--address",
            "tcp://10.0.0.1:4000",
            "--socket",
        ])
        .arg(cluster.socket(2))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut publisher = scopeguard(publisher);
    for s in subs.iter_mut() {
        appeared(s, "tcp://10.0.0.1:4000", &cluster).await;
    }
    // The registering process ends: every subscriber hears the service is gone.
    let _ = publisher.0.kill();
    let _ = publisher.0.wait();
    for s in subs.iter_mut() {
        gone(s, "tcp://10.0.0.1:4000", &cluster).await;
    }
    // What `agora discovery services` shows on the publisher's host afterwards.
    let out = common::agora()
        .args(["discovery", "services", "--json", "--socket"])
        .arg(cluster.socket(2))
        .output()
        .unwrap();
    let snapshot: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snapshot["local"], serde_json::json!([]));
    assert_eq!(snapshot["hosts"].as_array().unwrap().len(), 4);
}

/// Kills a child process when dropped.
struct Guard(Child);
fn scopeguard(c: Child) -> Guard {
    Guard(c)
}
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_leaves_and_rejoins_is_found_again() {
    let cluster = Cluster::new(3);
    settled(&cluster).await;
    let (c0, c1, c2) = (cluster.client(0), cluster.client(1), cluster.client(2));
    c1.register(service(Kind::Pub, "host1")).unwrap();
    c2.register(service(Kind::Rep, "host2")).unwrap();
    let mut on0 = c0.subscribe("traffic", "density", Kind::Sub);
    let mut on2 = c2.subscribe("traffic", "density", Kind::Sub);
    let mut req0 = c0.subscribe("traffic", "density", Kind::Req);
    appeared(&mut on0, "host1", &cluster).await;
    appeared(&mut on2, "host1", &cluster).await;
    appeared(&mut req0, "host2", &cluster).await;
    // Host 2 leaves: its service goes away for host 0, host 1's for host 2.
    cluster.bed.set_link(2, false).unwrap();
    gone(&mut req0, "host2", &cluster).await;
    gone(&mut on2, "host1", &cluster).await;
    // It rejoins: both subscriptions are restored.
    cluster.bed.set_link(2, true).unwrap();
    appeared(&mut req0, "host2", &cluster).await;
    appeared(&mut on2, "host1", &cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_recover_when_their_daemon_restarts() {
    let mut cluster = Cluster::new(2);
    settled(&cluster).await;
    let (c0, c1) = (cluster.client(0), cluster.client(1));
    c0.register(service(Kind::Srv, "server-on-0")).unwrap();
    let mut clt = c1.subscribe("traffic", "density", Kind::Clt);
    appeared(&mut clt, "server-on-0", &cluster).await;
    // Host 1's daemon dies and comes back; the same client objects go on.
    cluster.kill(1);
    cluster.start(1);
    settled(&cluster).await;
    c0.register(service(Kind::Srv, "second-server-on-0"))
        .unwrap();
    appeared(&mut clt, "second-server-on-0", &cluster).await;
    // Host 0's daemon restarts too: its registrations come back by themselves.
    cluster.kill(0);
    cluster.start(0);
    settled(&cluster).await;
    for _ in 0..100 {
        if agora_discovery::services(&cluster.socket(0))
            .await
            .is_ok_and(|s| s.local.len() == 2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let local = agora_discovery::services(&cluster.socket(0))
        .await
        .unwrap()
        .local;
    assert_eq!(
        local.len(),
        2,
        "host 0's component did not register again: {local:?}"
    );
    let other = cluster.client(1);
    let mut fresh = other.subscribe("traffic", "density", Kind::Clt);
    appeared_all(&mut fresh, &["server-on-0", "second-server-on-0"], &cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_beacons_and_forged_records_are_ignored() {
    use agora_discovery::{
        identity,
        record::{RecordBody, SignedRecord},
        Datagram,
    };
    let cluster = Cluster::new(3);
    settled(&cluster).await;
    let c0 = cluster.client(0);
    let mut subs = c0.subscribe("traffic", "density", Kind::Sub);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A hostile sender on host 2 floods the subnet.
    let victim = agora_discovery::services(&cluster.socket(1))
        .await
        .unwrap()
        .host;
    let hostile_key = identity::Keypair::generate_ed25519();
    let forged = |key: &identity::Keypair, host: Vec<u8>, address: &str| {
        let body = RecordBody {
            topic: service(Kind::Pub, address).topic(),
            host,
            seq: u64::MAX / 2,
            ttl_ms: u64::MAX,
            services: vec![service(Kind::Pub, address)],
        };
        Datagram::Push(SignedRecord::sign(key, &body).unwrap()).encode()
    };
    let mut payloads: Vec<Vec<u8>> = vec![
        b"not a beacon".to_vec(),
        b"AGORADS1\x00\x01\x02".to_vec(),
        vec![0xff; 2000],
    ];
    // A beacon whose signature is not its key's.
    if let Some(Datagram::Beacon {
        public_key,
        address,
        tcp_port,
        seq,
        ..
    }) = Datagram::beacon(&hostile_key, cluster.bed.hosts[2].ip, 9939, 1)
    {
        payloads.push(
            Datagram::Beacon {
                public_key,
                address,
                tcp_port,
                seq,
                signature: vec![0; 64],
            }
            .encode(),
        );
    }
    // A record in host 1's name signed by another key, and a tampered one.
    payloads.push(forged(&hostile_key, victim_bytes(&victim), "forged"));
    let mut tampered = forged(
        &hostile_key,
        hostile_key.public().to_peer_id().to_bytes(),
        "tampered",
    );
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    payloads.push(tampered);
    let broadcast = cluster.bed.broadcast();
    let mut sender = cluster
        .bed
        .command(2, "python3")
        .arg("-c")
        .arg(format!(
            "import socket,sys,binascii\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)\nfor _ in range(20):\n  for h in sys.argv[1:]:\n    p=binascii.unhexlify(h)\n    s.sendto(p,('{broadcast}',9940))\n    s.sendto(p,('{}',9940))",
            cluster.bed.hosts[0].ip
        ))
        .args(payloads.iter().map(hex::encode))
        .spawn()
        .unwrap();
    assert!(sender.wait().unwrap().success());
    // Nothing forged appeared, the hosts still know each other, and an honest publisher is
    // still found.
    cluster
        .client(1)
        .register(service(Kind::Pub, "honest"))
        .unwrap();
    loop {
        match next(&mut subs, 10, &cluster).await {
            Event::Appeared(f) if f.service.address == "honest" => break,
            Event::Appeared(f) => panic!("a forged service appeared: {f:?}"),
            Event::Gone(_) => {}
        }
    }
    // They did arrive, and were dropped for failing verification.
    let log = cluster.log(0);
    assert!(
        log.contains("dropped a beacon that fails verification"),
        "{log}"
    );
    assert!(
        log.contains("dropped a pushed record that fails verification"),
        "{log}"
    );
    let s0 = agora_discovery::services(&cluster.socket(0)).await.unwrap();
    assert_eq!(s0.hosts.len(), 2, "{:?}", s0.hosts);
    assert!(
        s0.remote.iter().all(|f| f.service.address == "honest"),
        "{:?}",
        s0.remote
    );
}

fn victim_bytes(peer: &str) -> Vec<u8> {
    peer.parse::<agora_discovery::identity::PeerId>()
        .unwrap()
        .to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_on_another_subnet_are_found_through_gateways() {
    // Host 0 on one subnet, host 1 on another; beacons do not cross the router, so each names
    // the other as its gateway.
    let bed = Testbed::with_subnets(&[1, 1]).expect("cannot build the testbed");
    let dir = tempfile::tempdir().unwrap();
    let socket = |i: usize| dir.path().join(format!("host{i}.sock"));
    let homes: Vec<PathBuf> = (0..2)
        .map(|i| dir.path().join(format!("host{i}")))
        .collect();
    let publishers = dir.path().join("publishers");
    let ids = agora_discovery::testbed::trust_all(&homes, &publishers).unwrap();
    let mut daemons = Vec::new();
    for i in 0..2 {
        let other = bed.hosts[1 - i].ip;
        let child = daemon(&bed, i, &homes[i], &publishers, &socket(i))
            .args(["--gateway", &format!("{}@{other}:9939", ids[1 - i])])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        daemons.push(Guard(child));
    }
    let (c0, c1) = (
        Client::connect(socket(0), Duration::from_millis(50)),
        Client::connect(socket(1), Duration::from_millis(50)),
    );
    let mut subs = c1.subscribe("traffic", "density", Kind::Req);
    c0.register(service(Kind::Rep, "across")).unwrap();
    let found = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match subs.recv().await {
                Some(Event::Appeared(f)) if f.service.address == "across" => return f,
                Some(_) => continue,
                None => panic!("the subscription ended"),
            }
        }
    })
    .await
    .expect("the service across the router was not found within 15 s");
    let host0 = agora_discovery::services(&socket(0)).await.unwrap();
    assert_eq!(found.host, host0.host);
    let gateways: Vec<bool> = host0.hosts.iter().map(|h| h.by_beacon).collect();
    assert_eq!(
        gateways,
        [false],
        "host 1 is known through its gateway address"
    );
}

/// Waits (up to `secs`) until `cond` holds, or panics showing the daemons' logs.
async fn until(cluster: &Cluster, secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..secs * 10 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: not within {secs} s\n{}", cluster.logs());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_key_cannot_hijack_a_topic_by_push_or_dht() {
    // Hosts 0 and 1 are the deployment. Host 2 runs a daemon with a fresh key; its own list
    // names the honest hosts too, so it hears them and tries every path: broadcast pushes,
    // beacons, DHT stores and announcements.
    let cluster = Cluster::with_idle(2, 1);
    settled(&cluster).await;
    let (c0, c1) = (cluster.client(0), cluster.client(1));
    let mut subs = c0.subscribe("traffic", "density", Kind::Sub);
    c1.register(service(Kind::Pub, "honest")).unwrap();
    appeared(&mut subs, "honest", &cluster).await;
    let dir = cluster.dir.path();
    let (home, list, socket) = (
        dir.join("hostile"),
        dir.join("hostile-publishers"),
        dir.join("hostile.sock"),
    );
    let hostile =
        agora_discovery::testbed::trust_all(std::slice::from_ref(&home), &list).unwrap()[0];
    let honest: String = cluster.ids.iter().map(|id| format!("{id} *\n")).collect();
    std::fs::write(&list, format!("{hostile} *\n{honest}")).unwrap();
    let _hostile = Guard(
        daemon(&cluster.bed, 2, &home, &list, &socket)
            .stderr(std::fs::File::create(dir.join("hostile.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let attacker = Client::connect(&socket, Duration::from_millis(50));
    attacker.register(service(Kind::Pub, "hijack")).unwrap();
    // Its pushes and its DHT connections reach the honest hosts and are refused there.
    let refused = |needle: &str| (0..2).any(|i| cluster.log(i).contains(needle));
    until(&cluster, 20, "pushes and DHT connections refused", || {
        cluster.log(0).contains("refused a pushed record")
            && refused("refused a beacon: its host is not on the publishers list")
            && refused("refused a DHT connection: the host is not on the publishers list")
    })
    .await;
    let hostile_log = std::fs::read_to_string(dir.join("hostile.log")).unwrap();
    assert!(
        hostile_log.contains("host joined"),
        "the hostile host heard the others: {hostile_log}"
    );
    // The honest service alone is there; the hostile host is no host of theirs.
    for i in 0..2 {
        let s = agora_discovery::services(&cluster.socket(i)).await.unwrap();
        assert!(
            s.remote.iter().all(|f| f.service.address == "honest"),
            "{:?}",
            s.remote
        );
        assert_eq!(s.hosts.len(), 1, "{:?}", s.hosts);
    }
    while let Ok(event) = subs.try_recv() {
        assert!(
            !matches!(&event, Event::Appeared(f) if f.service.address == "hijack"),
            "the hijack reached a subscriber: {event:?}"
        );
    }
}

/// Run in a host with no daemon: prints (hex) the first beacon heard from the address given.
const CAPTURE_BEACON: &str = "import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
s.bind(('',9940))
s.settimeout(30)
while True:
  d,a=s.recvfrom(65536)
  if a[0]==sys.argv[1] and d[:8]==b'AGORADS2' and d[8]==0:
    print(d.hex())
    break";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_beacon_changes_nothing() {
    let mut cluster = Cluster::with_idle(3, 1);
    settled(&cluster).await;
    let ips: Vec<String> = cluster.bed.hosts.iter().map(|h| h.ip.to_string()).collect();
    let ip = |i: usize| ips[i].clone();
    // Host 3 (no daemon) records one of host 1's beacons.
    let captured = cluster
        .bed
        .command(3, "python3")
        .args(["-c", CAPTURE_BEACON, &ip(1)])
        .output()
        .unwrap();
    let beacon = String::from_utf8(captured.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert!(!beacon.is_empty(), "no beacon captured");
    let replay = |cluster: &Cluster, from: usize| {
        let script = format!(
            "import socket,binascii\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_BROADCAST,1)\np=binascii.unhexlify('{beacon}')\nfor _ in range(5):\n  s.sendto(p,('{}',9940))\n  s.sendto(p,('{}',9940))",
            cluster.bed.broadcast(),
            ip(0)
        );
        let status = cluster
            .bed
            .command(from, "python3")
            .args(["-c", &script])
            .status()
            .unwrap();
        assert!(status.success());
    };
    // Sent again from another address while host 1 is there: refused, host 1 stays put.
    replay(&cluster, 3);
    let moved = format!("but sent from {}", ip(3));
    until(&cluster, 10, "the replay from elsewhere refused", || {
        cluster.log(0).contains(&moved)
    })
    .await;
    let hosts = agora_discovery::services(&cluster.socket(0))
        .await
        .unwrap()
        .hosts;
    let host1 = hosts.iter().find(|h| h.host == cluster.ids[1]).unwrap();
    assert_eq!(host1.ip.to_string(), ip(1));
    // Host 1 leaves; its recorded beacon, replayed from its own address, does not bring it
    // back.
    cluster.kill(1);
    for _ in 0..100 {
        let s = agora_discovery::services(&cluster.socket(0)).await.unwrap();
        if s.hosts.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    replay(&cluster, 1);
    until(&cluster, 10, "the stale replay refused", || {
        cluster.log(0).contains("is not above")
    })
    .await;
    let s = agora_discovery::services(&cluster.socket(0)).await.unwrap();
    assert_eq!(
        s.hosts.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(),
        [cluster.ids[2].as_str()],
        "host 1 came back"
    );
    assert_eq!(s.held.hosts, 1);
}

#[test]
fn the_daemon_refuses_a_shared_socket_directory_and_a_missing_publishers_list() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let list = dir.path().join("publishers");
    let ids = agora_discovery::testbed::trust_all(std::slice::from_ref(&home), &list).unwrap();
    // `agora discovery id` prints the id the list was made with.
    let out = common::agora()
        .args(["discovery", "id", "--home"])
        .arg(&home)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        ids[0].to_string()
    );
    let run = |socket: &Path, list: &Path| {
        common::agora()
            .args(["discovery", "--home"])
            .arg(&home)
            .arg("--publishers")
            .arg(list)
            .arg("--socket")
            .arg(socket)
            .args(["--listen", "127.0.0.1:0", "--beacon-port", "0"])
            .output()
            .unwrap()
    };
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = run(&shared.join("daemon.sock"), &list);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("other users may write to it"), "{err}");
    let out = run(
        &dir.path().join("private/daemon.sock"),
        &dir.path().join("missing"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("publishers list"), "{err}");
}
