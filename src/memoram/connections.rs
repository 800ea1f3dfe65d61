//! Memoram connections, server-side: what a browser's session points to once the user has
//! authorized the app (its `memory_key`), the access request waiting for approval, and, once
//! approved, the credentials (`user_id`, `encryption_key`, `key_version`). Kept like the
//! Rememberizer tokens (`tokens::TokenStore`): in memory (bounded, forgotten after the session's
//! idle time) or in Redis under `ttm:memoram:conn:ID` with the same expiry. Never in a cookie, a
//! URL, a template or a log: these types have no `Debug`.
//!
//! The user tokens of Memoram's code exchange are not kept: every Memoram call is made with the
//! app's developer token, so they would be secrets with no use.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::models::Credentials;
use crate::auth::tokens::ConnectionId;
use crate::redis_client::{Redis, RedisError, KEY_PREFIX};

#[derive(Clone, Serialize, Deserialize)]
pub struct MemoramConnection {
    memory_key: String,
    /// The access request this connection waits for or was granted by.
    pub request_id: Option<String>,
    pub credentials: Option<UserKeys>,
}

/// What an approved access request yields, for the memory calls.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserKeys {
    pub user_id: String,
    encryption_key: String,
    pub key_version: u64,
}

impl MemoramConnection {
    pub fn new(memory_key: &SecretString) -> Self {
        Self {
            memory_key: memory_key.expose_secret().to_owned(),
            request_id: None,
            credentials: None,
        }
    }

    pub fn memory_key(&self) -> SecretString {
        SecretString::from(self.memory_key.clone())
    }

    /// Stores what `GET /access-requests/{id}/credentials` answered (its `memory_key` wins: it
    /// is the provider's current word).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.memory_key = credentials.memory_key.expose_secret().to_owned();
        self.credentials = Some(UserKeys {
            user_id: credentials.user_id,
            encryption_key: credentials.encryption_key.expose_secret().to_owned(),
            key_version: credentials.key_version,
        });
    }
}

impl UserKeys {
    pub fn encryption_key(&self) -> SecretString {
        SecretString::from(self.encryption_key.clone())
    }
}

#[derive(Clone)]
pub enum MemoramConnections {
    Memory(Cache<String, Arc<MemoramConnection>>),
    Redis { redis: Redis, idle_ttl: Duration },
}

impl MemoramConnections {
    pub fn memory(max_connections: u64, idle_ttl: Duration) -> Self {
        Self::Memory(
            Cache::builder()
                .max_capacity(max_connections)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_idle(idle_ttl)
                .build(),
        )
    }

    pub fn redis(redis: Redis, idle_ttl: Duration) -> Self {
        Self::Redis { redis, idle_ttl }
    }

    pub async fn insert(&self, connection: &MemoramConnection) -> Result<ConnectionId, RedisError> {
        let id = ConnectionId::new_random();
        self.put(&id, connection).await?;
        Ok(id)
    }

    pub async fn get(&self, id: &ConnectionId) -> Result<Option<MemoramConnection>, RedisError> {
        match self {
            Self::Memory(cache) => Ok(cache.get(id.as_str()).await.map(|c| (*c).clone())),
            Self::Redis { redis, idle_ttl } => {
                let json: Option<String> = redis
                    .query(
                        redis::cmd("GETEX")
                            .arg(key(id))
                            .arg("EX")
                            .arg(idle_ttl.as_secs().max(1)),
                    )
                    .await?;
                // Unreadable data reads as no connection: the user connects again.
                Ok(json.and_then(|json| serde_json::from_str(&json).ok()))
            }
        }
    }

    pub async fn put(
        &self,
        id: &ConnectionId,
        connection: &MemoramConnection,
    ) -> Result<(), RedisError> {
        match self {
            Self::Memory(cache) => {
                cache
                    .insert(id.as_str().to_owned(), Arc::new(connection.clone()))
                    .await
            }
            Self::Redis { redis, idle_ttl } => {
                let json = serde_json::to_string(connection).map_err(RedisError::Encoding)?;
                redis
                    .query::<()>(
                        redis::cmd("SET")
                            .arg(key(id))
                            .arg(json)
                            .arg("EX")
                            .arg(idle_ttl.as_secs().max(1)),
                    )
                    .await?
            }
        }
        Ok(())
    }

    pub async fn remove(&self, id: &ConnectionId) -> Result<(), RedisError> {
        match self {
            Self::Memory(cache) => cache.invalidate(id.as_str()).await,
            Self::Redis { redis, .. } => redis.query::<()>(redis::cmd("DEL").arg(key(id))).await?,
        }
        Ok(())
    }
}

fn key(id: &ConnectionId) -> String {
    format!("{KEY_PREFIX}memoram:conn:{}", id.as_str())
}
