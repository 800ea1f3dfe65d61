//! The token layer: handlers ask it for "a valid access token for this connection".
//!
//! Tokens live server-side only, in a store keyed by a random *connection id*; the session holds
//! that id, the browser holds only the session cookie. Tokens are kept apart from the session
//! state on purpose: actix-session writes a session back when a response ends, so a token
//! refreshed by one request could be overwritten by a concurrent request holding the old state.
//! Here each connection has its own async mutex, which gives single-flight refresh: concurrent
//! requests of one connection wait for one refresh and then all use its result, while different
//! connections never wait for each other.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use rand::distributions::{Alphanumeric, DistString};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::oauth::{OAuthError, OAuthFlow};

/// Refresh this long before the provider's stated expiry, so a token does not expire in flight
/// (at most half the token's lifetime, so that short-lived tokens are still used).
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The tokens of one connection to Rememberizer.
pub struct TokenSet {
    access_token: AccessToken,
    refresh_token: Option<SecretString>,
    /// When to refresh: `expires_in` minus the margin. `None` when the provider did not say
    /// (`expires_in` absent): use the token until the API answers 401.
    refresh_at: Option<Instant>,
}

impl TokenSet {
    pub fn new(
        access_token: SecretString,
        refresh_token: Option<SecretString>,
        expires_in: Option<Duration>,
    ) -> Self {
        Self {
            access_token: AccessToken(Arc::new(access_token)),
            refresh_token,
            refresh_at: expires_in
                .map(|lifetime| Instant::now() + lifetime - EXPIRY_MARGIN.min(lifetime / 2)),
        }
    }

    pub fn refresh_token(&self) -> Option<&SecretString> {
        self.refresh_token.as_ref()
    }

    fn is_fresh(&self, now: Instant) -> bool {
        self.refresh_at.is_none_or(|refresh_at| now < refresh_at)
    }
}

/// An access token, cheap to clone, whose `Debug` shows nothing.
#[derive(Clone)]
pub struct AccessToken(Arc<SecretString>);

impl AccessToken {
    /// The header value for Step 5. The only place a token string leaves this type.
    pub fn bearer_header(&self) -> String {
        format!("Bearer {}", self.0.expose_secret())
    }

    fn same_as(&self, other: &AccessToken) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([REDACTED])")
    }
}

/// Why no valid access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Not connected, or the grant ended (revoked, expired, no refresh token): connect again.
    #[error("the connection to Rememberizer ended")]
    Reconnect,
    /// The provider failed during a refresh; the stored tokens are kept for a later retry.
    #[error("could not refresh the access token")]
    Refresh(#[source] OAuthError),
}

/// A random id naming one connection (one successful Step 4) in the token store.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionId(String);

impl ConnectionId {
    fn new_random() -> Self {
        Self(Alphanumeric.sample_string(&mut rand::thread_rng(), 32))
    }

