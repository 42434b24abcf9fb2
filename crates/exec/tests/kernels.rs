//! Each shipped kernel against a Rust reference implementation of the same computation, on several inputs.

use agora_exec::kernels::{self, Kernel};
use agora_exec::{Limits, Outcome, Runner, Status};

const FUEL: u64 = 2_000_000_000;

fn run(kernel: Kernel, input: &[u8]) -> Outcome {
    let runner = Runner::new().expect("engine");
    let job = runner
        .compile(kernel.source.as_bytes())
        .expect("kernel compiles");
    runner
        .run(&job, input, Limits::with_fuel(FUEL))
        .expect("runs")
}

fn completed(kernel: Kernel, input: &[u8]) -> Vec<u8> {
    let outcome = run(kernel, input);
    assert_eq!(
        outcome.status,
        Status::Completed,
        "{}: {:?}",
        kernel.name,
        outcome.trap
    );
    outcome.output
}

fn matmul_reference(input: &[u8]) -> Vec<u8> {
    let n = u32::from_le_bytes(input[..4].try_into().unwrap()) as usize;
    let cell = |matrix: usize, index: usize| {
        let at = 4 + 8 * (matrix * n * n + index);
        f64::from_le_bytes(input[at..at + 8].try_into().unwrap())
    };
    let mut output = Vec::with_capacity(8 * n * n);
    for i in 0..n {
        for j in 0..n {
            let mut sum = 0.0f64;
            for k in 0..n {
                sum += cell(0, i * n + k) * cell(1, k * n + j);
            }
            output.extend_from_slice(&sum.to_le_bytes());
        }
    }
    output
}

fn blur_reference(input: &[u8]) -> Vec<u8> {
    let width = u32::from_le_bytes(input[..4].try_into().unwrap()) as i64;
    let height = u32::from_le_bytes(input[4..8].try_into().unwrap()) as i64;
    let px = |x: i64, y: i64| {
        let (x, y) = (x.clamp(0, width - 1), y.clamp(0, height - 1));
        u32::from(input[8 + (y * width + x) as usize])
    };
    const WEIGHTS: [[u32; 3]; 3] = [[1, 2, 1], [2, 4, 2], [1, 2, 1]];
    let mut output = Vec::new();
    for y in 0..height {
        for x in 0..width {
            let mut sum = 0;
            for (dy, row) in WEIGHTS.iter().enumerate() {
                for (dx, weight) in row.iter().enumerate() {
                    sum += weight * px(x + dx as i64 - 1, y + dy as i64 - 1);
                }
            }
            output.push(((sum + 8) >> 4) as u8);
        }
    }
    output
}

fn rle_reference(input: &[u8]) -> Vec<u8> {
    let mut output = Vec::new();
    for chunk in input.chunk_by(|a, b| a == b) {
        for piece in chunk.chunks(255) {
            output.extend_from_slice(&[piece.len() as u8, piece[0]]);
        }
    }
    output
}

fn crc32_reference(input: &[u8]) -> Vec<u8> {
    let mut crc = !0u32;
    for &byte in input {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    (!crc).to_le_bytes().to_vec()
}

#[test]
fn matmul_matches_the_reference_bit_for_bit() {
    for (n, seed) in [(0, 1), (1, 2), (3, 3), (8, 4), (33, 5)] {
        let input = kernels::matmul_input(n, seed);
        assert_eq!(
            completed(kernels::MATMUL, &input),
            matmul_reference(&input),
            "n = {n}"
        );
    }
}

#[test]
fn blur_matches_the_reference() {
    for (width, height, seed) in [
        (1, 1, 1),
        (1, 7, 2),
        (5, 1, 3),
        (2, 2, 4),
        (64, 48, 5),
        (17, 31, 6),
    ] {
        let input = kernels::image_input(width, height, seed);
        let output = completed(kernels::BLUR, &input);
        assert_eq!(output, blur_reference(&input), "{width}x{height}");
    }
}

#[test]
fn rle_matches_the_reference() {
    let mut inputs = vec![
        vec![],
        vec![7],
        vec![9; 255],
        vec![9; 256],
        b"aabbbcddddde".to_vec(),
    ];
    inputs.extend((1..4).map(|seed| kernels::runs_input(10_000 * seed as usize, seed)));
    for input in inputs {
        assert_eq!(
            completed(kernels::RLE, &input),
            rle_reference(&input),
            "{} bytes",
            input.len()
        );
    }
}

#[test]
fn crc32_matches_the_reference_and_the_check_value() {
    // The standard check value of CRC-32/ISO-HDLC.
    assert_eq!(
        completed(kernels::CRC32, b"123456789"),
        0xCBF4_3926u32.to_le_bytes()
    );
    for input in [vec![], vec![0], kernels::runs_input(100_000, 9)] {
        assert_eq!(completed(kernels::CRC32, &input), crc32_reference(&input));
    }
}

#[test]
fn malformed_inputs_end_in_a_trap_not_a_wrong_answer() {
    for (kernel, input) in [
        (kernels::MATMUL, vec![1, 0]),
        (kernels::MATMUL, kernels::matmul_input(4, 1)[..100].to_vec()),
        (kernels::BLUR, kernels::image_input(4, 4, 1)[..20].to_vec()),
        (kernels::BLUR, vec![0xff; 8]),
    ] {
        let outcome = run(kernel, &input);
        assert_eq!(
            outcome.status,
            Status::Trap,
            "{} on {} bytes",
            kernel.name,
            input.len()
        );
        assert!(outcome.output.is_empty());
    }
}

#[test]
fn every_kernel_is_deterministic_and_needs_its_exact_fuel() {
    let inputs = [
        kernels::matmul_input(16, 7),
        kernels::image_input(40, 30, 7),
        kernels::runs_input(20_000, 7),
        kernels::runs_input(20_000, 8),
    ];
    for (kernel, input) in kernels::ALL.into_iter().zip(inputs) {
        let first = run(kernel, &input);
        assert_eq!(first, run(kernel, &input), "{}", kernel.name);
        let runner = Runner::new().unwrap();
        let job = runner.compile(kernel.source.as_bytes()).unwrap();
        let exact = runner
            .run(&job, &input, Limits::with_fuel(first.fuel_used))
            .unwrap();
        assert_eq!(exact, first, "{}", kernel.name);
        let short = runner
            .run(&job, &input, Limits::with_fuel(first.fuel_used - 1))
            .unwrap();
        assert_eq!(short.status, Status::OutOfFuel, "{}", kernel.name);
    }
}

#[test]
fn the_overhead_measurement_runs_both_engines_to_the_same_output() {
    let inputs = [
        (kernels::MATMUL, kernels::matmul_input(4, 1)),
        (kernels::RLE, kernels::runs_input(500, 1)),
    ];
    let results = agora_exec::overhead::measure(&inputs, 1).unwrap();
    assert_eq!(
        results.iter().map(|r| r.kernel).collect::<Vec<_>>(),
        ["matmul", "rle"]
    );
    assert!(results.iter().all(|r| r.fuel_used > 0));
    // A kernel the engines cannot complete is an error, not a number.
    let malformed = [(kernels::MATMUL, vec![1, 2, 3])];
    assert!(agora_exec::overhead::measure(&malformed, 1).is_err());
}
