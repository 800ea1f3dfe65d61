//! The developer token: `POST /api/v1/auth/token` exchanges the app's API key for a short-lived
//! JWT, which every other `/api/v1/...` call carries as `Authorization: Bearer`.
//!
//! The JWT has the real shape (`header.claims.signature`, base64url without padding, header
//! `{"alg":"HS256","typ":"JWT"}`, claims `sub` = the AI connector id, `iat`, `exp`), so a client
//! may read `exp`; its signature is 32 random bytes, because the simulator validates a token by
//! looking it up in its own state (and checking its expiry), never by verifying it.

use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde_json::{json, Value};

use super::error::{bad_request, ApiError, ApiResult};
use super::{iso, now, DeveloperToken, Shared, MAX_DEVELOPER_TOKEN_TTL, MIN_DEVELOPER_TOKEN_TTL};

pub const TOKEN_PATH: &str = "/api/v1/auth/token";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(TOKEN_PATH, web::post().to(issue));
}

const INVALID_TOKEN: &str = "Invalid or expired token";

/// The AI connector behind the request's developer JWT, or 401.
pub(super) fn connector_for(req: &HttpRequest, shared: &Shared) -> Result<String, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::Unauthorized(INVALID_TOKEN))?;
    let st = shared.lock();
    st.developer_tokens
        .get(token)
        .filter(|t| Instant::now() < t.expires_at)
        .map(|t| t.connector_id.clone())
        .ok_or(ApiError::Unauthorized(INVALID_TOKEN))
}

/// `expires_in` as asked (seconds), clamped, and never beyond the configured lifetime (the
/// provider "may override" what is asked); the configured lifetime when absent.
fn lifetime(shared: &Shared, asked: Option<&Value>) -> Result<Duration, ApiError> {
    let seconds = match asked {
        None | Some(Value::Null) => return Ok(shared.developer_token_ttl()),
        Some(value) => value
            .as_f64()
            .ok_or_else(|| bad_request("expires_in must be a number of seconds."))?,
    };
    let seconds = seconds.clamp(
        MIN_DEVELOPER_TOKEN_TTL.as_secs_f64(),
        MAX_DEVELOPER_TOKEN_TTL.as_secs_f64(),
    );
    Ok(Duration::from_secs(seconds as u64).min(shared.developer_token_ttl()))
}

fn jwt(connector_id: &str, iat: i64, exp: i64) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let claims = json!({"sub": connector_id, "iat": iat, "exp": exp});
    let mut signature = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut signature);
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

async fn issue(body: web::Bytes, shared: web::Data<Shared>) -> ApiResult {
    let request: Value = serde_json::from_slice(&body).map_err(|_| {
        bad_request("The body must be JSON: {\"api_key\": \"…\", \"expires_in\": seconds}.")
    })?;
    let api_key = request
        .get("api_key")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad_request("api_key is required."))?;
    let connector = shared
        .connectors
        .iter()
        .find(|c| c.api_key == api_key)
        .ok_or(ApiError::Unauthorized("Invalid API key."))?;
    let ttl = lifetime(&shared, request.get("expires_in"))?;
    let issued_at = now();
    let expires_at = issued_at + ttl;
    let token = jwt(
        &connector.id,
        issued_at.unix_timestamp(),
        expires_at.unix_timestamp(),
    );
    {
        let mut st = shared.lock();
        st.purge();
        st.developer_tokens.insert(
            token.clone(),
            DeveloperToken {
                connector_id: connector.id.clone(),
                expires_at: Instant::now() + ttl,
            },
        );
        st.developer_tokens_issued += 1;
    }
    // The docs' AuthTokenResponse: the JWT, when it expires, and its type.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "token": token,
            "expires_at": iso(expires_at),
            "token_type": "Bearer",
        })))
}
