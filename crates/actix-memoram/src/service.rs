//! Memoram in an actix-web app in a few lines: [`Memoram`] holds what a connection needs,
//! [`Memoram::session`] is the session middleware it runs under, its routes
//! ([`Memoram::configure`]) run the user authorization, the access request and the page that
//! waits for the person's approval, and the [`Connected`] extractor hands a handler an approved
//! connection, with the memories opened with the person's key.
//!
//! Everything the steps must withstand is here, not in the app: `state` and PKCE S256, the flow
//! in an encrypted cookie of its own, each state exchanged once, the failed-exchange limit,
//! timeouts on every call, the developer token renewed once at a time, the `memory_key` kept
//! server-side only, a key rotated or an access revoked after approval, and a session store that
//! holds connected browsers only.

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use secrecy::SecretString;
use url::Url;

use crate::api::ApiError;
use crate::auth::exchange_limit::{ExchangeLimit, TrustedProxies};
use crate::auth::oauth::{join, OAuthFlow};
use crate::auth::pending_flows::{FlowCookies, SpentStates};
use crate::auth::session::{SessionError, TypedSession};
use crate::auth::session_cookie::{session_middleware, SessionCookie, SessionLayer};
use crate::auth::session_store::AnySessionStore;
use crate::auth::{ConnectionId, StoreError};
use crate::connect::{begin, finish, with_cookie, CallbackParams, Failed, Finished, FlowError};
use crate::http_client::{HttpClient, HttpSettings};
use crate::memoram::cipher::ContentCipher;
use crate::memoram::connections::MemoramConnections;
use crate::memoram::developer_token::{DeveloperTokens, SharedToken};
use crate::memoram::{
    within, AccessState, BlobQuery, Member, MemberError, MemoramClient, MemoryBlob, MemoryDraft,
    MAX_REASON_CHARS, MEMORY_KEY, SESSION_SLOT,
};
use crate::setup::{cookie_key, required, session_key_from_env, url, var};
pub use crate::setup::{session_key, SetupError};

/// Step 1's route: "Connect Memoram" links here.
pub const START_ROUTE: &str = "/auth/memoram";
pub use crate::memoram::CALLBACK_ROUTE;
/// The page that waits for the person to approve the access request in their Memoram dashboard.
pub const ACCESS_ROUTE: &str = "/memoram/access";
/// Where the browser goes once the access is approved, unless [`Settings::after_connect`] says
/// otherwise.
pub const DEFAULT_AFTER_CONNECT: &str = "/memories";
/// The `User-Agent` unless [`Settings::user_agent`] says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("actix-memoram/", env!("CARGO_PKG_VERSION"));
/// Memoram's API, unless `MEMORAM_BASE_URL` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.memoram.app/api/v1";
/// Where people approve access requests, unless `MEMORAM_DASHBOARD_URL` says otherwise.
pub const DEFAULT_DASHBOARD_URL: &str = "https://memoram.app/dashboard";
/// The access request's reason, unless `MEMORAM_ACCESS_REASON` says otherwise.
pub const DEFAULT_REASON: &str =
    "This app would like to read and write your memories, to show them to you.";
/// Connected sessions (and their connections) end this long after their last use.
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Connected browsers kept at most in memory (the least recently used make room).
const MAX_CONNECTIONS: u64 = 100_000;

