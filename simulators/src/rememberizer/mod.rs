//! A Rememberizer stand-in that serves the provider's contract (`shared/rememberizer-api.md`) over
//! real HTTP: the consent page, authorization codes, the token endpoint (PKCE, client
//! authentication, refresh-token rotation with reuse detection), and the API.
//!
//! It is kept apart from the app as if it were its own crate: it uses nothing from the rest of
//! this package, and the app reaches it only through `REMEMBERIZER_BASE_URL`. Demo mode starts it
//! in-process; `rememberizer-simulator` runs it alone; the tests drive its [`SimulatorHandle`] to
//! count calls, expire or revoke tokens, and inject faults.

mod api;
mod data;
mod llm;
mod oauth;

use std::collections::{HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{middleware, web, App, HttpServer};
use url::Url;

use super::faults;
pub use super::{Fault, FaultBody, MAX_COUNTED_PATHS, MAX_RECORDS, OTHER_PATHS};
pub use llm::{LlmCut, LlmStreamFault, CHAT_PATH, DEMO_LLM_KEY};

/// Notes memorized in one run of the simulator; beyond that memorize answers 400 (a quota).
pub const MAX_MEMORIZED: usize = 1_000;
/// Access-token lifetimes are clamped to this range (a TTL of zero or of years is a mistake).
pub const MIN_TOKEN_TTL: Duration = Duration::from_secs(1);
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Rotated refresh tokens are remembered (to detect their reuse) up to this many.
const MAX_ROTATED_REFRESH_TOKENS: usize = 10_000;

/// How the simulated provider behaves.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    pub client_id: String,
    pub client_secret: String,
    /// Registered redirect URIs, matched exactly. Empty accepts any `http` URI on `localhost` or
    /// `127.0.0.1` (a development convenience; a real registration lists its URIs).
    pub redirect_uris: Vec<String>,
    pub access_token_ttl: Duration,
    pub code_ttl: Duration,
    /// Length of issued tokens: the real service's tokens can be longer than 1.5 KB.
    pub token_length: usize,
    pub token_type: String,
    pub account_name: String,
    pub account_email: String,
    /// `GET /api/v1/mementos/` as a DRF page instead of a plain list.
    pub mementos_as_page: bool,
    /// Token responses carry only `access_token` and `refresh_token` (no `token_type`, no
    /// `expires_in`): all that Rememberizer's own samples read.
    pub minimal_token_response: bool,
    /// Search answers in the 2024 OpenAPI shape (`{"data": [...], "message", "code"}`) instead of
    /// today's `{"data_sources", "matched_chunks"}`.
    pub search_shape_2024: bool,
    /// The chat endpoint's pause before each streamed piece (`SIMULATOR_LLM_PIECE_MS`).
    pub llm_piece_delay: Duration,
    pub workers: usize,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            client_id: "demo-client-id".to_owned(),
            client_secret: "demo-client-secret".to_owned(),
            redirect_uris: Vec::new(),
            access_token_ttl: Duration::from_secs(3600),
            code_ttl: Duration::from_secs(60),
            token_length: 1600,
            token_type: "Bearer".to_owned(),
            account_name: "Ada Lovelace".to_owned(),
            account_email: "ada@example.com".to_owned(),
            mementos_as_page: false,
            minimal_token_response: false,
            search_shape_2024: false,
            llm_piece_delay: Duration::ZERO,
            workers: 1,
        }
    }
}

/// One request to the token endpoint, as received.
#[derive(Debug, Clone)]
pub struct TokenRequestRecord {
    pub grant_type: String,
    pub form: Vec<(String, String)>,
    pub authorization_header: Option<String>,
    pub status: u16,
}

#[derive(Debug, Clone)]
pub struct MementoInfo {
    pub id: u64,
    pub name: String,
    pub document_ids: Vec<u64>,
}

#[derive(Debug, Clone)]
pub struct DocumentInfo {
    pub id: u64,
    pub name: String,
    pub integration_type: String,
    pub memento_ids: Vec<u64>,
}

/// A running simulator.
pub struct Simulator {
    base_url: Url,
    handle: SimulatorHandle,
    server: ServerHandle,
}

