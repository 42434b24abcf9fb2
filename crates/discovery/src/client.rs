//! The library components (or their actors) use to talk to their host's daemon. It survives
//! daemon restarts: it reconnects and registers and subscribes again by itself.

use crate::{
    control::{Found, Reply, Request, Snapshot},
    record::{Kind, Service},
    DiscoveryError,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::UnixStream,
    sync::mpsc,
};
use tracing::debug;

/// A change in what a subscription finds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Appeared(Found),
    Gone(Found),
}

struct Subscription {
    request: Request,
    events: mpsc::UnboundedSender<Event>,
    /// What the subscriber was told is there: repeats after a reconnect are not told twice.
    present: BTreeSet<Found>,
}

#[derive(Default)]
struct State {
    registrations: Vec<Request>,
    subscriptions: BTreeMap<u64, Subscription>,
    next_id: u64,
}

/// A component's handle on the local daemon. Subscriptions deliver events while a clone of
/// it lives; registrations last while their processes run, whatever becomes of the client.
#[derive(Clone)]
pub struct Client {
    state: Arc<Mutex<State>>,
    requests: mpsc::UnboundedSender<Request>,
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

impl Client {
    /// A client of the daemon on `socket`. It connects in the background and keeps
    /// reconnecting, every `retry`, while the daemon is away.
    pub fn connect(socket: impl Into<PathBuf>, retry: Duration) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let (requests, rx) = mpsc::unbounded_channel();
        tokio::spawn(keep_connected(socket.into(), retry, state.clone(), rx));
        Self { state, requests }
    }

    /// Keeps `service` registered while process `pid` runs (components register through
    /// their actor, whose pid this is).
    pub fn register_for(&self, service: Service, pid: u32) -> Result<(), DiscoveryError> {
        service.check().map_err(DiscoveryError::Invalid)?;
        let request = Request::Register { service, pid };
        lock(&self.state).registrations.push(request.clone());
        let _ = self.requests.send(request);
        Ok(())
    }

    /// [`Self::register_for`] this process.
    pub fn register(&self, service: Service) -> Result<(), DiscoveryError> {
        self.register_for(service, std::process::id())
    }

    /// Events about services of `kind`'s counterpart for `app` and `msg`: those already there,
    /// then each that appears or goes away.
    pub fn subscribe(&self, app: &str, msg: &str, kind: Kind) -> mpsc::UnboundedReceiver<Event> {
        let (events, rx) = mpsc::unbounded_channel();
        let mut state = lock(&self.state);
        state.next_id += 1;
        let id = state.next_id;
        let request = Request::Subscribe {
            id,
            app: app.to_string(),
            msg: msg.to_string(),
            kind,
        };
        state.subscriptions.insert(
            id,
            Subscription {
                request: request.clone(),
                events,
                present: BTreeSet::new(),
            },
        );
        let _ = self.requests.send(request);
        rx
    }
}

/// What the daemon on `socket` knows, asked once.
pub async fn services(socket: &Path) -> Result<Snapshot, DiscoveryError> {
    crate::socket::check_dir(socket)?;
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| DiscoveryError::Unreachable {
            socket: socket.display().to_string(),
            source: e,
        })?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(&Request::Services)
        .map_err(|e| DiscoveryError::Protocol(e.to_string()))?;
    line.push(b'\n');
    write.write_all(&line).await?;
    let mut lines = BufReader::new(read).lines();
    while let Some(line) = lines.next_line().await? {
        if let Ok(Reply::Services(snapshot)) = serde_json::from_str(&line) {
            return Ok(snapshot);
        }
    }
    Err(DiscoveryError::Protocol(
        "the daemon closed the connection".into(),
    ))
}

async fn keep_connected(
    socket: PathBuf,
    retry: Duration,
    state: Arc<Mutex<State>>,
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    loop {
        // A socket in a directory others could write to may be a squatter's: not used.
        let checked = crate::socket::check_dir(&socket)
            .inspect_err(|e| debug!(error = %e, "not connecting to the discovery daemon"));
        let connected = match checked {
            Ok(()) => UnixStream::connect(&socket).await.ok(),
            Err(_) => None,
        };
        let stream = match connected {
            Some(s) => s,
            None => {
                // Requests made meanwhile are in the state; they are sent on connecting.
                tokio::select! {
                    _ = tokio::time::sleep(retry) => continue,
                    r = requests.recv() => if r.is_none() { return } else { continue },
                }
            }
        };
        debug!(socket = %socket.display(), "connected to the discovery daemon");
        let (read, mut write) = stream.into_split();
        let replay: Vec<Request> = {
            let state = lock(&state);
            state
                .registrations
                .iter()
                .cloned()
                .chain(state.subscriptions.values().map(|s| s.request.clone()))
                .collect()
        };
        let mut lines = BufReader::new(read).lines();
        let mut ok = true;
        for request in replay {
            ok &= send(&mut write, &request).await;
        }
        while ok {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(r) => ok = send(&mut write, &r).await,
                    None => return,
                },
                line = lines.next_line() => match line {
                    Ok(Some(line)) => deliver(&state, &line),
                    _ => ok = false,
                },
            }
        }
        debug!("lost the discovery daemon; reconnecting");
    }
}

async fn send(write: &mut tokio::net::unix::OwnedWriteHalf, request: &Request) -> bool {
    let Ok(mut line) = serde_json::to_vec(request) else {
        return true;
    };
    line.push(b'\n');
    write.write_all(&line).await.is_ok()
}

fn deliver(state: &Mutex<State>, line: &str) {
    let Ok(reply) = serde_json::from_str::<Reply>(line) else {
        return;
    };
    let mut state = lock(state);
    match reply {
        Reply::Appeared { id, found } => {
            if let Some(sub) = state.subscriptions.get_mut(&id) {
                if sub.present.insert(found.clone()) {
                    let _ = sub.events.send(Event::Appeared(found));
                }
            }
        }
        Reply::Gone { id, found } => {
            if let Some(sub) = state.subscriptions.get_mut(&id) {
                if sub.present.remove(&found) {
                    let _ = sub.events.send(Event::Gone(found));
                }
            }
        }
        Reply::Error { message } => debug!(%message, "the daemon refused a request"),
        Reply::Ok | Reply::Services(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn a_client_does_not_talk_to_a_squatted_socket() {
        let dir = tempfile::tempdir().unwrap();
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        // A local process got the name first, in a directory anyone may write to.
        let socket = shared.join("daemon.sock");
        let squatter = tokio::net::UnixListener::bind(&socket).unwrap();
        let err = services(&socket).await.unwrap_err();
        assert!(
            matches!(err, DiscoveryError::UnsafeSocketDir { .. }),
            "{err}"
        );
        let accepted = tokio::time::timeout(Duration::from_millis(50), squatter.accept()).await;
        assert!(accepted.is_err(), "the squatter heard from the client");
    }
}
