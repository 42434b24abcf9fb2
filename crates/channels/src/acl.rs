//! Who may do what on a channel: its owner, whether everyone may read it, and the principals
//! granted publish or subscribe. Both backends keep this same table; NATS also renders it as
//! accounts, exports and imports (spec §5.3.2).

use crate::{BusError, Subject};
use agora_types::Address;
use std::collections::BTreeSet;
use std::fmt;

/// A right on a channel.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Access {
    Publish,
    Subscribe,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Access::Publish => "publish on",
            Access::Subscribe => "subscribe to",
        })
    }
}

/// Largest payload a channel may accept, in bytes: what every backend carries (NATS adds the
/// envelope and headers below its own message limit).
pub const MAX_PAYLOAD: u32 = 1024 * 1024;

/// Channels one principal may own at once on a broker unless it was given another quota: each
/// costs the broker memory and, on NATS, a stream and a configuration reload for everyone.
pub const DEFAULT_QUOTA: usize = 4096;

/// Grants (publishers and subscribers together) one channel may hold: each is an export and
/// imports in the NATS configuration every change reloads, so their number is bounded too.
pub const MAX_GRANTS: usize = 1024;

/// How a channel is created.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ChannelSpec {
    /// Everyone may subscribe (the market's offer, allocation and accept channels). Fixed at
    /// creation: on NATS it decides which account holds the channel.
    pub public: bool,
    /// Messages kept at most; a publish beyond is refused with [`BusError::Full`]
    /// (back-pressure: the log never drops what readers have not seen, nor grows past this).
    pub max_msgs: u64,
    /// Largest payload accepted, in bytes.
    pub max_payload: u32,
}

impl Default for ChannelSpec {
    fn default() -> Self {
        Self {
            public: false,
            max_msgs: 100_000,
            max_payload: 64 * 1024,
        }
    }
}

impl ChannelSpec {
    pub fn public() -> Self {
        Self {
            public: true,
            ..Self::default()
        }
    }

    /// Refuses limits that bound nothing: no message (JetStream reads 0 as unlimited), or
    /// payloads larger than [`MAX_PAYLOAD`].
    pub fn check(&self) -> Result<(), BusError> {
        if self.max_msgs == 0 || self.max_msgs > i64::MAX as u64 {
            return Err(BusError::InvalidSpec(
                "max_msgs must be within 1..=i64::MAX",
            ));
        }
        if self.max_payload > MAX_PAYLOAD {
            return Err(BusError::InvalidSpec("max_payload exceeds MAX_PAYLOAD"));
        }
        Ok(())
    }
}

/// Whether `creator`, owning `owned` channels under a broker's `quota`, may create `subject`
/// with `spec`: the one admission rule of both backends.
pub(crate) fn admit(
    subject: &Subject,
    spec: &ChannelSpec,
    creator: &Address,
    owned: usize,
    quota: usize,
) -> Result<(), BusError> {
    crate::catalogue::check_creator(subject, creator)?;
    spec.check()?;
    if owned >= quota {
        return Err(BusError::Quota {
            who: *creator,
            max: quota,
        });
    }
    Ok(())
}

/// The rights on one channel.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChannelAcl {
    pub owner: Address,
    pub public: bool,
    pub publishers: BTreeSet<Address>,
    pub subscribers: BTreeSet<Address>,
}

impl ChannelAcl {
    pub fn new(owner: Address, public: bool) -> Self {
        Self {
            owner,
            public,
            publishers: BTreeSet::new(),
            subscribers: BTreeSet::new(),
        }
    }

    /// Whether `who` may exercise `access`; the owner always may.
    pub fn allows(&self, who: &Address, access: Access) -> bool {
        *who == self.owner
            || match access {
                Access::Publish => self.publishers.contains(who),
                Access::Subscribe => self.public || self.subscribers.contains(who),
            }
    }

    /// [`Self::allows`], as the error a refused call returns.
    pub fn check(&self, subject: &Subject, who: &Address, access: Access) -> Result<(), BusError> {
        if self.allows(who, access) {
            Ok(())
        } else {
            Err(BusError::Denied {
                who: *who,
                access,
                subject: subject.to_string(),
            })
        }
    }

    /// Refuses anyone but the owner: only it grants, revokes or deletes.
    pub fn check_owner(&self, subject: &Subject, caller: &Address) -> Result<(), BusError> {
        if *caller != self.owner {
            return Err(BusError::NotOwner {
                caller: *caller,
                subject: subject.to_string(),
            });
        }
        Ok(())
    }

    /// Grants (`on`) or revokes `access` for `who`, if `caller` owns the channel.
    pub fn set(
        &mut self,
        subject: &Subject,
        caller: &Address,
        who: Address,
        access: Access,
        on: bool,
    ) -> Result<(), BusError> {
        self.check_owner(subject, caller)?;
        let granted = self.publishers.len() + self.subscribers.len();
        let set = match access {
            Access::Publish => &mut self.publishers,
            Access::Subscribe => &mut self.subscribers,
        };
        if on && !set.contains(&who) && granted >= MAX_GRANTS {
            return Err(BusError::TooManyGrants {
                subject: subject.to_string(),
                max: MAX_GRANTS,
            });
        }
        if on {
            set.insert(who);
        } else {
            set.remove(&who);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_changes_rights() {
        let [owner, reader, other] = [1u8, 2, 3].map(|b| Address([b; 32]));
        let subject = Subject::new("a.b").unwrap();
        let mut acl = ChannelAcl::new(owner, false);
        assert!(acl.allows(&owner, Access::Publish));
        assert!(!acl.allows(&reader, Access::Subscribe));
        assert!(matches!(
            acl.set(&subject, &other, reader, Access::Subscribe, true),
            Err(BusError::NotOwner { .. })
        ));
        acl.set(&subject, &owner, reader, Access::Subscribe, true)
            .unwrap();
        assert!(acl.allows(&reader, Access::Subscribe));
        assert!(!acl.allows(&reader, Access::Publish));
        acl.set(&subject, &owner, reader, Access::Subscribe, false)
            .unwrap();
        assert!(acl.check(&subject, &reader, Access::Subscribe).is_err());
        assert!(ChannelAcl::new(owner, true).allows(&other, Access::Subscribe));
    }

    /// An owner cannot grant without bound (each grant grows the configuration every NATS
    /// reload rewrites); a repeated grant costs nothing and revoking frees a place.
    #[test]
    fn attack_granting_without_bound() {
        let owner = Address([0; 32]);
        let subject = Subject::new("agora.stream.1.a.7.input").unwrap();
        let mut acl = ChannelAcl::new(owner, false);
        let who = |i: usize| {
            let mut bytes = [1; 32];
            bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
            Address(bytes)
        };
        for i in 0..MAX_GRANTS {
            let access = if i % 2 == 0 {
                Access::Subscribe
            } else {
                Access::Publish
            };
            acl.set(&subject, &owner, who(i), access, true).unwrap();
        }
        let over = acl.set(&subject, &owner, who(MAX_GRANTS), Access::Subscribe, true);
        assert!(
            matches!(
                over,
                Err(BusError::TooManyGrants {
                    max: MAX_GRANTS,
                    ..
                })
            ),
            "{over:?}"
        );
        acl.set(&subject, &owner, who(0), Access::Subscribe, true)
            .unwrap();
        acl.set(&subject, &owner, who(0), Access::Subscribe, false)
            .unwrap();
        acl.set(&subject, &owner, who(MAX_GRANTS), Access::Subscribe, true)
            .unwrap();
    }
}
