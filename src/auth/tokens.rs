//! The token layer: handlers ask it for "a valid access token for this connection".
//!
//! Tokens live server-side only, in a store keyed by a random *connection id*; the session holds
//! that id, the browser holds only the session cookie. Tokens are kept apart from the session
//! state on purpose: actix-session writes a session back when a response ends, so a token
//! refreshed by one request could be overwritten by a concurrent request holding the old state.
//!
//! Refresh is single-flight per connection. In memory, each connection has an async mutex held
//! across the refresh call. With Redis (several instances), a short Redis lock per connection is
//! taken as well, and the tokens are read again under it, so two instances never spend the same
//! refresh token twice (with rotation, the second use would revoke the grant). Different
//! connections never wait for each other.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::future::Cache;
use rand::distributions::{Alphanumeric, DistString};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::auth::oauth::{Grant, OAuthError, OAuthFlow};
use crate::redis_client::{Redis, RedisError, KEY_PREFIX};

/// Refresh this long before the provider's stated expiry, so a token does not expire in flight
/// (at most half the token's lifetime, so that short-lived tokens are still used).
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// A Redis refresh lock outlives the longest refresh: the upstream timeout
/// (`REMEMBERIZER_TIMEOUT_SECS`) plus this, for the Redis reads and writes around it (each bounded
/// to 1 s). So it cannot expire while its holder is still refreshing, and a crashed holder frees
/// it after that long.
const LOCK_SLACK: Duration = Duration::from_secs(5);
/// A request waits for another instance's refresh up to the upstream timeout plus this, then
/// gives up with a retry page.
const LOCK_WAIT_SLACK: Duration = Duration::from_secs(2);

/// The tokens of one connection to Rememberizer.
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

    /// What Step 4 or a refresh yielded (Memoram's `memory_key` is kept elsewhere).
    pub fn from_grant(grant: Grant) -> Self {
        Self::new(grant.access_token, grant.refresh_token, grant.expires_in)
    }

    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.refresh_token.as_ref()
    }

    pub fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn is_fresh(&self, now: SystemTime) -> bool {
        self.refresh_at_ms
            .is_none_or(|refresh_at| unix_ms(now) < refresh_at)
    }

    fn is_expired(&self, now: SystemTime) -> bool {
        self.expires_at_ms
            .is_some_and(|expires_at| unix_ms(now) >= expires_at)
    }

    /// Time to refresh: inside the margin before expiry — unless there is no refresh token, in
    /// which case the access token is used to its actual expiry (then the user connects again).
    fn needs_refresh(&self, now: SystemTime) -> bool {
        if self.refresh_token.is_some() {
            !self.is_fresh(now)
        } else {
            self.is_expired(now)
        }
    }

    fn to_stored(&self) -> StoredTokens {
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

    fn from_stored(stored: StoredTokens) -> Self {
        Self {
            access_token: AccessToken(Arc::new(SecretString::from(stored.access_token))),
            refresh_token: stored.refresh_token.map(SecretString::from),
            refresh_at_ms: stored.refresh_at_ms,
            expires_at_ms: stored.expires_at_ms,
        }
    }
}

/// How a token set is written to Redis. Never logged: it has no `Debug`.
#[derive(Serialize, Deserialize)]
struct StoredTokens {
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

