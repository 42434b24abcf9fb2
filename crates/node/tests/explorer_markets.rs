//! The explorer's pages of the allocation, compute and stream markets, an account's holds,
//! search by block digest, and the open-offers gauge and batch errors in `/metrics`, through
//! HTTP against the real server.

mod common;

use agora_allocation::{AllocationCall, Alternative, Assignment};
use agora_compute::examples::{self as g4, Party};
use agora_compute::ComputeCall as C;
use agora_node::limits::RpcLimits;
use agora_stream::{StreamCall, StreamParams, Terms};
use agora_types::{Call, Keypair, TxStatus};
use common::*;
use serde_json::{json, Value};

async fn page(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn twin(url: &str) -> Value {
    let (code, text) = page(&format!("{url}?format=json")).await;
    assert_eq!(code, 200, "{url}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn ok(blocks: &mut Blocks<'_>, key: &Keypair, call: Call) {
    let r = blocks.run(key, call);
    assert_eq!(r.status, TxStatus::Success, "{:?}", r.message);
}

fn fund(blocks: &mut Blocks<'_>, faucet: &Keypair, keys: &[&Keypair]) {
    for k in keys {
        let call = agora_bank::BankCall::Transfer {
            to: k.address(),
            amount: 10_000_000,
        };
        ok(blocks, faucet, call.into_call());
    }
}

/// Allocation market 0 (settling, phases of 3 s against blocks 1 s apart): a provider's and
/// a consumer's offers (the consumer's holds its worst-case payment), closed, and a candidate
/// assigning 2 units.
fn allocation_market(blocks: &mut Blocks<'_>, admin: &Keypair, p: &Keypair, c: &Keypair) {
    let params = agora_allocation::MarketParams {
        receive_ms: 3_000,
        ..agora_allocation::examples::params(true)
    };
    ok(
        blocks,
        admin,
        AllocationCall::CreateMarket(params).into_call(),
    );
    for (key, side, value) in [
        (p, agora_allocation::Side::Provide, 5),
        (c, agora_allocation::Side::Consume, 9),
    ] {
        let call = AllocationCall::PlaceOffer {
            market: 0,
            side,
            misc: 0,
            alternatives: vec![Alternative {
                rtype: 3,
                quantity: 2,
                value,
            }],
        };
        ok(blocks, key, call.into_call());
    }
    ok(
        blocks,
        admin,
        AllocationCall::Close { market: 0 }.into_call(),
    );
    let submit = AllocationCall::SubmitSolution {
        market: 0,
        misc: 0,
        assignments: vec![Assignment {
            provider: 0,
            consumer: 1,
            rtype: 3,
            quantity: 2,
            price: 7,
        }],
    };
    ok(blocks, admin, submit.into_call());
}

/// Compute market 0 with every role registered and trusting each other, a job offer (0) and a
/// resource offer (1), matched by the solver: match 0 awaits its result.
fn compute_market(blocks: &mut Blocks<'_>, keys: &[Keypair; 5]) {
    let [jc, rp, med, dir, solver] = keys;
    let m = 0;
    ok(blocks, solver, C::CreateMarket(g4::params()).into_call());
    for (party, call) in g4::registrations(m, &med.address(), &dir.address()) {
        let key = match party {
            Party::JobCreator => jc,
            Party::ResourceProvider => rp,
            Party::Mediator => med,
            Party::Directory => dir,
        };
        ok(blocks, key, call.into_call());
    }
    ok(
        blocks,
        jc,
        g4::job_offer(m, &dir.address(), 100_000).into_call(),
    );
    ok(blocks, rp, g4::resource_offer(m).into_call());
    ok(
        blocks,
        solver,
        g4::post_match(m, &med.address()).into_call(),
    );
}

/// Stream market 0 with one allocation whose suppliers are all added: it is signing.
fn stream_market(blocks: &mut Blocks<'_>, allocator: &Keypair, customer: &Keypair) {
    let params = StreamParams {
        sign_timeout_ms: 30_000_000,
        ..agora_stream::examples::params()
    };
    ok(
        blocks,
        allocator,
        StreamCall::CreateMarket(params).into_call(),
    );
    let start = blocks.height * 1000 + 1_000_000;
    let terms = Terms {
        start_ms: start,
        end_ms: start + 600_000,
        replicas: 1,
        ..agora_stream::examples::terms(&customer.address(), &Keypair::from_seed(77).address())
    };
    let create = StreamCall::CreateAllocation { market: 0, terms };
    ok(blocks, allocator, create.into_call());
    let add = StreamCall::AddSupplier {
        market: 0,
        allocation: 0,
        supplier: Keypair::from_seed(78).address(),
        offer_hash: [10; 32],
        done: true,
    };
    ok(blocks, allocator, add.into_call());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_market_has_a_page_and_accounts_show_their_holds() {
    let node = served(RpcLimits::default()).await;
    let base = format!("http://{}", node.addr);
    let faucet = Keypair::from_seed(1);
    let keys: [Keypair; 5] = std::array::from_fn(|i| Keypair::from_seed(10 + i as u64));
    let mut blocks = Blocks::new(&node.state.executor);
    fund(&mut blocks, &faucet, &keys.iter().collect::<Vec<_>>());
    let [a, b, c, d, e] = &keys;
    allocation_market(&mut blocks, a, b, c);
    compute_market(&mut blocks, &keys);
    stream_market(&mut blocks, d, e);

    // The front page lists every market; each page renders with its plot.
    let front = twin(&format!("{base}/explorer")).await;
    for module in ["allocation", "compute", "stream"] {
        assert_eq!(front["markets"][module], json!([0]), "{front}");
        let (code, html) = page(&format!("{base}/explorer/{module}/0")).await;
        assert_eq!(code, 200, "{html}");
        assert!(html.contains("<svg"), "{html}");
        assert!(html.starts_with("<!DOCTYPE html>"));
        let (html_front, _) = (page(&format!("{base}/explorer")).await.1, ());
        assert!(html_front.contains(&format!("href=\"/explorer/{module}/0\"")));
    }

    // Allocation: the cycle's offers and the candidate's assignment, then finalized.
    let alloc = twin(&format!("{base}/explorer/allocation/0")).await;
    assert_eq!(alloc["offer_count"], 2, "{alloc}");
    assert_eq!(alloc["market"]["phase"], "solve", "{alloc}");
    assert_eq!(alloc["candidate_assignments"][0]["quantity"], 2, "{alloc}");
    ok(
        &mut blocks,
        a,
        AllocationCall::Finalize { market: 0 }.into_call(),
    );
    let alloc = twin(&format!("{base}/explorer/allocation/0")).await;
    assert_eq!(alloc["finalized"][0]["cycle"], 0, "{alloc}");
    assert_eq!(alloc["finalized"][0]["record"]["assignments"], 1, "{alloc}");

    // Compute: both offers matched, the match awaiting its result.
    let compute = twin(&format!("{base}/explorer/compute/0")).await;
    assert_eq!(
        compute["matches"][0]["state"], "awaiting_result",
        "{compute}"
    );
    assert_eq!(compute["match_states"]["awaiting_result"], 1, "{compute}");
    assert_eq!(compute["job_offers"].as_array().unwrap().len(), 1);
    assert_eq!(compute["resource_offers"].as_array().unwrap().len(), 1);
    let (_, html) = page(&format!("{base}/explorer/compute/0")).await;
    assert!(html.contains("awaiting_result"), "{html}");

    // Stream: the allocation signing.
    let stream = twin(&format!("{base}/explorer/stream/0")).await;
    assert_eq!(stream["allocations"][0]["phase"], "signing", "{stream}");
    assert_eq!(stream["phases"]["signing"], 1, "{stream}");

    // The job creator's and the resource provider's deposits are held by the compute market.
    let [jc, rp] = [&keys[0], &keys[1]];
    for (who, amount) in [(jc, 260_060u64), (rp, 300_000)] {
        let account = twin(&format!("{base}/explorer/account/{}", who.address())).await;
        let holds = account["holds"].as_array().unwrap();
        assert!(
            holds
                .iter()
                .any(|h| h["amount"].as_u64().unwrap() >= amount - 100),
            "{account}"
        );
        assert_eq!(
            account["held"].as_u64().unwrap(),
            holds
                .iter()
                .map(|h| h["amount"].as_u64().unwrap())
                .sum::<u64>()
        );
        let (_, html) = page(&format!("{base}/explorer/account/{}", who.address())).await;
        assert!(html.contains("the compute market"), "{html}");
    }

    // Search by a block's digest finds the block.
    let block = node.state.executor.block(3).unwrap().unwrap();
    let response = reqwest::get(format!("{base}/explorer/search?q={}", block.digest))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.url().path(), "/explorer/block/3");
    for (path, says) in [
        ("/explorer/allocation/9", "no allocation market 9"),
        ("/explorer/compute/x", "is not a market number"),
        ("/explorer/stream/99", "no stream market 99"),
    ] {
        let (code, html) = page(&format!("{base}{path}")).await;
        assert!(code == 404 || code == 400, "{path}: {code}");
        assert!(html.contains(says), "{path}: {html}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_gauge_open_offers_per_market_and_count_errors_inside_batches() {
    let node = served(RpcLimits::default()).await;
    let base = format!("http://{}", node.addr);
    let faucet = Keypair::from_seed(1);
    let keys: [Keypair; 5] = std::array::from_fn(|i| Keypair::from_seed(10 + i as u64));
    let mut blocks = Blocks::new(&node.state.executor);
    fund(&mut blocks, &faucet, &keys.iter().collect::<Vec<_>>());
    let (seller, buyer) = (Keypair::from_seed(2), Keypair::from_seed(3));
    fund(&mut blocks, &faucet, &[&seller, &buyer]);
    energy_market(&mut blocks, &faucet, &seller, &buyer);
    allocation_market(&mut blocks, &keys[0], &keys[1], &keys[2]);

    let (_, metrics) = page(&format!("{base}/metrics")).await;
    for line in [
        "agora_open_offers{module=\"energy\",market=\"0\"} 2",
        "agora_open_offers{module=\"allocation\",market=\"0\"} 2",
    ] {
        assert!(metrics.contains(line), "no {line}: {metrics}");
    }

    // A batch of a good call, a failing call and an entry that is no request.
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"agora_status","params":[]},
        {"jsonrpc":"2.0","id":2,"method":"agora_getBlock","params":["x"]},
        {"jsonrpc":"2.0","id":3}]"#;
    let answer = reqwest::Client::new()
        .post(&base)
        .header("content-type", "application/json")
        .body(batch)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let answer: Value = serde_json::from_str(&answer).unwrap();
    let answers = answer.as_array().unwrap();
    assert_eq!(answers.len(), 3, "{answer}");
    assert!(answers
        .iter()
        .any(|a| a["id"] == 1 && a["result"].is_object()));
    assert!(answers
        .iter()
        .any(|a| a["id"] == 2 && a["error"].is_object()));
    let (_, metrics) = page(&format!("{base}/metrics")).await;
    for line in [
        "agora_rpc_requests_total{method=\"agora_status\"} 1",
        "agora_rpc_errors_total{method=\"agora_getBlock\"} 1",
        "agora_rpc_errors_total{method=\"other\"} 1",
    ] {
        assert!(metrics.contains(line), "no {line}: {metrics}");
    }
    assert!(!metrics.contains("agora_rpc_errors_total{method=\"agora_status\"}"));
}
