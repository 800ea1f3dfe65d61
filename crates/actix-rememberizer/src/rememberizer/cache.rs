//! A short per-connection cache for the two answers the dashboard needs on every view but that
//! rarely change: the account (`/account/`) and the list of integrations (`/integrations/`).
//! Each view still asks Rememberizer for the documents, so a view costs one call instead of
//! three, which also spares the provider's rate limit.
//!
//! The fresh-data rules (what a page shows under each is tested in `tests/api/dashboard.rs`;
//! forgetting is tested here):
//! - An answer is reused for at most `REMEMBERIZER_CACHE_SECS` (default 60 s) after it arrived;
//!   `0` turns the cache off.
//! - Only answers are kept: a failure (an outage, a 429, a bad body) is asked again on the next
//!   view.
//! - It is per connection: another user, or the same user after logging in again, starts empty.
//!   Disconnecting, logging out, connecting again and a lost grant (any call that ends in
//!   "connect again") forget the connection's entries. A lost grant is found by the documents
//!   call, which is never cached, so kept answers are never shown for it.
//! - What a user reads and acts on (documents, search, contents, mementos) is never cached; nor
//!   is the landing page's account check, which is where a lost grant shows.
//! - It lives in this instance's memory (instances sharing Redis each keep their own), for at
//!   most [`MAX_CONNECTIONS`] connections per kind of answer; beyond that, moka evicts or
//!   declines the least used.
//!
//! A view in flight while its connection ends may put its answer back after `forget`: the
//! connection's id is never used again, and the entry expires with the others.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::auth::ConnectionId;
use crate::rememberizer::{Account, Integration};

/// The most connections whose account (and, apart, integrations) are kept at once.
pub const MAX_CONNECTIONS: u64 = 10_000;

/// The account and integrations of recently seen connections.
pub struct ProfileCache {
    /// `GET /api/v1/account/`'s answer, per connection.
    pub account: Kept<Account>,
    /// `GET /api/v1/integrations/`'s list, per connection.
    pub integrations: Kept<Vec<Integration>>,
}

impl ProfileCache {
    /// A cache whose entries live `ttl`; `Duration::ZERO` keeps nothing.
    pub fn new(ttl: Duration) -> Self {
        Self {
            account: Kept::new(ttl),
            integrations: Kept::new(ttl),
        }
    }

    /// Forgets what is kept for `connection` (it was disconnected, or its grant was lost).
    pub async fn forget(&self, connection: &ConnectionId) {
        self.account.forget(connection).await;
        self.integrations.forget(connection).await;
    }
}

/// One kind of answer, per connection; `None` when the cache is off.
pub struct Kept<T>(Option<Cache<String, Arc<T>>>);

impl<T: Send + Sync + 'static> Kept<T> {
    fn new(ttl: Duration) -> Self {
        Self((!ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(MAX_CONNECTIONS)
                .time_to_live(ttl)
                .build()
        }))
    }

    /// The connection's answer: kept, or fetched by `fetch` (and kept if it succeeds).
    pub async fn get_or_fetch<E, Fut>(
        &self,
        connection: &ConnectionId,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<Arc<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(entries) = &self.0 else {
            return fetch().await.map(Arc::new);
        };
        if let Some(kept) = entries.get(connection.as_str()).await {
            return Ok(kept);
        }
        let fetched = Arc::new(fetch().await?);
        entries
            .insert(connection.as_str().to_owned(), Arc::clone(&fetched))
            .await;
        Ok(fetched)
    }

    async fn forget(&self, connection: &ConnectionId) {
        if let Some(entries) = &self.0 {
            entries.invalidate(connection.as_str()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str) -> Account {
        serde_json::from_value(serde_json::json!({ "name": name })).expect("an account")
    }

    async fn fetched(cache: &ProfileCache, id: &ConnectionId, name: &str) -> (String, bool) {
        let mut called = false;
        let kept = cache
            .account
            .get_or_fetch(id, || {
                called = true;
                std::future::ready(Ok::<_, ()>(account(name)))
            })
            .await
            .expect("an account");
        (kept.name.clone().unwrap_or_default(), called)
    }

    #[tokio::test]
    async fn answers_are_kept_per_connection_until_forgotten() {
        let cache = ProfileCache::new(Duration::from_secs(60));
        let (ada, bob) = (ConnectionId::new_random(), ConnectionId::new_random());
        assert_eq!(fetched(&cache, &ada, "Ada").await, ("Ada".to_owned(), true));
        assert_eq!(
            fetched(&cache, &ada, "new").await,
            ("Ada".to_owned(), false)
        );
        assert_eq!(fetched(&cache, &bob, "Bob").await, ("Bob".to_owned(), true));
        cache.forget(&ada).await;
        assert_eq!(
            fetched(&cache, &ada, "Ada 2").await,
            ("Ada 2".to_owned(), true)
        );
        assert_eq!(
            fetched(&cache, &bob, "new").await,
            ("Bob".to_owned(), false)
        );
    }

    #[tokio::test]
    async fn failures_are_not_kept() {
        let cache = ProfileCache::new(Duration::from_secs(60));
        let id = ConnectionId::new_random();
        let failed = cache
            .account
            .get_or_fetch(&id, || std::future::ready(Err::<Account, _>("down")))
            .await;
        assert_eq!(failed.err(), Some("down"));
        assert_eq!(fetched(&cache, &id, "Ada").await, ("Ada".to_owned(), true));
    }

    #[tokio::test]
    async fn entries_expire_and_zero_keeps_nothing() {
        let cache = ProfileCache::new(Duration::from_secs(1));
        let id = ConnectionId::new_random();
        assert!(fetched(&cache, &id, "Ada").await.1);
        assert!(!fetched(&cache, &id, "Ada").await.1);
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert!(fetched(&cache, &id, "Ada").await.1, "expired");

        let off = ProfileCache::new(Duration::ZERO);
        assert!(fetched(&off, &id, "Ada").await.1);
        assert!(fetched(&off, &id, "Ada").await.1);
    }
}
