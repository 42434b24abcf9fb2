//! A token bucket per client IP for JSON-RPC calls, as a jsonrpsee middleware.
//!
//! Every call (each call of a batch too) takes a token from its client's bucket; an empty
//! bucket answers [`RATE_LIMITED`] instead of running the call. Each page request
//! ([`crate::http`]) takes a token from the same bucket. IPv6 clients are bucketed by
//! their /64, which one host usually owns whole.

use crate::limits::RpcLimits;
use agora_client::RATE_LIMITED;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonrpsee::{
    core::middleware::{Batch, BatchEntry, BatchEntryErr, Notification, RpcServiceT},
    types::{ErrorObject, ErrorObjectOwned, Request},
    Extensions, MethodResponse,
};
use std::{
    future::Future,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::Arc,
};

/// The address of the client that sent a request; the server puts it in the request's
/// extensions when it accepts the connection.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// Buckets kept before idle ones (full again) are forgotten.
const MAX_TRACKED: usize = 65_536;

/// The buckets of every client.
pub struct ClientLimiter {
    buckets: DefaultKeyedRateLimiter<IpAddr>,
    limit_loopback: bool,
    error: ErrorObjectOwned,
}

impl ClientLimiter {
    pub fn new(limits: &RpcLimits) -> Self {
        let rate = NonZeroU32::new(limits.requests_per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limits.burst).unwrap_or(NonZeroU32::MIN);
        let message = format!(
            "rate limit exceeded: a client may make {burst} calls at once and {rate} a minute"
        );
        Self {
            buckets: RateLimiter::keyed(Quota::per_minute(rate).allow_burst(burst)),
            limit_loopback: limits.limit_loopback,
            error: ErrorObject::owned(RATE_LIMITED, message, None::<()>),
        }
    }

    /// Takes a token for one call (or page) of the client the request came from.
    pub(crate) fn allow(&self, extensions: &Extensions) -> bool {
        let Some(ClientIp(ip)) = extensions.get::<ClientIp>().copied() else {
            // Only requests the server accepted itself carry an address.
            return true;
        };
        if ip.is_loopback() && !self.limit_loopback {
            return true;
        }
        if self.buckets.len() > MAX_TRACKED {
            self.buckets.retain_recent();
        }
        self.buckets.check_key(&bucket(ip)).is_ok()
    }
}

/// The key of an address's bucket: IPv4 addresses alone, IPv6 ones by /64.
fn bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// The middleware: wraps the RPC service of each connection.
#[derive(Clone)]
pub struct RateLimited<S> {
    pub service: S,
    pub limiter: Arc<ClientLimiter>,
}

impl<S> RpcServiceT for RateLimited<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let allowed = self.limiter.allow(request.extensions());
        let (service, limiter) = (self.service.clone(), self.limiter.clone());
        async move {
            if allowed {
                service.call(request).await
            } else {
                MethodResponse::error(request.id, limiter.error.clone())
            }
        }
    }

    fn batch<'a>(&self, mut batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        for entry in batch.iter_mut() {
            if let Ok(BatchEntry::Call(request)) = entry {
                if !self.limiter.allow(request.extensions()) {
                    let id = request.id.clone();
                    *entry = Err(BatchEntryErr::new(id, self.limiter.error.clone()));
                }
            }
        }
        let service = self.service.clone();
        async move { service.batch(batch).await }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.service.notification(n)
    }
}