    pub fn from_session(value: String) -> Self {
        Self(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

type Slot = Arc<Mutex<Option<TokenSet>>>;

/// In-memory token store: bounded, and connections unused for `idle_ttl` are forgotten.
#[derive(Clone)]
pub struct TokenStore {
    connections: Cache<String, Slot>,
}

impl TokenStore {
    pub fn new(max_connections: u64, idle_ttl: Duration) -> Self {
        Self {
            connections: Cache::builder()
                .max_capacity(max_connections)
                .time_to_idle(idle_ttl)
                .build(),
        }
    }

    /// Stores the tokens of a new connection and returns its id (to be put in the session).
    pub async fn insert(&self, tokens: TokenSet) -> ConnectionId {
        let id = ConnectionId::new_random();
        self.connections
            .insert(id.0.clone(), Arc::new(Mutex::new(Some(tokens))))
            .await;
        id
    }

    pub async fn remove(&self, id: &ConnectionId) {
        self.connections.invalidate(id.as_str()).await;
    }

    pub async fn contains(&self, id: &ConnectionId) -> bool {
        match self.connections.get(id.as_str()).await {
            Some(slot) => slot.lock().await.is_some(),
            None => false,
        }
    }

    /// A valid access token, refreshed first if it is about to expire.
    pub async fn access_token(
        &self,
        id: &ConnectionId,
        oauth: &OAuthFlow,
    ) -> Result<AccessToken, TokenError> {
        let slot = self.slot(id).await?;
        // Holding the lock across the refresh call is what makes refresh single-flight.
        let mut tokens = slot.lock().await;
        match tokens.as_ref() {
            None => Err(TokenError::Reconnect),
            Some(current) if current.is_fresh(Instant::now()) => Ok(current.access_token.clone()),
            Some(_) => refresh_locked(&mut tokens, oauth).await,
        }
    }

    /// The API refused `rejected` (401) although it looked fresh: refresh once, unless another
    /// request already replaced it, in which case its replacement is returned.
    pub async fn refresh_rejected(
        &self,
        id: &ConnectionId,
        rejected: &AccessToken,
        oauth: &OAuthFlow,
    ) -> Result<AccessToken, TokenError> {
        let slot = self.slot(id).await?;
        let mut tokens = slot.lock().await;
        match tokens.as_ref() {
            None => Err(TokenError::Reconnect),
            Some(current) if !current.access_token.same_as(rejected) => {
                Ok(current.access_token.clone())
            }
            Some(_) => refresh_locked(&mut tokens, oauth).await,
        }
    }

    /// Forgets the tokens of a connection whose grant is gone (the session keeps its id, so
    /// the next page says "connect again" instead of "never connected").
    pub async fn drop_tokens(&self, id: &ConnectionId) {
        if let Some(slot) = self.connections.get(id.as_str()).await {
            *slot.lock().await = None;
        }
    }

    async fn slot(&self, id: &ConnectionId) -> Result<Slot, TokenError> {
        self.connections
            .get(id.as_str())
            .await
            .ok_or(TokenError::Reconnect)
    }
}

async fn refresh_locked(
    tokens: &mut Option<TokenSet>,
    oauth: &OAuthFlow,
) -> Result<AccessToken, TokenError> {
    let Some(refresh_token) = tokens.as_ref().and_then(|t| t.refresh_token.as_ref()) else {
        *tokens = None;
        return Err(TokenError::Reconnect);
    };
    match oauth.refresh(refresh_token).await {
        Ok(new_tokens) => {
            let access_token = new_tokens.access_token.clone();
            // The rotated refresh token replaces the old one before the lock is released.
            *tokens = Some(new_tokens);
            Ok(access_token)
        }
        Err(OAuthError::InvalidGrant) => {
            *tokens = None;
            Err(TokenError::Reconnect)
        }
        // Provider down or confused: keep the tokens so that a later retry can succeed.
        Err(other) => Err(TokenError::Refresh(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_until_the_margin_before_expiry() {
        let now = Instant::now();
        let hour = TokenSet::new(
            SecretString::from("a"),
            None,
            Some(Duration::from_secs(3600)),
        );
        assert!(hour.is_fresh(now));
        assert!(hour.is_fresh(now + Duration::from_secs(3539)));
        assert!(!hour.is_fresh(now + Duration::from_secs(3541)));
        // A token living 10 s is refreshed after 5 s, not at once.
        let short = TokenSet::new(SecretString::from("a"), None, Some(Duration::from_secs(10)));
        assert!(short.is_fresh(now + Duration::from_secs(4)));
        assert!(!short.is_fresh(now + Duration::from_secs(6)));
        let no_expiry = TokenSet::new(SecretString::from("a"), None, None);
        assert!(no_expiry.is_fresh(now + Duration::from_secs(86_400)));
    }

    #[test]
    fn access_tokens_do_not_show_in_debug_output() {
        let tokens = TokenSet::new(SecretString::from("sekrit-token"), None, None);
        assert!(!format!("{:?}", tokens.access_token).contains("sekrit"));
        assert_eq!(tokens.access_token.bearer_header(), "Bearer sekrit-token");
    }

    #[tokio::test]
    async fn removed_or_unknown_connections_must_reconnect() {
        let store = TokenStore::new(10, Duration::from_secs(60));
        let id = store
            .insert(TokenSet::new(SecretString::from("a"), None, None))
            .await;
        assert!(store.contains(&id).await);
        store.remove(&id).await;
        assert!(!store.contains(&id).await);
        let unknown = ConnectionId::from_session("nope".to_owned());
        assert!(!store.contains(&unknown).await);
    }
}
