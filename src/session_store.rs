//! The default session store: in memory, bounded and expiring.
//!
//! actix-session keeps the session *state* server-side in a `SessionStore` and puts only an opaque,
//! random session key in the (signed and encrypted) cookie. It ships cookie and Redis stores; this
//! is the in-memory one, built on `moka` so that it is bounded (least-recently-used sessions are
//! evicted beyond `max_sessions`) and every entry expires after the TTL actix-session asks for.
//! One process only: sessions are lost on restart and not shared between instances.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use moka::future::Cache;
use rand::distributions::{Alphanumeric, DistString};

type SessionState = HashMap<String, String>;

struct Entry {
    state: SessionState,
    ttl: Duration,
}

/// Lets each entry expire after the TTL it was stored with.
struct PerEntryTtl;

impl moka::Expiry<String, Arc<Entry>> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Arc<Entry>, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.ttl)
    }
}

#[derive(Clone)]
pub struct MemorySessionStore {
    sessions: Cache<String, Arc<Entry>>,
}

impl MemorySessionStore {
    pub fn new(max_sessions: u64) -> Self {
        Self {
            sessions: Cache::builder()
                .max_capacity(max_sessions)
                .expire_after(PerEntryTtl)
                .build(),
        }
    }

    /// Number of live sessions (approximate: moka applies evictions lazily).
    pub fn len(&self) -> u64 {
        self.sessions.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// 64 alphanumeric characters from the thread-local CSPRNG: about 381 bits, the same shape as
/// actix-session's own stores use.
fn new_session_key() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 64)
}

fn to_std(ttl: &CookieDuration) -> Duration {
    Duration::try_from(*ttl).unwrap_or(Duration::ZERO)
}

impl SessionStore for MemorySessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        Ok(self
            .sessions
            .get(session_key.as_ref())
            .await
            .map(|entry| entry.state.clone()))
    }

    async fn save(
        &self,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        let key = new_session_key();
        let entry = Arc::new(Entry {
            state,
            ttl: to_std(ttl),
        });
        self.sessions.insert(key.clone(), entry).await;
        SessionKey::try_from(key).map_err(|e| SaveError::Other(e.into()))
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        let entry = Arc::new(Entry {
            state,
            ttl: to_std(ttl),
        });
        self.sessions
            .insert(session_key.as_ref().to_owned(), entry)
            .await;
        Ok(session_key)
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> anyhow::Result<()> {
        if let Some(entry) = self.sessions.get(session_key.as_ref()).await {
            let renewed = Arc::new(Entry {
                state: entry.state.clone(),
                ttl: to_std(ttl),
            });
            self.sessions
                .insert(session_key.as_ref().to_owned(), renewed)
                .await;
        }
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.sessions.invalidate(session_key.as_ref()).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> SessionState {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[tokio::test]
    async fn saved_state_loads_back_under_a_fresh_random_key() {
        let store = MemorySessionStore::new(10);
        let ttl = CookieDuration::minutes(5);
        let a = store.save(state(&[("k", "v")]), &ttl).await.expect("save");
        let b = store.save(state(&[("k", "w")]), &ttl).await.expect("save");
        assert_ne!(a.as_ref(), b.as_ref());
        assert_eq!(a.as_ref().len(), 64);
        let loaded = store.load(&a).await.expect("load").expect("present");
        assert_eq!(loaded.get("k").map(String::as_str), Some("v"));
    }

    #[tokio::test]
    async fn deleted_and_expired_sessions_are_gone() {
        let store = MemorySessionStore::new(10);
        let key = store
            .save(state(&[("k", "v")]), &CookieDuration::minutes(5))
            .await
            .expect("save");
        store.delete(&key).await.expect("delete");
        assert!(store.load(&key).await.expect("load").is_none());

        let key = store
            .save(state(&[("k", "v")]), &CookieDuration::milliseconds(30))
            .await
            .expect("save");
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(store.load(&key).await.expect("load").is_none());
    }

    #[tokio::test]
    async fn an_unknown_key_loads_nothing() {
        let store = MemorySessionStore::new(10);
        let key = SessionKey::try_from("nope".to_owned()).expect("valid key");
        assert!(store.load(&key).await.expect("load").is_none());
    }
}
