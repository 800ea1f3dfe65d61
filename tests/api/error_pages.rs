//! Error pages name the provider the person was dealing with: whose words they quote, which
//! "Connect …" they offer, and what a refusal (a 4xx other than 401 and 404) means.

use reqwest::StatusCode;
use simulators::memoram::MemoramSimulatorConfig;
use simulators::Fault;

use crate::helpers::*;

/// The page's error section, where the provider is named (the layout around it names both).
fn error_section(html: &str) -> &str {
    let start = html
        .find("<section class=\"error")
        .expect("an error section");
    let end = html[start..].find("</section>").expect("its end") + start;
    &html[start..end]
}

fn assert_names_memoram_only(section: &str) {
    assert!(section.contains("Connect Memoram"), "{section}");
    assert!(
        section.contains("href=\"/auth/memoram\""),
        "the button starts Memoram's flow: {section}"
    );
    assert!(!section.contains("Rememberizer"), "{section}");
}

async fn memoram_app() -> TestApp {
    spawn_app_with_memoram(MemoramSimulatorConfig::default(), |_| {}).await
}

#[tokio::test]
async fn declining_memoram_quotes_memoram_and_offers_to_connect_memoram() {
    let app = memoram_app().await;
    let response = app.connect_memoram_with(false).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.expect("html");
    let section = error_section(&html);
    assert!(section.contains("You did not connect Memoram"), "{section}");
    assert!(section.contains("Memoram said"), "{section}");
    assert!(section.contains("The user denied access"), "{section}");
    assert_names_memoram_only(section);
}

#[tokio::test]
async fn a_forged_memoram_state_offers_to_connect_memoram() {
    let app = memoram_app().await;
    app.get("/auth/memoram").await;
    let response = app
        .get("/auth/memoram/callback?code=stolen&state=forged-state-forged-state")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.expect("html");
    let section = error_section(&html);
    assert!(section.contains("nothing was sent to Memoram"), "{section}");
    assert_names_memoram_only(section);
}

#[tokio::test]
async fn a_failed_memoram_code_exchange_names_memoram() {
    let app = memoram_app().await;
    app.mem().set_fault(
        "/api/v1/oauth/token",
        Fault {
            status: Some(400),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let response = app.connect_memoram_with(true).await;
    assert!(response.status().is_client_error() || response.status().is_server_error());
    let html = response.text().await.expect("html");
    let section = error_section(&html);
    assert!(section.contains("Memoram"), "{section}");
    assert_names_memoram_only(section);
}

#[tokio::test]
async fn a_memoram_400_says_it_was_refused_not_that_memoram_is_down() {
    let app = memoram_app().await;
    app.connect_memoram_approved().await;
    app.mem().set_fault(
        "/api/v1/tags",
        Fault {
            status: Some(400),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/memories/tags").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let section = error_section(&html);
    assert!(section.contains("Memoram did not accept"), "{section}");
    assert!(!section.contains("not answering"), "{section}");
    assert!(!section.contains("try again in a moment"), "{section}");
}

#[tokio::test]
async fn a_rememberizer_403_says_access_was_refused() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/documents/",
        Fault {
            status: Some(403),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let section = error_section(&html);
    assert!(section.contains("Rememberizer refused"), "{section}");
    assert!(!section.contains("not answering"), "{section}");
    assert!(!section.contains("Memoram"), "{section}");
}

#[tokio::test]
async fn a_memoram_answer_without_a_memory_key_says_nothing_was_connected() {
    let app = memoram_app().await;
    app.mem().set_omit_memory_key(true);
    let response = app.connect_memoram_with(true).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(
        set_cookies(response.headers())
            .iter()
            .all(|c| !c.starts_with("ttm_session=")),
        "no session was started"
    );
    let html = response.text().await.expect("html");
    let section = error_section(&html);
    assert!(
        section.contains("Memoram did not send a memory key"),
        "{section}"
    );
    assert!(section.contains("Nothing was connected"), "{section}");
    assert!(!section.contains("still connected"), "{section}");
    assert_names_memoram_only(section);
    // Indeed not connected: the memories need a connection.
    assert_ne!(app.get("/memories").await.status(), StatusCode::OK);
    // And once Memoram sends its key again, connecting works.
    app.mem().set_omit_memory_key(false);
    assert_is_redirect_to(&app.connect_memoram_with(true).await, "/memoram/access");
}
