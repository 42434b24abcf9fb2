//! What fuel metering costs: the same kernel on the same input, run by the metered runtime and by the same
//! engine configuration without fuel, interleaved, median of each. Used by `agora exec bench`.

use crate::kernels::{self, Kernel};
use crate::{ExecError, Limits, Runner, Status};
use std::time::{Duration, Instant};

/// Enough fuel for every benchmark input.
const FUEL: u64 = 1 << 40;

/// The measurement of one kernel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Overhead {
    pub kernel: &'static str,
    pub input_bytes: usize,
    /// Instructions of one run (the job's price basis).
    pub fuel_used: u64,
    pub metered_ms: f64,
    pub unmetered_ms: f64,
    /// `metered / unmetered - 1`, in percent.
    pub overhead_pct: f64,
}

/// Why a measurement could not be made.
#[derive(Debug, thiserror::Error)]
pub enum OverheadError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    /// The two engines disagreed: a bug, never a measurement.
    #[error("{kernel}: metered and unmetered runs differ ({metered:?} vs {unmetered:?})")]
    Mismatch {
        kernel: &'static str,
        metered: Status,
        unmetered: Status,
    },
}

/// The benchmark inputs, each a run of roughly 0.1-1 s of plain wasm on one core.
pub fn inputs() -> Vec<(Kernel, Vec<u8>)> {
    vec![
        (kernels::MATMUL, kernels::matmul_input(256, 1)),
        (kernels::BLUR, kernels::image_input(2048, 2048, 2)),
        (kernels::RLE, kernels::runs_input(32 << 20, 3)),
        (kernels::CRC32, kernels::runs_input(32 << 20, 4)),
    ]
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

/// Measures each of `inputs` `reps` times on each engine, alternating runs so load changes hit both alike.
pub fn measure(inputs: &[(Kernel, Vec<u8>)], reps: usize) -> Result<Vec<Overhead>, OverheadError> {
    let metered = Runner::new()?;
    let plain = Runner::unmetered()?;
    let limits = Limits {
        fuel: FUEL,
        memory_bytes: 1 << 30,
        output_bytes: 1 << 30,
    };
    let mut results = Vec::new();
    for (kernel, input) in inputs {
        let (job_m, job_p) = (
            metered.compile(kernel.source.as_bytes())?,
            plain.compile(kernel.source.as_bytes())?,
        );
        let (mut times_m, mut times_p) = (Vec::new(), Vec::new());
        let mut fuel_used = 0;
        for _ in 0..reps.max(1) {
            let start = Instant::now();
            let m = metered.run(&job_m, input, limits)?;
            times_m.push(start.elapsed());
            let start = Instant::now();
            let p = plain.run(&job_p, input, limits)?;
            times_p.push(start.elapsed());
            if m.status != Status::Completed
                || m.status != p.status
                || m.output_sha256 != p.output_sha256
            {
                return Err(OverheadError::Mismatch {
                    kernel: kernel.name,
                    metered: m.status,
                    unmetered: p.status,
                });
            }
            fuel_used = m.fuel_used;
        }
        let (metered_ms, unmetered_ms) = (median(times_m), median(times_p));
        results.push(Overhead {
            kernel: kernel.name,
            input_bytes: input.len(),
            fuel_used,
            metered_ms,
            unmetered_ms,
            overhead_pct: (metered_ms / unmetered_ms - 1.0) * 100.0,
        });
    }
    Ok(results)
}
