//! Sessions across instances: a real redis-server, two or three app instances behind one URL.

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use simulators::Fault;
use talk_to_mementos::auth::{ConnectionId, StoreError};
use talk_to_mementos::memoram::connections::{
    ConnectionStore, MemoramConnection, MemoramConnections, MemoryConnections, Update,
};
use talk_to_mementos::redis_store::memoram::RedisConnections;
use talk_to_mementos::redis_store::Redis;

use crate::helpers::assert_asks_to_connect;
use crate::helpers::*;

/// The callback URL, sent to `instance` instead of the one the provider redirected to.
fn on_instance(callback: &url::Url, instance: &TestApp) -> url::Url {
    let port = url::Url::parse(&instance.address)
        .expect("url")
        .port()
        .expect("port");
    let mut moved = callback.clone();
    moved.set_port(Some(port)).expect("port");
    moved
}

#[tokio::test]
async fn a_user_connected_through_one_instance_is_served_by_another() {
    let redis = RedisServer::start();
    let instances = spawn_instances(2, &redis).await;
    let (a, b) = (&instances[0], &instances[1]);
    a.connect().await;
    let (status, html) = b.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ada Lovelace"));
    // Logging out on B ends the session for A too.
    let csrf = extract_hidden(&html, "csrf_token").expect("logout form");
    assert_is_redirect_to(&b.logout(Some(&csrf)).await, "/");
    assert_asks_to_connect(
        a.get("/dashboard").await,
        "/auth/rememberizer",
        "/dashboard",
    )
    .await;
}

