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
    // Declining is a notice, not an error page (issue 29, item 7).
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("html");
    let start = html
        .find("<section class=\"card declined")
        .expect("the notice");
    let section = &html[start..start + html[start..].find("</section>").expect("its end")];
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

/// An error page keeps the menu and Log out for a connected person (issue 29, item 7): they
/// do not look logged out. A visitor who is not connected gets neither.
#[tokio::test]
async fn an_error_page_keeps_the_menu_and_log_out_for_a_connected_person() {
    let app = spawn_app().await;
    let stranger = app.second_browser();
    let (status, html) = stranger.get_html("/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!html.contains("action=\"/logout\""), "{html}");

    app.connect().await;
    let token = app.csrf_token().await;
    for (path, expected) in [
        ("/no-such-page", StatusCode::NOT_FOUND),
        ("/documents/not-a-number", StatusCode::BAD_REQUEST),
        ("/memories", StatusCode::NOT_FOUND),
    ] {
        let (status, html) = app.get_html(path).await;
        assert_eq!(status, expected, "{path}");
        error_section(&html);
        assert!(
            html.contains("<form method=\"post\" action=\"/logout\""),
            "{path}: Log out is there: {html}"
        );
        assert_eq!(
            extract_hidden(&html, "csrf_token").as_deref(),
            Some(token.as_str()),
            "{path}: with this session's token"
        );
        assert!(
            hrefs(&html).contains(&"/dashboard".to_owned()),
            "{path}: the menu is there"
        );
    }
}

/// Back, then "Allow" again on Memoram's page: the spent flow of a browser connected to Memoram
/// already goes on to Memoram's page, saying so, with no second token request.
#[tokio::test]
async fn a_replayed_memoram_consent_of_a_connected_person_goes_on_to_memoram() {
    let app = memoram_app().await;
    let response = app.get("/auth/memoram").await;
    let authorize = url::Url::parse(location(&response)).expect("authorize URL");
    let callback = app.consent(&authorize, &[], true).await;
    assert_is_redirect_to(&app.follow(&callback).await, "/memoram/access");
    let replay = app.follow(&callback).await;
    assert_is_redirect_to(&replay, "/memoram/access");
    let (status, html) = app.get_html("/memoram/access").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("You&#39;re already connected to Memoram."),
        "{html}"
    );
    assert_eq!(app.mem().token_requests().len(), 1);
}

/// Declining on Memoram's page spends the flow's cookie too.
#[tokio::test]
async fn declining_memoram_removes_the_flows_cookie() {
    let app = memoram_app().await;
    let response = app.connect_memoram_with(false).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(response.headers());
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("ttm_flow_") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
}

/// In a real browser, with JavaScript off: Back then "Allow" again lands on the dashboard with
/// "You're already connected", and an error page keeps the menu, whose Log out works with the
/// keyboard (issue 29, item 7).
#[tokio::test]
async fn a_second_allow_says_already_connected_and_an_error_page_still_logs_out_by_keyboard() {
    use crate::browser::{allow, big_mementos, press_enter_on, tick, Browser, BrowserOptions};

    let app = spawn_app().await;
    let options = BrowserOptions {
        return_at_once: false,
        javascript: false,
    };
    let browser = Browser::start_with(1280, 900, options).await;
    browser.goto(&app.url("/auth/rememberizer")).await;
    tick(&browser, &big_mementos(&app)).await;
    allow(&browser).await;
    browser.wait_for_path(&app.address, "/dashboard").await;
    browser.client.back().await.expect("back");
    allow(&browser).await;
    browser.wait_for_path(&app.address, "/dashboard").await;
    let flash = browser.wait_for("#flash").await.text().await.expect("text");
    assert_eq!(flash, "You're already connected to Rememberizer.");
    assert!(!browser.body_text().await.contains("could not be completed"));

    browser.goto(&app.url("/no-such-page")).await;
    browser.wait_for("section.error").await;
    press_enter_on(&browser, "form[action='/logout'] button").await;
    browser.wait_for_path(&app.address, "/").await;
    browser.wait_for("a[href='/auth/rememberizer']").await;
    // Logged out for real: the dashboard offers to connect.
    browser.goto(&app.url("/dashboard")).await;
    browser
        .wait_for("a[href='/auth/rememberizer?return_to=%2Fdashboard']")
        .await;
    browser.close().await;
}
