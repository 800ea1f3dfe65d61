//! What every handler shares: the OAuth flow, the API client and the token store.

use std::future::Future;

use crate::api::{with_access_token, CallError};
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

    /// Step 5 for handlers (`api::with_access_token`), with this app's errors: a grant found
    /// gone, however it was found out, also forgets what was kept for it.
    pub async fn call_api<T, F, Fut>(
        &self,
        connection: &ConnectionId,
        call: F,
    ) -> Result<T, AppError>
    where
        F: Fn(AccessToken) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let outcome = with_access_token(&self.tokens, &self.oauth, connection, call).await;
        if let Err(CallError::Token(TokenError::Reconnect)) = &outcome {
            self.profiles.forget(connection).await;
        }
        outcome.map_err(|error| match error {
            CallError::Token(error) => AppError::Token(error),
            CallError::Api(error) => AppError::Api(error),
        })
    }
}
