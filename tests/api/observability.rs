//! Request ids, readiness, and what operators see.

use reqwest::StatusCode;
use simulators::Fault;

use crate::helpers::*;

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

#[tokio::test]
async fn readiness_follows_the_provider() {
    let app = spawn_app().await;
    let body = readyz_becomes(&app, StatusCode::OK).await;
    assert_eq!(body["checks"]["provider"], "ok");
    assert_eq!(body["checks"]["session_store"], "ok");

    app.sim.set_fault(
        "/api/v1/",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    let body = readyz_becomes(&app, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(body["status"], "not ready");
    // Liveness is not readiness: the process itself is fine.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.sim.clear_faults();
    readyz_becomes(&app, StatusCode::OK).await;
}

#[tokio::test]
async fn readiness_is_checked_at_most_once_per_ttl_however_often_it_is_asked() {
    let app = spawn_app().await;
    let before = app.sim.request_count("/api/v1/");
    let hits = (0..50).map(|_| app.get("/readyz"));
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
async fn an_unreachable_provider_is_not_ready() {
    let app = spawn_app_with_unreachable_provider().await;
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}
