//! The job ABI, version 1: all a job can see of the world.
//!
//! A job is a core WebAssembly module that exports `run: () -> ()` and a linear memory named `memory`, and
//! imports nothing but some of these functions from module `agora` (all offsets and lengths are `i32`,
//! read as unsigned):
//!
//! | import | type | does |
//! | --- | --- | --- |
//! | `input_size` | `() -> i32` | the input's length in bytes |
//! | `input_read` | `(dst, offset, len) -> i32` | copies up to `len` input bytes from `offset` to memory at `dst`; returns the count copied (0 at or past the end) |
//! | `output_write` | `(src, len) -> ()` | appends `len` bytes of memory at `src` to the output |
//!
//! `run` returning is a completed job; a trap (e.g. `unreachable`) is a failed one. There is no clock, random
//! source, file, socket or environment, so a run depends on the module and the input only.
//!
//! Host calls are metered like instructions: each costs [`HOST_CALL_FUEL`] plus one unit per
//! [`BYTES_PER_FUEL`] bytes it copies, charged before anything is copied. An `output_write` that would take
//! the output past its cap ends the run with `output_exceeded` (checked after the charge, before copying).

use wasmtime::{
    Caller, Extern, ExternType, Linker, Memory, Module, ResourceLimiter, StoreLimits, Trap,
};

use crate::ExecError;

/// The ABI version, part of the runtime id.
pub const ABI_VERSION: u32 = 1;
/// The import module name.
pub const MODULE: &str = "agora";
/// The entry point every job exports.
pub const ENTRY: &str = "run";
/// The exported memory the host reads from and writes to.
pub const MEMORY: &str = "memory";
/// What the refusal message lists as allowed.
pub const ALLOWED: &str = "agora::input_size, agora::input_read, agora::output_write";
/// Fuel a host call costs before its copying.
pub const HOST_CALL_FUEL: u64 = 1;
/// A host call costs one more fuel per this many bytes it copies (about what a wasm copy loop would cost).
pub const BYTES_PER_FUEL: u64 = 8;

/// The ABI's functions and their signatures, as rendered by [`signature`].
const SIGNATURES: [(&str, &str); 3] = [
    ("input_size", "() -> (i32)"),
    ("input_read", "(i32, i32, i32) -> (i32)"),
    ("output_write", "(i32, i32) -> ()"),
];

/// What ended a run early on the host side: recorded in the store so the outcome does not depend on how
/// wasmtime wraps the error it propagates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostEvent {
    MemoryExceeded,
    OutputExceeded,
}

/// Per-run state of the host: the job's input, the output so far and the limits.
pub(crate) struct HostState {
    pub input: Vec<u8>,
    pub output: Vec<u8>,
    pub output_cap: usize,
    pub limits: StoreLimits,
    pub event: Option<HostEvent>,
    /// Whether the engine meters fuel (only the overhead benchmark runs without).
    pub metered: bool,
}

/// The error a host-side event propagates through wasm to end the run.
#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
struct HostStop(HostEvent);

