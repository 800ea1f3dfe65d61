//! Memoram end to end against its simulator: the developer token, the user authorization with
//! `memory_key`, the access request and its waiting page, credentials, encrypted memories, tags,
//! key rotation, revocation, and faults.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::StatusCode;
use secrecy::SecretString;
use simulators::memoram::MemoramSimulatorConfig;
use simulators::Fault;
use talk_to_mementos::memoram::cipher::ContentCipher;

use crate::helpers::{
    assert_asks_to_connect, assert_is_redirect_to, hrefs, location, query_param, read_until,
    spawn_app, spawn_app_with_memoram, TestApp,
};

async fn app() -> TestApp {
    spawn_app_with_memoram(MemoramSimulatorConfig::default(), |_| {}).await
}

/// The `href` of the page's `<a href="…" rel="REL">`, unescaped.
fn link_with_rel(html: &str, rel: &str) -> Option<String> {
    let end = html.find(&format!("\" rel=\"{rel}\""))?;
    let start = html[..end].rfind("href=\"")? + "href=\"".len();
    hrefs(&format!("href=\"{}\"", &html[start..end])).pop()
}

/// The id in a `/memories/{id}` address.
fn memory_id(location: &str) -> String {
    location
        .strip_prefix("/memories/")
        .expect("a memory's address")
        .to_owned()
}

#[tokio::test]
async fn step_1_sends_the_browser_to_memorams_authorize_page_with_state_and_pkce() {
    let app = app().await;
    let response = app.get("/auth/memoram").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let authorize = url::Url::parse(location(&response)).expect("url");
    assert_eq!(authorize.path(), "/oauth/authorize");
    assert_eq!(query_param(&authorize, "response_type"), "code");
    assert_eq!(query_param(&authorize, "code_challenge_method"), "S256");
    assert_eq!(
        query_param(&authorize, "redirect_uri"),
        format!("{}/auth/memoram/callback", app.address)
    );
    assert!(query_param(&authorize, "state").len() >= 43);
    // The flow cookie goes to Memoram's routes only.
    let cookie = crate::helpers::set_cookies(response.headers()).join("\n");
    assert!(cookie.contains("Path=/auth/memoram"), "{cookie}");
    assert!(cookie.contains("HttpOnly"));
}

#[tokio::test]
async fn the_landing_page_offers_both_providers_and_shows_each_state() {
    let app = app().await;
    let (_, html) = app.get_html("/").await;
    assert!(html.contains("Connect Rememberizer"));
    assert!(html.contains("Connect Memoram"));

    app.connect_memoram().await;
    let (_, html) = app.get_html("/").await;
    assert!(html.contains("waiting for you to approve"), "{html}");
    assert!(html.contains("Disconnect Memoram"));
    assert!(
        html.contains("Connect Rememberizer"),
        "Rememberizer is still to connect"
    );

    app.connect().await;
    let (_, html) = app.get_html("/").await;
    assert!(html.contains("Disconnect Rememberizer"));
    assert!(html.contains("Disconnect Memoram"));
}

#[tokio::test]
async fn connecting_asks_for_access_with_the_configured_reason_and_waits_politely() {
    let app = app().await;
    let request = app.connect_memoram().await;
    let requests = app.mem().access_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].status, "pending");
    assert_eq!(requests[0].memory_key, app.mem().demo_user().memory_key);
    assert_eq!(
        requests[0].reason,
        talk_to_mementos::config::DEFAULT_MEMORAM_REASON
    );

    let (status, html) = app.get_html("/memoram/access").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-status=\"pending\""));
    assert!(html.contains("Open your Memoram dashboard"));
    // No reload and no script; a button to check now, and (the watch being off here) the note
    // that the page stopped watching.
    assert!(!html.contains("http-equiv"), "{html}");
    assert!(!html.contains("<script"));
    assert!(html.contains("id=\"check-again\""));
    assert!(html.contains("data-outcome=\"stopped\""), "{html}");
    // Still pending: the credentials were not asked for (they would be a 403).
    assert_eq!(
        app.mem()
            .request_count(&format!("/api/v1/access-requests/{request}/credentials")),
        0
    );

    // Approved in the dashboard: the waiting page moves on by itself.
    assert!(app.mem().approve(&request));
    let response = app.get("/memoram/access").await;
    assert_is_redirect_to(&response, "/memories");
    let (status, html) = app.get_html("/memories").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Lisbon trip plans"), "{html}");
}

