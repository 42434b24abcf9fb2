//! The conformance suite on the embedded bus.

mod conformance;

use agora_channels::embedded::EmbeddedBroker;
use agora_channels::Bus;
use agora_types::Keypair;
use async_trait::async_trait;
use conformance::Fixture;

struct Embedded(EmbeddedBroker);

#[async_trait]
impl Fixture for Embedded {
    async fn connect(&self, key: &Keypair) -> Box<dyn Bus> {
        Box::new(self.0.connect(key.clone()))
    }
}

async fn fixture() -> Embedded {
    Embedded(EmbeddedBroker::new())
}

conformance_tests!(fixture);

#[tokio::test]
async fn attack_creating_channels_without_bound() {
    let fixture = Embedded(EmbeddedBroker::with_quota(conformance::QUOTA));
    conformance::attack_creating_channels_without_bound(&fixture).await;
}
