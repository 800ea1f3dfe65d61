//! Upstream faults: each gives a clear page within a bounded time, the session survives, and the
//! app stays healthy.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use simulators::{Fault, FaultBody};

use crate::helpers::assert_asks_to_connect;
use crate::helpers::*;

async fn assert_recovers(app: &TestApp) {
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.sim.clear_faults();
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK, "the session survived the fault");
    assert!(html.contains("Documents"));
}

#[tokio::test]
async fn a_5xx_from_the_api_shows_a_retry_page_and_keeps_the_session() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/documents/",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/dashboard?page=1").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("Rememberizer is not answering"));
    assert!(
        hrefs(&html).contains(&"/dashboard?page=1".to_owned()),
        "a retry link to the same page"
    );
    assert!(html.contains("You are still connected"));
    assert_recovers(&app).await;
}

#[tokio::test]
async fn failing_integrations_hide_the_filter_not_the_documents() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/integrations/",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("The integration filter is unavailable"));
    assert!(!html.contains("id=\"integration_type\""));
    let listed = hrefs(&html)
        .iter()
        .filter(|href| href.starts_with("/documents/"))
        .count();
    assert!(listed > 0, "the documents are still listed");
    app.sim.clear_faults();
    let (_, html) = app.get_html("/dashboard").await;
    assert!(html.contains("id=\"integration_type\""));
    assert!(!html.contains("The integration filter is unavailable"));
}

#[tokio::test]
async fn a_429_says_when_to_retry() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/documents/",
        Fault {
            status: Some(429),
            retry_after: Some(7),
            ..Fault::default()
        },
    );
    let response = app.get("/dashboard").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "7");
    let html = response.text().await.expect("body");
    assert!(html.contains("try again in 7 seconds"));
    assert_eq!(
        app.sim.request_count("/api/v1/documents/"),
        1,
        "one call: a rate limit is not hammered with retries"
    );
    assert_recovers(&app).await;
}

#[tokio::test]
async fn a_slow_api_gives_a_timeout_page_in_bounded_time() {
    let app = spawn_app().await; // request timeout: 3 s in the harness
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/account/",
        Fault {
            delay: Some(Duration::from_secs(20)),
            ..Fault::default()
        },
    );
    let started = Instant::now();
    let (status, html) = app.get_html("/dashboard").await;
    let elapsed = started.elapsed();
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert!(html.contains("slow to answer"));
    assert!(elapsed < Duration::from_secs(6), "answered in {elapsed:?}");
    // Other users are not held up meanwhile.
    let started = Instant::now();
    assert_eq!(
        browser()
            .get(app.url("/"))
            .send()
            .await
            .expect("GET")
            .status(),
        StatusCode::OK
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_recovers(&app).await;
}

#[tokio::test]
async fn html_instead_of_json_is_a_clear_502() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/account/",
        Fault {
            status: Some(200),
            body: FaultBody::Html,
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("could not read"));
    assert_recovers(&app).await;
}

#[tokio::test]
async fn an_oversized_response_is_refused_without_reading_it_all() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/documents/",
        Fault {
            body: FaultBody::Oversized(50 * 1024 * 1024),
            ..Fault::default()
        },
    );
    let (status, _) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_recovers(&app).await;
}

#[tokio::test]
async fn a_body_cut_short_is_a_clear_page() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/documents/",
        Fault {
            body: FaultBody::Truncated,
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/dashboard").await;
    assert!(status == StatusCode::BAD_GATEWAY, "{status}");
    assert!(html.contains("Try again"));
    assert_recovers(&app).await;
}

#[tokio::test]
async fn a_provider_that_is_down_during_connect_gives_a_retry_page() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[], true).await;
    app.sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        Fault {
            status: Some(500),
            body: FaultBody::Html,
            ..Fault::default()
        },
    );
    let (status, html) = {
        let response = app.follow(&callback).await;
        (response.status(), response.text().await.expect("body"))
    };
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("Rememberizer is not answering"));
    assert_asks_to_connect(
        app.get("/dashboard").await,
        "/auth/rememberizer",
        "/dashboard",
    )
    .await;
}

#[tokio::test]
async fn an_unreachable_provider_is_a_clear_page() {
    let app = spawn_app_with_unreachable_provider().await;
    let authorize = app.start_connect().await;
    // Complete consent at the real simulator, then call back into the app, whose token
    // endpoint now points at the closed port.
    let mut at_simulator = authorize.clone();
    at_simulator.set_port(app.sim_url.port()).expect("port");
    let callback = app.consent(&at_simulator, &[], true).await;
    let response = app.follow(&callback).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_revoked_grant_asks_the_user_to_connect_again() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.revoke_all_grants();
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("Your connection to Rememberizer ended"));
    assert!(hrefs(&html).contains(&"/auth/rememberizer".to_owned()));
    // No loop: the next visit says the same, and connecting again works.
    let (status, _) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, home) = app.get_html("/").await;
    assert!(home.contains("Your connection to Rememberizer ended"));
    app.connect().await;
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_tls_failure_is_a_clear_page() {
    // An https URL on a server that speaks plain HTTP: the TLS handshake fails.
    let app = spawn_app().await;
    let mut https = app.sim_url.clone();
    https.set_scheme("https").expect("scheme");
    let broken = spawn_app_with(Default::default(), |settings| {
        settings.provider_url = https.clone();
    })
    .await;
    let authorize = broken.start_connect().await;
    let mut at_simulator = authorize.clone();
    at_simulator.set_scheme("http").expect("scheme");
    at_simulator.set_port(broken.sim_url.port()).expect("port");
    let callback = broken.consent(&at_simulator, &[], true).await;
    let started = Instant::now();
    let response = broken.follow(&callback).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(started.elapsed() < Duration::from_secs(5));
    let html = response.text().await.expect("body");
    assert!(html.contains("Rememberizer is not answering"));
    drop(app);
}
