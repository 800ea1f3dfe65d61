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
//! What counts as one client ([`ExchangeLimit::client_of`]): an IPv4 address, or an IPv6 /64
//! (one subscriber's usual allocation, whose addresses a client may rotate freely). The address
//! is the TCP peer's, unless the peer is one of the `TRUSTED_PROXIES`: then the forwarded chain
//! (`X-Forwarded-For`, or `Forwarded` with `TRUSTED_PROXY_HEADER=forwarded`) is read from the
//! right, past the trusted proxies, to the first address none of them is; entries left of it
//! are the client's own words. No forwarded header is believed from any other peer, so a client
//! cannot pick its own key, and behind a proxy that is not named every client shares the
//! proxy's address (name it).
//!
//! Why not `actix-governor`: it limits requests, and a callback is a legitimate request; what
//! must be limited is failures, known only after the exchange. A bounded moka cache (already
//! the app's cache) counts them in a dozen lines. Per instance: with several instances behind a
//! load balancer, a client gets `MAX_FAILED` per instance.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use actix_web::HttpRequest;
use ipnet::IpNet;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};

/// Failed exchanges one address may make within `WINDOW`.
pub const MAX_FAILED: u32 = 10;
/// How long a failure counts (from the address's last failure).
pub const WINDOW: Duration = Duration::from_secs(10 * 60);
/// Addresses remembered at most (the least recently used are forgotten first).
const MAX_ADDRESSES: u64 = 100_000;

/// Failed code exchanges per client, in this process's memory (up to 100 000 addresses, each
/// forgotten [`WINDOW`] after its count last changed); see the module doc. The default trusts no
/// proxy.
pub struct ExchangeLimit {
    failures: Cache<IpAddr, u32>,
    proxies: TrustedProxies,
}

impl Default for ExchangeLimit {
    fn default() -> Self {
        Self::new(TrustedProxies::default())
    }
}

/// The proxies whose forwarded header is believed (`TRUSTED_PROXIES`), and which header they
/// write (`TRUSTED_PROXY_HEADER`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    header: ForwardedHeader,
}

/// The header the trusted proxies write: only that one is read, so a client cannot slip its own
/// words into the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1` (nginx, haproxy, most load balancers).
    #[default]
    XForwardedFor,
    /// `Forwarded: for=client, for=proxy1` (RFC 7239).
    Forwarded,
}

impl TrustedProxies {
    /// Addresses or CIDR blocks separated by commas or spaces (`10.0.0.0/8, 2001:db8::1`), and the
    /// header's name (`x-forwarded-for` or `forwarded`, any case; `None` for the former). An
    /// error names the setting that is wrong (`TRUSTED_PROXIES` or `TRUSTED_PROXY_HEADER`).
    pub fn parse(nets: &str, header: Option<&str>) -> Result<Self, (&'static str, String)> {
        let nets = nets
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        (
                            "TRUSTED_PROXIES",
                            format!(
                                "{entry:?} is not an IP address or a CIDR block like 10.0.0.0/8"
                            ),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let header = match header.map(|h| h.trim().to_ascii_lowercase()).as_deref() {
            None | Some("x-forwarded-for") => ForwardedHeader::XForwardedFor,
            Some("forwarded") => ForwardedHeader::Forwarded,
            Some(other) => {
                return Err((
                    "TRUSTED_PROXY_HEADER",
                    format!("{other:?}: expected x-forwarded-for or forwarded"),
                ))
            }
        };
        Ok(Self { nets, header })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The chain of addresses the header names, first (the client's claim) to last (what the
    /// nearest proxy saw); `None` for an entry that is no address (`unknown`, `_hidden`).
    fn chain(&self, req: &HttpRequest) -> Vec<Option<IpAddr>> {
        let name = match self.header {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        req.headers()
            .get_all(name)
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|entry| match self.header {
                ForwardedHeader::XForwardedFor => parse_node(entry.trim()),
                ForwardedHeader::Forwarded => entry
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, node)| parse_node(node.trim().trim_matches('"'))),
            })
            .collect()
    }
}

/// An address as forwarded headers write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    node.rsplit_once(':')?.0.parse().ok()
}

/// What the limit counts as one client: an IPv4 address, or an IPv6 address's /64.
fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
        },
    }
}

impl ExchangeLimit {
    /// A limit that believes the forwarded header of `proxies` only.
    pub fn new(proxies: TrustedProxies) -> Self {
        Self {
            failures: Cache::builder()
                .max_capacity(MAX_ADDRESSES)
                .time_to_live(WINDOW)
                .build(),
            proxies,
        }
    }

    /// The client's address: the TCP peer's, or, when the peer is a trusted proxy, the first
    /// address from the right of its forwarded chain that no trusted proxy has (see the module
    /// doc). `None` when the request has no peer (tests).
    pub fn client_of(&self, req: &HttpRequest) -> Option<IpAddr> {
        let mut client = req.peer_addr()?.ip();
        if !self.proxies.trusts(client) {
            return Some(client);
        }
        for hop in self.proxies.chain(req).into_iter().rev() {
            // A hop that is no address: the trusted proxy next to it is as far as we can see.
            let Some(hop) = hop else { break };
            client = hop;
            if !self.proxies.trusts(hop) {
                break;
            }
        }
        Some(client)
    }

