//! A chain running the bank and compute modules through the executor, one transaction per
//! block at a time the test chooses. After every block it checks that the token supply is
//! conserved and that no hold outlives its offer or match.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

pub use agora_compute::examples::params;
use agora_compute::examples::{self as g4, Party, RUNTIME};
use agora_compute::{ComputeCall as C, *};
use agora_ledger::Executor;
use agora_testkit::TestChain;
use agora_types::Keypair;
use serde_json::json;

pub const CHAIN: &str = "compute-test";
pub const FUNDS: u64 = 1_000_000;
pub const M: MarketId = 0;

/// The actors of spec §9 G4: job creator, resource provider, mediator, directory, solver and
/// an outsider holding no role.
pub struct Actors {
    pub jc: Keypair,
    pub rp: Keypair,
    pub med: Keypair,
    pub dir: Keypair,
    pub solver: Keypair,
    pub other: Keypair,
}

impl Actors {
    pub fn new() -> Self {
        let k = Keypair::from_seed;
        Self {
            jc: k(1),
            rp: k(2),
            med: k(3),
            dir: k(4),
            solver: k(5),
            other: k(6),
        }
    }
    pub fn all(&self) -> [&Keypair; 6] {
        [
            &self.jc,
            &self.rp,
            &self.med,
            &self.dir,
            &self.solver,
            &self.other,
        ]
    }
}

agora_testkit::market_chain!(Chain, ComputeCall);

impl Chain {
    pub fn new(keys: &[&Keypair]) -> Self {
        let exec = Executor::in_memory(CHAIN).unwrap().with_module(Compute);
        Self(
            TestChain::new(exec, keys, FUNDS, ComputeCall::into_call)
                .after_every_block(|exec| View(exec).check_holds()),
        )
    }

    pub fn query(&self, path: &str, params: serde_json::Value) -> Option<serde_json::Value> {
        View(&self.exec).query(path, params)
    }

    pub fn market(&self) -> Option<Market> {
        View(&self.exec).market()
    }

    pub fn job_offer(&self, o: OfferId) -> Option<JobOffer> {
        View(&self.exec).job_offer(o)
    }

    pub fn resource_offer(&self, o: OfferId) -> Option<ResourceOffer> {
        View(&self.exec).resource_offer(o)
    }

    pub fn the_match(&self, id: MatchId) -> Option<Match> {
        View(&self.exec).the_match(id)
    }
}

/// Compute's records, read through its queries.
pub struct View<'a>(pub &'a Executor);

impl View<'_> {
    fn query(&self, path: &str, params: serde_json::Value) -> Option<serde_json::Value> {
        self.0.query("compute", path, &params).ok()
    }

    fn hold_exists(&self, id: u64) -> bool {
        self.0.query("bank", "hold", &json!({"id": id})).is_ok()
    }

    fn market(&self) -> Option<Market> {
        self.query("market", json!({"market": M}))
            .map(|v| serde_json::from_value(v).unwrap())
    }

    fn job_offer(&self, o: OfferId) -> Option<JobOffer> {
        self.query("job_offer", json!({"market": M, "offer": o}))
            .map(|v| serde_json::from_value(v).unwrap())
    }

    fn resource_offer(&self, o: OfferId) -> Option<ResourceOffer> {
        self.query("resource_offer", json!({"market": M, "offer": o}))
            .map(|v| serde_json::from_value(v).unwrap())
    }

    fn the_match(&self, id: MatchId) -> Option<Match> {
        self.query("match", json!({"market": M, "match": id}))
            .map(|v| serde_json::from_value(v).unwrap())
    }

    /// A canceled or expired offer and a closed match hold nothing; an open offer holds its
    /// deposit.
    pub fn check_holds(&self) {
        let Some(market) = self.market() else {
            return;
        };
        for o in 0..market.next_offer {
            let (state, hold) = match (self.job_offer(o), self.resource_offer(o)) {
                (Some(j), _) => (j.state, j.hold),
                (_, Some(r)) => (r.state, r.hold),
                _ => panic!("offer {o} missing"),
            };
            match state {
                OfferState::Open => assert!(self.hold_exists(hold), "open offer {o} lost its hold"),
                OfferState::Canceled | OfferState::Expired => {
                    assert!(!self.hold_exists(hold), "hold of ended offer {o} dangles")
                }
                OfferState::Matched(_) => {}
            }
        }
        for id in 0..market.next_match {
            let mt = self.the_match(id).unwrap();
            if matches!(mt.state, MatchState::Closed(_)) {
                assert!(
                    !self.hold_exists(mt.jc_hold),
                    "JC hold of match {id} dangles"
                );
                assert!(
                    !self.hold_exists(mt.rp_hold),
                    "RP hold of match {id} dangles"
                );
            }
        }
    }
}