/// What [`Memoram::new`] needs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The app's OAuth client id, from the Memoram Developer Portal.
    pub client_id: String,
    /// Its client secret (sent with HTTP Basic to the token endpoint, never to the browser).
    pub client_secret: String,
    /// The developer API key, exchanged for the developer token every API call carries.
    pub api_key: String,
    /// Memoram's API, e.g. `https://api.memoram.app/api/v1` (or a simulator).
    pub base_url: Url,
    /// The user authorization page (not published by Memoram: default `BASE/oauth/authorize`).
    pub authorize_url: Url,
    /// The token endpoint whose answer carries the `memory_key` (default `BASE/oauth/token`).
    pub token_url: Url,
    /// Where the person approves the access request (linked from the waiting page).
    pub dashboard_url: Url,
    /// What the access request says to the person (255 characters at most).
    pub reason: String,
    /// The scopes asked for (default none).
    pub scopes: Vec<String>,
    /// How memory content is sealed (default AES-256-GCM with the person's key).
    pub cipher: ContentCipher,
    /// The app's public origin; the redirect URI is this + [`CALLBACK_ROUTE`]. `https` here
    /// makes every cookie `Secure`.
    pub app_base_url: Url,
    /// 64 bytes or more that sign and encrypt the cookies; `None`: random at each start (every
    /// browser's session ends with the process).
    pub session_key: Option<Vec<u8>>,
    /// Where the browser goes once the access is approved (a path of this app).
    pub after_connect: String,
    /// The session cookie's name (default `session`).
    pub session_cookie: String,
    /// The flow cookies' names start with this (default `oauth_flow_`).
    pub flow_cookie_prefix: String,
    /// The `User-Agent` of every call to Memoram (default `actix-memoram/<version>`): your
    /// app's name is better.
    pub user_agent: String,
}

impl Settings {
    /// From the environment: `MEMORAM_CLIENT_ID`, `MEMORAM_CLIENT_SECRET` and `MEMORAM_API_KEY`
    /// (required); `MEMORAM_BASE_URL`, `MEMORAM_AUTHORIZE_URL`, `MEMORAM_TOKEN_URL`,
    /// `MEMORAM_DASHBOARD_URL`, `MEMORAM_ACCESS_REASON`, `MEMORAM_SCOPE` (space-separated),
    /// `MEMORAM_CONTENT_CIPHER` (`aes-256-gcm` or `none`), `APP_BASE_URL` (default
    /// `http://localhost:8080`), `SESSION_KEY` (base64 or hex, 64+ bytes; default random). An
    /// error names the variable, never its value.
    pub fn from_env() -> Result<Self, SetupError> {
        let base_url = url("MEMORAM_BASE_URL", DEFAULT_BASE_URL)?;
        let derived = |name: &'static str, path: &str| match var(name) {
            Some(_) => url(name, ""),
            None => join(&base_url, path).map_err(|_| SetupError::Invalid(name, "not a URL")),
        };
        let reason = var("MEMORAM_ACCESS_REASON")
            .map(|reason| reason.trim().to_owned())
            .unwrap_or_else(|| DEFAULT_REASON.to_owned());
        let cipher = match var("MEMORAM_CONTENT_CIPHER") {
            None => ContentCipher::Aes256Gcm,
            Some(raw) => ContentCipher::parse(&raw).ok_or(SetupError::Invalid(
                "MEMORAM_CONTENT_CIPHER",
                "expected aes-256-gcm or none",
            ))?,
        };
        Ok(Self {
            client_id: required("MEMORAM_CLIENT_ID")?.trim().to_owned(),
            client_secret: required("MEMORAM_CLIENT_SECRET")?,
            api_key: required("MEMORAM_API_KEY")?,
            authorize_url: derived("MEMORAM_AUTHORIZE_URL", "oauth/authorize")?,
            token_url: derived("MEMORAM_TOKEN_URL", "oauth/token")?,
            base_url,
            dashboard_url: url("MEMORAM_DASHBOARD_URL", DEFAULT_DASHBOARD_URL)?,
            reason,
            scopes: var("MEMORAM_SCOPE")
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            cipher,
            app_base_url: url("APP_BASE_URL", "http://localhost:8080")?,
            session_key: session_key_from_env()?,
            after_connect: DEFAULT_AFTER_CONNECT.to_owned(),
            session_cookie: "session".to_owned(),
            flow_cookie_prefix: crate::auth::pending_flows::DEFAULT_COOKIE_PREFIX.to_owned(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        })
    }
}

/// What a connection to Memoram needs, built once and shared by every worker (cheap to clone).
#[derive(Clone)]
pub struct Memoram(Arc<Inner>);

struct Inner {
    memoram: crate::memoram::Memoram,
    spent: SpentStates,
    limit: ExchangeLimit,
    sessions: AnySessionStore,
    key: Key,
    https: bool,
    after_connect: String,
    session_cookie: String,
}

impl Memoram {
    /// Reads [`Settings::from_env`] and builds.
    pub fn from_env() -> Result<Self, SetupError> {
        Self::new(Settings::from_env()?)
    }

