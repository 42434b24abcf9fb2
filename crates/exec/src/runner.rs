//! The deterministic engine and one metered run of a job.

use sha2::{Digest, Sha256};
use wasmtime::{Config, Engine, Linker, Module, Store, StoreLimitsBuilder, Trap};

use crate::abi::{self, AbiFault, HostEvent, HostState};
use crate::ExecError;

/// The wasmtime release pinned in Cargo.toml (`=`), part of the runtime id: fuel costs are per release.
const WASMTIME_VERSION: &str = "48.0.8";
/// Fixed wasm stack, so a deep recursion overflows at the same depth everywhere (per architecture).
const MAX_WASM_STACK: usize = 512 * 1024;
/// Default memory cap of a run (`--memory-mb` 64).
pub const DEFAULT_MEMORY_BYTES: u64 = 64 << 20;
/// Default output cap of a run.
pub const DEFAULT_OUTPUT_BYTES: u64 = 16 << 20;
/// Largest input the ABI can address (`input_size` returns an i32).
const MAX_INPUT_BYTES: usize = i32::MAX as usize;

/// The canonical descriptor of this runtime: what RP, JC and mediator must share to agree on a result.
fn descriptor() -> String {
    format!(
        "agora-exec abi={} wasmtime={WASMTIME_VERSION} fuel=on nan-canonicalization=on threads=off \
         relaxed-simd=off epoch=off max-wasm-stack={MAX_WASM_STACK} arch={}",
        abi::ABI_VERSION,
        std::env::consts::ARCH
    )
}

/// Runtime id (spec §8.5): sha256 of the canonical descriptor. Same id ⇒ same (status, output, fuel).
pub fn runtime_id() -> [u8; 32] {
    Sha256::digest(descriptor().as_bytes()).into()
}

/// Resource caps of one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Fuel (instructions) the job may consume: the offer's L_I.
    pub fuel: u64,
    /// Linear memory cap in bytes (rounded down to whole 64 KiB pages by wasm semantics).
    pub memory_bytes: u64,
    /// Output cap in bytes.
    pub output_bytes: u64,
}

impl Limits {
    /// `fuel` with the default memory and output caps.
    pub fn with_fuel(fuel: u64) -> Self {
        Limits {
            fuel,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            output_bytes: DEFAULT_OUTPUT_BYTES,
        }
    }
}

/// How a run ended: the first event wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `run` returned.
    Completed,
    /// The fuel ran out (`fuel_used` is the whole limit).
    OutOfFuel,
    /// Any other trap: `unreachable`, out-of-bounds access, stack overflow, ABI misuse.
    Trap,
    /// Memory growth (or the initial memory) beyond the cap.
    MemoryExceeded,
    /// An `output_write` that would take the output past its cap.
    OutputExceeded,
}

impl Status {
    /// The status word printed by `agora exec run`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::OutOfFuel => "out_of_fuel",
            Status::Trap => "trap",
            Status::MemoryExceeded => "memory_exceeded",
            Status::OutputExceeded => "output_exceeded",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of a run: the same module, input and limits give the same outcome on every machine with the same
/// [`runtime_id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// Fuel consumed: the instruction count the job is billed by.
    pub fuel_used: u64,
    /// What the job wrote (also on failure, up to the failing event).
    pub output: Vec<u8>,
    pub output_sha256: [u8; 32],
    /// The trap's reason when `status` is `trap` (a fixed message, no backtrace).
    pub trap: Option<String>,
}

/// A compiled, ABI-checked job module.
#[derive(Clone)]
pub struct Job {
    module: Module,
}

/// A deterministic engine with the ABI linked; compile once, run many times.
pub struct Runner {
    engine: Engine,
    linker: Linker<HostState>,
    metered: bool,
}

impl Runner {
    /// Builds the engine with the configuration the runtime id describes.
    pub fn new() -> Result<Self, ExecError> {
        Self::with_metering(true)
    }

    /// An engine without fuel metering, only to measure what metering costs (`Limits::fuel` is ignored and
    /// `fuel_used` is 0). Not a market runtime.
    pub fn unmetered() -> Result<Self, ExecError> {
        Self::with_metering(false)
    }

