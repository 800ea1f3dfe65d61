use std::collections::HashMap;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use simulators::Fault;
use url::Url;

use crate::helpers::assert_asks_to_connect;
use crate::helpers::*;

#[tokio::test]
async fn the_landing_page_offers_to_connect_rememberizer() {
    let app = spawn_app().await;
    let (status, html) = app.get_html("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(hrefs(&html).contains(&"/auth/rememberizer".to_owned()));
    assert!(html.contains("Connect Rememberizer"));
    assert!(
        !hrefs(&html).contains(&"/dashboard".to_owned()) && !html.contains("logout"),
        "no dashboard link or logout form when not connected"
    );
}

#[tokio::test]
async fn step_1_redirects_to_the_authorize_endpoint_with_state_and_pkce() {
    let app = spawn_app().await;
    // A forged Host header must not change the redirect_uri: it comes from APP_BASE_URL.
    let response = app
        .client
        .get(app.url("/auth/rememberizer"))
        .header("Host", "evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::FOUND);
    let authorize = url::Url::parse(location(&response)).expect("url");
    assert_eq!(
        authorize.as_str().split('?').next(),
        Some(format!("{}api/v1/auth/oauth2/authorize/", app.sim_url).as_str())
    );
    let params: HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], CLIENT_ID);
    assert_eq!(params["response_type"], "code");
    assert_eq!(
        params["redirect_uri"],
        format!("{}/auth/rememberizer/callback", app.address)
    );
    assert_eq!(params["scope"], "offline_access");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["code_challenge"].len(), 43, "SHA-256, base64url");
    // At least 128 bits of state: 32 random bytes base64url-encoded here.
    assert!(params["state"].len() >= 22);
    assert!(!params.contains_key("client_secret"));
}

#[tokio::test]
async fn connecting_lands_on_the_dashboard_with_the_granted_documents() {
    let app = spawn_app().await;
    let mementos = app.sim.mementos();
    let granted = mementos
        .iter()
        .find(|m| !m.document_ids.is_empty())
        .expect("a memento with documents");
    let response = app.connect_with(&[granted.id]).await;
    assert_is_redirect_to(&response, "/dashboard");

    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Ada Lovelace"), "the account is shown");
    let documents = app.sim.documents();
    let expected = app.expected_document_ids(&[granted.id]);
    assert!(
        html.contains(&format!("({})", expected.len())),
        "the count is the API's"
    );
    for doc in documents.iter().filter(|d| !d.name.contains('<')) {
        let shown = html.contains(&doc.name);
        if expected.contains(&doc.id) {
            // The first page holds up to 20 of them.
            if expected
                .iter()
                .position(|id| *id == doc.id)
                .is_some_and(|i| i < 20)
            {
                assert!(shown, "granted document {:?} is listed", doc.name);
            }
        } else {
            assert!(
                !shown,
                "document {:?} of another memento is hidden",
                doc.name
            );
        }
    }
    let (_, home) = app.get_html("/").await;
    assert!(
        home.contains("Welcome back"),
        "the landing page shows the account"
    );
    assert!(home.contains("logout\"") && home.contains("Log out"));
}

#[tokio::test]
async fn step_4_sends_the_code_verifier_and_the_client_secret_in_the_body() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let challenge = query_param(&authorize, "code_challenge");
    let callback = app.consent(&authorize, &[], true).await;
    let response = app.follow(&callback).await;
    assert_is_redirect_to(&response, "/dashboard");

    let requests = app.sim.token_requests();
    assert_eq!(requests.len(), 1);
    let form: HashMap<_, _> = requests[0].form.iter().cloned().collect();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_secret"], CLIENT_SECRET);
    assert_eq!(
        form["redirect_uri"],
        format!("{}/auth/rememberizer/callback", app.address)
    );
    let verifier = &form["code_verifier"];
    let computed = base64_url(&Sha256::digest(verifier.as_bytes()));
    assert_eq!(
        computed, challenge,
        "the verifier matches the challenge of Step 1"
    );
    assert!(requests[0].authorization_header.is_none(), "no HTTP Basic");
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn a_callback_without_state_is_refused_and_no_token_is_requested() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[], true).await;
    let mut without_state = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != "state")
        .collect();
    without_state.query_pairs_mut().clear().extend_pairs(pairs);

    let response = app.follow(&without_state).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.expect("body");
    assert!(html.contains("This sign-in could not be completed"));
    assert_eq!(app.sim.token_requests().len(), 0);
}

