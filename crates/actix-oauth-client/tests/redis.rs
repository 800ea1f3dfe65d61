//! The Redis stores (`cargo test -p actix-oauth-client --features redis`), each against a real
//! `redis-server` the test starts: the same contracts as the memory stores, every key under the
//! prefix and expiring, and shared by two handles as two instances of an app share them.
#![cfg(feature = "redis")]

#[path = "support/redis_server.rs"]
mod redis_server;

use std::collections::HashMap;
use std::time::Duration;

use actix_oauth_client::auth::pending_flows::ClaimStates;
use actix_oauth_client::auth::session_store::AnySessionStore;
use actix_oauth_client::auth::tokens::{TokenBackend, TokenSet};
use actix_oauth_client::auth::ConnectionId;
use actix_oauth_client::redis_store::tokens::lock_ttl;
use actix_oauth_client::redis_store::{
    Redis, RedisSessionStore, RedisSpentStates, RedisTokens, DEFAULT_KEY_PREFIX,
};
use actix_session::storage::{SessionKey, SessionStore};
use actix_web::cookie::time::Duration as CookieDuration;
use redis_server::RedisServer;
use secrecy::SecretString;

/// Every key in Redis, with its TTL in seconds.
async fn keys(redis: &Redis) -> Vec<(String, i64)> {
    let names: Vec<String> = redis
        .query(redis::cmd("KEYS").arg("*"))
        .await
        .expect("KEYS");
    let mut keys = Vec::new();
    for name in names {
        let ttl: i64 = redis
            .query(redis::cmd("TTL").arg(&name))
            .await
            .expect("TTL");
        keys.push((name, ttl));
    }
    keys.sort();
    keys
}

fn connected(id: &str) -> HashMap<String, String> {
    HashMap::from([("rememberizer.connection_id".to_owned(), format!("\"{id}\""))])
}

fn tokens(access: &str) -> TokenSet {
    TokenSet::new(
        SecretString::from(access.to_owned()),
        Some(SecretString::from(format!("{access}-refresh"))),
        Some(Duration::from_secs(3600)),
    )
}

#[tokio::test]
async fn keys_start_with_the_default_prefix_or_the_one_given() {
    let server = RedisServer::start();
    let redis = Redis::connect(&server.url()).await.expect("redis");
    assert_eq!(redis.key_prefix(), DEFAULT_KEY_PREFIX);
    assert_eq!(DEFAULT_KEY_PREFIX, "oauth:");
    assert!(RedisSpentStates(redis.clone())
        .claim("d1")
        .await
        .expect("claim"));
    let app = redis.clone().with_key_prefix("ttm:");
    assert_eq!(app.key("conn:x"), "ttm:conn:x");
    assert!(RedisSpentStates(app).claim("d1").await.expect("claim"));
    let names: Vec<String> = keys(&redis).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["oauth:state:d1", "ttm:state:d1"]);
}

#[tokio::test]
async fn sessions_hold_connected_browsers_only_and_a_logout_is_final() {
    let server = RedisServer::start();
    let redis = Redis::connect(&server.url()).await.expect("redis");
    // Two instances: two connections, one Redis.
    let a = AnySessionStore::new(RedisSessionStore::new(redis.clone()));
    let b = AnySessionStore::new(RedisSessionStore::new(
        Redis::connect(&server.url()).await.expect("redis"),
    ));
    let ttl = CookieDuration::days(7);

    // An anonymous state writes nothing.
    a.save(HashMap::from([("csrf".to_owned(), "x".to_owned())]), &ttl)
        .await
        .expect("save");
    assert!(keys(&redis).await.is_empty());

    let key = a.save(connected("c1"), &ttl).await.expect("save");
    assert_eq!(key.as_ref().len(), 64);
    let loaded = b.load(&key).await.expect("load").expect("seen by B");
    assert_eq!(loaded, connected("c1"));
    let stored = keys(&redis).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, format!("oauth:session:{}", key.as_ref()));
    assert!(stored[0].1 > 6 * 86_400, "{stored:?}");

    let key = b.update(key, connected("c2"), &ttl).await.expect("update");
    assert_eq!(a.load(&key).await.expect("load"), Some(connected("c2")));

    // Logged out on A: B's late write does not bring the session back.
    a.delete(&key).await.expect("delete");
    let answered = b
        .update(
            SessionKey::try_from(key.as_ref().to_owned()).expect("key"),
            connected("c3"),
            &ttl,
        )
        .await
        .expect("update");
    assert_ne!(answered.as_ref(), key.as_ref());
    assert!(keys(&redis).await.is_empty(), "nothing written back");
    assert!(a.load(&key).await.expect("load").is_none());
}

