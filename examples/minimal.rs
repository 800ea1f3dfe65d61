//! Rememberizer's "Authorizing Rememberizer apps", Steps 1–5, in one file with the stack's crates.
//! `cargo run --example minimal`, open http://localhost:8080 (no REMEMBERIZER_CLIENT_ID: against
//! the built-in simulator). Nothing here is to be unlearned in production: timeouts on every call;
//! the token response read as documented (no `token_type` needed); each `state` spent once on the
//! server, so a replayed callback makes no second code exchange (RFC 6749 §4.1.2 lets the provider
//! revoke the grant after one); failed exchanges logged, never with the code or a token. The full
//! app (`src/`) adds: refresh, one per connection at a time; flows in cookies of their own (no
//! server state for anonymous visitors); a failed-exchange limit; Redis; page deadlines; headers.
//! Its `[dependencies]`, for a crate of your own (CI builds it so, edition 2024):
//! actix-web = "4"
//! actix-session = { version = "0.11", features = ["cookie-session"] }
//! oauth2 = "5"
//! reqwest = { version = "0.12", default-features = false, features = ["json", "rustls-tls"] }
//! tera = "2.4"
//! moka = { version = "0.12", features = ["future"] }
//! serde_json = "1"
//! tokio = { version = "1", features = ["macros"] }
//! base64 = "0.22"
//! rand = "0.8"
//! subtle = "2"
//! dotenvy = "0.15"
use std::{collections::HashMap, time::Duration};

use actix_session::{storage::CookieSessionStore, Session, SessionMiddleware};
use actix_web::http::header::{ContentType, LOCATION};
use actix_web::{cookie::Key, http::StatusCode, web, App, HttpResponse, HttpServer};
use base64::{engine::general_purpose::STANDARD, Engine};
use oauth2::{basic::BasicClient, AuthUrl, ClientId, EndpointNotSet as NotSet, EndpointSet};
use oauth2::{CsrfToken, PkceCodeChallenge, RedirectUrl};
use rand::distributions::{Alphanumeric, DistString};
use subtle::ConstantTimeEq;

type OAuth = BasicClient<EndpointSet, NotSet, NotSet, NotSet, NotSet>;
type Page = Result<HttpResponse, actix_web::Error>;
type Query = web::Query<HashMap<String, String>>;

