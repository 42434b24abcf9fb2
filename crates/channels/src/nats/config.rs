//! Renders the channels' rights as a `nats-server` 2.9 configuration (spec §5.5): one account per
//! stakeholder, a MARKET account for public channels, exports restricted to the accounts the
//! rights name, and per-user subscribe denials so a revoked reader's subscription is cut.
//!
//! Each channel lives in its *home* account (MARKET if public, else its owner's) as one
//! JetStream stream capturing the channel's subject `S`, which re-publishes every stored message
//! on `agora_log.S` with its stream seq. From the home account:
//! - writers import `S` as a service, to `agora_pub.S` in their account (the stream's
//!   acknowledgement comes back as the reply);
//! - readers import the stream `agora_log.S` (stored messages only, in stored order) and the
//!   stream's direct-get service, to `agora_get.<stream>` (replay and fetch by seq).

use crate::{Access, ChannelAcl, ChannelSpec, Subject};
use agora_types::Address;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Subject prefix under which writers reach a channel held by another account.
pub const PUBLISH_PREFIX: &str = "agora_pub";
/// Subject prefix on which a channel's stored messages are re-published.
pub const LOG_PREFIX: &str = "agora_log";
/// Subject prefix under which readers reach another account's direct-get service.
pub const GET_PREFIX: &str = "agora_get";
/// The JetStream API calls a stakeholder's user makes in its own account: create and delete
/// its channels' streams, and read them. Nothing that erases, purges or reconfigures a stored
/// message (the customer's account holds its suppliers' outputs).
const JS_API_ALLOWED: &str =
    r#""$JS.API.STREAM.CREATE.*", "$JS.API.STREAM.DELETE.*", "$JS.API.DIRECT.GET.*""#;

/// The account holding the public channels.
pub const MARKET_ACCOUNT: &str = "MARKET";

/// Bytes a message adds to its payload at most: the envelope (subject, seq, ts, key,
/// signature, lengths: under 400) and the publish headers.
pub const ENVELOPE_OVERHEAD: u32 = 1024;

/// Largest message the server accepts: a channel payload plus its envelope.
pub const MAX_SERVER_PAYLOAD: u32 = crate::MAX_PAYLOAD + ENVELOPE_OVERHEAD;

/// One channel as the authority knows it.
#[derive(Clone, Debug)]
pub struct Entry {
    pub acl: ChannelAcl,
    pub spec: ChannelSpec,
}

impl Entry {
    /// The account holding this channel's stream.
    pub fn home(&self) -> String {
        if self.acl.public {
            MARKET_ACCOUNT.to_string()
        } else {
            account_name(&self.acl.owner)
        }
    }
}

/// Everything the configuration is generated from.
#[derive(Clone, Debug)]
pub struct Directory {
    pub port: u16,
    pub monitor_port: u16,
    pub store_dir: PathBuf,
    /// The public nkey of the authority's own user in MARKET (it creates public streams).
    pub market_user: String,
    pub principals: BTreeSet<Address>,
    /// Channels (so streams) a stakeholder's account may hold, enforced by the server too.
    pub quota: usize,
    pub channels: BTreeMap<Subject, Entry>,
    /// Readers to cut off at the next reload: (reader, channel) for each withdrawn read right
    /// and each reader of a deleted channel. The server ends their open subscriptions on that
    /// reload; the route itself is already gone with the import, so the denial is dropped at
    /// the following change and the configuration does not grow with every channel ever closed.
    pub cuts: BTreeSet<(Address, Subject)>,
}

/// The NATS account of a stakeholder.
pub fn account_name(address: &Address) -> String {
    format!("A_{address}")
}