#[tokio::test]
async fn a_forged_state_is_refused_and_the_code_is_never_sent() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[], true).await;
    let mut forged = callback.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "state" {
                (k, "forged".repeat(8))
            } else {
                (k, v)
            }
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);

    let response = app.follow(&forged).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.sim.token_requests().len(), 0);
    assert_asks_to_connect(
        app.get("/dashboard").await,
        "/auth/rememberizer",
        "/dashboard",
    )
    .await;
}

#[tokio::test]
async fn a_callback_started_in_another_browser_is_refused() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[], true).await;
    // The attacker's browser completes the flow; the victim's browser receives the callback.
    let victim = browser();
    let response = victim.get(callback).send().await.expect("callback");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.sim.token_requests().len(), 0);
}

/// Back, then "Allow" again: the replayed callback makes no second token request. To the
/// browser that is connected already it is no failure: on to the dashboard, which says so once
/// (issue 29, item 7). Any other browser gets the error page.
#[tokio::test]
async fn a_replayed_callback_is_refused_without_a_second_token_request() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[], true).await;
    assert_is_redirect_to(&app.follow(&callback).await, "/dashboard");
    let replay = app.follow(&callback).await;
    assert_is_redirect_to(&replay, "/dashboard");
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("You&#39;re already connected to Rememberizer."),
        "{html}"
    );
    assert!(!html.contains("could not be completed"));
    let (_, again) = app.get_html("/dashboard").await;
    assert!(!again.contains("already connected"), "said once");
    assert_eq!(app.sim.token_requests().len(), 1);

    let other = app.second_browser();
    let response = other.follow(&callback).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.expect("body");
    assert!(html.contains("This sign-in could not be completed"));
    assert_eq!(app.sim.token_requests().len(), 1);
}

#[tokio::test]
async fn declining_consent_shows_a_friendly_page_and_a_way_to_try_again() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[], false).await;
    assert!(callback
        .query_pairs()
        .any(|(k, v)| k == "error" && v == "access_denied"));

    let response = app.follow(&callback).await;
    // A choice, not an error (issue 29, item 7): a notice, no error number, no request id.
    assert_eq!(response.status(), StatusCode::OK);
    // The declined flow is over: its cookie goes with the answer.
    let cookies = set_cookies(response.headers());
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("ttm_flow_") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
    let html = response.text().await.expect("body");
    assert!(html.contains("You did not connect Rememberizer"));
    assert!(html.contains("Nothing was connected"), "{html}");
    assert!(
        !html.contains("Error 403") && !html.contains("request id"),
        "{html}"
    );
    assert!(
        hrefs(&html).contains(&"/auth/rememberizer".to_owned()),
        "a way to try again"
    );
    assert_eq!(app.sim.token_requests().len(), 0);

    // Trying again works.
    app.connect().await;
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn provider_error_descriptions_are_shown_as_text() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let state = query_param(&authorize, "state");
    let mut callback = url::Url::parse(&app.url("/auth/rememberizer/callback")).expect("url");
    callback
        .query_pairs_mut()
        .append_pair("error", "server_error")
        .append_pair("error_description", "<script>alert('x')</script> try later")
        .append_pair("state", &state);
    let response = app.follow(&callback).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = response.text().await.expect("body");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; try later"));
    assert!(!html.contains("<script>alert"));
    assert_eq!(app.sim.token_requests().len(), 0);
}

