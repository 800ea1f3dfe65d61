//! A provider's tokens in Redis, under `PREFIXconn:ID`, expiring `idle_ttl` after the last
//! write; and the lock that makes a refresh one at a time across instances.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use rand::distributions::{Alphanumeric, DistString};

use super::{Redis, RedisError, COMMAND_TIMEOUT};
use crate::auth::tokens::{RefreshLock, StoredTokens, TokenBackend, TokenError, TokenSet};
use crate::auth::{ConnectionId, StoreError};

/// Tries the write of freshly refreshed tokens up to this many times: the provider has rotated
/// the refresh token, so a lost write would end the grant.
const WRITE_ATTEMPTS: u32 = 4;
/// The pause before the second attempt; it doubles before each later one.
const FIRST_BACK_OFF: Duration = Duration::from_millis(250);
/// Added to the lock's lifetime beyond the holder's worst case (clock drift, scheduling).
const LOCK_MARGIN: Duration = Duration::from_secs(2);

/// [`TokenBackend`] in Redis: `TokenStore::new(RedisTokens::new(redis, idle_ttl, timeout))`.
pub struct RedisTokens {
    redis: Redis,
    idle_ttl: Duration,
    /// The longest one call to the token endpoint can take (the upstream timeout).
    refresh_timeout: Duration,
}

impl RedisTokens {
    /// Tokens forgotten `idle_ttl` after their last write (a connection's lifetime); a refresh
    /// lock that outlives a holder whose token request takes up to `refresh_timeout` (the HTTP
    /// client's request timeout: [`lock_ttl`]).
    pub fn new(redis: Redis, idle_ttl: Duration, refresh_timeout: Duration) -> Self {
        Self {
            redis,
            idle_ttl,
            refresh_timeout,
        }
    }

    fn key(&self, id: &ConnectionId) -> String {
        self.redis.key(&format!("conn:{}", id.as_str()))
    }

    /// `SET` with the idle expiry; `XX`: only if the connection still exists.
    async fn set(
        &self,
        id: &ConnectionId,
        tokens: &TokenSet,
        xx: bool,
    ) -> Result<bool, StoreError> {
        let json = serde_json::to_string(&tokens.to_stored()).map_err(RedisError::Encoding)?;
        let mut command = redis::cmd("SET");
        command.arg(self.key(id)).arg(json);
        if xx {
            command.arg("XX");
        }
        command.arg("EX").arg(self.idle_ttl.as_secs().max(1));
        let written: Option<String> = self.redis.query(&command).await?;
        Ok(written.is_some())
    }
}

/// How long the refresh lock lives: the longest its holder can take, plus a margin. The holder
/// reads the tokens (one command), calls the token endpoint (`refresh_timeout`), then writes
/// them (up to `WRITE_ATTEMPTS` commands, with back-off between them). A lock that expired under
/// a live holder would let another instance spend the rotated-away refresh token, and a provider
/// with reuse detection revokes the grant for it. With the default 10 s timeout: 18.75 s.
pub fn lock_ttl(refresh_timeout: Duration) -> Duration {
    let writes = COMMAND_TIMEOUT * WRITE_ATTEMPTS + total_back_off();
    COMMAND_TIMEOUT + refresh_timeout + writes + LOCK_MARGIN
}

/// The pauses between write attempts, in all.
fn total_back_off() -> Duration {
    (0..WRITE_ATTEMPTS - 1)
        .map(|n| FIRST_BACK_OFF * 2u32.pow(n))
        .sum()
}

impl TokenBackend for RedisTokens {
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<TokenSet>, StoreError>> {
        Box::pin(async move {
            let value: Option<String> = self
                .redis
                .query(redis::cmd("GET").arg(self.key(id)))
                .await?;
            // Unreadable data is treated as no connection: the user connects again.
            Ok(value
                .and_then(|json| serde_json::from_str::<StoredTokens>(&json).ok())
                .map(TokenSet::from_stored))
        })
    }

    fn insert<'a>(
        &'a self,
        id: &'a ConnectionId,
        tokens: &'a TokenSet,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.set(id, tokens, false).await.map(drop) })
    }

    fn replace<'a>(
        &'a self,
        id: &'a ConnectionId,
        tokens: &'a TokenSet,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut attempt = 1;
            loop {
                match self.set(id, tokens, true).await {
                    Ok(written) => return Ok(written),
                    Err(error) if attempt < WRITE_ATTEMPTS => {
                        tracing::warn!(%error, attempt, "storing refreshed tokens failed; trying again");
                        // 250 ms, 500 ms, 1 s: a Redis blip of well over a second is ridden out.
                        tokio::time::sleep(FIRST_BACK_OFF * 2u32.pow(attempt - 1)).await;
                        attempt += 1;
                    }
                    Err(error) => return Err(error),
                }
            }
        })
    }

    fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            Ok(self
                .redis
                .query::<()>(redis::cmd("DEL").arg(self.key(id)))
                .await?)
        })
    }

    fn lock<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<Box<dyn RefreshLock>>, TokenError>> {
        Box::pin(async move {
            let lock = RedisLock::acquire(
                &self.redis,
                &format!("{}:lock", self.key(id)),
                lock_ttl(self.refresh_timeout),
            )
            .await?;
            Ok(Some(Box::new(lock) as Box<dyn RefreshLock>))
        })
    }
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
    /// Waits for the lock as long as a live holder may keep it, then gives up (`Busy`).
    async fn acquire(redis: &Redis, key: &str, ttl: Duration) -> Result<Self, TokenError> {
        let mut lock = RedisLock {
            redis: redis.clone(),
            key: key.to_owned(),
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
                .await
                .map_err(StoreError::from)?;
            if acquired.is_some() {
                lock.released = false;
                return Ok(lock);
            }
            if started.elapsed() > ttl {
                return Err(TokenError::Busy);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl RefreshLock for RedisLock {
    fn release(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        self.released = true;
        let (redis, key, owner) = (
            self.redis.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.owner),
        );
        Box::pin(async move { release(&redis, &key, &owner).await })
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
    fn the_lock_outlives_the_slowest_holder() {
        assert_eq!(total_back_off(), Duration::from_millis(250 + 500 + 1000));
        // Read 1 s + refresh 10 s + 4 writes of up to 1 s each + 1.75 s of back-off.
        let slowest_holder = Duration::from_millis(1_000 + 10_000 + 4_000 + 1_750);
        assert!(lock_ttl(Duration::from_secs(10)) > slowest_holder);
        assert_eq!(
            lock_ttl(Duration::from_secs(10)),
            Duration::from_millis(18_750)
        );
    }
}
