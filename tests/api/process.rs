//! What the app prints and how it stops, observed from outside: the real binary as its own
//! process, its output captured.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use simulators::{Fault, FaultBody};

use crate::helpers::*;

/// Waits until the process has printed `needle` (logs are written asynchronously).
async fn wait_for_output(process: &AppProcess, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let output = process.output();
        if output.contains(needle) || started.elapsed() > Duration::from_secs(10) {
            return output;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn secrets_never_reach_the_logs_at_any_level() {
    // Every crate at TRACE, as JSON: the most an operator could ever turn on.
    let (app, process) = spawn_app_process(&[("RUST_LOG", "trace"), ("LOG_FORMAT", "json")]).await;
    let mut secrets = vec![CLIENT_SECRET.to_owned()];

    // A full connect, with its code, state and verifier.
    let authorize = app.start_connect().await;
    secrets.push(query_param(&authorize, "state"));
    let granted: Vec<u64> = app.sim.mementos().iter().map(|m| m.id).collect();
    let callback = app.consent(&authorize, &granted, true).await;
    secrets.push(query_param(&callback, "code"));
    assert_is_redirect_to(&app.follow(&callback).await, "/dashboard");
    // A replayed callback exchanges nothing (the person, connected, is sent on): its code must
    // not be logged either.
    assert_is_redirect_to(&app.follow(&callback).await, "/dashboard");
    assert_eq!(app.token_request_count("authorization_code"), 1);

    assert_eq!(app.get("/dashboard?page=2").await.status(), StatusCode::OK);
    // A refresh, and a failing refresh.
    app.sim.expire_access_tokens();
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
    app.sim.expire_access_tokens();
    app.sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        Fault {
            status: Some(500),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    assert_eq!(
        app.get("/dashboard").await.status(),
        StatusCode::BAD_GATEWAY
    );
    // A question whose search breaks mid-answer: reqwest's error names the URL, whose query
    // holds the question; it must not reach the logs.
    let question = "marmalade7f3a9cquestion";
    app.sim.set_fault(
        "/api/v1/documents/search/",
        Fault {
            body: FaultBody::Truncated,
            remaining: Some(1),
            ..Fault::default()
        },
    );
    assert_eq!(
        app.get(&format!("/ask?q={question}")).await.status(),
        StatusCode::BAD_GATEWAY
    );
    secrets.push(question.to_owned());
    // Memoram: the flow with its code, the developer token, the keys, a memory's content.
    let response = app.get("/auth/memoram").await;
    let authorize = url::Url::parse(location(&response)).expect("authorize URL");
    secrets.push(query_param(&authorize, "state"));
    let callback = app.consent(&authorize, &[], true).await;
    secrets.push(query_param(&callback, "code"));
    assert_is_redirect_to(&app.follow(&callback).await, "/memoram/access");
    let request = app.latest_access_request();
    assert!(app.mem().approve(&request));
    assert_is_redirect_to(&app.get("/memoram/access").await, "/memories");
    let private = "quince4e1b7dprivatememory";
    let saved = app
        .post_with_csrf("/memories/new", "/memories", &[("content", private)])
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (status, page) = app.get_html(location(&saved)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(private));
    app.mem().expire_developer_tokens();
    assert_eq!(app.get("/memories").await.status(), StatusCode::OK);
    let user = app.mem().demo_user();
    let memoram = simulators::memoram::MemoramSimulatorConfig::default();
    secrets.extend([
        private.to_owned(),
        user.memory_key.clone(),
        user.encryption_key_hex.clone(),
        memoram.client_secret,
        memoram.api_key,
    ]);
    let jwts = app.mem().developer_tokens();
    assert!(!jwts.is_empty());
    // The signature part: the header and claims are not secret, and are the same for many.
    secrets.extend(
        jwts.iter()
            .filter_map(|jwt| jwt.rsplit('.').next().map(str::to_owned)),
    );
    // A revoked grant.
    app.sim.revoke_all_grants();
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::FORBIDDEN);

    let cookie = app.cookie_header();
    let session = cookie
        .split("ttm_session=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .expect("session cookie")
        .to_owned();
    secrets.push(session);
    let (_, home) = app.get_html("/").await;
    let csrf = extract_hidden(&home, "csrf_token").expect("the home page has a logout form");
    secrets.push(csrf.clone());
    assert_is_redirect_to(&app.logout(Some(&csrf)).await, "/");

    for request in app.sim.token_requests() {
        for (name, value) in request.form {
            if matches!(
                name.as_str(),
                "code" | "code_verifier" | "refresh_token" | "client_secret"
            ) {
                secrets.push(value);
            }
        }
    }
    for token in app.sim.issued_access_tokens() {
        // Any 32-character window would do; the start is where a leak would begin.
        secrets.push(token[..32].to_owned());
    }

    // Give the app a moment to flush the last lines, then read everything it printed.
    let logs = wait_for_output(&process, "\"http.path\":\"/logout\"").await;
    assert!(
        logs.contains("\"http.path\":\"/logout\""),
        "one line per request, the last included"
    );
    assert!(
        logs.contains("\"name\":\"upstream\""),
        "upstream calls are spans of their own"
    );
    assert!(
        logs.contains("HTTP request") && logs.contains("\"level\":\"TRACE\""),
        "the capture holds the app's trace output ({} bytes)",
        logs.len()
    );
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "LOG_FORMAT=json prints one JSON object per line: {}",
            line.chars().take(200).collect::<String>()
        );
    }
    for secret in &secrets {
        assert!(secret.len() >= 16, "a meaningful secret: {secret:?}");
        if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
            let shown: String = line
                .replace(secret.as_str(), "<SECRET>")
                .chars()
                .take(400)
                .collect();
            panic!("a secret reached the logs: {shown}");
        }
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let (app, mut process) = spawn_app_process(&[]).await;
    app.connect().await;
    let before = app.sim.request_count("/api/v1/documents/");
    app.sim.set_fault(
        "/api/v1/documents/",
        Fault {
            delay: Some(Duration::from_millis(1500)),
            ..Fault::default()
        },
    );
    let in_flight = {
        let (client, url) = (app.client.clone(), app.url("/dashboard"));
        tokio::spawn(async move { client.get(url).send().await })
    };
    // Wait until the request is being served (the app has called the provider).
    let started = Instant::now();
    while app.sim.request_count("/api/v1/documents/") == before {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    process.signal(libc::SIGTERM);

    let response = in_flight
        .await
        .expect("task")
        .expect("the in-flight request is answered");
    assert_eq!(response.status(), StatusCode::OK, "it finished normally");
    let refused = browser().get(app.url("/healthz")).send().await;
    assert!(refused.is_err(), "new requests are refused after SIGTERM");

    let started = Instant::now();
    let status = loop {
        if let Some(status) = process.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the app did not exit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "a clean exit: {status:?}");
}

#[tokio::test]
async fn a_flood_of_anonymous_starts_then_a_real_login() {
    let (app, process) = spawn_app_process(&[]).await;
    let pid = process.child.id();
    let before = rss_kib(pid);
    let started = Instant::now();
    let answered = flood_of_starts(&app.address, 5_000, 32).await;
    let after = rss_kib(pid);
    println!(
        "RSS: {before} KiB before, {after} KiB after {answered} anonymous starts in {:?}",
        started.elapsed()
    );
    assert_eq!(answered, 5_000);
    app.connect().await;
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}
