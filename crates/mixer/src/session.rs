//! One member's side of a mixing session: runs the steps of the crate docs until a run
//! completes or fewer than two members are left.

use crate::{
    judge::{confirm_digest, judge, Evidence, Fault},
    message::{Accusation, Body, Signed},
    net::Net,
    onion, MixError,
};
use agora_types::{Address, Keypair};
use rand::{rngs::OsRng, seq::SliceRandom};
use std::{collections::BTreeMap, time::Duration};
use tokio::time::Instant;
use tracing::{debug, info, warn};

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
}

/// A member excluded from the session and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exclusion {
    pub member: Address,
    pub run: u32,
    pub fault: Fault,
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
}

/// Runs the session for `me` over `net`. `statement(inputs, outputs)` is the message every
/// member signs once the outputs are known.
pub async fn mix<N: Net>(
    cfg: &MixConfig,
    me: &Keypair,
    net: &mut N,
    statement: impl Fn(&[Address], &[Address]) -> Vec<u8>,
) -> Result<MixOutcome, MixError> {
    let mut members = cfg.members.clone();
    members.sort();
    members.dedup();
    if !members.contains(&me.address()) {
        return Err(MixError::NotAMember);
    }
    let mut member = Member {
        cfg,
        me,
        net,
        inbox: BTreeMap::new(),
    };
    let mut excluded = Vec::new();
    for run in 0u32.. {
        if members.len() < 2 {
            return Err(MixError::TooFewMembers(members.len()));
        }
        match member.run(run, &members, &statement).await? {
            Ok((output, outputs, signatures)) => {
                info!(run, members = members.len(), "mix complete");
                return Ok(MixOutcome {
                    run,
                    inputs: members,
                    outputs,
                    output,
                    signatures,
                    excluded,
                });
            }
            Err(faults) => {
                for (k, fault) in faults {
                    warn!(run, member = %members[k], ?fault, "member excluded");
                    if members[k] == me.address() {
                        return Err(MixError::Excluded(fault));
                    }
                    excluded.push(Exclusion {
                        member: members[k],
                        run,
                        fault,
                    });
                }
                let gone: Vec<Address> = excluded.iter().map(|x| x.member).collect();
                members.retain(|m| !gone.contains(m));
            }
        }
        // Drop what belongs to finished runs.
        member.inbox.retain(|(r, _, _), _| *r > run);
    }
    Err(MixError::TooFewMembers(0))
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

struct Member<'a, N> {
    cfg: &'a MixConfig,
    me: &'a Keypair,
    net: &'a mut N,
    /// Valid messages by (run, sender, kind); more than one per key only if someone equivocated.
    inbox: BTreeMap<(u32, Address, u8), Vec<Signed>>,
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

    /// Takes messages in until `kind` arrived from every one of `from` or the deadline passed.
    async fn wait(
        &mut self,
        run: u32,
        members: &[Address],
        from: &[usize],
        kind: u8,
        deadline: Instant,
    ) -> Wait {
        loop {
            if members.iter().any(|m| self.get(run, m, 5).is_some()) {
                return Wait::Blamed;
            }
            let missing: Vec<usize> = from
                .iter()
                .copied()
                .filter(|&k| self.get(run, &members[k], kind).is_none())
                .collect();
            if missing.is_empty() {
                return Wait::Done;
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
                        self.file(msg)
                    }
                    _ => debug!("dropped a message that is not a valid one of this session"),
                }
                true
            }
            Ok(None) | Err(_) => false,
        }
    }

    async fn run(
        &mut self,
        run: u32,
        members: &[Address],
        statement: &impl Fn(&[Address], &[Address]) -> Vec<u8>,
    ) -> Result<RunResult, MixError> {
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

        // 1. Announcement.
        self.send(run, members, Body::Announce { ek }).await;
        let start = Instant::now();
        if let Some(faults) = self
            .check(run, members, &others, 0, start + step, Some(dk))
            .await
        {
            return Ok(Err(faults));
        }
        let eks: Vec<[u8; 32]> = members
            .iter()
            .map(|m| match self.get(run, m, 0) {
                Some(Body::Announce { ek }) => *ek,
                _ => [0; 32],
            })
            .collect();

        // 2. Shuffling.
        let start = Instant::now();
        let mut layers = Vec::with_capacity(me + 1);
        if me > 0 {
            let pred = [me - 1];
            if let Some(f) = self
                .check(run, members, &pred, 1, start + step * me as u32, Some(dk))
                .await
            {
                return Ok(Err(f));
            }
            let received = match self.get(run, &members[me - 1], 1) {
                Some(Body::Shuffle { layers }) => layers.clone(),
                _ => Vec::new(),
            };
            let stripped: Option<Vec<Vec<u8>>> = received
                .iter()
                .map(|c| onion::open(&session, run, me, &dk, c))
                .collect();
            let valid = match &stripped {
                Some(s) => {
                    let distinct: std::collections::BTreeSet<_> = s.iter().collect();
                    received.len() == me
                        && distinct.len() == me
                        && (me + 1 < n || s.iter().all(|p| p.len() == 32))
                }
                None => false,
            };
            if !valid {
                let accused = vec![Accusation {
                    position: (me - 1) as u16,
                    kind: 1,
                }];
                return Ok(Err(self.blame(run, members, accused, Some(dk)).await));
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
                .check(run, members, &last, 2, start + step * n as u32, Some(dk))
                .await
            {
                return Ok(Err(f));
            }
            match self.get(run, &members[n - 1], 2) {
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
        let distinct: std::collections::BTreeSet<_> = outputs.iter().collect();
        if outputs.len() != n || distinct.len() != n || !outputs.contains(&output.address()) {
            let accused = vec![Accusation {
                position: (n - 1) as u16,
                kind: 2,
            }];
            return Ok(Err(self.blame(run, members, accused, Some(dk)).await));
        }
        let digest = confirm_digest(&session, run, &eks, &outputs);
        self.send(run, members, Body::Confirm { digest }).await;
        if let Some(f) = self
            .check(run, members, &others, 3, Instant::now() + step, Some(dk))
            .await
        {
            return Ok(Err(f));
        }
        let wrong: Vec<Accusation> = others
            .iter()
            .filter(|&&k| !matches!(self.get(run, &members[k], 3), Some(Body::Confirm { digest: d }) if *d == digest))
            .map(|&k| Accusation { position: k as u16, kind: 3 })
            .collect();
        if !wrong.is_empty() {
            return Ok(Err(self.blame(run, members, wrong, Some(dk)).await));
        }

        // 4. Signing. From here on the run key stays secret: the outputs are public.
        let mut sorted = outputs;
        sorted.sort();
        let text = statement(members, &sorted);
        let ns = self.cfg.statement_namespace.clone();
        let signature = self.me.sign_bytes(&ns, &text);
        self.send(run, members, Body::Sign { signature }).await;
        let waited = self
            .wait(run, members, &others, 4, Instant::now() + step)
            .await;
        let signed = |this: &Self, k: usize| -> Option<Vec<u8>> {
            let all = this.inbox.get(&(run, members[k], 4))?;
            all.iter().find_map(|m| match &m.body {
                Body::Sign { signature } if members[k].verifies(&ns, &text, signature) => {
                    Some(signature.clone())
                }
                _ => None,
            })
        };
        if !matches!(waited, Wait::Done) || (0..n).any(|k| signed(self, k).is_none()) {
            let accused: Vec<Accusation> = (0..n)
                .filter(|&k| signed(self, k).is_none())
                .map(|k| Accusation {
                    position: k as u16,
                    kind: 4,
                })
                .collect();
            // Blames carry everyone's signatures: whoever got all of them completes.
            self.blame(run, members, accused, None).await;
            for e in self
                .inbox
                .iter()
                .filter(|((r, _, kind), _)| *r == run && *kind == 5)
                .flat_map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
            {
                if let Body::Blame { evidence, .. } = e.body {
                    for m in evidence.into_iter().filter(|m| m.body.kind() == 4) {
                        self.file(m);
                    }
                }
            }
            let missing: BTreeMap<usize, Fault> = (0..n)
                .filter(|&k| signed(self, k).is_none())
                .map(|k| (k, Fault::NoSignature))
                .collect();
            if !missing.is_empty() {
                return Ok(Err(missing));
            }
        }
        let signatures = (0..n).filter_map(|k| signed(self, k)).collect();
        Ok(Ok((output, sorted, signatures)))
    }

    /// Waits for a step; on a blame or a deadline, runs the blame phase and returns its verdict.
    async fn check(
        &mut self,
        run: u32,
        members: &[Address],
        from: &[usize],
        kind: u8,
        deadline: Instant,
        dk: Option<[u8; 32]>,
    ) -> Option<BTreeMap<usize, Fault>> {
        let accused = match self.wait(run, members, from, kind, deadline).await {
            Wait::Done => return None,
            Wait::Blamed => Vec::new(),
            Wait::Missing(missing) => missing
                .into_iter()
                .map(|k| Accusation {
                    position: k as u16,
                    kind,
                })
                .collect(),
        };
        Some(self.blame(run, members, accused, dk).await)
    }

    /// Step 5: reveal, gather the others' reveals, judge.
    async fn blame(
        &mut self,
        run: u32,
        members: &[Address],
        accused: Vec<Accusation>,
        dk: Option<[u8; 32]>,
    ) -> BTreeMap<usize, Fault> {
        debug!(run, ?accused, revealing = dk.is_some(), "blame");
        if self.get(run, &self.me.address(), 5).is_none() {
            let evidence: Vec<Signed> = self
                .inbox
                .iter()
                .filter(|((r, _, kind), _)| *r == run && *kind != 5)
                .flat_map(|(_, v)| v.iter().cloned())
                .collect();
            self.send(
                run,
                members,
                Body::Blame {
                    accused,
                    dk,
                    evidence,
                },
            )
            .await;
        }
        let all: Vec<usize> = (0..members.len()).collect();
        self.wait_blames(run, members, &all).await;
        let messages: Vec<&Signed> = self
            .inbox
            .iter()
            .filter(|((r, _, _), _)| *r == run)
            .flat_map(|(_, v)| v.iter())
            .collect();
        judge(&Evidence {
            session: self.cfg.session,
            run,
            members,
            messages,
        })
    }

    /// Waits until every member answered the blame or a step's time passed.
    async fn wait_blames(&mut self, run: u32, members: &[Address], all: &[usize]) {
        let deadline = Instant::now() + self.cfg.step_timeout;
        loop {
            let missing = all.iter().any(|&k| self.get(run, &members[k], 5).is_none());
            if !missing {
                return;
            }
            if !self.receive(members, deadline).await {
                return;
            }
        }
    }
}
