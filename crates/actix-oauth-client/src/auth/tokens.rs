//! The token layer: handlers ask it for "a valid access token for this connection".
//!
//! Tokens live server-side only, in a store keyed by a random [`ConnectionId`]; the session holds
//! that id, the browser holds only the session cookie. Tokens are kept apart from the session
//! state on purpose: actix-session writes a session back when a response ends, so a token
//! refreshed by one request could be overwritten by a concurrent request holding the old state.
//!
//! Where they live is a [`TokenBackend`]: [`MemoryTokens`] (this process, bounded) here, or a
//! store shared by several instances (the Redis one, cargo feature `redis`, is `redis_store::RedisTokens`, which
//! also holds a lock across instances while a connection is refreshed).
//!
//! Refresh is single-flight per connection (`single_flight`): concurrent requests of one
//! connection share one refresh, a failed refresh is shared with the requests that waited for
//! it, and in the minute before expiry the still-valid token is used while the refresh runs in
//! the background. Under the backend's lock the tokens are read again and refreshed only if they
//! are still stale, so two instances never spend the same refresh token twice (with rotation,
//! the second use would revoke the grant). A refresh writes its result only if the connection
//! still exists: a log out while it was in flight stays a log out.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::auth::oauth::{Grant, OAuthError, OAuthFlow};
use crate::auth::single_flight::{Late, Lease, Panicked, SingleFlight};
use crate::auth::{ConnectionId, StoreError};

/// Refresh this long before the provider's stated expiry, so a token does not expire in flight
/// (at most half the token's lifetime, so that short-lived tokens are still used).
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// After a failed background refresh, the next one waits this long (the token still works).
const RETRY_PAUSE: Duration = Duration::from_secs(5);

/// The tokens of one connection.
#[derive(Clone)]
pub struct TokenSet {
    access_token: AccessToken,
    refresh_token: Option<SecretString>,
    /// When to refresh, in milliseconds since the Unix epoch: `expires_in` minus the margin.
    /// `None` when the provider did not say: use the token until the API answers 401.
    refresh_at_ms: Option<u64>,
    /// When the provider said the access token expires (`expires_in`), if it did.
    expires_at_ms: Option<u64>,
}

impl TokenSet {
    /// Tokens received now. With `expires_in`, a refresh is due [`EXPIRY_MARGIN`] (at most half
    /// the lifetime) before it ends; without, none is planned: the access token is used until
    /// the API answers 401.
    pub fn new(
        access_token: SecretString,
        refresh_token: Option<SecretString>,
        expires_in: Option<Duration>,
    ) -> Self {
        let now = SystemTime::now();
        Self {
            access_token: AccessToken(Arc::new(access_token)),
            refresh_token,
            refresh_at_ms: expires_in
                .map(|lifetime| unix_ms(now + lifetime - EXPIRY_MARGIN.min(lifetime / 2))),
            expires_at_ms: expires_in.map(|lifetime| unix_ms(now + lifetime)),
        }
    }

    /// What Step 4 or a refresh yielded (its extra fields are the caller's business).
    pub fn from_grant(grant: Grant) -> Self {
        Self::new(grant.access_token, grant.refresh_token, grant.expires_in)
    }

