//! Calls, records and parameters of the stream market (spec sections 3.2, 9.2, 9.3).
//!
//! Units: time in ms on the block clock, rates in milli-inputs per second (so λΔ is an exact
//! integer), money in the bank's smallest unit (µ), prices in µ per million instructions.

use agora_types::{record, token, Address};
use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

pub type MarketId = u64;
pub type AllocId = u64;
/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// Upper bound of `max_replicas`: an allocation record (one slot per replica) stays small.
pub const REPLICAS_CAP: u32 = 64;
/// Upper bound of `max_checks`: a checklist (32 bytes per test) fits one transaction.
pub const CHECKS_CAP: u64 = 4_096;
/// Basis points of a whole (100 %).
pub const BPS: u64 = 10_000;

record! {
    /// A market's rules (spec 3.2), fixed at creation; the creator keeps no powers.
    pub struct StreamParams {
        /// ρ: a fine is ρ·π_s, and the customer commits to n = ⌈N/ρ⌉ tests.
        pub penalty_rate: u64,
        /// π_A, paid by the customer to the allocator when the allocation starts running.
        pub allocator_fee: u64,
        /// π_m, paid by the customer to the mediator for its availability.
        pub mediator_fee: u64,
        pub sign_timeout_ms: u64,
        pub reveal_timeout_ms: u64,
        pub post_timeout_ms: u64,
        pub mediation_timeout_ms: u64,
        /// τ_s: share (basis points) of F_s taken from a supplier that never posts.
        pub supplier_timeout_fine_bps: u64,
        /// τ_c: share (basis points) of F_c taken from a customer that never reveals.
        pub customer_timeout_fine_bps: u64,
        pub max_replicas: u32,
        pub max_checks: u64,
        pub max_open_per_allocator: u32,
    }

    /// The terms the allocator proposes and every party signs (seed's Ω, spec 3.3 L1).
    pub struct Terms {
        pub customer: Address,
        pub mediator: Address,
        /// Hash of the customer's off-ledger offer, kept for disputes.
        pub customer_offer: Hash,
        /// ψ: content hash of the service (module + configuration).
        pub service: Hash,
        pub start_ms: u64,
        pub end_ms: u64,
        /// λ in milli-inputs per second.
        pub rate_milli: u64,
        /// I_c: million instructions per input.
        pub instructions: u64,
        /// π_x: µ per million instructions.
        pub price: u64,
        /// r: suppliers hosting the same service.
        pub replicas: u32,
    }

    /// What the module derives from the terms and the market (spec 3.3), stored at creation.
    pub struct Derived {
        /// N = λΔ: inputs each replica processes.
        pub inputs: u64,
        /// π_s = I_c·π_x: price of one input.
        pub price_per_input: u64,
        /// V = N·π_s: what each replica earns.
        pub value: u64,
        /// n = ⌈N/ρ⌉: test outputs the customer commits to.
        pub checks: u64,
        /// F_s = ρ·π_s.
        pub supplier_fine: u64,
        /// F_c = r·ρ·π_s.
        pub customer_fine: u64,
        /// P_c = r·V + π_A + π_m, held from the customer at signing.
        pub escrow: u64,
        /// n·π_s, the mediator's pay from fines when it mediates.
        pub mediation_fee: u64,
    }

    /// One replica of an allocation.
    pub struct Slot {
        pub supplier: Address,
        /// Hash of the supplier's off-ledger offer.
        pub offer: Hash,
        /// The supplier's deposit F_s, once signed.
        pub hold: Option<u64>,
        /// γ_i as posted by this slot's supplier.
        pub gamma: Option<Hash>,
        /// SHA-256(γ_i) == Γ_i.
        pub matches: bool,
    }

    /// The mediator's report (L8).
    pub struct Mediation {
        pub requested_ms: u64,
        /// The slot whose mismatch requested it.
        pub requested_by: u32,
        /// Γ^m_i per slot, once the mediator posted.
        pub gamma_gammas: Option<Vec<Hash>>,
        pub checklist_ok: bool,
    }

