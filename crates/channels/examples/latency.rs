//! Publish -> receive latency of one channel on either bus, for BENCHMARKS.md:
//! `cargo run -p agora-channels --example latency -- [embedded|nats] [messages]`.
//!
//! A customer publishes `messages` signed envelopes one at a time on an allocation's input
//! channel; a supplier granted read receives each before the next is sent, so every sample is
//! one message's trip (sign, store, deliver, verify) without queueing behind others.

use agora_channels::embedded::EmbeddedBroker;
use agora_channels::nats::{NatsAuthority, NatsBus};
use agora_channels::{Access, Bus, ChannelSpec, Filter, Start, Subject};
use agora_types::Keypair;
use std::sync::Arc;
use std::time::Instant;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "embedded".into());
    let messages: usize = args.next().map(|n| n.parse()).transpose()?.unwrap_or(2000);
    let (customer, supplier) = (Keypair::from_seed(1), Keypair::from_seed(2));
    let dir = tempfile::tempdir()?;
    let (customer, supplier): (Box<dyn Bus>, Box<dyn Bus>) = match backend.as_str() {
        "embedded" => {
            let broker = EmbeddedBroker::new();
            (
                Box::new(broker.connect(customer)),
                Box::new(broker.connect(supplier)),
            )
        }
        "nats" => {
            let authority = Arc::new(NatsAuthority::start(dir.path()).await?);
            (
                Box::new(NatsBus::connect(authority.clone(), customer).await?),
                Box::new(NatsBus::connect(authority, supplier).await?),
            )
        }
        other => return Err(format!("unknown bus {other:?}: embedded or nats").into()),
    };
    let input = Subject::new("agora.stream.1.a.7.input")?;
    customer.create(&input, ChannelSpec::default()).await?;
    let granting = Instant::now();
    customer
        .grant(&input, supplier.principal(), Access::Subscribe)
        .await?;
    // On NATS a grant regenerates the server's configuration and waits for its reload.
    let grant_ms = granting.elapsed().as_secs_f64() * 1e3;
    let mut sub = supplier
        .subscribe(&Filter::from(&input), Start::New)
        .await?;
    let payload = vec![7u8; 256];
    let mut samples = Vec::with_capacity(messages);
    for _ in 0..messages {
        let sent = Instant::now();
        customer.publish(&input, payload.clone()).await?;
        sub.next().await.ok_or("subscription ended")??;
        samples.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{backend}: grant {grant_ms:.1} ms; {messages} messages of 256 bytes, publish -> receive \
         p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        at(0.5),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
