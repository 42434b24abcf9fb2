//! The v1 rights authority (spec §5.5): keeps the channels' rights, creates and deletes their
//! JetStream streams, and regenerates and hot-reloads the server's configuration whenever a
//! right changes. Owners reach it through their [`super::NatsBus`] handles; in a deployment it
//! runs beside the ledger feeder that derives grants from allocations.

use super::backend;
use super::config::{Directory, Entry, ENVELOPE_OVERHEAD, LOG_PREFIX};
use super::server::{free_ports, NatsServer, NATS_SERVER};
use crate::{Access, BusError, ChannelAcl, ChannelSpec, Filter, Subject};
use agora_types::Address;
use async_nats::client::RequestErrorKind;
use async_nats::Client;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;

/// Starts tried, each on new ports, before giving up.
const START_ATTEMPTS: usize = 3;

/// Runs one `nats-server` and owns its configuration.
pub struct NatsAuthority {
    directory: Mutex<Directory>,
    /// Held across a reload, so changes apply one at a time and in order.
    server: tokio::sync::Mutex<NatsServer>,
    /// The authority's own user in the MARKET account: it creates the public streams.
    market: Client,
    url: String,
}

/// JetStream's error code for an account whose JetStream is not (yet) set up: nats-server
/// 2.9 answers it (or nobody answers) for a moment while a configuration reload re-applies the
/// accounts. Stream calls therefore run under the reload lock, and one refused that way just
/// after a reload is tried again (nothing was done).
const JETSTREAM_NOT_ENABLED: u64 = 10039;
/// Tries of a call refused that way, [`RELOAD_WAIT`] apart: a reload takes tens of ms.
const RELOAD_TRIES: usize = 40;
const RELOAD_WAIT: std::time::Duration = std::time::Duration::from_millis(25);

/// Whether a JetStream API error is the passing state of a reload.
fn during_reload(error: &Value) -> bool {
    error.get("err_code").and_then(Value::as_u64) == Some(JETSTREAM_NOT_ENABLED)
}

/// A JetStream API call (`$JS.API.<what>`) in the account of `client`.
pub(crate) async fn js_api(client: &Client, what: &str, body: Value) -> Result<Value, BusError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let reply = match client
            .request(format!("$JS.API.{what}"), body.to_string().into())
            .await
        {
            Ok(reply) => reply,
            Err(e) if e.kind() == RequestErrorKind::NoResponders && tries < RELOAD_TRIES => {
                tracing::debug!(what, tries, "no JetStream API yet: a reload is running");
                tokio::time::sleep(RELOAD_WAIT).await;
                continue;
            }
            Err(e) => return Err(backend(what, e)),
        };
        let value: Value = serde_json::from_slice(&reply.payload).map_err(|e| backend(what, e))?;
        match value.get("error") {
            None => return Ok(value),
            Some(error) if during_reload(error) && tries < RELOAD_TRIES => {
                tracing::debug!(
                    what,
                    tries,
                    "JetStream not enabled yet: a reload is running"
                );
                tokio::time::sleep(RELOAD_WAIT).await;
            }
            Some(error) => return Err(BusError::Backend(format!("{what}: {error}"))),
        }
    }
}

impl NatsAuthority {
    /// Starts a server in `dir` (config, log and JetStream store) with no stakeholder yet.
    pub async fn start(dir: &Path) -> Result<Self, BusError> {
        Self::start_with(dir, Path::new(NATS_SERVER)).await
    }

    /// [`Self::start`] with the server binary at `binary` (an install outside `PATH`).
    pub async fn start_with(dir: &Path, binary: &Path) -> Result<Self, BusError> {
        let admin = nkeys::KeyPair::new_user();
        let mut attempt = 0;
        let (directory, server) = loop {
            attempt += 1;
            let (port, monitor_port) = free_ports()?;
            let directory = Directory {
                port,
                monitor_port,
                store_dir: dir.join("jetstream"),
                market_user: admin.public_key(),
                principals: BTreeSet::new(),
                quota: crate::DEFAULT_QUOTA,
                channels: BTreeMap::new(),
                cuts: BTreeSet::new(),
            };
            match NatsServer::start(binary, dir, &directory.render(), port, monitor_port).await {
                Ok(server) => break (directory, server),
                // Another process may take a free port before the server binds it.
                Err(e) if attempt < START_ATTEMPTS => {
                    tracing::warn!(%e, attempt, "nats-server did not start; new ports");
                }
                Err(e) => return Err(e),
            }
        };
        let url = server.url();
        let seed = admin.seed().map_err(|e| backend("admin key", e))?;
        let market = async_nats::ConnectOptions::with_nkey(seed)
            .connect(&url)
            .await
            .map_err(|e| backend("connecting the MARKET user", e))?;
        Ok(Self {
            directory: Mutex::new(directory),
            server: tokio::sync::Mutex::new(server),
            market,
            url,
        })
    }

