//! The Memoram stores in Redis (`cargo test -p actix-memoram --features redis`), against a real
//! `redis-server` the test starts: connections change by compare-and-set as in memory, keys are
//! under the prefix and expire, and two instances share one developer token.
#![cfg(feature = "redis")]

#[path = "../../actix-oauth-client/tests/support/jar.rs"]
mod jar;
#[path = "../../actix-oauth-client/tests/support/redis_server.rs"]
mod redis_server;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_memoram::auth::{ConnectionId, StoreError};
use actix_memoram::memoram::cipher::ContentCipher;
use actix_memoram::memoram::connections::{
    ConnectionStore, MemoramConnection, MemoramConnections, MemoryConnections, Update,
};
use actix_memoram::memoram::developer_token::{SharedToken, StoredDeveloperToken};
use actix_memoram::redis_store::{Redis, RedisConnections, RedisSharedToken};
use actix_memoram::{Memoram, Settings};
use actix_web::{web, App, HttpResponse, HttpServer};
use futures_util::future::BoxFuture;
use jar::Jar;
use redis_server::RedisServer;
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use url::Url;

/// Every key in Redis, with its TTL in milliseconds.
async fn keys(redis: &Redis) -> Vec<(String, i64)> {
    let names: Vec<String> = redis
        .query(redis::cmd("KEYS").arg("*"))
        .await
        .expect("KEYS");
    let mut keys = Vec::new();
    for name in names {
        let ttl: i64 = redis
            .query(redis::cmd("PTTL").arg(&name))
            .await
            .expect("PTTL");
        keys.push((name, ttl));
    }
    keys.sort();
    keys
}

