//! The stream market's channels and who may use them (spec §5.2), so agents name subjects the
//! same way on every bus and an allocation's rights are granted and withdrawn in one place.

use crate::{Access, Bus, BusError, ChannelSpec, Filter, Subject};
use agora_types::Address;

/// The market's public channels, prefix `agora.stream.<m>`.
pub fn market(m: u64) -> Subject {
    Subject::new(format!("agora.stream.{m}")).unwrap_or_else(|_| unreachable!("digits are a token"))
}

/// Every public channel of market `m` (offers, allocations, accepts), for one wildcard reader.
pub fn market_filter(m: u64) -> Filter {
    Filter::new(format!("agora.stream.{m}.>")).unwrap_or_else(|_| unreachable!("a valid filter"))
}

/// Every offers channel of market `m`, for an allocator's pool.
pub fn offers_filter(m: u64) -> Filter {
    Filter::new(format!("agora.stream.{m}.offers.>"))
        .unwrap_or_else(|_| unreachable!("a valid filter"))
}

/// Who posts an offer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Customer,
    Supplier,
    Mediator,
}

impl Role {
    fn token(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Supplier => "supplier",
            Role::Mediator => "mediator",
        }
    }
}

fn under(prefix: &Subject, tokens: &str) -> Subject {
    prefix
        .child(tokens)
        .unwrap_or_else(|_| unreachable!("catalogue tokens are plain"))
}

/// `.offers.<role>.<acct>`: public, written by that account.
pub fn offers(m: u64, role: Role, account: &Address) -> Subject {
    under(&market(m), &format!("offers.{}.{account}", role.token()))
}

/// `.allocations.<allocator>`: public, written by that allocator.
pub fn allocations(m: u64, allocator: &Address) -> Subject {
    under(&market(m), &format!("allocations.{allocator}"))
}

/// `.accept.<acct>`: public, written by that account.
pub fn accept(m: u64, account: &Address) -> Subject {
    under(&market(m), &format!("accept.{account}"))
}

/// The account a market subject names as its writer: `agora.stream.<m>.offers.<role>.<acct>`,
/// `.allocations.<acct>`, `.accept.<acct>`, and anything below them. Only that account may
/// create such a channel, so nobody opens (and so owns) another account's offer, allocation
/// or accept channel before it does.
fn named_account(subject: &Subject) -> Option<&str> {
    let tokens: Vec<&str> = subject.as_str().split('.').collect();
    match tokens.as_slice() {
        ["agora", "stream", _, "offers", _, acct, ..]
        | ["agora", "stream", _, "allocations" | "accept", acct, ..] => Some(acct),
        _ => None,
    }
}

