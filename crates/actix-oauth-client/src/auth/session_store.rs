//! The session store in this process's memory.
//!
//! actix-session keeps the session *state* server-side in a `SessionStore` and puts only an opaque,
//! random session key in the (signed and encrypted) cookie.
//!
//! [`MemorySessionStore`] is built on `moka`, so it is bounded (least-recently-used sessions are
//! evicted beyond `max_sessions`) and every entry expires after the TTL actix-session asks for.
//! It holds connected browsers only ([`is_connected_state`]): a state that holds no connection
//! is never written, so anonymous traffic, however much of it, can neither fill the store nor
//! evict a connected browser. It updates only a session that still exists: a request that
//! loaded a session before a concurrent logout cannot bring it back when it ends. One process
//! only: sessions are lost on restart and not shared between instances (the Redis store of the
//! `redis` feature, `redis_store::RedisSessionStore`, is). [`AnySessionStore`] holds either (or
//! yours) behind one type.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::cookie::time::Duration as CookieDuration;
use futures_util::future::LocalBoxFuture;
use moka::future::Cache;
use rand::distributions::{Alphanumeric, DistString};

use crate::auth::session::is_connected_state;

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

/// actix-session's [`SessionStore`] in this process's memory, for connected browsers only (see
/// the module doc). Cheap to clone: clones share the sessions.
#[derive(Clone)]
pub struct MemorySessionStore {
    sessions: Cache<String, Arc<Entry>>,
}

impl MemorySessionStore {
    /// A store of at most `max_sessions` sessions, the least recently used evicted first.
    pub fn new(max_sessions: u64) -> Self {
        Self {
            sessions: Cache::builder()
                .max_capacity(max_sessions)
                // LRU, not moka's default TinyLFU: a new session (a new login) is always admitted,
                // and the least recently used one makes room.
                .eviction_policy(moka::policy::EvictionPolicy::lru())
                .expire_after(PerEntryTtl)
                .build(),
        }
    }

    /// Number of live sessions (approximate: moka applies evictions lazily).
    pub fn len(&self) -> u64 {
        self.sessions.entry_count()
    }

    /// Whether no session is live (approximate, as [`MemorySessionStore::len`] is).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// 64 alphanumeric characters from the thread-local CSPRNG: about 381 bits, the same shape as
/// actix-session's own stores use.
pub fn new_session_key() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), 64)
}

/// What `update` answers for a session that no longer exists: logged out in another tab, or
/// renewed by a login in another tab (a new session id, against fixation), or expired. Nothing
/// is written, and the answer must not change the browser's cookie (`GoneSessions`): after a
/// login in another tab, the browser already holds the new session's cookie, and a late answer
/// of this request would otherwise replace it (both connections would look lost). actix-session
/// sets the cookie to the key returned here, so the request is marked and the cookie is taken
/// off its answer; the key itself is a fresh one under which nothing is stored.
pub fn gone() -> Result<SessionKey, UpdateError> {
    unwritten_key().map_err(UpdateError::Other)
}

/// What `save` answers for a state that holds no connection: nothing is stored, and the request
/// is marked so that no session cookie is set (see [`gone`]). The store holds connected
/// browsers only.
pub fn not_connected() -> Result<SessionKey, SaveError> {
    unwritten_key().map_err(SaveError::Other)
}

fn unwritten_key() -> anyhow::Result<SessionKey> {
    GoneSessions::mark();
    Ok(SessionKey::try_from(new_session_key())?)
}

/// Marks requests whose session changes were not written: the session was gone, or it held no
/// connection (see [`gone`], [`not_connected`]); their answer leaves the session cookie alone.
pub struct GoneSessions;

tokio::task_local! {
    static GONE: std::cell::Cell<bool>;
}

impl GoneSessions {
    /// Runs a request's handling (its session middleware included) and says whether its
    /// session was found gone at the end.
    pub async fn track<F: std::future::Future>(handling: F) -> (F::Output, bool) {
        GONE.scope(std::cell::Cell::new(false), async {
            let output = handling.await;
            (output, GONE.with(std::cell::Cell::get))
        })
        .await
    }

