//! `examples/minimal.rs`, the one-file integration, run as its own process and driven over HTTP:
//! against this test's simulator (real mode, so that the token endpoint's calls can be counted),
//! and in demo mode, where it starts the simulator itself.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use simulators::rememberizer::SimulatorConfig;
use url::Url;

use crate::helpers::{
    assert_is_redirect_to, browser, consent_with, escape_html, location, start_simulator,
    CLIENT_ID, CLIENT_SECRET,
};

/// The example's binary, built (or found up to date) by cargo first: a test run limited to
/// this file (`cargo test --test api`) does not build the examples by itself.
fn minimal_binary() -> PathBuf {
    let built = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--example", "minimal", "--offline", "--quiet"])
        .output()
        .expect("cargo runs");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    // This test binary is target/<profile>/deps/api-…; the example sits in target/<profile>/examples.
    let exe = std::env::current_exe().expect("the test binary");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    profile.join("examples").join("minimal")
}

struct Minimal {
    child: Child,
    address: String,
}

impl Drop for Minimal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn spawn_minimal(port: u16, env: &[(&str, String)]) -> Minimal {
    let address = format!("http://127.0.0.1:{port}");
    // An empty directory: no developer's .env is read.
    let dir = std::env::temp_dir().join(format!("ttm-minimal-{port}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let child = Command::new(minimal_binary())
        .current_dir(&dir)
        .env_clear()
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("APP_BASE_URL", &address)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the example starts");
    let minimal = Minimal { child, address };
    for _ in 0..200 {
        if reqwest::get(&minimal.address).await.is_ok() {
            return minimal;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the example did not start listening on {}", minimal.address);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[tokio::test]
async fn the_minimal_example_runs_steps_1_to_5_and_refuses_a_forged_state() {
    let port = free_port();
    let simulator = start_simulator(
        &format!("http://127.0.0.1:{port}"),
        SimulatorConfig::default(),
    );
    let sim = simulator.handle();
    let key = base64::engine::general_purpose::STANDARD.encode([42u8; 64]);
    let app = spawn_minimal(
        port,
        &[
            ("REMEMBERIZER_CLIENT_ID", CLIENT_ID.to_owned()),
            ("REMEMBERIZER_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("REMEMBERIZER_BASE_URL", simulator.base_url().to_string()),
            ("SESSION_KEY", key),
        ],
    )
    .await;
    let client = browser();
    let url = |path: &str| format!("{}{path}", app.address);

    let home = client.get(url("/")).send().await.expect("/");
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.expect("html");
    assert!(
        html.contains(r#"<a href="/auth/rememberizer">Connect Rememberizer</a>"#),
        "{html}"
    );

    // Step 1: state and PKCE S256 on the authorize URL.
    let start = client
        .get(url("/auth/rememberizer"))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), StatusCode::FOUND);
    let authorize = Url::parse(location(&start)).expect("authorize URL");
    let query: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert!(authorize.as_str().starts_with(&format!(
        "{}api/v1/auth/oauth2/authorize/",
        simulator.base_url()
    )));
    assert_eq!(query["client_id"], CLIENT_ID);
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["state"].len() >= 22, "a 128-bit state at least");

    // Step 3 with a forged or a missing state: 4xx, and the code never reaches the token endpoint.
    for callback in [
        "/auth/rememberizer/callback?code=stolen&state=forged",
        "/auth/rememberizer/callback?code=stolen",
    ] {
        let response = client.get(url(callback)).send().await.expect("callback");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{callback}");
    }
    assert!(sim.token_requests().is_empty(), "no token request");

    // The real flow: consent, callback, code exchange, dashboard.
    let start = client
        .get(url("/auth/rememberizer"))
        .send()
        .await
        .expect("start");
    let authorize = Url::parse(location(&start)).expect("authorize URL");
    let callback = consent_with(&client, &authorize, &[1, 2, 3], true).await;
    let done = client.get(callback).send().await.expect("callback");
    assert_is_redirect_to(&done, "/dashboard");
    let exchanges = sim.token_requests();
    assert_eq!(exchanges.len(), 1);
    let form: std::collections::HashMap<_, _> = exchanges[0].form.iter().cloned().collect();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["client_secret"], CLIENT_SECRET, "client_secret_post");
    assert!(form.contains_key("code_verifier"), "PKCE");
    assert_eq!(exchanges[0].status, 200);

    let dashboard = client
        .get(url("/dashboard"))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(dashboard.status(), StatusCode::OK);
    let html = dashboard.text().await.expect("html");
    // What the API says, read with the token the simulator issued.
    let token = sim
        .issued_access_tokens()
        .pop()
        .expect("a token was issued");
    let api = |path: &str| {
        client
            .get(format!("{}api/v1/{path}", simulator.base_url()))
            .bearer_auth(&token)
            .send()
    };
    let account: serde_json::Value = api("account/")
        .await
        .expect("account")
        .json()
        .await
        .expect("json");
    let documents: serde_json::Value = api("documents/")
        .await
        .expect("documents")
        .json()
        .await
        .expect("json");
    let email = account["email"].as_str().expect("an email");
    assert!(html.contains(email), "{html}");
    let names: Vec<&str> = documents["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert!(!names.is_empty());
    for name in names {
        let escaped = escape_html(name);
        assert!(html.contains(&escaped), "{name} is on the page");
        assert!(
            !name.contains('<') || !html.contains(name),
            "{name} is escaped"
        );
    }
    assert!(!html.contains(&token), "the token stays server-side");
}

#[tokio::test]
async fn the_minimal_example_runs_against_its_own_simulator_without_a_client_id() {
    let port = free_port();
    let app = spawn_minimal(port, &[]).await;
    let client = browser();
    let start = client
        .get(format!("{}/auth/rememberizer", app.address))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), StatusCode::FOUND);
    let authorize = Url::parse(location(&start)).expect("authorize URL");
    assert_eq!(authorize.host_str(), Some("127.0.0.1"));
    assert_ne!(
        authorize.port(),
        Some(port),
        "the simulator, not the example"
    );
    let callback = consent_with(&client, &authorize, &[1, 2, 3], true).await;
    let done = client.get(callback).send().await.expect("callback");
    assert_is_redirect_to(&done, "/dashboard");
    let dashboard = client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(dashboard.status(), StatusCode::OK);
    let html = dashboard.text().await.expect("html");
    assert!(html.contains("Connected as"), "{html}");
    assert!(html.matches("<li>").count() >= 3, "{html}");
}

/// A plain client with no cookie store: the test holds the cookie, as a replay would.
fn cookieless() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Step 1 with no cookie yet: the authorize URL and the session cookie that holds the flow.
async fn start_flow(client: &reqwest::Client, app: &Minimal) -> (Url, String) {
    let start = client
        .get(format!("{}/auth/rememberizer", app.address))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), StatusCode::FOUND);
    let cookie = start
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .next()
        .expect("the flow's cookie")
        .to_owned();
    (Url::parse(location(&start)).expect("authorize URL"), cookie)
}