    /// Builds the flow, the developer token, the stores (in memory, bounded) and the client.
    pub fn new(settings: Settings) -> Result<Self, SetupError> {
        Self::build(settings, Stores::memory())
    }

    /// Like [`Memoram::new`], with sessions, connections (the person's `memory_key` among
    /// them), spent states and the developer token in Redis (cargo feature `redis`), so that
    /// every instance of the app serves a person connected through any of them, and they share
    /// one developer token. Give every instance the same [`Settings::session_key`]: without one
    /// this is [`SetupError::Missing`]`("SESSION_KEY")`.
    ///
    /// ```no_run
    /// # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
    /// use actix_memoram::redis_store::Redis;
    /// use actix_memoram::{Memoram, Settings};
    ///
    /// let memoram = Memoram::with_redis(Settings::from_env()?, Redis::connect("redis://127.0.0.1/").await?)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn with_redis(
        settings: Settings,
        redis: crate::redis_store::Redis,
    ) -> Result<Self, SetupError> {
        crate::setup::require_session_key(settings.session_key.as_deref())?;
        use crate::redis_store::{
            RedisConnections, RedisSessionStore, RedisSharedToken, RedisSpentStates,
        };
        let shared_token =
            RedisSharedToken::new(redis.clone(), &settings.base_url, &settings.api_key);
        Self::build(
            settings,
            Stores {
                sessions: AnySessionStore::new(RedisSessionStore::new(redis.clone())),
                connections: MemoramConnections::new(RedisConnections::new(
                    redis.clone(),
                    SESSION_TTL,
                )),
                spent: SpentStates::new(RedisSpentStates(redis)),
                shared_token: Some(Box::new(shared_token)),
            },
        )
    }

    fn build(settings: Settings, stores: Stores) -> Result<Self, SetupError> {
        if settings.reason.chars().count() > MAX_REASON_CHARS {
            return Err(SetupError::Invalid(
                "MEMORAM_ACCESS_REASON",
                "Memoram takes 255 characters at most",
            ));
        }
        let http = HttpClient::new(&HttpSettings {
            user_agent: settings.user_agent.clone(),
            ..HttpSettings::default()
        })
        .map_err(SetupError::Http)?;
        let not_a_base = |name| SetupError::Invalid(name, "not a base URL");
        let endpoints = crate::memoram::oauth_endpoints(
            &settings.authorize_url,
            &settings.token_url,
            &settings.app_base_url,
        )
        .map_err(|_| not_a_base("APP_BASE_URL"))?;
        let developer = DeveloperTokens::new(
            http.clone(),
            join(&settings.base_url, "auth/token").map_err(|_| not_a_base("MEMORAM_BASE_URL"))?,
            SecretString::from(settings.api_key.clone()),
            stores.shared_token,
        );
        let key = cookie_key(settings.session_key.as_deref())?;
        let https = settings.app_base_url.scheme() == "https";
        let memoram = crate::memoram::Memoram {
            oauth: OAuthFlow::new(
                endpoints,
                &settings.client_id,
                &SecretString::from(settings.client_secret.clone()),
                &settings.scopes,
                http.clone(),
            ),
            flows: FlowCookies::new(key.clone(), https, START_ROUTE)
                .named(&settings.flow_cookie_prefix),
            client: MemoramClient::new(http, settings.base_url, developer, settings.cipher),
            connections: stores.connections,
            reason: settings.reason,
            dashboard_url: settings.dashboard_url,
            send_to_llm: false,
        };
        Ok(Self(Arc::new(Inner {
            memoram,
            spent: stores.spent,
            limit: ExchangeLimit::new(TrustedProxies::default()),
            sessions: stores.sessions,
            key,
            https,
            after_connect: settings.after_connect,
            session_cookie: settings.session_cookie,
        })))
    }

    /// The session middleware the routes and [`Connected`] run under: an opaque key in an
    /// encrypted cookie (`HttpOnly`, `SameSite=Lax` so that the browser sends it on the provider's
    /// redirect back, `Secure` on https), the state server-side for connected browsers only, in
    /// memory or in Redis as the constructor chose.
    pub fn session(&self) -> SessionLayer<AnySessionStore> {
        session_middleware(
            self.0.sessions.clone(),
            self.0.key.clone(),
            &SessionCookie {
                name: self.0.session_cookie.clone(),
                secure: self.0.https,
                ttl: SESSION_TTL,
            },
        )
    }

    /// Registers [`START_ROUTE`], [`CALLBACK_ROUTE`] and [`ACCESS_ROUTE`] (`GET`: the waiting
    /// page; `POST`: ask again), and shares `self` with [`Connected`].
    pub fn configure(&self, config: &mut web::ServiceConfig) {
        config
            .app_data(web::Data::new(self.clone()))
            .route(START_ROUTE, web::get().to(start))
            .route(CALLBACK_ROUTE, web::get().to(callback))
            .route(ACCESS_ROUTE, web::get().to(access))
            .route(ACCESS_ROUTE, web::post().to(ask_again));
    }
}