/// Memoram's token endpoint (counting the code exchanges; its answer carries the `memory_key`);
/// everything else answers 503, so the access request fails and the waiting page offers to ask
/// again.
fn provider(exchanges: Arc<AtomicUsize>) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url =
        Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
    let server = HttpServer::new(move || {
        let exchanges = exchanges.clone();
        App::new()
            .route(
                "/oauth/token",
                web::post().to(move || {
                    exchanges.fetch_add(1, Ordering::SeqCst);
                    async {
                        HttpResponse::Ok().json(serde_json::json!({
                            "access_token": "user-token",
                            "token_type": "Bearer",
                            "memory_key": "mk_user",
                        }))
                    }
                }),
            )
            .default_service(web::to(HttpResponse::ServiceUnavailable))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    url
}

/// The settings every instance shares.
fn settings(provider: &Url) -> Settings {
    Settings {
        client_id: "client".to_owned(),
        client_secret: "secret".to_owned(),
        api_key: "mk_api_key".to_owned(),
        base_url: provider.join("api/v1").expect("url"),
        authorize_url: provider.join("oauth/authorize").expect("url"),
        token_url: provider.join("oauth/token").expect("url"),
        dashboard_url: provider.join("dashboard").expect("url"),
        reason: "tests".to_owned(),
        scopes: Vec::new(),
        cipher: ContentCipher::Aes256Gcm,
        app_base_url: Url::parse("http://app.example").expect("url"),
        // Every instance signs and encrypts the cookies with the same key.
        session_key: Some(vec![7; 64]),
        after_connect: "/memories".to_owned(),
        session_cookie: "session".to_owned(),
        flow_cookie_prefix: "oauth_flow_".to_owned(),
        user_agent: "test".to_owned(),
    }
}

/// One instance of the app: the crate's routes, its stores in `redis`.
fn instance(provider: &Url, redis: &Redis) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url =
        Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
    let memoram = Memoram::with_redis(settings(provider), redis.clone()).expect("built");
    let server = HttpServer::new(move || {
        App::new()
            .wrap(memoram.session())
            .configure(|config| memoram.configure(config))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_one_redis_keep_a_connected_person() {
    let redis_server = RedisServer::start();
    let redis = Redis::connect(&redis_server.url()).await.expect("redis");
    let exchanges = Arc::new(AtomicUsize::new(0));
    let provider = provider(exchanges.clone());
    let (a, b) = (instance(&provider, &redis), instance(&provider, &redis));
    let mut browser = Jar::default();

    // The authorization starts on A; Memoram sends the browser back to B's callback.
    let started = browser.get(a.join("auth/memoram").expect("url")).await;
    assert_eq!(started.status(), StatusCode::FOUND);
    let authorize = Url::parse(started.headers()[LOCATION].to_str().expect("ascii")).expect("url");
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let mut callback = b.join("auth/memoram/callback").expect("url");
    callback
        .query_pairs_mut()
        .append_pair("code", "the-code")
        .append_pair("state", &state);
    let flow_cookies = browser.clone();
    let finished = browser.get(callback.clone()).await;
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert_eq!(finished.headers()[LOCATION], "/memoram/access");

    // A knows the connection B made: its waiting page, not "not connected".
    let page = browser.get(a.join("memoram/access").expect("url")).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("body").contains("Ask again"));
    let keys: Vec<String> = redis
        .query(redis::cmd("KEYS").arg("oauth:*"))
        .await
        .expect("KEYS");
    assert!(
        keys.iter().any(|k| k.starts_with("oauth:memoram:conn:")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|k| k.starts_with("oauth:session:")),
        "{keys:?}"
    );

    // The callback replayed on A with the old flow cookie: its state was spent on B.
    let mut replayer = flow_cookies;
    let replayed = replayer
        .get(a.join(&callback[url::Position::BeforePath..]).expect("url"))
        .await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(exchanges.load(Ordering::SeqCst), 1, "one code exchange");

    // A browser that never connected is not connected anywhere.
    let page = Jar::default()
        .get(b.join("memoram/access").expect("url"))
        .await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn connections_are_under_the_prefix_and_each_read_restarts_their_expiry() {
    let server = RedisServer::start();
    let redis = Redis::connect(&server.url())
        .await
        .expect("redis")
        .with_key_prefix("app:");
    let a = MemoramConnections::new(RedisConnections::new(
        redis.clone(),
        Duration::from_secs(60),
    ));
    let b = MemoramConnections::new(RedisConnections::new(
        Redis::connect(&server.url())
            .await
            .expect("redis")
            .with_key_prefix("app:"),
        Duration::from_secs(60),
    ));
    let key = secrecy::SecretString::from("mk_user");
    let id = a
        .insert(&MemoramConnection::new(&key))
        .await
        .expect("insert");
    let stored = keys(&redis).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, format!("app:memoram:conn:{}", id.as_str()));
    let _: bool = redis
        .query(redis::cmd("PEXPIRE").arg(&stored[0].0).arg(5_000))
        .await
        .expect("PEXPIRE");
    // Read through the other instance: found, and its expiry starts again.
    assert!(b.get(&id).await.expect("get").is_some(), "seen by B");
    assert!(keys(&redis).await[0].1 > 55_000);
    b.remove(&id).await.expect("remove");
    assert!(a.get(&id).await.expect("get").is_none());
    assert!(keys(&redis).await.is_empty());
}

#[tokio::test]
async fn two_instances_share_one_developer_token_per_deployment() {
    let server = RedisServer::start();
    let redis = Redis::connect(&server.url()).await.expect("redis");
    let production = url::Url::parse("https://api.memoram.app/api/v1").expect("url");
    let staging = url::Url::parse("https://staging.memoram.app/api/v1").expect("url");
    let a = RedisSharedToken::new(redis.clone(), &production, "mk_live_secret");
    let b = RedisSharedToken::new(
        Redis::connect(&server.url()).await.expect("redis"),
        &production,
        "mk_live_secret",
    );
    let other = RedisSharedToken::new(redis.clone(), &staging, "mk_live_secret");
    assert!(b.get().await.expect("get").is_none());
    let token: StoredDeveloperToken = serde_json::from_value(serde_json::json!({
        "token": "dev-token-1", "renew_at_ms": 1, "expires_at_ms": 2
    }))
    .expect("a stored token");
    a.put(&token, Duration::from_secs(30)).await.expect("put");
    assert!(b.get().await.expect("get").is_some(), "B reads A's token");
    assert!(
        other.get().await.expect("get").is_none(),
        "not another deployment's"
    );
    let stored = keys(&redis).await;
    assert_eq!(stored.len(), 1);
    assert!(
        stored[0].0.starts_with("oauth:memoram:developer_token:"),
        "{stored:?}"
    );
    assert!(!stored[0].0.contains("mk_live_secret"));
    assert!((25_000..=30_000).contains(&stored[0].1), "{stored:?}");
}

/// A store that lets another writer in just before its first compare-and-set, as a second tab
/// or instance would: the write it was asked for then meets a newer version.
struct AnotherWriterFirst<S> {
    inner: S,
    interfered: std::sync::atomic::AtomicBool,
}

impl<S: ConnectionStore> ConnectionStore for AnotherWriterFirst<S> {
    fn get<'a>(
        &'a self,
        id: &'a ConnectionId,
    ) -> BoxFuture<'a, Result<Option<MemoramConnection>, StoreError>> {
        self.inner.get(id)
    }

    fn insert<'a>(
        &'a self,
        id: &'a ConnectionId,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.insert(id, connection)
    }

    fn update<'a>(
        &'a self,
        id: &'a ConnectionId,
        expected: u64,
        connection: &'a MemoramConnection,
    ) -> BoxFuture<'a, Result<Update, StoreError>> {
        Box::pin(async move {
            if !self
                .interfered
                .swap(true, std::sync::atomic::Ordering::SeqCst)
            {
                let mut other = self.inner.get(id).await?.expect("the record");
                other.request_id = Some("req_other_tab".to_owned());
                other.version += 1;
                let written = self.inner.update(id, other.version - 1, &other).await?;
                assert_eq!(written, Update::Written, "the other writer's write");
            }
            self.inner.update(id, expected, connection).await
        })
    }

    fn remove<'a>(&'a self, id: &'a ConnectionId) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.remove(id)
    }
}

