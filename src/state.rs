//! What every handler shares: the OAuth flow, the API client and the token store.

use std::future::Future;

use crate::api::{with_access_token, CallError};
use crate::auth::oauth::OAuthFlow;
use crate::auth::tokens::{AccessToken, TokenError, TokenStore};
use crate::auth::ConnectionId;
use crate::errors::AppError;
use crate::llm::LlmClient;
use crate::memoram::Memoram;
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
    /// Failed code exchanges per client address (both providers).
    pub exchange_limit: crate::auth::exchange_limit::ExchangeLimit,
    pub api: ApiClient,
    pub tokens: TokenStore,
    /// Each connection's account and integrations, kept a short while for the dashboard.
    pub profiles: ProfileCache,
    /// Set when sessions and tokens live in Redis (for readiness checks).
    pub redis: Option<Redis>,
    /// Set when an answer service is configured (`LLM_*`, or the simulator's in demo mode).
    pub llm: Option<LlmClient>,
    /// Set when Memoram is offered (configured, or on its simulator in demo mode).
    pub memoram: Option<Memoram>,
    /// How long Memoram's waiting page watches a pending access request.
    pub memoram_watch: std::time::Duration,
    /// The answers each session is streaming now.
    pub answer_slots: crate::llm::AnswerSlots,
}

impl AppState {
    /// Memoram's state; a 404 where Memoram is not offered.
    pub fn memoram(&self) -> Result<&Memoram, AppError> {
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
            CallError::Api(error) => AppError::Rememberizer(error),
            CallError::FreshTokenRefused => AppError::FreshTokenRefused,
        })
    }
}
