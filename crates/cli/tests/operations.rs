//! What an operator uses: the configuration file (`agora node --config`, `--print-config`),
//! JSON logs, `/health`, `/ready`, `/metrics` and the explorer on the RPC port, and `agora
//! status` saying whether the node caught up.

mod common;

use agora_client::Client;
use common::*;
use std::time::Duration;

async fn get(url: &str) -> (u16, String) {
    match reqwest::get(url).await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

fn print_config(args: &[&str]) -> String {
    let out = agora_output(&[&["node", "--print-config"], args].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn printed_config_is_accepted_unchanged_and_bad_ones_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let printed = print_config(&[]);
    assert!(printed.contains("[limits.mempool]"), "{printed}");
    assert!(printed.contains("\nformat = \"text\""), "{printed}");
    let file = dir.path().join("node.toml");
    std::fs::write(&file, &printed).unwrap();
    // Read back and printed again: the same file.
    assert_eq!(print_config(&["--config", file.to_str().unwrap()]), printed);

    // A misspelt field, a wrong type, a bad log format: refused, naming the file and field.
    for (bad, named) in [
        ("[limits.rpc]\nmax_bach = 4\n", "max_bach"),
        ("base_port = \"eighty\"\n", "base_port"),
        ("[log]\nformat = \"xml\"\n", "xml"),
    ] {
        std::fs::write(&file, bad).unwrap();
        let home = dir.path().join("home");
        let out = agora_output(&[
            "node",
            "--home",
            home.to_str().unwrap(),
            "--config",
            file.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted {bad:?}");
        assert!(
            stderr.contains("bad configuration") && stderr.contains("node.toml"),
            "{stderr}"
        );
        assert!(stderr.contains(named), "{stderr}");
        assert!(!home.exists(), "a refused configuration created the home");
    }
    let out = agora_output(&[
        "node",
        "--print-config",
        "--config",
        "/nonexistent/node.toml",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the configuration"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_run_from_the_printed_config_serves_health_ready_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, print_config(&[])).unwrap();
    let home = dir.path().join("chain");
    let port = free_base_port(2);
    let _node = spawn_node_with(&home, port, &["--config", config.to_str().unwrap()]);
    let base = url(port);
    let client = Client::new(&base).unwrap();
    wait_height(&client, 1, Duration::from_secs(60)).await;

    assert_eq!(get(&format!("{base}/health")).await, (200, "ok".into()));
    wait_until("/ready", Duration::from_secs(60), || async {
        get(&format!("{base}/ready")).await.0 == 200
    })
    .await;
    let (code, metrics) = get(&format!("{base}/metrics")).await;
    assert_eq!(code, 200);
    let finalized = metrics
        .lines()
        .find_map(|l| l.strip_prefix("agora_finalized_height "))
        .unwrap_or_else(|| panic!("no agora_finalized_height: {metrics}"));
    assert!(finalized.parse::<u64>().unwrap() >= 1);
    assert!(metrics.contains("agora_block_execution_seconds_bucket"));
    // Commonware's own metrics, in the same text.
    assert!(metrics.contains("runtime_tasks_spawned_total"), "{metrics}");

    // The explorer on the same port, for browsers at / too.
    for path in ["/", "/explorer"] {
        let (code, html) = get(&format!("{base}{path}")).await;
        assert_eq!(code, 200);
        assert!(
            html.starts_with("<!DOCTYPE html>") && html.contains("agora-local"),
            "{html}"
        );
    }

    let status = agora_json(&["--rpc", &base, "status"]);
    assert_eq!(status["caught_up"], true, "{status}");
    let text = agora_output(&["--rpc", &base, "status"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("caught up: yes"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\n").unwrap();
    let home = dir.path().join("chain");
    let port = free_base_port(2);
    let mut node = spawn_node_with(&home, port, &["--config", config.to_str().unwrap()]);
    wait_height(
        &Client::new(&url(port)).unwrap(),
        1,
        Duration::from_secs(60),
    )
    .await;
    node.terminate();
    let log = std::fs::read_to_string(home.with_extension("log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains("validator started")),
        "{log}"
    );
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["level"].is_string(), "{line}");
    }
}
