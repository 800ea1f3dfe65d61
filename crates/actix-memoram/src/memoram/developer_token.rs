//! Memoram's developer token: the app's own credential ("Quickstart", step 3).
//!
//! `POST BASE/auth/token {"api_key"}` answers a short-lived JWT that every Memoram call carries.
//! It belongs to the app, not to a user, so there is one per process, shared by the instances of
//! a deployment through a [`SharedToken`] store when there is one (`redis_store::RedisSharedToken`,
//! cargo feature `redis`, which `Memoram::with_redis` uses; `Memoram::new` has none). It is renewed a minute
//! before it expires (its `exp` claim, else the answer's `expires_at`, else the lifetime asked
//! for), one renewal at a time ([`crate::auth::single_flight`]): during that minute every call
//! keeps using the current token while the renewal runs in the background, so a slow or failing
//! `/auth/token` costs no page anything until the token really expires. A call answered 401
//! renews it once (unless another call did already) and is retried once (`MemoramClient`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::future::BoxFuture;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use url::Url;

use super::models::DeveloperTokenResponse;
use crate::api::{decode, send, ApiError};
use crate::auth::single_flight::{Lease, SingleFlight};
use crate::auth::tokens::{unix_ms, AccessToken};
use crate::auth::StoreError;
use crate::http_client::HttpClient;

/// The lifetime asked for (`expires_in`); the provider may grant less, and says so in `exp`.
pub const REQUESTED_LIFETIME: Duration = Duration::from_secs(3600);
/// Renew this long before expiry (at most half the lifetime, for very short-lived tokens).
const RENEW_MARGIN: Duration = Duration::from_secs(60);
/// After a failed background renewal, the next one waits this long (the token still works).
const RETRY_PAUSE: Duration = Duration::from_secs(5);
/// The one key of this process's renewals.
const RENEWAL: &str = "developer-token";

/// A developer token shared by the instances of one deployment (never logged: no `Debug`).
#[derive(Clone, Serialize, Deserialize)]
pub struct StoredDeveloperToken {
    token: String,
    renew_at_ms: u64,
    #[serde(default)]
    expires_at_ms: u64,
}

/// Where the instances of a deployment share the developer token. A failure only costs the
/// sharing: each instance then renews its own.
pub trait SharedToken: Send + Sync {
    /// The deployment's token, if one is kept (one past its `ttl` is gone). Its renewal time
    /// is checked by the reader: a token due for renewal is not used.
    fn get(&self) -> BoxFuture<'_, Result<Option<StoredDeveloperToken>, StoreError>>;
    /// Kept for `ttl` (until it is due for renewal).
    fn put<'a>(
        &'a self,
        token: &'a StoredDeveloperToken,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The app's developer token, one per process: fetched from `POST /auth/token` with the API
/// key, cached, renewed before it expires one renewal at a time, and shared through a
/// [`SharedToken`] store if there is one (see the module doc).
pub struct DeveloperTokens {
    inner: Arc<Inner>,
    renewals: SingleFlight<AccessToken, ApiError>,
}

/// What a renewal task needs (it runs on its own, and owns this through an `Arc`).
struct Inner {
    http: HttpClient,
    url: Url,
    api_key: SecretString,
    shared: Option<Box<dyn SharedToken>>,
    current: Mutex<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    renew_at: SystemTime,
    /// When it expires (`renew_at` plus the margin): until then it still works.
    expires_at: SystemTime,
}

impl Cached {
    fn lease(&self) -> Lease<AccessToken> {
        Lease {
            value: self.token.clone(),
            renew_at: Some(self.renew_at),
            expires_at: Some(self.expires_at),
        }
    }

