//! Promises that must hold with two tabs, two instances and a slow provider, not only for one
//! request at a time (issue "Hardening III"). Each test failed on the code before its fix.

use std::time::Duration;

use reqwest::StatusCode;
use simulators::memoram::MemoramSimulatorConfig;
use simulators::Fault;

use crate::helpers::*;

async fn memoram_app() -> TestApp {
    spawn_app_with_memoram(MemoramSimulatorConfig::default(), |_| {}).await
}

/// The CSRF token of this browser's session (from the landing page's forms).
async fn csrf(app: &TestApp) -> String {
    let (_, html) = app.get_html("/").await;
    extract_hidden(&html, "csrf_token").expect("a form with a CSRF token")
}

// ---- One access request at a time, and no stale overwrite (item 3) ----

#[tokio::test]
async fn asking_again_in_two_tabs_at_once_creates_one_request() {
    let app = memoram_app().await;
    let first = app.connect_memoram().await;
    assert!(app.mem().reject(&first));
    let token = csrf(&app).await;
    let asks: Vec<_> = (0..4)
        .map(|_| {
            let (client, url, token) = (
                app.client.clone(),
                app.url("/memoram/access"),
                token.clone(),
            );
            tokio::spawn(
                async move { client.post(url).form(&[("csrf_token", token)]).send().await },
            )
        })
        .collect();
    for ask in asks {
        let response = ask.await.expect("task").expect("POST");
        assert_is_redirect_to(&response, "/memoram/access");
    }
    let requests = app.mem().access_requests();
    assert_eq!(
        requests.len(),
        2,
        "the rejected one and one new: {}",
        requests.len()
    );
    // The one kept is the one created: approving it opens the memories.
    let new = requests
        .iter()
        .find(|r| r.id != first)
        .expect("a new request");
    assert!(app.mem().approve(&new.id));
    assert_is_redirect_to(&app.get("/memoram/access").await, "/memories");
}

#[tokio::test]
async fn asking_again_while_a_request_is_pending_keeps_it() {
    let app = memoram_app().await;
    let pending = app.connect_memoram().await;
    let response = app.post_with_csrf("/", "/memoram/access", &[]).await;
    assert_is_redirect_to(&response, "/memoram/access");
    let requests = app.mem().access_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].id, pending);
}

