//! What any provider's API client needs: the one function that sends a bearer call and reads
//! the status, and the errors it means. A provider's client (`rememberizer::ApiClient`) builds
//! its URLs and bodies and calls [`send_bearer`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use url::Url;

use crate::auth::oauth::OAuthFlow;
use crate::auth::single_flight::{Late, Panicked};
use crate::auth::tokens::{AccessToken, TokenError, TokenStore};
use crate::auth::{within_deadline, ConnectionId};
use crate::http_client::{HttpClient, HttpError};

/// What a call to a provider's API can end in. Cheap to clone: a renewal's failure is shared
/// with every call that waited for it (`auth::single_flight`).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// 401: the bearer token is expired or revoked.
    #[error("the access token was not accepted")]
    Unauthorized,
    /// 429: the provider asks us to slow down.
    #[error("rate limited by the provider")]
    RateLimited {
        /// How long the provider asked us to wait: `Retry-After` in seconds; `None` when it
        /// was absent or an HTTP-date.
        retry_after: Option<Duration>,
    },
    /// Could not connect, 5xx, or a broken connection.
    #[error("the provider is unavailable")]
    Unavailable(#[source] Option<Arc<HttpError>>),
    /// No answer within the HTTP client's timeouts (10 s a request by default, 2 s for
    /// [`probe`]), or the request's deadline (`auth::with_deadline`) passed first.
    #[error("the provider did not answer in time")]
    Timeout,
    /// Not JSON, not the expected shape, or too large.
    #[error("the provider's response was not usable: {0}")]
    BadResponse(String),
    /// This app could not build or seal the request (a bug or a configuration problem): the
    /// provider was not asked, and is not to blame.
    #[error("the request could not be made here: {0}")]
    Local(String),
    /// 404: the provider has no such resource.
    #[error("not found")]
    NotFound,
    /// Another 4xx: the request itself was refused (403 included).
    #[error("the provider refused the request with status {0}")]
    Refused(StatusCode),
}

impl From<Late> for ApiError {
    fn from(_: Late) -> Self {
        ApiError::Timeout
    }
}

impl From<Panicked> for ApiError {
    fn from(_: Panicked) -> Self {
        ApiError::Unavailable(None)
    }
}

/// Why a call made with a connection's access token failed: no token could be had, or the API
/// refused or failed the call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No valid access token could be had: not connected, the grant ended
    /// (`TokenError::Reconnect`), or a refresh failed or was late.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The API refused or failed the call. From [`with_access_token`], never
    /// `ApiError::Unauthorized`: a 401 to the refreshed token is [`CallError::FreshTokenRefused`].
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The API answered 401 to an access token the token endpoint had just issued. The grant
    /// is not gone (its refresh token just worked), so it is kept.
    #[error("the API refused a freshly refreshed access token")]
    FreshTokenRefused,
}

/// Step 5 for handlers: runs `call` with a valid access token of `connection` (refreshed first
/// if it expired). If the API still answers 401, the token is refreshed once and `call` retried
/// once. A refresh that says the grant is gone (`invalid_grant`) drops the tokens:
/// `TokenError::Reconnect`. A second 401, to the token just issued, is `FreshTokenRefused` and
/// drops nothing: Rememberizer's docs define a 401 as "invalid or missing authentication
/// credentials" (a 403 is the one for "no permission"), and the token endpoint has just shown
/// the grant to be valid. All of it ends by the request's deadline
/// (`auth::with_deadline`): a slow refresh plus a slow call cannot add up to more than one
/// page's budget. A refresh in flight at the deadline goes on and stores its result.
pub async fn with_access_token<T, F, Fut>(
    tokens: &TokenStore,
    oauth: &OAuthFlow,
    connection: &ConnectionId,
    call: F,
) -> Result<T, CallError>
where
    F: Fn(AccessToken) -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let work = async {
        let token = tokens.access_token(connection, oauth).await?;
        let sent_at = tokio::time::Instant::now();
        match call(token.clone()).await {
            Err(ApiError::Unauthorized) => {
                let token = tokens
                    .refresh_rejected(connection, &token, sent_at, oauth)
                    .await?;
                match call(token).await {
                    Err(ApiError::Unauthorized) => Err(CallError::FreshTokenRefused),
                    other => Ok(other?),
                }
            }
            other => Ok(other?),
        }
    };
    within_deadline(work, || ApiError::Timeout.into()).await
}

/// The one place that attaches a bearer token and interprets the status: the body of a 2xx
/// answer, or the error the status means.
pub async fn send_bearer(
    http: &HttpClient,
    token: &AccessToken,
    method: Method,
    url: Url,
    body: Option<&serde_json::Value>,
) -> Result<Vec<u8>, ApiError> {
    let mut authorization = reqwest::header::HeaderValue::try_from(token.bearer_header())
        .map_err(|_| ApiError::BadResponse("the token is not a valid header value".to_owned()))?;
    // Marked sensitive so that no HTTP-layer debug output ever prints it.
    authorization.set_sensitive(true);
    let mut request = http
        .request(method, url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .header(reqwest::header::ACCEPT, "application/json");
    if let Some(body) = body {
        request = request.json(body);
    }
    send(http, request).await
}

/// Sends `request` and reads the status: the body of a 2xx answer, or the error the status
/// means (also for calls that carry no bearer token).
pub async fn send(http: &HttpClient, request: RequestBuilder) -> Result<Vec<u8>, ApiError> {
    let response = http.send(request).await.map_err(|e| match e {
        HttpError::Timeout => ApiError::Timeout,
        HttpError::TooLarge(limit) => {
            ApiError::BadResponse(format!("response larger than {limit} bytes"))
        }
        other => ApiError::Unavailable(Some(Arc::new(other))),
    })?;
    match response.status {
        status if status.is_success() => Ok(response.body),
        StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized),
        StatusCode::NOT_FOUND => Err(ApiError::NotFound),
        StatusCode::TOO_MANY_REQUESTS => Err(ApiError::RateLimited {
            retry_after: retry_after(&response.headers),
        }),
        status if status.is_server_error() => Err(ApiError::Unavailable(None)),
        // A redirect is never followed (see http_client) and is not an answer either.
        status => Err(ApiError::Refused(status)),
    }
}

/// Health: can the provider at `url` be reached at all? Any answer below 500 (even 401 or 404
/// to this unauthenticated call) means it is up. Two seconds at most.
pub async fn probe(http: &HttpClient, url: Url) -> Result<(), ApiError> {
    let request = http
        .request(Method::GET, url)
        .timeout(Duration::from_secs(2));
    match http.send(request).await {
        Ok(response) if !response.status.is_server_error() => Ok(()),
        Ok(_) => Err(ApiError::Unavailable(None)),
        Err(HttpError::Timeout) => Err(ApiError::Timeout),
        Err(HttpError::TooLarge(_)) => Ok(()),
        Err(other) => Err(ApiError::Unavailable(Some(Arc::new(other)))),
    }
}

/// A 2xx body as JSON of type `T`.
pub fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadResponse(format!("unexpected JSON: {e}")))
}

/// `Retry-After` in its delta-seconds form; an HTTP-date is treated as absent.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
