//! Member-to-member links. Messages are signed, so links need not be authenticated
//! themselves; a [`Net`] only has to deliver bytes, and may lose them (deadlines cover that).

use agora_types::Address;
use std::{collections::BTreeMap, net::SocketAddr, time::Duration};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{tcp::OwnedWriteHalf, TcpListener, TcpStream},
    sync::mpsc,
};
use tracing::debug;

use crate::message::MAX_MESSAGE_BYTES;

/// Delivers a member's messages to the others.
pub trait Net: Send {
    /// Sends `bytes` to `to`. Delivery is best effort: an unreachable member just stays silent.
    fn send(&mut self, to: &Address, bytes: &[u8]) -> impl std::future::Future<Output = ()> + Send;
    /// The next message from anyone; `None` once no member can reach us any more.
    fn recv(&mut self) -> impl std::future::Future<Output = Option<Vec<u8>>> + Send;
}

/// A full mesh of TCP connections: a length-prefixed frame (u32, big endian) per message.
pub struct TcpNet {
    writers: BTreeMap<Address, OwnedWriteHalf>,
    incoming: mpsc::Receiver<Vec<u8>>,
    /// Accepts and reads the others' connections; stopped when the links are dropped.
    reader: tokio::task::JoinHandle<()>,
    /// Bytes this member sent, frames included.
    pub bytes_sent: u64,
}

impl Drop for TcpNet {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl TcpNet {
    /// Accepts the others' connections on `listener` and connects to each of `peers`, retrying
    /// until `patience` has passed (members start at slightly different times). A peer that
    /// cannot be reached is left out: to the protocol it is silent.
    pub async fn connect(
        listener: TcpListener,
        peers: &BTreeMap<Address, SocketAddr>,
        patience: Duration,
    ) -> Self {
        let (tx, incoming) = mpsc::channel(1024);
        let reader = tokio::spawn(accept(listener, tx));
        let deadline = tokio::time::Instant::now() + patience;
        let mut writers = BTreeMap::new();
        for (member, addr) in peers {
            loop {
                match TcpStream::connect(addr).await {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        writers.insert(*member, stream.into_split().1);
                        break;
                    }
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        debug!(%member, error = %e, "member unreachable");
                        break;
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
        Self {
            writers,
            incoming,
            reader,
            bytes_sent: 0,
        }
    }
}

/// Owns the listener and one reader per incoming link: aborting it closes them all.
async fn accept(listener: TcpListener, tx: mpsc::Sender<Vec<u8>>) {
    let mut readers = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let tx = tx.clone();
        readers.spawn(async move {
            let (mut read, _write) = stream.into_split();
            loop {
                let mut len = [0u8; 4];
                if read.read_exact(&mut len).await.is_err() {
                    return;
                }
                let len = u32::from_be_bytes(len) as usize;
                if len > MAX_MESSAGE_BYTES {
                    debug!(len, "oversized frame: dropping the link");
                    return;
                }
                let mut frame = vec![0u8; len];
                if read.read_exact(&mut frame).await.is_err() || tx.send(frame).await.is_err() {
                    return;
                }
            }
        });
    }
}

impl Net for TcpNet {
    async fn send(&mut self, to: &Address, bytes: &[u8]) {
        let Some(w) = self.writers.get_mut(to) else {
            return;
        };
        let Ok(len) = u32::try_from(bytes.len()) else {
            return;
        };
        let ok = w.write_all(&len.to_be_bytes()).await.is_ok() && w.write_all(bytes).await.is_ok();
        if ok {
            self.bytes_sent += 4 + bytes.len() as u64;
        } else {
            self.writers.remove(to);
        }
    }

    async fn recv(&mut self) -> Option<Vec<u8>> {
        self.incoming.recv().await
    }
}

/// For members run in one process (simulations, benchmarks, tests): a listener on 127.0.0.1
/// for each member, in order, with the addresses of its peers, ready for
/// [`TcpNet::connect`].
pub async fn loopback_links(
    members: &[Address],
) -> std::io::Result<Vec<(TcpListener, BTreeMap<Address, SocketAddr>)>> {
    let mut listeners = Vec::with_capacity(members.len());
    let mut addrs = BTreeMap::new();
    for m in members {
        let l = TcpListener::bind("127.0.0.1:0").await?;
        addrs.insert(*m, l.local_addr()?);
        listeners.push(l);
    }
    Ok(members
        .iter()
        .zip(listeners)
        .map(|(m, l)| {
            let mut peers = addrs.clone();
            peers.remove(m);
            (l, peers)
        })
        .collect())
}
