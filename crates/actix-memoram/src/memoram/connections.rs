//! Memoram connections, server-side: what a browser's session points to once the user has
//! authorized the app (its `memory_key`), the access request waiting for approval, and, once
//! approved, the credentials (`user_id`, `encryption_key`, `key_version`). Kept like the
//! Rememberizer tokens ([`crate::auth::tokens::TokenStore`]): in memory ([`MemoryConnections`]:
//! bounded, forgotten after the session's idle time) or in a store shared by instances, behind
//! [`ConnectionStore`] (`redis_store::RedisConnections`, cargo feature `redis`: Redis under
//! `PREFIXmemoram:conn:ID`, with the same expiry). Never in a cookie, a URL, a template or a log: these types have no
//! `Debug`.
//!
//! The user tokens of Memoram's code exchange are not kept: every Memoram call is made with the
//! app's developer token, so they would be secrets with no use.
//!
//! A record is changed by compare-and-set ([`MemoramConnections::update`]): each carries a
//! version, and a write whose version is no longer the stored one is refused (`Conflict`), as is
//! a write to a connection that ended (`Gone`). So a late answer from a request that started
//! before a change (a 403 from before a re-approval, a key fetched before a disconnect) cannot
//! overwrite it or bring it back, in either store, with any number of tabs or instances. This
//! crate's `tests/redis.rs` checks this contract on both stores (`--features redis`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use moka::future::Cache;
use moka::ops::compute::Op;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::models::Credentials;
use crate::auth::{ConnectionId, StoreError};

/// One browser's Memoram connection, kept server-side under its [`ConnectionId`]: the user's
/// `memory_key`, their access request, and once it is approved the credentials. It serializes
/// with its secrets in clear (the app's Redis store keeps it as JSON): only a server-side store
/// may hold it.
#[derive(Clone, Serialize, Deserialize)]
pub struct MemoramConnection {
    memory_key: String,
    /// The access request this connection waits for or was granted by.
    pub request_id: Option<String>,
    /// The approved request's credentials; `None` until it is approved, and again once a
    /// status check or a 403 finds the access no longer approved.
    pub credentials: Option<UserKeys>,
    /// A tab creating an access request: no other creates one meanwhile (see
    /// [`Memoram::ask_again`](super::Memoram::ask_again)).
    #[serde(default)]
    pub requesting: Option<RequestClaim>,
    /// Incremented by every write (see [`MemoramConnections::update`]).
    #[serde(default)]
    pub version: u64,
}

/// Who is creating this connection's access request, since when.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestClaim {
    /// Random, per attempt: the attempt knows its own claim.
    pub token: String,
    /// Milliseconds since the Unix epoch.
    pub since_ms: u64,
}

/// What a compare-and-set write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    /// The stored record had the expected version and now holds the new one.
    Written,
    /// The record changed since it was read: nothing was written.
    Conflict,
    /// The connection ended (disconnect, log out, expiry): nothing was written.
    Gone,
}

/// What an approved access request yields, for the memory calls.
#[derive(Clone, Serialize, Deserialize)]
pub struct UserKeys {
    /// The user's id at Memoram (a UUID), sent as `user_id` by every memory and tag call.
    pub user_id: String,
    encryption_key: String,
    /// The version of the encryption key; a different one from Memoram means a rotated key.
    pub key_version: u64,
}

impl MemoramConnection {
    /// A connection with only the user's `memory_key` (from the token response): no access
    /// request yet, no credentials, version 0.
    pub fn new(memory_key: &SecretString) -> Self {
        Self {
            memory_key: memory_key.expose_secret().to_owned(),
            request_id: None,
            credentials: None,
            requesting: None,
            version: 0,
        }
    }

    /// The user's `memory_key`, sent as `memoryKey` by access requests and memory writes: the
    /// token response's, replaced by the credentials' once approved.
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
    /// The user's symmetric content key as Memoram gave it, in hex (64 digits for AES-256-GCM).
    pub fn encryption_key(&self) -> SecretString {
        SecretString::from(self.encryption_key.clone())
    }
}

