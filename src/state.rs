//! What every handler shares: the OAuth flow, the API client and the token store.

use std::future::Future;

use crate::auth::oauth::OAuthFlow;
use crate::auth::tokens::{AccessToken, TokenError, TokenStore};
use crate::auth::{within_deadline, ConnectionId};
use crate::errors::AppError;
use crate::llm::LlmClient;
use crate::memoram::connections::MemoramConnections;
use crate::memoram::MemoramClient;
use crate::redis_store::Redis;
use crate::rememberizer::cache::ProfileCache;
use crate::rememberizer::{ApiClient, ApiError};

pub struct AppState {
    /// The time a page may spend on Rememberizer in all: refresh, call and retry included.
    pub page_budget: std::time::Duration,
    pub oauth: OAuthFlow,
    /// Flows between Step 1 and Step 3, in the browser's cookies.
    pub flows: crate::auth::pending_flows::FlowCookies,
    /// States whose code was exchanged: each is used once.
    pub spent_states: crate::auth::pending_flows::SpentStates,
    pub api: ApiClient,
    pub tokens: TokenStore,
    /// Each connection's account and integrations, kept a short while for the dashboard.
    pub profiles: ProfileCache,
    /// Set when sessions and tokens live in Redis (for readiness checks).
    pub redis: Option<Redis>,
    /// Set when an answer service is configured (`LLM_*`, or the simulator's in demo mode).
    pub llm: Option<LlmClient>,
    /// Set when Memoram is offered (configured, or on its simulator in demo mode).
    pub memoram: Option<MemoramState>,
}

/// Memoram's share of the state: its flow, its client, and the connections' store.
pub struct MemoramState {
    pub oauth: OAuthFlow,
    pub flows: crate::auth::pending_flows::FlowCookies,
    pub client: MemoramClient,
    pub connections: MemoramConnections,
    /// The access request's `reason` (`MEMORAM_ACCESS_REASON`).
    pub reason: String,
    /// Where the user approves access requests (`MEMORAM_DASHBOARD_URL`).
    pub dashboard_url: url::Url,
}

/// Runs a Memoram call within the page's deadline (`with_deadline`), as `call_api` does for
/// Rememberizer.
pub async fn memoram_call<T>(
    call: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, AppError> {
    within_deadline(call, || ApiError::Timeout)
        .await
        .map_err(AppError::Memoram)
}

impl AppState {
    /// Memoram's state; a 404 where Memoram is not offered.
    pub fn memoram(&self) -> Result<&MemoramState, AppError> {
        self.memoram.as_ref().ok_or(AppError::NotFound)
    }

    /// Ends a Rememberizer connection here: its tokens, and what was kept for it.
    pub async fn end_connection(&self, connection: &ConnectionId) -> Result<(), TokenError> {
        self.profiles.forget(connection).await;
        self.tokens.remove(connection).await
    }

    /// Step 5 for handlers: runs `call` with a valid access token of this connection. If the API
    /// still answers 401, the token is refreshed once and `call` retried once; a second 401 means
    /// the grant is gone, and the user is asked to connect again. All of it ends by the
    /// request's deadline (`with_deadline`): a slow refresh plus a slow call cannot add up to
    /// more than one page's budget. A refresh in flight at the deadline goes on and stores its
    /// result (see `tokens`).
    pub async fn call_api<T, F, Fut>(
        &self,
        connection: &ConnectionId,
        call: F,
    ) -> Result<T, AppError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let outcome = within_deadline(self.call_api_once(connection, call), || {
            AppError::Api(ApiError::Timeout)
        })
        .await;
        // The grant is gone, however it was found out: what was kept for it goes too.
        if let Err(AppError::Token(TokenError::Reconnect)) = &outcome {
            self.profiles.forget(connection).await;
        }
        outcome
    }

    async fn call_api_once<T, F, Fut>(
        &self,
        connection: &ConnectionId,
        call: F,
    ) -> Result<T, AppError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let token = self.tokens.access_token(connection, &self.oauth).await?;
        let sent_at = tokio::time::Instant::now();
        match call(token.clone()).await {
            Err(ApiError::Unauthorized) => {
                let token = self
                    .tokens
                    .refresh_rejected(connection, &token, sent_at, &self.oauth)
                    .await?;
                match call(token).await {
                    Err(ApiError::Unauthorized) => {
                        self.tokens.remove(connection).await?;
                        Err(TokenError::Reconnect.into())
                    }
                    other => other.map_err(AppError::from),
                }
            }
            other => other.map_err(AppError::from),
        }
    }
}