    /// The refresh token; `None` when the provider issued none (the connection then ends when
    /// the access token does).
    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.refresh_token.as_ref()
    }

    /// The access token, as it was stored (fresh or not: see [`TokenStore::access_token`]).
    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    /// When to renew and when the token stops working. Without a refresh token there is nothing
    /// to renew with: the access token is used to its actual expiry (then the user connects
    /// again).
    fn lease(&self) -> Lease<AccessToken> {
        let at = |ms: Option<u64>| ms.map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms));
        Lease {
            value: self.access_token.clone(),
            renew_at: at(if self.refresh_token.is_some() {
                self.refresh_at_ms
            } else {
                self.expires_at_ms
            }),
            expires_at: at(self.expires_at_ms),
        }
    }

    fn needs_refresh(&self, now: SystemTime) -> bool {
        self.lease().renew_at.is_some_and(|at| now >= at)
    }

    /// The tokens as a store outside this process keeps them (never logged: no `Debug`).
    pub fn to_stored(&self) -> StoredTokens {
        StoredTokens {
            access_token: self.access_token.0.expose_secret().to_owned(),
            refresh_token: self
                .refresh_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            refresh_at_ms: self.refresh_at_ms,
            expires_at_ms: self.expires_at_ms,
        }
    }

    /// The tokens as [`TokenSet::to_stored`] wrote them, with their refresh and expiry times.
    pub fn from_stored(stored: StoredTokens) -> Self {
        Self {
            access_token: AccessToken(Arc::new(SecretString::from(stored.access_token))),
            refresh_token: stored.refresh_token.map(SecretString::from),
            refresh_at_ms: stored.refresh_at_ms,
            expires_at_ms: stored.expires_at_ms,
        }
    }
}

/// How a token set is serialized by a store outside this process. Never logged: no `Debug`.
#[derive(Serialize, Deserialize)]
pub struct StoredTokens {
    access_token: String,
    refresh_token: Option<String>,
    refresh_at_ms: Option<u64>,
    /// Absent in entries written before it existed.
    #[serde(default)]
    expires_at_ms: Option<u64>,
}

/// Milliseconds since the Unix epoch (0 for an earlier time), as stored timestamps are kept.
pub fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An access token, cheap to clone, whose `Debug` shows nothing.
#[derive(Clone)]
pub struct AccessToken(Arc<SecretString>);

impl AccessToken {
    /// A token obtained elsewhere (the live check takes one from the environment).
    pub fn new(token: SecretString) -> Self {
        Self(Arc::new(token))
    }

    /// The header value for Step 5. The only place a token string leaves this type.
    pub fn bearer_header(&self) -> String {
        format!("Bearer {}", self.0.expose_secret())
    }