pub const JOB_BYTES: u64 = g4::JOB_BYTES;
pub const DEADLINE: u64 = 100_000;

/// G4's job offer: L_I = 1,000, L_B = 500, P_I = 4, P_B = 2, i_J = 10, deposit = dmin_J.
pub fn job_offer(dir: &Keypair) -> ComputeCall {
    g4::job_offer(M, &dir.address(), DEADLINE)
}
/// G4's resource offer: p_I = 3, p_B = 1, caps above the limits, i_R = 10, deposit 300,000.
pub fn resource_offer() -> ComputeCall {
    g4::resource_offer(M)
}
/// The market with every role registered, trusting each other, and the runtime supported.
pub fn registered(a: &Actors) -> Chain {
    let mut chain = Chain::new(&a.all());
    chain.ok(&a.other, C::CreateMarket(params()));
    for (party, call) in g4::registrations(M, &a.med.address(), &a.dir.address()) {
        let key = match party {
            Party::JobCreator => &a.jc,
            Party::ResourceProvider => &a.rp,
            Party::Mediator => &a.med,
            Party::Directory => &a.dir,
        };
        chain.ok(key, call);
    }
    chain
}
pub fn trust(kind: TrustKind, target: &Keypair, trusted: bool) -> ComputeCall {
    C::SetTrust {
        market: M,
        kind,
        target: target.address(),
        trusted,
    }
}

pub fn runtime(supported: bool) -> ComputeCall {
    C::SetRuntime {
        market: M,
        runtime: RUNTIME,
        supported,
    }
}

/// Job offer 0 and resource offer 1, posted.
pub fn offered(a: &Actors) -> Chain {
    let mut chain = registered(a);
    chain.ok(&a.jc, job_offer(&a.dir));
    chain.ok(&a.rp, resource_offer());
    chain
}

pub fn post_match(a: &Actors) -> ComputeCall {
    match_via(&a.med)
}

/// G4's match (job offer 0, resource offer 1) through `mediator`.
pub fn match_via(mediator: &Keypair) -> ComputeCall {
    g4::post_match(M, &mediator.address())
}
/// Match 0 of job offer 0 and resource offer 1, by the solver, awaiting its result.
pub fn matched(a: &Actors) -> Chain {
    let mut chain = offered(a);
    chain.ok(&a.solver, post_match(a));
    chain
}

/// G4's result: Completed, I = 800, output of 100 bytes so that B = 300.
pub fn completed(instructions: u64, output: u8) -> ExecReport {
    ExecReport {
        status: ResultStatus::Completed,
        output: Some([output; 32]),
        output_bytes: 100,
        instructions,
    }
}

pub fn failed(status: ResultStatus, instructions: u64) -> ExecReport {
    ExecReport {
        status,
        output: None,
        output_bytes: 0,
        instructions,
    }
}

pub fn post_result(report: ExecReport) -> ComputeCall {
    C::PostResult {
        market: M,
        match_id: 0,
        report,
    }
}

pub const ACCEPT: ComputeCall = ComputeCall::AcceptResult {
    market: M,
    match_id: 0,
};
pub const TIMEOUT: ComputeCall = ComputeCall::Timeout {
    market: M,
    match_id: 0,
};
pub const MEDIATION_TIMEOUT: ComputeCall = ComputeCall::MediationTimeout {
    market: M,
    match_id: 0,
};

pub fn reject(reason: RejectReason) -> ComputeCall {
    C::RejectResult {
        market: M,
        match_id: 0,
        reason,
    }
}

pub fn mediate(verdict: Verdict, execution: Option<ExecReport>) -> ComputeCall {
    C::PostMediationResult {
        market: M,
        match_id: 0,
        verdict,
        execution,
    }
}

/// Match 0 with `report` posted, awaiting the JC.
pub fn resulted(a: &Actors, report: ExecReport) -> Chain {
    let mut chain = matched(a);
    chain.ok(&a.rp, post_result(report));
    chain
}

/// Match 0 with `report` rejected for `reason`, awaiting the mediator.
pub fn rejected(a: &Actors, report: ExecReport, reason: RejectReason) -> Chain {
    let mut chain = resulted(a, report);
    chain.ok(&a.jc, reject(reason));
    chain
}

/// Net change of every actor and of the sink since genesis.
pub fn nets(chain: &Chain, a: &Actors) -> [i64; 6] {
    let d = |k: &Keypair| chain.balance(k) as i64 - FUNDS as i64;
    [
        d(&a.jc),
        d(&a.rp),
        d(&a.med),
        d(&a.dir),
        d(&a.solver),
        chain.balance_of(&sink()) as i64,
    ]
}
