//! Wiring: binds the listener, starts the simulators in demo mode (`demo`), and builds the
//! actix-web app.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use secrecy::ExposeSecret;
use tracing_actix_web::TracingLogger;
use url::Url;

use crate::auth::exchange_limit::ExchangeLimit;
use crate::auth::oauth::{self, OAuthFlow};
use crate::auth::pending_flows::{FlowCookies, SpentStates};
use crate::auth::session_cookie::{session_middleware, SessionCookie};
use crate::auth::session_store::AnySessionStore;
use crate::auth::tokens::TokenStore;
use crate::config::SessionStoreKind;
use crate::config::{MemoramSettings, Settings};
use crate::errors::{render_error_page, session_store_unavailable, AppError, SECURITY_HEADERS};
use crate::http_client::HttpClient;
use crate::llm::LlmClient;
use crate::memoram::connections::MemoramConnections;
use crate::memoram::developer_token::{DeveloperTokens, SharedToken};
use crate::memoram::Memoram;
use crate::memoram::MemoramClient;
use crate::redis_store::{
    Redis, RedisConnections, RedisSessionStore, RedisSharedToken, RedisSpentStates, RedisTokens,
};
use crate::rememberizer::cache::ProfileCache;
use crate::rememberizer::ApiClient;
use crate::routes::{
    ask, assets, auth, confirm, dashboard, discussions, documents, health, home, mementos, memoram,
    memories, memorize, memory_form,
};
use crate::state::AppState;
use crate::telemetry::{self, RequestSpan};
use crate::templates::Templates;

pub const SESSION_COOKIE: &str = "ttm_session";
/// The flow cookies' names start with this (`pending_flows`).
pub const FLOW_COOKIE_PREFIX: &str = "ttm_flow_";
/// Sessions (and the connection they hold) end this long after their last change.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Bounds of the in-memory stores: beyond this, the least recently used sessions are evicted
/// (moka with its LRU policy).
pub const MAX_SESSIONS: u64 = 100_000;
/// How long in-flight requests may take to finish after SIGTERM/SIGINT.
pub const SHUTDOWN_TIMEOUT_SECS: u64 = 15;
/// Largest form body accepted (logout; memorize has its own, `memorize::MAX_FORM_BYTES`).
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// Every key this app writes in Redis starts with this (kept: a deployed app's sessions and
/// connections are under it).
pub const REDIS_KEY_PREFIX: &str = "ttm:";

pub struct Application {
    port: u16,
    base_url: Url,
    server: Server,
    /// Kept so the demo-mode simulators live as long as the app.
    #[cfg(feature = "demo")]
    simulators: crate::demo::Simulators,
}

