//! A Memoram stand-in that serves the provider's contract (`shared/memoram-api.md`) over real
//! HTTP: the developer token (`/api/v1/auth/token`), the user's OAuth consent and token endpoint,
//! access requests and the person's dashboard where they are approved, rejected or revoked, the
//! user's credentials, memory blobs (encrypted with the user's key) and tags.
//!
//! Like the Rememberizer simulator it is kept apart from the app as if it were its own crate: it
//! uses nothing outside `crate`, and the app reaches it only over HTTP. Demo mode starts
//! it in-process; the tests drive its [`MemoramHandle`] to approve requests, expire developer
//! tokens, rotate keys and inject faults.
//!
//! Where the provider's docs publish nothing (the authorize URL, the token request, the content
//! cipher), the simulator's convention is stated in the module that implements it: `oauth` for
//! the user authorization, `crypto` for blob content.

mod access;
mod auth;
mod blobs;
mod crypto;
mod dashboard;
mod data;
mod error;
mod oauth;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{middleware, web, App, HttpServer};
use time::OffsetDateTime;
use url::Url;

use super::faults::{self, FaultSource, FaultTable};
use super::{Fault, MAX_RECORDS};
use data::{AccessRequest, Blob, RequestStatus, Tag, User};

/// Developer-token lifetimes (asked for in `expires_in`, or configured) are clamped to this range.
pub const MIN_DEVELOPER_TOKEN_TTL: Duration = Duration::from_secs(1);
pub const MAX_DEVELOPER_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
/// Memory blobs one user may hold in one run of the simulator; beyond that creating answers 400.
pub const MAX_BLOBS_PER_USER: usize = 1_000;
/// Tags one user may hold; creating a blob that would need more answers 400.
pub const MAX_TAGS_PER_USER: usize = 1_000;
/// Access requests kept in one run; beyond that creating one answers 400 (a quota).
pub const MAX_ACCESS_REQUESTS: usize = 1_000;
/// Rotated refresh tokens are remembered (to detect their reuse) up to this many.
const MAX_ROTATED_REFRESH_TOKENS: usize = 10_000;

/// How the simulated Memoram behaves.
#[derive(Debug, Clone)]
pub struct MemoramSimulatorConfig {
    /// The OAuth client (the app's registration for the user authorization).
    pub client_id: String,
    pub client_secret: String,
    /// The developer API key exchanged at `/api/v1/auth/token`; its AI connector is the app.
    pub api_key: String,
    /// The app's name, as the consent page and the dashboard show it.
    pub app_name: String,
    /// More developer API keys, each its own AI connector (for isolation tests).
    pub other_api_keys: Vec<String>,
    /// Registered redirect URIs, matched exactly. Empty accepts any `http` URI on `localhost` or
    /// `127.0.0.1` (a development convenience; a real registration lists its URIs).
    pub redirect_uris: Vec<String>,
    /// Lifetime of a developer JWT when the request names none, and the longest granted when it
    /// names one (clamped to 1 s ..= 24 h).
    pub developer_token_ttl: Duration,
    /// Lifetime of the user access tokens issued by the OAuth token endpoint.
    pub access_token_ttl: Duration,
    /// Lifetime of an authorization code.
    pub code_ttl: Duration,
    /// Seed blobs hold plaintext content instead of AES-256-GCM payloads (the app's
    /// `MEMORAM_CONTENT_CIPHER=none`: server-side encryption, plaintext over TLS).
    pub plaintext_content: bool,
    pub workers: usize,
}

impl Default for MemoramSimulatorConfig {
    fn default() -> Self {
        Self {
            client_id: "demo-memoram-client-id".to_owned(),
            client_secret: "demo-memoram-client-secret".to_owned(),
            api_key: "demo-memoram-api-key".to_owned(),
            app_name: "Talk to Mementos".to_owned(),
            other_api_keys: Vec::new(),
            redirect_uris: Vec::new(),
            developer_token_ttl: Duration::from_secs(3600),
            access_token_ttl: Duration::from_secs(3600),
            code_ttl: Duration::from_secs(60),
            plaintext_content: false,
            workers: 1,
        }
    }
}

/// An access request, as the handle reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequestInfo {
    pub id: String,
    /// `pending`, `approved`, `rejected` or `revoked`.
    pub status: String,
    pub reason: String,
    pub user_id: String,
    pub memory_key: String,
    pub ai_connector_id: String,
}

/// A Memoram user and their current credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub memory_key: String,
    /// 64 lowercase hex characters: the AES-256 key of the user's blob content.
    pub encryption_key_hex: String,
    pub key_version: u32,
}

