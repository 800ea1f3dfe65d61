//! Request ids, readiness, and what operators see.

use std::time::Duration;

use reqwest::StatusCode;
use simulators::Fault;

use crate::helpers::*;

/// `/healthz?details=1`: always 200 (liveness), with what this instance sees of its
/// dependencies.
async fn health_details(app: &TestApp) -> serde_json::Value {
    let health = app.get("/healthz?details=1").await;
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "liveness, whatever the details say"
    );
    health.json().await.expect("json")
}

#[tokio::test]
async fn only_details_1_gives_the_dependency_report() {
    let app = spawn_app().await;
    for plain in [
        "/healthz",
        "/healthz?details=0",
        "/healthz?details=",
        "/healthz?details=yes",
        "/healthz?details=true",
        "/healthz?details=10",
    ] {
        let response = app.get(plain).await;
        assert_eq!(response.status(), StatusCode::OK, "{plain}");
        assert_eq!(response.text().await.expect("body"), "ok", "{plain}");
    }
    assert!(health_details(&app).await.is_object());
}

#[tokio::test]
async fn every_response_carries_a_request_id_that_error_pages_show() {
    let app = spawn_app().await;
    let ok = app.get("/").await;
    let first = ok.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(first.len() >= 32, "{first}");
    let error = app.get("/no-such-page").await;
    let id = error.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(id, first, "one id per request");
    let html = error.text().await.expect("body");
    assert!(html.contains(&id), "the error page quotes the request id");
}

/// Readiness is this instance's: a provider that is down does not take every instance out of the
/// load balancer (the landing page, static files and the other provider's pages still serve).
/// The provider's health is in `/healthz?details=1`.
#[tokio::test]
async fn a_provider_outage_leaves_the_instance_ready_and_shows_in_the_health_details() {
    let app = spawn_app().await;
    let body = readyz_becomes(&app, StatusCode::OK).await;
    assert_eq!(body["checks"]["session_store"], "ok");

    app.sim.set_fault(
        "/api/v1/",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/").await.status(), StatusCode::OK);
    let body = health_details(&app).await;
    assert_ne!(body["checks"]["providers"]["rememberizer"], "ok", "{body}");
    assert_eq!(body["checks"]["session_store"], "ok");
    assert_eq!(app.get("/healthz").await.text().await.expect("text"), "ok");
    app.sim.clear_faults();
}

#[tokio::test]
async fn health_details_ask_the_provider_at_most_once_per_ttl_and_readiness_never() {
    let app = spawn_app().await;
    let before = app.sim.request_count("/api/v1/");
    let hits = (0..50).map(|_| app.get("/readyz"));
    for response in futures_util::future::join_all(hits).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        app.sim.request_count("/api/v1/"),
        before,
        "readiness asks no provider"
    );
    let hits = (0..50).map(|_| app.get("/healthz?details=1"));
    for response in futures_util::future::join_all(hits).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(
        app.sim.request_count("/api/v1/") - before,
        1,
        "50 concurrent hits, one probe of the provider"
    );
}

#[tokio::test]
async fn an_unreachable_provider_shows_in_the_details_not_in_readiness() {
    let app = spawn_app_with_unreachable_provider().await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let body = health_details(&app).await;
    assert_ne!(body["checks"]["providers"]["rememberizer"], "ok", "{body}");
}

/// With both providers configured, the details report each on its own: Memoram down shows as
/// Memoram, not as Rememberizer, and readiness stays this instance's.
#[tokio::test]
async fn memoram_outage_shows_as_memoram_in_the_health_details() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let memoram = app.memoram.clone().expect("memoram");
    let body = health_details(&app).await;
    assert_eq!(body["checks"]["providers"]["memoram"], "ok", "{body}");
    assert_eq!(body["checks"]["providers"]["rememberizer"], "ok", "{body}");

    memoram.set_fault(
        "/",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
    let body = health_details(&app).await;
    assert_ne!(body["checks"]["providers"]["memoram"], "ok", "{body}");
    assert_eq!(body["checks"]["providers"]["rememberizer"], "ok", "{body}");
    memoram.clear_faults();
}
