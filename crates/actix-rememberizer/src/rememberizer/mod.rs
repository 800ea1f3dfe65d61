//! The typed Rememberizer API client (Step 5 of the provider's doc).
//!
//! One method per endpoint, serde types per response (`models`), and one place (`get_json`) that
//! attaches the bearer token and turns HTTP outcomes into [`ApiError`]s the pages can explain.

pub mod cache;
pub mod live_check;
pub mod models;

use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

pub use crate::api::ApiError;
use crate::api::{decode, send_bearer};
use crate::auth::oauth::{join, Endpoints};
use crate::auth::session::Slot;
use crate::auth::tokens::AccessToken;
use crate::http_client::HttpClient;
pub use models::*;

/// Rememberizer's OAuth endpoints, relative to `REMEMBERIZER_BASE_URL` ("Authorizing Rememberizer
/// apps").
const AUTHORIZE_PATH: &str = "api/v1/auth/oauth2/authorize/";
const TOKEN_PATH: &str = "api/v1/auth/oauth2/token/";
/// Where a browser's Rememberizer connection is kept in its session.
pub const SESSION_SLOT: Slot = Slot::new("connection_id");

/// Step 3's route, where Rememberizer sends the browser back: `APP_BASE_URL` + this is the
/// redirect URI registered at Rememberizer.
pub const CALLBACK_ROUTE: &str = "/auth/rememberizer/callback";

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
    join(app_base_url, CALLBACK_ROUTE.trim_start_matches('/'))
}

/// Hits a [`SearchQuery::default`] asks for.
pub const DEFAULT_SEARCH_HITS: u32 = 10;

/// Query of `GET /api/v1/documents/search/`. Its `Default` asks for [`DEFAULT_SEARCH_HITS`].
#[derive(Debug, Clone)]
pub struct SearchQuery {
    /// The question, in plain words (`q`).
    pub q: String,
    /// Number of hits asked for (`n`; always sent, so the API's default of 3 never applies).
    pub n: u32,
    /// Only documents from this instant on (`from`, ISO 8601).
    pub from: Option<String>,
    /// Only documents up to this instant (`to`, ISO 8601).
    pub to: Option<String>,
}

impl Default for SearchQuery {
    /// No question yet, [`DEFAULT_SEARCH_HITS`] hits, no time window: never `n=0`.
    fn default() -> Self {
        Self {
            q: String::new(),
            n: DEFAULT_SEARCH_HITS,
            from: None,
            to: None,
        }
    }
}

/// A time window of `GET /api/v1/discussions/{pk}/contents/`, as ISO 8601 instants in UTC.
#[derive(Debug, Clone)]
pub struct DiscussionWindow {
    /// The window's start, sent as `from`.
    pub earliest: String,
    /// The window's end, sent as `to`.
    pub latest: String,
}

/// Query of `GET /api/v1/documents/`.
#[derive(Debug, Clone, Default)]
pub struct DocumentsQuery {
    /// The page, counted from 1 (`page`).
    pub page: u32,
    /// Documents per page (`page_size`; the MCP server allows 1–1000).
    pub page_size: u32,
    /// Only this integration's documents (`google_drive`, `slack`, …); `None`: all of them.
    pub integration_type: Option<String>,
}

/// Rememberizer's API under `/api/v1/`, one method per endpoint, each call with the connection's
/// access token (see [`crate::api::with_access_token`] for the refresh). Cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiClient {
    http: HttpClient,
    api_base: Url,
}

impl ApiClient {
    /// The API of the Rememberizer at `provider_url` (e.g. `https://api.rememberizer.ai`; a path
    /// in it is kept), called through `http`. Fails when `provider_url` cannot be a base URL.
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

    /// `GET /api/v1/account/`: the signed-in user's id, email and name.
    pub async fn account(&self, token: &AccessToken) -> Result<Account, ApiError> {
        self.get_json(token, "account/", &[]).await
    }

    /// `GET /api/v1/integrations/`: the user's data sources and their indexing counts (the
    /// answer's `data`; empty when it has none).
    pub async fn integrations(&self, token: &AccessToken) -> Result<Vec<Integration>, ApiError> {
        let list: IntegrationList = self.get_json(token, "integrations/", &[]).await?;
        Ok(list.data)
    }

    /// `GET /api/v1/documents/`: one page of the documents in the mementos the app was granted.
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

    /// Health: can the provider be reached at all (`api::probe`)?
    pub async fn probe(&self) -> Result<(), ApiError> {
        crate::api::probe(&self.http, self.api_base.clone()).await
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
        decode(&self.send(token, method, path, params, body).await?)
    }

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
            .map_err(|e| ApiError::Local(format!("bad API path: {e}")))?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        send_bearer(&self.http, token, method, url, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_search_asks_for_some_hits_never_none() {
        // A derived `Default` would send `n=0`.
        let query = SearchQuery::default();
        assert_eq!(query.n, DEFAULT_SEARCH_HITS);
        assert!(query.n > 0);
    }
}
