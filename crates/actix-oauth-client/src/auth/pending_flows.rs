//! Flows between Step 1 and Step 3, kept by the browser, and the states already spent.
//!
//! A started flow (its `state` and PKCE verifier) lives in a cookie of its own, encrypted and
//! authenticated with the app's key (the cookie crate's private jar: AES-256-GCM, the cookie's
//! name bound as associated data), `HttpOnly`, `SameSite=Lax`, `Path=/auth/<provider>`, gone
//! after 10 minutes — as oauth2-proxy keeps its CSRF cookie. So:
//! - starting a flow stores nothing on the server: anonymous requests, however many, cannot fill
//!   the session store (a server-side session exists only once a browser is connected);
//! - each flow has its own cookie (named after its state), so tabs starting flows at the same
//!   time cannot overwrite each other's, as they could in one shared session entry.
//!
//! A cookie can be replayed, so single use is enforced on the server: a state is *claimed* in
//! [`SpentStates`] before its code is exchanged, atomically (in memory moka's `and_compute_with`,
//! which runs serially per key; `SET NX` in Redis, `redis_store::flows`). Of any number of concurrent or repeated
//! callbacks with one state, one claims it and sends the code; the others get the invalid-state
//! page.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::HttpRequest;
use futures_util::future::BoxFuture;
use moka::future::Cache;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::oauth::{PendingFlow, PENDING_FLOW_TTL};
use crate::auth::StoreError;

/// How many flows one browser may have pending at once (several tabs); the oldest goes first.
pub const MAX_PENDING_FLOWS: usize = 5;
/// Flow cookies are named a prefix (this one unless [`FlowCookies::named`] says otherwise) plus
/// the first `NAME_STATE_CHARS` characters of their state.
pub const DEFAULT_COOKIE_PREFIX: &str = "oauth_flow_";
const NAME_STATE_CHARS: usize = 16;
/// Reads and writes one provider's flow cookies.
#[derive(Clone)]
pub struct FlowCookies {
    key: Key,
    secure: bool,
    /// The cookies go only to this provider's Step 1 and Step 3 (`/auth/rememberizer`, …).
    path: &'static str,
    prefix: Arc<str>,
}

impl FlowCookies {
    /// Flow cookies encrypted with `key`, `Secure` if `secure`, sent to `path` and below only
    /// (the provider's Step 1 route, under which its callback lies).
    pub fn new(key: Key, secure: bool, path: &'static str) -> Self {
        Self {
            key,
            secure,
            path,
            prefix: Arc::from(DEFAULT_COOKIE_PREFIX),
        }
    }

    /// The same, the cookies' names starting with `prefix` (your app's own, say).
    pub fn named(self, prefix: &str) -> Self {
        Self {
            prefix: Arc::from(prefix),
            ..self
        }
    }

    fn name(&self, state: &str) -> String {
        let start: String = state.chars().take(NAME_STATE_CHARS).collect();
        format!("{}{start}", self.prefix)
    }

    /// The request's flow cookies that decrypt, as (cookie name, flow).
    fn flows(&self, req: &HttpRequest) -> Vec<(String, PendingFlow)> {
        let Ok(cookies) = req.cookies() else {
            return Vec::new();
        };
        let mut jar = CookieJar::new();
        let mut names = Vec::new();
        for cookie in cookies
            .iter()
            .filter(|c| c.name().starts_with(&*self.prefix))
        {
            names.push(cookie.name().to_owned());
            jar.add_original(cookie.clone().into_owned());
        }
        let private = jar.private(&self.key);
        names
            .into_iter()
            .filter_map(|name| {
                let plain = private.get(&name)?;
                let flow = serde_json::from_str::<PendingFlow>(plain.value()).ok()?;
                Some((name, flow))
            })
            .collect()
    }

    /// Step 1: the cookie for a new flow, and removals for expired flows and for the oldest ones
    /// beyond `MAX_PENDING_FLOWS`.
    pub fn start(&self, req: &HttpRequest, flow: &PendingFlow) -> Vec<Cookie<'static>> {
        let now = SystemTime::now();
        let mut removals = Vec::new();
        let mut live: Vec<(String, u64)> = Vec::new();
        for (name, existing) in self.flows(req) {
            if existing.is_expired(now) {
                removals.push(self.removal(name));
            } else {
                live.push((name, existing.started_at));
            }
        }
        live.sort_by_key(|(_, started_at)| *started_at);
        let excess = (live.len() + 1).saturating_sub(MAX_PENDING_FLOWS);
        removals.extend(
            live.into_iter()
                .take(excess)
                .map(|(name, _)| self.removal(name)),
        );