    /// For a store that keeps it server-side (never a log, a URL or a page).
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether both hold the same token string (was a refused token replaced meanwhile?).
    pub fn same_as(&self, other: &AccessToken) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

/// Why no valid access token could be had. Cheap to clone: a refresh's outcome is shared with
/// every request that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenError {
    /// Not connected, or the grant ended (revoked, expired, no refresh token): connect again.
    #[error("the connection ended")]
    Reconnect,
    /// The provider failed during a refresh; the stored tokens are kept for a later retry.
    #[error("could not refresh the access token")]
    Refresh(#[source] Arc<OAuthError>),
    /// The token store failed.
    #[error("the token store is unavailable")]
    Store(#[from] StoreError),
    /// Another instance's refresh of this connection took too long.
    #[error("another refresh of this connection did not finish in time")]
    Busy,
    /// The page's deadline passed while it waited for a refresh (which goes on).
    #[error("the refresh did not finish within the page's deadline")]
    Late,
    /// The refresh task panicked (a bug): nothing was stored.
    #[error("the token refresh failed unexpectedly")]
    Internal,
}

impl From<Panicked> for TokenError {
    fn from(_: Panicked) -> Self {
        TokenError::Internal
    }
}

impl From<Late> for TokenError {
    fn from(_: Late) -> Self {
        TokenError::Late
    }
}

/// Where tokens live. Every method is one short operation on the store; `replace` is the only
/// write of a refresh.
pub trait TokenBackend: Send + Sync {
    /// The tokens of connection `id`; `None` when it has none (never stored, removed, or
    /// forgotten by the store).
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<TokenSet>, StoreError>>;
    /// Stores the tokens of a new connection.
    fn insert<'a>(
        &'a self,
        id: &'a ConnectionId,
        tokens: &'a TokenSet,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Replaces the tokens of a connection that still exists; `false` (and nothing written) if
    /// it ended meanwhile (log out, disconnect).
    fn replace<'a>(
        &'a self,
        id: &'a ConnectionId,
        tokens: &'a TokenSet,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Forgets connection `id`'s tokens, if any. Final: a `replace` racing it must not bring
    /// them back.
    fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Held while a refresh reads, calls the provider and writes. A store in this process needs
    /// none (refreshes of one connection are already one at a time here): `None`.
    fn lock<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<Box<dyn RefreshLock>>, TokenError>>;
}

/// A lock across instances, released when the refresh ends.
pub trait RefreshLock: Send {
    /// Releases the lock, so that another instance may refresh the connection.
    fn release(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Tokens in this process's memory: bounded (the least recently used connection makes room),
/// and a connection unused for `idle_ttl` is forgotten.
pub struct MemoryTokens(Cache<String, TokenSet>);

impl MemoryTokens {
    /// At most `max_connections` connections (the least recently used make room), each
    /// forgotten after `idle_ttl` without a read or write.
    pub fn new(max_connections: u64, idle_ttl: Duration) -> Self {
        Self(super::connection_cache(max_connections, idle_ttl))
    }
}

impl TokenBackend for MemoryTokens {
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<TokenSet>, StoreError>> {
        Box::pin(async move { Ok(self.0.get(id.as_str()).await) })
    }

    fn insert<'a>(
        &'a self,
        id: &'a ConnectionId,
        tokens: &'a TokenSet,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.0.insert(id.as_str().to_owned(), tokens.clone()).await;
            Ok(())
        })
    }

    fn replace<'a>(
        &'a self,
        id: &'a ConnectionId,
        tokens: &'a TokenSet,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            // Serial per key: a concurrent `remove` lands either before (nothing written) or
            // after (the connection ends).
            let outcome = self
                .0
                .entry(id.as_str().to_owned())
                .and_compute_with(|current| {
                    std::future::ready(match current {
                        Some(_) => Op::Put(tokens.clone()),
                        None => Op::Nop,
                    })
                })
                .await;
            Ok(matches!(outcome, CompResult::ReplacedWith(_)))
        })
    }

    fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // Through `and_compute_with`, as `replace` is: moka serializes computations on one
            // key with each other, not with `invalidate`, which could land between a replace's
            // read and its write and be undone by it.
            crate::auth::remove_serially(&self.0, id.as_str()).await;
            Ok(())
        })
    }

    fn lock<'a>(
        &'a self,
        _: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<Box<dyn RefreshLock>>, TokenError>> {
        Box::pin(std::future::ready(Ok(None)))
    }
}

/// What a request found wrong with the access token it had.
#[derive(Clone)]
enum Stale {
    /// Inside the margin before expiry (or past it).
    Expiring,
    /// Refused by the API (401) although it looked fresh.
    Rejected(AccessToken),
}

impl Stale {
    /// Read again under the lock: another request (or instance) may have refreshed meanwhile.
    fn still_applies(&self, current: &TokenSet) -> bool {
        match self {
            Stale::Expiring => current.needs_refresh(SystemTime::now()),
            Stale::Rejected(token) => current.access_token.same_as(token),
        }
    }
}

/// The token store: a backend, and the refreshes in flight.
#[derive(Clone)]
pub struct TokenStore {
    backend: Arc<dyn TokenBackend>,
    refreshes: SingleFlight<AccessToken, TokenError>,
}

impl TokenStore {
    /// A token store over `backend`.
    pub fn new(backend: impl TokenBackend + 'static) -> Self {
        Self {
            backend: Arc::new(backend),
            refreshes: SingleFlight::default(),
        }
    }

    /// In this process's memory (see [`MemoryTokens`]).
    pub fn memory(max_connections: u64, idle_ttl: Duration) -> Self {
        Self::new(MemoryTokens::new(max_connections, idle_ttl))
    }

    /// Stores the tokens of a new connection and returns its id (to be put in the session).
    pub async fn insert(&self, tokens: TokenSet) -> Result<ConnectionId, TokenError> {
        let id = ConnectionId::new_random();
        self.backend.insert(&id, &tokens).await?;
        Ok(id)
    }

