//! Crashes: `kill -9` of a node under load, and of one of four validators.

mod common;

use agora_bank::BankCall;
use agora_client::Client;
use agora_types::{Keypair, Receipt, Transaction, TxHash, TxStatus};
use common::*;
use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_load_loses_and_repeats_nothing() {
    let SingleNode {
        dir: _dir,
        home,
        port,
        mut node,
        client,
    } = single_node().await;
    let faucet_key = faucet(&home);
    let faucet = faucet_key.clone();
    let chain_id = client.status().await.unwrap().chain_id;
    let recipients: Vec<_> = (0..5)
        .map(|i| Keypair::from_seed(40 + i).address())
        .collect();

    // Stream transfers in and remember every receipt seen before the crash.
    let stop = Arc::new(AtomicBool::new(false));
    let submitted: Arc<Mutex<Vec<(TxHash, usize, u64)>>> = Arc::default();
    let seen: Arc<Mutex<BTreeMap<TxHash, Receipt>>> = Arc::default();
    let streamer = {
        let (client, stop, submitted, seen, recipients) = (
            client.clone(),
            stop.clone(),
            submitted.clone(),
            seen.clone(),
            recipients.clone(),
        );
        tokio::spawn(async move {
            let mut nonce = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let to = (nonce % 5) as usize;
                let amount = 1 + nonce;
                let tx = Transaction {
                    chain_id: chain_id.clone(),
                    sender: faucet.address(),
                    nonce,
                    call: BankCall::Transfer {
                        to: recipients[to],
                        amount,
                    }
                    .into_call(),
                }
                .sign(&faucet);
                if client.submit(&tx).await.is_err() {
                    break;
                }
                submitted.lock().unwrap().push((tx.hash(), to, amount));
                nonce += 1;
                let pending: Vec<TxHash> = {
                    let seen = seen.lock().unwrap();
                    submitted
                        .lock()
                        .unwrap()
                        .iter()
                        .map(|s| s.0)
                        .filter(|h| !seen.contains_key(h))
                        .collect()
                };
                for hash in pending {
                    if let Ok(Some(receipt)) = client.receipt(&hash).await {
                        seen.lock().unwrap().insert(hash, receipt);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    wait_until("receipts before the crash", Duration::from_secs(60), || {
        let seen = seen.clone();
        async move { seen.lock().unwrap().len() >= 30 }
    })
    .await;
    node.kill9();
    stop.store(true, Ordering::Relaxed);
    let _ = streamer.await;
    let before = seen.lock().unwrap().clone();
    let submitted = submitted.lock().unwrap().clone();

    let _node = spawn_node(&home, port);
    wait_until("the restarted node", Duration::from_secs(60), || async {
        client.status().await.is_ok()
    })
    .await;

    // Every receipt seen before the crash is still there, unchanged.
    for (hash, receipt) in &before {
        assert_eq!(
            client.receipt(hash).await.unwrap().as_ref(),
            Some(receipt),
            "receipt of {hash} changed"
        );
    }
    // Blocks finalized before the crash but not yet executed are executed again after the
    // restart; wait until the faucet's nonce holds still over a few new blocks.
    let next = loop {
        let nonce = client.next_nonce(&faucet_key.address()).await.unwrap();
        let height = client.status().await.unwrap().height;
        wait_height(&client, height + 3, Duration::from_secs(60)).await;
        if client.next_nonce(&faucet_key.address()).await.unwrap() == nonce {
            break nonce;
        }
    };
    // The node goes on finalizing new transfers.
    let fresh = client
        .send(
            &faucet_key,
            BankCall::Transfer {
                to: recipients[0],
                amount: 1,
            }
            .into_call(),
        )
        .await
        .unwrap();
    assert_eq!(fresh.tx.nonce, next);
    client
        .wait_for_receipt(&fresh.hash(), Duration::from_secs(60))
        .await
        .unwrap();

    // Nothing applied twice: balances are exactly the sum of the executed transfers.
    let mut expected = [0u64; 5];
    let mut executed = 0;
    for (hash, to, amount) in &submitted {
        if let Some(receipt) = client.receipt(hash).await.unwrap() {
            assert_eq!(receipt.status, TxStatus::Success);
            expected[*to] += amount;
            executed += 1;
        }
    }
    expected[0] += 1;
    assert!(executed >= before.len());
    for (i, address) in recipients.iter().enumerate() {
        assert_eq!(
            client.balance(address).await.unwrap(),
            expected[i],
            "recipient {i}"
        );
    }
    assert_eq!(
        next, executed as u64,
        "the faucet's nonce counts each executed transfer once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn four_validators_survive_a_kill_and_the_restarted_one_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    let base = free_base_port(8);
    let mut devnet = Proc(
        agora()
            .args(["devnet", "--validators", "4", "--json", "--home"])
            .arg(&home)
            .args(["--base-port", &base.to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let info: serde_json::Value = {
        use std::io::BufRead;
        let stdout = devnet.0.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .unwrap();
            line
        })
        .await
        .unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("devnet printed {line:?}: {e}"))
    };
    let rpcs: Vec<String> = info["rpc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let pids: Vec<u32> = info["pids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(rpcs.len(), 4);
    let clients: Vec<Client> = rpcs.iter().map(|u| Client::new(u).unwrap()).collect();
    for c in &clients {
        wait_height(c, 2, Duration::from_secs(60)).await;
    }
    let faucet = Keypair::read(&home.join("faucet.key")).unwrap();
    let to = Keypair::from_seed(77).address();

    // Kill validator 3.
    // SAFETY: kill(2) on a pid that devnet started for this test.
    unsafe {
        libc::kill(pids[3] as libc::pid_t, libc::SIGKILL);
    }
    let h = clients[0].status().await.unwrap().height;
    for c in &clients[..3] {
        wait_height(c, h + 5, Duration::from_secs(90)).await;
    }
    let tx = clients[0]
        .send(&faucet, BankCall::Transfer { to, amount: 42 }.into_call())
        .await
        .unwrap();
    clients[0]
        .wait_for_receipt(&tx.hash(), Duration::from_secs(90))
        .await
        .unwrap();

    // Restart it by hand: it catches up to the same state.
    let _validator3 = spawn_node(&home.join("validator-3"), base);
    let target = clients[0].status().await.unwrap().height + 2;
    for c in &clients {
        wait_height(c, target, Duration::from_secs(120)).await;
    }
    let roots: Vec<String> = {
        let mut roots = Vec::new();
        for c in &clients {
            roots.push(c.block(target).await.unwrap().unwrap().state_root);
        }
        roots
    };
    assert!(
        roots.windows(2).all(|w| w[0] == w[1]),
        "state roots differ at {target}: {roots:?}"
    );
    assert_eq!(clients[3].balance(&to).await.unwrap(), 42);

    // Devnet stops its validators cleanly.
    assert!(devnet.terminate().success());
    for pid in &pids[..3] {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists() || is_zombie(*pid),
            "validator {pid} still runs"
        );
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2) == Some("Z"))
        .unwrap_or(true)
}

#[tokio::test(flavor = "multi_thread")]
async fn devnet_resumes_its_chain() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("devnet");
    let base = free_base_port(2);
    let start = || {
        Proc(
            agora()
                .args(["devnet", "--home"])
                .arg(&home)
                .args(["--base-port", &base.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        )
    };
    let client = Client::new(&url(base)).unwrap();
    let mut devnet = start();
    wait_height(&client, 1, Duration::from_secs(60)).await;
    let faucet = Keypair::read(&home.join("faucet.key")).unwrap();
    let to = Keypair::from_seed(91).address();
    let tx = client
        .send(&faucet, BankCall::Transfer { to, amount: 9 }.into_call())
        .await
        .unwrap();
    let receipt = client
        .wait_for_receipt(&tx.hash(), Duration::from_secs(30))
        .await
        .unwrap();
    let before = client.status().await.unwrap();
    assert!(devnet.terminate().success());

    let _devnet = start();
    wait_height(&client, before.height + 1, Duration::from_secs(60)).await;
    let after = client.status().await.unwrap();
    assert_eq!(after.chain_id, before.chain_id);
    assert_eq!(client.balance(&to).await.unwrap(), 9);
    assert_eq!(client.receipt(&tx.hash()).await.unwrap(), Some(receipt));
    assert_eq!(
        client
            .block(before.height)
            .await
            .unwrap()
            .unwrap()
            .state_root,
        before.state_root
    );
}