#[tokio::test]
async fn the_waiting_page_moves_on_without_a_reload_once_memoram_says_yes() {
    let app = spawn_app_with_memoram(MemoramSimulatorConfig::default(), |settings| {
        settings.memoram.access_watch = Duration::from_secs(60);
    })
    .await;
    let request = app.connect_memoram().await;
    let mut page = app.get("/memoram/access").await;
    assert_eq!(page.status(), StatusCode::OK);
    // What to do comes at once, while the page goes on watching.
    let head = read_until(&mut page, "id=\"watching\"").await;
    assert!(head.contains("id=\"check-again\""), "{head}");
    assert!(!head.contains("http-equiv"), "no reload: {head}");
    assert!(!head.contains("watch-note"), "no outcome yet: {head}");

    assert!(app.mem().approve(&request));
    let approved_at = std::time::Instant::now();
    let rest = tokio::time::timeout(Duration::from_secs(15), page.text())
        .await
        .expect("the page ends after the approval")
        .expect("the rest of the page");
    let took = approved_at.elapsed();
    println!("waiting page: moved on {took:?} after the approval");
    assert!(took <= Duration::from_secs(6), "{took:?}");
    assert!(rest.contains("data-outcome=\"approved\""), "{rest}");
    assert!(rest.contains("href=\"/memories\""), "{rest}");
    assert!(
        rest.trim_end().ends_with("</html>"),
        "the whole page: {rest}"
    );
    // The credentials were fetched and kept: the memories open.
    let (status, html) = app.get_html("/memories").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Lisbon trip plans"), "{html}");
}

#[tokio::test]
async fn memories_need_an_approved_request_and_a_connection() {
    let app = app().await;
    assert_asks_to_connect(app.get("/memories").await, "/auth/memoram", "/memories").await;
    app.connect_memoram().await;
    assert_is_redirect_to(&app.get("/memories").await, "/memoram/access");
    assert_is_redirect_to(&app.get("/memories/new").await, "/memoram/access");
}

#[tokio::test]
async fn a_rejected_request_says_so_and_can_be_asked_again() {
    let app = app().await;
    let request = app.connect_memoram().await;
    assert!(app.mem().reject(&request));
    let (status, html) = app.get_html("/memoram/access").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-status=\"rejected\""));
    assert!(
        !html.contains("http-equiv=\"refresh\""),
        "no point re-checking a rejection"
    );

    let response = app
        .post_with_csrf("/memoram/access", "/memoram/access", &[])
        .await;
    assert_is_redirect_to(&response, "/memoram/access");
    let requests = app.mem().access_requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].status, "pending");
    let (_, html) = app.get_html("/memoram/access").await;
    assert!(html.contains("data-status=\"pending\""));
}

#[tokio::test]
async fn asking_again_needs_the_csrf_token() {
    let app = app().await;
    app.connect_memoram().await;
    let response = app
        .client
        .post(app.url("/memoram/access"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.mem().access_requests().len(), 1);
}

#[tokio::test]
async fn access_revoked_after_approval_sends_the_user_to_a_clear_page() {
    let app = app().await;
    let request = app.connect_memoram_approved().await;
    assert!(app.mem().revoke(&request));
    let response = app.get("/memories").await;
    assert_is_redirect_to(&response, "/memoram/access");
    let (status, html) = app.get_html("/memoram/access").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-status=\"revoked\""), "{html}");
    assert!(html.contains("Ask again"));
    // The credentials are forgotten: the memories wait for a new approval.
    assert_is_redirect_to(&app.get("/memories").await, "/memoram/access");
}