/// Where a [`Memoram`] keeps its state: in memory, or in Redis.
struct Stores {
    sessions: AnySessionStore,
    connections: MemoramConnections,
    spent: SpentStates,
    /// The developer token shared by the instances; `None`: each process has its own.
    shared_token: Option<Box<dyn SharedToken>>,
}

impl Stores {
    /// In this process's memory, bounded.
    fn memory() -> Self {
        Self {
            sessions: AnySessionStore::memory(MAX_CONNECTIONS),
            connections: MemoramConnections::memory(MAX_CONNECTIONS, SESSION_TTL),
            spent: SpentStates::memory(),
            shared_token: None,
        }
    }
}

/// Quickstart steps 4–5 begin: to Memoram's authorize page.
async fn start(req: HttpRequest, this: web::Data<Memoram>) -> HttpResponse {
    begin(&req, &this.0.memoram.oauth, &this.0.memoram.flows)
}

/// Steps 4–6: the state checked and spent once, the code exchanged for the person's
/// `memory_key` (kept server-side under a new session id), the access request made; then the
/// waiting page. A failed access request keeps the connection: the waiting page asks again.
async fn callback(
    req: HttpRequest,
    params: web::Query<CallbackParams>,
    this: web::Data<Memoram>,
    session: TypedSession,
) -> Result<HttpResponse, Error> {
    let this = &this.0;
    let memoram = &this.memoram;
    let Finished {
        mut grant, cookie, ..
    } = match finish(
        &req,
        params.into_inner(),
        &this.spent,
        &this.limit,
        &memoram.oauth,
        &memoram.flows,
    )
    .await
    {
        Ok(finished) => finished,
        // The flow is over (declined, expired, failed): its cookie goes with the answer.
        Err(Failed { error, cookie }) => {
            return Ok(with_cookie(
                HttpResponse::from_error(Error::from(error)),
                cookie,
            ))
        }
    };
    let memory_key = grant.take_extra(MEMORY_KEY).ok_or(Error::NoMemoryKey)?;
    let (id, requested) = memoram.connect(&memory_key).await?;
    if let Some(previous) = session.connection(SESSION_SLOT)? {
        memoram.connections.remove(&previous).await?;
    }
    session.start_connection(SESSION_SLOT, &id)?;
    match requested {
        // The app's own credentials are refused: asking again would not help.
        Err(ApiError::Unauthorized) => return Err(Error::Api(ApiError::Unauthorized)),
        Err(error) => {
            tracing::warn!(%error, "the access request failed; the waiting page asks again")
        }
        Ok(()) => {}
    }
    Ok(with_cookie(see_other(ACCESS_ROUTE), cookie))
}

/// The connection in this browser's session, as the store has it.
async fn connection_of(
    this: &Inner,
    session: &TypedSession,
) -> Result<(ConnectionId, crate::memoram::connections::MemoramConnection), Error> {
    let id = session
        .connection(SESSION_SLOT)?
        .ok_or(Error::NotConnected)?;
    let connection = this
        .memoram
        .connections
        .get(&id)
        .await?
        .ok_or(Error::NotConnected)?;
    Ok((id, connection))
}

