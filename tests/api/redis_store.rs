//! Sessions across instances: a real redis-server, two or three app instances behind one URL.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use simulators::Fault;

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
    // And it is single use across instances: replayed on A, it exchanges nothing (the person,
    // connected, is sent on to the dashboard), and another browser replaying it is refused.
    assert_is_redirect_to(&a.follow(&callback).await, "/dashboard");
    let stranger = a.second_browser();
    assert_eq!(
        stranger.follow(&callback).await.status(),
        StatusCode::BAD_REQUEST
    );
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
