//! Rememberizer in an actix-web app in a few lines: [`Rememberizer`] holds what a connection
//! needs, [`Rememberizer::session`] is the session middleware it runs under, its routes
//! ([`Rememberizer::configure`]) run Steps 1 and 3–4, and the [`Connected`] extractor hands a
//! handler the person's connection, with the typed API calls of Step 5.
//!
//! Everything the flow must withstand is here, not in the app: `state` and PKCE S256, the flow
//! in an encrypted cookie of its own, each state exchanged once, the failed-exchange limit,
//! timeouts on every call, a lenient token response, tokens server-side, refresh once per
//! connection, and a session store that holds connected browsers only.

use std::sync::Arc;
use std::time::Duration;

use actix_web::cookie::Key;
use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use futures_util::future::LocalBoxFuture;
use url::Url;

use crate::api::{with_access_token, ApiError, CallError};
use crate::auth::exchange_limit::{ExchangeLimit, TrustedProxies};
use crate::auth::oauth::OAuthFlow;
use crate::auth::pending_flows::{FlowCookies, SpentStates};
use crate::auth::session::{SessionError, TypedSession};
use crate::auth::session_cookie::{session_middleware, SessionCookie, SessionLayer};
use crate::auth::session_store::AnySessionStore;
use crate::auth::tokens::{TokenError, TokenSet, TokenStore};
use crate::auth::ConnectionId;
use crate::connect::{begin, finish, with_cookie, CallbackParams, Failed, Finished, FlowError};
use crate::http_client::{HttpClient, HttpSettings};
use crate::rememberizer::{Account, ApiClient, Document, DocumentsQuery, SESSION_SLOT};
use actix_oauth_client::setup::{cookie_key, required, session_key_from_env, url};
pub use actix_oauth_client::setup::{session_key, SetupError};

/// Step 1's route: "Connect Rememberizer" links here.
pub const START_ROUTE: &str = "/auth/rememberizer";
pub use crate::rememberizer::CALLBACK_ROUTE;
/// Where the browser goes after connecting, unless [`Settings::after_connect`] says otherwise.
pub const DEFAULT_AFTER_CONNECT: &str = "/dashboard";
/// The `User-Agent` unless [`Settings::user_agent`] says otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("actix-rememberizer/", env!("CARGO_PKG_VERSION"));
/// Connected sessions (and their tokens) end this long after their last use.
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Connected browsers kept at most in memory (the least recently used make room).
const MAX_CONNECTIONS: u64 = 100_000;

/// What [`Rememberizer::new`] needs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The app's client id, from Rememberizer's Developer Hub.
    pub client_id: String,
    /// Its client secret (sent in the token request's body, never to the browser).
    pub client_secret: String,
    /// Rememberizer, e.g. `https://api.rememberizer.ai` (or a simulator).
    pub base_url: Url,
    /// The app's public origin; the redirect URI is this + [`CALLBACK_ROUTE`]. `https` here
    /// makes every cookie `Secure`.
    pub app_base_url: Url,
    /// 64 bytes or more that sign and encrypt the cookies; `None`: random at each start (every
    /// browser's session ends with the process).
    pub session_key: Option<Vec<u8>>,
    /// Where the browser goes after connecting (a path of this app).
    pub after_connect: String,
    /// The session cookie's name (default `session`).
    pub session_cookie: String,
    /// The flow cookies' names start with this (default `oauth_flow_`).
    pub flow_cookie_prefix: String,
    /// The `User-Agent` of every call to Rememberizer (default `actix-rememberizer/<version>`):
    /// your app's name is better.
    pub user_agent: String,
}

impl Settings {
    /// From the environment: `REMEMBERIZER_CLIENT_ID` and `REMEMBERIZER_CLIENT_SECRET`
    /// (required), `REMEMBERIZER_BASE_URL` (default `https://api.rememberizer.ai`),
    /// `APP_BASE_URL` (default `http://localhost:8080`), `SESSION_KEY` (base64 or hex, 64+
    /// bytes; default random). An error names the variable, never its value.
    pub fn from_env() -> Result<Self, SetupError> {
        Ok(Self {
            client_id: required("REMEMBERIZER_CLIENT_ID")?.trim().to_owned(),
            client_secret: required("REMEMBERIZER_CLIENT_SECRET")?,
            base_url: url("REMEMBERIZER_BASE_URL", "https://api.rememberizer.ai")?,
            app_base_url: url("APP_BASE_URL", "http://localhost:8080")?,
            session_key: session_key_from_env()?,
            after_connect: DEFAULT_AFTER_CONNECT.to_owned(),
            session_cookie: "session".to_owned(),
            flow_cookie_prefix: crate::auth::pending_flows::DEFAULT_COOKIE_PREFIX.to_owned(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        })
    }
}

/// What a connection to Rememberizer needs, built once and shared by every worker (cheap to
/// clone).
#[derive(Clone)]
pub struct Rememberizer(Arc<Inner>);

struct Inner {
    oauth: OAuthFlow,
    flows: FlowCookies,
    spent: SpentStates,
    limit: ExchangeLimit,
    tokens: TokenStore,
    api: ApiClient,
    sessions: AnySessionStore,
    key: Key,
    https: bool,
    after_connect: String,
    session_cookie: String,
}

impl Rememberizer {
    /// Reads [`Settings::from_env`] and builds.
    pub fn from_env() -> Result<Self, SetupError> {
        Self::new(Settings::from_env()?)
    }

