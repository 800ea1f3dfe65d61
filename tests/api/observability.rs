//! Request ids, readiness, and what operators see.

use reqwest::StatusCode;
use talk_to_mementos::simulator::Fault;

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
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["checks"]["provider"], "ok");
    assert_eq!(body["checks"]["session_store"], "ok");

    app.sim.set_fault(
        "/api/v1/",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["status"], "not ready");
    // Liveness is not readiness: the process itself is fine.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    app.sim.clear_faults();
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unreachable_provider_is_not_ready() {
    let app = spawn_app_with_unreachable_provider().await;
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}
