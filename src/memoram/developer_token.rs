//! Memoram's developer token: the app's own credential ("Quickstart", step 3).
//!
//! `POST BASE/auth/token {"api_key"}` answers a short-lived JWT that every Memoram call carries.
//! It belongs to the app, not to a user, so there is one per process (per deployment with Redis,
//! under `ttm:memoram:developer_token`): cached, renewed a minute before it expires (its `exp`
//! claim, else the answer's `expires_at`, else the lifetime asked for), one renewal at a time (an
//! async mutex held across the call). A call answered 401 renews it once (unless another call did
//! already) and is retried once (`MemoramClient`).

use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use url::Url;

use super::models::DeveloperTokenResponse;
use crate::api::{decode, send, ApiError};
use crate::auth::tokens::{unix_ms, AccessToken};
use crate::http_client::HttpClient;
use crate::redis_client::Redis;

/// The lifetime asked for (`expires_in`); the provider may grant less, and says so in `exp`.
pub const REQUESTED_LIFETIME: Duration = Duration::from_secs(3600);
/// Renew this long before expiry (at most half the lifetime, for very short-lived tokens).
const RENEW_MARGIN: Duration = Duration::from_secs(60);

pub struct DeveloperTokens {
    http: HttpClient,
    url: Url,
    api_key: SecretString,
    redis: Option<Redis>,
    cached: Mutex<Option<Cached>>,
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    renew_at: SystemTime,
    /// When it expires (`renew_at` plus the margin): until then, a failed renewal still leaves
    /// a token to use.
    expires_at: SystemTime,
}

/// How the token is kept in Redis (never logged: no `Debug`).
#[derive(Serialize, Deserialize)]
struct Stored {
    token: String,
    renew_at_ms: u64,
    #[serde(default)]
    expires_at_ms: u64,
}

impl DeveloperTokens {
    pub fn new(http: HttpClient, url: Url, api_key: SecretString, redis: Option<Redis>) -> Self {
        Self {
            http,
            url,
            api_key,
            redis,
            cached: Mutex::new(None),
        }
    }

    /// A developer token that is not about to expire.
    pub async fn get(&self) -> Result<AccessToken, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref().filter(|c| SystemTime::now() < c.renew_at) {
            return Ok(current.token.clone());
        }
        match self.shared_or_new(None).await {
            Ok(fresh) => {
                *cached = Some(fresh.clone());
                Ok(fresh.token)
            }
            // Memoram is down at renewal time: the old token still works for a while.
            Err(error) => match cached.as_ref().filter(|c| SystemTime::now() < c.expires_at) {
                Some(current) => {
                    tracing::warn!(%error, "renewing the Memoram developer token failed; using the current one");
                    Ok(current.token.clone())
                }
                None => Err(error),
            },
        }
    }

    /// `rejected` was answered 401: a new token, unless another call already replaced it.
    pub async fn renew_rejected(&self, rejected: &AccessToken) -> Result<AccessToken, ApiError> {
        let mut cached = self.cached.lock().await;
        if let Some(current) = cached.as_ref().filter(|c| !c.token.same_as(rejected)) {
            return Ok(current.token.clone());
        }
        let fresh = self.shared_or_new(Some(rejected)).await?;
        *cached = Some(fresh.clone());
        Ok(fresh.token)
    }

    /// With Redis, another instance's token if it is fresh (and not the rejected one); else a new
    /// one, shared through Redis. A Redis failure only costs the sharing.
    async fn shared_or_new(&self, rejected: Option<&AccessToken>) -> Result<Cached, ApiError> {
        if let Some(redis) = &self.redis {
            match redis
                .query::<Option<String>>(redis::cmd("GET").arg(KEY))
                .await
            {
                Ok(Some(json)) => {
                    if let Some(shared) = serde_json::from_str::<Stored>(&json)
                        .ok()
                        .map(Cached::from)
                        .filter(|c| SystemTime::now() < c.renew_at)
                        .filter(|c| rejected.is_none_or(|r| !c.token.same_as(r)))
                    {
                        return Ok(shared);
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, "reading the shared Memoram developer token"),
            }
        }
        let (secret, lifetime) = self.request().await?;
        let expires_at = SystemTime::now() + lifetime;
        let renew_at = expires_at - RENEW_MARGIN.min(lifetime / 2);
        if let Some(redis) = &self.redis {
            let stored = Stored {
                token: secret.expose_secret().to_owned(),
                renew_at_ms: unix_ms(renew_at),
                expires_at_ms: unix_ms(expires_at),
            };
            let ttl_ms = renew_at
                .duration_since(SystemTime::now())
                .unwrap_or_default()
                .as_millis()
                .max(1) as u64;
            if let Ok(json) = serde_json::to_string(&stored) {
                let set = redis::cmd("SET")
                    .arg(KEY)
                    .arg(json)
                    .arg("PX")
                    .arg(ttl_ms)
                    .clone();
                if let Err(error) = redis.query::<()>(&set).await {
                    tracing::warn!(%error, "sharing the Memoram developer token");
                }
            }
        }
        Ok(Cached {
            token: AccessToken::new(secret),
            renew_at,
            expires_at,
        })
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

/// `KEY_PREFIX` + `memoram:developer_token`.
const KEY: &str = "ttm:memoram:developer_token";

impl From<Stored> for Cached {
    fn from(stored: Stored) -> Self {
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
