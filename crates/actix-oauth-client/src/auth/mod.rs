//! The machinery any OAuth provider's client side needs, written once: the OAuth 2.0 authorization-code flow
//! (`oauth`), the flows between Step 1 and Step 3 (`pending_flows`), the server-side token store
//! (`tokens`) and the renewal primitive behind it (`single_flight`), and the session and its
//! store (`session`, `session_store`). Every store here keeps its data in this process's memory;
//! a store shared by several instances plugs in through a trait (the Redis ones, cargo feature `redis`, are in
//! `redis_store`, which nothing here needs).
//! What is particular to a provider lives in its own module (`rememberizer`).

pub mod exchange_limit;
pub mod oauth;
pub mod pending_flows;
pub mod session;
pub mod session_cookie;
pub mod session_store;
pub mod single_flight;
pub mod tokens;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::distributions::{Alphanumeric, DistString};

/// A random id naming one connection (one successful code exchange) in a provider's store: the
/// session holds it, the store maps it to what the connection holds (tokens).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(String);

impl ConnectionId {
    /// A new id: 32 alphanumeric characters from the thread-local CSPRNG (about 190 bits).
    pub fn new_random() -> Self {
        Self(Alphanumeric.sample_string(&mut rand::thread_rng(), 32))
    }

    /// The id as the session holds it; not checked (an unknown id finds nothing in a store).
    pub fn from_session(value: String) -> Self {
        Self(value)
    }

    /// The id as the session and the stores keep it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Per-connection records in this process's memory: at most `max_connections`, the least
/// recently used out first (LRU: moka's default, TinyLFU, could refuse a new connection), and
/// each forgotten after `idle_ttl` without a read or write.
pub fn connection_cache<V>(
    max_connections: u64,
    idle_ttl: Duration,
) -> moka::future::Cache<String, V>
where
    V: Clone + Send + Sync + 'static,
{
    moka::future::Cache::builder()
        .max_capacity(max_connections)
        .eviction_policy(moka::policy::EvictionPolicy::lru())
        .time_to_idle(idle_ttl)
        .build()
}

/// Removes `key` from `cache` through `and_compute_with`, the path its compare-and-set writes
/// take. moka runs the computations on one key one after another, but not `invalidate` with
/// them: an `invalidate` could land between a compare-and-set's read and its write, and the
/// write would bring the removed entry back (a log out undone by a token refresh in flight).
pub async fn remove_serially<V>(cache: &moka::future::Cache<String, V>, key: &str)
where
    V: Clone + Send + Sync + 'static,
{
    cache
        .entry(key.to_owned())
        .and_compute_with(|current| {
            std::future::ready(match current {
                Some(_) => moka::ops::compute::Op::Remove,
                None => moka::ops::compute::Op::Nop,
            })
        })
        .await;
}

/// A store outside this process (Redis) failed or did not answer in time. The cause is kept for
/// the log; it never holds a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the store is unavailable")]
pub struct StoreError(#[source] Arc<dyn std::error::Error + Send + Sync>);

impl StoreError {
    /// A store failure caused by `cause` (kept for the log).
    pub fn new(cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Arc::new(cause))
    }

    /// The store answered, but a record kept changing under each write (other tabs writing it
    /// at once): not an outage, and worth a second try.
    pub fn contended(what: &'static str) -> Self {
        Self::new(Contended(what))
    }

    /// Whether this is [`StoreError::contended`]'s.
    pub fn is_contended(&self) -> bool {
        self.0.is::<Contended>()
    }
}

/// A record that changed under every write of a compare-and-set loop.
#[derive(Debug, thiserror::Error)]
#[error("{0} kept changing under three writes in a row")]
struct Contended(&'static str);

tokio::task_local! {
    /// When the current request must stop waiting for the providers (set by `with_deadline`).
    static DEADLINE: tokio::time::Instant;
}

/// Runs a request's handling with one deadline for all of its calls to the providers (and its
/// waits for their renewals: `single_flight`).
pub async fn with_deadline<F: Future>(budget: std::time::Duration, handling: F) -> F::Output {
    DEADLINE
        .scope(tokio::time::Instant::now() + budget, handling)
        .await
}

/// The deadline of the request being handled, if it has one.
pub fn deadline() -> Option<tokio::time::Instant> {
    DEADLINE.try_with(|deadline| *deadline).ok()
}

/// `work`, ended at the current request's deadline with `late()`.
pub async fn within_deadline<T, E>(
    work: impl Future<Output = Result<T, E>>,
    late: impl FnOnce() -> E,
) -> Result<T, E> {
    match deadline() {
        Some(deadline) => tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| Err(late())),
        None => work.await,
    }
}