/// Refuses `creator` opening a channel whose name belongs to another account.
pub(crate) fn check_creator(subject: &Subject, creator: &Address) -> Result<(), BusError> {
    match named_account(subject) {
        Some(acct) if acct != creator.to_string() => Err(BusError::NotOwner {
            caller: *creator,
            subject: subject.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The channels of allocation `a`, owned by its customer (A22: outputs too), except each
/// supplier's mediation evidence, which that supplier owns.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct AllocationChannels {
    /// Service descriptor: customer writes; suppliers and mediator read.
    pub app: Subject,
    /// Inputs: customer writes; suppliers and mediator read.
    pub input: Subject,
    /// One per slot: that slot's supplier writes; customer and mediator read, other suppliers
    /// do not.
    pub outputs: Vec<Subject>,
    /// Last seq: customer writes; suppliers read.
    pub cleanup: Subject,
    /// α mirror: customer writes; suppliers and mediator read.
    pub checklist: Subject,
    /// Test seqs for the mediator: customer writes; mediator reads.
    pub mediation_customer: Subject,
    /// One per slot: evidence from that slot's supplier for the mediator. Owned by that
    /// supplier ([`Self::open_evidence`]): in a dispute the customer is its adversary, so the
    /// customer can neither revoke, delete, fill nor read it.
    pub mediation_suppliers: Vec<Subject>,
}

impl AllocationChannels {
    /// The subjects of allocation `a` in market `m` with `replicas` slots.
    pub fn new(m: u64, a: u64, replicas: usize) -> Self {
        let base = under(&market(m), &format!("a.{a}"));
        Self {
            app: under(&base, "app"),
            input: under(&base, "input"),
            outputs: (0..replicas)
                .map(|i| under(&base, &format!("output.{i}")))
                .collect(),
            cleanup: under(&base, "cleanup"),
            checklist: under(&base, "checklist"),
            mediation_customer: under(&base, "mediation.customer"),
            mediation_suppliers: (0..replicas)
                .map(|i| under(&base, &format!("mediation.{i}")))
                .collect(),
        }
    }

    /// Every channel with the rights the catalogue gives beyond the owner's:
    /// (subject, [(who, access)]).
    fn rights(
        &self,
        suppliers: &[Address],
        mediator: Address,
    ) -> Vec<(&Subject, Vec<(Address, Access)>)> {
        let read = |who: &[Address]| {
            who.iter()
                .map(|w| (*w, Access::Subscribe))
                .collect::<Vec<_>>()
        };
        let mut all_readers = suppliers.to_vec();
        all_readers.push(mediator);
        let mut rights = vec![
            (&self.app, read(&all_readers)),
            (&self.input, read(&all_readers)),
            (&self.cleanup, read(suppliers)),
            (&self.checklist, read(&all_readers)),
            (&self.mediation_customer, read(&[mediator])),
        ];
        for (slot, supplier) in suppliers.iter().enumerate() {
            rights.push((
                &self.outputs[slot],
                vec![(*supplier, Access::Publish), (mediator, Access::Subscribe)],
            ));
        }
        rights
    }

    /// The evidence channel of `slot`.
    fn evidence(&self, slot: usize) -> Result<&Subject, BusError> {
        self.mediation_suppliers
            .get(slot)
            .ok_or_else(|| BusError::NotFound(format!("slot {slot} of {}", self.input)))
    }

    /// Creates `slot`'s evidence channel in its supplier's space, readable by the mediator, as
    /// that supplier does when the allocation is signed.
    pub async fn open_evidence(
        &self,
        supplier: &dyn Bus,
        slot: usize,
        mediator: Address,
        spec: ChannelSpec,
    ) -> Result<(), BusError> {
        supplier
            .create_with(self.evidence(slot)?, spec, &[(mediator, Access::Subscribe)])
            .await
    }

    /// Deletes `slot`'s evidence channel when retention ends (its supplier's call).
    pub async fn close_evidence(&self, supplier: &dyn Bus, slot: usize) -> Result<(), BusError> {
        supplier.delete(self.evidence(slot)?).await
    }

    /// Creates the channels and grants the catalogue's rights, as the customer does when the
    /// allocation is signed (or accepted, for a speculative start). `suppliers[i]` serves slot
    /// `i`; their number must be the replicas these channels were made for.
    pub async fn open(
        &self,
        customer: &dyn Bus,
        suppliers: &[Address],
        mediator: Address,
        spec: ChannelSpec,
    ) -> Result<(), BusError> {
        if suppliers.len() != self.outputs.len() {
            return Err(BusError::Backend(format!(
                "{} suppliers for {} slots",
                suppliers.len(),
                self.outputs.len()
            )));
        }
        for (subject, grants) in self.rights(suppliers, mediator) {
            customer.create_with(subject, spec, &grants).await?;
        }
        Ok(())
    }

    /// Deletes the customer's channels once the allocation closed and its retention ended
    /// (≥ a_end + T_reveal + T_post + T_med): every right goes with them. Each supplier closes
    /// its evidence channel with [`Self::close_evidence`].
    pub async fn close(&self, customer: &dyn Bus) -> Result<(), BusError> {
        let subjects = [
            &self.app,
            &self.input,
            &self.cleanup,
            &self.checklist,
            &self.mediation_customer,
        ]
        .into_iter()
        .chain(&self.outputs);
        for subject in subjects {
            customer.delete(subject).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_spec_catalogue() {
        let acct = Address([0xab; 32]);
        let hex = "ab".repeat(32);
        assert_eq!(
            offers(1, Role::Supplier, &acct).as_str(),
            format!("agora.stream.1.offers.supplier.{hex}")
        );
        assert_eq!(
            allocations(1, &acct).as_str(),
            format!("agora.stream.1.allocations.{hex}")
        );
        assert_eq!(
            accept(1, &acct).as_str(),
            format!("agora.stream.1.accept.{hex}")
        );
        let channels = AllocationChannels::new(1, 7, 2);
        assert_eq!(channels.outputs[1].as_str(), "agora.stream.1.a.7.output.1");
        assert_eq!(
            channels.mediation_customer.as_str(),
            "agora.stream.1.a.7.mediation.customer"
        );
        let all = market_filter(1);
        assert!(all.matches(&accept(1, &acct)) && all.matches(&channels.input));
        assert!(!all.matches(&accept(2, &acct)));
        let offers = offers_filter(1);
        assert!(offers.matches(&self::offers(1, Role::Customer, &acct)));
        assert!(!offers.matches(&accept(1, &acct)) && !offers.matches(&channels.input));
    }
}
