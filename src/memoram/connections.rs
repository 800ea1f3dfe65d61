//! Memoram connections, server-side: what a browser's session points to once the user has
//! authorized the app (its `memory_key`), the access request waiting for approval, and, once
//! approved, the credentials (`user_id`, `encryption_key`, `key_version`). Kept like the
//! Rememberizer tokens (`tokens::TokenStore`): in memory (bounded, forgotten after the session's
//! idle time) or in a store shared by instances (`redis_store::memoram`: Redis under
//! `ttm:memoram:conn:ID`, with the same expiry). Never in a cookie, a
//! URL, a template or a log: these types have no `Debug`.
//!
//! The user tokens of Memoram's code exchange are not kept: every Memoram call is made with the
//! app's developer token, so they would be secrets with no use.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::models::Credentials;
use crate::auth::{ConnectionId, StoreError};

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

/// Where connections live: this process ([`MemoryConnections`]) or a store shared by several
/// instances (the app's Redis one is `redis_store::memoram`). Cheap to clone.
#[derive(Clone)]
pub struct MemoramConnections(Arc<dyn ConnectionStore>);

pub trait ConnectionStore: Send + Sync {
    /// The connection, if it still exists (reading it counts as use: its idle expiry restarts).
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<MemoramConnection>, StoreError>>;
    fn put<'a>(
        &'a self,
        id: &'a ConnectionId,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>>;
}

impl MemoramConnections {
    pub fn new(store: impl ConnectionStore + 'static) -> Self {
        Self(Arc::new(store))
    }

    pub fn memory(max_connections: u64, idle_ttl: Duration) -> Self {
        Self::new(MemoryConnections(
            Cache::builder()
                .max_capacity(max_connections)
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .time_to_idle(idle_ttl)
                .build(),
        ))
    }

    pub async fn insert(&self, connection: &MemoramConnection) -> Result<ConnectionId, StoreError> {
        let id = ConnectionId::new_random();
        self.put(&id, connection).await?;
        Ok(id)
    }

    pub async fn get(&self, id: &ConnectionId) -> Result<Option<MemoramConnection>, StoreError> {
        self.0.get(id).await
    }

    pub async fn put(
        &self,
        id: &ConnectionId,
        connection: &MemoramConnection,
    ) -> Result<(), StoreError> {
        self.0.put(id, connection).await
    }

    pub async fn remove(&self, id: &ConnectionId) -> Result<(), StoreError> {
        self.0.remove(id).await
    }
}

/// Connections in this process's memory: bounded, forgotten after the session's idle time.
pub struct MemoryConnections(Cache<String, Arc<MemoramConnection>>);

impl ConnectionStore for MemoryConnections {
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<MemoramConnection>, StoreError>> {
        Box::pin(async move { Ok(self.0.get(id.as_str()).await.map(|c| (*c).clone())) })
    }

    fn put<'a>(
        &'a self,
        id: &'a ConnectionId,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.0
                .insert(id.as_str().to_owned(), Arc::new(connection.clone()))
                .await;
            Ok(())
        })
    }

    fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.0.invalidate(id.as_str()).await;
            Ok(())
        })
    }
}