    fn mark() {
        let _ = GONE.try_with(|gone| gone.set(true));
    }
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
        if !is_connected_state(&state) {
            return not_connected();
        }
        let key = new_session_key();
        let entry = Arc::new(Entry {
            ttl: to_std(ttl),
            state,
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
        if !is_connected_state(&state) {
            // A session from before the connected-only rule: dropped, not written.
            crate::auth::remove_serially(&self.sessions, session_key.as_ref()).await;
            return gone();
        }
        let entry = Arc::new(Entry {
            ttl: to_std(ttl),
            state,
        });
        // Update only a session that still exists, atomically: a request that loaded the
        // session before a concurrent logout must not write it back (logout is final).
        let result = self
            .sessions
            .entry(session_key.as_ref().to_owned())
            .and_compute_with(|current| {
                std::future::ready(match current {
                    Some(_) => moka::ops::compute::Op::Put(entry),
                    None => moka::ops::compute::Op::Nop,
                })
            })
            .await;
        match result {
            moka::ops::compute::CompResult::ReplacedWith(_) => Ok(session_key),
            _ => gone(),
        }
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> anyhow::Result<()> {
        // Only a session that still exists, atomically (see `update`).
        let ttl = to_std(ttl);
        self.sessions
            .entry(session_key.as_ref().to_owned())
            .and_compute_with(|current| {
                std::future::ready(match current {
                    Some(entry) => moka::ops::compute::Op::Put(Arc::new(Entry {
                        state: entry.into_value().state.clone(),
                        ttl,
                    })),
                    None => moka::ops::compute::Op::Nop,
                })
            })
            .await;
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        // Serial with `update` (see `auth::remove_serially`): a log out is final.
        crate::auth::remove_serially(&self.sessions, session_key.as_ref()).await;
        Ok(())
    }
}

/// Any actix-session [`SessionStore`] behind one type, so that a middleware built once
/// ([`crate::auth::session_cookie::session_middleware`]) runs on the memory store, Redis's
/// (feature `redis`), or yours, chosen at start-up. Cheap to clone: clones share the store.
#[derive(Clone)]
pub struct AnySessionStore(Arc<dyn ErasedSessionStore>);

impl AnySessionStore {
    /// `store` behind this type.
    pub fn new(store: impl SessionStore + Send + Sync + 'static) -> Self {
        Self(Arc::new(store))
    }

    /// A [`MemorySessionStore`] of at most `max_sessions` sessions.
    pub fn memory(max_sessions: u64) -> Self {
        Self::new(MemorySessionStore::new(max_sessions))
    }
}

/// [`SessionStore`] with its futures boxed, so that it can be a trait object.
trait ErasedSessionStore: Send + Sync {
    fn dyn_load<'a>(
        &'a self,
        session_key: &'a SessionKey,
    ) -> LocalBoxFuture<'a, Result<Option<SessionState>, LoadError>>;

    fn dyn_save<'a>(
        &'a self,
        state: SessionState,
        ttl: &'a CookieDuration,
    ) -> LocalBoxFuture<'a, Result<SessionKey, SaveError>>;

    fn dyn_update<'a>(
        &'a self,
        session_key: SessionKey,
        state: SessionState,
        ttl: &'a CookieDuration,
    ) -> LocalBoxFuture<'a, Result<SessionKey, UpdateError>>;

    fn dyn_update_ttl<'a>(
        &'a self,
        session_key: &'a SessionKey,
        ttl: &'a CookieDuration,
    ) -> LocalBoxFuture<'a, anyhow::Result<()>>;

    fn dyn_delete<'a>(
        &'a self,
        session_key: &'a SessionKey,
    ) -> LocalBoxFuture<'a, anyhow::Result<()>>;
}

