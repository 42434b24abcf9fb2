//! The jobs of the simulation and how a run becomes the report the ledger takes: shared by the
//! RP, the JC's verification and the mediator, so all three classify a run the same way
//! (spec §8.5).

use agora_compute::{ExecReport, Hash, JobSpec, Resources, ResultStatus};
use agora_directory::{BlobHash, ClientError};
use agora_exec::{kernels, Job, Limits, Outcome, Runner, Status};
use std::collections::BTreeMap;
use std::time::Instant;

/// Largest blob an agent downloads.
pub const MAX_BLOB_BYTES: u64 = 16 << 20;
/// Memory limit of every job (L_M).
pub const JOB_MEMORY_BYTES: u64 = 16 << 20;

/// Job `i` of a run: the shipped kernels in turn, each on a small input of its own.
pub fn job_source(i: usize, seed: u64) -> (&'static str, &'static str, Vec<u8>) {
    let s = seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
    let kernel = kernels::ALL[i % kernels::ALL.len()];
    let input = match kernel.name {
        "matmul" => kernels::matmul_input(12, s),
        "blur" => kernels::image_input(48, 48, s),
        _ => kernels::runs_input(8_192, s),
    };
    (kernel.name, kernel.source, input)
}

/// The runner's caps for a job with `limits` whose blobs take `job_bytes`: the output may
/// reach neither the storage limit nor what the bandwidth limit leaves after the blobs.
fn exec_limits(limits: &Resources, job_bytes: u64) -> Limits {
    Limits {
        fuel: limits.instructions,
        memory_bytes: limits.memory,
        output_bytes: limits
            .storage
            .min(limits.bandwidth.saturating_sub(job_bytes)),
    }
}

/// A report with no output and `instructions` used.
pub fn failure(status: ResultStatus, instructions: u64) -> ExecReport {
    ExecReport {
        status,
        output: None,
        output_bytes: 0,
        instructions,
    }
}

/// The market's report of a run (spec §2.4, §8.5). The runner has one output cap, the smaller
/// of storage and bandwidth: hitting it is StorageExceeded when storage is the smaller, else
/// BandwidthExceeded.
pub fn report(outcome: &Outcome, limits: &Resources, job_bytes: u64) -> ExecReport {
    let status = match outcome.status {
        Status::Completed => {
            return ExecReport {
                status: ResultStatus::Completed,
                output: Some(outcome.output_sha256),
                output_bytes: outcome.output.len() as u64,
                instructions: outcome.fuel_used,
            }
        }
        Status::OutOfFuel => ResultStatus::InstructionsExceeded,
        Status::Trap => ResultStatus::ExceptionOccurred,
        Status::MemoryExceeded => ResultStatus::MemoryExceeded,
        Status::OutputExceeded if limits.storage <= limits.bandwidth.saturating_sub(job_bytes) => {
            ResultStatus::StorageExceeded
        }
        Status::OutputExceeded => ResultStatus::BandwidthExceeded,
    };
    failure(status, outcome.fuel_used)
}

/// Why the blobs of a job could not be had, as the status the RP reports.
pub fn fetch_status(e: &ClientError) -> ResultStatus {
    match e {
        ClientError::NotFound(_) | ClientError::Altered { .. } | ClientError::TooLarge { .. } => {
            ResultStatus::JobNotFound
        }
        _ => ResultStatus::DirectoryUnavailable,
    }
}

/// Module and input of `job` from the directory, checked against their hashes and sizes.
pub async fn fetch_job(
    dir: &agora_directory::Client,
    job: &JobSpec,
) -> Result<(Vec<u8>, Vec<u8>), ResultStatus> {
    let module = dir
        .get(&BlobHash(job.module))
        .await
        .map_err(|e| fetch_status(&e))?;
    let input = dir
        .get(&BlobHash(job.input))
        .await
        .map_err(|e| fetch_status(&e))?;
    if module.len() as u64 != job.module_bytes || input.len() as u64 != job.input_bytes {
        return Err(ResultStatus::JobDescriptionError);
    }
    Ok((module, input))
}

/// One agent's engine with its compiled modules.
pub struct Executor {
    runner: Runner,
    compiled: BTreeMap<Hash, Option<Job>>,
}

/// A run: the report, the output bytes and the wall time it took.
pub struct Run {
    pub report: ExecReport,
    pub output: Vec<u8>,
    pub ms: f64,
}