    fn with_metering(fuel: bool) -> Result<Self, ExecError> {
        // Threads are compiled out (no `threads` feature), so shared memories cannot be declared at all.
        let mut config = Config::new();
        config
            .consume_fuel(fuel)
            .epoch_interruption(false)
            .cranelift_nan_canonicalization(true)
            .wasm_relaxed_simd(false)
            .max_wasm_stack(MAX_WASM_STACK)
            .wasm_backtrace_max_frames(None);
        let engine = Engine::new(&config).map_err(|e| ExecError::Engine(e.to_string()))?;
        let linker = abi::linker(&engine)?;
        Ok(Runner {
            engine,
            linker,
            metered: fuel,
        })
    }

    /// Compiles a module given as WebAssembly text (`.wat`) or binary (`.wasm`) and checks it against the ABI.
    pub fn compile(&self, bytes: &[u8]) -> Result<Job, ExecError> {
        let binary = wat::parse_bytes(bytes).map_err(|e| ExecError::Parse(e.to_string()))?;
        let module = Module::from_binary(&self.engine, &binary)
            .map_err(|e| ExecError::Compile(format!("{e:#}")))?;
        abi::check(&module)?;
        Ok(Job { module })
    }

    /// Runs `job` on `input` in a fresh store under `limits`. Every way the job can end is an [`Outcome`];
    /// only an input too large for the ABI is refused.
    pub fn run(&self, job: &Job, input: &[u8], limits: Limits) -> Result<Outcome, ExecError> {
        if input.len() > MAX_INPUT_BYTES {
            return Err(ExecError::InputTooLarge { len: input.len() });
        }
        let limits_store = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX))
            .instances(1)
            .memories(1)
            .tables(1)
            .build();
        let state = HostState {
            input: input.to_vec(),
            output: Vec::new(),
            output_cap: usize::try_from(limits.output_bytes).unwrap_or(usize::MAX),
            limits: limits_store,
            event: None,
            metered: self.metered,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| state);
        if self.metered {
            store
                .set_fuel(limits.fuel)
                .map_err(|e| ExecError::Engine(e.to_string()))?;
        }
        let result = self
            .linker
            .instantiate(&mut store, &job.module)
            .and_then(|instance| {
                let run = instance.get_typed_func::<(), ()>(&mut store, abi::ENTRY)?;
                run.call(&mut store, ())
            });
        let fuel_used = if self.metered {
            limits.fuel
                - store
                    .get_fuel()
                    .map_err(|e| ExecError::Engine(e.to_string()))?
        } else {
            0
        };
        let (status, trap) = classify(store.data().event, result);
        let output = std::mem::take(&mut store.data_mut().output);
        let output_sha256 = Sha256::digest(&output).into();
        tracing::debug!(%status, fuel_used, output_len = output.len(), "job run ended");
        Ok(Outcome {
            status,
            fuel_used,
            output,
            output_sha256,
            trap,
        })
    }
}

/// Maps how the call ended to a status; host events first, since they are recorded before the error unwinds.
fn classify(event: Option<HostEvent>, result: wasmtime::Result<()>) -> (Status, Option<String>) {
    let error = match (event, result) {
        (Some(HostEvent::MemoryExceeded), _) => return (Status::MemoryExceeded, None),
        (Some(HostEvent::OutputExceeded), _) => return (Status::OutputExceeded, None),
        (None, Ok(())) => return (Status::Completed, None),
        (None, Err(error)) => error,
    };
    if let Some(trap) = error.downcast_ref::<Trap>() {
        if *trap == Trap::OutOfFuel {
            return (Status::OutOfFuel, None);
        }
        return (Status::Trap, Some(trap.to_string()));
    }
    if let Some(fault) = error.downcast_ref::<AbiFault>() {
        return (Status::Trap, Some(fault.to_string()));
    }
    // Instantiation failures (e.g. a data segment out of bounds) carry wasmtime's message.
    (Status::Trap, Some(error.to_string()))
}