impl<S: SessionStore + Send + Sync + 'static> ErasedSessionStore for S {
    fn dyn_load<'a>(
        &'a self,
        session_key: &'a SessionKey,
    ) -> LocalBoxFuture<'a, Result<Option<SessionState>, LoadError>> {
        Box::pin(SessionStore::load(self, session_key))
    }

    fn dyn_save<'a>(
        &'a self,
        state: SessionState,
        ttl: &'a CookieDuration,
    ) -> LocalBoxFuture<'a, Result<SessionKey, SaveError>> {
        Box::pin(SessionStore::save(self, state, ttl))
    }

    fn dyn_update<'a>(
        &'a self,
        session_key: SessionKey,
        state: SessionState,
        ttl: &'a CookieDuration,
    ) -> LocalBoxFuture<'a, Result<SessionKey, UpdateError>> {
        Box::pin(SessionStore::update(self, session_key, state, ttl))
    }

    fn dyn_update_ttl<'a>(
        &'a self,
        session_key: &'a SessionKey,
        ttl: &'a CookieDuration,
    ) -> LocalBoxFuture<'a, anyhow::Result<()>> {
        Box::pin(SessionStore::update_ttl(self, session_key, ttl))
    }

    fn dyn_delete<'a>(
        &'a self,
        session_key: &'a SessionKey,
    ) -> LocalBoxFuture<'a, anyhow::Result<()>> {
        Box::pin(SessionStore::delete(self, session_key))
    }
}