impl Application {
    /// Binds `BIND_ADDR` (port 0 picks a free port, as the tests do) and builds the server.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind_addr)
            .with_context(|| format!("BIND_ADDR: cannot listen on {}", settings.bind_addr))?;
        Self::build_with_listener(settings, listener).await
    }

    /// Like [`Application::build`] on a listener bound by the caller (the tests bind port 0 to
    /// learn the port before they choose `APP_BASE_URL`).
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let port = listener.local_addr()?.port();
        let base_url = match &settings.app_base_url {
            Some(url) => url.clone(),
            // Demo mode only (config requires APP_BASE_URL otherwise): follow the bound port.
            None => Url::parse(&format!("http://localhost:{port}"))?,
        };

        #[cfg(feature = "demo")]
        let (settings, simulators) = crate::demo::start_simulators(settings, &base_url)?;
        let Some(client) = settings.client.clone() else {
            anyhow::bail!(crate::config::ConfigError::NoDemo {
                var: "REMEMBERIZER_CLIENT_ID"
            });
        };

        let http = HttpClient::new(&settings.http).context("building the HTTP client")?;
        let (session_store, tokens, redis) = match &settings.session_store {
            SessionStoreKind::Memory => (
                AnySessionStore::memory(MAX_SESSIONS),
                TokenStore::memory(MAX_SESSIONS, SESSION_TTL),
                None,
            ),
            SessionStoreKind::Redis(url) => {
                let redis = Redis::connect(url.as_str())
                    .await
                    .with_context(|| {
                        format!(
                            "SESSION_STORE: cannot connect to Redis at {}",
                            redacted(url)
                        )
                    })?
                    .with_key_prefix(REDIS_KEY_PREFIX);
                (
                    AnySessionStore::new(RedisSessionStore::new(redis.clone())),
                    TokenStore::new(RedisTokens::new(
                        redis.clone(),
                        SESSION_TTL,
                        settings.http.request_timeout,
                    )),
                    Some(redis),
                )
            }
        };
        let llm = settings
            .llm
            .as_ref()
            .map(|llm| LlmClient::new(llm, http.clone()))
            .transpose()
            .context("LLM_BASE_URL")?;
        let session_key = match &settings.session_key {
            Some(key) => Key::from(&key.0),
            None => {
                tracing::warn!(
                    "SESSION_KEY is not set: using a random key, so sessions end when the app restarts"
                );
                Key::generate()
            }
        };
        let https = base_url.scheme() == "https";
        let memoram = memoram_state(
            &settings.memoram,
            &base_url,
            &http,
            redis.as_ref(),
            &session_key,
            https,
        )?;
        let spent_states = match &redis {
            Some(redis) => SpentStates::new(RedisSpentStates(redis.clone())),
            None => SpentStates::memory(),
        };
        let state = AppState {
            // One upstream timeout, and a second for the refresh's bookkeeping around it.
            page_budget: settings.http.request_timeout + Duration::from_secs(1),
            oauth: OAuthFlow::new(
                crate::rememberizer::oauth_endpoints(&settings.provider_url, &base_url)?,
                &client.client_id,
                &client.client_secret,
                &settings.scopes,
                http.clone(),
            ),
            flows: FlowCookies::new(session_key.clone(), https, auth::START_ROUTE)
                .named(FLOW_COOKIE_PREFIX),
            spent_states,
            exchange_limit: ExchangeLimit::new(settings.trusted_proxies.clone()),
            api: ApiClient::new(http, &settings.provider_url)?,
            tokens,
            profiles: ProfileCache::new(settings.profile_cache_ttl),
            redis,
            llm,
            memoram,
            memoram_watch: settings.memoram.access_watch,
            answer_slots: Default::default(),
        };

        let server = run(listener, state, session_store, session_key, https)?;
        tracing::info!(url = %base_url, "talk-to-mementos is listening");
        Ok(Self {
            port,
            base_url,
            server,
            #[cfg(feature = "demo")]
            simulators,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `APP_BASE_URL`, or `http://localhost:PORT` in demo mode.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The built-in simulator's URL, in demo mode.
    #[cfg(feature = "demo")]
    pub fn simulator_url(&self) -> Option<&Url> {
        self.simulators.rememberizer.as_ref().map(|s| s.base_url())
    }

    /// The built-in Memoram simulator's URL (its dashboard is at `/dashboard`), in demo mode.
    #[cfg(feature = "demo")]
    pub fn memoram_simulator_url(&self) -> Option<&Url> {
        self.simulators.memoram.as_ref().map(|s| s.base_url())
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        #[cfg(feature = "demo")]
        self.simulators.stop().await;
        result
    }
}

/// Memoram's state, if it is offered (configured, or pointed at its simulator in demo mode).
fn memoram_state(
    memoram: &MemoramSettings,
    base_url: &Url,
    http: &HttpClient,
    redis: Option<&Redis>,
    session_key: &Key,
    https: bool,
) -> anyhow::Result<Option<Memoram>> {
    // Rememberizer configured for real and Memoram not: Memoram is not offered.
    let Some(client) = &memoram.client else {
        return Ok(None);
    };
    let endpoints =
        crate::memoram::oauth_endpoints(&memoram.authorize_url, &memoram.token_url, base_url)?;
    let shared_token = redis.map(|redis| {
        Box::new(RedisSharedToken::new(
            redis.clone(),
            &memoram.base_url,
            client.api_key.expose_secret(),
        )) as Box<dyn SharedToken>
    });
    let developer = DeveloperTokens::new(
        http.clone(),
        oauth::join(&memoram.base_url, "auth/token")?,
        client.api_key.clone(),
        shared_token,
    );
    let connections = match redis {
        Some(redis) => MemoramConnections::new(RedisConnections::new(redis.clone(), SESSION_TTL)),
        None => MemoramConnections::memory(MAX_SESSIONS, SESSION_TTL),
    };
    let state = Memoram {
        oauth: OAuthFlow::new(
            endpoints,
            &client.client_id,
            &client.client_secret,
            &memoram.scopes,
            http.clone(),
        ),
        flows: FlowCookies::new(session_key.clone(), https, memoram::START_ROUTE)
            .named(FLOW_COOKIE_PREFIX),
        client: MemoramClient::new(
            http.clone(),
            memoram.base_url.clone(),
            developer,
            memoram.cipher,
        ),
        connections,
        reason: memoram.access_reason.clone(),
        dashboard_url: memoram.dashboard_url.clone(),
        // Real memories are encrypted with the person's own key: sending them, decrypted, to a
        // third party is the operator's explicit choice.
        send_to_llm: memoram.send_to_llm.unwrap_or(false),
    };
    Ok(Some(state))
}

fn run(
    listener: TcpListener,
    state: AppState,
    session_store: AnySessionStore,
    session_key: Key,
    https: bool,
) -> anyhow::Result<Server> {
    let state = web::Data::new(state);
    let readiness = web::Data::new(health::Readiness::default());
    let templates = web::Data::new(Templates::new().context("compiling the templates")?);

    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(readiness.clone())
            .app_data(templates.clone())
            .app_data(web::FormConfig::default().limit(MAX_FORM_BYTES))
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                AppError::BadRequest(format!("The address has an invalid query: {error}.")).into()
            }))
            .wrap(ErrorHandlers::new().default_handler(render_error_page))
            .wrap(security_headers(https))
            .wrap(from_fn(page_deadline))
            .wrap(from_fn(telemetry::request_id_header))
            .wrap(TracingLogger::<RequestSpan>::new())
            // Health checks and static files need no session: they keep answering when the
            // session store is down.
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .route("/static/{name}", web::get().to(assets::asset))
            .service(
                web::scope("")
                    .wrap(from_fn(crate::routes::error_page_chrome))
                    .wrap(session_middleware(
                        session_store.clone(),
                        session_key.clone(),
                        &SessionCookie {
                            name: SESSION_COOKIE.to_owned(),
                            secure: https,
                            ttl: SESSION_TTL,
                        },
                    ))
                    .wrap(from_fn(session_store_unavailable))
                    .route("/", web::get().to(home::home))
                    .route(auth::START_ROUTE, web::get().to(auth::start))
                    .route(auth::CALLBACK_ROUTE, web::get().to(auth::callback))
                    .route("/dashboard", web::get().to(dashboard::dashboard))
                    .route("/documents/{id}", web::get().to(documents::document))
                    .route("/discussions/{id}", web::get().to(discussions::discussion))
                    .route("/mementos", web::get().to(mementos::mementos))
                    .route("/ask", web::get().to(ask::ask))
                    .service(
                        web::resource("/memorize")
                            .app_data(web::FormConfig::default().limit(memorize::MAX_FORM_BYTES))
                            .route(web::get().to(memorize::form))
                            .route(web::post().to(memorize::memorize)),
                    )
                    .route(
                        auth::DISCONNECT_ROUTE,
                        web::get().to(confirm::disconnect_rememberizer),
                    )
                    .route(auth::DISCONNECT_ROUTE, web::post().to(auth::disconnect))
                    .route(memoram::START_ROUTE, web::get().to(memoram::start))
                    .route(memoram::CALLBACK_ROUTE, web::get().to(memoram::callback))
                    .route(
                        memoram::DISCONNECT_ROUTE,
                        web::get().to(confirm::disconnect_memoram),
                    )
                    .route(
                        memoram::DISCONNECT_ROUTE,
                        web::post().to(auth::disconnect_memoram),
                    )
                    .route(
                        crate::routes::guards::MEMORAM_ACCESS_ROUTE,
                        web::get().to(memoram::access),
                    )
                    .route(
                        crate::routes::guards::MEMORAM_ACCESS_ROUTE,
                        web::post().to(memoram::ask_again),
                    )
                    .service(
                        web::scope("/memories")
                            .app_data(web::FormConfig::default().limit(memory_form::MAX_FORM_BYTES))
                            .route("", web::get().to(memories::list))
                            .route("", web::post().to(memories::create))
                            .route("/new", web::get().to(memories::new_form))
                            .route("/tags", web::get().to(memories::tags))
                            .route("/{id}", web::get().to(memories::show))
                            .route("/{id}", web::post().to(memories::update))
                            .route("/{id}/edit", web::get().to(memories::edit_form))
                            .route("/{id}/delete", web::get().to(confirm::delete_memory))
                            .route("/{id}/delete", web::post().to(memories::delete)),
                    )
                    .route("/logout", web::post().to(auth::logout)),
            )
    })
    // Responses streamed in pieces (static files) would otherwise wait for the client's
    // delayed ACK (Nagle's algorithm): 40 ms per keep-alive request.
    .on_connect(|connection, _| {
        if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "could not set TCP_NODELAY");
            }
        }
    })
    // A browser that closes its connection (a closed tab) is gone: its request's work stops
    // at once (a streamed answer drops its model request), not at the next write.
    .h1_allow_half_closed(false)
    // SIGTERM/SIGINT: stop accepting, let in-flight requests finish (up to this long), exit.
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    .listen(listener)?
    .run();
    Ok(server)
}

/// A Redis URL as it may appear in a log or error: without its password.
fn redacted(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    url.to_string()
}

/// Headers on every response, errors and static files included (OWASP ASVS V14, the CSP cheat
/// sheet). `DefaultHeaders` only adds a header the response does not already have.
fn security_headers(https: bool) -> DefaultHeaders {
    let headers = SECURITY_HEADERS
        .iter()
        .fold(DefaultHeaders::new(), |headers, header| {
            headers.add(*header)
        });
    if https {
        headers.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// Gives each request one deadline for all its calls to the providers (`auth::with_deadline`).
async fn page_deadline(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let budget = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.page_budget)
        .unwrap_or(Duration::from_secs(11));
    crate::auth::with_deadline(budget, next.call(req)).await
}