/// This test's simulator, and the example in real mode against it.
async fn spawn_with_simulator() -> (simulators::rememberizer::Simulator, Minimal) {
    let port = free_port();
    let simulator = start_simulator(
        &format!("http://127.0.0.1:{port}"),
        SimulatorConfig::default(),
    );
    let app = spawn_on(port, simulator.base_url().as_str()).await;
    (simulator, app)
}

async fn spawn_against(base_url: &str) -> Minimal {
    spawn_on(free_port(), base_url).await
}

async fn spawn_on(port: u16, base_url: &str) -> Minimal {
    spawn_minimal(
        port,
        &[
            ("REMEMBERIZER_CLIENT_ID", CLIENT_ID.to_owned()),
            ("REMEMBERIZER_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("REMEMBERIZER_BASE_URL", base_url.to_owned()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_callback_replayed_with_the_old_cookie_makes_no_second_code_exchange() {
    let (simulator, app) = spawn_with_simulator().await;
    let client = cookieless();
    let (authorize, old_cookie) = start_flow(&client, &app).await;
    let callback = consent_with(&client, &authorize, &[1, 2, 3], true).await;
    let follow = || {
        client
            .get(callback.clone())
            .header(reqwest::header::COOKIE, &old_cookie)
            .send()
    };
    assert_is_redirect_to(&follow().await.expect("callback"), "/dashboard");
    // The reload, the back button, a proxy's retry: the same callback, the same old cookie.
    let replay = follow().await.expect("replay");
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);
    let exchanges = simulator.handle().token_requests();
    assert_eq!(exchanges.len(), 1, "one code exchange, not two");
}

#[tokio::test]
async fn a_token_response_without_token_type_connects() {
    let provider = super::fidelity::FixtureProvider::start();
    // Rememberizer's own sample reads only `access_token` and `refresh_token`.
    provider.answer("/api/v1/auth/oauth2/token/", 200, "token_minimal.json");
    let app = spawn_against(provider.url.as_str()).await;
    let client = browser();
    let start = client
        .get(format!("{}/auth/rememberizer", app.address))
        .send()
        .await
        .expect("start");
    let authorize = Url::parse(location(&start)).expect("authorize URL");
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("a state");
    let done = client
        .get(format!(
            "{}/auth/rememberizer/callback?code=from-the-provider&state={state}",
            app.address
        ))
        .send()
        .await
        .expect("callback");
    assert_is_redirect_to(&done, "/dashboard");
    assert_eq!(provider.hits("/api/v1/auth/oauth2/token/"), 1);
    let dashboard = client
        .get(format!("{}/dashboard", app.address))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(dashboard
        .text()
        .await
        .expect("html")
        .contains("Connected as"));
}

#[tokio::test]
async fn a_token_endpoint_that_hangs_gives_an_error_page_within_20_seconds() {
    let (simulator, app) = spawn_with_simulator().await;
    simulator.handle().set_fault(
        "/api/v1/auth/oauth2/token/",
        simulators::Fault {
            delay: Some(Duration::from_secs(120)),
            ..simulators::Fault::default()
        },
    );
    let client = browser();
    let start = client
        .get(format!("{}/auth/rememberizer", app.address))
        .send()
        .await
        .expect("start");
    let authorize = Url::parse(location(&start)).expect("authorize URL");
    let callback = consent_with(&client, &authorize, &[1], true).await;
    let started = std::time::Instant::now();
    let response = client.get(callback).send().await.expect("callback");
    let took = started.elapsed();
    println!("a hanging token endpoint: the callback answered in {took:?}");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(took < Duration::from_secs(20), "{took:?}");
    let html = response.text().await.expect("html");
    assert!(html.contains("Rememberizer did not connect"), "{html}");
}