    /// Forgets a connection (log out, disconnect, or a grant that ended). A refresh in flight
    /// for it will not bring it back.
    pub async fn remove(&self, id: &ConnectionId) -> Result<(), TokenError> {
        Ok(self.backend.remove(id).await?)
    }

    /// A valid access token: the stored one while it is fresh; in the margin before expiry the
    /// stored one too, refreshed in the background; past expiry, the refreshed one.
    pub async fn access_token(
        &self,
        id: &ConnectionId,
        oauth: &OAuthFlow,
    ) -> Result<AccessToken, TokenError> {
        let current = self.backend.get(id).await?.ok_or(TokenError::Reconnect)?;
        self.refreshes
            .fresh(id.as_str(), Some(current.lease()), RETRY_PAUSE, || {
                self.refresh(id, oauth, Stale::Expiring)
            })
            .await
    }

    /// The API refused `rejected` (401) although it looked fresh: refresh once, unless another
    /// request already replaced it, in which case its replacement is returned. `sent_at` is when
    /// the refused call was sent: a refresh that failed since then is not tried again.
    pub async fn refresh_rejected(
        &self,
        id: &ConnectionId,
        rejected: &AccessToken,
        sent_at: Instant,
        oauth: &OAuthFlow,
    ) -> Result<AccessToken, TokenError> {
        self.refreshes
            .renew(id.as_str(), sent_at, || {
                self.refresh(id, oauth, Stale::Rejected(rejected.clone()))
            })
            .await
    }

    /// The refresh itself, as a future that owns what it needs (it runs as a task of its own).
    fn refresh(
        &self,
        id: &ConnectionId,
        oauth: &OAuthFlow,
        stale: Stale,
    ) -> BoxFuture<'static, Result<AccessToken, TokenError>> {
        let (backend, id, oauth) = (self.backend.clone(), id.clone(), oauth.clone());
        Box::pin(async move {
            let lock = backend.lock(&id).await?;
            let outcome = refresh_locked(&*backend, &id, &oauth, &stale).await;
            if let Some(lock) = lock {
                lock.release().await;
            }
            outcome
        })
    }
}

