//! Stand-ins for the two providers, each serving its provider's published contract over real
//! HTTP. A crate of its own: it uses nothing of the app, and the app reaches it only through its
//! URLs. The app depends on it only through its `demo` cargo feature (demo mode starts both
//! simulators in-process); `rememberizer-simulator` runs Rememberizer's alone; the app's tests
//! drive their handles to count calls, change state and inject faults.
//!
//! - `rememberizer`: consent with memento choice, codes, tokens with rotation, the API.
//! - `memoram`: developer JWTs, consent and code exchange with `memory_key`, access requests and
//!   the person's dashboard, encrypted memory blobs, tags.
//! - Shared here: fault injection (`Fault`), request counting, security headers, PKCE.

mod faults;
pub mod memoram;
pub mod rememberizer;

use actix_web::middleware;
use base64::Engine;
use sha2::{Digest, Sha256};

pub use faults::{Fault, FaultBody};

/// Records kept for tests and inspection (token requests, chat requests): the newest only, so
/// that a simulator left running for days (demo mode on a laptop) stays small. Token requests
/// hold client secrets, verifiers and refresh tokens; they are kept no longer than this either.
pub const MAX_RECORDS: usize = 1_000;
/// Distinct paths counted one by one; beyond that, requests are counted under `OTHER_PATHS`.
pub const MAX_COUNTED_PATHS: usize = 1_000;
pub const OTHER_PATHS: &str = "(other paths)";

/// The headers a real provider's consent page carries (and the app's pages too): no script,
/// no inline style, no framing, no sniffing, no referrer. No `form-action`: the consent form's
/// answer is a redirect to the client's registered URI on another origin, which browsers check
/// against `form-action` too.
pub(crate) fn security_headers() -> middleware::DefaultHeaders {
    middleware::DefaultHeaders::new()
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'none'; style-src 'self'; object-src 'none'; \
             base-uri 'none'; frame-ancestors 'none'",
        ))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Frame-Options", "DENY"))
}

/// RFC 7636 §4.6: BASE64URL-NOPAD(SHA256(verifier)) == challenge.
pub fn pkce_s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A registered redirect URI, matched exactly; with none registered, any `http` URI on
/// `localhost` or `127.0.0.1` (a development convenience; a real registration lists its URIs).
pub(crate) fn redirect_allowed(registered: &[String], redirect_uri: &str) -> bool {
    if registered.is_empty() {
        return url::Url::parse(redirect_uri).is_ok_and(|u| {
            u.scheme() == "http" && matches!(u.host_str(), Some("localhost" | "127.0.0.1"))
        });
    }
    registered.iter().any(|r| r == redirect_uri)
}

/// Form or query parameters, the first value of each name.
pub(crate) type Params = std::collections::HashMap<String, String>;

pub(crate) fn parse_pairs(input: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(input).into_owned().collect()
}

/// The first value of each name (a repeated `state` or `code` is not a way to sneak a second
/// one past the checks).
pub(crate) fn first_values(pairs: &[(String, String)]) -> Params {
    let mut params = Params::new();
    for (k, v) in pairs {
        params.entry(k.clone()).or_insert_with(|| v.clone());
    }
    params
}

/// `302` to `redirect_uri` (already checked against the registration) with `pairs` added to its
/// query; empty values are left out.
pub(crate) fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> actix_web::HttpResponse {
    match url::Url::parse(redirect_uri) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()));
            actix_web::HttpResponse::Found()
                .insert_header((actix_web::http::header::LOCATION, url.as_str()))
                .finish()
        }
        Err(_) => actix_web::HttpResponse::BadRequest().body("bad redirect_uri"),
    }
}

/// The authorize request's parameters, as hidden fields of the consent form (its answer carries
/// them back).
pub(crate) fn consent_fields(params: &Params) -> Vec<serde_json::Value> {
    [
        "client_id",
        "redirect_uri",
        "response_type",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    ]
    .iter()
    .filter_map(|k| {
        params
            .get(*k)
            .map(|v| serde_json::json!({"name": k, "value": v}))
    })
    .collect()
}
