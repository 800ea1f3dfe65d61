//! Redis (`SESSION_STORE=redis://…`): the stores that several instances share, each plugging
//! into the trait or type of its in-memory twin in `auth` and `memoram`. Nothing else in the app
//! needs this module: an integration that runs one instance can leave it out.
//!
//! - [`Redis`]: the one connection. A `ConnectionManager` is one multiplexed connection that
//!   reconnects by itself when Redis comes back. Every command is bounded in time: when Redis is
//!   down or slow, pages answer a 503 within about a second instead of hanging.
//! - `sessions`: actix-session's store, and the app's choice between it and the memory one.
//! - `tokens`: Rememberizer's tokens, with a lock across instances around each refresh.
//! - `flows`: the states already spent.
//! - `memoram`: Memoram's connections and the developer token shared by the instances.

pub mod flows;
pub mod memoram;
pub mod sessions;
pub mod tokens;

use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Longest wait for one Redis command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(1000);
/// Every key the app writes starts with this.
pub const KEY_PREFIX: &str = "ttm:";

#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("redis failed")]
    Redis(#[from] redis::RedisError),
    #[error("could not encode a value for redis")]
    Encoding(#[source] serde_json::Error),
}

impl From<RedisError> for crate::auth::StoreError {
    fn from(error: RedisError) -> Self {
        crate::auth::StoreError::new(error)
    }
}

#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
}

impl Redis {
    pub async fn connect(url: &url::Url) -> Result<Self, RedisError> {
        let client = redis::Client::open(url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(COMMAND_TIMEOUT)
            .set_response_timeout(COMMAND_TIMEOUT)
            .set_number_of_retries(1)
            .set_max_delay(500);
        let connection = bounded(ConnectionManager::new_with_config(client, config)).await??;
        Ok(Self { connection })
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

    pub async fn ping(&self) -> Result<(), RedisError> {
        self.query::<String>(&redis::cmd("PING")).await.map(|_| ())
    }
}

async fn bounded<F: Future>(future: F) -> Result<F::Output, RedisError> {
    tokio::time::timeout(COMMAND_TIMEOUT, future)
        .await
        .map_err(|_| RedisError::Timeout(COMMAND_TIMEOUT))
}
