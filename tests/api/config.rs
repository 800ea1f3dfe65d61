//! The binary's start-up: configuration errors and demo mode.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use talk_to_mementos::config::Settings;
use talk_to_mementos::startup::Application;

use crate::helpers::{assert_is_redirect_to, browser, consent_with, hrefs, location, read_until};

fn run_binary(env: &[(&str, &str)]) -> std::process::Output {
    // An empty working directory, so that no developer's .env is picked up.
    let dir = std::env::temp_dir().join(format!("ttm-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_talk-to-mementos"));
    command
        .current_dir(&dir)
        .env_clear()
        .env("BIND_ADDR", "127.0.0.1:0")
        .stdin(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

#[test]
fn a_misconfiguration_stops_the_start_with_one_line_naming_the_variable() {
    for (env, variable) in [
        (
            vec![("REMEMBERIZER_CLIENT_ID", "abc")],
            "REMEMBERIZER_CLIENT_SECRET",
        ),
        (
            vec![("REMEMBERIZER_BASE_URL", "not a url")],
            "REMEMBERIZER_BASE_URL",
        ),
        (vec![("SESSION_KEY", "short")], "SESSION_KEY"),
        (vec![("BIND_ADDR", "nowhere")], "BIND_ADDR"),
        (vec![("APP_BASE_URL", "ftp://x")], "APP_BASE_URL"),
        (vec![("MEMORAM_CLIENT_ID", "abc")], "MEMORAM_CLIENT_SECRET"),
        (
            vec![("MEMORAM_CONTENT_CIPHER", "des")],
            "MEMORAM_CONTENT_CIPHER",
        ),
        // Partial configurations: a provider is simulated only when none of its settings is set.
        (
            vec![("REMEMBERIZER_CLIENT_SECRET", "shh")],
            "REMEMBERIZER_CLIENT_ID is required when REMEMBERIZER_CLIENT_SECRET is set",
        ),
        (
            vec![("MEMORAM_API_KEY", "k")],
            "MEMORAM_CLIENT_ID is required when MEMORAM_API_KEY is set",
        ),
        (
            vec![("REMEMBERIZER_CLIENTID", "abc")],
            "did you mean REMEMBERIZER_CLIENT_ID?",
        ),
        // Demo mode is for this machine only.
        (vec![("BIND_ADDR", "0.0.0.0:0")], "BIND_ADDR=0.0.0.0:0"),
        (
            vec![("APP_BASE_URL", "https://mementos.example.com")],
            "APP_BASE_URL=https://mementos.example.com/",
        ),
    ] {
        let output = run_binary(&env);
        assert!(!output.status.success(), "{variable}: must not start");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{variable}: one line, got {stderr}");
        assert!(lines[0].contains(variable), "{variable}: {stderr}");
    }
}

/// What a new user tried (2026-12-01): the secret set, the id's name misspelt, a public address
/// and a public https URL. The binary used to start both simulators and serve a fake account.
#[test]
fn a_production_start_with_a_misspelt_client_id_refuses_instead_of_serving_a_demo() {
    let output = run_binary(&[
        ("REMEMBERIZER_CLIENT_SECRET", "the-real-secret"),
        ("REMEMBERIZER_CLIENT_IDD", "the-real-id"),
        ("BIND_ADDR", "0.0.0.0:0"),
        ("APP_BASE_URL", "https://mementos.example.com"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("REMEMBERIZER_CLIENT_IDD is not a setting of this app (did you mean REMEMBERIZER_CLIENT_ID?)"),
        "{stderr}"
    );
    assert!(!stderr.contains("the-real"), "no value is echoed: {stderr}");
    // The id fixed but still missing: the refusal names it.
    let output = run_binary(&[
        ("REMEMBERIZER_CLIENT_SECRET", "the-real-secret"),
        ("BIND_ADDR", "0.0.0.0:0"),
        ("APP_BASE_URL", "https://mementos.example.com"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .contains("REMEMBERIZER_CLIENT_ID is required when REMEMBERIZER_CLIENT_SECRET is set"),
        "{stderr}"
    );
}

/// `DEMO=1` used to start the demo on a public address, where it could not work: the
/// simulators listen on 127.0.0.1, so a browser on another machine was sent to its own.
#[test]
fn demo_1_on_a_public_address_refuses_with_one_line_saying_why() {
    let output = run_binary(&[("BIND_ADDR", "0.0.0.0:0"), ("DEMO", "1")]);
    assert!(!output.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("BIND_ADDR=0.0.0.0:0 is not a loopback address")
            && stderr.contains("serves this machine only (the simulators listen on 127.0.0.1"),
        "{stderr}"
    );
}

#[tokio::test]
async fn demo_mode_runs_the_whole_flow_against_the_built_in_simulator() {
    let settings = Settings::from_lookup(|name| match name {
        "BIND_ADDR" => Some("127.0.0.1:0".to_owned()),
        _ => None,
    })
    .expect("demo settings");
    assert!(settings.is_demo_mode());
    let app = Application::build(settings).await.expect("demo app builds");
    let base = app.base_url().clone();
    assert_eq!(base.host_str(), Some("localhost"));
    assert_eq!(base.port(), Some(app.port()));
    let simulator = app
        .simulator_url()
        .expect("a simulator in demo mode")
        .clone();
    tokio::spawn(app.run_until_stopped());

    let client = browser();
    let address = format!("http://127.0.0.1:{}", base.port().expect("port"));
    let landing = client.get(&address).send().await.expect("landing");
    assert_eq!(landing.status(), StatusCode::OK);

    let start = client
        .get(format!("{address}/auth/rememberizer"))
        .send()
        .await
        .expect("start");
    let authorize = url::Url::parse(location(&start)).expect("authorize URL");
    assert_eq!(
        authorize.port(),
        simulator.port(),
        "points at the simulator"
    );
    let callback = consent_with(&client, &authorize, &[1], true).await;
    assert_eq!(
        callback.as_str().split('?').next(),
        Some(format!("{base}auth/rememberizer/callback").as_str())
    );
    // The browser would visit localhost; the cookie was set for 127.0.0.1 in this client, so
    // call back on the same host the flow started from.
    let mut same_host = callback.clone();
    same_host.set_host(Some("127.0.0.1")).expect("host");
    let done = tokio::time::timeout(Duration::from_secs(10), client.get(same_host).send())
        .await
        .expect("in time")
        .expect("callback");
    assert_is_redirect_to(&done, "/dashboard");
    let dashboard = client
        .get(format!("{address}/dashboard"))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(dashboard.status(), StatusCode::OK);

    // In the simulator's current shapes: every link on the dashboard opens its reader (files in
    // the text reader, Slack channels in the channel reader), and /ask finds passages.
    let html = dashboard.text().await.expect("html");
    let readers: Vec<String> = hrefs(&html)
        .into_iter()
        .filter(|l| l.starts_with("/documents/") || l.starts_with("/discussions/"))
        .collect();
    assert!(
        readers.iter().any(|l| l.starts_with("/discussions/")),
        "{readers:?}"
    );
    for link in &readers {
        let page = client
            .get(format!("{address}{link}"))
            .send()
            .await
            .expect("reader");
        assert_eq!(page.status(), StatusCode::OK, "{link}");
    }
    let ask = client
        .get(format!("{address}/ask?q=deploy+checklist"))
        .send()
        .await
        .expect("ask");
    assert_eq!(ask.status(), StatusCode::OK);
    let ask = ask.text().await.expect("html");
    assert!(ask.contains("match 1 of"), "passages are found");
    assert!(ask.contains("from Slack"), "with their sources");
}

#[tokio::test]
async fn demo_mode_offers_memoram_on_its_simulator_end_to_end() {
    let settings = Settings::from_lookup(|name| match name {
        "BIND_ADDR" => Some("127.0.0.1:0".to_owned()),
        _ => None,
    })
    .expect("demo settings");
    assert!(settings.memoram_offered());
    let app = Application::build(settings).await.expect("demo app builds");
    let memoram = app
        .memoram_simulator_url()
        .expect("a Memoram simulator in demo mode")
        .clone();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    let client = browser();
    let address = format!("http://127.0.0.1:{port}");
    let landing = client.get(&address).send().await.expect("landing");
    assert!(landing
        .text()
        .await
        .expect("html")
        .contains("Connect Memoram"));

    let start = client
        .get(format!("{address}/auth/memoram"))
        .send()
        .await
        .expect("start");
    let authorize = url::Url::parse(location(&start)).expect("authorize URL");
    assert_eq!(
        authorize.origin(),
        memoram.origin(),
        "the simulator's consent page"
    );
    let mut callback = consent_with(&client, &authorize, &[], true).await;
    callback.set_host(Some("127.0.0.1")).expect("host");
    let done = client.get(callback).send().await.expect("callback");
    assert_is_redirect_to(&done, "/memoram/access");
    // The page's start (it goes on watching for the approval for minutes in demo mode).
    let mut waiting = client
        .get(format!("{address}/memoram/access"))
        .send()
        .await
        .expect("waiting page");
    let waiting = read_until(&mut waiting, "id=\"watching\"").await;
    // The waiting page links to the simulator's dashboard, where the person approves.
    let dashboard = memoram.join("dashboard").expect("url");
    assert!(
        hrefs(&waiting).contains(&dashboard.to_string()),
        "{waiting}"
    );
    let page = client.get(dashboard).send().await.expect("dashboard");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.expect("html").contains("Approve"));
}

#[test]
fn memoram_settings_are_checked_at_start() {
    let settings = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    };
    let long = "x".repeat(256);
    for (pairs, variable) in [
        (
            vec![("MEMORAM_ACCESS_REASON", long.as_str())],
            "MEMORAM_ACCESS_REASON",
        ),
        (
            vec![("MEMORAM_CONTENT_CIPHER", "rot13")],
            "MEMORAM_CONTENT_CIPHER",
        ),
        (vec![("MEMORAM_CLIENT_ID", "id")], "MEMORAM_CLIENT_SECRET"),
        (
            vec![("MEMORAM_CLIENT_ID", "id"), ("MEMORAM_CLIENT_SECRET", "s")],
            "MEMORAM_API_KEY",
        ),
        (vec![("MEMORAM_BASE_URL", "not a url")], "MEMORAM_BASE_URL"),
        (
            vec![("MEMORAM_TOKEN_URL", "ftp://x/token")],
            "MEMORAM_TOKEN_URL",
        ),
    ] {
        let error = settings(&pairs).expect_err(variable).to_string();
        assert!(error.contains(variable), "{variable}: {error}");
    }
    let ok = settings(&[("MEMORAM_ACCESS_REASON", &"é".repeat(255))]).expect("255 characters");
    assert_eq!(ok.memoram.access_reason.chars().count(), 255);
    let real_rememberizer = settings(&[
        ("REMEMBERIZER_CLIENT_ID", "id"),
        ("REMEMBERIZER_CLIENT_SECRET", "s"),
    ])
    .expect("valid");
    assert!(!real_rememberizer.memoram_offered());
    let defaults = settings(&[]).expect("valid");
    assert_eq!(
        defaults.memoram.token_url.as_str(),
        "https://api.memoram.app/api/v1/oauth/token"
    );
}
