//! Redis (cargo feature `redis`): everything `actix-oauth-client`'s `redis_store` has (the
//! connection, sessions, spent states), and Memoram's share: each browser's connection under
//! `PREFIXmemoram:conn:ID` (the session's idle expiry, restarted by every read), and the developer
//! token the instances of one deployment share. [`crate::Memoram::with_redis`] wires them all.

use std::time::Duration;

use futures_util::future::BoxFuture;
use sha2::{Digest, Sha256};

pub use actix_oauth_client::redis_store::*;

use crate::auth::{ConnectionId, StoreError};
use crate::memoram::connections::{ConnectionStore, MemoramConnection, Update};
use crate::memoram::developer_token::{SharedToken, StoredDeveloperToken};

/// Writes `ARGV[2]` (with its expiry `ARGV[3]`) if the stored record's `version` is
/// `ARGV[1]`: 1 written, 2 another write came first, 0 the connection is gone. One script, so
/// atomic: no write of another instance lands between the comparison and the write.
const COMPARE_AND_SET: &str = r#"
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local ok, record = pcall(cjson.decode, current)
local version = 0
if ok and type(record) == 'table' and record['version'] then version = record['version'] end
if tonumber(version) ~= tonumber(ARGV[1]) then return 2 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', tonumber(ARGV[3]))
return 1
"#;

/// [`ConnectionStore`] in Redis: `MemoramConnections::new(RedisConnections::new(redis, ttl))`.
pub struct RedisConnections {
    redis: Redis,
    idle_ttl: Duration,
}

impl RedisConnections {
    /// Connections forgotten `idle_ttl` after their last read or write.
    pub fn new(redis: Redis, idle_ttl: Duration) -> Self {
        Self { redis, idle_ttl }
    }

    fn key(&self, id: &ConnectionId) -> String {
        self.redis.key(&format!("memoram:conn:{}", id.as_str()))
    }
}

impl ConnectionStore for RedisConnections {
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<MemoramConnection>, StoreError>> {
        Box::pin(async move {
            let json: Option<String> = self
                .redis
                .query(
                    redis::cmd("GETEX")
                        .arg(self.key(id))
                        .arg("EX")
                        .arg(self.idle_ttl.as_secs().max(1)),
                )
                .await?;
            // Unreadable data reads as no connection: the user connects again.
            Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
        })
    }

    fn insert<'a>(
        &'a self,
        id: &'a ConnectionId,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(connection).map_err(RedisError::Encoding)?;
            Ok(self
                .redis
                .query::<()>(
                    redis::cmd("SET")
                        .arg(self.key(id))
                        .arg(json)
                        .arg("EX")
                        .arg(self.idle_ttl.as_secs().max(1)),
                )
                .await?)
        })
    }

    fn update<'a>(
        &'a self,
        id: &'a ConnectionId,
        expected: u64,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<Update, StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(connection).map_err(RedisError::Encoding)?;
            let script = redis::Script::new(COMPARE_AND_SET);
            let expected = expected.to_string();
            let ttl = self.idle_ttl.as_secs().max(1).to_string();
            let key = self.key(id);
            let outcome: i64 = self
                .redis
                .script(&script, &[&key], &[&expected, &json, &ttl])
                .await?;
            Ok(match outcome {
                1 => Update::Written,
                2 => Update::Conflict,
                _ => Update::Gone,
            })
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
}

/// The developer token of one deployment, under `PREFIXmemoram:developer_token:DEPLOYMENT`, where
/// `DEPLOYMENT` is a digest of `MEMORAM_BASE_URL` and of the API key's own digest (never the key).
/// Deployments that share a Redis (staging beside production, a demo beside either) therefore
/// never read each other's token, and never send one to the other's Memoram.
pub struct RedisSharedToken {
    redis: Redis,
    key: String,
}

impl RedisSharedToken {
    /// The token of the deployment that calls Memoram at `base_url` with `api_key`.
    pub fn new(redis: Redis, base_url: &url::Url, api_key: &str) -> Self {
        Self {
            key: developer_token_key(redis.key_prefix(), base_url, api_key),
            redis,
        }
    }
}

/// `prefix` + `memoram:developer_token:` + 32 hex digits of SHA-256(base URL ‖ SHA-256(API
/// key)).
pub fn developer_token_key(prefix: &str, base_url: &url::Url, api_key: &str) -> String {
    let key_digest = Sha256::digest(api_key.as_bytes());
    let mut deployment = Sha256::new();
    deployment.update(base_url.as_str().as_bytes());
    deployment.update(b"\n");
    deployment.update(key_digest);
    let hex: String = deployment.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}memoram:developer_token:{hex}")
}

impl SharedToken for RedisSharedToken {
    fn get(&self) -> BoxFuture<'_, Result<Option<StoredDeveloperToken>, StoreError>> {
        Box::pin(async move {
            let json: Option<String> = self.redis.query(redis::cmd("GET").arg(&self.key)).await?;
            Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
        })
    }

    fn put<'a>(
        &'a self,
        token: &'a StoredDeveloperToken,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let json = serde_json::to_string(token).map_err(RedisError::Encoding)?;
            Ok(self
                .redis
                .query::<()>(
                    redis::cmd("SET")
                        .arg(&self.key)
                        .arg(json)
                        .arg("PX")
                        .arg(ttl.as_millis().max(1) as u64),
                )
                .await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_developer_token_key_is_per_deployment_and_hides_the_api_key() {
        let production = url::Url::parse("https://api.memoram.app/api/v1").expect("url");
        let staging = url::Url::parse("https://staging.memoram.app/api/v1").expect("url");
        let key = developer_token_key("ttm:", &production, "mk_live_secret");
        assert!(key.starts_with("ttm:memoram:developer_token:"), "{key}");
        assert_eq!(key.len(), "ttm:memoram:developer_token:".len() + 32);
        assert!(!key.contains("mk_live_secret"));
        assert_eq!(
            key,
            developer_token_key("ttm:", &production, "mk_live_secret")
        );
        assert_ne!(key, developer_token_key("ttm:", &staging, "mk_live_secret"));
        assert_ne!(
            key,
            developer_token_key("ttm:", &production, "mk_test_other")
        );
        assert!(
            developer_token_key(DEFAULT_KEY_PREFIX, &production, "mk_live_secret")
                .starts_with("oauth:memoram:developer_token:")
        );
    }
}