#[tokio::test]
async fn a_memory_is_sealed_with_the_users_key_and_round_trips() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let response = app
        .post_with_csrf(
            "/memories/new",
            "/memories",
            &[
                ("title", "Favourite tea"),
                ("content", "Ada drinks Assam with milk, no sugar."),
                ("tags", "preferences, drinks ,drinks"),
                ("importance", "0.7"),
                ("summary", "Tea order"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id = memory_id(location(&response));

    // What Memoram holds is ciphertext that opens with the user's key.
    let user = app.mem().demo_user();
    let stored = app
        .mem()
        .blobs(&user.user_id)
        .into_iter()
        .find(|b| b.id == id)
        .expect("stored at Memoram");
    assert!(!stored.content.contains("Assam"), "sent encrypted");
    assert!(STANDARD.decode(&stored.content).is_ok(), "base64");
    let key = SecretString::from(user.encryption_key_hex.clone());
    assert_eq!(
        ContentCipher::Aes256Gcm
            .open(&key, &stored.content)
            .as_deref(),
        Ok("Ada drinks Assam with milk, no sugar.")
    );
    assert_eq!(stored.tags, vec!["preferences", "drinks"]);

    let (status, html) = app.get_html(&format!("/memories/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Memory saved."));
    assert!(html.contains("Ada drinks Assam with milk, no sugar."));
    assert!(!html.contains(&stored.content), "never the ciphertext");
    assert!(!html.contains(&user.encryption_key_hex), "never the key");
    assert!(!html.contains(&user.memory_key));
}

#[tokio::test]
async fn editing_replaces_the_tags_and_deleting_removes_the_memory() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let response = app
        .post_with_csrf(
            "/memories/new",
            "/memories",
            &[
                ("content", "Ada's bike is blue."),
                ("tags", "things, colours"),
            ],
        )
        .await;
    let id = memory_id(location(&response));
    let (status, html) = app.get_html(&format!("/memories/{id}/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ada&#39;s bike is blue."));
    assert!(html.contains("things, colours"));

    let response = app
        .post_with_csrf(
            &format!("/memories/{id}/edit"),
            &format!("/memories/{id}"),
            &[("content", "Ada's bike is green now."), ("tags", "bikes")],
        )
        .await;
    assert_is_redirect_to(&response, &format!("/memories/{id}"));
    let user = app.mem().demo_user();
    let stored = app
        .mem()
        .blobs(&user.user_id)
        .into_iter()
        .find(|b| b.id == id)
        .expect("still there");
    assert_eq!(stored.tags, vec!["bikes"], "tags are replaced, not merged");
    let (_, html) = app.get_html(&format!("/memories/{id}")).await;
    assert!(html.contains("green now"));

    let response = app
        .post_with_csrf(
            &format!("/memories/{id}"),
            &format!("/memories/{id}/delete"),
            &[],
        )
        .await;
    assert_is_redirect_to(&response, "/memories");
    assert!(app.mem().blobs(&user.user_id).iter().all(|b| b.id != id));
    let (status, _) = app.get_html(&format!("/memories/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_input_comes_back_with_the_form_and_nothing_is_stored() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let user = app.mem().demo_user();
    let before = app.mem().blobs(&user.user_id).len();
    for (fields, expected) in [
        (vec![("content", "  ")], "needs content"),
        (
            vec![("content", "x"), ("importance", "7")],
            "number from 0 to 1",
        ),
        (
            vec![("content", "x"), ("tags", &"t".repeat(51) as &str)],
            "up to 50",
        ),
    ] {
        let response = app
            .post_with_csrf("/memories/new", "/memories", &fields)
            .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = response.text().await.expect("body");
        assert!(html.contains(expected), "{expected}: {html}");
    }
    // A forged token: 403, and what was typed is still there.
    let response = app
        .client
        .post(app.url("/memories"))
        .form(&[("csrf_token", "forged"), ("content", "keep me")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.text().await.expect("body").contains("keep me"));
    assert_eq!(app.mem().blobs(&user.user_id).len(), before);
}

#[tokio::test]
async fn the_list_filters_by_tag_text_and_importance_and_pages_with_cursors() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let (_, html) = app.get_html("/memories?tag=travel").await;
    assert!(html.contains("Lisbon trip plans"));
    assert!(!html.contains("Garden plans"));
    let (_, html) = app.get_html("/memories?q=tomatoes").await;
    assert!(html.contains("Garden plans"), "searches the content too");
    assert!(!html.contains("Lisbon trip plans"));
    let (_, html) = app.get_html("/memories?importance=0.85").await;
    assert!(html.contains("Incident 4127"));
    assert!(!html.contains("Deploy checklist"));
    // Charles's memories never show.
    let (_, html) = app.get_html("/memories?q=Lisbon").await;
    assert!(!html.contains("Never been to Lisbon"));

    // Eleven memories make two pages of ten.
    for i in 0..4 {
        app.post_with_csrf(
            "/memories/new",
            "/memories",
            &[("title", &format!("Note {i}")), ("content", "x")],
        )
        .await;
    }
    let (_, first) = app.get_html("/memories").await;
    let next = link_with_rel(&first, "next").expect("a Next link");
    assert!(next.contains("cursor="));
    let (status, second) = app.get_html(&next).await;
    assert_eq!(status, StatusCode::OK);
    assert!(second.contains("Page 2"));
    assert!(
        second.contains("Reading list habits"),
        "the oldest is on page 2"
    );
    assert!(!second.contains("id=\"next\""));
    let back = link_with_rel(&second, "prev").expect("a Back link to page 1");
    assert!(!back.contains("cursor="), "page 1 has no cursor: {back}");
    let (_, again) = app.get_html(&back).await;
    assert!(again.contains("Page 1"));
    assert!(again.contains("Note 3"), "{back}: {again}");

    assert_eq!(
        app.get_html("/memories?importance=lots").await.0,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_blob_that_does_not_decrypt_is_shown_as_such_never_as_ciphertext() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let user = app.mem().demo_user();
    let id = app.mem().insert_raw_blob(
        &user.user_id,
        "Sealed elsewhere",
        "bm90IG91ciBjaXBoZXJ0ZXh0IGF0IGFsbA==",
    );
    let (status, html) = app.get_html(&format!("/memories/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("cannot be decrypted with this key (key_version 1)"),
        "{html}"
    );
    assert!(!html.contains("bm90IG91ciBjaXBoZXJ0ZXh0"));
    // Editing it would overwrite content the app cannot read: refused, clearly.
    let (status, html) = app.get_html(&format!("/memories/{id}/edit")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("cannot be decrypted"));
}

#[tokio::test]
async fn a_rotated_key_is_fetched_again_and_used() {
    let app = app().await;
    let request = app.connect_memoram_approved().await;
    let user = app.mem().demo_user();
    let blob = app
        .mem()
        .blobs(&user.user_id)
        .into_iter()
        .find(|b| b.title == "Lisbon trip plans")
        .expect("seed");
    assert_eq!(app.mem().rotate_key(&user.user_id), Some(2));
    let credentials_path = format!("/api/v1/access-requests/{request}/credentials");
    let before = app.mem().request_count(&credentials_path);
    let (status, html) = app.get_html(&format!("/memories/{}", blob.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("pasteis de nata"),
        "opened with the new key: {html}"
    );
    assert_eq!(app.mem().request_count(&credentials_path), before + 1);
    // The new key is kept: the next page needs no new fetch.
    app.get_html(&format!("/memories/{}", blob.id)).await;
    assert_eq!(app.mem().request_count(&credentials_path), before + 1);
}

#[tokio::test]
async fn the_developer_token_is_cached_and_renewed_once_after_it_expires() {
    let app = app().await;
    app.connect_memoram_approved().await;
    app.get_html("/memories").await;
    app.get_html("/memories/tags").await;
    assert_eq!(
        app.mem().developer_tokens_issued(),
        1,
        "one token for every call"
    );

    app.mem().expire_developer_tokens();
    let (status, html) = app.get_html("/memories").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a 401 renews the token and retries: {html}"
    );
    assert_eq!(app.mem().developer_tokens_issued(), 2);
}

#[tokio::test]
async fn short_lived_developer_tokens_are_renewed_before_they_expire() {
    let app = spawn_app_with_memoram(
        MemoramSimulatorConfig {
            developer_token_ttl: Duration::from_secs(2),
            ..MemoramSimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    app.connect_memoram_approved().await;
    let issued = app.mem().developer_tokens_issued();
    // Due for renewal at half its 2 s life: the page uses the token it has (still valid) and
    // the renewal runs beside it, before Memoram would answer 401.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert_eq!(app.get_html("/memories").await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.mem().developer_tokens_issued(), issued + 1);
    assert_eq!(app.mem().request_count("/api/v1/auth/token"), issued + 1);
}

/// The review's finding (2026-12-01): with `/auth/token` slow in the last minute of a valid
/// developer token, every Memoram page queued behind one lock, each retrying the renewal, and
/// most timed out although the current token would have served them all.
#[tokio::test]
async fn a_hanging_token_endpoint_in_the_last_minute_of_a_valid_developer_token_holds_no_page() {
    let app = spawn_app_with_memoram(
        MemoramSimulatorConfig {
            developer_token_ttl: Duration::from_secs(6),
            ..MemoramSimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    app.connect_memoram_approved().await;
    let attempts = app.mem().request_count("/api/v1/auth/token");
    let issued = app.mem().developer_tokens_issued();
    // Past half its life: renewal due, the token still valid for about 3 s more.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    app.mem().set_fault(
        "/api/v1/auth/token",
        Fault {
            delay: Some(Duration::from_secs(30)),
            ..Fault::default()
        },
    );
    let started = std::time::Instant::now();
    let pages: Vec<_> = (0..5)
        .map(|_| {
            let (client, url) = (app.client.clone(), app.url("/memories"));
            tokio::spawn(async move { client.get(url).send().await })
        })
        .collect();
    for page in pages {
        let response = page.await.expect("task").expect("GET /memories");
        assert_eq!(response.status(), StatusCode::OK);
    }
    let elapsed = started.elapsed();
    // The test app's page budget is 4 s; none of it went to waiting for the renewal.
    assert!(elapsed < Duration::from_millis(1_500), "{elapsed:?}");
    assert_eq!(
        app.mem().request_count("/api/v1/auth/token"),
        attempts + 1,
        "one renewal attempt for all five pages"
    );
    assert_eq!(
        app.mem().developer_tokens_issued(),
        issued,
        "none issued yet"
    );
}

#[tokio::test]
async fn a_wrong_api_key_is_a_clear_page_not_a_loop() {
    let app = spawn_app_with_memoram(MemoramSimulatorConfig::default(), |settings| {
        if let Some(client) = settings.memoram.client.as_mut() {
            client.api_key = SecretString::from("not-the-key");
        }
    })
    .await;
    let response = app.connect_memoram_with(true).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(app.mem().request_count("/api/v1/auth/token") <= 2);
}

#[tokio::test]
async fn memoram_faults_give_retry_pages_and_keep_the_connection() {
    let app = app().await;
    app.connect_memoram_approved().await;
    app.mem().set_fault(
        "/api/v1/memory-blobs",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/memories").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(html.contains("Memoram is not answering"), "{html}");
    assert!(html.contains("Try again"));
    app.mem().set_fault(
        "/api/v1/memory-blobs",
        Fault {
            status: Some(429),
            retry_after: Some(7),
            ..Fault::default()
        },
    );
    let response = app.get("/memories").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "7");
    app.mem().set_fault(
        "/api/v1/memory-blobs",
        Fault {
            body: simulators::FaultBody::Html,
            ..Fault::default()
        },
    );
    assert_eq!(app.get_html("/memories").await.0, StatusCode::BAD_GATEWAY);
    app.mem().clear_faults();
    assert_eq!(app.get_html("/memories").await.0, StatusCode::OK);
}

#[tokio::test]
async fn declining_on_memorams_page_is_a_clear_page_and_no_request() {
    let app = app().await;
    let response = app.connect_memoram_with(false).await;
    assert_eq!(response.status(), StatusCode::OK, "a notice, not an error");
    let html = response.text().await.expect("body");
    assert!(html.contains("You did not connect Memoram"), "{html}");
    assert!(app.mem().access_requests().is_empty());
}

#[tokio::test]
async fn a_forged_callback_sends_no_code_to_memoram() {
    let app = app().await;
    let response = app
        .get("/auth/memoram/callback?code=stolen&state=made-up-state-value")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(app.mem().token_requests().is_empty());
}

#[tokio::test]
async fn disconnecting_one_provider_keeps_the_other() {
    let app = app().await;
    app.connect().await;
    app.connect_memoram_approved().await;
    let response = app
        .post_with_csrf("/", "/auth/memoram/disconnect", &[])
        .await;
    assert_is_redirect_to(&response, "/");
    assert_asks_to_connect(app.get("/memories").await, "/auth/memoram", "/memories").await;
    assert_eq!(
        app.get_html("/dashboard").await.0,
        StatusCode::OK,
        "Rememberizer stays"
    );

    app.connect_memoram_approved().await;
    let response = app
        .post_with_csrf("/", "/auth/rememberizer/disconnect", &[])
        .await;
    assert_is_redirect_to(&response, "/");
    assert_asks_to_connect(
        app.get("/dashboard").await,
        "/auth/rememberizer",
        "/dashboard",
    )
    .await;
    assert_eq!(
        app.get_html("/memories").await.0,
        StatusCode::OK,
        "Memoram stays"
    );
}

#[tokio::test]
async fn memoram_is_not_offered_when_rememberizer_is_configured_for_real_and_memoram_is_not() {
    let app = spawn_app().await;
    let (_, html) = app.get_html("/").await;
    assert!(!html.contains("Connect Memoram"));
    assert_eq!(
        app.get("/auth/memoram").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn no_memoram_secret_reaches_a_cookie_or_a_page() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let user = app.mem().demo_user();
    let mut seen = app.cookie_header();
    for path in [
        "/",
        "/memories",
        "/memories/tags",
        "/memories/new",
        "/memoram/access",
    ] {
        let response = app.get(path).await;
        seen.push_str(&format!("{:?}", response.headers()));
        seen.push_str(&response.text().await.unwrap_or_default());
    }
    for secret in [&user.memory_key, &user.encryption_key_hex] {
        assert!(!seen.contains(secret.as_str()));
    }
}

fn with_answers(settings: &mut talk_to_mementos::config::Settings) {
    crate::helpers::with_simulated_answers(settings);
}

#[tokio::test]
async fn ask_grounds_its_answer_in_both_services_and_says_where_each_passage_is_from() {
    let app = spawn_app_with_memoram(MemoramSimulatorConfig::default(), |settings| {
        with_answers(settings);
        // The operator allows memories to go to the answer service (MEMORAM_SEND_TO_LLM=1).
        settings.memoram.send_to_llm = Some(true);
    })
    .await;
    app.connect().await;
    app.connect_memoram_approved().await;
    let (status, html) = app
        .get_html("/ask?q=How%20does%20the%20deploy%20rollback%20work%3F")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Searching Rememberizer and Memoram"));
    assert!(html.contains("data-service=\"Rememberizer\""), "{html}");
    assert!(html.contains("data-service=\"Memoram\""), "{html}");
    assert!(html.contains("Deploy checklist preference"));
    // The memory's decrypted text is a passage, and its title links to its page.
    assert!(html.contains("canary deploy"));
    assert!(hrefs(&html).iter().any(|h| h.starts_with("/memories/mem_")));
    // The model was given both services' passages.
    let prompt = app
        .sim
        .llm_requests()
        .last()
        .expect("an answer was asked for")
        .iter()
        .map(|(_, text)| text.clone())
        .collect::<String>();
    assert!(prompt.contains("canary deploy"), "{prompt}");
    assert!(
        html.contains("class=\"cite\""),
        "the answer cites passages: {html}"
    );
    // And the person is told, with where they went.
    assert!(html.contains("id=\"memories-sent\""), "{html}");
    assert!(
        html.contains("sent, decrypted, to the answer service at 127.0.0.1"),
        "{html}"
    );
}

/// With real Memoram settings and no MEMORAM_SEND_TO_LLM, memories are shown but never sent to
/// the answer service, and the page says so before and after asking.
#[tokio::test]
async fn memories_stay_out_of_the_answer_service_unless_the_operator_allows_it() {
    let app = spawn_app_with_memoram(MemoramSimulatorConfig::default(), with_answers).await;
    app.connect().await;
    app.connect_memoram_approved().await;
    let (_, form) = app.get_html("/ask").await;
    assert!(form.contains("data-sent=\"false\""), "{form}");
    let (status, html) = app
        .get_html("/ask?q=How%20does%20the%20deploy%20rollback%20work%3F")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("canary deploy"),
        "the memory is a passage on the page"
    );
    assert!(html.contains("id=\"memories-not-sent\""), "{html}");
    let prompt = app
        .sim
        .llm_requests()
        .last()
        .expect("an answer was asked for, from Rememberizer's passages")
        .iter()
        .map(|(_, text)| text.clone())
        .collect::<String>();
    assert!(!prompt.contains("canary deploy"), "{prompt}");
    assert!(!prompt.contains("Deploy checklist preference"), "{prompt}");
}

/// With Memoram alone and memories kept from the answer service, nothing is written: the page
/// must not say an answer was written from Rememberizer's passages.
#[tokio::test]
async fn memories_kept_from_the_answer_service_with_memoram_alone_say_no_answer_is_written() {
    let app = spawn_app_with_memoram(MemoramSimulatorConfig::default(), with_answers).await;
    app.connect_memoram_approved().await;
    let (status, html) = app
        .get_html("/ask?q=How%20does%20the%20deploy%20rollback%20work%3F")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("canary deploy"), "{html}");
    assert!(html.contains("id=\"memories-not-sent\""), "{html}");
    assert!(html.contains("so no answer is written from them"), "{html}");
    assert!(!html.contains("Rememberizer's passages only"), "{html}");
    assert!(!html.contains("id=\"answer\""), "no answer section: {html}");
    assert!(app.sim.llm_requests().is_empty(), "no model request");
}

#[tokio::test]
async fn ask_works_with_memoram_alone() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let (status, html) = app
        .get_html("/ask?q=When%20is%20the%20Lisbon%20trip%3F")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Searching Memoram."));
    assert!(html.contains("Lisbon trip plans"));
    assert!(
        !html.contains("Never been to Lisbon"),
        "another user's memory"
    );
    assert_eq!(app.sim.request_count("/api/v1/documents/search/"), 0);
}

#[tokio::test]
async fn a_memoram_outage_leaves_rememberizers_passages_on_the_page() {
    let app = app().await;
    app.connect().await;
    app.connect_memoram_approved().await;
    app.mem().set_fault(
        "/api/v1/memory-blobs",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/ask?q=deploy%20rollback").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Memoram is not answering right now"));
    assert!(html.contains("data-service=\"Rememberizer\""));
}

#[tokio::test]
async fn a_failed_access_request_keeps_the_consent_and_offers_to_ask_again() {
    let app = app().await;
    app.mem().set_fault(
        "/api/v1/access-requests",
        Fault {
            status: Some(503),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let response = app.connect_memoram_with(true).await;
    assert_is_redirect_to(&response, "/memoram/access");
    let (status, html) = app.get_html("/memoram/access").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("did not take the access request"), "{html}");
    assert!(html.contains("data-status=\"none\""));
    assert!(app.mem().access_requests().is_empty());
    // No second consent: asking again uses the kept memory_key.
    let response = app
        .post_with_csrf("/memoram/access", "/memoram/access", &[])
        .await;
    assert_is_redirect_to(&response, "/memoram/access");
    assert_eq!(app.mem().access_requests().len(), 1);
    assert_eq!(app.mem().token_requests().len(), 1, "one code exchange");
}

#[tokio::test]
async fn an_edit_can_clear_a_field() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let response = app
        .post_with_csrf(
            "/memories/new",
            "/memories",
            &[
                ("title", "Temporary title"),
                ("summary", "gone soon"),
                ("content", "x"),
            ],
        )
        .await;
    let id = memory_id(location(&response));
    app.post_with_csrf(
        &format!("/memories/{id}/edit"),
        &format!("/memories/{id}"),
        &[("title", ""), ("summary", ""), ("content", "x")],
    )
    .await;
    let stored = app
        .mem()
        .blobs(&app.mem().demo_user().user_id)
        .into_iter()
        .find(|b| b.id == id)
        .expect("stored");
    assert_eq!(stored.title, "", "the title was cleared");
    let (_, html) = app.get_html(&format!("/memories/{id}")).await;
    assert!(!html.contains("gone soon"));
}

#[tokio::test]
async fn a_memory_written_after_a_key_rotation_is_sealed_with_the_new_key() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let user = app.mem().demo_user();
    assert_eq!(app.mem().rotate_key(&user.user_id), Some(2));
    let response = app
        .post_with_csrf(
            "/memories/new",
            "/memories",
            &[
                ("title", "After rotation"),
                ("content", "sealed with key two"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id = memory_id(location(&response));
    let rotated = app.mem().demo_user();
    assert_eq!(rotated.key_version, 2);
    let stored = app
        .mem()
        .blobs(&user.user_id)
        .into_iter()
        .find(|b| b.id == id)
        .expect("stored");
    let new_key = SecretString::from(rotated.encryption_key_hex.clone());
    assert_eq!(
        ContentCipher::Aes256Gcm
            .open(&new_key, &stored.content)
            .as_deref(),
        Ok("sealed with key two")
    );
}

#[tokio::test]
async fn a_revocation_while_saving_keeps_what_was_typed() {
    let app = app().await;
    let request = app.connect_memoram_approved().await;
    let (_, form) = app.get_html("/memories/new").await;
    let token = crate::helpers::extract_hidden(&form, "csrf_token").expect("token");
    assert!(app.mem().revoke(&request));
    let response = app
        .client
        .post(app.url("/memories"))
        .form(&[
            ("csrf_token", token.as_str()),
            ("content", "do not lose me"),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.expect("html");
    assert!(html.contains("do not lose me"));
    assert!(html.contains("revoked"));
}

#[tokio::test]
async fn ask_says_when_memoram_access_was_revoked() {
    let app = app().await;
    app.connect().await;
    let request = app.connect_memoram_approved().await;
    assert!(app.mem().revoke(&request));
    let (status, html) = app.get_html("/ask?q=deploy%20rollback").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("no longer gives this app access"), "{html}");
    assert!(html.contains("data-service=\"Rememberizer\""));
    assert_is_redirect_to(&app.get("/memories").await, "/memoram/access");
}

#[tokio::test]
async fn each_login_gets_a_new_csrf_token() {
    let app = app().await;
    app.connect().await;
    let (_, before) = app.get_html("/").await;
    let before = crate::helpers::extract_hidden(&before, "csrf_token").expect("token");
    app.connect_memoram().await;
    let (_, after) = app.get_html("/").await;
    let after = crate::helpers::extract_hidden(&after, "csrf_token").expect("token");
    assert_ne!(
        before, after,
        "a token known before the login is worth nothing after it"
    );
    // The old token no longer works.
    let response = app
        .client
        .post(app.url("/auth/memoram/disconnect"))
        .form(&[("csrf_token", before.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_id_that_would_change_the_endpoint_is_a_404_without_a_call() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let before = app.mem().request_count("/api/v1/memory-blobs");
    // (`..` itself is resolved away by any URL parser, this client's included, before it is
    // sent; the unit test of `memory_id` covers a raw `..`.)
    let long = format!("/memories/{}", "a".repeat(129));
    for path in [
        "/memories/a%20b",
        "/memories/a%2Fb/edit",
        "/memories/%3Cx%3E",
        &long,
    ] {
        assert_eq!(
            app.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let response = app
        .post_with_csrf("/memories/new", "/memories/a%20b/delete", &[])
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.mem().request_count("/api/v1/memory-blobs"), before);
}

#[tokio::test]
async fn the_navigation_links_only_to_connected_providers() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let (_, html) = app.get_html("/memories").await;
    let links = hrefs(&html);
    assert!(links.contains(&"/memories".to_owned()));
    assert!(!links.contains(&"/dashboard".to_owned()), "{links:?}");
    app.connect().await;
    let (_, html) = app.get_html("/dashboard").await;
    let links = hrefs(&html);
    assert!(links.contains(&"/dashboard".to_owned()));
    assert!(links.contains(&"/memories".to_owned()));
}

#[tokio::test]
async fn html_in_a_memory_is_shown_as_text() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let user = app.mem().demo_user();
    let key = SecretString::from(user.encryption_key_hex.clone());
    let sealed = ContentCipher::Aes256Gcm
        .seal(&key, "<img src=x onerror=alert(1)>")
        .expect("seals");
    let id = app
        .mem()
        .insert_raw_blob(&user.user_id, "<script>alert(1)</script>", &sealed);
    let (_, list) = app.get_html("/memories").await;
    assert!(!list.contains("<script>alert(1)</script>"));
    assert!(
        list.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{list}"
    );
    let (status, page) = app.get_html(&format!("/memories/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("<img src=x"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
}
