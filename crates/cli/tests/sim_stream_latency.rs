//! `agora sim stream latency` as a user runs it: agents on a fresh chain exchanging offers,
//! inputs, outputs and test seqs over the embedded bus and over a real nats-server.

mod common;

use common::*;

/// The contract's fields, each {p50, p99} from enough samples, and the bus's message count.
fn check(r: &serde_json::Value, bus: &str, allocations: u64, frames: u64) {
    assert_eq!(r["bus"], bus);
    assert_eq!(r["allocations"].as_u64(), Some(allocations), "{r}");
    assert_eq!(r["conserved"], true, "{r}");
    // A whole allocation's inputs at least reached the customer as outputs (an allocation
    // may draw two lazy replicas), every allocated supplier offer was timed, and the lazy
    // group's skipped work was mediated at least once.
    let least = [
        ("input_to_output_ms", frames),
        ("offer_to_allocation_ms", allocations * 2),
        ("mediation_ms", 1),
    ];
    for (field, samples) in least {
        let q = &r[field];
        let (p50, p99) = (q["p50"].as_f64().unwrap(), q["p99"].as_f64().unwrap());
        assert!(0.0 <= p50 && p50 <= p99, "{field}: {q}");
        assert!(q["samples"].as_u64().unwrap() >= samples, "{field}: {q}");
    }
    // Offers, one message per input, the honest replicas' outputs, the customers' answers.
    let messages = r["messages"].as_u64().unwrap();
    assert!(messages > allocations * frames, "{messages}");
    let mediated = r["outcomes"]["mediated"].as_u64().unwrap_or(0);
    assert_eq!(
        mediated as usize,
        r["mediation_ms"]["samples"].as_u64().unwrap() as usize
    );
}

#[test]
fn latency_on_the_embedded_bus() {
    let r = agora_json(&[
        "sim",
        "stream",
        "latency",
        "--allocations",
        "6",
        "--frames",
        "40",
    ]);
    check(&r, "embedded", 6, 40);
}

#[test]
fn latency_on_nats() {
    let r = agora_json(&[
        "sim",
        "stream",
        "latency",
        "--bus",
        "nats",
        "--allocations",
        "3",
        "--frames",
        "30",
    ]);
    check(&r, "nats", 3, 30);
}

/// `--bus nats` without the server fails and says what to install.
#[test]
fn a_missing_nats_server_is_a_clear_error() {
    let out = agora_output(&[
        "sim",
        "stream",
        "latency",
        "--bus",
        "nats",
        "--nats-server",
        "/nonexistent/nats-server",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("apt-get install -y nats-server"),
        "{stderr}"
    );
}
