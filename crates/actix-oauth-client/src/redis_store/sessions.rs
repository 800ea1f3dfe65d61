//! Sessions in Redis, under `PREFIXsession:KEY` with Redis expiry, shared by every instance and
//! surviving restarts. It mirrors actix-session's own Redis store, but every command is bounded
//! in time, so a Redis outage is a quick error (the session middleware's 500, or your page for
//! it), never a hung page; and, like the memory store, it holds connected browsers only
//! (anonymous traffic writes no key) and updates only a session that still exists (logout is
//! final).

use std::collections::HashMap;

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;

use super::Redis;
use crate::auth::session::is_connected_state;
use crate::auth::session_store::{gone, new_session_key, not_connected};

type SessionState = HashMap<String, String>;

/// actix-session's [`SessionStore`] in Redis, for connected browsers only (see the module doc).
/// Cheap to clone: clones share the connection.
#[derive(Clone)]
pub struct RedisSessionStore {
    redis: Redis,
}

impl RedisSessionStore {
    /// Sessions under `redis`'s key prefix.
    pub fn new(redis: Redis) -> Self {
        Self { redis }
    }

    /// A session key's Redis key.
    fn redis_key(&self, session_key: &SessionKey) -> String {
        self.redis.key(&format!("session:{}", session_key.as_ref()))
    }
}

fn ttl_seconds(ttl: &CookieDuration) -> i64 {
    ttl.whole_seconds().max(1)
}

impl SessionStore for RedisSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let value: Option<String> = self
            .redis
            .query(redis::cmd("GET").arg(self.redis_key(session_key)))
            .await
            .map_err(|e| LoadError::Other(e.into()))?;
        match value {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| LoadError::Deserialization(e.into())),
        }
    }

    async fn save(
        &self,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        if !is_connected_state(&state) {
            return not_connected();
        }
        let json = serde_json::to_string(&state).map_err(|e| SaveError::Serialization(e.into()))?;
        let key =
            SessionKey::try_from(new_session_key()).map_err(|e| SaveError::Other(e.into()))?;
        self.redis
            .query::<()>(
                redis::cmd("SET")
                    .arg(self.redis_key(&key))
                    .arg(json)
                    .arg("NX")
                    .arg("EX")
                    .arg(ttl_seconds(ttl)),
            )
            .await
            .map_err(|e| SaveError::Other(e.into()))?;
        Ok(key)
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        if !is_connected_state(&state) {
            // A session from before the connected-only rule: dropped, not written.
            self.delete(&session_key)
                .await
                .map_err(UpdateError::Other)?;
            return gone();
        }
        let json =
            serde_json::to_string(&state).map_err(|e| UpdateError::Serialization(e.into()))?;
        let updated: Option<String> = self
            .redis
            .query(
                redis::cmd("SET")
                    .arg(self.redis_key(&session_key))
                    .arg(&json)
                    .arg("XX")
                    .arg("EX")
                    .arg(ttl_seconds(ttl)),
            )
            .await
            .map_err(|e| UpdateError::Other(e.into()))?;
        match updated {
            Some(_) => Ok(session_key),
            // Logged out (or expired) meanwhile: not written back, logout is final.
            None => gone(),
        }
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> anyhow::Result<()> {
        self.redis
            .query::<()>(
                redis::cmd("EXPIRE")
                    .arg(self.redis_key(session_key))
                    .arg(ttl_seconds(ttl)),
            )
            .await?;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.redis
            .query::<()>(redis::cmd("DEL").arg(self.redis_key(session_key)))
            .await?;
        Ok(())
    }
}