impl Simulator {
    /// Serves on an already-bound listener; the server runs as a task on the current runtime.
    pub fn start(listener: TcpListener, config: SimulatorConfig) -> std::io::Result<Simulator> {
        let addr = listener.local_addr()?;
        let base_url = Url::parse(&format!("http://{addr}")).map_err(std::io::Error::other)?;
        let workers = config.workers.max(1);
        let shared = Arc::new(Shared::new(config, base_url.clone()));
        let data = web::Data::from(shared.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(256 * 1024))
                .app_data(web::JsonConfig::default().limit(256 * 1024))
                .wrap(middleware::from_fn(faults::apply::<Shared>))
                .wrap(super::security_headers())
                .configure(oauth::routes)
                .configure(api::routes)
                .configure(llm::routes)
                .default_service(web::to(api::not_found))
        })
        .workers(workers)
        // A reader that closes its connection is gone at once, as a hosted API sees it, not
        // at the next write: a streamed answer counts in `llm_streams_dropped` when its reader
        // goes, even before its first piece.
        .h1_allow_half_closed(false)
        .disable_signals()
        .listen(listener)?
        .run();
        let server_handle = server.handle();
        tokio::spawn(server);
        Ok(Simulator {
            base_url,
            handle: SimulatorHandle(shared),
            server: server_handle,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    pub fn handle(&self) -> SimulatorHandle {
        self.handle.clone()
    }

    pub async fn stop(self) {
        self.server.stop(true).await;
    }
}

/// Test and admin controls over a running simulator.
#[derive(Clone)]
pub struct SimulatorHandle(Arc<Shared>);

impl SimulatorHandle {
    /// Applies `fault` to every request whose path starts with `path_prefix`.
    pub fn set_fault(&self, path_prefix: &str, fault: Fault) {
        self.0.lock().faults.set(path_prefix, fault);
    }

    pub fn clear_faults(&self) {
        self.0.lock().faults.clear();
    }

    pub fn token_requests(&self) -> Vec<TokenRequestRecord> {
        self.0.lock().token_requests.iter().cloned().collect()
    }

    /// Requests received for exactly this path, faulted ones included.
    pub fn request_count(&self, path: &str) -> usize {
        self.0.lock().request_counts.get(path).copied().unwrap_or(0)
    }

    /// API requests answered 401 so far.
    pub fn unauthorized_count(&self) -> usize {
        self.0.lock().unauthorized
    }

    /// Every access token issued so far (for tests that look for leaks).
    pub fn issued_access_tokens(&self) -> Vec<String> {
        self.0.lock().access_tokens.keys().cloned().collect()
    }

    /// Every request to the chat endpoint: its messages as (role, content).
    pub fn llm_requests(&self) -> Vec<Vec<(String, String)>> {
        self.0.lock().llm_requests.iter().cloned().collect()
    }

    /// The chat endpoint's pause before each streamed piece, from now on.
    pub fn set_llm_piece_delay(&self, delay: Duration) {
        self.0.lock().llm_piece_delay = delay;
    }

    /// Cuts the next streamed answers as `fault` says (`None`: whole answers again).
    pub fn set_llm_stream_fault(&self, fault: Option<LlmStreamFault>) {
        self.0.lock().llm_stream_fault = fault;
    }

    /// The model writes `answer` from now on, whatever it is asked (`None`: its own again).
    pub fn set_llm_answer(&self, answer: Option<&str>) {
        self.0.lock().llm_answer = answer.map(str::to_owned);
    }

    /// Streamed answers whose reader went away before their end (a closed tab).
    pub fn llm_streams_dropped(&self) -> usize {
        self.0.lock().llm_streams_dropped
    }

    /// Every access token issued so far is expired from now on.
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for token in self.0.lock().access_tokens.values_mut() {
            token.expires_at = now;
        }
    }

    /// The user revokes every grant: access and refresh tokens stop working.
    pub fn revoke_all_grants(&self) {
        for grant in self.0.lock().grants.values_mut() {
            grant.revoked = true;
        }
    }

    /// The first registered redirect URI, if any.
    pub fn registered_redirect_uri(&self) -> Option<String> {
        self.0.config.redirect_uris.first().cloned()
    }

    /// Clamped to `MIN_TOKEN_TTL..=MAX_TOKEN_TTL`.
    pub fn set_access_token_ttl(&self, ttl: Duration) {
        self.0.lock().access_token_ttl = ttl.clamp(MIN_TOKEN_TTL, MAX_TOKEN_TTL);
    }

    /// How many codes, access tokens and refresh tokens the simulator currently remembers.
    pub fn remembered_credentials(&self) -> usize {
        let st = self.0.lock();
        st.codes.len() + st.access_tokens.len() + st.refresh_tokens.len()
    }

    pub fn mementos(&self) -> Vec<MementoInfo> {
        let docs = &self.0.documents;
        data::MEMENTOS
            .iter()
            .map(|m| MementoInfo {
                id: m.id,
                name: m.name.to_owned(),
                document_ids: docs
                    .iter()
                    .filter(|d| d.memento_ids.contains(&m.id))
                    .map(|d| d.id)
                    .collect(),
            })
            .collect()
    }

    pub fn documents(&self) -> Vec<DocumentInfo> {
        let memorized = self.0.lock().memorized.clone();
        self.0
            .documents
            .iter()
            .chain(memorized.iter())
            .map(|d| DocumentInfo {
                id: d.id,
                name: d.name.clone(),
                integration_type: d.integration_type.to_owned(),
                memento_ids: d.memento_ids.clone(),
            })
            .collect()
    }
}