#[tokio::test]
async fn a_late_403_from_before_a_reapproval_does_not_undo_it() {
    let app = memoram_app().await;
    let first = app.connect_memoram_approved().await;
    assert!(app.mem().revoke(&first));
    // Tab A asks for the tags; Memoram refuses at once (revoked) but the answer is slow.
    app.mem().set_fault(
        "/api/v1/tags",
        Fault {
            delay_after: Some(Duration::from_millis(1500)),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let (client, url) = (app.client.clone(), app.url("/memories/tags"));
    let late = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Tab B asks again, the person approves, the waiting page takes the new credentials.
    let response = app.post_with_csrf("/", "/memoram/access", &[]).await;
    assert_is_redirect_to(&response, "/memoram/access");
    let second = app
        .mem()
        .access_requests()
        .into_iter()
        .find(|r| r.id != first)
        .expect("a new request")
        .id;
    assert!(app.mem().approve(&second));
    assert_is_redirect_to(&app.get("/memoram/access").await, "/memories");
    // Tab A's 403 arrives now, about the old request.
    let response = late.await.expect("task").expect("GET");
    assert_is_redirect_to(&response, "/memoram/access");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, html) = app.get_html("/memories").await;
    assert_eq!(status, StatusCode::OK, "still approved: {html}");
}

// ---- Log out and disconnect are final (item 6) ----

#[tokio::test]
async fn a_refresh_in_flight_during_log_out_does_not_bring_the_tokens_back() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    app.connect().await;
    // Read before the refresh starts: reading it later would wait for the refresh.
    let token = app.csrf_token().await;
    app.sim.expire_access_tokens();
    // The refresh takes effect at once (the refresh token rotates) but its answer is slow.
    app.sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        Fault {
            delay_after: Some(Duration::from_millis(1500)),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let (client, url) = (app.client.clone(), app.url("/dashboard"));
    let page = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = app.logout(Some(&token)).await;
    assert_is_redirect_to(&response, "/");
    // The tokens, not the refresh's lock (held until the refresh ends).
    let tokens = || -> Vec<(String, i64)> {
        let keys = redis.keys_with_ttl("ttm:conn:*");
        keys.into_iter()
            .filter(|(k, _)| !k.ends_with(":lock"))
            .collect()
    };
    assert!(tokens().is_empty(), "logged out");
    let _ = page.await.expect("task");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = tokens();
    assert!(
        keys.is_empty(),
        "the refresh wrote the tokens back: {keys:?}"
    );
}

#[tokio::test]
async fn a_key_fetch_in_flight_during_disconnect_does_not_bring_the_connection_back() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    let request = app.connect_memoram().await;
    assert!(app.mem().approve(&request));
    // The waiting page fetches the credentials; their answer is slow.
    app.mem().set_fault(
        &format!("/api/v1/access-requests/{request}/credentials"),
        Fault {
            delay_after: Some(Duration::from_millis(1500)),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let (client, url) = (app.client.clone(), app.url("/memoram/access"));
    let waiting = tokio::spawn(async move { client.get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let response = app
        .post_with_csrf("/", "/auth/memoram/disconnect", &[])
        .await;
    assert_is_redirect_to(&response, "/");
    let _ = waiting.await.expect("task");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let keys = redis.keys_with_ttl("ttm:memoram:conn:*");
    assert!(
        keys.is_empty(),
        "the key fetch wrote the connection back: {keys:?}"
    );
}

// ---- The landing page shows Memoram's access as it is (item 14) ----

#[tokio::test]
async fn the_landing_page_shows_a_revocation_made_at_memoram() {
    let app = memoram_app().await;
    let request = app.connect_memoram_approved().await;
    let (_, html) = app.get_html("/").await;
    assert!(html.contains("data-memoram=\"approved\""), "{html}");
    assert!(app.mem().revoke(&request));
    let (status, html) = app.get_html("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-memoram=\"revoked\""), "{html}");
    assert!(!html.contains("Open your memories"), "{html}");
}

/// Memoram down: the landing page still serves, and says the state of the access is unknown
/// rather than showing a state it cannot check.
#[tokio::test]
async fn the_landing_page_says_when_memoram_cannot_be_asked() {
    let app = memoram_app().await;
    app.connect_memoram_approved().await;
    app.mem().set_fault(
        "/",
        Fault {
            status: Some(503),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/").await;
    app.mem().clear_faults();
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-memoram=\"unavailable\""), "{html}");
    assert!(html.contains("state of its access is unknown"), "{html}");
    assert!(!html.contains("data-memoram=\"approved\""), "{html}");
}

// ---- Typed text survives a lost connection (item 2) ----

/// A form opened on `form_page`, its CSRF token kept as a tab keeps it.
async fn open_form(app: &TestApp, form_page: &str) -> String {
    let (status, html) = app.get_html(form_page).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    extract_hidden(&html, "csrf_token").expect("a CSRF token")
}

/// The form submitted to `action` with the token it was opened with: the page that came back.
async fn submit(
    app: &TestApp,
    action: &str,
    token: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let mut fields = fields.to_vec();
    fields.push(("csrf_token", token));
    let response = app
        .client
        .post(app.url(action))
        .form(&fields)
        .send()
        .await
        .expect("POST");
    let status = response.status();
    (status, response.text().await.expect("html"))
}

/// Opens `form_page`; another tab posts `disconnect`; then what was typed is submitted. The
/// form comes back with the text (escaped) and says nothing was saved.
async fn typed_before_a_disconnect_comes_back(
    app: &TestApp,
    form_page: &str,
    disconnect: &str,
    action: &str,
    fields: &[(&str, &str)],
    expected: (StatusCode, &str),
) {
    let token = open_form(app, form_page).await;
    let response = app.post_with_csrf("/", disconnect, &[]).await;
    assert_is_redirect_to(&response, "/");
    let (status, html) = submit(app, action, &token, fields).await;
    assert_eq!(status, expected.0, "{html}");
    let (_, typed) = fields.last().expect("the typed text comes last");
    assert!(html.contains(&escape_html(typed)), "{html}");
    assert!(html.contains(expected.1), "{html}");
}

#[tokio::test]
async fn a_memory_typed_before_a_disconnect_in_another_tab_comes_back() {
    let app = memoram_app().await;
    app.connect_memoram_approved().await;
    typed_before_a_disconnect_comes_back(
        &app,
        "/memories/new",
        "/auth/memoram/disconnect",
        "/memories",
        &[
            ("title", "Tea"),
            ("content", "Ada's tea: Earl Grey, no sugar, & a <biscuit>"),
        ],
        (StatusCode::FORBIDDEN, "nothing was saved"),
    )
    .await;
}

#[tokio::test]
async fn an_edit_typed_before_a_disconnect_in_another_tab_comes_back() {
    let app = memoram_app().await;
    app.connect_memoram_approved().await;
    let id = app.mem().blobs(&app.mem().demo_user().user_id)[0]
        .id
        .clone();
    typed_before_a_disconnect_comes_back(
        &app,
        &format!("/memories/{id}/edit"),
        "/auth/memoram/disconnect",
        &format!("/memories/{id}"),
        &[
            ("title", "Meeting"),
            (
                "content",
                "Edited: the <meeting> moved to Thursday & room 4",
            ),
        ],
        (StatusCode::FORBIDDEN, "nothing was saved"),
    )
    .await;
}

#[tokio::test]
async fn a_note_typed_before_a_disconnect_in_another_tab_comes_back() {
    let app = spawn_app().await;
    app.connect().await;
    typed_before_a_disconnect_comes_back(
        &app,
        "/memorize",
        "/auth/rememberizer/disconnect",
        "/memorize",
        &[
            ("name", "Standup"),
            (
                "content",
                "Standup notes: ship the <release> on Friday & tell Ada",
            ),
        ],
        (StatusCode::FORBIDDEN, "nothing was stored"),
    )
    .await;
}

// ---- After a timeout on a write, the outcome is unknown (item 4) ----

/// The provider applies the next write under `path` at once and answers after the app stopped
/// waiting (3 s in the tests).
fn answer_late(set_fault: impl FnOnce(&str, Fault), path: &str) {
    set_fault(
        path,
        Fault {
            delay_after: Some(Duration::from_secs(5)),
            remaining: Some(1),
            ..Fault::default()
        },
    );
}

/// A write cut off by the deadline: a 504 that does not claim nothing was lost, keeps the
/// text, and offers `look_at` to check rather than to save again.
fn says_it_may_have_been_saved(status: StatusCode, html: &str, what: &str, look_at: &str) {
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{html}");
    assert!(html.contains(what), "{html}");
    assert!(!html.contains("nothing was lost"), "{html}");
    assert!(hrefs(html).contains(&look_at.to_owned()), "{html}");
}

#[tokio::test]
async fn a_memory_save_cut_off_by_the_deadline_says_it_may_have_been_saved() {
    let app = memoram_app().await;
    app.connect_memoram_approved().await;
    let user = app.mem().demo_user();
    let before = app.mem().blobs(&user.user_id).len();
    let token = open_form(&app, "/memories/new").await;
    answer_late(|p, f| app.mem().set_fault(p, f), "/api/v1/memory-blobs");
    let content = "The flight leaves at 9:40";
    let (status, html) = submit(
        &app,
        "/memories",
        &token,
        &[("title", "Lisbon"), ("content", content)],
    )
    .await;
    let what = "cannot tell whether your memory was saved";
    says_it_may_have_been_saved(status, &html, what, "/memories");
    assert!(html.contains(content), "{html}");
    // And it was: saving again would have made a second copy.
    assert_eq!(app.mem().blobs(&user.user_id).len(), before + 1);
}

#[tokio::test]
async fn an_edit_cut_off_by_the_deadline_says_it_may_have_been_saved() {
    let app = memoram_app().await;
    app.connect_memoram_approved().await;
    let user = app.mem().demo_user();
    let before = app.mem().blobs(&user.user_id)[0].clone();
    let edit = format!("/memories/{}", before.id);
    let token = open_form(&app, &format!("{edit}/edit")).await;
    answer_late(|p, f| app.mem().set_fault(p, f), "/api/v1/memory-blobs");
    let content = "The flight now leaves at 11:05";
    let (status, html) = submit(
        &app,
        &edit,
        &token,
        &[("title", "Lisbon"), ("content", content)],
    )
    .await;
    let what = "cannot tell whether your memory was saved";
    says_it_may_have_been_saved(status, &html, what, &edit);
    assert!(html.contains(content), "{html}");
    // And it was: Memoram holds the edited memory.
    let after = app
        .mem()
        .blobs(&user.user_id)
        .into_iter()
        .find(|b| b.id == before.id)
        .expect("still there");
    assert_ne!(after.content, before.content, "the edit reached Memoram");
}

#[tokio::test]
async fn a_note_cut_off_by_the_deadline_says_it_may_have_been_stored() {
    let app = spawn_app().await;
    app.connect().await;
    let token = open_form(&app, "/memorize").await;
    answer_late(
        |p, f| app.sim.set_fault(p, f),
        "/api/v1/documents/memorize/",
    );
    let content = "Ship on Friday";
    let (status, html) = submit(
        &app,
        "/memorize",
        &token,
        &[("name", "Standup"), ("content", content)],
    )
    .await;
    let what = "cannot tell whether your note was stored";
    says_it_may_have_been_saved(status, &html, what, "/dashboard");
    assert!(html.contains(content), "{html}");
}

// ---- The developer token's Redis key is per deployment (item 5) ----

/// Two deployments (two Memorams: production and staging) on one Redis: each keeps its own
/// developer token, and neither sends the other's to its Memoram.
#[tokio::test]
async fn deployments_sharing_a_redis_keep_their_own_developer_tokens() {
    let redis = RedisServer::start();
    let on_redis = |settings: &mut talk_to_mementos::config::Settings| {
        settings.session_store = talk_to_mementos::config::SessionStoreKind::Redis(redis.url());
        settings.session_key = Some(talk_to_mementos::config::SessionKeyBytes(
            SHARED_SESSION_KEY.to_vec(),
        ));
    };
    let production = spawn_app_with_memoram(MemoramSimulatorConfig::default(), on_redis).await;
    let staging = spawn_app_with_memoram(MemoramSimulatorConfig::default(), on_redis).await;
    production.connect_memoram().await;
    staging.connect_memoram().await;
    for deployment in [&production, &staging] {
        assert_eq!(deployment.mem().developer_tokens_issued(), 1);
        assert_eq!(
            deployment.mem().request_count("/api/v1/access-requests"),
            1,
            "no call with the other deployment's token (a 401, then a retry)"
        );
    }
    let keys = redis.keys_with_ttl("ttm:memoram:developer_token*");
    assert_eq!(keys.len(), 2, "{keys:?}");
}

// ---- The waiting page stops watching (item 10) ----

#[tokio::test]
async fn the_waiting_page_stops_watching_within_its_time_and_a_closed_tab_stops_it_at_once() {
    let app = spawn_app_with_memoram(MemoramSimulatorConfig::default(), |settings| {
        settings.memoram.access_watch = Duration::from_secs(7);
    })
    .await;
    let request = app.connect_memoram().await;
    let checks_path = format!("/api/v1/access-requests/{request}");
    let before = app.mem().request_count(&checks_path);
    let started = std::time::Instant::now();
    let (status, html) = app.get_html("/memoram/access").await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-outcome=\"stopped\""), "{html}");
    assert!(
        html.contains("id=\"check-again\""),
        "a check-now button: {html}"
    );
    // The first look, then one check after 5 s; the next (at 10 s) is past the 7 s.
    assert_eq!(app.mem().request_count(&checks_path) - before, 2);
    assert!(took < Duration::from_secs(7), "{took:?}");

    // A tab closed while the page watches: no more checks.
    let response = app.get("/memoram/access").await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    let after_close = app.mem().request_count(&checks_path);
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(app.mem().request_count(&checks_path), after_close);
}

// ---- Anonymous requests cannot drive the token endpoint (item 12) ----

/// Start a flow, then call back with a made-up code: one token request each.
async fn burn_a_flow(app: &TestApp, forwarded_for: Option<&str>) -> StatusCode {
    burn_a_flow_in(app, &app.client, forwarded_for).await
}

/// [`burn_a_flow`] in the browser `client` (a browser keeps its 5 newest flows: concurrent
/// burns each take a browser of their own).
async fn burn_a_flow_in(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded_for: Option<&str>,
) -> StatusCode {
    let start = client
        .get(app.url("/auth/rememberizer"))
        .send()
        .await
        .expect("start");
    let authorize = url::Url::parse(location(&start)).expect("authorize URL");
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state");
    let mut request = client.get(app.url(&format!(
        "/auth/rememberizer/callback?code=made-up&state={state}"
    )));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.expect("callback").status()
}

#[tokio::test]
async fn failed_exchanges_from_one_address_stop_reaching_the_token_endpoint() {
    let app = spawn_app().await;
    for _ in 0..10 {
        assert_eq!(burn_a_flow(&app, None).await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(app.token_request_count("authorization_code"), 10);
    let refused = burn_a_flow(&app, None).await;
    assert_eq!(refused, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        app.token_request_count("authorization_code"),
        10,
        "the eleventh made no token request"
    );
    // With no TRUSTED_PROXIES, no peer's X-Forwarded-For is believed, not even loopback's: a
    // client cannot pick the address it is counted by.
    assert_eq!(
        burn_a_flow(&app, Some("203.0.113.7")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.token_request_count("authorization_code"), 10);
}

#[tokio::test]
async fn behind_a_trusted_proxy_clients_are_counted_by_the_address_it_saw_ipv6_per_64() {
    let app = spawn_app_with(simulators::rememberizer::SimulatorConfig::default(), |s| {
        s.trusted_proxies =
            talk_to_mementos::auth::exchange_limit::TrustedProxies::parse("127.0.0.1", None)
                .expect("valid");
    })
    .await;
    // An IPv6 client rotating its address within its /64: one client.
    for i in 0..10 {
        let rotated = format!("2001:db8:7:7:{i:x}::1");
        assert_eq!(
            burn_a_flow(&app, Some(&rotated)).await,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        burn_a_flow(&app, Some("2001:db8:7:7:abcd::99")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Everyone else behind the same proxy is unaffected, whatever the first client claims.
    assert_eq!(
        burn_a_flow(&app, Some("203.0.113.7")).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        burn_a_flow(&app, Some("6.6.6.6, 2001:db8:7:8::1")).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(app.token_request_count("authorization_code"), 12);
}

#[tokio::test]
async fn concurrent_made_up_callbacks_from_one_address_make_at_most_the_limit_of_token_requests() {
    let app = spawn_app().await;
    // The token endpoint is slow, so that all 40 callbacks are in flight together: the limit
    // must count attempts under way, not only the failures already known.
    app.sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        Fault {
            delay: Some(Duration::from_millis(400)),
            ..Fault::default()
        },
    );
    let browsers: Vec<reqwest::Client> = (0..40).map(|_| browser()).collect();
    let statuses = futures_util::future::join_all(
        browsers
            .iter()
            .map(|client| burn_a_flow_in(&app, client, None)),
    )
    .await;
    let sent = app.token_request_count("authorization_code");
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    println!("40 concurrent made-up callbacks: {sent} token requests, {refused} refused with 429");
    assert_eq!(sent, 10, "never more than MAX_FAILED token requests");
    assert_eq!(refused, 30);
    assert_eq!(
        burn_a_flow(&app, None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "and the failures keep counting"
    );
}

#[tokio::test]
async fn an_attempt_in_flight_that_succeeds_gives_its_slot_back() {
    let app = spawn_app().await;
    for _ in 0..9 {
        assert_eq!(burn_a_flow(&app, None).await, StatusCode::BAD_REQUEST);
    }
    // The tenth slot is taken by a real login and given back when it succeeds.
    app.connect().await;
    assert_eq!(burn_a_flow(&app, None).await, StatusCode::BAD_REQUEST);
    assert_eq!(burn_a_flow(&app, None).await, StatusCode::TOO_MANY_REQUESTS);
}

// ---- A login in another tab cannot log the person out (item 13) ----

/// A page that changes the session (a memory saved: its flash message) is in flight while
/// "Connect Rememberizer" completes in another tab, and its answer reaches the browser last. It
/// used to set a cookie for a fresh, empty session: both connections looked lost.
async fn login_while_a_session_change_is_in_flight(app: &TestApp) {
    app.connect_memoram_approved().await;
    let (_, form) = app.get_html("/memories/new").await;
    let token = extract_hidden(&form, "csrf_token").expect("a CSRF token");
    // Tab two is at Rememberizer's consent page; its callback is ready to follow.
    let authorize = app.start_connect().await;
    let mementos: Vec<u64> = app.sim.mementos().into_iter().map(|m| m.id).collect();
    let callback = app.consent(&authorize, &mementos, true).await;
    // Tab one saves a memory; Memoram's answer is slow.
    app.mem().set_fault(
        "/api/v1/memory-blobs",
        Fault {
            delay_after: Some(Duration::from_millis(1200)),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let (client, url) = (app.client.clone(), app.url("/memories"));
    let save = tokio::spawn(async move {
        client
            .post(url)
            .form(&[("csrf_token", token.as_str()), ("content", "Buy oat milk")])
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Tab two's login completes first: a new session id.
    assert_is_redirect_to(&app.follow(&callback).await, "/dashboard");
    // Tab one's answer arrives last.
    let saved = save.await.expect("task").expect("POST");
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    // Both connections are still this browser's.
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
    assert_eq!(app.get("/memories").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_login_in_another_tab_does_not_log_the_person_out() {
    login_while_a_session_change_is_in_flight(&memoram_app().await).await;
}

#[tokio::test]
async fn a_login_in_another_tab_does_not_log_the_person_out_with_redis() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    login_while_a_session_change_is_in_flight(&instances[0]).await;
}
