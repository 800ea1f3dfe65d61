//! `Rememberizer::with_redis` (`cargo test -p actix-rememberizer --features redis`): two
//! instances of an app share one `redis-server` (started here), as two processes behind a load
//! balancer do; a stand-in for Rememberizer's token and account endpoints answers over HTTP.
#![cfg(feature = "redis")]

#[path = "../../actix-oauth-client/tests/support/jar.rs"]
mod jar;
#[path = "../../actix-oauth-client/tests/support/redis_server.rs"]
mod redis_server;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use actix_rememberizer::redis_store::Redis;
use actix_rememberizer::{Connected, Rememberizer, Settings};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use jar::Jar;
use redis_server::RedisServer;
use reqwest::header::LOCATION;
use reqwest::StatusCode;
use url::Url;

/// Rememberizer's token endpoint (counting the code exchanges) and account endpoint.
fn provider(exchanges: Arc<AtomicUsize>) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url =
        Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
    let server = HttpServer::new(move || {
        let exchanges = exchanges.clone();
        App::new()
            .route(
                "/api/v1/auth/oauth2/token/",
                web::post().to(move || {
                    let n = exchanges.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        HttpResponse::Ok().json(serde_json::json!({
                            "access_token": format!("at-{n}"),
                            "refresh_token": format!("rt-{n}"),
                            "token_type": "Bearer",
                            "expires_in": 3600,
                        }))
                    }
                }),
            )
            .route(
                "/api/v1/account/",
                web::get().to(|req: HttpRequest| async move {
                    let bearer = req
                        .headers()
                        .get("authorization")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("Bearer at-"));
                    if bearer {
                        HttpResponse::Ok().json(serde_json::json!({
                            "id": 1, "email": "ada@example.com", "name": "Ada"
                        }))
                    } else {
                        HttpResponse::Unauthorized().finish()
                    }
                }),
            )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    url
}

async fn email(me: Connected) -> actix_web::Result<HttpResponse> {
    Ok(HttpResponse::Ok().body(me.account().await?.email.unwrap_or_default()))
}

/// The settings every instance shares.
fn settings(provider: &Url) -> Settings {
    Settings {
        client_id: "client".to_owned(),
        client_secret: "secret".to_owned(),
        base_url: provider.clone(),
        app_base_url: Url::parse("http://app.example").expect("url"),
        // Every instance signs and encrypts the cookies with the same key.
        session_key: Some(vec![7; 64]),
        after_connect: "/dashboard".to_owned(),
        session_cookie: "session".to_owned(),
        flow_cookie_prefix: "oauth_flow_".to_owned(),
        user_agent: "test".to_owned(),
    }
}

/// One instance of the app: the crate's routes and `/dashboard`, its stores in `redis`.
async fn instance(provider: &Url, redis: &Redis) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url =
        Url::parse(&format!("http://{}/", listener.local_addr().expect("addr"))).expect("url");
    let rememberizer = Rememberizer::with_redis(settings(provider), redis.clone()).expect("built");
    let server = HttpServer::new(move || {
        App::new()
            .wrap(rememberizer.session())
            .configure(|config| rememberizer.configure(config))
            .route("/dashboard", web::get().to(email))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    tokio::spawn(server);
    url
}

fn location(response: &reqwest::Response) -> String {
    response.headers()[LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_one_redis_keep_a_connected_person() {
    let redis_server = RedisServer::start();
    let redis = Redis::connect(&redis_server.url()).await.expect("redis");
    let exchanges = Arc::new(AtomicUsize::new(0));
    let provider = provider(exchanges.clone());
    let a = instance(&provider, &redis).await;
    let b = instance(&provider, &redis).await;
    let mut browser = Jar::default();

    // Step 1 on A; Rememberizer sends the browser back to B's callback.
    let started = browser.get(a.join("auth/rememberizer").expect("url")).await;
    assert_eq!(started.status(), StatusCode::FOUND);
    let authorize = Url::parse(&location(&started)).expect("authorize URL");
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("state");
    let mut callback = b.join("auth/rememberizer/callback").expect("url");
    callback
        .query_pairs_mut()
        .append_pair("code", "the-code")
        .append_pair("state", &state);
    let flow_cookies = browser.clone();
    let finished = browser.get(callback.clone()).await;
    assert_eq!(finished.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&finished), "/dashboard");

    // Connected on both instances.
    for instance in [&a, &b] {
        let page = browser.get(instance.join("dashboard").expect("url")).await;
        assert_eq!(page.status(), StatusCode::OK, "{instance}");
        assert_eq!(page.text().await.expect("body"), "ada@example.com");
    }
    // And after a restart: a new instance, nothing in its memory.
    let c = instance(&provider, &redis).await;
    let page = browser.get(c.join("dashboard").expect("url")).await;
    assert_eq!(page.status(), StatusCode::OK);

    // The callback replayed on A with the old flow cookie: its state was spent on B.
    let mut replayer = flow_cookies;
    let replayed = replayer
        .get(a.join(&callback[url::Position::BeforePath..]).expect("url"))
        .await;
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(exchanges.load(Ordering::SeqCst), 1, "one code exchange");

    // A browser that never connected is not connected anywhere.
    let page = Jar::default().get(b.join("dashboard").expect("url")).await;
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
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
    let refused = Rememberizer::with_redis(without_key, redis.clone());
    assert!(
        matches!(
            refused,
            Err(actix_rememberizer::SetupError::Missing("SESSION_KEY"))
        ),
        "a random key per start would lose every session in Redis"
    );
    assert!(Rememberizer::with_redis(settings(&provider), redis).is_ok());
}
