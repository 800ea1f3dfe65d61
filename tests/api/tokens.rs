//! Tokens that stay valid: expiry, refresh, rotation, revocation, concurrency.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::StatusCode;
use talk_to_mementos::simulator::{Fault, SimulatorConfig};

use crate::helpers::*;

fn refresh_tokens_sent(app: &TestApp) -> Vec<String> {
    app.sim
        .token_requests()
        .iter()
        .filter(|r| r.grant_type == "refresh_token")
        .map(|r| {
            let form: HashMap<_, _> = r.form.iter().cloned().collect();
            assert_eq!(form["client_id"], CLIENT_ID);
            assert_eq!(
                form["client_secret"], CLIENT_SECRET,
                "credentials in the body"
            );
            form["refresh_token"].clone()
        })
        .collect()
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_before_the_call() {
    let app = spawn_app_with(
        SimulatorConfig {
            access_token_ttl: Duration::from_secs(2),
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    app.connect().await;
    // Let the 2-second token pass the point where the app refreshes it (half its lifetime).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let unauthorized_before = app.sim.unauthorized_count();
    let (status, _) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.token_request_count("refresh_token"), 1);
    assert_eq!(
        app.sim.unauthorized_count(),
        unauthorized_before,
        "refreshed before expiry: the API never saw the old token fail"
    );
}

#[tokio::test]
async fn a_401_despite_a_fresh_looking_token_refreshes_once_and_retries_once() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.expire_access_tokens();
    let account_calls = app.sim.request_count("/api/v1/account/");
    let (status, html) = app.get_html("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Welcome back"));
    assert_eq!(app.token_request_count("refresh_token"), 1);
    assert_eq!(
        app.sim.request_count("/api/v1/account/"),
        account_calls + 2,
        "the call and one retry"
    );
}

#[tokio::test]
async fn twenty_concurrent_requests_after_expiry_cause_one_refresh() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.expire_access_tokens();
    let requests: Vec<_> = (0..20)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/dashboard"));
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    for request in requests {
        let response = request.await.expect("task").expect("GET /dashboard");
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(app.token_request_count("refresh_token"), 1);
}

#[tokio::test]
async fn a_rotated_refresh_token_replaces_the_old_one() {
    let app = spawn_app().await;
    app.connect().await;
    for _ in 0..3 {
        app.sim.expire_access_tokens();
        assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
    }
    let sent = refresh_tokens_sent(&app);
    assert_eq!(sent.len(), 3);
    assert_ne!(
        sent[0], sent[1],
        "the second refresh used the rotated token"
    );
    assert_ne!(sent[1], sent[2]);
}

#[tokio::test]
async fn a_revoked_grant_drops_the_tokens_without_a_loop() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.revoke_all_grants();
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("connect again") || html.contains("Connect again"));
    let refreshes = app.token_request_count("refresh_token");
    assert!(
        refreshes <= 1,
        "at most one refresh attempt, got {refreshes}"
    );
    // The tokens are gone: later pages ask to reconnect without calling the provider again.
    let (status, _) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.token_request_count("refresh_token"), refreshes);
}

#[tokio::test]
async fn a_provider_outage_during_refresh_keeps_the_tokens() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.expire_access_tokens();
    app.sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("Try again"));
    app.sim.clear_faults();
    let (status, _) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK, "the kept refresh token still works");
}