    pub fn same_as(&self, other: &AccessToken) -> bool {
        self.0.expose_secret() == other.0.expose_secret()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

/// Why no valid access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not connected, or the grant ended (revoked, expired, no refresh token): connect again.
    #[error("the connection to Rememberizer ended")]
    Reconnect,
    /// The provider failed during a refresh; the stored tokens are kept for a later retry.
    /// Shared (`Arc`) with every request that was waiting for that refresh.
    #[error("could not refresh the access token")]
    Refresh(#[source] Arc<OAuthError>),
    /// The token store (Redis) failed or another instance's refresh took too long.
    #[error("the token store is unavailable")]
    Store(#[from] RedisError),
    #[error("another refresh of this connection did not finish in time")]
    Busy,
    /// The refresh task panicked (a bug): nothing was stored.
    #[error("the token refresh failed unexpectedly")]
    Internal,
}

/// A random id naming one connection (one successful Step 4) in a provider's store: the session
/// holds it, the store maps it to tokens (Rememberizer) or credentials (Memoram).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(String);

impl ConnectionId {
    pub fn new_random() -> Self {
        Self(Alphanumeric.sample_string(&mut rand::thread_rng(), 32))
    }

    pub fn from_session(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
    /// Read again under the lock: another request may have refreshed meanwhile.
    fn still_applies(&self, current: &TokenSet) -> bool {
        match self {
            Stale::Expiring => current.needs_refresh(SystemTime::now()),
            Stale::Rejected(token) => current.access_token.same_as(token),
        }
    }
}

/// When the last refresh of a connection failed, and why. Requests that were waiting for that
/// refresh take its outcome instead of each trying again: with a hanging token endpoint, the
/// dashboard's three calls would otherwise wait for three timeouts in turn.
type LastFailure = Option<(Instant, Arc<OAuthError>)>;

/// One connection's tokens in memory, with the outcome of its last refresh.
#[derive(Default)]
pub struct Slot {
    tokens: Option<TokenSet>,
    last_failure: LastFailure,
}

type SharedSlot = Arc<Mutex<Slot>>;

/// The failure of a refresh that ended after `waiting_since` (one this request waited for).
fn failure_since(last: &LastFailure, waiting_since: Instant) -> Option<TokenError> {
    match last {
        Some((at, error)) if *at >= waiting_since => Some(TokenError::Refresh(error.clone())),
        _ => None,
    }
}

fn remember_outcome<T>(last: &mut LastFailure, outcome: &Result<T, TokenError>) {
    *last = match outcome {
        Err(TokenError::Refresh(error)) => Some((Instant::now(), error.clone())),
        _ => None,
    };
}

/// Awaits a refresh task. The refresh runs as a task of its own so that, once started, it runs
/// to its end and stores what it got even if the request that started it is gone (the client
/// disconnected, the page's deadline passed, a shutdown timed out): the provider may already
/// have rotated the refresh token, and losing the new one would end the grant at the next
/// refresh.
async fn join_refresh(
    task: tokio::task::JoinHandle<Result<AccessToken, TokenError>>,
) -> Result<AccessToken, TokenError> {
    task.await.unwrap_or_else(|error| {
        tracing::error!(%error, "a token refresh task failed");
        Err(TokenError::Internal)
    })
}

/// Where tokens live: this process's memory, or Redis (shared by every instance).
#[derive(Clone)]
pub enum TokenStore {
    Memory(Cache<String, SharedSlot>),
    Redis {
        redis: Redis,
        idle_ttl: Duration,
        /// The longest a refresh can take: how long the refresh lock lives.
        refresh_timeout: Duration,
        /// One refresh per connection per instance goes to Redis; the rest wait here, and take
        /// its outcome if it failed.
        local: Cache<String, Arc<Mutex<LastFailure>>>,
    },
}

impl TokenStore {
    /// In memory: bounded, and connections unused for `idle_ttl` are forgotten.
    pub fn memory(max_connections: u64, idle_ttl: Duration) -> Self {
        TokenStore::Memory(
            Cache::builder()
                .max_capacity(max_connections)
                // LRU (moka's default is TinyLFU): a new connection is always admitted.
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_idle(idle_ttl)
                .build(),
        )
    }

    /// In Redis, under `ttm:conn:ID`, expiring `idle_ttl` after the last write. `refresh_timeout`
    /// is the upstream timeout: the longest a refresh call can take.
    pub fn redis(
        redis: Redis,
        idle_ttl: Duration,
        refresh_timeout: Duration,
        max_connections: u64,
    ) -> Self {
        TokenStore::Redis {
            redis,
            idle_ttl,
            refresh_timeout,
            local: Cache::builder()
                .max_capacity(max_connections)
                .time_to_idle((refresh_timeout + LOCK_SLACK) * 4)
                .build(),
        }
    }

    /// Stores the tokens of a new connection and returns its id (to be put in the session).
    pub async fn insert(&self, tokens: TokenSet) -> Result<ConnectionId, TokenError> {
        let id = ConnectionId::new_random();
        match self {
            TokenStore::Memory(slots) => {
                let slot = Slot {
                    tokens: Some(tokens),
                    last_failure: None,
                };
                slots.insert(id.0.clone(), Arc::new(Mutex::new(slot))).await;
            }
            TokenStore::Redis {
                redis, idle_ttl, ..
            } => write(redis, &id, &tokens, *idle_ttl).await?,
        }
        Ok(id)
    }

    /// Forgets a connection (log out, or a new login replacing it).
    pub async fn remove(&self, id: &ConnectionId) -> Result<(), TokenError> {
        match self {
            TokenStore::Memory(slots) => slots.invalidate(id.as_str()).await,
            TokenStore::Redis { redis, .. } => {
                redis
                    .query::<()>(redis::cmd("DEL").arg(connection_key(id)))
                    .await?
            }
        }
        Ok(())
    }

    /// Forgets the tokens of a connection whose grant is gone.
    pub async fn drop_tokens(&self, id: &ConnectionId) -> Result<(), TokenError> {
        match self {
            TokenStore::Memory(slots) => {
                if let Some(slot) = slots.get(id.as_str()).await {
                    slot.lock().await.tokens = None;
                }
                Ok(())
            }
            TokenStore::Redis { .. } => self.remove(id).await,
        }
    }

    /// A valid access token, refreshed first if it is about to expire.
    pub async fn access_token(
        &self,
        id: &ConnectionId,
        oauth: &OAuthFlow,
    ) -> Result<AccessToken, TokenError> {
        // Taken before the tokens are read: if a refresh fails while this request waits for the
        // slot's lock (another call of the same page holds it), this request takes that failure
        // instead of trying again.
        let asked_at = Instant::now();
        let now = SystemTime::now();
        // The common case, a fresh token, takes no task and no Redis lock.
        match self {
            TokenStore::Memory(slots) => {
                let slot = slots.get(id.as_str()).await.ok_or(TokenError::Reconnect)?;
                let current = slot.lock().await;
                match current.tokens.as_ref() {
                    None => return Err(TokenError::Reconnect),
                    Some(tokens) if !tokens.needs_refresh(now) => {
                        return Ok(tokens.access_token.clone())
                    }
                    Some(_) => {}
                }
            }
            TokenStore::Redis { redis, .. } => {
                let current = read(redis, id).await?.ok_or(TokenError::Reconnect)?;
                if !current.needs_refresh(now) {
                    return Ok(current.access_token);
                }
            }
        }
        self.refresh(id, oauth, Stale::Expiring, asked_at).await
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
        self.refresh(id, oauth, Stale::Rejected(rejected.clone()), sent_at)
            .await
    }

    /// Single-flight refresh: under this connection's lock (in memory; with Redis, the
    /// instance's lock and then the Redis lock), the tokens are read again and refreshed only if
    /// they are `stale` still. A refresh that failed after `waiting_since` (while this request
    /// was on its way here) is not tried again: its failure is returned.
    async fn refresh(
        &self,
        id: &ConnectionId,
        oauth: &OAuthFlow,
        stale: Stale,
        waiting_since: Instant,
    ) -> Result<AccessToken, TokenError> {
        let oauth = oauth.clone();
        let task = match self {
            TokenStore::Memory(slots) => {
                let slot = slots.get(id.as_str()).await.ok_or(TokenError::Reconnect)?;
                tokio::spawn(async move {
                    let mut slot = slot.lock_owned().await;
                    if let Some(failure) = failure_since(&slot.last_failure, waiting_since) {
                        return Err(failure);
                    }
                    let outcome = match slot.tokens.as_ref() {
                        None => Err(TokenError::Reconnect),
                        Some(current) if !stale.still_applies(current) => {
                            Ok(current.access_token.clone())
                        }
                        // The rotated refresh token replaces the old one before the lock is
                        // released.
                        Some(_) => refresh_locked(&mut slot.tokens, &oauth).await,
                    };
                    remember_outcome(&mut slot.last_failure, &outcome);
                    outcome
                })
            }
            TokenStore::Redis {
                redis,
                idle_ttl,
                refresh_timeout,
                local,
            } => {
                let local = local
                    .get_with(id.0.clone(), async { Arc::new(Mutex::new(None)) })
                    .await;
                let (redis, idle_ttl, refresh_timeout, id) =
                    (redis.clone(), *idle_ttl, *refresh_timeout, id.clone());
                tokio::spawn(async move {
                    let mut last_failure = local.lock_owned().await;
                    if let Some(failure) = failure_since(&last_failure, waiting_since) {
                        return Err(failure);
                    }
                    let lock = RedisLock::acquire(&redis, &id, refresh_timeout).await?;
                    let outcome = refresh_in_redis(&redis, &id, &oauth, &stale, idle_ttl).await;
                    lock.release().await;
                    remember_outcome(&mut last_failure, &outcome);
                    outcome
                })
            }
        };
        join_refresh(task).await
    }
}

/// Under the Redis lock: read, refresh if still stale, write (or delete a grant that ended).
async fn refresh_in_redis(
    redis: &Redis,
    id: &ConnectionId,
    oauth: &OAuthFlow,
    stale: &Stale,
    idle_ttl: Duration,
) -> Result<AccessToken, TokenError> {
    let mut tokens = read(redis, id).await?;
    match tokens.as_ref() {
        None => return Err(TokenError::Reconnect),
        Some(current) if !stale.still_applies(current) => return Ok(current.access_token.clone()),
        Some(_) => {}
    }
    let outcome = refresh_locked(&mut tokens, oauth).await;
    match (&outcome, &tokens) {
        (Ok(_), Some(new_tokens)) => write_with_retries(redis, id, new_tokens, idle_ttl).await?,
        (Err(TokenError::Reconnect), _) => {
            redis
                .query::<()>(redis::cmd("DEL").arg(connection_key(id)))
                .await?
        }
        _ => {}
    }
    outcome
}

/// Refreshes the tokens in `tokens` (which the caller holds exclusively).
async fn refresh_locked(
    tokens: &mut Option<TokenSet>,
    oauth: &OAuthFlow,
) -> Result<AccessToken, TokenError> {
    let Some(refresh_token) = tokens.as_ref().and_then(|t| t.refresh_token.as_ref()) else {
        *tokens = None;
        return Err(TokenError::Reconnect);
    };
    match oauth.refresh(refresh_token).await {
        Ok(grant) => {
            let new_tokens = TokenSet::from_grant(grant);
            let access_token = new_tokens.access_token.clone();
            *tokens = Some(new_tokens);
            Ok(access_token)
        }
        Err(OAuthError::InvalidGrant) => {
            *tokens = None;
            Err(TokenError::Reconnect)
        }
        // Provider down or confused: keep the tokens so that a later retry can succeed.
        Err(other) => Err(TokenError::Refresh(Arc::new(other))),
    }
}

/// Tries the write of freshly refreshed tokens up to this many times: the provider has rotated
/// the refresh token, so a lost write would end the grant.
const WRITE_ATTEMPTS: u32 = 4;

async fn write_with_retries(
    redis: &Redis,
    id: &ConnectionId,
    tokens: &TokenSet,
    idle_ttl: Duration,
) -> Result<(), TokenError> {
    let mut attempt = 1;
    loop {
        match write(redis, id, tokens, idle_ttl).await {
            Ok(()) => return Ok(()),
            Err(error) if attempt < WRITE_ATTEMPTS => {
                tracing::warn!(%error, attempt, "storing refreshed tokens failed; trying again");
                // 250 ms, 500 ms, 1 s: a Redis blip of well over a second is ridden out.
                tokio::time::sleep(Duration::from_millis(250 << (attempt - 1))).await;
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

fn connection_key(id: &ConnectionId) -> String {
    format!("{KEY_PREFIX}conn:{}", id.as_str())
}

async fn read(redis: &Redis, id: &ConnectionId) -> Result<Option<TokenSet>, TokenError> {
    let value: Option<String> = redis
        .query(redis::cmd("GET").arg(connection_key(id)))
        .await?;
    // Unreadable data is treated as no connection: the user connects again.
    Ok(value
        .and_then(|json| serde_json::from_str::<StoredTokens>(&json).ok())
        .map(TokenSet::from_stored))
}

async fn write(
    redis: &Redis,
    id: &ConnectionId,
    tokens: &TokenSet,
    idle_ttl: Duration,
) -> Result<(), TokenError> {
    let json = serde_json::to_string(&tokens.to_stored()).map_err(RedisError::Encoding)?;
    redis
        .query::<()>(
            redis::cmd("SET")
                .arg(connection_key(id))
                .arg(json)
                .arg("EX")
                .arg(idle_ttl.as_secs().max(1)),
        )
        .await?;
    Ok(())
}

/// `SET key owner NX PX ttl`, released only by its owner (a Lua compare-and-delete), so a lock
/// that expired and was taken by another instance is never released by the first.
struct RedisLock {
    redis: Redis,
    key: String,
    owner: String,
    released: bool,
}

const RELEASE_SCRIPT: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

impl RedisLock {
    async fn acquire(
        redis: &Redis,
        id: &ConnectionId,
        refresh_timeout: Duration,
    ) -> Result<Self, TokenError> {
        let ttl = refresh_timeout + LOCK_SLACK;
        let wait = refresh_timeout + LOCK_WAIT_SLACK;
        let mut lock = RedisLock {
            redis: redis.clone(),
            key: format!("{}:lock", connection_key(id)),
            owner: Alphanumeric.sample_string(&mut rand::thread_rng(), 24),
            // Not held yet: nothing to release if acquiring fails.
            released: true,
        };
        let started = Instant::now();
        loop {
            let acquired: Option<String> = redis
                .query(
                    redis::cmd("SET")
                        .arg(&lock.key)
                        .arg(&lock.owner)
                        .arg("NX")
                        .arg("PX")
                        .arg(ttl.as_millis() as u64),
                )
                .await?;
            if acquired.is_some() {
                lock.released = false;
                return Ok(lock);
            }
            if started.elapsed() > wait {
                return Err(TokenError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn release(mut self) {
        self.released = true;
        release(&self.redis, &self.key, &self.owner).await;
    }
}

/// A lock dropped without `release` (its holder panicked or was cancelled) is released in the
/// background, instead of blocking this connection's refreshes until its TTL.
impl Drop for RedisLock {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (redis, key, owner) = (
                self.redis.clone(),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.owner),
            );
            runtime.spawn(async move { release(&redis, &key, &owner).await });
        }
    }
}

/// Deletes the lock if `owner` still holds it. If this fails the lock expires by itself.
async fn release(redis: &Redis, key: &str, owner: &str) {
    let script = redis::Script::new(RELEASE_SCRIPT);
    if let Err(error) = redis.script::<i64>(&script, &[key], &[owner]).await {
        tracing::warn!(%error, "could not release a refresh lock");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_until_the_margin_before_expiry() {
        let now = SystemTime::now();
        let hour = TokenSet::new(
            SecretString::from("a"),
            None,
            Some(Duration::from_secs(3600)),
        );
        assert!(hour.is_fresh(now));
        assert!(hour.is_fresh(now + Duration::from_secs(3539)));
        assert!(!hour.is_fresh(now + Duration::from_secs(3541)));
        // A token living 10 s is refreshed after 5 s, not at once.
        let short = TokenSet::new(SecretString::from("a"), None, Some(Duration::from_secs(10)));
        assert!(short.is_fresh(now + Duration::from_secs(4)));
        assert!(!short.is_fresh(now + Duration::from_secs(6)));
        let no_expiry = TokenSet::new(SecretString::from("a"), None, None);
        assert!(no_expiry.is_fresh(now + Duration::from_secs(86_400)));
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
}