#[tokio::test]
async fn tokens_are_shared_expire_and_are_not_brought_back_after_removal() {
    let server = RedisServer::start();
    let redis = Redis::connect(&server.url())
        .await
        .expect("redis")
        .with_key_prefix("app:");
    let idle = Duration::from_secs(3600);
    let a = RedisTokens::new(redis.clone(), idle, Duration::from_secs(10));
    let b = RedisTokens::new(redis.clone(), idle, Duration::from_secs(10));
    let id = ConnectionId::new_random();
    a.insert(&id, &tokens("at1")).await.expect("insert");
    let seen = b.get(&id).await.expect("get").expect("seen by B");
    assert_eq!(seen.access_token().expose_secret(), "at1");
    let stored = keys(&redis).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, format!("app:conn:{}", id.as_str()));
    assert!((3590..=3600).contains(&stored[0].1), "{stored:?}");

    assert!(b.replace(&id, &tokens("at2")).await.expect("replace"));
    let seen = a.get(&id).await.expect("get").expect("there");
    assert_eq!(seen.access_token().expose_secret(), "at2");

    a.remove(&id).await.expect("remove");
    assert!(
        !b.replace(&id, &tokens("at3")).await.expect("replace"),
        "a refresh ending after a log out writes nothing"
    );
    assert!(b.get(&id).await.expect("get").is_none());
    assert!(keys(&redis).await.is_empty());
}

#[tokio::test]
async fn the_refresh_lock_is_held_by_one_instance_at_a_time() {
    let server = RedisServer::start();
    let redis = Redis::connect(&server.url()).await.expect("redis");
    let refresh_timeout = Duration::from_secs(3);
    let a = RedisTokens::new(redis.clone(), Duration::from_secs(60), refresh_timeout);
    let b = RedisTokens::new(redis.clone(), Duration::from_secs(60), refresh_timeout);
    let id = ConnectionId::new_random();

    let held = a.lock(&id).await.expect("lock").expect("a Redis lock");
    let lock_key = format!("oauth:conn:{}:lock", id.as_str());
    let stored = keys(&redis).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, lock_key);
    // It lives as long as its slowest holder may: here 1 + 3 + 4 + 1.75 + 2 s.
    assert_eq!(lock_ttl(refresh_timeout), Duration::from_millis(11_750));
    assert!((10..=12).contains(&stored[0].1), "{stored:?}");

    // B waits while A holds it, and gets it once A releases it.
    let waiting = tokio::spawn(async move {
        let lock = b.lock(&id).await.expect("lock").expect("a Redis lock");
        lock.release().await;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "B waits for A's lock");
    held.release().await;
    tokio::time::timeout(Duration::from_secs(2), waiting)
        .await
        .expect("B got the lock")
        .expect("task");
    assert!(keys(&redis).await.is_empty(), "released");
}

#[tokio::test]
async fn a_state_is_spent_once_across_instances_and_forgotten_after_ten_minutes() {
    let server = RedisServer::start();
    let a = RedisSpentStates(Redis::connect(&server.url()).await.expect("redis"));
    let b = RedisSpentStates(Redis::connect(&server.url()).await.expect("redis"));
    assert!(a.claim("digest").await.expect("claim"));
    assert!(!b.claim("digest").await.expect("claim"), "replayed on B");
    assert!(!a.claim("digest").await.expect("claim"), "replayed on A");
    assert!(b.claim("other").await.expect("claim"));
    for (key, ttl) in keys(&a.0).await {
        assert!(key.starts_with("oauth:state:"), "{key}");
        assert!((590..=600).contains(&ttl), "{key}: {ttl}");
    }
}

#[tokio::test]
async fn redis_gone_is_a_quick_error_not_a_hang() {
    let server = RedisServer::start();
    let redis = Redis::connect(&server.url()).await.expect("redis");
    redis.ping().await.expect("PING");
    drop(server);
    let started = std::time::Instant::now();
    assert!(redis.ping().await.is_err());
    let store = RedisSessionStore::new(redis);
    assert!(store
        .save(connected("c"), &CookieDuration::minutes(1))
        .await
        .is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Nobody listens on a closed port: connecting fails within the command timeout too.
    assert!(Redis::connect("redis://127.0.0.1:1").await.is_err());
}
