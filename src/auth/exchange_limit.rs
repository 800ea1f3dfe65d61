//! Failed code exchanges, counted per client address.
//!
//! Anyone can start a flow, read its `state` from the redirect and call the callback with a
//! made-up code: each try costs a token request signed with the app's client secret, and a
//! provider that throttles the client id would throttle it for everyone. A state is spent once
//! (`pending_flows::SpentStates`), so each flow costs at most one token request; what is left to
//! bound is how many flows one client can burn. Each exchange takes one of its address's
//! `MAX_FAILED` slots *before* its token request ([`ExchangeLimit::begin`]), so attempts in
//! flight count: however many callbacks arrive together, one address never makes more than
//! `MAX_FAILED` failed token requests within `WINDOW` (of its last attempt). With none left, its
//! callbacks are refused with a 429 before any token request, until the window passes. A slot is
//! given back when the exchange succeeds, or fails for the provider's reasons (down, slow).
//!
//! Why not `actix-governor`: it limits requests, and a callback is a legitimate request; what
//! must be limited is failures, known only after the exchange. A bounded moka cache (already
//! the app's cache) counts them in a dozen lines. Per instance: with several instances behind a
//! load balancer, a client gets `MAX_FAILED` per instance.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::HttpRequest;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};

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
    /// Takes one of `client`'s slots for an exchange about to be tried, atomically (moka's
    /// `and_compute_with` is serial per key): `None` when all are taken, by failures or by
    /// attempts still in flight. A slot not given back ([`Attempt::give_back`]) counts as a
    /// failure, also when the request is dropped half-way.
    pub async fn begin(&self, client: IpAddr) -> Option<Attempt<'_>> {
        let taken = self
            .failures
            .entry(client)
            .and_compute_with(|count| {
                let count = count.map_or(0, |c| c.into_value());
                std::future::ready(if count < MAX_FAILED {
                    Op::Put(count + 1)
                } else {
                    Op::Nop
                })
            })
            .await;
        matches!(taken, CompResult::Inserted(_) | CompResult::ReplacedWith(_)).then_some(Attempt {
            limit: self,
            client,
        })
    }
}

/// One exchange's slot (see [`ExchangeLimit::begin`]).
#[must_use = "a slot that is not given back counts as a failure"]
pub struct Attempt<'a> {
    limit: &'a ExchangeLimit,
    client: IpAddr,
}

impl Attempt<'_> {
    /// The exchange succeeded, or failed for the provider's reasons: the slot is free again.
    pub async fn give_back(self) {
        self.limit
            .failures
            .entry(self.client)
            .and_compute_with(|count| {
                std::future::ready(match count.map(|c| c.into_value()) {
                    Some(count) if count > 1 => Op::Put(count - 1),
                    Some(_) => Op::Remove,
                    None => Op::Nop,
                })
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
            let failed = limit.begin(client).await;
            assert!(failed.is_some());
        }
        assert!(limit.begin(client).await.is_none());
        assert!(
            limit.begin(other).await.is_some(),
            "others are not affected"
        );
    }

    #[tokio::test]
    async fn attempts_in_flight_take_slots_and_a_success_gives_its_slot_back() {
        let limit = ExchangeLimit::default();
        let client: IpAddr = "203.0.113.7".parse().expect("ip");
        let in_flight: Vec<_> =
            futures_util::future::join_all((0..3 * MAX_FAILED).map(|_| limit.begin(client))).await;
        let taken: Vec<_> = in_flight.into_iter().flatten().collect();
        assert_eq!(
            taken.len(),
            MAX_FAILED as usize,
            "no more slots than the limit"
        );
        for attempt in taken {
            attempt.give_back().await;
        }
        assert!(
            limit.failures.get(&client).await.is_none(),
            "all given back"
        );
        assert!(limit.begin(client).await.is_some());
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