/// State shared by the handlers.
pub(crate) struct Shared {
    config: SimulatorConfig,
    base_url: Url,
    documents: Vec<data::Doc>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    access_token_ttl: Duration,
    codes: HashMap<String, oauth::CodeRecord>,
    grants: HashMap<u64, oauth::Grant>,
    access_tokens: HashMap<String, oauth::AccessRecord>,
    refresh_tokens: HashMap<String, oauth::RefreshRecord>,
    next_grant: u64,
    token_requests: VecDeque<TokenRequestRecord>,
    request_counts: HashMap<String, usize>,
    unauthorized: usize,
    faults: faults::FaultTable,
    memorized: Vec<data::Doc>,
    llm_requests: VecDeque<Vec<(String, String)>>,
    llm_piece_delay: Duration,
    llm_stream_fault: Option<llm::LlmStreamFault>,
    /// What the model writes instead of its extractive answer (tests of hostile answers).
    llm_answer: Option<String>,
    /// Streamed answers whose reader went away before their end.
    llm_streams_dropped: usize,
}

impl faults::FaultSource for Shared {
    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut st = self.lock();
        st.count_request(path);
        st.faults.take(path)
    }
}

impl Shared {
    fn new(config: SimulatorConfig, base_url: Url) -> Self {
        let state = State {
            access_token_ttl: config.access_token_ttl.clamp(MIN_TOKEN_TTL, MAX_TOKEN_TTL),
            llm_piece_delay: config.llm_piece_delay,
            next_grant: 1,
            ..State::default()
        };
        Self {
            config,
            base_url,
            documents: data::documents(time::OffsetDateTime::now_utc()),
            state: Mutex::new(state),
        }
    }

    /// Critical sections are short and never span an `.await`; a poisoned lock (a panic in
    /// another handler) still holds consistent data, so keep serving.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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

    fn count_request(&mut self, path: &str) {
        faults::count_request(&mut self.request_counts, path);
    }

    /// Forgets what can no longer be used: expired codes and access tokens, and (beyond a bound)
    /// rotated refresh tokens. Called whenever a credential is issued.
    fn purge(&mut self) {
        let now = Instant::now();
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

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(config: SimulatorConfig) -> Shared {
        Shared::new(config, Url::parse("http://127.0.0.1:1").expect("url"))
    }

    #[test]
    fn logs_and_counters_stay_bounded() {
        let shared = shared(SimulatorConfig::default());
        let mut st = shared.lock();
        for i in 0..MAX_RECORDS + 50 {
            State::record(
                &mut st.llm_requests,
                vec![("user".to_owned(), i.to_string())],
            );
        }
        assert_eq!(st.llm_requests.len(), MAX_RECORDS);
        assert_eq!(
            st.llm_requests[0][0].1, "50",
            "the oldest records went first"
        );
        for i in 0..MAX_COUNTED_PATHS + 10 {
            st.count_request(&format!("/api/v1/documents/{i}/contents/"));
        }
        st.count_request("/api/v1/documents/0/contents/");
        assert_eq!(st.request_counts.len(), MAX_COUNTED_PATHS + 1);
        assert_eq!(st.request_counts[OTHER_PATHS], 10);
        assert_eq!(st.request_counts["/api/v1/documents/0/contents/"], 2);
    }

    #[test]
    fn expired_credentials_are_forgotten() {
        let shared = shared(SimulatorConfig::default());
        let mut st = shared.lock();
        let past = Instant::now() - Duration::from_secs(1);
        let future = Instant::now() + Duration::from_secs(60);
        for (token, expires_at) in [("old", past), ("live", future)] {
            st.access_tokens.insert(
                token.to_owned(),
                oauth::AccessRecord {
                    grant_id: 1,
                    expires_at,
                },
            );
        }
        st.purge();
        assert_eq!(st.access_tokens.len(), 1);
        assert!(st.access_tokens.contains_key("live"));
    }

    #[test]
    fn token_lifetimes_are_clamped() {
        for (asked, got) in [
            (Duration::ZERO, MIN_TOKEN_TTL),
            (Duration::from_secs(3600), Duration::from_secs(3600)),
            (Duration::from_secs(u64::MAX / 4), MAX_TOKEN_TTL),
        ] {
            let shared = shared(SimulatorConfig {
                access_token_ttl: asked,
                ..SimulatorConfig::default()
            });
            assert_eq!(shared.lock().access_token_ttl, got);
        }
    }
}