struct Rememberizer {
    oauth: OAuth,
    /// What Step 4 sends besides the code: `client_id`, `client_secret`, `redirect_uri`.
    credentials: [(&'static str, String); 3],
    http: reqwest::Client,
    api: String,
    /// Access tokens, server-side, by the opaque id each browser's session holds; an hour each.
    tokens: moka::future::Cache<String, String>,
    /// States whose callback came, for as long as a flow lives: each is exchanged once.
    spent: moka::future::Cache<String, ()>,
}

/// One page for everything. Tera escapes every value: account data is untrusted text.
const HTML: &str = r#"<!doctype html><html lang="en"><meta charset="utf-8"><title>Minimal</title>
{% if email %}<p>Connected as <b>{{ email }}</b>. Your documents:</p>
<ul>{% for name in documents %}<li>{{ name }}</li>{% endfor %}</ul>{% else %}<p>{{ message }}</p>
<p><a href="/auth/rememberizer">Connect Rememberizer</a></p>{% endif %}"#;

fn page(status: StatusCode, context: &tera::Context) -> Page {
    let html = tera::Tera::one_off(HTML, context, true); // true: autoescape
    let html = html.map_err(actix_web::error::ErrorInternalServerError)?;
    let mut response = HttpResponse::build(status);
    Ok(response.content_type(ContentType::html()).body(html))
}

fn message(status: StatusCode, text: &str) -> Page {
    let mut context = tera::Context::new();
    context.insert("message", text);
    page(status, &context)
}

fn redirect(to: &str, status: StatusCode) -> Page {
    let mut response = HttpResponse::build(status);
    Ok(response.insert_header((LOCATION, to)).finish())
}

/// Step 1: to Rememberizer's authorize page with an unguessable `state` and a PKCE S256
/// challenge. The session cookie is encrypted: the browser cannot read the verifier.
async fn start(app: web::Data<Rememberizer>, session: Session) -> Page {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let authorize = app.oauth.authorize_url(CsrfToken::new_random);
    let (url, state) = authorize.set_pkce_challenge(challenge).url();
    session.insert("flow", (state.secret(), verifier.secret()))?;
    redirect(url.as_str(), StatusCode::FOUND)
}

/// Step 2 happens at Rememberizer (the person picks mementos). Step 3: back here; the `state`
/// must be the one this browser was given, or the code is never used.
async fn callback(app: web::Data<Rememberizer>, session: Session, q: Query) -> Page {
    let flow = session.remove_as::<(String, String)>("flow");
    let Some((state, verifier)) = flow.and_then(Result::ok).filter(|(expected, _)| {
        let given = q.get("state").map_or(&b""[..], |given| given.as_bytes());
        bool::from(given.ct_eq(expected.as_bytes()))
    }) else {
        return message(StatusCode::BAD_REQUEST, "This sign-in did not start here.");
    };
    let (Some(code), None) = (q.get("code"), q.get("error")) else {
        return message(StatusCode::FORBIDDEN, "Rememberizer was not connected.");
    };
    // Once, on the server: a replay (a reload, the back button) carries the old cookie, flow
    // and all. `or_insert_with` runs once per key however many arrive: one of them is fresh.
    let claim = app.spent.entry(state).or_insert_with(async {});
    if !claim.await.is_fresh() {
        return message(StatusCode::BAD_REQUEST, "This sign-in is complete.");
    }
    let exchanged = app.exchange(code, verifier).await;
    let Some(token) = exchanged
        .map_err(|why| eprintln!("Step 4 failed: {why}"))
        .ok()
    else {
        return message(StatusCode::BAD_GATEWAY, "Rememberizer did not connect.");
    };
    let id = Alphanumeric.sample_string(&mut rand::thread_rng(), 32);
    app.tokens.insert(id.clone(), token).await;
    session.renew(); // A new session after login: nothing planted before it counts.
    session.insert("connection", id)?;
    redirect("/dashboard", StatusCode::SEE_OTHER)
}

impl Rememberizer {
    /// Step 4: the code and the PKCE verifier for tokens, the client secret in the form body.
    /// The answer is read as Rememberizer documents it: `access_token` is all this needs
    /// (oauth2-rs's `BasicTokenResponse` would also demand a `token_type`). Its error says what
    /// the provider answered, never the code or a token.
    async fn exchange(&self, code: &str, verifier: String) -> Result<String, String> {
        let grant = [("grant_type", "authorization_code".to_owned())];
        let sent = [("code", code.to_owned()), ("code_verifier", verifier)];
        let form: Vec<_> = grant.iter().chain(&sent).chain(&self.credentials).collect();
        let token_url = format!("{}auth/oauth2/token/", self.api);
        let response = self.http.post(token_url).form(&form).send().await;
        let response = response.map_err(|e| format!("no answer: {}", e.without_url()))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let error = body["error"].as_str().unwrap_or("-");
        match body["access_token"].as_str() {
            Some(token) if status.is_success() => Ok(token.to_owned()),
            _ => Err(format!("{status}, error {error}")),
        }
    }

    /// Step 5: the API, with the access token as a bearer token. `Err(status)` on failure.
    async fn get(&self, token: &str, path: &str) -> Result<serde_json::Value, u16> {
        let url = format!("{}{path}", self.api);
        let request = self.http.get(url).bearer_auth(token);
        let response = request.send().await.map_err(|_| 502u16)?;
        match response.status().as_u16() {
            200 => response.json().await.map_err(|_| 502),
            status => Err(status),
        }
    }
}

async fn dashboard(app: web::Data<Rememberizer>, session: Session) -> Page {
    let connection = session.get::<String>("connection")?.unwrap_or_default();
    let Some(token) = app.tokens.get(&connection).await else {
        return redirect("/", StatusCode::SEE_OTHER);
    };
    let get = |path| app.get(&token, path);
    let (account, documents) = tokio::join!(get("account/"), get("documents/"));
    let (account, documents) = match (account, documents) {
        (Ok(account), Ok(documents)) => (account, documents),
        (Err(401), _) | (_, Err(401)) => {
            session.purge(); // No refresh here: the token expired or was revoked.
            return message(StatusCode::FORBIDDEN, "Your connection ended.");
        }
        _ => return message(StatusCode::BAD_GATEWAY, "Rememberizer is not answering."),
    };
    let names = documents["results"].as_array().into_iter().flatten();
    let names: Vec<&str> = names.filter_map(|d| d["name"].as_str()).collect();
    let mut context = tera::Context::new();
    context.insert("email", account["email"].as_str().unwrap_or("(no email)"));
    context.insert("documents", &names);
    page(StatusCode::OK, &context)
}

fn bounded<V: Clone + Send + Sync + 'static>(ttl: Duration) -> moka::future::Cache<String, V> {
    let cache = moka::future::Cache::builder().time_to_live(ttl);
    cache.max_capacity(100_000).build()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let _ = dotenvy::dotenv();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let fail = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned());
    let app_url = var("APP_BASE_URL").unwrap_or_else(|| "http://localhost:8080".into());
    let redirect_uri = app_url.trim_end_matches('/').to_owned() + "/auth/rememberizer/callback";
    let required = |name: &str| var(name).ok_or_else(|| fail(&format!("{name} is required")));
    let base = var("REMEMBERIZER_BASE_URL").unwrap_or_else(|| "https://api.rememberizer.ai".into());
    #[allow(unexpected_cfgs)] // `demo` is this workspace's feature; your crate need not have it.
    let (id, secret, base) = match var("REMEMBERIZER_CLIENT_ID") {
        Some(id) => (id, required("REMEMBERIZER_CLIENT_SECRET")?, base),
        #[cfg(feature = "demo")]
        None => {
            use simulators::rememberizer::{Simulator, SimulatorConfig};
            let config = SimulatorConfig {
                redirect_uris: vec![redirect_uri.clone()],
                ..Default::default()
            };
            let (id, secret) = (config.client_id.clone(), config.client_secret.clone());
            let simulator = Simulator::start(std::net::TcpListener::bind("127.0.0.1:0")?, config)?;
            let base = simulator.base_url().to_string();
            println!("demo mode: Rememberizer is the built-in simulator at {base}");
            std::mem::forget(simulator); // It serves as long as this process runs.
            (id, secret, base)
        }
        #[cfg(not(feature = "demo"))]
        None => return Err(fail("REMEMBERIZER_CLIENT_ID is required")),
    };
    let url = |path: &str| format!("{}/api/v1/{path}", base.trim_end_matches('/'));
    let bad = |e: oauth2::url::ParseError| fail(&e.to_string());
    let oauth = BasicClient::new(ClientId::new(id.clone()))
        .set_auth_uri(AuthUrl::new(url("auth/oauth2/authorize/")).map_err(bad)?)
        .set_redirect_uri(RedirectUrl::new(redirect_uri.clone()).map_err(bad)?);
    let credentials = [
        ("client_id", id),
        ("client_secret", secret),
        ("redirect_uri", redirect_uri),
    ];
    // Never follow a provider's redirects (oauth2's docs: SSRF), and never wait for ever: a
    // token endpoint that hangs would hold the callback (and the person) as long as it hangs.
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    let (connect, total) = (Duration::from_secs(3), Duration::from_secs(10));
    let http = http.connect_timeout(connect).timeout(total);
    let http = http.build().map_err(|e| fail(&e.to_string()))?;
    let key = var("SESSION_KEY").map(|k| STANDARD.decode(k.trim()).unwrap_or_default());
    let key = key.map_or(Ok(Key::generate()), |key| Key::try_from(&key[..]));
    let key = key.map_err(|_| fail("SESSION_KEY: 64+ bytes, base64"))?;
    let app = web::Data::new(Rememberizer {
        oauth,
        credentials,
        http,
        api: url(""),
        tokens: bounded(Duration::from_secs(3600)),
        spent: bounded(Duration::from_secs(600)),
    });
    let https = app_url.starts_with("https://");
    HttpServer::new(move || {
        let session = SessionMiddleware::builder(CookieSessionStore::default(), key.clone());
        App::new()
            .app_data(app.clone())
            .wrap(session.cookie_secure(https).build())
            .route(
                "/",
                web::get().to(|| async { message(StatusCode::OK, "Welcome.") }),
            )
            .route("/auth/rememberizer", web::get().to(start))
            .route("/auth/rememberizer/callback", web::get().to(callback))
            .route("/dashboard", web::get().to(dashboard))
    })
    .bind(var("BIND_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into()))?
    .run()
    .await
}