    /// Takes one of `client`'s slots for an exchange about to be tried, atomically (moka's
    /// `and_compute_with` is serial per key): `None` when all are taken, by failures or by
    /// attempts still in flight. A slot not given back ([`Attempt::give_back`]) counts as a
    /// failure, also when the request is dropped half-way.
    pub async fn begin(&self, client: IpAddr) -> Option<Attempt<'_>> {
        let client = limit_key(client);
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

    fn request(peer: &str, headers: &[(&'static str, &str)]) -> HttpRequest {
        headers
            .iter()
            .fold(
                TestRequest::default().peer_addr(peer.parse().expect("addr")),
                |request, (name, value)| request.insert_header((*name, *value)),
            )
            .to_http_request()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    #[test]
    fn no_forwarded_header_is_believed_without_trusted_proxies() {
        let limit = ExchangeLimit::default();
        for peer in ["127.0.0.1:40000", "10.0.0.5:40000", "198.51.100.1:40000"] {
            let req = request(
                peer,
                &[
                    ("x-forwarded-for", "203.0.113.7"),
                    ("forwarded", "for=203.0.113.8"),
                ],
            );
            assert_eq!(
                limit.client_of(&req),
                peer.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
            );
        }
    }

    #[test]
    fn the_chain_is_read_from_the_right_past_the_trusted_proxies_only() {
        let proxies = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8", None).expect("valid");
        let limit = ExchangeLimit::new(proxies);
        // The client's own claim (6.6.6.6) is left of what the outer proxy (10.1.1.1) saw.
        let req = request(
            "127.0.0.1:40000",
            &[("x-forwarded-for", "6.6.6.6, 203.0.113.7, 10.1.1.1")],
        );
        assert_eq!(limit.client_of(&req), ip("203.0.113.7"));
        // An untrusted peer's header is not read.
        let req = request("198.51.100.1:40000", &[("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(limit.client_of(&req), ip("198.51.100.1"));
        // The other header is not read: a client cannot slip its words in there.
        let req = request(
            "127.0.0.1:40000",
            &[
                ("forwarded", "for=6.6.6.6"),
                ("x-forwarded-for", "203.0.113.7"),
            ],
        );
        assert_eq!(limit.client_of(&req), ip("203.0.113.7"));
        // No header, or only trusted hops, or a hop that is no address.
        assert_eq!(limit.client_of(&request("10.0.0.5:1", &[])), ip("10.0.0.5"));
        let req = request("127.0.0.1:1", &[("x-forwarded-for", "10.0.0.9, 10.0.0.8")]);
        assert_eq!(limit.client_of(&req), ip("10.0.0.9"));
        let req = request(
            "127.0.0.1:1",
            &[("x-forwarded-for", "6.6.6.6, unknown, 10.0.0.8")],
        );
        assert_eq!(limit.client_of(&req), ip("10.0.0.8"));
    }

    #[test]
    fn the_forwarded_header_of_rfc_7239_when_named() {
        let proxies = TrustedProxies::parse("::1", Some("Forwarded")).expect("valid");
        let limit = ExchangeLimit::new(proxies);
        let req = request(
            "[::1]:40000",
            &[
                (
                    "forwarded",
                    r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https"#,
                ),
                ("x-forwarded-for", "6.6.6.7"),
            ],
        );
        assert_eq!(limit.client_of(&req), ip("2001:db8:cafe::17"));
        let req = request("[::1]:40000", &[("forwarded", "For=192.0.2.60:8080;by=x")]);
        assert_eq!(limit.client_of(&req), ip("192.0.2.60"));
    }

    #[test]
    fn bad_settings_are_refused_with_the_entry() {
        let error = TrustedProxies::parse("10.0.0.0/8, proxy.internal", None).expect_err("bad");
        assert_eq!(error.0, "TRUSTED_PROXIES");
        assert!(error.1.contains("proxy.internal"), "{error:?}");
        assert!(TrustedProxies::parse("10.0.0.0/33", None).is_err());
        let error = TrustedProxies::parse("", Some("x-real-ip")).expect_err("bad");
        assert_eq!(error.0, "TRUSTED_PROXY_HEADER");
        assert_eq!(
            TrustedProxies::parse(" ", None),
            Ok(TrustedProxies::default())
        );
    }

    #[tokio::test]
    async fn an_ipv6_client_is_counted_per_64() {
        let limit = ExchangeLimit::default();
        for i in 0..MAX_FAILED {
            let rotated = format!("2001:db8:1:2:{i:x}::{i:x}").parse().expect("ip");
            let failed = limit.begin(rotated).await;
            assert!(failed.is_some());
        }
        let same_64 = "2001:db8:1:2:ffff::1".parse().expect("ip");
        assert!(
            limit.begin(same_64).await.is_none(),
            "the /64 is one client"
        );
        let next_64 = "2001:db8:1:3::1".parse().expect("ip");
        assert!(limit.begin(next_64).await.is_some());
        let mapped: IpAddr = "::ffff:203.0.113.7".parse().expect("ip");
        assert_eq!(limit_key(mapped), ip("203.0.113.7").expect("ip"));
    }
}