/// Step 6's waiting page: approved, on to [`Settings::after_connect`]; otherwise what to do,
/// with "I approved it — check now" (this page again) or "Ask again". It never reloads itself.
async fn access(this: web::Data<Memoram>, session: TypedSession) -> Result<HttpResponse, Error> {
    let this = &this.0;
    let (id, mut connection) = connection_of(this, &session).await?;
    let state = this.memoram.check_access(&id, &mut connection).await?;
    let dashboard = escape(this.memoram.dashboard_url.as_str());
    let body = match state {
        AccessState::Approved => return Ok(see_other(&this.after_connect)),
        AccessState::Pending => format!(
            "<h1>Approve the access in Memoram</h1><p>Open <a href=\"{dashboard}\">your Memoram \
             dashboard</a>, find this app's access request and approve it. Then come back here.</p>\
             <p><a href=\"{ACCESS_ROUTE}\">I approved it — check now</a></p>"
        ),
        other => {
            let said = match other {
                AccessState::Rejected => "The access request was declined.",
                AccessState::Revoked => "This app's access was revoked.",
                _ => "There is no access request for this app yet.",
            };
            let csrf = escape(&session.csrf_token()?);
            format!(
                "<h1>Ask Memoram for access</h1><p>{said}</p>\
                 <form method=\"post\" action=\"{ACCESS_ROUTE}\">\
                 <input type=\"hidden\" name=\"csrf_token\" value=\"{csrf}\">\
                 <button>Ask again</button></form>"
            )
        }
    };
    Ok(page(StatusCode::OK, &body))
}

/// The "Ask again" form.
#[derive(serde::Deserialize)]
struct AskAgain {
    csrf_token: Option<String>,
}

/// Step 6 again, after a declined or revoked request (CSRF-checked).
async fn ask_again(
    form: web::Form<AskAgain>,
    this: web::Data<Memoram>,
    session: TypedSession,
) -> Result<HttpResponse, Error> {
    let submitted = form.csrf_token.as_deref().unwrap_or_default();
    if !session.csrf_token_matches(submitted)? {
        return Err(Error::Csrf);
    }
    let (id, connection) = connection_of(&this.0, &session).await?;
    this.0.memoram.ask_again(&id, &connection).await?;
    Ok(see_other(ACCESS_ROUTE))
}

/// A memory as a page shows it: its fields, and its content opened with the person's key.
#[derive(Debug, Clone)]
pub struct Memory {
    /// Memoram's id of the memory.
    pub id: String,
    /// Its title, if it has one.
    pub title: Option<String>,
    /// Its content, decrypted; `None` when the person's key cannot open it.
    pub text: Option<String>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// The person's approved connection, for a handler: their memories, opened with their key. A
/// browser that is not connected is answered [`Error::NotConnected`]; one whose access request is
/// not approved (yet, or any more) goes to the waiting page.
pub struct Connected {
    memoram: Memoram,
    member: Member,
}

impl FromRequest for Connected {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let memoram = req.app_data::<web::Data<Memoram>>().cloned();
        let session = TypedSession::of(req);
        Box::pin(async move {
            let memoram = memoram.ok_or(Error::NotConfigured)?;
            let (id, connection) = connection_of(&memoram.0, &session).await?;
            let member = Member::new(id, connection).ok_or(Error::NotApproved)?;
            Ok(Connected {
                memoram: Memoram::clone(&memoram),
                member,
            })
        })
    }
}

impl Connected {
    /// `GET /memory-blobs`: the person's latest memories (at most `limit`, 1–100), opened. A key
    /// rotated since approval is fetched again once.
    pub async fn memories(&mut self, limit: u32) -> Result<Vec<Memory>, Error> {
        let memoram = &self.memoram.0.memoram;
        let query = BlobQuery {
            limit: limit.clamp(1, 100),
            ..BlobQuery::default()
        };
        let page = within(memoram.client.memories(&self.member.keys.user_id, &query))
            .await
            .map_err(|error| memoram.failed(&mut self.member, error))?;
        let mut memories = Vec::with_capacity(page.memory_blobs.len());
        for blob in page.memory_blobs {
            memories.push(self.opened(blob).await?);
        }
        Ok(memories)
    }

