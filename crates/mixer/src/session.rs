//! One member's side of a mixing session: runs the steps of the crate docs until a run
//! completes or fewer than the minimum of members are left.

use crate::{
    judge::{confirm_digest, judge, Evidence, Fault, Verdict},
    message::{Accusation, Body, Signed, ANNOUNCE, BLAME, CONFIRM, ECHO, FINAL, SHUFFLE, SIGN},
    net::Net,
    onion, MixError,
};
use agora_types::{Address, Keypair};
use rand::{rngs::OsRng, seq::SliceRandom};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::Duration,
};
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// The fewest members a run needs unless configured otherwise: with two, each knows the
/// other's output, so a member that got everyone else excluded would link the last one.
pub const DEFAULT_MIN_MEMBERS: usize = 3;

/// What all members of a session agree on before it starts.
#[derive(Clone, Debug)]
pub struct MixConfig {
    /// Unique per session (e.g. a hash of the group, the assets and a counter): binds every
    /// message and signature to this session.
    pub session: [u8; 32],
    /// The members' public accounts, in any order.
    pub members: Vec<Address>,
    /// How long a member waits for one step of another before accusing it. Member i of a run
    /// waits i steps for its predecessor's ciphertexts, since those come after i steps.
    pub step_timeout: Duration,
    /// Domain of the statement signatures (the ledger checks them under the same one).
    pub statement_namespace: Vec<u8>,
    /// The fewest members a run may have (never fewer than 2): below it the session ends
    /// with [`MixError::TooFewMembers`] instead of a mix whose anonymity set is too small.
    pub min_members: usize,
}

/// A member excluded from the session and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exclusion {
    pub member: Address,
    pub run: u32,
    pub fault: Fault,
}

/// A run whose statement this member signed: should all its signatures reach the ledger
/// (a member that withheld its own may submit it), the assets go to its outputs, and
/// `output` is this member's one.
#[derive(Clone, Debug)]
pub struct SignedRun {
    pub run: u32,
    /// The run's members (sorted): the statement's inputs.
    pub inputs: Vec<Address>,
    /// The run's outputs, sorted.
    pub outputs: Vec<Address>,
    pub output: Keypair,
}

/// A completed session, as this member sees it.
#[derive(Clone, Debug)]
pub struct MixOutcome {
    /// The run that completed.
    pub run: u32,
    /// Members of that run (sorted): the statement's inputs.
    pub inputs: Vec<Address>,
    /// The shuffled outputs, sorted: their order says nothing about their owners.
    pub outputs: Vec<Address>,
    /// This member's anonymous account.
    pub output: Keypair,
    /// Each input's signature of the statement, in the order of `inputs`.
    pub signatures: Vec<Vec<u8>>,
    pub excluded: Vec<Exclusion>,
    /// Earlier runs this member signed that failed: keep their keys until the ledger took
    /// one statement of the session, since it takes whichever comes first.
    pub signed: Vec<SignedRun>,
}

/// A session that did not complete, with the runs this member signed on the way: their
/// statements may still reach the ledger, so their keys must be kept.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct MixFailure {
    pub error: MixError,
    pub signed: Vec<SignedRun>,
}

/// Runs the session for `me` over `net`. `statement(run, inputs, outputs)` is the message every
/// member signs once a run's outputs are known; it must name the run, so that the ledger can
/// tell the runs of a session apart and take at most one of them.
pub async fn mix<N: Net>(
    cfg: &MixConfig,
    me: &Keypair,
    net: &mut N,
    statement: impl Fn(u32, &[Address], &[Address]) -> Vec<u8> + Sync,
) -> Result<MixOutcome, MixFailure> {
    let mut member = Member {
        cfg,
        me,
        net,
        statement: &statement,
        inbox: BTreeMap::new(),
        signed: Vec::new(),
        echoed: None,
    };
    match member.session().await {
        Ok(mut outcome) => {
            member.signed.retain(|s| s.run != outcome.run);
            outcome.signed = member.signed;
            Ok(outcome)
        }
        Err(error) => Err(MixFailure {
            error,
            signed: member.signed,
        }),
    }
}