/// A memory blob as stored: `content` exactly as held (an encrypted payload, or plaintext).
#[derive(Debug, Clone, PartialEq)]
pub struct BlobInfo {
    pub id: String,
    /// Empty when the blob has no title.
    pub title: String,
    pub tags: Vec<String>,
    pub content: String,
}

/// One request to the OAuth token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequestInfo {
    pub grant_type: String,
    /// `client_secret_post`, `client_secret_basic`, or `none` (no or failed authentication).
    pub client_auth: String,
    pub status: u16,
}

/// A running Memoram simulator.
pub struct MemoramSimulator {
    base_url: Url,
    handle: MemoramHandle,
    server: ServerHandle,
}

impl MemoramSimulator {
    /// Serves on an already-bound listener; the server runs as a task on the current runtime.
    pub fn start(
        listener: TcpListener,
        config: MemoramSimulatorConfig,
    ) -> std::io::Result<MemoramSimulator> {
        let addr = listener.local_addr()?;
        let base_url = Url::parse(&format!("http://{addr}")).map_err(std::io::Error::other)?;
        let workers = config.workers.max(1);
        let shared = Arc::new(Shared::new(config));
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(256 * 1024))
                .wrap(middleware::from_fn(faults::apply::<Shared>))
                .wrap(super::security_headers())
                .configure(oauth::routes)
                .configure(auth::routes)
                .configure(access::routes)
                .configure(blobs::routes)
                .configure(dashboard::routes)
                .default_service(web::to(error::not_found_route))
        })
        .workers(workers)
        .disable_signals()
        .listen(listener)?
        .run();
        let server_handle = server.handle();
        tokio::spawn(server);
        Ok(MemoramSimulator {
            base_url,
            handle: MemoramHandle(shared),
            server: server_handle,
        })
    }

    /// `http://127.0.0.1:PORT` (the consent page and the dashboard live here).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// `http://127.0.0.1:PORT/api/v1`: the `BASE` of the provider's docs.
    pub fn api_url(&self) -> Url {
        self.url("/api/v1")
    }

    /// `MEMORAM_AUTHORIZE_URL`: the consent page.
    pub fn authorize_url(&self) -> Url {
        self.url(oauth::AUTHORIZE_PATH)
    }

    /// `MEMORAM_TOKEN_URL`: the OAuth token endpoint (under `api_url`).
    pub fn token_url(&self) -> Url {
        self.url(oauth::TOKEN_PATH)
    }

    /// The person's dashboard, where access requests are approved.
    pub fn dashboard_url(&self) -> Url {
        self.url(dashboard::PATH)
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base_url.clone();
        url.set_path(path);
        url
    }

    pub fn handle(&self) -> MemoramHandle {
        self.handle.clone()
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

/// Test and admin controls over a running Memoram simulator.
#[derive(Clone)]
pub struct MemoramHandle(Arc<Shared>);

impl MemoramHandle {
    /// Applies `fault` to every request whose path starts with `path_prefix`.
    pub fn set_fault(&self, path_prefix: &str, fault: Fault) {
        self.0.lock().faults.set(path_prefix, fault);
    }

    pub fn clear_faults(&self) {
        self.0.lock().faults.clear();
    }

    /// Requests received for exactly this path, faulted ones included.
    pub fn request_count(&self, path: &str) -> usize {
        self.0.lock().request_counts.get(path).copied().unwrap_or(0)
    }

    /// Every developer JWT issued so far is expired from now on.
    pub fn expire_developer_tokens(&self) {
        let now = Instant::now();
        for token in self.0.lock().developer_tokens.values_mut() {
            token.expires_at = now;
        }
    }

    /// Developer JWTs issued since the start.
    pub fn developer_tokens_issued(&self) -> usize {
        self.0.lock().developer_tokens_issued
    }

    /// The developer JWTs it still knows (unexpired ones, and expired ones not yet purged).
    pub fn developer_tokens(&self) -> Vec<String> {
        self.0.lock().developer_tokens.keys().cloned().collect()
    }

    /// Every access request, oldest first.
    pub fn access_requests(&self) -> Vec<AccessRequestInfo> {
        self.0
            .lock()
            .access_requests
            .iter()
            .map(|r| AccessRequestInfo {
                id: r.id.clone(),
                status: r.status.as_str().to_owned(),
                reason: r.reason.clone(),
                user_id: r.user_id.clone(),
                memory_key: r.memory_key.clone(),
                ai_connector_id: r.connector_id.clone(),
            })
            .collect()
    }

    /// The user approves a pending request; `false` if there is none with this id in that state.
    pub fn approve(&self, id: &str) -> bool {
        self.0.lock().transition(id, RequestStatus::Approved)
    }

    /// The user rejects a pending request.
    pub fn reject(&self, id: &str) -> bool {
        self.0.lock().transition(id, RequestStatus::Rejected)
    }

    /// The user revokes an approved request.
    pub fn revoke(&self, id: &str) -> bool {
        self.0.lock().transition(id, RequestStatus::Revoked)
    }

    /// New random key, `key_version` + 1, blobs re-encrypted; the new version, `None` for an
    /// unknown user.
    pub fn rotate_key(&self, user_id: &str) -> Option<u32> {
        self.0.lock().rotate_key(user_id)
    }

    /// The signed-in demo user (the one the consent page and the dashboard show).
    pub fn demo_user(&self) -> UserInfo {
        self.users().swap_remove(0)
    }

    /// Every user: the demo user first, then the other (for isolation tests).
    pub fn users(&self) -> Vec<UserInfo> {
        self.0.lock().users.iter().map(User::info).collect()
    }

    /// The AI connector id of the configured `api_key` (the JWT's `sub`).
    pub fn ai_connector_id(&self) -> String {
        self.0.connectors[0].id.clone()
    }

    /// Stores `content` unchanged as a blob of `user_id` (to test content that does not decrypt);
    /// the blob's id.
    pub fn insert_raw_blob(&self, user_id: &str, title: &str, content: &str) -> String {
        let mut st = self.0.lock();
        let now = now();
        st.insert_blob(Blob {
            id: String::new(),
            user_id: user_id.to_owned(),
            title: Some(title.to_owned()),
            summary: None,
            content: content.to_owned(),
            tag_ids: Vec::new(),
            importance: None,
            confidence: None,
            source: Some("test".to_owned()),
            created_at: now,
            updated_at: now,
            seq: 0,
        })
    }

    /// The user's blobs, newest first, content as stored.
    pub fn blobs(&self, user_id: &str) -> Vec<BlobInfo> {
        let st = self.0.lock();
        let mut blobs: Vec<&Blob> = st.blobs.iter().filter(|b| b.user_id == user_id).collect();
        blobs.sort_by_key(|b| std::cmp::Reverse(b.seq));
        blobs
            .into_iter()
            .map(|b| BlobInfo {
                id: b.id.clone(),
                title: b.title.clone().unwrap_or_default(),
                tags: st.tag_names(&b.tag_ids),
                content: b.content.clone(),
            })
            .collect()
    }

    /// Every request to the OAuth token endpoint (the newest `MAX_RECORDS`).
    pub fn token_requests(&self) -> Vec<TokenRequestInfo> {
        self.0.lock().token_requests.iter().cloned().collect()
    }

    /// New access requests are approved as soon as they are made (the user is quick).
    pub fn set_auto_approve(&self, on: bool) {
        self.0.lock().auto_approve = on;
    }

    /// Token responses come without `memory_key` (to test a client's handling of it).
    pub fn set_omit_memory_key(&self, on: bool) {
        self.0.lock().omit_memory_key = on;
    }
}

/// A developer application: its API key and the AI connector id its JWTs carry.
struct Connector {
    id: String,
    api_key: String,
    name: String,
}

/// State shared by the handlers.
pub(crate) struct Shared {
    config: MemoramSimulatorConfig,
    connectors: Vec<Connector>,
    state: Mutex<State>,
}

struct DeveloperToken {
    connector_id: String,
    expires_at: Instant,
}

#[derive(Default)]
struct State {
    users: Vec<User>,
    blobs: Vec<Blob>,
    tags: Vec<Tag>,
    access_requests: Vec<AccessRequest>,
    developer_tokens: HashMap<String, DeveloperToken>,
    developer_tokens_issued: usize,
    codes: HashMap<String, oauth::CodeRecord>,
    grants: HashMap<u64, oauth::Grant>,
    access_tokens: HashMap<String, oauth::AccessRecord>,
    refresh_tokens: HashMap<String, oauth::RefreshRecord>,
    next_grant: u64,
    next_seq: u64,
    token_requests: VecDeque<TokenRequestInfo>,
    request_counts: HashMap<String, usize>,
    faults: FaultTable,
    auto_approve: bool,
    /// Token responses leave out `memory_key` (a provider that breaks its quickstart's promise).
    omit_memory_key: bool,
}

impl Shared {
    fn new(config: MemoramSimulatorConfig) -> Self {
        let connectors = std::iter::once((&config.api_key, config.app_name.clone()))
            .chain(
                config
                    .other_api_keys
                    .iter()
                    .enumerate()
                    .map(|(i, key)| (key, format!("Other app {}", i + 2))),
            )
            .map(|(api_key, name)| Connector {
                id: data::connector_id(api_key),
                api_key: api_key.clone(),
                name,
            })
            .collect();
        let mut state = State {
            next_grant: 1,
            next_seq: 1,
            ..State::default()
        };
        data::seed(&mut state, config.plaintext_content, now());
        Self {
            config,
            connectors,
            state: Mutex::new(state),
        }
    }

    /// Critical sections are short and never span an `.await`; a poisoned lock (a panic in
    /// another handler) still holds consistent data, so keep serving.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn connector_name(&self, connector_id: &str) -> &str {
        self.connectors
            .iter()
            .find(|c| c.id == connector_id)
            .map(|c| c.name.as_str())
            .unwrap_or("Unknown app")
    }

    fn developer_token_ttl(&self) -> Duration {
        self.config
            .developer_token_ttl
            .clamp(MIN_DEVELOPER_TOKEN_TTL, MAX_DEVELOPER_TOKEN_TTL)
    }
}

