//! Anonymous traffic never touches the session store: no request from a browser that is not
//! connected writes session state or sets a session cookie, whatever route it hits, with either
//! store (issue 27, item 1).

use reqwest::StatusCode;
use simulators::memoram::MemoramSimulatorConfig;

use crate::helpers::{
    browser, set_cookies, spawn_app_with_memoram, spawn_instances, RedisServer, TestApp,
};

/// Every route the app serves, with the inputs a stranger might send: well-formed, made up,
/// and malformed.
const EVERY_ROUTE: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/auth/rememberizer"),
    (
        "GET",
        "/auth/rememberizer/callback?code=made-up&state=made-up",
    ),
    (
        "GET",
        "/auth/rememberizer/callback?error=access_denied&state=made-up",
    ),
    ("GET", "/auth/rememberizer/callback"),
    ("GET", "/auth/rememberizer/disconnect"),
    ("POST", "/auth/rememberizer/disconnect"),
    ("GET", "/dashboard"),
    ("GET", "/documents/1"),
    ("GET", "/documents/not-a-number"),
    ("GET", "/discussions/1"),
    ("GET", "/mementos"),
    ("GET", "/ask"),
    ("GET", "/ask?q=what+did+I+write"),
    ("GET", "/memorize"),
    ("POST", "/memorize"),
    ("GET", "/auth/memoram"),
    ("GET", "/auth/memoram/callback?code=made-up&state=made-up"),
    ("GET", "/auth/memoram/disconnect"),
    ("POST", "/auth/memoram/disconnect"),
    ("GET", "/memoram/access"),
    ("POST", "/memoram/access"),
    ("GET", "/memories"),
    ("POST", "/memories"),
    ("GET", "/memories/new"),
    ("GET", "/memories/tags"),
    ("GET", "/memories/made-up"),
    ("POST", "/memories/made-up"),
    ("GET", "/memories/made-up/edit"),
    ("GET", "/memories/made-up/delete"),
    ("POST", "/memories/made-up/delete"),
    ("POST", "/logout"),
    ("GET", "/healthz"),
    ("GET", "/healthz?details=1"),
    ("GET", "/readyz"),
    ("GET", "/static/app.css"),
    ("GET", "/no-such-page"),
];

/// A form as a stranger would post it: every field the app's forms have, a made-up CSRF token.
const FORM: &[(&str, &str)] = &[
    ("csrf_token", "made-up"),
    ("name", "A note"),
    ("content", "Some content"),
    ("title", "A memory"),
    ("importance", "0.5"),
];

/// Sends every route, without a cookie and with a session cookie that is no session (forged or
/// from a session long gone), and returns the requests that answered with a session cookie.
async fn requests_that_set_a_session_cookie(app: &TestApp) -> Vec<String> {
    let client = browser();
    let mut offenders = Vec::new();
    for (method, path) in EVERY_ROUTE {
        for cookie in [None, Some("ttm_session=forged-or-from-a-session-long-gone")] {
            let url = app.url(path);
            let mut request = match *method {
                "POST" => client.post(&url).form(FORM),
                _ => client.get(&url),
            };
            if let Some(cookie) = cookie {
                request = request.header(reqwest::header::COOKIE, cookie);
            }
            let response = request.send().await.expect("the app answers");
            assert_ne!(
                response.status(),
                StatusCode::INTERNAL_SERVER_ERROR,
                "{method} {path}"
            );
            if set_cookies(response.headers())
                .iter()
                .any(|c| c.starts_with("ttm_session="))
            {
                offenders.push(format!("{method} {path} (cookie: {cookie:?})"));
            }
        }
    }
    offenders
}

#[tokio::test]
async fn no_anonymous_request_sets_a_session_cookie_with_the_memory_store() {
    let app = spawn_app_with_memoram(MemoramSimulatorConfig::default(), |_| {}).await;
    let offenders = requests_that_set_a_session_cookie(&app).await;
    assert!(
        offenders.is_empty(),
        "these wrote a session for nobody: {offenders:#?}"
    );
    // The connected path still sets one.
    app.connect().await;
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn no_anonymous_request_writes_to_redis_and_a_connected_browser_is_kept() {
    let redis = RedisServer::start();
    let instances = spawn_instances(1, &redis).await;
    let app = &instances[0];
    app.connect().await;
    let connected_keys = redis.keys_with_ttl("ttm:session:*");
    assert_eq!(connected_keys.len(), 1, "{connected_keys:?}");

    for _ in 0..3 {
        let offenders = requests_that_set_a_session_cookie(app).await;
        assert!(
            offenders.is_empty(),
            "these wrote a session for nobody: {offenders:#?}"
        );
    }
    let keys = redis.keys_with_ttl("ttm:session:*");
    assert_eq!(
        keys.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        connected_keys.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "the only session in Redis is the connected browser's"
    );
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}
