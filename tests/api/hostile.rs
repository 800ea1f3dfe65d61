//! Hostile input: whatever a browser (or an attacker) sends, the answer is a 4xx with a clear
//! message, never a panic or a 5xx, and never a token request.

use proptest::prelude::*;
use reqwest::StatusCode;

use crate::helpers::assert_asks_to_connect;
use crate::helpers::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Query values, percent-encoded or raw: any text, long text, HTML, and invalid UTF-8.
fn query_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>().prop_map(|s| url::form_urlencoded::byte_serialize(s.as_bytes()).collect()),
        "[a-zA-Z0-9_-]{0,64}",
        Just("%FF%FE%00".to_owned()),
        Just("%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned()),
        "[a-z]{1,8}".prop_map(|s| s.repeat(600)),
    ]
}

fn callback_query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("code"),
        Just("state"),
        Just("error"),
        Just("error_description"),
        Just("other")
    ];
    proptest::collection::vec((key, query_value()), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

#[test]
fn any_callback_query_is_a_4xx_and_never_reaches_the_token_endpoint() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    // A real pending flow exists, so a lucky guess would have something to match.
    rt.block_on(app.start_connect());
    proptest!(ProptestConfig::with_cases(64), |(query in callback_query())| {
        let status = rt.block_on(async {
            app.get(&format!("/auth/rememberizer/callback?{query}")).await.status()
        });
        prop_assert!(status.is_client_error(), "{query} gave {status}");
    });
    assert!(app.sim.token_requests().is_empty());
}

#[test]
fn any_page_number_or_filter_is_answered_without_a_5xx() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    rt.block_on(app.connect());
    proptest!(ProptestConfig::with_cases(64), |(page in query_value(), filter in query_value())| {
        let status = rt.block_on(async {
            app.get(&format!("/dashboard?page={page}&integration_type={filter}")).await.status()
        });
        prop_assert!(
            matches!(status, StatusCode::OK | StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND),
            "page={page} integration_type={filter} gave {status}"
        );
    });
}

#[test]
fn forged_or_truncated_session_cookies_are_ignored() {
    let rt = runtime();
    let app = rt.block_on(spawn_app());
    rt.block_on(app.connect());
    let real = app.cookie_header();
    let value = real
        .split("ttm_session=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("session cookie")
        .to_owned();
    let mut forged = vec![
        value[..value.len() / 2].to_owned(),
        format!("{value}x"),
        value.chars().rev().collect(),
        String::new(),
    ];
    forged.push("A".repeat(4000));
    proptest!(ProptestConfig::with_cases(32), |(random in "[ -~]{0,200}")| {
        let status = rt.block_on(async {
            browser()
                .get(app.url("/dashboard"))
                .header("Cookie", format!("ttm_session={}", random.replace(';', "")))
                .send()
                .await
                .expect("GET")
                .status()
        });
        prop_assert_eq!(status, StatusCode::FORBIDDEN);
    });
    for cookie in forged {
        let status = rt.block_on(async {
            browser()
                .get(app.url("/dashboard"))
                .header("Cookie", format!("ttm_session={cookie}"))
                .send()
                .await
                .expect("GET")
                .status()
        });
        assert_eq!(status, StatusCode::FORBIDDEN, "cookie {cookie:?}");
    }
}

#[tokio::test]
async fn a_cookie_from_another_instance_is_worthless_here() {
    let first = spawn_app().await;
    let second = spawn_app().await;
    second.connect().await;
    let cookie = second.cookie_header();
    let response = browser()
        .get(first.url("/dashboard"))
        .header("Cookie", cookie)
        .send()
        .await
        .expect("GET");
    assert_asks_to_connect(response, "/auth/rememberizer", "/dashboard").await;
}

#[tokio::test]
async fn oversized_bodies_and_headers_are_refused() {
    let app = spawn_app().await;
    app.connect().await;
    let big = "x".repeat(1024 * 1024);
    let response = app
        .client
        .post(app.url("/logout"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("csrf_token={big}"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        app.get("/dashboard").await.status(),
        StatusCode::OK,
        "still logged in"
    );

    let response = browser()
        .get(app.url("/"))
        .header("X-Padding", "y".repeat(128 * 1024))
        .send()
        .await;
    match response {
        Ok(r) => assert!(r.status().is_client_error(), "{}", r.status()),
        // Refusing the connection outright is also a refusal.
        Err(e) => assert!(e.is_request() || e.is_connect() || e.is_body(), "{e}"),
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn odd_paths_and_methods_get_4xx_pages() {
    let app = spawn_app().await;
    for path in ["/dashboard/%FF", "/%00"] {
        let status = app.get(path).await.status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
    // Sent byte for byte: an HTTP client library would normalise `..` away before sending.
    for path in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/%2e%2e%2fsrc%2fmain.rs",
        "/static/style.css/../../Cargo.toml",
    ] {
        let (status, body) = raw_get(&app, path).await;
        assert!((400..500).contains(&status), "{path}: {status}");
        assert!(
            !body.contains("[package]") && !body.contains("fn main"),
            "{path}"
        );
    }
    let (status, body) = raw_get(&app, "/static/style.css").await;
    assert_eq!(status, 200, "the raw request itself works");
    assert!(body.contains("body"), "and serves the file");
    let response = app
        .client
        .delete(app.url("/dashboard"))
        .send()
        .await
        .expect("DELETE");
    assert!(response.status().is_client_error());
    let response = app
        .client
        .post(app.url("/logout"))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("POST json");
    assert!(response.status().is_client_error(), "{}", response.status());
}

/// A GET written straight to the socket, so that the path reaches the server exactly as given.
/// Returns the status and the whole response as text.
async fn raw_get(app: &TestApp, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, text)
}