#[tokio::test]
async fn several_tabs_can_connect_at_once() {
    let app = spawn_app().await;
    let first = app.start_connect().await;
    let second = app.start_connect().await;
    assert_ne!(
        first.query_pairs().find(|(k, _)| k == "state"),
        second.query_pairs().find(|(k, _)| k == "state")
    );
    // The tab opened first finishes last; both flows are still valid.
    let second_callback = app.consent(&second, &[], true).await;
    let first_callback = app.consent(&first, &[], true).await;
    assert_is_redirect_to(&app.follow(&first_callback).await, "/dashboard");
    assert_is_redirect_to(&app.follow(&second_callback).await, "/dashboard");
    assert_eq!(app.token_request_count("authorization_code"), 2);
}

#[tokio::test]
async fn starting_a_flow_stores_nothing_on_the_server() {
    let app = spawn_app().await;
    let response = app.get("/auth/rememberizer").await;
    let cookies = set_cookies(response.headers());
    assert!(
        session_cookie(&cookies).is_none(),
        "no session for a visitor who is not connected: {cookies:?}"
    );
    let flow = cookies
        .iter()
        .find(|c| c.starts_with("ttm_flow_"))
        .expect("the flow's own cookie");
    assert!(flow.contains("HttpOnly"));
    assert!(flow.contains("SameSite=Lax"));
    assert!(flow.contains("Path=/auth/rememberizer"));
    assert!(flow.contains("Max-Age=600"), "{flow}");
    assert!(!flow.contains("Secure"), "plain http in tests");
    // Encrypted: neither the state nor the verifier can be read from it.
    let authorize = url::Url::parse(location(&response)).expect("url");
    let state = query_param(&authorize, "state");
    let value = flow.split(';').next().unwrap_or_default();
    assert!(!value.contains(&state), "{value}");
}

#[tokio::test]
async fn the_session_id_is_renewed_on_login() {
    let app = spawn_app().await;
    let response = app.connect_with(&[1]).await;
    let before = session_cookie(&set_cookies(response.headers())).expect("a session starts");
    // The same browser connects again (another account, new mementos): a new session id.
    let response = app.connect_with(&[1]).await;
    let after = session_cookie(&set_cookies(response.headers())).expect("a new session cookie");
    // Comparing `before` and `after` would prove nothing: the cookie is encrypted with a fresh
    // nonce each time, so even the same session key gives a different value. What matters is
    // that the new cookie opens the connected session and the old one opens nothing.
    let renewed = browser()
        .get(app.url("/dashboard"))
        .header("Cookie", format!("ttm_session={after}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        renewed.status(),
        StatusCode::OK,
        "the new cookie is connected"
    );

    // The earlier session id is worth nothing now.
    let fixated = browser();
    let response = fixated
        .get(app.url("/dashboard"))
        .header("Cookie", format!("ttm_session={before}"))
        .send()
        .await
        .expect("GET");
    assert_asks_to_connect(response, "/auth/rememberizer", "/dashboard").await;
}

fn session_cookie(cookies: &[String]) -> Option<String> {
    cookies.iter().find_map(|c| {
        c.strip_prefix("ttm_session=")
            .map(|rest| rest.split(';').next().unwrap_or_default().to_owned())
    })
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_holds_no_token() {
    let app = spawn_app().await;
    let response = app.connect_with(&[1]).await;
    let cookies = set_cookies(response.headers());
    let cookie = cookies
        .iter()
        .find(|c| c.starts_with("ttm_session="))
        .expect("session cookie");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    assert!(cookie.contains("Max-Age="), "a bounded lifetime");
    assert!(!cookie.contains("Secure"), "plain http in tests");
    let value = session_cookie(&cookies).expect("value");
    assert!(
        value.len() < 300,
        "an opaque id, not a token ({} bytes)",
        value.len()
    );
    // The spent flow's cookie is removed with the same answer.
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("ttm_flow_") && c.contains("Max-Age=0")),
        "{cookies:?}"
    );
}