    /// This authority with principals owning at most `quota` channels at once; it applies
    /// from the next configuration reload (the first stakeholder's registration).
    pub fn with_quota(self, quota: usize) -> Self {
        self.directory().quota = quota;
        self
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn directory(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.directory.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server's `/varz` (its version, its last configuration load).
    pub async fn varz(&self) -> Result<Value, BusError> {
        self.server.lock().await.varz().await
    }

    /// Stops the server: every handle's connection drops and its subscriptions say so.
    pub async fn shutdown(&self) -> Result<(), BusError> {
        self.server.lock().await.stop().await
    }

    /// The configuration as last rendered.
    pub fn config(&self) -> String {
        self.directory().render()
    }

    /// A channel's rights and limits.
    pub fn entry(&self, subject: &Subject) -> Result<Entry, BusError> {
        self.directory()
            .channels
            .get(subject)
            .cloned()
            .ok_or_else(|| BusError::NotFound(subject.to_string()))
    }

    /// The channels matching `filter` that `who` may read now.
    pub fn readable(&self, filter: &Filter, who: &Address) -> Vec<Subject> {
        let directory = self.directory();
        directory
            .channels
            .keys()
            .filter(|s| filter.matches(s) && directory.readable(s, who))
            .cloned()
            .collect()
    }

    /// Applies `change` to the directory and reloads the server with the result; a failed
    /// reload restores the previous directory.
    async fn update<T>(
        &self,
        change: impl FnOnce(&mut Directory) -> Result<T, BusError>,
    ) -> Result<T, BusError> {
        let mut server = self.server.lock().await;
        self.update_locked(&mut server, change).await
    }

    /// [`Self::update`] with the reload lock already held (by a stream call before it).
    async fn update_locked<T>(
        &self,
        server: &mut NatsServer,
        change: impl FnOnce(&mut Directory) -> Result<T, BusError>,
    ) -> Result<T, BusError> {
        let (before, after, value) = {
            let mut directory = self.directory();
            let before = directory.clone();
            // The last reload cut these readers off already.
            directory.cuts.clear();
            let value = change(&mut directory)?;
            (before, directory.render(), value)
        };
        if let Err(e) = server.reload(&after).await {
            *self.directory() = before;
            return Err(e);
        }
        Ok(value)
    }

    /// Gives `who` an account (its user's nkey is its Agora key); idempotent.
    pub async fn register(&self, who: Address) -> Result<(), BusError> {
        if self.directory().principals.contains(&who) {
            return Ok(());
        }
        self.update(|d| {
            d.principals.insert(who);
            Ok(())
        })
        .await
    }

    /// Creates `subject` owned by `owner` with `grants`, its stream made through
    /// `owner_client` (or the MARKET user for a public channel): one reload.
    pub async fn create(
        &self,
        owner_client: &Client,
        owner: Address,
        subject: &Subject,
        spec: ChannelSpec,
        grants: &[(Address, Access)],
    ) -> Result<(), BusError> {
        {
            let directory = self.directory();
            let owned = directory
                .channels
                .values()
                .filter(|e| e.acl.owner == owner)
                .count();
            crate::acl::admit(subject, &spec, &owner, owned, directory.quota)?;
            if directory.channels.contains_key(subject) {
                return Err(BusError::Exists(subject.to_string()));
            }
        }
        let client = if spec.public {
            &self.market
        } else {
            owner_client
        };
        let stream = subject.stream_name();
        let config = json!({
            "name": stream,
            "subjects": [subject.as_str()],
            "retention": "limits",
            "storage": "file",
            "discard": "new",
            "num_replicas": 1,
            "max_consumers": -1,
            "max_msgs": spec.max_msgs.min(i64::MAX as u64),
            "max_msgs_per_subject": -1,
            "max_bytes": -1,
            "max_age": 0,
            "max_msg_size": spec.max_payload + ENVELOPE_OVERHEAD,
            "allow_direct": true,
            "republish": { "src": subject.as_str(), "dest": format!("{LOG_PREFIX}.{subject}") },
        });
        let mut acl = ChannelAcl::new(owner, spec.public);
        for (who, access) in grants {
            acl.set(subject, &owner, *who, *access, true)?;
        }
        let entry = Entry { acl, spec };
        // No reload runs while the stream is made (JetStream's API comes and goes in one).
        let mut server = self.server.lock().await;
        js_api(client, &format!("STREAM.CREATE.{stream}"), config).await?;
        self.update_locked(&mut server, |d| {
            d.channels.insert(subject.clone(), entry);
            Ok(())
        })
        .await
    }

    /// Grants (`on`) or revokes a right, if `caller` owns the channel.
    pub async fn set_right(
        &self,
        caller: Address,
        subject: &Subject,
        who: Address,
        access: Access,
        on: bool,
    ) -> Result<(), BusError> {
        self.update(|d| {
            d.channels
                .get_mut(subject)
                .ok_or_else(|| BusError::NotFound(subject.to_string()))?
                .acl
                .set(subject, &caller, who, access, on)?;
            if !on && access == Access::Subscribe {
                d.cuts.insert((who, subject.clone()));
            }
            Ok(())
        })
        .await
    }

    /// Deletes a channel and its stream, if `caller` owns it; its readers are cut off.
    pub async fn delete(
        &self,
        owner_client: &Client,
        caller: Address,
        subject: &Subject,
    ) -> Result<(), BusError> {
        let entry = self.entry(subject)?;
        entry.acl.check_owner(subject, &caller)?;
        let client = if entry.acl.public {
            &self.market
        } else {
            owner_client
        };
        let mut server = self.server.lock().await;
        js_api(
            client,
            &format!("STREAM.DELETE.{}", subject.stream_name()),
            json!({}),
        )
        .await?;
        self.update_locked(&mut server, |d| {
            d.channels.remove(subject);
            let readers: Vec<Address> = d
                .principals
                .iter()
                .filter(|p| entry.acl.allows(p, Access::Subscribe))
                .copied()
                .collect();
            d.cuts
                .extend(readers.into_iter().map(|p| (p, subject.clone())));
            Ok(())
        })
        .await
    }
}

/// The nkey login seed of an Agora key: the same ed25519 seed, so the server checks the key.
pub(crate) fn login_seed(keypair: &agora_types::Keypair) -> Result<String, BusError> {
    use commonware_codec::Encode;
    let raw: [u8; 32] = keypair
        .private_key()
        .encode()
        .as_ref()
        .try_into()
        .map_err(|_| BusError::Backend("an ed25519 seed is 32 bytes".into()))?;
    let user = nkeys::KeyPair::new_from_raw(nkeys::KeyPairType::User, raw)
        .map_err(|e| backend("nkey", e))?;
    user.seed().map_err(|e| backend("nkey seed", e))
}

#[cfg(test)]
mod tests {
    use super::super::config::user_nkey;
    use super::*;

    #[test]
    fn only_the_reloads_passing_error_is_tried_again() {
        let error = |code: u64| json!({"code": 503, "err_code": code, "description": "x"});
        assert!(during_reload(&error(JETSTREAM_NOT_ENABLED)));
        // Stream not found, wrong last sequence: real answers, not retried.
        assert!(!during_reload(&error(10059)) && !during_reload(&error(10071)));
        assert!(!during_reload(&json!({"code": 503})));
    }

    #[test]
    fn the_login_key_is_the_agora_key() {
        for seed in 0..4 {
            let keypair = agora_types::Keypair::from_seed(seed);
            let login = nkeys::KeyPair::from_seed(&login_seed(&keypair).unwrap()).unwrap();
            assert_eq!(login.public_key(), user_nkey(&keypair.address()));
        }
    }
}
