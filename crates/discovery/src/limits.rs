//! Bounds on what a daemon holds for others, so that no sender can make it grow without
//! limit (each cap is listed in docs/discovery.md), and the per-source rate limit on
//! datagrams, applied before any signature is checked.

use std::{
    collections::HashMap,
    net::IpAddr,
    time::{Duration, Instant},
};

/// Hosts (heard by beacon or through a gateway) held at once, and peers whose address is
/// kept for pushes.
pub const MAX_HOSTS: usize = 1024;
/// Other hosts' records held (one per topic subscribed to and host offering it).
pub const MAX_KNOWN: usize = 16 * 1024;
/// Topics this host's components may offer, and topics they may subscribe to.
pub const MAX_LOCAL_TOPICS: usize = 1024;
/// Records the DHT store holds for others (each at most a datagram: about 60 MiB at most).
pub const MAX_DHT_RECORDS: usize = 1024;
/// Of those, records of one host.
pub const MAX_DHT_RECORDS_PER_HOST: usize = 256;
/// Hosts held as providers of one DHT key, and keys with providers.
pub const MAX_PROVIDERS_PER_KEY: usize = 256;
pub const MAX_PROVIDER_KEYS: usize = 4096;
/// Datagrams taken from one source address: a steady rate and a burst (a host that rejoins
/// re-broadcasts all its records at once).
pub const SOURCE_RATE_PER_S: u32 = 512;
pub const SOURCE_BURST: u32 = 2048;
/// Datagrams taken from all sources together, per second.
pub const TOTAL_RATE_PER_S: u32 = 8192;
/// Source addresses whose rate is tracked; a source idle for [`SOURCE_IDLE`] makes room.
pub const MAX_SOURCES: usize = 4096;
pub const SOURCE_IDLE: Duration = Duration::from_secs(10);

/// A token bucket: `rate` tokens a second, up to `burst`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Self {
        Self {
            tokens: burst as f64,
            at: now,
        }
    }

    fn take(&mut self, rate: u32, burst: u32, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate as f64).min(burst as f64);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Per-source and total rate limits on datagrams.
pub struct RateLimiter {
    sources: HashMap<IpAddr, Bucket>,
    total: Bucket,
}

impl RateLimiter {
    pub fn new(now: Instant) -> Self {
        Self {
            sources: HashMap::new(),
            total: Bucket::full(TOTAL_RATE_PER_S, now),
        }
    }

    /// Whether a datagram from `source` at `now` is within the limits.
    pub fn allow(&mut self, source: IpAddr, now: Instant) -> bool {
        if !self.sources.contains_key(&source) && self.sources.len() >= MAX_SOURCES {
            self.sources
                .retain(|_, b| now.saturating_duration_since(b.at) < SOURCE_IDLE);
            if self.sources.len() >= MAX_SOURCES {
                return false;
            }
        }
        let bucket = self
            .sources
            .entry(source)
            .or_insert_with(|| Bucket::full(SOURCE_BURST, now));
        bucket.take(SOURCE_RATE_PER_S, SOURCE_BURST, now)
            && self.total.take(TOTAL_RATE_PER_S, TOTAL_RATE_PER_S, now)
    }

    /// Sources tracked now.
    pub fn sources(&self) -> usize {
        self.sources.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn a_flooding_source_is_cut_to_its_rate_and_others_still_pass() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(t0);
        let flood: IpAddr = Ipv4Addr::new(10, 0, 0, 66).into();
        let honest: IpAddr = Ipv4Addr::new(10, 0, 0, 1).into();
        // All at one instant: the burst passes, the rest does not.
        let passed = (0..10_000).filter(|_| limiter.allow(flood, t0)).count();
        assert_eq!(passed, SOURCE_BURST as usize);
        assert!(limiter.allow(honest, t0));
        // A second later the flood gets its rate's worth again.
        let t1 = t0 + Duration::from_secs(1);
        let passed = (0..10_000).filter(|_| limiter.allow(flood, t1)).count();
        assert_eq!(passed, SOURCE_RATE_PER_S as usize);
    }

    #[test]
    fn many_sources_stay_under_the_cap() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(t0);
        let mut t = t0;
        for i in 0..(MAX_SOURCES as u32 * 3) {
            // Slowly enough that the total rate is not what stops them.
            t += Duration::from_millis(1);
            limiter.allow(Ipv4Addr::from(0x0a00_0000 + i).into(), t);
            assert!(limiter.sources() <= MAX_SOURCES);
        }
        // Idle sources make room for new ones.
        let later = t + SOURCE_IDLE * 2;
        assert!(limiter.allow(Ipv4Addr::new(192, 168, 0, 1).into(), later));
        assert!(limiter.sources() < MAX_SOURCES);
    }
}
