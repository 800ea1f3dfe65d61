//! Failed code exchanges, counted per client address.
//!
//! Anyone can start a flow, read its `state` from the redirect and call the callback with a
//! made-up code: each try costs a token request signed with the app's client secret, and a
//! provider that throttles the client id would throttle it for everyone. A state is spent once
//! (`pending_flows::SpentStates`), so each flow costs at most one token request; what is left to
//! bound is how many flows one client can burn. After `MAX_FAILED` failed exchanges from one
//! address within `WINDOW` (of the last one), its callbacks are refused with a 429 before any
//! token request, until the window passes. Exchanges that succeed are not counted, nor failures
//! that are the provider's (down, slow).
//!
//! Why not `actix-governor`: it limits requests, and a callback is a legitimate request; what
//! must be limited is failures, known only after the exchange. A bounded moka cache (already
//! the app's cache) counts them in a dozen lines. Per instance: with several instances behind a
//! load balancer, a client gets `MAX_FAILED` per instance.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::HttpRequest;
use moka::future::Cache;
use moka::ops::compute::Op;

/// Failed exchanges one address may make within `WINDOW`.
pub const MAX_FAILED: u32 = 10;
/// How long a failure counts (from the address's last failure).
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
/// Addresses remembered at most (the least recently used are forgotten first).
const MAX_ADDRESSES: u64 = 100_000;

pub struct ExchangeLimit {
    failures: Cache<IpAddr, u32>,
}

impl Default for ExchangeLimit {
    fn default() -> Self {
        Self {
            failures: Cache::builder()
                .max_capacity(MAX_ADDRESSES)
                .time_to_live(WINDOW)
                .build(),
        }
    }
}

impl ExchangeLimit {
    /// Whether `client` may try an exchange now.
    pub async fn allows(&self, client: IpAddr) -> bool {
        self.failures.get(&client).await.unwrap_or(0) < MAX_FAILED
    }

    /// Counts a failed exchange of `client`.
    pub async fn failed(&self, client: IpAddr) {
        self.failures
            .entry(client)
            .and_compute_with(|count| {
                std::future::ready(Op::Put(count.map_or(1, |c| c.into_value() + 1)))
            })
            .await;
    }
}

/// The client's address: the TCP peer's, unless the peer is a proxy on this machine or a
/// private network (loopback, RFC 1918, unique local), in which case the last address it added to
/// `X-Forwarded-For` (the one it saw; earlier entries are the client's own words). `None` when
/// the request has no peer (tests).
pub fn client_address(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !is_private(peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
        .last();
    Some(forwarded.unwrap_or(peer))
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_loopback() || ip.is_private(),
        IpAddr::V6(ip) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[tokio::test]
    async fn an_address_is_refused_after_its_tenth_failure() {
        let limit = ExchangeLimit::default();
        let client: IpAddr = "203.0.113.7".parse().expect("ip");
        let other: IpAddr = "198.51.100.1".parse().expect("ip");
        for _ in 0..MAX_FAILED {
            assert!(limit.allows(client).await);
            limit.failed(client).await;
        }
        assert!(!limit.allows(client).await);
        assert!(limit.allows(other).await, "others are not affected");
    }

    #[test]
    fn the_forwarded_address_counts_only_behind_a_private_proxy() {
        let behind_proxy = TestRequest::default()
            .peer_addr("127.0.0.1:40000".parse().expect("addr"))
            .insert_header(("x-forwarded-for", "6.6.6.6, 203.0.113.7"))
            .to_http_request();
        assert_eq!(client_address(&behind_proxy), "203.0.113.7".parse().ok());
        let direct = TestRequest::default()
            .peer_addr("198.51.100.1:40000".parse().expect("addr"))
            .insert_header(("x-forwarded-for", "6.6.6.6"))
            .to_http_request();
        assert_eq!(
            client_address(&direct),
            "198.51.100.1".parse().ok(),
            "a client's own X-Forwarded-For is not believed"
        );
        let no_header = TestRequest::default()
            .peer_addr("10.0.0.5:40000".parse().expect("addr"))
            .to_http_request();
        assert_eq!(client_address(&no_header), "10.0.0.5".parse().ok());
    }
}