    /// Builds the flow, the stores (in memory, bounded) and the API client.
    pub fn new(settings: Settings) -> Result<Self, SetupError> {
        Self::build(settings, Stores::memory())
    }

    /// Like [`Rememberizer::new`], with sessions, tokens and spent states in Redis (cargo
    /// feature `redis`), so that every instance of the app serves a person connected through
    /// any of them, and a restart keeps them connected. Give every instance the same
    /// [`Settings::session_key`]: without one this is [`SetupError::Missing`]`("SESSION_KEY")`.
    ///
    /// ```no_run
    /// # async fn wire() -> Result<(), Box<dyn std::error::Error>> {
    /// use actix_rememberizer::redis_store::Redis;
    /// use actix_rememberizer::{Rememberizer, Settings};
    ///
    /// let rememberizer = Rememberizer::with_redis(Settings::from_env()?, Redis::connect("redis://127.0.0.1/").await?)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    pub fn with_redis(
        settings: Settings,
        redis: crate::redis_store::Redis,
    ) -> Result<Self, SetupError> {
        actix_oauth_client::setup::require_session_key(settings.session_key.as_deref())?;
        use crate::redis_store::{RedisSessionStore, RedisSpentStates, RedisTokens};
        let refresh_timeout = HttpSettings::default().request_timeout;
        Self::build(
            settings,
            Stores {
                sessions: AnySessionStore::new(RedisSessionStore::new(redis.clone())),
                tokens: TokenStore::new(RedisTokens::new(
                    redis.clone(),
                    SESSION_TTL,
                    refresh_timeout,
                )),
                spent: SpentStates::new(RedisSpentStates(redis)),
            },
        )
    }

    fn build(settings: Settings, stores: Stores) -> Result<Self, SetupError> {
        let http = HttpClient::new(&HttpSettings {
            user_agent: settings.user_agent.clone(),
            ..HttpSettings::default()
        })
        .map_err(SetupError::Http)?;
        let endpoints =
            crate::rememberizer::oauth_endpoints(&settings.base_url, &settings.app_base_url)
                .map_err(|_| SetupError::Invalid("REMEMBERIZER_BASE_URL", "not a base URL"))?;
        let key = cookie_key(settings.session_key.as_deref())?;
        let https = settings.app_base_url.scheme() == "https";
        Ok(Self(Arc::new(Inner {
            oauth: OAuthFlow::new(
                endpoints,
                &settings.client_id,
                &secrecy::SecretString::from(settings.client_secret.clone()),
                &["offline_access".to_owned()],
                http.clone(),
            ),
            flows: FlowCookies::new(key.clone(), https, START_ROUTE)
                .named(&settings.flow_cookie_prefix),
            spent: stores.spent,
            limit: ExchangeLimit::new(TrustedProxies::default()),
            tokens: stores.tokens,
            api: ApiClient::new(http, &settings.base_url)
                .map_err(|_| SetupError::Invalid("REMEMBERIZER_BASE_URL", "not a base URL"))?,
            sessions: stores.sessions,
            key,
            https,
            after_connect: settings.after_connect,
            session_cookie: settings.session_cookie,
        })))
    }

    /// The session middleware the routes and [`Connected`] run under: an opaque key in an
    /// encrypted cookie (`HttpOnly`, `SameSite=Lax` so that the browser sends it on the provider's
    /// redirect back, `Secure` on https), the state server-side for connected browsers only
    /// ([`session_middleware`]), in memory or in Redis as the constructor chose.
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

    /// Registers [`START_ROUTE`] and [`CALLBACK_ROUTE`] (and shares `self` with [`Connected`]).
    pub fn configure(&self, config: &mut web::ServiceConfig) {
        config
            .app_data(web::Data::new(self.clone()))
            .route(START_ROUTE, web::get().to(start))
            .route(CALLBACK_ROUTE, web::get().to(callback));
    }
}

/// Where a [`Rememberizer`] keeps its state: in memory, or in Redis.
struct Stores {
    sessions: AnySessionStore,
    tokens: TokenStore,
    spent: SpentStates,
}

impl Stores {
    /// In this process's memory, bounded.
    fn memory() -> Self {
        Self {
            sessions: AnySessionStore::memory(MAX_CONNECTIONS),
            tokens: TokenStore::memory(MAX_CONNECTIONS, SESSION_TTL),
            spent: SpentStates::memory(),
        }
    }
}

/// Step 1: to Rememberizer's authorize page.
async fn start(req: HttpRequest, this: web::Data<Rememberizer>) -> HttpResponse {
    begin(&req, &this.0.oauth, &this.0.flows)
}

