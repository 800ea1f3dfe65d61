//! Redis (cargo feature `redis`): the stores that several instances of an app share, each
//! plugging into the trait of its in-memory twin in [`crate::auth`], so that a person connected
//! through one instance is served by every other, and stays connected across restarts.
//!
//! - [`Redis`]: the one connection, and the prefix of every key written. A `ConnectionManager` is
//!   one multiplexed connection that reconnects by itself when Redis comes back. Every command
//!   is bounded in time ([`COMMAND_TIMEOUT`]): when Redis is down or slow, a request fails within
//!   about a second instead of hanging.
//! - [`RedisSessionStore`]: actix-session's store, for connected browsers only (as the memory one).
//! - [`RedisTokens`]: the tokens, with a lock across instances around each refresh.
//! - [`RedisSpentStates`]: the states already spent, so a callback replayed on another instance is
//!   refused too.
//!
//! ```no_run
//! # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
//! use actix_oauth_client::auth::pending_flows::SpentStates;
//! use actix_oauth_client::auth::session_store::AnySessionStore;
//! use actix_oauth_client::auth::tokens::TokenStore;
//! use actix_oauth_client::redis_store::{Redis, RedisSessionStore, RedisSpentStates, RedisTokens};
//! use std::time::Duration;
//!
//! let redis = Redis::connect("redis://127.0.0.1:6379").await?.with_key_prefix("myapp:");
//! let sessions = AnySessionStore::new(RedisSessionStore::new(redis.clone()));
//! let week = Duration::from_secs(7 * 24 * 60 * 60);
//! let tokens = TokenStore::new(RedisTokens::new(redis.clone(), week, Duration::from_secs(10)));
//! let spent = SpentStates::new(RedisSpentStates(redis));
//! # Ok(()) }
//! ```

pub mod flows;
pub mod sessions;
pub mod tokens;

pub use flows::RedisSpentStates;
pub use sessions::RedisSessionStore;
pub use tokens::RedisTokens;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Longest wait for one Redis command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);
/// Every key written starts with this, unless [`Redis::with_key_prefix`] says otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "oauth:";

/// Redis failed, did not answer in time, or a value could not be encoded for it. It never holds
/// a secret (a URL's password is not in the messages of `redis`' errors).
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    /// No answer within [`COMMAND_TIMEOUT`].
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or the connection failed.
    #[error("redis failed")]
    Redis(#[from] redis::RedisError),
    /// A value could not be encoded as JSON.
    #[error("could not encode a value for redis")]
    Encoding(#[source] serde_json::Error),
}

impl From<RedisError> for crate::auth::StoreError {
    fn from(error: RedisError) -> Self {
        crate::auth::StoreError::new(error)
    }
}

/// The connection to Redis every store shares, and the prefix of their keys. Cheap to clone:
/// clones share the connection.
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    prefix: Arc<str>,
}

impl Redis {
    /// Connects to `url` (`redis://[:password@]host[:port][/db]`), within [`COMMAND_TIMEOUT`].
    /// Keys start with [`DEFAULT_KEY_PREFIX`].
    pub async fn connect(url: &str) -> Result<Self, RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(COMMAND_TIMEOUT)
            .set_response_timeout(COMMAND_TIMEOUT)
            .set_number_of_retries(1)
            .set_max_delay(500);
        let connection = bounded(ConnectionManager::new_with_config(client, config)).await??;
        Ok(Self {
            connection,
            prefix: Arc::from(DEFAULT_KEY_PREFIX),
        })
    }

    /// The same connection, its stores' keys starting with `prefix` instead (e.g. your app's
    /// name and a colon), so that apps sharing one Redis never meet. Changing it for a deployed
    /// app forgets every session and connection.
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// The prefix of every key the stores write.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// `rest` under this connection's prefix.
    pub fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.prefix)
    }

    /// Runs a command with the time bound.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisError> {
        let mut connection = self.connection.clone();
        Ok(bounded(command.query_async(&mut connection)).await??)
    }

    /// Runs a Lua script with the time bound.
    pub async fn script<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[&str],
        args: &[&str],
    ) -> Result<T, RedisError> {
        let mut connection = self.connection.clone();
        let mut invocation = script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        Ok(bounded(invocation.invoke_async(&mut connection)).await??)
    }

    /// `PING`: whether Redis answers (for a readiness check).
    pub async fn ping(&self) -> Result<(), RedisError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

async fn bounded<F: Future>(future: F) -> Result<F::Output, RedisError> {
    tokio::time::timeout(COMMAND_TIMEOUT, future)
        .await
        .map_err(|_| RedisError::Timeout(COMMAND_TIMEOUT))
}
