//! Memoram's client side: its OAuth endpoints, the typed API client, and what is particular to
//! it (the developer token, access requests, encrypted memory content). The routes that run
//! these steps are the crate's own ([`crate::Memoram::configure`]); an app with routes of its
//! own (as this repository's, in its `routes::memoram`) calls the same steps.
//!
//! The flow, as Memoram's "Quickstart" numbers it:
//! 3. developer JWT from `MEMORAM_API_KEY` — [`developer_token::DeveloperTokens`];
//! 4–5. the user authorizes the app (the provider-neutral [`crate::auth::oauth::OAuthFlow`],
//!    with [`oauth_endpoints`]) and the code exchange yields the user's `memory_key` — the
//!    callback at [`crate::CALLBACK_ROUTE`], which keeps it with [`Memoram::connect`];
//! 6. an access request the user approves in their Memoram dashboard —
//!    [`MemoramClient::create_access_request`], its status checked by [`Memoram::check_access`]
//!    each time the waiting page ([`crate::ACCESS_ROUTE`]) is loaded;
//! 7. the credentials of the approved request — [`MemoramClient::credentials`];
//! 8–9. memory blobs and tags — the other methods of [`MemoramClient`], content sealed and
//!    opened by [`cipher::ContentCipher`].

mod access;
pub mod cipher;
pub mod connections;
pub mod developer_token;
mod member;
pub mod models;

use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use url::Url;

use crate::api::{decode, send_bearer, ApiError};
use crate::auth::oauth::{join, Endpoints, OAuthFlow};
use crate::auth::pending_flows::FlowCookies;
use crate::auth::session::Slot;
use crate::http_client::HttpClient;
pub use access::AccessState;
use cipher::ContentCipher;
use connections::{MemoramConnections, UserKeys};
use developer_token::DeveloperTokens;

/// The token response's field that carries the user's memory key ("Quickstart", step 5).
pub const MEMORY_KEY: &str = "memory_key";

/// Where a browser's Memoram connection is kept in its session.
pub const SESSION_SLOT: Slot = Slot::new("memoram_connection_id");
pub use member::{within, Member, MemberError, Opened};
pub use models::*;

/// The app's side of Memoram: the user authorization, the typed client, where connections are
/// kept, and what the access request says. The rules that span them are its methods: the access
/// request and its state ([`Memoram::connect`], [`Memoram::check_access`],
/// [`Memoram::ask_again`]), and what an approved [`Member`] does ([`Memoram::open`],
/// [`Memoram::check_keys`], [`Memoram::failed`], [`Memoram::search`]: a rotated key, a revoked
/// access, a search). The crate's [`crate::Memoram`] builds one from its [`crate::Settings`].
pub struct Memoram {
    /// The user authorization ("Quickstart", steps 4–5): the OAuth 2.0 code flow with `state`
    /// and PKCE, against [`oauth_endpoints`].
    pub oauth: OAuthFlow,
    /// One encrypted cookie per started authorization (its `state` and PKCE verifier, for 10
    /// minutes at most), read back by the callback.
    pub flows: FlowCookies,
    /// Memoram's API, called with the app's developer token.
    pub client: MemoramClient,
    /// Where each browser's connection (its `memory_key`, access request and credentials) is
    /// kept, server-side.
    pub connections: MemoramConnections,
    /// The access request's `reason` (`MEMORAM_ACCESS_REASON`).
    pub reason: String,
    /// Where the user approves access requests (`MEMORAM_DASHBOARD_URL`).
    pub dashboard_url: Url,
    /// Whether the app's `/ask` sends the memories it finds, decrypted, to its answer service
    /// (`MEMORAM_SEND_TO_LLM`). Nothing in this crate reads it; [`crate::Memoram::new`] sets
    /// `false`.
    pub send_to_llm: bool,
}

/// The callback's route, where Memoram sends the browser back: `APP_BASE_URL` + this is the
/// redirect URI registered at Memoram.
pub const CALLBACK_ROUTE: &str = "/auth/memoram/callback";
/// The longest access-request `reason` Memoram takes ("Maximum length: 255").
pub const MAX_REASON_CHARS: usize = 255;
/// The update method. Memoram's "Update Memory" reference shows `PATCH`.
const UPDATE_METHOD: Method = Method::PATCH;

/// Where Memoram sends the browser back (the redirect URI to register).
pub fn redirect_uri(app_base_url: &Url) -> Result<Url, url::ParseError> {
    join(app_base_url, CALLBACK_ROUTE.trim_start_matches('/'))
}