/// The compare-and-set contract of a Memoram connection store, whichever store it is: a write
/// from a stale read is refused and leaves the newer record, `modify` reads again after such a
/// refusal and applies its change to the newer record, and nothing brings an ended connection
/// back.
async fn check_compare_and_set(store: MemoramConnections, interfering: MemoramConnections) {
    let key = secrecy::SecretString::from("mk_contract");
    let id = store
        .insert(&MemoramConnection::new(&key))
        .await
        .expect("insert");
    let mut first = store.get(&id).await.expect("get").expect("there");
    let mut stale = first.clone();
    first.request_id = Some("req_new".to_owned());
    assert_eq!(
        store.update(&id, &mut first).await.expect("update"),
        Update::Written
    );
    stale.request_id = None;
    assert_eq!(
        store.update(&id, &mut stale).await.expect("update"),
        Update::Conflict,
        "a write from a read made before the last write"
    );
    let stored = store.get(&id).await.expect("get").expect("there");
    assert_eq!(stored.request_id.as_deref(), Some("req_new"));
    assert_eq!(stored.version, 1);

    // `modify` meets another writer between its read and its write: it reads again and
    // applies its change to what the other writer left.
    let id = interfering
        .insert(&MemoramConnection::new(&key))
        .await
        .expect("insert");
    let mut seen = Vec::new();
    let stored = interfering
        .modify(&id, |connection| {
            seen.push(connection.request_id.clone());
            connection.credentials = None;
            connection.requesting = None;
            true
        })
        .await
        .expect("modify")
        .expect("there");
    assert_eq!(
        seen,
        vec![None, Some("req_other_tab".to_owned())],
        "the change is applied a second time, to the record as the other writer left it"
    );
    assert_eq!(stored.request_id.as_deref(), Some("req_other_tab"));
    assert_eq!(stored.version, 2);

    store.remove(&id).await.expect("remove");
    interfering.remove(&id).await.expect("remove");
    assert_eq!(
        store.update(&id, &mut first).await.expect("update"),
        Update::Gone
    );
    assert!(
        store.get(&id).await.expect("get").is_none(),
        "an ended connection is not brought back"
    );
}

#[tokio::test]
async fn memoram_connections_change_by_compare_and_set_in_memory_and_in_redis() {
    let ttl = Duration::from_secs(60);
    check_compare_and_set(
        MemoramConnections::memory(10, ttl),
        MemoramConnections::new(AnotherWriterFirst {
            inner: MemoryConnections::new(10, ttl),
            interfered: Default::default(),
        }),
    )
    .await;

    let server = RedisServer::start();
    let redis = Redis::connect(&server.url()).await.expect("redis");
    check_compare_and_set(
        MemoramConnections::new(RedisConnections::new(redis.clone(), ttl)),
        MemoramConnections::new(AnotherWriterFirst {
            inner: RedisConnections::new(redis, ttl),
            interfered: Default::default(),
        }),
    )
    .await;
}

#[tokio::test]
async fn redis_without_a_session_key_is_refused_at_start() {
    let redis_server = RedisServer::start();
    let redis = Redis::connect(&redis_server.url()).await.expect("redis");
    let provider = Url::parse("http://provider.example/").expect("url");
    let without_key = Settings {
        session_key: None,
        ..settings(&provider)
    };
    let refused = Memoram::with_redis(without_key, redis.clone());
    assert!(
        matches!(
            refused,
            Err(actix_memoram::SetupError::Missing("SESSION_KEY"))
        ),
        "a random key per start would lose every session in Redis"
    );
    assert!(Memoram::with_redis(settings(&provider), redis).is_ok());
}
