use reqwest::StatusCode;

use crate::helpers::*;

fn assert_security_headers(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: missing {name}"))
            .to_owned()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
    assert!(header("permissions-policy").contains("camera=()"), "{what}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in [
        "/",
        "/healthz",
        "/static/style.css",
        "/no-such-page",
        "/auth/rememberizer",
    ] {
        let response = app.get(path).await;
        assert_security_headers(&response, path);
    }
    let response = app.get("/auth/rememberizer/callback?state=x&code=y").await;
    assert_security_headers(&response, "callback error");
}

#[tokio::test]
async fn pages_are_not_cached_but_static_files_are() {
    let app = spawn_app().await;
    app.connect().await;
    let dashboard = app.get("/dashboard").await;
    assert_eq!(dashboard.headers()["cache-control"], "no-store");
    let css = app.get("/static/style.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .starts_with("public"));
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    // Served from the binary with an ETag: a revalidation costs a 304 and no body.
    let etag = css.headers()["etag"].to_str().expect("ascii").to_owned();
    let again = app
        .client
        .get(app.url("/static/style.css"))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(again.bytes().await.expect("body").is_empty());
    assert_eq!(
        app.get("/static/nope.css").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn unknown_pages_get_the_apps_404_page() {
    let app = spawn_app().await;
    let response = app.get("/no-such-page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    let html = response.text().await.expect("body");
    assert!(html.contains("Page not found"));
    assert!(
        html.contains(r#"href="/static/style.css""#),
        "in the shared layout"
    );
}

#[tokio::test]
async fn health_is_reported() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("body"), "ok");
}

#[tokio::test]
async fn tokens_and_codes_never_reach_the_browser() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let callback = app.consent(&authorize, &[], true).await;
    let code = query_param(&callback, "code");
    let response = app.follow(&callback).await;
    // The callback answers with a redirect to a clean URL: no code or state in the address bar.
    assert_is_redirect_to(&response, "/dashboard");
    let mut seen = String::new();
    for path in ["/", "/dashboard", "/dashboard?page=2"] {
        let response = app.get(path).await;
        for (_, value) in response.headers() {
            seen.push_str(value.to_str().unwrap_or_default());
        }
        seen.push_str(&response.text().await.expect("body"));
    }
    seen.push_str(&app.cookie_header());
    assert!(!seen.contains(&code));
    let token_form = &app.sim.token_requests()[0].form;
    let verifier = token_form
        .iter()
        .find(|(k, _)| k == "code_verifier")
        .map(|(_, v)| v.clone())
        .expect("verifier");
    assert!(!seen.contains(&verifier));
    assert!(!seen.contains(CLIENT_SECRET));
    // The access token is over 1.5 KB; no 40-character piece of any token appears either.
    for token in app.sim.issued_access_tokens() {
        assert!(token.len() >= 1500);
        assert!(!seen.contains(&token[..40]));
    }
}

#[tokio::test]
async fn the_simulators_consent_page_carries_the_same_protections() {
    let app = spawn_app().await;
    let authorize = app.start_connect().await;
    let page = app
        .client
        .get(authorize.clone())
        .send()
        .await
        .expect("consent page");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    for directive in [
        "default-src 'self'",
        "script-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("<style") && !html.contains("<script"),
        "nothing inline"
    );
    let css = app
        .client
        .get(app.sim_url.join("/consent.css").expect("url"))
        .send()
        .await
        .expect("css");
    assert_eq!(css.status(), StatusCode::OK);
    // And the flow still works under that policy.
    let callback = app.consent(&authorize, &[1], true).await;
    assert_is_redirect_to(&app.follow(&callback).await, "/dashboard");
}