impl Executor {
    pub fn new() -> Result<Self, agora_exec::ExecError> {
        Ok(Executor {
            runner: Runner::new()?,
            compiled: BTreeMap::new(),
        })
    }

    /// Runs `module` (compiled once per hash) on `input` under the job's limits. A module that
    /// is not a valid job is JobDescriptionError with no instructions used.
    pub fn run(&mut self, spec: &JobSpec, module: &[u8], input: &[u8], limits: &Resources) -> Run {
        let start = Instant::now();
        let runner = &self.runner;
        let job = self
            .compiled
            .entry(spec.module)
            .or_insert_with(|| runner.compile(module).ok());
        let job_bytes = spec.module_bytes.saturating_add(spec.input_bytes);
        let (report, output) = match job
            .as_ref()
            .map(|job| runner.run(job, input, exec_limits(limits, job_bytes)))
        {
            Some(Ok(outcome)) => {
                let report = report(&outcome, limits, job_bytes);
                (report, outcome.output)
            }
            Some(Err(_)) | None => (failure(ResultStatus::JobDescriptionError, 0), Vec::new()),
        };
        Run {
            report,
            output,
            ms: start.elapsed().as_secs_f64() * 1e3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(body: &str) -> (JobSpec, Vec<u8>) {
        let module = format!(
            r#"(module (import "agora" "output_write" (func $w (param i32 i32)))
                (memory (export "memory") 1) {body})"#
        )
        .into_bytes();
        let spec = JobSpec {
            module: BlobHash::of(&module).0,
            input: [0; 32],
            module_bytes: module.len() as u64,
            input_bytes: 0,
            runtime: agora_exec::runtime_id(),
            directory: agora_types::Address([0; 32]),
        };
        (spec, module)
    }

    fn limits(instructions: u64, storage: u64, bandwidth: u64) -> Resources {
        Resources {
            instructions,
            memory: JOB_MEMORY_BYTES,
            storage,
            bandwidth,
        }
    }

    /// What RP, JC and mediator report for one run.
    fn reported(body: &str, l: impl Fn(u64) -> Resources) -> ExecReport {
        let (spec, module) = job(body);
        Executor::new()
            .unwrap()
            .run(&spec, &module, &[], &l(spec.module_bytes))
            .report
    }

    const WRITE_100: &str = r#"(func (export "run") (call $w (i32.const 0) (i32.const 100)))"#;

    #[test]
    fn every_way_a_job_ends_is_a_status_the_ledger_takes() {
        let done = reported(WRITE_100, |m| limits(1_000, 100, m + 100));
        assert_eq!(done.status, ResultStatus::Completed);
        assert_eq!(done.output_bytes, 100);
        assert!(done.output.is_some() && done.instructions > 0);
        let looping = reported(r#"(func (export "run") (loop $l (br $l)))"#, |m| {
            limits(5_000, 1, m + 1)
        });
        assert_eq!(
            looping,
            failure(ResultStatus::InstructionsExceeded, 5_000),
            "a job that loops ends when its fuel does, billed L_I"
        );
        let trap = reported(r#"(func (export "run") unreachable)"#, |m| {
            limits(1_000, 1, m + 1)
        });
        assert_eq!(trap.status, ResultStatus::ExceptionOccurred);
        // 1,000 pages (62.5 MiB) past the 16 MiB limit.
        let grow = reported(
            r#"(func (export "run") (drop (memory.grow (i32.const 1000))))"#,
            |m| limits(1_000, 1, m + 1),
        );
        assert_eq!(grow.status, ResultStatus::MemoryExceeded);
        assert_eq!(grow.output, None);
        let bad = Executor::new()
            .unwrap()
            .run(&job("").0, b"not wasm", &[], &limits(1, 1, 1));
        assert_eq!(bad.report, failure(ResultStatus::JobDescriptionError, 0));
    }

    #[test]
    fn the_smaller_output_cap_names_the_status() {
        // Storage 50 below the 100 bytes bandwidth leaves for output: storage exceeded.
        let storage = reported(WRITE_100, |m| limits(1_000, 50, m + 100));
        assert_eq!(storage.status, ResultStatus::StorageExceeded);
        // Bandwidth leaves 50, storage allows 1,000: bandwidth exceeded.
        let bandwidth = reported(WRITE_100, |m| limits(1_000, 1_000, m + 50));
        assert_eq!(bandwidth.status, ResultStatus::BandwidthExceeded);
        assert_eq!((storage.output, bandwidth.output_bytes), (None, 0));
    }
}
