//! The daemon's side of the control socket: each component connection gets an id, a reader
//! that forwards its requests to the daemon's loop, and a writer for the replies.

use crate::control::{Reply, Request};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::UnixListener,
    sync::mpsc,
};

/// A message from a component's connection to the daemon's loop.
pub(super) enum FromConn {
    Open(u64, mpsc::UnboundedSender<Reply>),
    Request(u64, Request),
    Malformed(u64, String),
    Closed(u64),
}

/// Accepts component connections; each gets an id and a line-based reader and writer.
pub(super) async fn accept_components(listener: UnixListener, tx: mpsc::UnboundedSender<FromConn>) {
    let mut next = 0u64;
    while let Ok((stream, _)) = listener.accept().await {
        next += 1;
        let id = next;
        let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Reply>();
        if tx.send(FromConn::Open(id, reply_tx)).is_err() {
            return;
        }
        let (read, mut write) = stream.into_split();
        tokio::spawn(async move {
            while let Some(reply) = reply_rx.recv().await {
                let Ok(mut line) = serde_json::to_vec(&reply) else {
                    continue;
                };
                line.push(b'\n');
                if write.write_all(&line).await.is_err() {
                    return;
                }
            }
        });
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let msg = match serde_json::from_str::<Request>(&line) {
                    Ok(request) => FromConn::Request(id, request),
                    Err(e) => FromConn::Malformed(id, format!("malformed request: {e}")),
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
            let _ = tx.send(FromConn::Closed(id));
        });
    }
}