    fn is_fresh(&self) -> bool {
        SystemTime::now() < self.renew_at
    }
}

impl DeveloperTokens {
    /// Tokens from `url` (`BASE/auth/token`) for `api_key` (`MEMORAM_API_KEY`), shared through
    /// `shared` (`None`: each process renews its own). Nothing is fetched before the first
    /// [`DeveloperTokens::get`].
    pub fn new(
        http: HttpClient,
        url: Url,
        api_key: SecretString,
        shared: Option<Box<dyn SharedToken>>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                url,
                api_key,
                shared,
                current: Mutex::new(None),
            }),
            renewals: SingleFlight::default(),
        }
    }

    /// A developer token that works: the current one while it does (renewed in the background
    /// in its last minute), else a new one.
    pub async fn get(&self) -> Result<AccessToken, ApiError> {
        let current = self.inner.current().map(|cached| cached.lease());
        let inner = self.inner.clone();
        self.renewals
            .fresh(RENEWAL, current, RETRY_PAUSE, || inner.renew(None))
            .await
    }

    /// `rejected` was answered 401 (at `sent_at`): a new token, unless another call already
    /// replaced it.
    pub async fn renew_rejected(
        &self,
        rejected: &AccessToken,
        sent_at: Instant,
    ) -> Result<AccessToken, ApiError> {
        let (inner, rejected) = (self.inner.clone(), rejected.clone());
        self.renewals
            .renew(RENEWAL, sent_at, || inner.renew(Some(rejected)))
            .await
    }
}

impl Inner {
    fn current(&self) -> Option<Cached> {
        self.current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn keep(&self, cached: &Cached) {
        *self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(cached.clone());
    }

    /// The renewal (a task of its own): the current token if it is no longer `rejected` (another
    /// call renewed it), else another instance's fresh one, else a new one from `/auth/token`.
    fn renew(
        self: Arc<Self>,
        rejected: Option<AccessToken>,
    ) -> BoxFuture<'static, Result<AccessToken, ApiError>> {
        Box::pin(async move {
            let replaced = |c: &Cached| rejected.as_ref().is_some_and(|r| !c.token.same_as(r));
            if let Some(current) = self.current().filter(|c| replaced(c)) {
                return Ok(current.token);
            }
            let usable =
                |c: &Cached| c.is_fresh() && rejected.as_ref().is_none_or(|r| !c.token.same_as(r));
            if let Some(shared) = self.shared_token().await.filter(usable) {
                self.keep(&shared);
                return Ok(shared.token);
            }
            let (secret, lifetime) = self.request().await?;
            let expires_at = SystemTime::now() + lifetime;
            let cached = Cached {
                token: AccessToken::new(secret),
                renew_at: expires_at - RENEW_MARGIN.min(lifetime / 2),
                expires_at,
            };
            self.share(&cached).await;
            self.keep(&cached);
            Ok(cached.token)
        })
    }

    async fn shared_token(&self) -> Option<Cached> {
        match self.shared.as_ref()?.get().await {
            Ok(stored) => stored.map(Cached::from),
            Err(error) => {
                tracing::warn!(%error, "reading the shared Memoram developer token");
                None
            }
        }
    }

    async fn share(&self, cached: &Cached) {
        let Some(shared) = &self.shared else {
            return;
        };
        let stored = StoredDeveloperToken {
            token: cached.token.expose_secret().to_owned(),
            renew_at_ms: unix_ms(cached.renew_at),
            expires_at_ms: unix_ms(cached.expires_at),
        };
        let ttl = cached
            .renew_at
            .duration_since(SystemTime::now())
            .unwrap_or_default()
            .max(Duration::from_millis(1));
        if let Err(error) = shared.put(&stored, ttl).await {
            tracing::warn!(%error, "sharing the Memoram developer token");
        }
    }

