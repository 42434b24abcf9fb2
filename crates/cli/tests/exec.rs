//! `agora exec run` as a user runs it: one test per status, `.wat` and `.wasm`, and a refused module.

mod common;

use agora_exec::kernels;
use common::{agora_json, agora_output};
use std::path::Path;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_string()
}

fn exec(module: &str, input: &str, fuel: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "exec", "run", "--module", module, "--input", input, "--fuel", fuel,
    ];
    args.extend_from_slice(extra);
    agora_json(&args)
}

#[test]
fn exec_run_reports_every_status() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.bin", b"");
    let body = |run: &str| {
        format!(
            r#"(module (import "agora" "output_write" (func $w (param i32 i32)))
               (memory (export "memory") 1) (func (export "run") {run}))"#
        )
    };
    let cases = [
        ("loop.wat", body("(loop $l (br $l))"), "out_of_fuel", vec![]),
        ("trap.wat", body("unreachable"), "trap", vec![]),
        (
            "grow.wat",
            body("(drop (memory.grow (i32.const 16)))"),
            "memory_exceeded",
            vec!["--memory-mb", "1"],
        ),
        (
            "write.wat",
            body("(call $w (i32.const 0) (i32.const 200))"),
            "output_exceeded",
            vec!["--max-output", "100"],
        ),
        (
            "write_ok.wat",
            body("(call $w (i32.const 0) (i32.const 200))"),
            "completed",
            vec![],
        ),
    ];
    for (name, source, status, extra) in cases {
        let module = write(dir.path(), name, source.as_bytes());
        let report = exec(&module, &empty, "100000", &extra);
        assert_eq!(report["status"], status, "{name}: {report}");
        assert!(report["fuel_used"].as_u64().unwrap() <= 100_000, "{name}");
        assert_eq!(
            report["output_sha256"].as_str().unwrap().len(),
            64,
            "{name}"
        );
    }
    let looped = exec(
        &write(dir.path(), "l.wat", body("(loop $l (br $l))").as_bytes()),
        &empty,
        "777",
        &[],
    );
    assert_eq!(looped["fuel_used"], 777);
}

#[test]
fn exec_run_gives_the_same_report_for_wat_and_wasm_and_matches_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let input_bytes = kernels::image_input(32, 24, 3);
    let input = write(dir.path(), "image.bin", &input_bytes);
    let wat = write(dir.path(), "blur.wat", kernels::BLUR.source.as_bytes());
    let wasm = write(
        dir.path(),
        "blur.wasm",
        &wat::parse_str(kernels::BLUR.source).unwrap(),
    );
    let out_file = dir.path().join("out.bin");
    let from_text = exec(
        &wat,
        &input,
        "10000000",
        &["--output", out_file.to_str().unwrap()],
    );
    let from_binary = exec(&wasm, &input, "10000000", &[]);
    assert_eq!(from_text, from_binary);
    assert_eq!(from_text["status"], "completed");

    let runner = agora_exec::Runner::new().unwrap();
    let job = runner.compile(kernels::BLUR.source.as_bytes()).unwrap();
    let outcome = runner
        .run(
            &job,
            &input_bytes,
            agora_exec::Limits::with_fuel(10_000_000),
        )
        .unwrap();
    assert_eq!(from_text["fuel_used"], outcome.fuel_used);
    assert_eq!(
        from_text["output_sha256"],
        hex::encode(outcome.output_sha256)
    );
    assert_eq!(std::fs::read(&out_file).unwrap(), outcome.output);

    let text = agora_output(&[
        "exec", "run", "--module", &wat, "--input", &input, "--fuel", "10000000",
    ]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.starts_with(&format!(
            "status completed\nfuel_used {}\noutput_sha256 {}\n",
            outcome.fuel_used,
            hex::encode(outcome.output_sha256)
        )),
        "{text}"
    );
}

#[test]
fn exec_run_refuses_a_module_that_imports_a_clock() {
    let dir = tempfile::tempdir().unwrap();
    let module = write(
        dir.path(),
        "clock.wat",
        br#"(module (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
              (func (export "run")))"#,
    );
    let input = write(dir.path(), "in.bin", b"");
    let out = agora_output(&[
        "exec", "run", "--module", &module, "--input", &input, "--fuel", "1000",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not a valid job") && stderr.contains("clock_time_get"),
        "{stderr}"
    );
    let missing = agora_output(&[
        "exec",
        "run",
        "--module",
        "/nonexistent.wat",
        "--input",
        &input,
        "--fuel",
        "1",
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read the module"));
}
