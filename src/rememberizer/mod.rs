//! The typed Rememberizer API client (Step 5 of the provider's doc).
//!
//! One method per endpoint, serde types per response (`models`), and one place (`get_json`) that
//! attaches the bearer token and turns HTTP outcomes into [`ApiError`]s the pages can explain.

pub mod live_check;
pub mod models;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::http_client::{HttpClient, HttpError};
use crate::oauth::{join, Endpoints};
use crate::tokens::AccessToken;
pub use models::*;

/// Rememberizer's OAuth endpoints, relative to `REMEMBERIZER_BASE_URL` ("Authorizing Rememberizer
/// apps").
const AUTHORIZE_PATH: &str = "api/v1/auth/oauth2/authorize/";
const TOKEN_PATH: &str = "api/v1/auth/oauth2/token/";
/// Where Rememberizer sends the browser back (Step 3), relative to `APP_BASE_URL`.
pub const CALLBACK_PATH: &str = "auth/rememberizer/callback";

/// The flow's endpoints: Rememberizer takes the client credentials in the form body
/// ("client_secret_post"), not in an HTTP Basic header.
pub fn oauth_endpoints(
    provider_url: &Url,
    app_base_url: &Url,
) -> Result<Endpoints, url::ParseError> {
    Ok(Endpoints {
        authorize: join(provider_url, AUTHORIZE_PATH)?,
        token: join(provider_url, TOKEN_PATH)?,
        redirect: redirect_uri(app_base_url)?,
        secret_in_body: true,
    })
}