#[tokio::test]
async fn an_https_app_base_url_makes_the_cookies_secure() {
    let app = spawn_app_with(Default::default(), |settings| {
        settings.app_base_url = Some(url::Url::parse("https://mementos.example").expect("url"));
    })
    .await;
    let response = app.get("/auth/rememberizer").await;
    let cookies = set_cookies(response.headers());
    assert!(cookies
        .iter()
        .any(|c| c.starts_with("ttm_flow_") && c.contains("Secure")));
    assert!(response.headers().contains_key("strict-transport-security"));
}

#[tokio::test]
async fn concurrent_callbacks_with_one_code_exchange_it_once() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[1], true).await;
    // A reload, a proxy retry: eight copies of the same callback at once.
    let copies = (0..8).map(|_| app.follow(&callback));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(copies)
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        app.token_request_count("authorization_code"),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| s.is_redirection()).count(),
        1,
        "one connects: {statuses:?}"
    );
}

#[tokio::test]
async fn tabs_starting_flows_at_once_keep_every_flow() {
    let app = spawn_app().await;
    // Six tabs of one browser start at the same moment; five flows are kept (the bound), and
    // none overwrites another.
    let starts: Vec<url::Url> =
        futures_util::future::join_all((0..5).map(|_| app.start_connect())).await;
    for authorize in starts {
        let callback = app.consent(&authorize, &[1], true).await;
        assert_is_redirect_to(&app.follow(&callback).await, "/dashboard");
    }
    assert_eq!(app.token_request_count("authorization_code"), 5);
}