#[tokio::test]
async fn a_callback_landing_on_the_other_instance_completes() {
    let redis = RedisServer::start();
    let instances = spawn_instances(2, &redis).await;
    let (a, b) = (&instances[0], &instances[1]);
    let authorize = a.start_connect().await;
    let callback = a.consent(&authorize, &[1], true).await;
    assert_is_redirect_to(&b.follow(&on_instance(&callback, b)).await, "/dashboard");
    assert_eq!(a.get("/dashboard").await.status(), StatusCode::OK);
    // And it is single use across instances: replaying it on A fails.
    assert_eq!(a.follow(&callback).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(a.token_request_count("authorization_code"), 1);
}

#[tokio::test]
async fn two_instances_refreshing_at_once_make_one_refresh_call() {
    let redis = RedisServer::start();
    let instances = spawn_instances(2, &redis).await;
    instances[0].connect().await;
    instances[0].sim.expire_access_tokens();
    let requests: Vec<_> = (0..12)
        .map(|i| {
            let instance = &instances[i % 2];
            let (client, url) = (instance.client.clone(), instance.url("/dashboard"));
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    for request in requests {
        let response = request.await.expect("task").expect("GET");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(instances[0].token_request_count("refresh_token"), 1);
    // The rotated refresh token was saved: the next refresh uses it and succeeds.
    instances[0].sim.expire_access_tokens();
    assert_eq!(
        instances[1].get("/dashboard").await.status(),
        StatusCode::OK
    );
    assert_eq!(instances[0].token_request_count("refresh_token"), 2);
}

#[tokio::test]
async fn a_restart_keeps_users_connected() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    instances[0].connect().await;
    // A new process: nothing in memory, same Redis and session key.
    let restarted = spawn_another_instance(&instances[0], &redis).await;
    let (status, html) = restarted.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ada Lovelace"));
}

#[tokio::test]
async fn keys_are_prefixed_and_expire() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    // Browsers that only started a flow leave nothing in Redis: a flood of anonymous starts
    // cannot fill it.
    for _ in 0..200 {
        let response = browser()
            .get(app.url("/auth/rememberizer"))
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::FOUND);
    }
    let keys = redis.keys_with_ttl("*");
    assert!(keys.is_empty(), "{keys:?}");

    app.connect().await;
    let keys = redis.keys_with_ttl("*");
    assert!(keys.iter().all(|(k, _)| k.starts_with("ttm:")), "{keys:?}");
    assert!(
        keys.iter().all(|(_, ttl)| *ttl > 0),
        "every key expires: {keys:?}"
    );
    assert!(keys
        .iter()
        .any(|(k, ttl)| k.starts_with("ttm:conn:") && *ttl > 86_400));
    assert!(keys
        .iter()
        .any(|(k, ttl)| k.starts_with("ttm:session:") && *ttl > 86_400));
}

#[tokio::test]
async fn redis_down_gives_a_quick_503_and_service_resumes_when_it_returns() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    app.connect().await;

    redis.pause();
    let started = Instant::now();
    let (status, html) = app.get_html("/dashboard").await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(html.contains("Sessions are unavailable"), "{html}");
    assert!(elapsed < Duration::from_secs(3), "answered in {elapsed:?}");
    let error = app.get("/dashboard").await;
    assert!(error.headers().contains_key("content-security-policy"));
    assert!(error.headers().contains_key("x-request-id"));
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    readyz_becomes(app, StatusCode::SERVICE_UNAVAILABLE).await;
    // The landing page needs no session for an anonymous visitor.
    assert_eq!(
        browser()
            .get(app.url("/"))
            .send()
            .await
            .expect("GET")
            .status(),
        StatusCode::OK
    );

    redis.resume();
    let started = Instant::now();
    loop {
        let (status, _) = app.get_html("/dashboard").await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "service did not resume: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    readyz_becomes(app, StatusCode::OK).await;
}

#[tokio::test]
async fn redis_restarted_empty_means_connect_again_not_an_error() {
    let mut redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    app.connect().await;
    redis.restart_empty();
    let started = Instant::now();
    loop {
        let response = app.get("/dashboard").await;
        if response.status() == StatusCode::FORBIDDEN {
            break;
        }
        assert!(
            response.status() == StatusCode::SERVICE_UNAVAILABLE
                && started.elapsed() < Duration::from_secs(10),
            "unexpected {}",
            response.status()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.connect().await;
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_refresh_lock_outlives_its_slowest_holder() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    app.connect().await;
    app.sim.expire_access_tokens();
    // A slow token endpoint: the refresh holds the lock long enough to look at it.
    app.sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        Fault {
            delay: Some(Duration::from_millis(1500)),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let (client, url) = (app.client.clone(), app.url("/dashboard"));
    let request = tokio::spawn(async move { client.get(url).send().await });
    let started = Instant::now();
    let lock = loop {
        if let Some(lock) = redis.keys_with_ttl("ttm:conn:*:lock").into_iter().next() {
            break lock;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no refresh lock while refreshing"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // These instances wait 3 s for Rememberizer. The holder may take a read (1 s), the refresh
    // (3 s), then 4 write attempts (1 s each) with 1.75 s of back-off: 9.75 s. The lock must
    // outlive that, and a crashed holder's lock must still free itself soon after.
    assert!((10..=12).contains(&lock.1), "{lock:?}");
    let response = request.await.expect("task").expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        redis.keys_with_ttl("ttm:conn:*:lock").is_empty(),
        "the lock is released after the refresh"
    );
}

#[tokio::test]
async fn a_flood_of_anonymous_starts_leaves_nothing_in_redis_and_a_login_still_works() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    let before = redis.used_memory();
    let answered = flood_of_starts(&app.address, 5_000, 32).await;
    let after = redis.used_memory();
    println!("Redis used_memory: {before} B before, {after} B after {answered} anonymous starts");
    assert_eq!(answered, 5_000);
    assert!(
        redis.keys_with_ttl("*").is_empty(),
        "no key for anyone not connected"
    );
    app.connect().await;
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refreshed_tokens_are_stored_even_if_redis_fails_at_that_moment() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    app.connect().await;
    app.sim.expire_access_tokens();
    // The provider rotates the refresh token; its answer comes 300 ms later, while Redis
    // refuses writes (out of memory): the first writes of the new tokens fail.
    app.sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        Fault {
            delay_after: Some(Duration::from_millis(300)),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let page = {
        let (client, url) = (app.client.clone(), app.url("/dashboard"));
        tokio::spawn(async move { client.get(url).send().await })
    };
    let started = Instant::now();
    while app.token_request_count("refresh_token") == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "no refresh");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    redis.config_set("maxmemory-policy", "noeviction");
    redis.config_set("maxmemory", "1");
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.config_set("maxmemory", "0");
    let _ = page.await.expect("task");

    // The write was tried again: the next refresh uses the rotated token, no reuse.
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.sim.expire_access_tokens();
    let (status, _) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK, "still connected");
    let sent = app.refresh_tokens_sent();
    assert_eq!(sent.len(), 2, "{}", sent.len());
    assert_ne!(sent[0], sent[1], "the rotated refresh token was kept");
}

/// Memoram across instances: the connection, its keys and the developer token live in Redis.
/// One instance runs the flow, the other serves the memories with the same developer token, and
/// every key expires.
#[tokio::test]
async fn memoram_connections_and_the_developer_token_are_shared_through_redis() {
    let redis = RedisServer::start();
    let instances = spawn_instances(2, &redis).await;
    let (a, b) = (&instances[0], &instances[1]);
    let request = a.connect_memoram().await;
    assert!(a.mem().approve(&request));
    assert_is_redirect_to(&b.get("/memoram/access").await, "/memories");
    let (status, html) = a.get_html("/memories").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Lisbon trip plans"));
    let (status, _) = b.get_html("/memories/tags").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        a.mem().developer_tokens_issued(),
        1,
        "one developer token for the deployment"
    );
    let keys = redis.keys_with_ttl("ttm:*");
    assert!(
        keys.iter().any(|(k, _)| k.starts_with("ttm:memoram:conn:")),
        "{keys:?}"
    );
    assert!(keys
        .iter()
        .any(|(k, _)| k.starts_with("ttm:memoram:developer_token:")));
    for (key, ttl) in &keys {
        assert!(*ttl > 0, "{key} expires");
    }

    // Disconnecting on B removes the connection for A too.
    let response = b.post_with_csrf("/", "/auth/memoram/disconnect", &[]).await;
    assert_is_redirect_to(&response, "/");
    assert_asks_to_connect(a.get("/memories").await, "/auth/memoram", "/memories").await;
    assert!(!redis
        .keys_with_ttl("ttm:*")
        .iter()
        .any(|(k, _)| k.starts_with("ttm:memoram:conn:")));
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