/// The flow's endpoints. The docs call the user authorization "standard" without publishing its
/// URLs, so both come from configuration (`MEMORAM_AUTHORIZE_URL`, `MEMORAM_TOKEN_URL`). The
/// client authenticates with HTTP Basic (RFC 6749 §2.3.1's must-support method).
pub fn oauth_endpoints(
    authorize: &Url,
    token: &Url,
    app_base_url: &Url,
) -> Result<Endpoints, url::ParseError> {
    Ok(Endpoints {
        authorize: authorize.clone(),
        token: token.clone(),
        redirect: redirect_uri(app_base_url)?,
        secret_in_body: false,
    })
}

/// Memoram's API, called with the app's developer token.
pub struct MemoramClient {
    http: HttpClient,
    base: Url,
    developer: DeveloperTokens,
    /// How content is sealed before it is written (`MEMORAM_CONTENT_CIPHER`); reads hand back
    /// the sealed text, and [`Memoram::open`] opens it with this cipher.
    pub cipher: ContentCipher,
}

impl MemoramClient {
    /// Memoram's API at `base` (`MEMORAM_BASE_URL`, e.g. `https://api.memoram.app/api/v1`),
    /// called through `http` with `developer`'s token, content sealed with `cipher`. Nothing is
    /// sent until the first call.
    pub fn new(
        http: HttpClient,
        base: Url,
        developer: DeveloperTokens,
        cipher: ContentCipher,
    ) -> Self {
        Self {
            http,
            base,
            developer,
            cipher,
        }
    }

    /// Health: can Memoram be reached at all (`api::probe`)?
    pub async fn probe(&self) -> Result<(), ApiError> {
        crate::api::probe(&self.http, self.base.clone()).await
    }

    /// Step 6: ask the user (through their dashboard) to let this app in.
    pub async fn create_access_request(
        &self,
        memory_key: &SecretString,
        reason: &str,
    ) -> Result<AccessRequest, ApiError> {
        let body = access_request_body(memory_key, reason);
        self.json(Method::POST, &["access-requests"], &[], Some(&body))
            .await
    }

    /// `GET /access-requests/{id}`: the request as it stands now; `ApiError::NotFound` on a
    /// 404 (Memoram no longer knows it: ask again).
    pub async fn access_request(&self, id: &str) -> Result<AccessRequest, ApiError> {
        self.json(Method::GET, &["access-requests", id], &[], None)
            .await
    }

    /// Step 7: 403 (`ApiError::Refused`) unless the request is approved.
    pub async fn credentials(&self, request_id: &str) -> Result<Credentials, ApiError> {
        self.json(
            Method::GET,
            &["access-requests", request_id, "credentials"],
            &[],
            None,
        )
        .await
    }

    /// `GET /memory-blobs?user_id=`: one page of `user_id`'s memories matching `query`, their
    /// content still sealed ([`Memoram::open`] opens it).
    pub async fn memories(&self, user_id: &str, query: &BlobQuery) -> Result<BlobPage, ApiError> {
        let mut params = vec![
            ("user_id", user_id.to_owned()),
            ("limit", query.limit.to_string()),
        ];
        if !query.tags.is_empty() {
            params.push(("tags", query.tags.join(",")));
        }
        if let Some(search) = &query.search {
            params.push(("searchQuery", search.clone()));
        }
        if let Some(importance) = query.min_importance {
            params.push(("importance", importance.to_string()));
        }
        if let Some(cursor) = &query.cursor {
            params.push(("cursor", cursor.clone()));
        }
        self.json(Method::GET, &["memory-blobs"], &params, None)
            .await
    }

    /// `GET /memory-blobs/{id}?user_id=`: one memory, its content still sealed;
    /// `ApiError::NotFound` on a 404 (no such memory).
    pub async fn memory(&self, user_id: &str, id: &str) -> Result<MemoryBlob, ApiError> {
        let params = [("user_id", user_id.to_owned())];
        self.json(Method::GET, &["memory-blobs", id], &params, None)
            .await
    }

    /// `POST /memory-blobs`, the content sealed with the user's key first.
    pub async fn create_memory(
        &self,
        keys: &UserKeys,
        memory_key: &SecretString,
        draft: &MemoryDraft,
    ) -> Result<MemoryBlob, ApiError> {
        let body = memory_body(self.cipher, keys, memory_key, draft, Write::Create)?;
        self.json(Method::POST, &["memory-blobs"], &[], Some(&body))
            .await
    }