/// Where connections live: this process ([`MemoryConnections`]) or a store shared by several
/// instances (the Redis one, cargo feature `redis`, is `redis_store::RedisConnections`). Cheap to
/// clone.
#[derive(Clone)]
pub struct MemoramConnections(Arc<dyn ConnectionStore>);

/// A store of [`MemoramConnection`]s by [`ConnectionId`], behind [`MemoramConnections`]:
/// [`MemoryConnections`] here, `redis_store::RedisConnections` with the feature `redis`. `update`
/// must be an atomic compare-and-set, and `remove` final: no `update` racing it brings the
/// record back.
pub trait ConnectionStore: Send + Sync {
    /// The connection, if it still exists (reading it counts as use: its idle expiry restarts).
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<MemoramConnection>, StoreError>>;
    /// Stores a new connection.
    fn insert<'a>(
        &'a self,
        id: &'a ConnectionId,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Writes `connection` (already carrying its new version) if the stored record still has
    /// version `expected`, atomically.
    fn update<'a>(
        &'a self,
        id: &'a ConnectionId,
        expected: u64,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<Update, StoreError>>;
    /// Forgets the connection, for good: a later or racing `update` finds it gone.
    fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>>;
}

impl MemoramConnections {
    /// Connections kept in `store`.
    pub fn new(store: impl ConnectionStore + 'static) -> Self {
        Self(Arc::new(store))
    }

    /// Connections in this process's memory ([`MemoryConnections::new`]).
    pub fn memory(max_connections: u64, idle_ttl: Duration) -> Self {
        Self::new(MemoryConnections::new(max_connections, idle_ttl))
    }

    /// Keeps `connection` under a new random id, for the browser's session to point to.
    pub async fn insert(&self, connection: &MemoramConnection) -> Result<ConnectionId, StoreError> {
        let id = ConnectionId::new_random();
        self.0.insert(&id, connection).await?;
        Ok(id)
    }

    /// The connection `id` names; `None` once it ended (disconnected, logged out, expired or
    /// evicted). Reading it restarts its idle expiry.
    pub async fn get(&self, id: &ConnectionId) -> Result<Option<MemoramConnection>, StoreError> {
        self.0.get(id).await
    }

    /// Writes `connection` as changed from the version it was read at; on success its version
    /// is the new one (a second change can follow).
    pub async fn update(
        &self,
        id: &ConnectionId,
        connection: &mut MemoramConnection,
    ) -> Result<Update, StoreError> {
        let expected = connection.version;
        connection.version = expected + 1;
        let outcome = self.0.update(id, expected, connection).await;
        if !matches!(outcome, Ok(Update::Written)) {
            connection.version = expected;
        }
        outcome
    }

    /// Reads the record, applies `change` and writes it back; read again and retried (up to 3
    /// times) if another write came first. `change` answers `false` to leave the record as it
    /// is (the change no longer applies to what is stored). The record as stored in the end,
    /// or `None` if the connection ended.
    pub async fn modify(
        &self,
        id: &ConnectionId,
        mut change: impl FnMut(&mut MemoramConnection) -> bool,
    ) -> Result<Option<MemoramConnection>, StoreError> {
        for _ in 0..3 {
            let Some(mut connection) = self.get(id).await? else {
                return Ok(None);
            };
            if !change(&mut connection) {
                return Ok(Some(connection));
            }
            match self.update(id, &mut connection).await? {
                Update::Written => return Ok(Some(connection)),
                Update::Gone => return Ok(None),
                Update::Conflict => continue,
            }
        }
        Err(StoreError::contended("a Memoram connection"))
    }

    /// Ends the connection (disconnect, log out): forgotten, and every write still under way
    /// for it answers [`Update::Gone`].
    pub async fn remove(&self, id: &ConnectionId) -> Result<(), StoreError> {
        self.0.remove(id).await
    }
}

/// Connections in this process's memory: bounded, forgotten after the session's idle time.
pub struct MemoryConnections(Cache<String, Arc<MemoramConnection>>);