#[tokio::test]
async fn get_logout_changes_nothing() {
    let app = spawn_app().await;
    app.connect().await;
    let response = app.get("/logout").await;
    assert!(
        matches!(
            response.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ),
        "{}",
        response.status()
    );
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_without_the_csrf_token_is_refused() {
    let app = spawn_app().await;
    app.connect().await;
    let response = app.logout(None).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app.logout(Some("not-the-token")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_destroys_the_session_on_the_server() {
    let app = spawn_app().await;
    app.connect().await;
    let token = app.csrf_token().await;
    let saved_cookie = app.cookie_header();
    assert!(saved_cookie.contains("ttm_session="));

    let response = app.logout(Some(&token)).await;
    assert_is_redirect_to(&response, "/");
    assert_asks_to_connect(
        app.get("/dashboard").await,
        "/auth/rememberizer",
        "/dashboard",
    )
    .await;

    // Replaying the old cookie does not bring the session back: it was purged server-side.
    let replay = browser()
        .get(app.url("/dashboard"))
        .header("Cookie", saved_cookie)
        .send()
        .await
        .expect("GET");
    assert_asks_to_connect(replay, "/auth/rememberizer", "/dashboard").await;
}

#[tokio::test]
async fn a_failed_code_exchange_offers_a_new_flow_and_never_links_the_code() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[1], true).await;
    let code = query_param(&callback, "code");
    app.sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        Fault {
            status: Some(503),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let response = app.follow(&callback).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let html = response.text().await.expect("html");
    // Tera escapes `/` in attributes.
    assert!(
        html.contains(r#"href="/auth/rememberizer">Try again</a>"#),
        "Try again starts a new flow: {html}"
    );
    assert!(!html.contains(&code), "the code is nowhere on the page");
    assert!(!hrefs(&html).iter().any(|h| h.contains("callback")));
}

#[tokio::test]
async fn an_error_callback_with_a_forged_state_shows_none_of_its_text() {
    let app = spawn_app().await;
    app.start_connect().await;
    let mut callback = url::Url::parse(&app.url("/auth/rememberizer/callback")).expect("url");
    callback
        .query_pairs_mut()
        .append_pair("error", "server_error")
        .append_pair(
            "error_description",
            "Call support at +1 555 0100 now\nlevel=ERROR forged",
        )
        .append_pair("state", "made-up-state-0123456789abcdefghij");
    let response = app.follow(&callback).await;
    assert!(response.status().is_client_error(), "{}", response.status());
    let html = response.text().await.expect("body");
    assert!(
        !html.contains("Call support"),
        "no attacker text on our origin"
    );
    assert!(!html.contains("server_error"));
    assert_eq!(app.sim.token_requests().len(), 0);
}

#[tokio::test]
async fn a_request_racing_logout_does_not_bring_the_session_back() {
    let app = spawn_app().await;
    app.connect().await;
    let (_, form) = app.get_html("/memorize").await;
    let csrf = extract_hidden(&form, "csrf_token").expect("csrf");
    // A note whose storing takes a second; the user logs out in another tab meanwhile.
    app.sim.set_fault(
        "/api/v1/documents/memorize/",
        simulators::Fault {
            delay: Some(std::time::Duration::from_secs(1)),
            remaining: Some(1),
            ..Default::default()
        },
    );
    let slow = {
        let (client, url, csrf) = (app.client.clone(), app.url("/memorize"), csrf.clone());
        tokio::spawn(async move {
            client
                .post(url)
                .form(&[
                    ("csrf_token", csrf.as_str()),
                    ("name", "n"),
                    ("content", "c"),
                ])
                .send()
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_is_redirect_to(&app.logout(Some(&csrf)).await, "/");
    let stored = slow.await.expect("task").expect("POST");
    assert!(stored.status().is_redirection(), "{}", stored.status());

    // The note's answer came last and carried the session: it must not be connected again.
    assert_asks_to_connect(
        app.get("/dashboard").await,
        "/auth/rememberizer",
        "/dashboard",
    )
    .await;
}

#[tokio::test]
async fn concurrent_first_page_loads_after_login_share_one_csrf_token() {
    let app = spawn_app().await;
    app.connect().await;
    let loads = (0..6).map(|_| app.get_html("/memorize"));
    let tokens: Vec<String> = futures_util::future::join_all(loads)
        .await
        .into_iter()
        .map(|(_, html)| extract_hidden(&html, "csrf_token").expect("csrf"))
        .collect();
    assert!(
        tokens.windows(2).all(|pair| pair[0] == pair[1]),
        "every tab's forms carry the same token: {tokens:?}"
    );
    // And that token is the one the session checks.
    assert_is_redirect_to(&app.logout(Some(&tokens[0])).await, "/");
}

/// Connecting from a page that needs it comes back to that page (`return_to`, kept in the flow's
/// encrypted cookie); a `return_to` that is not a path of this app is dropped (never an open
/// redirect), and the person lands on the dashboard.
#[tokio::test]
async fn connecting_comes_back_to_the_page_asked_for_and_never_to_another_origin() {
    let app = spawn_app().await;
    let mementos = app.sim.mementos();
    let shared = [mementos[0].id];
    let connect_from = |return_to: &'static str| {
        let app = &app;
        async move {
            let start = app
                .get(&format!(
                    "/auth/rememberizer?return_to={}",
                    url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect::<String>()
                ))
                .await;
            assert_eq!(start.status(), StatusCode::FOUND);
            let authorize = Url::parse(location(&start)).expect("authorize URL");
            assert!(
                !authorize.as_str().contains("return_to"),
                "it stays with the app: {authorize}"
            );
            let callback = app.consent(&authorize, &shared, true).await;
            location(&app.follow(&callback).await).to_owned()
        }
    };
    assert_eq!(
        connect_from("/mementos?x=1").await,
        "/mementos?x=1",
        "back where the person was going"
    );
    for hostile in [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example/phish",
        "javascript:alert(1)",
        "/auth/rememberizer",
    ] {
        assert_eq!(connect_from(hostile).await, "/dashboard", "{hostile}");
    }
}

/// Declining a second consent while connected says the earlier connection is kept, and keeps it.
#[tokio::test]
async fn declining_while_connected_keeps_the_earlier_connection_and_says_so() {
    let app = spawn_app().await;
    app.connect().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[], false).await;
    let response = app.follow(&callback).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("body");
    assert!(
        html.contains("Your earlier connection to Rememberizer is kept."),
        "{html}"
    );
    assert!(html.contains("action=\"/logout\""), "the menu, connected");
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}