    /// `POST /auth/token`. A 401 or 403 means `MEMORAM_API_KEY` is refused: `Unauthorized`,
    /// which pages explain as a configuration problem.
    async fn request(&self) -> Result<(SecretString, Duration), ApiError> {
        let body = serde_json::json!({
            "api_key": self.api_key.expose_secret(),
            "expires_in": REQUESTED_LIFETIME.as_secs(),
        });
        let request = self
            .http
            .request(reqwest::Method::POST, self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body);
        let body = send(&self.http, request)
            .await
            .map_err(|error| match error {
                ApiError::Refused(StatusCode::FORBIDDEN) => ApiError::Unauthorized,
                ApiError::NotFound => ApiError::Refused(StatusCode::NOT_FOUND),
                other => other,
            })?;
        let answer: DeveloperTokenResponse = decode(&body)?;
        if answer.token.trim().is_empty() {
            return Err(ApiError::BadResponse("an empty developer token".to_owned()));
        }
        let lifetime = jwt_lifetime(&answer.token)
            .or_else(|| answer.expires_at.as_ref().and_then(lifetime_until))
            .unwrap_or(REQUESTED_LIFETIME)
            .min(REQUESTED_LIFETIME * 24);
        Ok((SecretString::from(answer.token), lifetime))
    }
}

impl From<StoredDeveloperToken> for Cached {
    fn from(stored: StoredDeveloperToken) -> Self {
        Self {
            token: AccessToken::new(SecretString::from(stored.token)),
            renew_at: SystemTime::UNIX_EPOCH + Duration::from_millis(stored.renew_at_ms),
            expires_at: SystemTime::UNIX_EPOCH
                + Duration::from_millis(stored.expires_at_ms.max(stored.renew_at_ms)),
        }
    }
}

/// The time left before the JWT's `exp` claim, read without verifying the signature (the app
/// only schedules its renewal by it; Memoram verifies the token).
fn jwt_lifetime(jwt: &str) -> Option<Duration> {
    #[derive(Deserialize)]
    struct Claims {
        exp: f64,
    }
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    // `checked_add`: an `exp` of 1e300 is a provider's mistake, not a reason to panic.
    let exp = SystemTime::UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(claims.exp).ok()?)?;
    exp.duration_since(SystemTime::now()).ok()
}

/// `expires_at` as an ISO 8601 instant or seconds since the epoch.
fn lifetime_until(value: &serde_json::Value) -> Option<Duration> {
    let at = match value {
        serde_json::Value::String(s) => {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?
        }
        serde_json::Value::Number(n) => {
            time::OffsetDateTime::from_unix_timestamp(n.as_i64()?).ok()?
        }
        _ => return None,
    };
    let left = at - time::OffsetDateTime::now_utc();
    left.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn the_lifetime_comes_from_the_exp_claim() {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let left = jwt_lifetime(&jwt(&format!(r#"{{"exp":{}}}"#, now + 600))).expect("exp");
        assert!(left > Duration::from_secs(590) && left <= Duration::from_secs(600));
        assert_eq!(
            jwt_lifetime(&jwt(&format!(r#"{{"exp":{}}}"#, now - 5))),
            None
        );
        assert_eq!(jwt_lifetime("not a jwt"), None);
        assert_eq!(jwt_lifetime(&jwt(r#"{"sub":"x"}"#)), None);
        assert_eq!(jwt_lifetime(&jwt(r#"{"exp":1e300}"#)), None);
        assert!(jwt_lifetime(&jwt(r#"{"exp":9.3e18}"#)).is_none_or(|d| d > Duration::ZERO));
    }

    #[test]
    fn expires_at_is_read_as_iso_8601_or_epoch_seconds() {
        let in_ten_minutes = time::OffsetDateTime::now_utc() + time::Duration::minutes(10);
        let iso = in_ten_minutes
            .format(&time::format_description::well_known::Rfc3339)
            .expect("format");
        let left = lifetime_until(&serde_json::json!(iso)).expect("iso");
        assert!(left > Duration::from_secs(590));
        let epoch = lifetime_until(&serde_json::json!(in_ten_minutes.unix_timestamp()));
        assert!(epoch.is_some());
        assert_eq!(lifetime_until(&serde_json::json!("soon")), None);
    }
}