impl FaultSource for Shared {
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut st = self.lock();
        faults::count_request(&mut st.request_counts, path);
        st.faults.take(path)
    }
}

impl State {
    /// Appends to a bounded log, dropping the oldest record.
    fn record<T>(log: &mut VecDeque<T>, item: T) {
        if log.len() == MAX_RECORDS {
            log.pop_front();
        }
        log.push_back(item);
    }

    fn user(&self, user_id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.user_id == user_id)
    }

    /// Whether this connector holds an approved access request for this user.
    fn is_approved(&self, connector_id: &str, user_id: &str) -> bool {
        self.access_requests.iter().any(|r| {
            r.connector_id == connector_id
                && r.user_id == user_id
                && r.status == RequestStatus::Approved
        })
    }

    /// The user's decision on a request: pending → approved or rejected, approved → revoked.
    fn transition(&mut self, id: &str, to: RequestStatus) -> bool {
        let Some(request) = self.access_requests.iter_mut().find(|r| r.id == id) else {
            return false;
        };
        let allowed = matches!(
            (request.status, to),
            (RequestStatus::Pending, RequestStatus::Approved)
                | (RequestStatus::Pending, RequestStatus::Rejected)
                | (RequestStatus::Approved, RequestStatus::Revoked)
        );
        if allowed {
            request.status = to;
            request.updated_at = now();
        }
        allowed
    }

    /// As a provider holding the keys would: a new key, and every blob that decrypts under the
    /// old one re-encrypted under the new one. Blobs that do not decrypt (plaintext, or a
    /// client's own format) are left as they are.
    fn rotate_key(&mut self, user_id: &str) -> Option<u32> {
        let user = self.users.iter_mut().find(|u| u.user_id == user_id)?;
        let old = user.key;
        user.key = crypto::new_key();
        user.key_version += 1;
        let (new, version) = (user.key, user.key_version);
        for blob in self.blobs.iter_mut().filter(|b| b.user_id == user_id) {
            if let Some(plaintext) = crypto::decrypt(&old, &blob.content) {
                blob.content = crypto::encrypt(&new, &plaintext);
            }
        }
        Some(version)
    }

    fn tag_names(&self, tag_ids: &[String]) -> Vec<String> {
        tag_ids
            .iter()
            .filter_map(|id| self.tags.iter().find(|t| &t.id == id))
            .map(|t| t.name.clone())
            .collect()
    }

    /// Stores a blob, giving it an id and the next sequence number (the list's order); its id.
    fn insert_blob(&mut self, mut blob: Blob) -> String {
        blob.id = data::blob_id();
        blob.seq = self.next_seq;
        self.next_seq += 1;
        let id = blob.id.clone();
        self.blobs.push(blob);
        id
    }

    /// Forgets what can no longer be used: expired codes and tokens, and (beyond a bound) rotated
    /// refresh tokens. Called whenever a credential is issued.
    fn purge(&mut self) {
        let now = Instant::now();
        self.developer_tokens.retain(|_, t| t.expires_at > now);
        self.codes.retain(|_, code| code.is_live(now));
        self.access_tokens.retain(|_, token| token.expires_at > now);
        let rotated = self
            .refresh_tokens
            .values()
            .filter(|r| r.is_rotated())
            .count();
        if rotated > MAX_ROTATED_REFRESH_TOKENS {
            self.refresh_tokens.retain(|_, r| !r.is_rotated());
        }
    }
}

/// Now, to the second: the API's times have no sub-second part.
fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

/// RFC 3339 in UTC, e.g. `2023-11-07T05:31:56Z`.
fn iso(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