        let value = serde_json::to_string(flow).unwrap_or_default();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(self.base(self.name(&flow.state), value, PENDING_FLOW_TTL));
        removals.extend(jar.delta().cloned());
        removals
    }

    /// Step 3: the flow this browser started with `state`, if it is still valid (compared in
    /// constant time), and the removal of its cookie.
    pub fn take(
        &self,
        req: &HttpRequest,
        state: &str,
    ) -> (Option<PendingFlow>, Option<Cookie<'static>>) {
        let name = self.name(state);
        let Some((_, flow)) = self.flows(req).into_iter().find(|(n, _)| *n == name) else {
            return (None, None);
        };
        let matches: bool = flow.state.as_bytes().ct_eq(state.as_bytes()).into();
        let valid = matches && !flow.is_expired(SystemTime::now());
        (valid.then_some(flow), Some(self.removal(name)))
    }

    fn base(&self, name: String, value: String, max_age: Duration) -> Cookie<'static> {
        Cookie::build(name, value)
            .path(self.path)
            .http_only(true)
            // Lax: the browser sends it on the provider's top-level redirect back (Step 3).
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(actix_web::cookie::time::Duration::seconds(
                max_age.as_secs() as i64,
            ))
            .finish()
    }

    fn removal(&self, name: String) -> Cookie<'static> {
        self.base(name, String::new(), Duration::ZERO)
    }
}

/// States whose code was (or is being) exchanged, remembered as long as a flow can live.
/// Cheap to clone.
#[derive(Clone)]
pub struct SpentStates(Arc<dyn ClaimStates>);

/// Where spent states are remembered: this process ([`MemorySpentStates`]) or a store shared by
/// several instances (the Redis one, cargo feature `redis`, is `redis_store::RedisSpentStates`).
pub trait ClaimStates: Send + Sync {
    /// `true` for the first claim of `digest`, `false` ever after (within `PENDING_FLOW_TTL`).
    /// Atomic: of concurrent claims, one wins.
    fn claim<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// At most this many spent states are remembered in memory, the oldest forgotten first (LRU: a
/// new claim is always remembered; moka's default, TinyLFU, could decline to keep it). A state
/// forgotten before its 10 minutes are up could be claimed again, if the browser still had its
/// flow cookie, and its code would then go to the provider a second time: refused there (a code
/// is single-use) and, under RFC 6749 §4.1.2, a reason to revoke the grant it gave. That takes
/// more than this many callbacks within 10 minutes on one instance; with Redis
/// (`redis_store::flows`) nothing is forgotten early.
const MAX_SPENT_STATES: u64 = 100_000;

impl SpentStates {
    /// Spent states remembered in `store` (one shared by several instances, say).
    pub fn new(store: impl ClaimStates + 'static) -> Self {
        Self(Arc::new(store))
    }

    /// Spent states in this process's memory ([`MemorySpentStates`]): each for
    /// [`PENDING_FLOW_TTL`], at most 100 000 of them, the oldest forgotten first.
    pub fn memory() -> Self {
        Self::new(MemorySpentStates(
            Cache::builder()
                .max_capacity(MAX_SPENT_STATES)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_live(PENDING_FLOW_TTL)
                .build(),
        ))
    }

    /// Claims `state` for one code exchange: `true` for the first claim, `false` ever after.
    pub async fn claim(&self, state: &str) -> Result<bool, StoreError> {
        // The state itself is a secret of the flow: only its digest is stored.
        let digest: String = Sha256::digest(state.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.0.claim(&digest).await
    }
}

/// [`ClaimStates`] in this process's memory, as [`SpentStates::memory`] builds it.
pub struct MemorySpentStates(Cache<String, ()>);

impl ClaimStates for MemorySpentStates {
    fn claim<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            // `and_compute_with` runs serially per key (moka's `or_insert` is a get then an
            // insert, which two concurrent callers can both pass).
            let outcome = self
                .0
                .entry(digest.to_owned())
                .and_compute_with(|current| {
                    std::future::ready(match current {
                        None => moka::ops::compute::Op::Put(()),
                        Some(_) => moka::ops::compute::Op::Nop,
                    })
                })
                .await;
            Ok(matches!(
                outcome,
                moka::ops::compute::CompResult::Inserted(_)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_state_is_claimed_once() {
        let spent = SpentStates::memory();
        assert!(spent.claim("state-a").await.expect("memory"));
        assert!(!spent.claim("state-a").await.expect("memory"));
        assert!(spent.claim("state-b").await.expect("memory"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_claims_of_one_state_have_one_winner() {
        let spent = SpentStates::memory();
        for round in 0..200 {
            let state = format!("state-{round}");
            let claims: Vec<_> = (0..16)
                .map(|_| {
                    let (spent, state) = (spent.clone(), state.clone());
                    tokio::spawn(async move { spent.claim(&state).await.expect("memory") })
                })
                .collect();
            let mut winners = 0;
            for claim in claims {
                winners += usize::from(claim.await.expect("task"));
            }
            assert_eq!(winners, 1, "round {round}");
        }
    }
}