    /// `POST /memory-blobs`: saves `draft`, its content sealed with the person's current key.
    pub async fn save(&mut self, draft: &MemoryDraft) -> Result<Memory, Error> {
        let memoram = &self.memoram.0.memoram;
        // Sealed with the current key: a key rotated since approval would make it unreadable.
        memoram.check_keys(&mut self.member).await?;
        let memory_key = self.member.connection.memory_key();
        let blob = within(
            memoram
                .client
                .create_memory(&self.member.keys, &memory_key, draft),
        )
        .await
        .map_err(|error| memoram.failed(&mut self.member, error))?;
        Ok(Memory {
            id: blob.id,
            title: blob.title,
            text: Some(draft.content.clone()),
            tags: blob.tags,
        })
    }

    async fn opened(&mut self, blob: MemoryBlob) -> Result<Memory, Error> {
        let memoram = &self.memoram.0.memoram;
        let opened = memoram
            .open(&mut self.member, blob.content.as_deref())
            .await?;
        Ok(Memory {
            id: blob.id,
            title: blob.title,
            text: opened.text,
            tags: blob.tags,
        })
    }
}

/// What went wrong, with a plain page of its own ([`ResponseError`]). To render your own, map
/// it in an `ErrorHandlers` middleware, or match on it in the handler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection in this browser's session (or the store forgot it).
    #[error("not connected to Memoram")]
    NotConnected,
    /// Connected, but the access request is not approved (yet, or any more): answered with a
    /// `303` to the waiting page.
    #[error("the access to Memoram is not approved")]
    NotApproved,
    /// [`Memoram::configure`] was not called for this app.
    #[error("Memoram::configure was not called")]
    NotConfigured,
    /// A form without this session's CSRF token.
    #[error("the form's CSRF token does not match")]
    Csrf,
    /// The token response had no `memory_key`: nothing can be connected without it.
    #[error("Memoram's token response had no memory_key")]
    NoMemoryKey,
    /// The callback did not give a grant.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// A call to Memoram failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The connection could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session could not be read or written.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl From<MemberError> for Error {
    fn from(error: MemberError) -> Self {
        match error {
            MemberError::Api(error) => Error::Api(error),
            MemberError::Revoked => Error::NotApproved,
            MemberError::Gone => Error::NotConnected,
            MemberError::Store(error) => Error::Store(error),
        }
    }
}

impl Error {
    /// The person's words for it, and the status.
    fn said(&self) -> (StatusCode, &'static str) {
        match self {
            Error::NotConnected => (StatusCode::FORBIDDEN, "You are not connected to Memoram."),
            Error::NotApproved => (StatusCode::SEE_OTHER, "Approve the access first."),
            Error::Csrf => (
                StatusCode::FORBIDDEN,
                "This form is too old or was not sent from this site. Try again.",
            ),
            Error::Flow(FlowError::TooManyFailedSignIns) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ins failed from your address lately. Wait ten minutes.",
            ),
            Error::Flow(FlowError::Exchange(..)) | Error::NoMemoryKey => (
                StatusCode::BAD_GATEWAY,
                "Memoram did not complete the sign-in. Try again.",
            ),
            Error::Flow(FlowError::AuthorizationFailed { .. }) => {
                (StatusCode::FORBIDDEN, "Memoram was not connected.")
            }
            Error::Flow(_) => (
                StatusCode::BAD_REQUEST,
                "This sign-in was not started in this browser, was already completed, or is too old.",
            ),
            Error::Api(_) => (
                StatusCode::BAD_GATEWAY,
                "Memoram is not answering as it should. Try again.",
            ),
            Error::NotConfigured | Error::Store(_) | Error::Session(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong here. Try again.",
            ),
        }
    }
}

impl ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        self.said().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, words) = self.said();
        if status == StatusCode::SEE_OTHER {
            return see_other(ACCESS_ROUTE);
        }
        if status.is_server_error() {
            tracing::error!(error = %self, "Memoram request failed");
        } else {
            tracing::info!(error = %self, "Memoram request refused");
        }
        page(
            status,
            &format!("<p>{words}</p><p><a href=\"{START_ROUTE}\">Connect Memoram</a></p>"),
        )
    }
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// A plain page around `body` (HTML this crate wrote; outside text goes through [`escape`]).
fn page(status: StatusCode, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Memoram</title><main>{body}</main></html>"
        ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