/// A job misused the ABI (e.g. an out-of-bounds pointer): a trap, with a deterministic message.
#[derive(Debug, thiserror::Error)]
#[error("agora ABI: {0}")]
pub(crate) struct AbiFault(pub &'static str);

impl ResourceLimiter for HostState {
    /// A denied growth (past the memory cap) ends the run as `memory_exceeded` rather than returning -1, so
    /// RP and mediator classify it the same way whatever the module does with a failed grow.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if self.limits.memory_growing(current, desired, maximum)? {
            return Ok(true);
        }
        self.event = Some(HostEvent::MemoryExceeded);
        Err(wasmtime::Error::new(HostStop(HostEvent::MemoryExceeded)))
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

/// Renders a function type as `(params) -> (results)` for comparison and messages.
fn signature(ty: &wasmtime::FuncType) -> String {
    let list = |items: Vec<String>| items.join(", ");
    format!(
        "({}) -> ({})",
        list(ty.params().map(|t| t.to_string()).collect()),
        list(ty.results().map(|t| t.to_string()).collect())
    )
}

/// Checks a compiled module against the ABI: every import is one of ours with its documented type, and `run`
/// is exported with type `() -> ()`.
pub(crate) fn check(module: &Module) -> Result<(), ExecError> {
    for import in module.imports() {
        let forbidden = || ExecError::ForbiddenImport {
            module: import.module().to_string(),
            name: import.name().to_string(),
        };
        if import.module() != MODULE {
            return Err(forbidden());
        }
        let Some(&(_, expected)) = SIGNATURES.iter().find(|(name, _)| *name == import.name())
        else {
            return Err(forbidden());
        };
        let ExternType::Func(ty) = import.ty() else {
            return Err(forbidden());
        };
        let found = signature(&ty);
        if found != expected {
            return Err(ExecError::ImportSignature {
                name: import.name().to_string(),
                found,
                expected,
            });
        }
    }
    match module.get_export(ENTRY) {
        Some(ExternType::Func(ty)) if ty.params().len() == 0 && ty.results().len() == 0 => Ok(()),
        _ => Err(ExecError::NoEntryPoint),
    }
}

/// Charges a host call's fuel; running dry is the same `out_of_fuel` as in wasm code.
fn charge(caller: &mut Caller<'_, HostState>, bytes: u64) -> wasmtime::Result<()> {
    if !caller.data().metered {
        return Ok(());
    }
    let cost = HOST_CALL_FUEL + bytes.div_ceil(BYTES_PER_FUEL);
    let fuel = caller.get_fuel()?;
    if fuel < cost {
        caller.set_fuel(0)?;
        return Err(wasmtime::Error::new(Trap::OutOfFuel));
    }
    caller.set_fuel(fuel - cost)
}

fn memory(caller: &mut Caller<'_, HostState>) -> wasmtime::Result<Memory> {
    match caller.get_export(MEMORY) {
        Some(Extern::Memory(memory)) => Ok(memory),
        _ => Err(wasmtime::Error::new(AbiFault(
            "the module exports no memory named `memory`",
        ))),
    }
}

/// The range `[start, start + len)` if it lies in a memory of `size` bytes.
fn span(start: u32, len: u64, size: usize) -> Option<std::ops::Range<usize>> {
    let start = usize::try_from(start).ok()?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    (end <= size).then_some(start..end)
}

fn input_read(
    mut caller: Caller<'_, HostState>,
    dst: i32,
    offset: i32,
    len: i32,
) -> wasmtime::Result<i32> {
    let (dst, offset, len) = (dst as u32, offset as u32 as usize, len as u32 as usize);
    let available = caller.data().input.len().saturating_sub(offset);
    let count = len.min(available);
    charge(&mut caller, count as u64)?;
    let memory = memory(&mut caller)?;
    let (mem, state) = memory.data_and_store_mut(&mut caller);
    let Some(range) = span(dst, count as u64, mem.len()) else {
        return Err(wasmtime::Error::new(AbiFault(
            "input_read: destination out of bounds",
        )));
    };
    if count > 0 {
        mem[range].copy_from_slice(&state.input[offset..offset + count]);
    }
    // `count` <= `len`, which came from an i32.
    Ok(count as i32)
}

fn output_write(mut caller: Caller<'_, HostState>, src: i32, len: i32) -> wasmtime::Result<()> {
    let (src, len) = (src as u32, len as u32 as u64);
    charge(&mut caller, len)?;
    let state = caller.data_mut();
    if state.output.len() as u64 + len > state.output_cap as u64 {
        state.event = Some(HostEvent::OutputExceeded);
        return Err(wasmtime::Error::new(HostStop(HostEvent::OutputExceeded)));
    }
    let memory = memory(&mut caller)?;
    let (mem, state) = memory.data_and_store_mut(&mut caller);
    let Some(range) = span(src, len, mem.len()) else {
        return Err(wasmtime::Error::new(AbiFault(
            "output_write: source out of bounds",
        )));
    };
    state.output.extend_from_slice(&mem[range]);
    Ok(())
}

/// The linker offering exactly the ABI's functions.
pub(crate) fn linker(engine: &wasmtime::Engine) -> Result<Linker<HostState>, ExecError> {
    let mut linker = Linker::new(engine);
    let engine_err = |e: wasmtime::Error| ExecError::Engine(e.to_string());
    linker
        .func_wrap(
            MODULE,
            "input_size",
            |caller: Caller<'_, HostState>| -> i32 {
                // Inputs are capped below 2 GiB by the runner, so this fits.
                caller.data().input.len() as i32
            },
        )
        .map_err(engine_err)?;
    linker
        .func_wrap(MODULE, "input_read", input_read)
        .map_err(engine_err)?;
    linker
        .func_wrap(MODULE, "output_write", output_write)
        .map_err(engine_err)?;
    Ok(linker)
}