/// Under the lock: read, refresh if still stale, write (or forget a grant that ended).
async fn refresh_locked(
    backend: &dyn TokenBackend,
    id: &ConnectionId,
    oauth: &OAuthFlow,
    stale: &Stale,
) -> Result<AccessToken, TokenError> {
    let current = backend.get(id).await?.ok_or(TokenError::Reconnect)?;
    if !stale.still_applies(&current) {
        return Ok(current.access_token);
    }
    let Some(refresh_token) = current.refresh_token.as_ref() else {
        backend.remove(id).await?;
        return Err(TokenError::Reconnect);
    };
    match oauth.refresh(refresh_token).await {
        Ok(grant) => {
            let tokens = TokenSet::from_grant(grant);
            // The rotated refresh token replaces the old one before the lock is released.
            if backend.replace(id, &tokens).await? {
                Ok(tokens.access_token)
            } else {
                // Logged out (or disconnected) while the refresh was in flight.
                Err(TokenError::Reconnect)
            }
        }
        Err(OAuthError::InvalidGrant) => {
            backend.remove(id).await?;
            Err(TokenError::Reconnect)
        }
        // Provider down or confused: keep the tokens so that a later retry can succeed.
        Err(other) => Err(TokenError::Refresh(Arc::new(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_until_the_margin_before_expiry() {
        let now = SystemTime::now();
        let refresh = || Some(SecretString::from("r"));
        let hour = TokenSet::new(
            SecretString::from("a"),
            refresh(),
            Some(Duration::from_secs(3600)),
        );
        assert!(!hour.needs_refresh(now));
        assert!(!hour.needs_refresh(now + Duration::from_secs(3539)));
        assert!(hour.needs_refresh(now + Duration::from_secs(3541)));
        // A token living 10 s is refreshed after 5 s, not at once.
        let short = TokenSet::new(
            SecretString::from("a"),
            refresh(),
            Some(Duration::from_secs(10)),
        );
        assert!(!short.needs_refresh(now + Duration::from_secs(4)));
        assert!(short.needs_refresh(now + Duration::from_secs(6)));
        let no_expiry = TokenSet::new(SecretString::from("a"), refresh(), None);
        assert!(!no_expiry.needs_refresh(now + Duration::from_secs(86_400)));
    }

    #[test]
    fn without_a_refresh_token_the_access_token_is_used_to_its_expiry() {
        let now = SystemTime::now();
        let alone = TokenSet::new(
            SecretString::from("a"),
            None,
            Some(Duration::from_secs(3600)),
        );
        // Inside the margin, but still valid: nothing to refresh with, so keep using it.
        assert!(!alone.needs_refresh(now + Duration::from_secs(3570)));
        assert!(alone.needs_refresh(now + Duration::from_secs(3601)));
        let with_refresh = TokenSet::new(
            SecretString::from("a"),
            Some(SecretString::from("r")),
            Some(Duration::from_secs(3600)),
        );
        assert!(with_refresh.needs_refresh(now + Duration::from_secs(3570)));
    }

    #[test]
    fn access_tokens_do_not_show_in_debug_output() {
        let tokens = TokenSet::new(SecretString::from("sekrit-token"), None, None);
        assert!(!format!("{:?}", tokens.access_token).contains("sekrit"));
        assert_eq!(tokens.access_token.bearer_header(), "Bearer sekrit-token");
    }

    #[test]
    fn stored_tokens_round_trip() {
        let tokens = TokenSet::new(
            SecretString::from("access"),
            Some(SecretString::from("refresh")),
            Some(Duration::from_secs(3600)),
        );
        let back = TokenSet::from_stored(tokens.to_stored());
        assert!(back.access_token.same_as(&tokens.access_token));
        assert_eq!(
            back.refresh_token().map(|t| t.expose_secret().to_owned()),
            Some("refresh".to_owned())
        );
        assert_eq!(back.refresh_at_ms, tokens.refresh_at_ms);
    }

    #[tokio::test]
    async fn a_replace_after_a_remove_does_not_bring_the_connection_back() {
        let store = MemoryTokens::new(10, Duration::from_secs(60));
        let id = ConnectionId::new_random();
        let tokens = TokenSet::new(SecretString::from("a"), None, None);
        store.insert(&id, &tokens).await.expect("memory");
        assert!(store.replace(&id, &tokens).await.expect("memory"));
        store.remove(&id).await.expect("memory");
        assert!(!store.replace(&id, &tokens).await.expect("memory"));
        assert!(store.get(&id).await.expect("memory").is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_connection_never_returns_whatever_races_its_removal() {
        // A log out racing a token refresh: the refresh's compare-and-set and the removal run
        // at once, 20 000 times. The removal is final every time.
        let store = std::sync::Arc::new(MemoryTokens::new(100_000, Duration::from_secs(60)));
        let tokens = TokenSet::new(SecretString::from("a"), None, None);
        let mut returned = 0;
        for _ in 0..20_000 {
            let id = ConnectionId::new_random();
            store.insert(&id, &tokens).await.expect("memory");
            let refresh = tokio::spawn({
                let (store, id, tokens) = (store.clone(), id.clone(), tokens.clone());
                async move { store.replace(&id, &tokens).await.expect("memory") }
            });
            let log_out = tokio::spawn({
                let (store, id) = (store.clone(), id.clone());
                async move { store.remove(&id).await.expect("memory") }
            });
            let _ = refresh.await.expect("task");
            log_out.await.expect("task");
            if store.get(&id).await.expect("memory").is_some() {
                returned += 1;
            }
        }
        assert_eq!(returned, 0, "removed connections that came back, of 20 000");
    }
}