impl MemoryConnections {
    /// At most `max_connections` (the least recently used make room), each forgotten `idle_ttl`
    /// after its last read or write.
    pub fn new(max_connections: u64, idle_ttl: Duration) -> Self {
        Self(crate::auth::connection_cache(max_connections, idle_ttl))
    }
}

impl ConnectionStore for MemoryConnections {
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<MemoramConnection>, StoreError>> {
        Box::pin(async move { Ok(self.0.get(id.as_str()).await.map(|c| (*c).clone())) })
    }

    fn insert<'a>(
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

    fn update<'a>(
        &'a self,
        id: &'a ConnectionId,
        expected: u64,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<Update, StoreError>> {
        Box::pin(async move {
            let mut outcome = Update::Gone;
            // Serial per key: no other write lands between the comparison and the write.
            self.0
                .entry(id.as_str().to_owned())
                .and_compute_with(|current| {
                    std::future::ready(match current {
                        None => Op::Nop,
                        Some(entry) if entry.value().version != expected => {
                            outcome = Update::Conflict;
                            Op::Nop
                        }
                        Some(_) => {
                            outcome = Update::Written;
                            Op::Put(Arc::new(connection.clone()))
                        }
                    })
                })
                .await;
            Ok(outcome)
        })
    }

    fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // Serial with `update` (see `auth::remove_serially`): a disconnect is final.
            crate::auth::remove_serially(&self.0, id.as_str()).await;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store where every compare-and-set loses to another writer.
    struct AlwaysChanged(MemoryConnections);

    impl ConnectionStore for AlwaysChanged {
        fn get<'a>(
            &'a self,
            id: &'a ConnectionId,
        ) -> BoxFuture<'a, Result<Option<MemoramConnection>, StoreError>> {
            self.0.get(id)
        }

        fn insert<'a>(
            &'a self,
            id: &'a ConnectionId,
            connection: &'a MemoramConnection,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.insert(id, connection)
        }

        fn update<'a>(
            &'a self,
            _: &'a ConnectionId,
            _: u64,
            _: &'a MemoramConnection,
        ) -> BoxFuture<'a, Result<Update, StoreError>> {
            Box::pin(async { Ok(Update::Conflict) })
        }

        fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>> {
            self.0.remove(id)
        }
    }

    #[tokio::test]
    async fn three_lost_rounds_are_contention_not_an_outage() {
        let connections = MemoramConnections::new(AlwaysChanged(MemoryConnections::new(
            10,
            Duration::from_secs(60),
        )));
        let id = connections
            .insert(&MemoramConnection::new(&SecretString::from("memory-key")))
            .await
            .expect("memory");
        let mut tries = 0;
        let error = connections
            .modify(&id, |_| {
                tries += 1;
                true
            })
            .await
            .err()
            .expect("it never wins");
        assert_eq!(tries, 3);
        assert!(error.is_contended(), "{error:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_removed_connection_never_returns_whatever_races_its_removal() {
        // A disconnect racing a compare-and-set write (credentials arriving, an access request
        // claimed), 20 000 times. The removal is final every time.
        let store = Arc::new(MemoryConnections::new(100_000, Duration::from_secs(60)));
        let connection = MemoramConnection::new(&SecretString::from("memory-key"));
        let mut written = connection.clone();
        written.version = connection.version + 1;
        let mut returned = 0;
        for _ in 0..20_000 {
            let id = ConnectionId::new_random();
            store.insert(&id, &connection).await.expect("memory");
            let update = tokio::spawn({
                let (store, id, written) = (store.clone(), id.clone(), written.clone());
                let expected = connection.version;
                async move { store.update(&id, expected, &written).await.expect("memory") }
            });
            let disconnect = tokio::spawn({
                let (store, id) = (store.clone(), id.clone());
                async move { store.remove(&id).await.expect("memory") }
            });
            let _ = update.await.expect("task");
            disconnect.await.expect("task");
            if store.get(&id).await.expect("memory").is_some() {
                returned += 1;
            }
        }
        assert_eq!(returned, 0, "removed connections that came back, of 20 000");
    }
}
