//! The stream service ψ: a stateless, deterministic `process(input) -> output` run as
//! WebAssembly by agora-exec (spec A31), one metered run per input. The experiments use the
//! shipped CRC-32 kernel: any frame in, a 4-byte digest out, the same on every machine.

use agora_exec::{kernels, ExecError, Job, Limits, Runner, Status};
use agora_stream::{hashing::Output, AllocId, Hash, MarketId};
use sha2::{Digest, Sha256};

/// Fuel for one input: the CRC-32 kernel needs about 20 000 instructions per 64-byte frame.
const FUEL_PER_INPUT: u64 = 10_000_000;
/// Bytes of one input frame.
pub const FRAME_BYTES: usize = 64;

/// A compiled service; share one per process (compiling is the slow part).
pub struct Service {
    runner: Runner,
    job: Job,
    /// ψ: the content hash of the module's source, named in offers and terms.
    pub id: Hash,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("the service ended with {0} instead of completing")]
    Failed(Status),
}

impl Service {
    /// The CRC-32 kernel of `crates/exec/kernels`.
    pub fn crc32() -> Result<Self, ServiceError> {
        let runner = Runner::new()?;
        let job = runner.compile(kernels::CRC32.source.as_bytes())?;
        Ok(Self {
            runner,
            job,
            id: Sha256::digest(kernels::CRC32.source.as_bytes()).into(),
        })
    }

    /// The outputs of `(seq, input)` pairs, by seq.
    pub fn outputs(&self, inputs: &[(u64, Vec<u8>)]) -> Result<Vec<(u64, Vec<u8>)>, ServiceError> {
        inputs
            .iter()
            .map(|(seq, input)| Ok((*seq, self.process(input)?)))
            .collect()
    }

    /// One input's output.
    pub fn process(&self, input: &[u8]) -> Result<Vec<u8>, ServiceError> {
        let outcome = self
            .runner
            .run(&self.job, input, Limits::with_fuel(FUEL_PER_INPUT))?;
        match outcome.status {
            Status::Completed => Ok(outcome.output),
            other => Err(ServiceError::Failed(other)),
        }
    }
}

/// Input `seq` of allocation `a`: a frame derived from the customer's secret, so every replica
/// and the mediator read the same bytes and nobody can tell a test input from another.
pub fn frame(secret: &Hash, m: MarketId, a: AllocId, seq: u64) -> Vec<u8> {
    let mut frame = Vec::with_capacity(FRAME_BYTES);
    let mut block = 0u32;
    while frame.len() < FRAME_BYTES {
        let mut h = Sha256::new();
        h.update(secret);
        h.update(m.to_be_bytes());
        h.update(a.to_be_bytes());
        h.update(seq.to_be_bytes());
        h.update(block.to_be_bytes());
        frame.extend_from_slice(&h.finalize());
        block += 1;
    }
    frame.truncate(FRAME_BYTES);
    frame
}

/// `(seq, output)` pairs as the commitments' hashing takes them.
pub fn as_outputs(outputs: &[(u64, Vec<u8>)]) -> Vec<Output<'_>> {
    outputs
        .iter()
        .map(|(seq, o)| Output {
            seq: *seq,
            output: o,
        })
        .collect()
}