    /// An allocation and its progress (spec 9.3).
    pub struct Allocation {
        pub market: MarketId,
        pub id: AllocId,
        pub allocator: Address,
        pub terms: Terms,
        pub derived: Derived,
        pub created_ms: u64,
        pub state: State,
        pub outcome: Option<Outcome>,
        /// Fixed when the last supplier is added.
        pub terms_hash: Option<Hash>,
        pub mediator_signed: bool,
        /// The customer's escrow P_c and deposit F_c, once signed.
        pub escrow_hold: Option<u64>,
        pub deposit_hold: Option<u64>,
        /// Γ_i per slot, from the customer's signature.
        pub commitments: Vec<Hash>,
        pub revealed: bool,
        pub slots: Vec<Slot>,
        pub mediation: Option<Mediation>,
    }

    /// A market and its allocation counter.
    pub struct StreamMarket {
        pub id: MarketId,
        pub params: StreamParams,
        pub next_allocation: AllocId,
    }

    /// The module's calls (spec 9.2: L0-L10).
    pub enum StreamCall {
        /// L0: anyone.
        CreateMarket(StreamParams),
        /// L1: anyone; the signer becomes the allocator.
        CreateAllocation { market: MarketId, terms: Terms },
        /// L2: the allocator; `done` on the last slot starts signing.
        AddSupplier { market: MarketId, allocation: AllocId, supplier: Address, offer_hash: Hash, done: bool },
        /// L3: the named mediator.
        MediatorSign { market: MarketId, allocation: AllocId, terms_hash: Hash },
        /// L4: the customer, with Γ_i for every slot; holds escrow and deposit.
        CustomerSign { market: MarketId, allocation: AllocId, terms_hash: Hash, commitments: Vec<Hash> },
        /// L5: a slot's supplier; holds its deposit.
        SupplierSign { market: MarketId, allocation: AllocId, terms_hash: Hash },
        /// L6: the customer reveals α of its n tests after a_end.
        RevealChecklist { market: MarketId, allocation: AllocId, hashes: Vec<Hash> },
        /// L7: a slot's supplier posts γ_i.
        PostOutput { market: MarketId, allocation: AllocId, gamma: Hash },
        /// L8: the mediator posts Γ^m_i per slot and whether the checklist was honest.
        PostMediation { market: MarketId, allocation: AllocId, gamma_gammas: Vec<Hash>, checklist_ok: bool },
        /// L9: anyone, once one of the closing conditions holds.
        ClearMarket { market: MarketId, allocation: AllocId },
        /// L10: anyone, once signing timed out.
        ReturnDeposits { market: MarketId, allocation: AllocId },
    }
}

token! {
    /// The four stored states of Fig. 4.3.
    pub enum State {
        Allocated,
        Signing,
        Running,
        Closed,
    }
    /// How an allocation closed (spec 3.6 cases A-F).
    pub enum Outcome {
        /// A: every slot posted a matching γ.
        Completed,
        /// B: the mediator reported.
        Mediated,
        /// C: the customer never revealed its checklist.
        CustomerTimedOut,
        /// D: some supplier never posted and nobody asked for mediation.
        SupplierTimedOut,
        /// E: mediation was requested and the mediator never reported.
        MediatorTimedOut,
        /// F: not everyone signed in time.
        Cancelled,
    }
    /// A signer's role.
    pub enum Role {
        Mediator,
        Customer,
        Supplier,
    }
}

impl Allocation {
    /// D_sign: everyone signs before this (and before the service window ends).
    pub fn sign_deadline(&self, p: &StreamParams) -> u64 {
        self.created_ms
            .saturating_add(p.sign_timeout_ms)
            .min(self.terms.end_ms)
    }

    /// D_reveal: the customer reveals its checklist before this.
    pub fn reveal_deadline(&self, p: &StreamParams) -> u64 {
        self.terms.end_ms.saturating_add(p.reveal_timeout_ms)
    }

    /// D_post: suppliers post γ before this.
    pub fn post_deadline(&self, p: &StreamParams) -> u64 {
        self.reveal_deadline(p).saturating_add(p.post_timeout_ms)
    }

    /// D_med: the mediator reports before this, once mediation was requested.
    pub fn mediation_deadline(&self, p: &StreamParams) -> Option<u64> {
        self.mediation
            .as_ref()
            .map(|m| m.requested_ms.saturating_add(p.mediation_timeout_ms))
    }

    pub fn all_posted(&self) -> bool {
        self.slots.iter().all(|s| s.gamma.is_some())
    }

    /// Whether the mediator, the customer and every supplier signed.
    pub fn all_signed(&self) -> bool {
        self.mediator_signed
            && self.escrow_hold.is_some()
            && self.slots.len() == self.terms.replicas as usize
            && self.slots.iter().all(|s| s.hold.is_some())
    }
}
