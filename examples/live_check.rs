//! Checks this client against a live Rememberizer account: one call per endpoint, printing which
//! published shape each answer came in and whether the client read it.
//!
//! ```text
//! cargo run --example live_check                      # see below for where the token comes from
//! cargo run --example live_check -- --memorize        # also stores one small note
//! cargo run --example live_check -- --query "roadmap" # the search question (default: "meeting notes")
//! ```
//!
//! The access token comes from, in this order:
//! 1. `REMEMBERIZER_ACCESS_TOKEN` (environment or `.env`): a token you already have;
//! 2. the app's own registration (`REMEMBERIZER_CLIENT_ID`, `_SECRET`, `APP_BASE_URL`, `BIND_ADDR`
//!    as for the app): the flow runs in your browser — open the printed link, pick mementos, and
//!    the check runs when Rememberizer sends you back;
//! 3. neither: the built-in simulator, with the consent given automatically (a dry run).
//!
//! Tokens are never printed. Exit status 0 when the client read every answer.

use std::net::TcpListener;
use std::process::ExitCode;
use std::sync::Mutex;

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use secrecy::SecretString;
use simulators::rememberizer::{Simulator, SimulatorConfig};
use talk_to_mementos::auth::oauth::{OAuthFlow, PendingFlow};
use talk_to_mementos::auth::tokens::AccessToken;
use talk_to_mementos::config::Settings;
use talk_to_mementos::http_client::HttpClient;
use talk_to_mementos::rememberizer::live_check::{self, Options};
use talk_to_mementos::rememberizer::{self, ApiClient};
use tokio::sync::oneshot;
use url::Url;

#[actix_web::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("live_check: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<bool> {
    let mut options = Options {
        query: "meeting notes".to_owned(),
        memorize: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--memorize" => options.memorize = true,
            "--query" => options.query = args.next().context("--query needs a question")?,
            other => anyhow::bail!("unknown argument {other:?} (see the file's header)"),
        }
    }
    let mut settings = Settings::from_env().context("configuration")?;
    let http = HttpClient::new(&settings.http)?;

    // Kept alive until the end when the dry run uses it.
    let mut _simulator = None;
    let token = if let Ok(token) = std::env::var("REMEMBERIZER_ACCESS_TOKEN") {
        println!(
            "Using REMEMBERIZER_ACCESS_TOKEN against {}",
            settings.provider_url
        );
        AccessToken::new(SecretString::from(token.trim().to_owned()))
    } else if let Some(client) = settings.client.clone() {
        let app_base_url = settings
            .app_base_url
            .clone()
            .unwrap_or(Url::parse(&format!("http://{}", settings.bind_addr))?);
        let flow = OAuthFlow::new(
            rememberizer::oauth_endpoints(&settings.provider_url, &app_base_url)?,
            &client.client_id,
            &client.client_secret,
            &settings.scopes,
            http.clone(),
        );
        browser_flow(&flow, &settings, &app_base_url).await?
    } else {
        println!("No REMEMBERIZER_ACCESS_TOKEN and no REMEMBERIZER_CLIENT_ID: a dry run against the built-in simulator.");
        let simulator = Simulator::start(
            TcpListener::bind("127.0.0.1:0")?,
            SimulatorConfig::default(),
        )?;
        settings.provider_url = simulator.base_url().clone();
        let token = simulator_flow(&simulator, &http).await?;
        _simulator = Some(simulator);
        token
    };

    let api = ApiClient::new(http, &settings.provider_url)?;
    let checks = live_check::run(&api, &token, &options).await;
    print!("{}", live_check::render(&checks));
    Ok(checks.iter().all(|c| c.is_ok()))
}

/// Steps 1–4 with a person at the browser: serve the callback on `BIND_ADDR` until it comes.
async fn browser_flow(
    flow: &OAuthFlow,
    settings: &Settings,
    app_base_url: &Url,
) -> anyhow::Result<AccessToken> {
    let (authorize_url, pending) = flow.start();
    let (sender, receiver) = oneshot::channel::<Result<String, String>>();
    let expected = web::Data::new((pending.state.clone(), Mutex::new(Some(sender))));
    let callback_path = talk_to_mementos::rememberizer::CALLBACK_ROUTE.to_owned();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(expected.clone())
            .route(&callback_path, web::get().to(callback))
    })
    .workers(1)
    .bind(settings.bind_addr)
    .with_context(|| format!("binding {} for the callback", settings.bind_addr))?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    println!("Open this link in your browser and allow access (the callback is {app_base_url}):\n\n  {authorize_url}\n");
    let code = receiver
        .await
        .context("the callback server stopped")?
        .map_err(anyhow::Error::msg)?;
    handle.stop(true).await;
    exchange(flow, code, pending).await
}

type Expected = (
    String,
    Mutex<Option<oneshot::Sender<Result<String, String>>>>,
);

async fn callback(
    query: web::Query<std::collections::HashMap<String, String>>,
    expected: web::Data<Expected>,
) -> HttpResponse {
    // Step 3: only the state this run started is accepted.
    let outcome = match (query.get("state"), query.get("code"), query.get("error")) {
        (Some(state), _, _) if state != &expected.0 => {
            return HttpResponse::BadRequest()
                .body("Unknown state: this is not the flow the live check started.")
        }
        (_, _, Some(error)) => Err(format!("Rememberizer answered error={error}")),
        (Some(_), Some(code), None) => Ok(code.clone()),
        _ => return HttpResponse::BadRequest().body("Missing code or state."),
    };
    let sender = expected.1.lock().ok().and_then(|mut s| s.take());
    if let Some(sender) = sender {
        let _ = sender.send(outcome);
    }
    HttpResponse::Ok()
        .body("Thanks: the live check continues in your terminal. You can close this tab.")
}

/// Steps 1–4 against the simulator, consenting to every memento as a person would by form.
async fn simulator_flow(simulator: &Simulator, http: &HttpClient) -> anyhow::Result<AccessToken> {
    let defaults = SimulatorConfig::default();
    let flow = OAuthFlow::new(
        rememberizer::oauth_endpoints(simulator.base_url(), &Url::parse("http://127.0.0.1:8080")?)?,
        &defaults.client_id,
        &SecretString::from(defaults.client_secret),
        &["offline_access".to_owned()],
        http.clone(),
    );
    let (authorize_url, pending) = flow.start();
    let mut form: Vec<(String, String)> = authorize_url.query_pairs().into_owned().collect();
    for memento in simulator.handle().mementos() {
        form.push(("memento".to_owned(), memento.id.to_string()));
    }
    form.push(("decision".to_owned(), "allow".to_owned()));
    let mut consent = authorize_url.clone();
    consent.set_query(None);
    let response = http
        .send(http.request(reqwest::Method::POST, consent).form(&form))
        .await?;
    let location = response
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .context("the consent page did not redirect")?;
    let code = Url::parse(location)?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .context("no code in the redirect")?;
    exchange(&flow, code, pending).await
}

async fn exchange(
    flow: &OAuthFlow,
    code: String,
    pending: PendingFlow,
) -> anyhow::Result<AccessToken> {
    let grant = flow
        .exchange_code(code, pending)
        .await
        .context("exchanging the code")?;
    Ok(AccessToken::new(grant.access_token))
}
