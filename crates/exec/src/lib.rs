//! Deterministic, metered, sandboxed execution of compute-market jobs (spec `compute.md` §4.3, §8.5).
//!
//! A job is a WebAssembly module run by wasmtime with fuel metering. The job creator, the resource provider
//! and the mediator run the same module on the same input and must get bit-identical output and the same
//! instruction count, because the fuel consumed is what jobs are priced by (the seed estimated it with Docker
//! and cAdvisor). So the engine is configured for determinism ([`runner`]): NaN canonicalisation, no threads,
//! no relaxed SIMD, no epoch or timer interruption, a fixed wasm stack; and the job sees nothing but its input:
//! no clock, no randomness, no files, no network. The only imports allowed are the three calls of the
//! [`abi`] module `agora`.
//!
//! A run always ends with an [`Outcome`] whose [`Status`] says how; a module that is not a valid job (bad
//! bytes, an import outside the ABI, no `run` entry point) is refused with an [`ExecError`] before it runs.

pub mod abi;
pub mod kernels;
pub mod overhead;
mod runner;

pub use runner::{
    runtime_id, Job, Limits, Outcome, Runner, Status, DEFAULT_MEMORY_BYTES, DEFAULT_OUTPUT_BYTES,
};

/// Why a module cannot be run as a job (the market's `JobDescriptionError`).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Neither WebAssembly text nor a valid binary.
    #[error("not a WebAssembly module: {0}")]
    Parse(String),
    /// wasmtime refused to compile it (invalid module, unsupported proposal).
    #[error("module does not compile: {0}")]
    Compile(String),
    /// The module imports something outside the `agora` ABI, e.g. a clock or WASI.
    #[error("import {module}::{name} is outside the agora ABI (allowed: {allowed})", allowed = abi::ALLOWED)]
    ForbiddenImport { module: String, name: String },
    /// An ABI import is declared with a signature other than the documented one.
    #[error("import agora::{name} has type {found}, the ABI says {expected}")]
    ImportSignature {
        name: String,
        found: String,
        expected: &'static str,
    },
    /// No exported `run` function of type `() -> ()`.
    #[error(
        "no entry point: the module must export `run` as a function with no params and no results"
    )]
    NoEntryPoint,
    /// The input is larger than the ABI can address (`input_size` is an i32).
    #[error("input of {len} bytes exceeds the ABI's 2 GiB - 1")]
    InputTooLarge { len: usize },
    /// The engine could not be built (a host problem, not the job's).
    #[error("engine: {0}")]
    Engine(String),
}