/// The user nkey (`U...`) of an address: the same ed25519 key, in NATS's encoding (base32 of
/// the user prefix, the 32 key bytes and a CRC-16), so a NATS login proves the Agora key.
pub fn user_nkey(address: &Address) -> String {
    const USER_PREFIX: u8 = 20 << 3;
    let mut raw = Vec::with_capacity(35);
    raw.push(USER_PREFIX);
    raw.extend_from_slice(&address.0);
    let crc = crc16_xmodem(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    base32_nopad(&raw)
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= (byte as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn base32_nopad(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in data {
        buffer = (buffer << 8) | byte as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Exports and imports of one account, as config lines.
#[derive(Default)]
struct AccountLines {
    exports: Vec<String>,
    imports: Vec<String>,
}

fn quoted_list<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(", "))
}

impl Directory {
    /// Accounts (other than the home) of the principals holding `access` on `entry`.
    fn remote_accounts(&self, entry: &Entry, access: Access) -> BTreeSet<String> {
        let home = entry.home();
        self.principals
            .iter()
            .chain(std::iter::once(&entry.acl.owner))
            .filter(|p| entry.acl.allows(p, access))
            .map(account_name)
            .filter(|a| *a != home)
            .collect()
    }

    /// Whether `who` may read `subject` (known, not deleted, and allowed).
    pub fn readable(&self, subject: &Subject, who: &Address) -> bool {
        self.channels
            .get(subject)
            .is_some_and(|e| e.acl.allows(who, Access::Subscribe))
    }

    fn account_lines(&self) -> BTreeMap<String, AccountLines> {
        let mut accounts: BTreeMap<String, AccountLines> = BTreeMap::new();
        accounts.entry(MARKET_ACCOUNT.to_string()).or_default();
        for principal in &self.principals {
            accounts.entry(account_name(principal)).or_default();
        }
        for (subject, entry) in &self.channels {
            let home = entry.home();
            let stream = subject.stream_name();
            let log = format!("{LOG_PREFIX}.{subject}");
            let get = format!("$JS.API.DIRECT.GET.{stream}");
            let readers = self.remote_accounts(entry, Access::Subscribe);
            let writers = self.remote_accounts(entry, Access::Publish);
            let home_lines = accounts.entry(home.clone()).or_default();
            if !readers.is_empty() {
                let to = quoted_list(&readers);
                home_lines
                    .exports
                    .push(format!("{{ stream: {log:?}, accounts: {to} }}"));
                home_lines
                    .exports
                    .push(format!("{{ service: {get:?}, accounts: {to} }}"));
            }
            if !writers.is_empty() {
                let to = quoted_list(&writers);
                home_lines.exports.push(format!(
                    "{{ service: {:?}, accounts: {to} }}",
                    subject.as_str()
                ));
            }
            for reader in &readers {
                let lines = accounts.entry(reader.clone()).or_default();
                lines.imports.push(format!(
                    "{{ stream: {{ account: {home:?}, subject: {log:?} }} }}"
                ));
                lines.imports.push(format!(
                    "{{ service: {{ account: {home:?}, subject: {get:?} }}, to: \"{GET_PREFIX}.{stream}\" }}"
                ));
            }
            for writer in &writers {
                accounts.entry(writer.clone()).or_default().imports.push(format!(
                    "{{ service: {{ account: {home:?}, subject: {:?} }}, to: \"{PUBLISH_PREFIX}.{subject}\" }}",
                    subject.as_str()
                ));
            }
        }
        accounts
    }

    /// Subjects `who` may not subscribe to: the channels it is being cut off from and cannot
    /// read again (a channel it never could read has no import, so needs no denial).
    fn denied_logs(&self, who: &Address) -> Vec<String> {
        self.cuts
            .iter()
            .filter(|(reader, s)| reader == who && !self.readable(s, who))
            .map(|(_, s)| format!("{LOG_PREFIX}.{s}"))
            .collect()
    }

    fn user_line(&self, who: &Address) -> String {
        let deny = self.denied_logs(who);
        let deny = if deny.is_empty() {
            String::new()
        } else {
            format!(", deny: {}", quoted_list(&deny))
        };
        format!(
            "{{ nkey: {:?}, permissions: {{ publish: {{ allow: [\"agora.>\", \"{PUBLISH_PREFIX}.>\", \"{GET_PREFIX}.>\", {JS_API_ALLOWED}, \"_INBOX.>\"] }}, subscribe: {{ allow: [\"{LOG_PREFIX}.>\", \"_INBOX.>\"]{deny} }} }} }}",
            user_nkey(who)
        )
    }

    /// The whole `nats-server` configuration.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# Generated by agora-channels from the channels' rights; do not edit."
        );
        let _ = writeln!(out, "listen: \"127.0.0.1:{}\"", self.port);
        let _ = writeln!(out, "http: \"127.0.0.1:{}\"", self.monitor_port);
        let _ = writeln!(out, "server_name: agora_channels");
        let _ = writeln!(out, "max_payload: {MAX_SERVER_PAYLOAD}");
        let _ = writeln!(
            out,
            "jetstream {{ store_dir: {:?}, max_memory_store: 64MB, max_file_store: 1GB }}",
            self.store_dir.display().to_string()
        );
        let _ = writeln!(out, "accounts {{");
        for (name, lines) in self.account_lines() {
            let users = if name == MARKET_ACCOUNT {
                format!("{{ nkey: {:?} }}", self.market_user)
            } else {
                self.principals
                    .iter()
                    .find(|p| account_name(p) == name)
                    .map(|p| self.user_line(p))
                    .unwrap_or_default()
            };
            let jetstream = if name == MARKET_ACCOUNT {
                "enabled".to_string()
            } else {
                format!("{{ max_streams: {} }}", self.quota)
            };
            let _ = writeln!(out, "  {name:?}: {{");
            let _ = writeln!(out, "    jetstream: {jetstream}");
            let _ = writeln!(out, "    users: [ {users} ]");
            let _ = writeln!(out, "    exports: [ {} ]", lines.exports.join(",\n      "));
            let _ = writeln!(out, "    imports: [ {} ]", lines.imports.join(",\n      "));
            let _ = writeln!(out, "  }}");
        }
        let _ = writeln!(out, "}}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directory() -> Directory {
        Directory {
            port: 4222,
            monitor_port: 8222,
            store_dir: "/tmp/js".into(),
            market_user: user_nkey(&Address([9; 32])),
            principals: BTreeSet::new(),
            quota: crate::DEFAULT_QUOTA,
            channels: BTreeMap::new(),
            cuts: BTreeSet::new(),
        }
    }

    #[test]
    fn user_nkeys_use_the_nats_encoding() {
        // Independently computed with the reference nkeys encoding (prefix U, CRC-16/XMODEM).
        let key = user_nkey(&Address([0; 32]));
        assert_eq!(key.len(), 56);
        assert!(key.starts_with('U'));
        assert_eq!(base32_nopad(b"foobar"), "MZXW6YTBOI");
        assert_eq!(crc16_xmodem(b"123456789"), 0x31C3);
    }

    #[test]
    fn exports_go_only_to_granted_accounts() {
        let [customer, supplier, outsider] = [1u8, 2, 3].map(|b| Address([b; 32]));
        let mut dir = directory();
        dir.principals.extend([customer, supplier, outsider]);
        let input = Subject::new("agora.stream.1.a.7.input").unwrap();
        let mut acl = ChannelAcl::new(customer, false);
        acl.subscribers.insert(supplier);
        dir.channels.insert(
            input.clone(),
            Entry {
                acl,
                spec: ChannelSpec::default(),
            },
        );
        let lines = dir.account_lines();
        let home = &lines[&account_name(&customer)];
        let to = format!("[{:?}]", account_name(&supplier));
        assert!(home
            .exports
            .iter()
            .any(|e| e.contains("stream: \"agora_log.") && e.contains(&to)));
        assert!(home
            .exports
            .iter()
            .all(|e| !e.contains(&account_name(&outsider))));
        assert!(!home
            .exports
            .iter()
            .any(|e| e.contains("service: \"agora.stream")));
        assert_eq!(lines[&account_name(&supplier)].imports.len(), 2);
        assert!(lines[&account_name(&outsider)].imports.is_empty());
        assert!(!dir.user_line(&outsider).contains("deny"));
        dir.cuts.insert((outsider, input.clone()));
        assert!(dir
            .user_line(&outsider)
            .contains("deny: [\"agora_log.agora.stream.1.a.7.input\"]"));
        dir.cuts.insert((supplier, input));
        assert!(!dir.user_line(&supplier).contains("deny"));
    }
}
