//! Prints the upstream fault matrix: for each fault the simulator can inject, what a connected
//! user gets from `/dashboard`, with which status, and how long it took.
//!
//! `cargo run --example fault_matrix` (the app's default 10 s upstream timeout applies).

use std::net::TcpListener;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use simulators::rememberizer::{Simulator, SimulatorConfig};
use simulators::{Fault, FaultBody};
use talk_to_mementos::config::{ClientCredentials, HttpSettings, SessionStoreKind, Settings};
use talk_to_mementos::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let simulator = Simulator::start(
        TcpListener::bind("127.0.0.1:0")?,
        SimulatorConfig {
            redirect_uris: vec![format!("{address}/auth/rememberizer/callback")],
            ..SimulatorConfig::default()
        },
    )?;
    let defaults = SimulatorConfig::default();
    let settings = Settings {
        client: Some(ClientCredentials {
            client_id: defaults.client_id.clone(),
            client_secret: SecretString::from(defaults.client_secret.clone()),
        }),
        provider_url: simulator.base_url().clone(),
        scopes: vec!["offline_access".to_owned()],
        app_base_url: Some(url::Url::parse(&address)?),
        bind_addr: listener.local_addr()?,
        session_key: None,
        session_store: SessionStoreKind::Memory,
        http: HttpSettings::default(),
        // Every fault is injected on the account call: nothing is kept between views.
        profile_cache_ttl: Duration::ZERO,
        llm: None,
        // Rememberizer only: with a client id and no MEMORAM_CLIENT_ID, Memoram is not offered.
        memoram: Settings::from_lookup(|_| None)?.memoram,
        trusted_proxies: Default::default(),
        llm_limits: Default::default(),
    };
    let app = Application::build_with_listener(settings, listener).await?;
    tokio::spawn(app.run_until_stopped());

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // Connect through the consent page, granting every memento.
    let start = browser
        .get(format!("{address}/auth/rememberizer"))
        .send()
        .await?;
    let authorize = url::Url::parse(start.headers()["location"].to_str()?)?;
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.extend((1..=5).map(|id| ("memento".to_owned(), id.to_string())));
    form.push(("decision".to_owned(), "allow".to_owned()));
    let mut endpoint = authorize.clone();
    endpoint.set_query(None);
    let consent = browser.post(endpoint).form(&form).send().await?;
    let callback = consent.headers()["location"].to_str()?.to_owned();
    browser.get(callback).send().await?;

    let handle = simulator.handle();
    let path = "/api/v1/documents/";
    let cases: Vec<(&str, &str, Fault)> = vec![
        ("none", path, Fault::default()),
        (
            "503 from the API",
            path,
            Fault {
                status: Some(503),
                ..Fault::default()
            },
        ),
        (
            "429 with Retry-After: 30",
            path,
            Fault {
                status: Some(429),
                retry_after: Some(30),
                ..Fault::default()
            },
        ),
        (
            "HTML instead of JSON (200)",
            path,
            Fault {
                status: Some(200),
                body: FaultBody::Html,
                ..Fault::default()
            },
        ),
        (
            "50 MB body",
            path,
            Fault {
                body: FaultBody::Oversized(50 * 1024 * 1024),
                ..Fault::default()
            },
        ),
        (
            "body cut short",
            path,
            Fault {
                body: FaultBody::Truncated,
                ..Fault::default()
            },
        ),
        (
            "30 s delay",
            path,
            Fault {
                delay: Some(Duration::from_secs(30)),
                ..Fault::default()
            },
        ),
        ("401 (grant revoked)", "", Fault::default()),
    ];
    println!("| fault | what the user sees | status | time to answer |");
    println!("|---|---|---|---|");
    for (name, prefix, fault) in cases {
        if name.starts_with("401") {
            handle.revoke_all_grants();
        } else if !prefix.is_empty() {
            handle.set_fault(prefix, fault);
        }
        let started = Instant::now();
        let response = browser.get(format!("{address}/dashboard")).send().await?;
        let elapsed = started.elapsed();
        let status = response.status();
        let html = response.text().await?;
        let title = html
            .split("<h1")
            .nth(1)
            .and_then(|rest| rest.split('>').nth(1))
            .and_then(|rest| rest.split('<').next())
            .unwrap_or("")
            .trim()
            .to_owned();
        println!(
            "| {name} | {title} | {} | {:.1} ms |",
            status.as_u16(),
            elapsed.as_secs_f64() * 1000.0
        );
        handle.clear_faults();
    }
    Ok(())
}