impl SessionStore for AnySessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        self.0.dyn_load(session_key).await
    }

    async fn save(
        &self,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, SaveError> {
        self.0.dyn_save(state, ttl).await
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: SessionState,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        self.0.dyn_update(session_key, state, ttl).await
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> anyhow::Result<()> {
        self.0.dyn_update_ttl(session_key, ttl).await
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.0.dyn_delete(session_key).await
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
        let a = store
            .save(state(&[("connection_id", "v")]), &ttl)
            .await
            .expect("save");
        let b = store
            .save(state(&[("connection_id", "w")]), &ttl)
            .await
            .expect("save");
        assert_ne!(a.as_ref(), b.as_ref());
        assert_eq!(a.as_ref().len(), 64);
        let loaded = store.load(&a).await.expect("load").expect("present");
        assert_eq!(loaded.get("connection_id").map(String::as_str), Some("v"));
    }

    #[tokio::test]
    async fn deleted_and_expired_sessions_are_gone() {
        let store = MemorySessionStore::new(10);
        let key = store
            .save(
                state(&[("connection_id", "v")]),
                &CookieDuration::minutes(5),
            )
            .await
            .expect("save");
        store.delete(&key).await.expect("delete");
        assert!(store.load(&key).await.expect("load").is_none());

        let key = store
            .save(
                state(&[("connection_id", "v")]),
                &CookieDuration::milliseconds(30),
            )
            .await
            .expect("save");
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(store.load(&key).await.expect("load").is_none());
    }

    #[tokio::test]
    async fn an_update_never_brings_a_deleted_session_back() {
        let store = MemorySessionStore::new(10);
        let ttl = CookieDuration::minutes(5);
        let key = store
            .save(state(&[("connection_id", "v")]), &ttl)
            .await
            .expect("save");
        let same = SessionKey::try_from(key.as_ref().to_owned()).expect("key");
        let updated = store
            .update(same, state(&[("connection_id", "w")]), &ttl)
            .await
            .expect("update");
        assert_eq!(
            updated.as_ref(),
            key.as_ref(),
            "a live session is updated in place"
        );
        store.delete(&key).await.expect("delete");
        let same = SessionKey::try_from(key.as_ref().to_owned()).expect("key");
        let after = store
            .update(same, state(&[("connection_id", "late")]), &ttl)
            .await
            .expect("update");
        assert_ne!(after.as_ref(), key.as_ref());
        assert!(
            store.load(&key).await.expect("load").is_none(),
            "still gone"
        );
        assert!(
            store.load(&after).await.expect("load").is_none(),
            "nothing saved"
        );
    }

    #[tokio::test]
    async fn an_update_of_a_gone_session_marks_its_request() {
        let store = MemorySessionStore::new(10);
        let ttl = CookieDuration::minutes(5);
        let key = store
            .save(state(&[("connection_id", "v")]), &ttl)
            .await
            .expect("save");
        let same = SessionKey::try_from(key.as_ref().to_owned()).expect("key");
        let (_, gone) =
            GoneSessions::track(store.update(same, state(&[("connection_id", "w")]), &ttl)).await;
        assert!(!gone, "a live session");
        store.delete(&key).await.expect("delete");
        let same = SessionKey::try_from(key.as_ref().to_owned()).expect("key");
        let (_, gone) =
            GoneSessions::track(store.update(same, state(&[("connection_id", "x")]), &ttl)).await;
        assert!(gone);
    }

    #[tokio::test]
    async fn a_flood_of_sessions_that_are_not_connected_never_displaces_a_connected_one() {
        // An LRU of 100: before, each anonymous form post saved a session (a CSRF token), and
        // enough of them evicted the least recently used connected browser.
        let store = MemorySessionStore::new(100);
        let ttl = CookieDuration::days(7);
        let connected = store
            .save(state(&[("connection_id", "c1")]), &ttl)
            .await
            .expect("save");
        for _ in 0..1_000 {
            let (_, unwritten) =
                GoneSessions::track(store.save(state(&[("csrf_token", "t")]), &ttl)).await;
            assert!(unwritten, "the cookie is taken off the answer");
            store.sessions.run_pending_tasks().await;
        }
        assert_eq!(store.len(), 1, "only the connected session is stored");
        assert!(store.load(&connected).await.expect("load").is_some());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deleted_session_never_returns_whatever_races_its_deletion() {
        // A log out racing the end of another request that changed the session, 20 000 times.
        let store = std::sync::Arc::new(MemorySessionStore::new(100_000));
        let ttl = CookieDuration::days(7);
        let mut returned = 0;
        for _ in 0..20_000 {
            let key = store
                .save(state(&[("connection_id", "c")]), &ttl)
                .await
                .expect("save");
            let update = tokio::spawn({
                let (store, key) = (store.clone(), key.as_ref().to_owned());
                async move {
                    let key = SessionKey::try_from(key).expect("key");
                    let _ = store
                        .update(key, state(&[("connection_id", "c"), ("flash", "hi")]), &ttl)
                        .await;
                }
            });
            let log_out = tokio::spawn({
                let (store, key) = (store.clone(), key.as_ref().to_owned());
                async move {
                    let key = SessionKey::try_from(key).expect("key");
                    store.delete(&key).await.expect("delete");
                }
            });
            update.await.expect("task");
            log_out.await.expect("task");
            if store.load(&key).await.expect("load").is_some() {
                returned += 1;
            }
        }
        assert_eq!(returned, 0, "deleted sessions that came back, of 20 000");
    }

    #[tokio::test]
    async fn an_unknown_key_loads_nothing() {
        let store = MemorySessionStore::new(10);
        let key = SessionKey::try_from("nope".to_owned()).expect("valid key");
        assert!(store.load(&key).await.expect("load").is_none());
    }

    #[tokio::test]
    async fn any_session_store_is_the_store_behind_it() {
        let memory = MemorySessionStore::new(10);
        let store = AnySessionStore::new(memory.clone());
        let ttl = CookieDuration::minutes(5);
        let key = store
            .save(state(&[("connection_id", "v")]), &ttl)
            .await
            .expect("save");
        assert_eq!(
            memory.load(&key).await.expect("load"),
            Some(state(&[("connection_id", "v")])),
            "written to the store behind it"
        );
        store.delete(&key).await.expect("delete");
        assert!(memory.load(&key).await.expect("load").is_none());
        let gone = store
            .update(
                SessionKey::try_from(key.as_ref().to_owned()).expect("key"),
                state(&[("connection_id", "w")]),
                &ttl,
            )
            .await
            .expect("update");
        assert_ne!(
            gone.as_ref(),
            key.as_ref(),
            "a logout is final through it too"
        );
        assert!(memory.is_empty());
    }
}
