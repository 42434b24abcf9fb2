//! Real jobs in the spirit of the seed's PARSEC-style workload, written by hand in WebAssembly text and
//! compiled at run time by the `wat` crate, so the `.wasm` is reproducible from the repository alone.
//!
//! Each `.wat` file under `crates/exec/kernels/` is a complete job a creator would upload as is (hence each
//! carries the ABI imports and the small `$ensure` memory helper). Input formats are documented in each file;
//! the generators here make deterministic inputs of a given size for tests and benchmarks.

/// A shipped kernel.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    pub name: &'static str,
    /// WebAssembly text of the job.
    pub source: &'static str,
}

/// Dense f64 matrix multiply (numeric).
pub const MATMUL: Kernel = Kernel {
    name: "matmul",
    source: include_str!("../kernels/matmul.wat"),
};
/// 3x3 Gaussian blur of a grayscale image (image filter).
pub const BLUR: Kernel = Kernel {
    name: "blur",
    source: include_str!("../kernels/blur.wat"),
};
/// Run-length encoding (compression).
pub const RLE: Kernel = Kernel {
    name: "rle",
    source: include_str!("../kernels/rle.wat"),
};
/// CRC-32 (hashing).
pub const CRC32: Kernel = Kernel {
    name: "crc32",
    source: include_str!("../kernels/crc32.wat"),
};

/// Every shipped kernel.
pub const ALL: [Kernel; 4] = [MATMUL, BLUR, RLE, CRC32];

/// A small deterministic generator (64-bit LCG, Knuth's MMIX constants), so inputs need no RNG dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// Input for [`MATMUL`]: `n`, then two `n x n` matrices of values in [-1, 1) with 1/1024 steps.
pub fn matmul_input(n: u32, seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let cells = 2 * (n as usize) * (n as usize);
    let mut input = Vec::with_capacity(4 + 8 * cells);
    input.extend_from_slice(&n.to_le_bytes());
    for _ in 0..cells {
        let value = (rng.next() % 2048) as f64 / 1024.0 - 1.0;
        input.extend_from_slice(&value.to_le_bytes());
    }
    input
}

/// Input for [`BLUR`]: a `width x height` image of pseudo-random gray levels.
pub fn image_input(width: u32, height: u32, seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let mut input = Vec::with_capacity(8 + (width as usize) * (height as usize));
    input.extend_from_slice(&width.to_le_bytes());
    input.extend_from_slice(&height.to_le_bytes());
    input.extend((0..(width as usize) * (height as usize)).map(|_| rng.next() as u8));
    input
}

/// Input for [`RLE`] and [`CRC32`]: `len` bytes in runs of random length (1 to 300) over a few values, so
/// runs both shorter and longer than RLE's 255 limit occur.
pub fn runs_input(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let mut input = Vec::with_capacity(len);
    while input.len() < len {
        let run = (1 + rng.next() % 300) as usize;
        let byte = (rng.next() % 4) as u8;
        input.extend(std::iter::repeat_n(byte, run.min(len - input.len())));
    }
    input
}