impl<N: Net> Member<'_, N> {
    /// Runs 0, 1, ... until one completes; each failed run excludes at least one member.
    async fn session(&mut self) -> Result<MixOutcome, MixError> {
        let mut members = self.cfg.members.clone();
        members.sort();
        members.dedup();
        if !members.contains(&self.me.address()) {
            return Err(MixError::NotAMember);
        }
        if members.len() > usize::from(u16::MAX) {
            return Err(MixError::TooManyMembers(members.len()));
        }
        let min = self.cfg.min_members.max(2);
        let mut excluded = Vec::new();
        let mut run = 0u32;
        loop {
            if members.len() < min {
                return Err(MixError::TooFewMembers {
                    left: members.len(),
                    min,
                });
            }
            match self.run(run, &members).await? {
                Ok((output, outputs, signatures)) => {
                    info!(run, members = members.len(), "mix complete");
                    return Ok(MixOutcome {
                        run,
                        inputs: members,
                        outputs,
                        output,
                        signatures,
                        excluded,
                        signed: Vec::new(),
                    });
                }
                Err(faults) if faults.is_empty() => return Err(MixError::NoProgress(run)),
                Err(faults) => {
                    for (k, fault) in faults {
                        warn!(run, member = %members[k], ?fault, "member excluded");
                        if members[k] == self.me.address() {
                            return Err(MixError::Excluded(fault));
                        }
                        excluded.push(Exclusion {
                            member: members[k],
                            run,
                            fault,
                        });
                    }
                    members.retain(|m| !excluded.iter().any(|x| x.member == *m));
                }
            }
            // Drop what belongs to finished runs.
            self.inbox.retain(|(r, _, _), _| *r > run);
            run = run.checked_add(1).ok_or(MixError::NoProgress(run))?;
        }
    }
}

/// How a wait ended.
enum Wait {
    Done,
    /// Someone sent a blame for this run.
    Blamed,
    /// These positions did not send in time.
    Missing(Vec<usize>),
}

type RunResult = Result<(Keypair, Vec<Address>, Vec<Vec<u8>>), BTreeMap<usize, Fault>>;

/// The statement of a run for its inputs and sorted outputs.
type Statement<'a> = &'a (dyn Fn(u32, &[Address], &[Address]) -> Vec<u8> + Sync);

struct Member<'a, N> {
    cfg: &'a MixConfig,
    me: &'a Keypair,
    net: &'a mut N,
    statement: Statement<'a>,
    /// Valid messages by (run, sender, kind); more than one per key only if someone equivocated.
    inbox: BTreeMap<(u32, Address, u8), Vec<Signed>>,
    /// The runs this member signed.
    signed: Vec<SignedRun>,
    /// The last run whose blames this member echoed.
    echoed: Option<u32>,
}