/// `APP_BASE_URL/auth/rememberizer/callback`, the URI registered at Rememberizer.
pub fn redirect_uri(app_base_url: &Url) -> Result<Url, url::ParseError> {
    join(app_base_url, CALLBACK_PATH)
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: the access token is expired or revoked.
    #[error("the access token was not accepted")]
    Unauthorized,
    /// 429: the provider asks us to slow down.
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    /// Could not connect, 5xx, or a broken connection.
    #[error("the provider is unavailable")]
    Unavailable(#[source] Option<HttpError>),
    #[error("the provider did not answer in time")]
    Timeout,
    /// Not JSON, not the expected shape, or too large.
    #[error("the provider's response was not usable: {0}")]
    BadResponse(String),
    #[error("not found")]
    NotFound,
    /// Another 4xx: the request itself was refused.
    #[error("the provider refused the request with status {0}")]
    Refused(StatusCode),
}

/// Query of `GET /api/v1/documents/search/`.
#[derive(Debug, Clone, Default)]
pub struct SearchQuery {
    pub q: String,
    /// Number of hits (`n`).
    pub n: u32,
    /// Only documents from this instant on (`from`, ISO 8601).
    pub from: Option<String>,
    /// Only documents up to this instant (`to`, ISO 8601).
    pub to: Option<String>,
}

/// A time window of `GET /api/v1/discussions/{pk}/contents/`, as ISO 8601 instants in UTC.
#[derive(Debug, Clone)]
pub struct DiscussionWindow {
    pub earliest: String,
    pub latest: String,
}

/// Query of `GET /api/v1/documents/`.
#[derive(Debug, Clone, Default)]
pub struct DocumentsQuery {
    pub page: u32,
    pub page_size: u32,
    pub integration_type: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ApiClient {
    http: HttpClient,
    api_base: Url,
}

impl ApiClient {
    pub fn new(http: HttpClient, provider_url: &Url) -> Result<Self, url::ParseError> {
        let mut base = provider_url.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        Ok(Self {
            http,
            api_base: base.join("api/v1/")?,
        })
    }

    pub async fn account(&self, token: &AccessToken) -> Result<Account, ApiError> {
        self.get_json(token, "account/", &[]).await
    }

    pub async fn integrations(&self, token: &AccessToken) -> Result<Vec<Integration>, ApiError> {
        let list: IntegrationList = self.get_json(token, "integrations/", &[]).await?;
        Ok(list.data)
    }

    pub async fn documents(
        &self,
        token: &AccessToken,
        query: &DocumentsQuery,
    ) -> Result<Page<Document>, ApiError> {
        let mut params = vec![
            ("page", query.page.to_string()),
            ("page_size", query.page_size.to_string()),
        ];
        if let Some(kind) = &query.integration_type {
            params.push(("integration_type", kind.clone()));
        }
        self.get_json(token, "documents/", &params).await
    }

    /// Readiness: can the provider be reached at all? Any answer below 500 (even 401 or 404 to
    /// this unauthenticated call) means it is up.
    pub async fn probe(&self) -> Result<(), ApiError> {
        let request = self
            .http
            .request(Method::GET, self.api_base.clone())
            .timeout(Duration::from_secs(2));
        match self.http.send(request).await {
            Ok(response) if !response.status.is_server_error() => Ok(()),
            Ok(_) => Err(ApiError::Unavailable(None)),
            Err(HttpError::Timeout) => Err(ApiError::Timeout),
            Err(HttpError::TooLarge(_)) => Ok(()),
            Err(other) => Err(ApiError::Unavailable(Some(other))),
        }
    }

    /// The user's account with quota and usage (`/api/v1/me/`).
    pub async fn me(&self, token: &AccessToken) -> Result<Me, ApiError> {
        self.get_json(token, "me/", &[]).await
    }

    /// The mementos this app was granted. The public OpenAPI file does not describe this
    /// endpoint, so both a plain list and a DRF page are accepted.
    pub async fn mementos(&self, token: &AccessToken) -> Result<Vec<Memento>, ApiError> {
        let list: ListOrPage<Memento> = self.get_json(token, "mementos/", &[]).await?;
        Ok(list.into_items())
    }

    /// Semantic search over the granted documents: hits best first, and per-source counts.
    pub async fn search(
        &self,
        token: &AccessToken,
        query: &SearchQuery,
    ) -> Result<Found, ApiError> {
        let mut params = vec![("q", query.q.clone()), ("n", query.n.to_string())];
        if let Some(from) = &query.from {
            params.push(("from", from.clone()));
        }
        if let Some(to) = &query.to {
            params.push(("to", to.clone()));
        }
        let found: SearchResults = self.get_json(token, "documents/search/", &params).await?;
        found.into_found().ok_or_else(|| {
            ApiError::BadResponse("a search answer with neither matched_chunks nor data".to_owned())
        })
    }

    /// Up to 20 chunks of a file document's text from `start_chunk`; continue from `end_chunk`.
    pub async fn contents(
        &self,
        token: &AccessToken,
        pk: u64,
        start_chunk: u32,
    ) -> Result<Contents, ApiError> {
        let path = format!("documents/{pk}/contents/");
        let params = [("start_chunk", start_chunk.to_string())];
        self.get_json(token, &path, &params).await
    }

    /// A Slack or Discord channel's main messages and threads over a time window.
    ///
    /// The docs' parameter table says `from` is where the window starts, defaulting to now, and
    /// `to` "7 days before from"; their code samples send the earlier instant as `from` and the
    /// later as `to`. The samples are what clients run, so this sends `from` ≤ `to`.
    pub async fn discussion(
        &self,
        token: &AccessToken,
        pk: u64,
        integration_type: &str,
        window: &DiscussionWindow,
    ) -> Result<DiscussionContents, ApiError> {
        let path = format!("discussions/{pk}/contents/");
        let params = [
            ("integration_type", integration_type.to_owned()),
            ("from", window.earliest.clone()),
            ("to", window.latest.clone()),
        ];
        self.get_json(token, &path, &params).await
    }

    /// Stores a note in the user's knowledge (`201 Created`). The contract says nothing of the
    /// answer's body, so any 2xx is success, whatever (if anything) it carries.
    pub async fn memorize(
        &self,
        token: &AccessToken,
        name: &str,
        content: &str,
    ) -> Result<(), ApiError> {
        let body = serde_json::json!({ "name": name, "content": content });
        self.send(token, Method::POST, "documents/memorize/", &[], Some(&body))
            .await
            .map(drop)
    }

    /// A `GET` whose 2xx body is returned as sent (for `live_check`, which reports the shape it
    /// saw before decoding it with the same models as the methods above).
    pub async fn get_body(
        &self,
        token: &AccessToken,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<Vec<u8>, ApiError> {
        self.send(token, Method::GET, path, params, None).await
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        token: &AccessToken,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<T, ApiError> {
        self.call(token, Method::GET, path, params, None).await
    }

    /// A call whose successful answer is JSON of type `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        token: &AccessToken,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        let body = self.send(token, method, path, params, body).await?;
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadResponse(format!("unexpected JSON: {e}")))
    }

    /// The one place that attaches the bearer token and interprets the status: the body of a
    /// 2xx answer, or the error the status means.
    async fn send(
        &self,
        token: &AccessToken,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let mut url = self
            .api_base
            .join(path)
            .map_err(|e| ApiError::BadResponse(format!("bad API path: {e}")))?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        let mut authorization = reqwest::header::HeaderValue::try_from(token.bearer_header())
            .map_err(|_| {
                ApiError::BadResponse("the access token is not a valid header value".to_owned())
            })?;
        // Marked sensitive so that no HTTP-layer debug output ever prints it.
        authorization.set_sensitive(true);
        let mut request = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = self.http.send(request).await.map_err(|e| match e {
            HttpError::Timeout => ApiError::Timeout,
            HttpError::TooLarge(limit) => {
                ApiError::BadResponse(format!("response larger than {limit} bytes"))
            }
            other => ApiError::Unavailable(Some(other)),
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
}

/// `Retry-After` in its delta-seconds form; an HTTP-date is treated as absent.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}
