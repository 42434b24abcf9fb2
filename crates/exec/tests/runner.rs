//! Every way a run ends, determinism, and the ABI's refusals, each with a purpose-built module.

use agora_exec::{ExecError, Limits, Runner, Status};

const IMPORTS: &str = r#"
  (import "agora" "input_size" (func $input_size (result i32)))
  (import "agora" "input_read" (func $input_read (param i32 i32 i32) (result i32)))
  (import "agora" "output_write" (func $output_write (param i32 i32)))
  (memory (export "memory") 1)"#;

/// Echoes the input back, reversed, with a float computation mixed in (NaN canonicalisation matters here:
/// 0/0 gives a NaN whose bits the job writes out).
const REVERSE: &str = r#"
  (func (export "run")
    (local $n i32) (local $i i32)
    (local.set $n (call $input_size))
    (drop (call $input_read (i32.const 0) (i32.const 0) (local.get $n)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store8 (i32.add (i32.const 32768) (local.get $i))
        (i32.load8_u (i32.sub (i32.sub (local.get $n) (local.get $i)) (i32.const 1))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))
    (f64.store (i32.add (i32.const 32768) (local.get $n))
      (f64.div (f64.convert_i32_u (i32.sub (local.get $n) (local.get $n))) (f64.const 0)))
    (f32.store (i32.add (i32.const 32776) (local.get $n)) (f32.div (f32.convert_i32_u (i32.sub (local.get $n) (local.get $n))) (f32.const 0)))
    (call $output_write (i32.const 32768) (i32.add (local.get $n) (i32.const 12))))"#;

fn module(body: &str) -> String {
    format!("(module {IMPORTS} {body})")
}

fn run(body: &str, input: &[u8], limits: Limits) -> agora_exec::Outcome {
    let runner = Runner::new().expect("engine");
    let job = runner.compile(module(body).as_bytes()).expect("valid job");
    runner.run(&job, input, limits).expect("runs")
}

#[test]
fn same_job_same_input_gives_identical_outcomes_across_runs_and_engines() {
    let input = b"determinism, please".to_vec();
    let source = module(REVERSE);
    let first_engine = Runner::new().unwrap();
    let job = first_engine.compile(source.as_bytes()).unwrap();
    let a = first_engine
        .run(&job, &input, Limits::with_fuel(1_000_000))
        .unwrap();
    let b = first_engine
        .run(&job, &input, Limits::with_fuel(1_000_000))
        .unwrap();
    let second_engine = Runner::new().unwrap();
    let c = second_engine
        .run(
            &second_engine.compile(source.as_bytes()).unwrap(),
            &input,
            Limits::with_fuel(1_000_000),
        )
        .unwrap();
    assert_eq!(a.status, Status::Completed);
    assert!(a.fuel_used > 0);
    assert_eq!(a, b);
    assert_eq!(a, c);
    let mut reversed = input.clone();
    reversed.reverse();
    assert_eq!(&a.output[..input.len()], &reversed[..]);
    // The NaNs written are the canonical ones, whatever the hardware's division produced.
    let f64_nan = u64::from_le_bytes(a.output[input.len()..input.len() + 8].try_into().unwrap());
    let f32_nan = u32::from_le_bytes(a.output[input.len() + 8..].try_into().unwrap());
    assert_eq!(f64_nan, 0x7ff8_0000_0000_0000);
    assert_eq!(f32_nan, 0x7fc0_0000);
}

#[test]
fn fuel_is_exact_and_the_limit_just_below_it_runs_out() {
    let input = b"0123456789".to_vec();
    let done = run(REVERSE, &input, Limits::with_fuel(1_000_000));
    let exact = run(REVERSE, &input, Limits::with_fuel(done.fuel_used));
    assert_eq!(exact.status, Status::Completed);
    assert_eq!(exact.output_sha256, done.output_sha256);
    let short = run(REVERSE, &input, Limits::with_fuel(done.fuel_used - 1));
    assert_eq!(short.status, Status::OutOfFuel);
    assert_eq!(short.fuel_used, done.fuel_used - 1);
}

#[test]
fn an_endless_loop_ends_out_of_fuel_with_the_whole_limit_used() {
    let outcome = run(
        r#"(func (export "run") (loop $l (br $l)))"#,
        b"",
        Limits::with_fuel(50_000),
    );
    assert_eq!(outcome.status, Status::OutOfFuel);
    assert_eq!(outcome.fuel_used, 50_000);
    assert!(outcome.output.is_empty());
}

#[test]
fn unreachable_ends_trap_with_its_reason_and_the_output_so_far() {
    let outcome = run(
        r#"(func (export "run") (call $output_write (i32.const 0) (i32.const 3)) unreachable)"#,
        b"",
        Limits::with_fuel(1_000),
    );
    assert_eq!(outcome.status, Status::Trap);
    assert!(
        outcome.trap.as_deref().unwrap().contains("unreachable"),
        "{:?}",
        outcome.trap
    );
    assert_eq!(outcome.output, vec![0, 0, 0]);
}

#[test]
fn unbounded_recursion_ends_trap_not_a_crash() {
    let outcome = run(
        r#"(func $f (export "run") (call $f))"#,
        b"",
        Limits::with_fuel(100_000_000),
    );
    assert_eq!(outcome.status, Status::Trap);
    assert!(
        outcome.trap.as_deref().unwrap().contains("stack"),
        "{:?}",
        outcome.trap
    );
}

#[test]
fn memory_grow_past_the_cap_ends_memory_exceeded() {
    // 1 MiB cap = 16 pages; the module has 1 and asks for 16 more.
    let limits = Limits {
        fuel: 10_000,
        memory_bytes: 1 << 20,
        output_bytes: 1024,
    };
    let grow =
        |pages: u32| format!(r#"(func (export "run") (drop (memory.grow (i32.const {pages}))))"#);
    assert_eq!(run(&grow(15), b"", limits).status, Status::Completed);
    let outcome = run(&grow(16), b"", limits);
    assert_eq!(outcome.status, Status::MemoryExceeded);
    assert_eq!(
        outcome.fuel_used, 0,
        "no call boundary before the grow, see the test below"
    );
}

#[test]
fn an_initial_memory_above_the_cap_fails_at_instantiation_with_no_fuel_used() {
    let runner = Runner::new().unwrap();
    let job = runner
        .compile(br#"(module (memory (export "memory") 17) (func (export "run")))"#)
        .unwrap();
    let outcome = runner
        .run(
            &job,
            b"",
            Limits {
                fuel: 10_000,
                memory_bytes: 1 << 20,
                output_bytes: 1024,
            },
        )
        .unwrap();
    assert_eq!(outcome.status, Status::MemoryExceeded);
    assert_eq!(outcome.fuel_used, 0);
}

#[test]
fn output_past_its_cap_ends_output_exceeded_and_keeps_what_fitted() {
    let body = r#"(func (export "run")
        (call $output_write (i32.const 0) (i32.const 60))
        (call $output_write (i32.const 0) (i32.const 60)))"#;
    let limits = Limits {
        fuel: 10_000,
        memory_bytes: 1 << 20,
        output_bytes: 100,
    };
    let outcome = run(body, b"", limits);
    assert_eq!(outcome.status, Status::OutputExceeded);
    assert_eq!(outcome.output.len(), 60);
    let roomy = run(
        body,
        b"",
        Limits {
            output_bytes: 120,
            ..limits
        },
    );
    assert_eq!(roomy.status, Status::Completed);
    assert_eq!(roomy.output.len(), 120);
}

#[test]
fn abi_misuse_out_of_bounds_is_a_trap() {
    let outcome = run(
        r#"(func (export "run") (call $output_write (i32.const 65500) (i32.const 100)))"#,
        b"",
        Limits::with_fuel(1_000),
    );
    assert_eq!(outcome.status, Status::Trap);
    assert!(
        outcome.trap.as_deref().unwrap().contains("out of bounds"),
        "{:?}",
        outcome.trap
    );
}

#[test]
fn host_calls_are_metered_by_the_bytes_they_copy() {
    let write = |len: u32| {
        format!(r#"(func (export "run") (call $output_write (i32.const 0) (i32.const {len})))"#)
    };
    let small = run(&write(8), b"", Limits::with_fuel(10_000)).fuel_used;
    let large = run(&write(8 * 1001), b"", Limits::with_fuel(10_000)).fuel_used;
    assert_eq!(large - small, 1000);
    // A write whose copy the remaining fuel cannot pay for runs out of fuel before copying.
    let starved = run(&write(8 * 1001), b"", Limits::with_fuel(large - 1));
    assert_eq!(starved.status, Status::OutOfFuel);
    assert!(starved.output.is_empty());
}

#[test]
fn a_module_importing_anything_outside_the_abi_is_refused() {
    let runner = Runner::new().unwrap();
    for import in [
        r#"(import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))"#,
        r#"(import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))"#,
        r#"(import "agora" "clock" (func (result i64)))"#,
        r#"(import "agora" "memory" (memory 1))"#,
    ] {
        let source = format!(r#"(module {import} (func (export "run")))"#);
        let refused = runner.compile(source.as_bytes());
        assert!(
            matches!(refused, Err(ExecError::ForbiddenImport { .. })),
            "{import}: {refused:?}",
            refused = refused.err()
        );
    }
    let wrong_type = runner.compile(
        br#"(module (import "agora" "input_size" (func (result i64))) (func (export "run")))"#,
    );
    assert!(matches!(wrong_type, Err(ExecError::ImportSignature { .. })));
}

#[test]
fn a_module_without_a_run_entry_point_is_refused() {
    let runner = Runner::new().unwrap();
    for source in [
        r#"(module (func (export "main")))"#,
        r#"(module (func (export "run") (param i32)))"#,
        r#"(module (func (export "run") (result i32) (i32.const 0)))"#,
    ] {
        assert!(
            matches!(
                runner.compile(source.as_bytes()),
                Err(ExecError::NoEntryPoint)
            ),
            "{source}"
        );
    }
}

#[test]
fn text_and_binary_modules_are_both_accepted_and_garbage_is_refused() {
    let runner = Runner::new().unwrap();
    let source = module(REVERSE);
    let binary = wat::parse_str(&source).unwrap();
    assert_eq!(&binary[..4], b"\0asm");
    let from_text = runner
        .run(
            &runner.compile(source.as_bytes()).unwrap(),
            b"abc",
            Limits::with_fuel(100_000),
        )
        .unwrap();
    let from_binary = runner
        .run(
            &runner.compile(&binary).unwrap(),
            b"abc",
            Limits::with_fuel(100_000),
        )
        .unwrap();
    assert_eq!(from_text, from_binary);
    assert!(matches!(
        runner.compile(b"(module (func"),
        Err(ExecError::Parse(_))
    ));
    assert!(matches!(
        runner.compile(b"\0asm\x01\0\0\0\x7f"),
        Err(ExecError::Compile(_))
    ));
}

#[test]
fn relaxed_simd_is_not_available_to_jobs() {
    let runner = Runner::new().unwrap();
    let source = r#"(module (func (export "run")
        (drop (f32x4.relaxed_madd (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))))"#;
    assert!(matches!(
        runner.compile(source.as_bytes()),
        Err(ExecError::Compile(_))
    ));
}

#[test]
fn the_unmetered_engine_computes_the_same_output() {
    let metered = Runner::new().unwrap();
    let plain = Runner::unmetered().unwrap();
    let source = module(REVERSE);
    let a = metered
        .run(
            &metered.compile(source.as_bytes()).unwrap(),
            b"xyz",
            Limits::with_fuel(100_000),
        )
        .unwrap();
    let b = plain
        .run(
            &plain.compile(source.as_bytes()).unwrap(),
            b"xyz",
            Limits::with_fuel(0),
        )
        .unwrap();
    assert_eq!((a.status, a.output_sha256), (b.status, b.output_sha256));
    assert_eq!(b.fuel_used, 0);
    assert_ne!(agora_exec::runtime_id(), [0; 32]);
}

/// wasmtime keeps fuel in a register and saves it to the store only at calls, returns and `unreachable`, so
/// a trap raised elsewhere (an out-of-bounds load, a denied `memory.grow`) reports the count saved at the last
/// such point: deterministic, and a lower bound of the instructions run. Jobs that want exact counts on
/// failure call a function or `unreachable` to fail.
#[test]
fn fuel_at_a_trap_is_the_count_saved_at_the_last_call_boundary() {
    let looped = |before_trap: &str, trap: &str| {
        format!(
            r#"(func $nop) (func (export "run") (local $i i32)
            (block $d (loop $l (br_if $d (i32.ge_u (local.get $i) (i32.const 100)))
               (local.set $i (i32.add (local.get $i) (i32.const 1))) (br $l)))
            {before_trap} {trap})"#
        )
    };
    let limits = Limits {
        fuel: 100_000,
        memory_bytes: 1 << 20,
        output_bytes: 1000,
    };
    let completed = run(&looped("", ""), b"", limits);
    assert_eq!(completed.status, Status::Completed);
    let unreachable = run(&looped("", "unreachable"), b"", limits);
    assert_eq!(
        (unreachable.status, unreachable.fuel_used),
        (Status::Trap, completed.fuel_used)
    );
    for (trap, status) in [
        ("(drop (i32.load (i32.const 70000)))", Status::Trap),
        (
            "(drop (memory.grow (i32.const 100)))",
            Status::MemoryExceeded,
        ),
    ] {
        let unsaved = run(&looped("", trap), b"", limits);
        assert_eq!((unsaved.status, unsaved.fuel_used), (status, 0), "{trap}");
        let saved = run(&looped("(call $nop)", trap), b"", limits);
        assert_eq!(saved.status, status, "{trap}");
        assert!(
            saved.fuel_used >= completed.fuel_used,
            "{trap}: {} < {}",
            saved.fuel_used,
            completed.fuel_used
        );
        assert_eq!(
            saved,
            run(&looped("(call $nop)", trap), b"", limits),
            "{trap}"
        );
    }
}