impl<N: Net> Member<'_, N> {
    fn file(&mut self, msg: Signed) {
        let slot = self
            .inbox
            .entry((msg.run, msg.from, msg.body.kind()))
            .or_default();
        if !slot.contains(&msg) {
            slot.push(msg);
        }
    }

    /// Files a member's message. The blames of members an echo carries count as received; a
    /// blame that comes by itself after this member echoed does not count: the others may
    /// never see it.
    fn take(&mut self, msg: Signed, members: &[Address]) {
        let session = self.cfg.session;
        match &msg.body {
            Body::Blame { .. } if self.echoed.is_some_and(|r| msg.run <= r) => {
                debug!(run = msg.run, from = %msg.from, "late blame dropped");
            }
            Body::Echo { blames } => {
                let fresh: Vec<Signed> = blames
                    .iter()
                    .filter(|b| {
                        members.contains(&b.from)
                            && !self
                                .inbox
                                .get(&(msg.run, b.from, BLAME))
                                .is_some_and(|held| held.contains(b))
                            && b.is_valid_blame(&session, msg.run)
                    })
                    .cloned()
                    .collect();
                for b in fresh {
                    self.file(b);
                }
                self.file(msg);
            }
            _ => self.file(msg),
        }
    }

    fn get(&self, run: u32, from: &Address, kind: u8) -> Option<&Body> {
        self.inbox
            .get(&(run, *from, kind))
            .and_then(|v| v.first())
            .map(|m| &m.body)
    }

    async fn send(&mut self, run: u32, to: &[Address], body: Body) {
        let msg = Signed::new(self.me, self.cfg.session, run, body);
        let bytes = msg.encode();
        for peer in to {
            if *peer != self.me.address() {
                self.net.send(peer, &bytes).await;
            }
        }
        self.file(msg);
    }

    /// The messages of step `kind` of `run`, from anyone.
    fn messages(&self, run: u32, kind: u8) -> impl Iterator<Item = &Signed> {
        self.inbox
            .iter()
            .filter(move |((r, _, k), _)| *r == run && *k == kind)
            .flat_map(|(_, v)| v.iter())
    }

    /// Takes messages in until `kind` arrived from every one of `from` or the deadline passed;
    /// with `stop_on_blame`, also until anyone blamed. Arrival comes first: a member sends
    /// whatever it can before it answers a blame, so it is never accused of silence for a
    /// message it could have sent.
    async fn wait(
        &mut self,
        run: u32,
        members: &[Address],
        from: &[usize],
        kind: u8,
        deadline: Instant,
        stop_on_blame: bool,
    ) -> Wait {
        loop {
            let missing: Vec<usize> = from
                .iter()
                .copied()
                .filter(|&k| self.get(run, &members[k], kind).is_none())
                .collect();
            if missing.is_empty() {
                return Wait::Done;
            }
            if stop_on_blame && self.messages(run, BLAME).next().is_some() {
                return Wait::Blamed;
            }
            if !self.receive(members, deadline).await {
                return Wait::Missing(missing);
            }
        }
    }

    /// Files the next valid message of this session from a member; false once the deadline
    /// passed or the links closed.
    async fn receive(&mut self, members: &[Address], deadline: Instant) -> bool {
        match tokio::time::timeout_at(deadline, self.net.recv()).await {
            Ok(Some(bytes)) => {
                match Signed::decode(&bytes) {
                    Some(msg) if msg.session == self.cfg.session && members.contains(&msg.from) => {
                        self.take(msg, members)
                    }
                    _ => debug!("dropped a message that is not a valid one of this session"),
                }
                true
            }
            Ok(None) | Err(_) => false,
        }
    }

    async fn run(&mut self, run: u32, members: &[Address]) -> Result<RunResult, MixError> {
        let n = members.len();
        let session = self.cfg.session;
        let step = self.cfg.step_timeout;
        let me = members
            .iter()
            .position(|m| *m == self.me.address())
            .ok_or(MixError::NotAMember)?;
        let others: Vec<usize> = (0..n).filter(|&k| k != me).collect();
        let (dk, ek) = onion::keypair();
        let output = Keypair::generate(&mut OsRng);

        // 1. Announcement: every key must be one we can encrypt to.
        self.send(run, members, Body::Announce { ek }).await;
        let start = Instant::now();
        if let Some(faults) = self
            .check(run, members, &others, ANNOUNCE, start + step, dk)
            .await
        {
            return Ok(Err(faults));
        }
        let eks: Vec<[u8; 32]> = members
            .iter()
            .map(|m| match self.get(run, m, ANNOUNCE) {
                Some(Body::Announce { ek }) => *ek,
                _ => [0; 32],
            })
            .collect();
        let bad_keys = accuse((0..n).filter(|&k| !onion::valid_key(&eks[k])), ANNOUNCE);
        if !bad_keys.is_empty() {
            return Ok(Err(self
                .blame(run, members, bad_keys, Some(dk))
                .await
                .faults));
        }

        // 2. Shuffling.
        let start = Instant::now();
        let mut layers = Vec::with_capacity(me + 1);
        if me > 0 {
            let pred = [me - 1];
            if let Some(f) = self
                .check(run, members, &pred, SHUFFLE, start + step * me as u32, dk)
                .await
            {
                return Ok(Err(f));
            }
            let received = match self.get(run, &members[me - 1], SHUFFLE) {
                Some(Body::Shuffle { layers }) => layers.clone(),
                _ => Vec::new(),
            };
            let stripped: Option<Vec<Vec<u8>>> = received
                .iter()
                .map(|c| onion::open(&session, run, me, &dk, c))
                .collect();
            let valid = match &stripped {
                Some(s) => {
                    let distinct: BTreeSet<_> = s.iter().collect();
                    received.len() == me
                        && distinct.len() == me
                        && (me + 1 < n || s.iter().all(|p| p.len() == 32))
                }
                None => false,
            };
            if !valid {
                let accused = accuse([me - 1], SHUFFLE);
                return Ok(Err(self
                    .blame(run, members, accused, Some(dk))
                    .await
                    .faults));
            }
            layers = stripped.unwrap_or_default();
        }
        layers.push(onion::wrap(&session, run, me, &eks, &output.address().0)?);
        layers.shuffle(&mut OsRng);
        let outputs: Vec<Address> = if me + 1 < n {
            self.send(run, &members[me + 1..me + 2], Body::Shuffle { layers })
                .await;
            let last = [n - 1];
            if let Some(f) = self
                .check(run, members, &last, FINAL, start + step * n as u32, dk)
                .await
            {
                return Ok(Err(f));
            }
            match self.get(run, &members[n - 1], FINAL) {
                Some(Body::Final { outputs }) => outputs.clone(),
                _ => Vec::new(),
            }
        } else {
            let outputs: Vec<Address> = layers
                .iter()
                .filter_map(|p| <[u8; 32]>::try_from(p.as_slice()).ok().map(Address))
                .collect();
            self.send(
                run,
                members,
                Body::Final {
                    outputs: outputs.clone(),
                },
            )
            .await;
            outputs
        };

        // 3. Check: my output is there, and we all saw the same keys and list.
        let distinct: BTreeSet<_> = outputs.iter().collect();
        if outputs.len() != n || distinct.len() != n || !outputs.contains(&output.address()) {
            let accused = accuse([n - 1], FINAL);
            return Ok(Err(self
                .blame(run, members, accused, Some(dk))
                .await
                .faults));
        }
        let digest = confirm_digest(&session, run, &eks, &outputs);
        self.send(run, members, Body::Confirm { digest }).await;
        if let Some(f) = self
            .check(run, members, &others, CONFIRM, Instant::now() + step, dk)
            .await
        {
            return Ok(Err(f));
        }
        let wrong = accuse(
            others.iter().copied().filter(|&k| {
                !matches!(self.get(run, &members[k], CONFIRM),
                    Some(Body::Confirm { digest: d }) if *d == digest)
            }),
            CONFIRM,
        );
        if !wrong.is_empty() {
            return Ok(Err(self.blame(run, members, wrong, Some(dk)).await.faults));
        }

        // 4. Signing. From here on the run key stays secret: the outputs are public, and this
        // run's statement may reach the ledger, so its key is kept too.
        let mut sorted = outputs;
        sorted.sort();
        let text = (self.statement)(run, members, &sorted);
        let ns = self.cfg.statement_namespace.clone();
        let signature = self.me.sign_bytes(&ns, &text);
        self.signed.push(SignedRun {
            run,
            inputs: members.to_vec(),
            outputs: sorted.clone(),
            output: output.clone(),
        });
        self.send(run, members, Body::Sign { signature }).await;
        let waited = self
            .wait(run, members, &others, SIGN, Instant::now() + step, true)
            .await;
        let signed = |this: &Self, k: usize| -> Option<Vec<u8>> {
            let all = this.inbox.get(&(run, members[k], SIGN))?;
            all.iter().find_map(|m| match &m.body {
                Body::Sign { signature } if members[k].verifies(&ns, &text, signature) => {
                    Some(signature.clone())
                }
                _ => None,
            })
        };
        let all: Option<Vec<Vec<u8>>> = (0..n).map(|k| signed(self, k)).collect();
        // Someone who blamed lacks a signature: answer, so that it completes too.
        let blamed = self.messages(run, BLAME).next().is_some();
        if let (Wait::Done, Some(signatures), false) = (&waited, all, blamed) {
            return Ok(Ok((output, sorted, signatures)));
        }
        // Blames carry everyone's signatures: if they hold them all, the run is complete.
        let accused = accuse((0..n).filter(|&k| signed(self, k).is_none()), SIGN);
        let verdict = self.blame(run, members, accused, None).await;
        Ok(match verdict.signatures {
            Some(signatures) => Ok((output, sorted, signatures)),
            None => Err(verdict.faults),
        })
    }

    /// Waits for a step before signing; on a blame or a deadline, runs the blame phase (run
    /// key revealed) and returns its verdict.
    async fn check(
        &mut self,
        run: u32,
        members: &[Address],
        from: &[usize],
        kind: u8,
        deadline: Instant,
        dk: [u8; 32],
    ) -> Option<BTreeMap<usize, Fault>> {
        let accused = match self.wait(run, members, from, kind, deadline, true).await {
            Wait::Done => return None,
            Wait::Blamed => Vec::new(),
            Wait::Missing(missing) => accuse(missing, kind),
        };
        Some(self.blame(run, members, accused, Some(dk)).await.faults)
    }

    /// Step 5: blame (or answer a blame), echo every blame held, and judge them.
    async fn blame(
        &mut self,
        run: u32,
        members: &[Address],
        accused: Vec<Accusation>,
        dk: Option<[u8; 32]>,
    ) -> Verdict {
        debug!(run, ?accused, revealing = dk.is_some(), "blame");
        let session = self.cfg.session;
        if self.get(run, &self.me.address(), BLAME).is_none() {
            let answers = match accused.is_empty() {
                true => self.messages(run, BLAME).next().map(Signed::digest),
                false => None,
            };
            let evidence: Vec<Signed> = self
                .inbox
                .iter()
                .filter(|((r, _, kind), _)| *r == run && *kind < BLAME)
                .flat_map(|(_, v)| v.iter().cloned())
                .collect();
            let body = Body::Blame {
                accused,
                answers,
                dk,
                evidence,
            };
            self.send(run, members, body).await;
        }
        let all: Vec<usize> = (0..members.len()).collect();
        let step = self.cfg.step_timeout;
        self.wait(run, members, &all, BLAME, Instant::now() + step, false)
            .await;
        // Echo what is held now; from here on only blames inside echoes count.
        let echo = Body::Echo {
            blames: self.messages(run, BLAME).cloned().collect(),
        };
        self.echoed = Some(run);
        self.send(run, members, echo).await;
        self.wait(run, members, &all, ECHO, Instant::now() + step, false)
            .await;
        let blames: Vec<Signed> = self.messages(run, BLAME).cloned().collect();
        let statement = |outputs: &[Address]| (self.statement)(run, members, outputs);
        judge(&Evidence {
            session,
            run,
            members,
            blames: blames.iter().collect(),
            statement_namespace: &self.cfg.statement_namespace,
            statement: &statement,
        })
    }
}

/// Accusations of `positions` for step `kind`.
fn accuse(positions: impl IntoIterator<Item = usize>, kind: u8) -> Vec<Accusation> {
    positions
        .into_iter()
        .map(|k| Accusation {
            // Sessions have at most u16::MAX members.
            position: u16::try_from(k).unwrap_or(u16::MAX),
            kind,
        })
        .collect()
}