    /// `PATCH /memory-blobs/{id}`, the content sealed with the user's key first. Every text
    /// field and the tags are sent (an edit form holds them all; `tags` replaces the old list);
    /// an absent number is left out ([`Write::Update`]).
    pub async fn update_memory(
        &self,
        keys: &UserKeys,
        memory_key: &SecretString,
        id: &str,
        draft: &MemoryDraft,
    ) -> Result<MemoryBlob, ApiError> {
        let body = memory_body(self.cipher, keys, memory_key, draft, Write::Update)?;
        self.json(UPDATE_METHOD, &["memory-blobs", id], &[], Some(&body))
            .await
    }

    /// `DELETE /memory-blobs/{id}?user_id=`. Its 200 body is not published: not read.
    pub async fn delete_memory(&self, user_id: &str, id: &str) -> Result<(), ApiError> {
        let params = [("user_id", user_id.to_owned())];
        self.send(Method::DELETE, &["memory-blobs", id], &params, None)
            .await
            .map(drop)
    }

    /// `GET /tags?user_id=`: all of `user_id`'s tags (the list has no pages).
    pub async fn tags(&self, user_id: &str) -> Result<Vec<Tag>, ApiError> {
        let params = [("user_id", user_id.to_owned())];
        let list: TagList = self.json(Method::GET, &["tags"], &params, None).await?;
        Ok(list.items)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        params: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, ApiError> {
        decode(&self.send(method, path, params, body).await?)
    }

    /// Every call carries the developer token; a 401 renews it once and retries once.
    async fn send(
        &self,
        method: Method,
        path: &[&str],
        params: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, ApiError> {
        let url = self.url(path, params)?;
        let token = self.developer.get().await?;
        let sent_at = tokio::time::Instant::now();
        match send_bearer(&self.http, &token, method.clone(), url.clone(), body).await {
            Err(ApiError::Unauthorized) => {
                let token = self.developer.renew_rejected(&token, sent_at).await?;
                send_bearer(&self.http, &token, method, url, body).await
            }
            other => other,
        }
    }

    /// `BASE/segment/…?params`, each segment percent-encoded (ids come from addresses).
    fn url(&self, path: &[&str], params: &[(&str, String)]) -> Result<Url, ApiError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| ApiError::Local("MEMORAM_BASE_URL cannot be a base".to_owned()))?
            .pop_if_empty()
            .extend(path);
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        Ok(url)
    }
}

/// The body of `POST /access-requests` ("Create Access Request").
pub fn access_request_body(memory_key: &SecretString, reason: &str) -> serde_json::Value {
    serde_json::json!({
        "memoryKey": memory_key.expose_secret(),
        "reason": reason,
    })
}

/// Which write a memory body is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `POST /memory-blobs`: text fields that are empty once trimmed, and absent numbers, are
    /// left out.
    Create,
    /// The edit form holds every field: an emptied text field is sent as `""` so that it is
    /// cleared. An emptied number is left out (kept as it was): the docs do not say how to clear
    /// one.
    Update,
}

/// The body of `POST /memory-blobs` and of the update ("Create Memory", "Update Memory"): the
/// content sealed with the user's key.
pub fn memory_body(
    cipher: ContentCipher,
    keys: &UserKeys,
    memory_key: &SecretString,
    draft: &MemoryDraft,
    write: Write,
) -> Result<serde_json::Value, ApiError> {
    let content = cipher
        .seal(&keys.encryption_key(), &draft.content)
        .map_err(|e| ApiError::Local(format!("sealing the content: {e}")))?;
    let optional = |text: &str| {
        (write == Write::Update || !text.trim().is_empty()).then(|| text.trim().to_owned())
    };
    let mut body = serde_json::json!({
        "user_id": keys.user_id,
        "memoryKey": memory_key.expose_secret(),
        "content": content,
        "title": optional(&draft.title),
        "summary": optional(&draft.summary),
        "tags": draft.tags,
        "source": optional(&draft.source),
        "importance": draft.importance,
        "confidence": draft.confidence,
    });
    // Absent rather than null: "only include fields you wish to update".
    if let Some(fields) = body.as_object_mut() {
        fields.retain(|_, value| !value.is_null());
    }
    Ok(body)
}