/// Steps 3–4: the state checked and spent once, the code exchanged, the tokens kept
/// server-side under a new session id.
async fn callback(
    req: HttpRequest,
    params: web::Query<CallbackParams>,
    this: web::Data<Rememberizer>,
    session: TypedSession,
) -> Result<HttpResponse, Error> {
    let this = &this.0;
    let Finished {
        grant,
        cookie,
        return_to,
    } = match finish(
        &req,
        params.into_inner(),
        &this.spent,
        &this.limit,
        &this.oauth,
        &this.flows,
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
    let connection = this.tokens.insert(TokenSet::from_grant(grant)).await?;
    if let Some(previous) = session.connection(SESSION_SLOT)? {
        this.tokens.remove(&previous).await?;
    }
    session.start_connection(SESSION_SLOT, &connection)?;
    let mut response = HttpResponse::SeeOther();
    let next = return_to.as_deref().unwrap_or(&this.after_connect);
    response.insert_header((header::LOCATION, next));
    Ok(with_cookie(response.finish(), cookie))
}

/// The person's connection, for a handler: Step 5's calls, with the access token refreshed
/// when it expires. A request that is not connected is answered [`Error::NotConnected`].
pub struct Connected {
    rememberizer: Rememberizer,
    connection: ConnectionId,
}

impl FromRequest for Connected {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let rememberizer = req.app_data::<web::Data<Rememberizer>>().cloned();
        let connection = TypedSession::of(req).connection(SESSION_SLOT);
        Box::pin(async move {
            let rememberizer = rememberizer.ok_or(Error::NotConfigured)?;
            let connection = connection?.ok_or(Error::NotConnected)?;
            Ok(Connected {
                rememberizer: Rememberizer::clone(&rememberizer),
                connection,
            })
        })
    }
}

impl Connected {
    /// `GET /api/v1/account/`: who is connected.
    pub async fn account(&self) -> Result<Account, Error> {
        let api = &self.rememberizer.0.api;
        self.call(|token| async move { api.account(&token).await })
            .await
    }

    /// `GET /api/v1/documents/`: one page of the documents in the mementos the person shared.
    pub async fn documents(&self, page: u32) -> Result<Vec<Document>, Error> {
        let api = &self.rememberizer.0.api;
        let query = DocumentsQuery {
            page: page.max(1),
            page_size: 50,
            integration_type: None,
        };
        let query = &query;
        let found = self
            .call(|token| async move { api.documents(&token, query).await })
            .await?;
        Ok(found.results)
    }

    async fn call<T, F, Fut>(&self, call: F) -> Result<T, Error>
    where
        F: Fn(crate::auth::tokens::AccessToken) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let inner = &self.rememberizer.0;
        with_access_token(&inner.tokens, &inner.oauth, &self.connection, call)
            .await
            .map_err(Error::from)
    }
}

/// What went wrong, with a plain page of its own ([`ResponseError`]). To render your own, map
/// it in an `ErrorHandlers` middleware, or match on it in the handler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection in this browser's session.
    #[error("not connected to Rememberizer")]
    NotConnected,
    /// [`Rememberizer::configure`] was not called for this app.
    #[error("Rememberizer::configure was not called")]
    NotConfigured,
    /// The callback did not give a grant.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The grant is gone or the tokens could not be had.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A call to Rememberizer failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The session could not be read or written.
    #[error(transparent)]
    Session(#[from] SessionError),
}

impl Error {
    /// The person's words for it, and the status.
    fn said(&self) -> (StatusCode, &'static str) {
        match self {
            Error::NotConnected | Error::Token(TokenError::Reconnect) => (
                StatusCode::FORBIDDEN,
                "You are not connected to Rememberizer.",
            ),
            Error::Call(CallError::Token(TokenError::Reconnect)) => (
                StatusCode::FORBIDDEN,
                "Your connection to Rememberizer ended. Connect again.",
            ),
            Error::Flow(FlowError::TooManyFailedSignIns) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ins failed from your address lately. Wait ten minutes.",
            ),
            Error::Flow(FlowError::Exchange(..)) => (
                StatusCode::BAD_GATEWAY,
                "Rememberizer did not complete the sign-in. Try again.",
            ),
            Error::Flow(FlowError::AuthorizationFailed { .. }) => (
                StatusCode::FORBIDDEN,
                "Rememberizer was not connected.",
            ),
            Error::Flow(_) => (
                StatusCode::BAD_REQUEST,
                "This sign-in was not started in this browser, was already completed, or is too old.",
            ),
            Error::Call(_) | Error::Token(_) => (
                StatusCode::BAD_GATEWAY,
                "Rememberizer is not answering as it should. Try again.",
            ),
            Error::NotConfigured | Error::Session(_) => (
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
        if status.is_server_error() {
            tracing::error!(error = %self, "Rememberizer request failed");
        } else {
            tracing::info!(error = %self, "Rememberizer request refused");
        }
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(format!(
                "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Rememberizer</title>\
                 <p>{words}</p><p><a href=\"{START_ROUTE}\">Connect Rememberizer</a></p></html>"
            ))
    }
}
