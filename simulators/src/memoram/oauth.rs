//! The user authorization (OAuth 2.0 authorization code with PKCE). Memoram's docs call it
//! "standard" and publish neither URL nor fields, so this is the simulator's convention:
//!
//! - `GET /oauth/authorize?response_type=code&client_id&redirect_uri&state&code_challenge&code_challenge_method=S256[&scope]`:
//!   the consent page of the signed-in demo user; its form posts the decision back to the same
//!   path, which redirects to `redirect_uri` with `code` and `state` (or `error=access_denied`).
//! - `POST /api/v1/oauth/token`: RFC 6749 form body, client authentication by
//!   `client_secret_post` or HTTP Basic, `authorization_code` (single use, PKCE S256 required)
//!   and `refresh_token` (rotated; reusing a rotated one ends the grant) grants. Answers carry the
//!   user's `memory_key` next to the RFC fields, as the quickstart says.

use std::time::Instant;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::distributions::{Alphanumeric, DistString};
use serde_json::json;

use super::{Shared, State, TokenRequestInfo};
use crate::{consent_fields, first_values, parse_pairs, pkce_s256, redirect_with, Params};

pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
pub const TOKEN_PATH: &str = "/api/v1/oauth/token";
pub const STYLESHEET_PATH: &str = "/memoram.css";

pub(super) struct CodeRecord {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    grant_id: u64,
    expires_at: Instant,
    used: bool,
}

impl CodeRecord {
    pub(super) fn is_live(&self, now: Instant) -> bool {
        now < self.expires_at
    }
}

/// What the user granted: access to their memory, until revoked.
pub(super) struct Grant {
    user_id: String,
    revoked: bool,
}

pub(super) struct AccessRecord {
    pub expires_at: Instant,
}

pub(super) struct RefreshRecord {
    grant_id: u64,
    rotated: bool,
}

impl RefreshRecord {
    pub(super) fn is_rotated(&self) -> bool {
        self.rotated
    }
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(STYLESHEET_PATH, web::get().to(stylesheet))
        .route(AUTHORIZE_PATH, web::get().to(authorize_page))
        .route(AUTHORIZE_PATH, web::post().to(authorize_decision))
        .route(TOKEN_PATH, web::post().to(token));
}

fn get<'a>(params: &'a Params, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or("")
}

/// The pages (consent, dashboard, errors), compiled into the binary.
pub(super) fn templates() -> &'static tera::Tera {
    static TERA: std::sync::OnceLock<tera::Tera> = std::sync::OnceLock::new();
    TERA.get_or_init(|| {
        let mut tera = tera::Tera::default();
        // A failure here is a build-time bug that the simulator's tests catch; the page then
        // says so instead of panicking.
        let _ = tera.add_raw_templates(vec![
            ("consent.html", include_str!("templates/consent.html")),
            ("dashboard.html", include_str!("templates/dashboard.html")),
            ("error.html", include_str!("templates/error.html")),
        ]);
        tera.autoescape_on(vec![".html"]);
        tera
    })
}

pub(super) fn render(name: &str, context: &tera::Context, status: StatusCode) -> HttpResponse {
    match templates().render(name, context) {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => HttpResponse::InternalServerError().body(format!("template error: {e}")),
    }
}

/// An error page; never a redirect (unknown client, unregistered redirect URI, unknown request).
pub(super) fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let mut context = tera::Context::new();
    context.insert("message", message);
    render("error.html", &context, status)
}

/// The page's stylesheet: a file of its own, as the pages' policy allows no inline style.
async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(include_str!("templates/memoram.css"))
}

fn redirect_allowed(shared: &Shared, redirect_uri: &str) -> bool {
    crate::redirect_allowed(&shared.config.redirect_uris, redirect_uri)
}

/// Checks that must pass before the simulator may redirect anywhere; `Err` is the message of
/// the page shown instead.
fn check_client(shared: &Shared, params: &Params) -> Result<String, &'static str> {
    if get(params, "client_id") != shared.config.client_id {
        return Err("Unknown client_id: this app is not registered with Memoram.");
    }
    let redirect_uri = get(params, "redirect_uri");
    if !redirect_allowed(shared, redirect_uri) {
        return Err("The redirect_uri is not registered for this app.");
    }
    Ok(redirect_uri.to_owned())
}

/// Errors reported to the client by redirect (RFC 6749 §4.1.2.1); PKCE S256 is required.
fn check_request(params: &Params) -> Result<(), &'static str> {
    if get(params, "response_type") != "code" {
        return Err("unsupported_response_type");
    }
    if get(params, "code_challenge").is_empty() || get(params, "code_challenge_method") != "S256" {
        return Err("invalid_request");
    }
    Ok(())
}

async fn authorize_page(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let params = first_values(&parse_pairs(req.query_string().as_bytes()));
    let redirect_uri = match check_client(&shared, &params) {
        Ok(uri) => uri,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, message),
    };
    let state = get(&params, "state");
    if let Err(error) = check_request(&params) {
        return redirect_with(&redirect_uri, &[("error", error), ("state", state)]);
    }
    let hidden = consent_fields(&params);
    let user = shared.lock().users[0].info();
    let mut context = tera::Context::new();
    context.insert("app_name", &shared.config.app_name);
    context.insert("client_id", &shared.config.client_id);
    context.insert("user_name", &user.name);
    context.insert("user_email", &user.email);
    context.insert("scope", get(&params, "scope"));
    context.insert("hidden", &hidden);
    render("consent.html", &context, StatusCode::OK)
}

async fn authorize_decision(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let params = first_values(&parse_pairs(&body));
    let redirect_uri = match check_client(&shared, &params) {
        Ok(uri) => uri,
        Err(message) => return error_page(StatusCode::BAD_REQUEST, message),
    };
    let state = get(&params, "state");
    if let Err(error) = check_request(&params) {
        return redirect_with(&redirect_uri, &[("error", error), ("state", state)]);
    }
    if get(&params, "decision") != "allow" {
        return redirect_with(
            &redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied access"),
                ("state", state),
            ],
        );
    }
    let code = random_token(43);
    {
        let mut st = shared.lock();
        let grant_id = st.next_grant;
        st.next_grant += 1;
        let user_id = st.users[0].user_id.clone();
        st.grants.insert(
            grant_id,
            Grant {
                user_id,
                revoked: false,
            },
        );
        st.purge();
        st.codes.insert(
            code.clone(),
            CodeRecord {
                client_id: shared.config.client_id.clone(),
                redirect_uri: redirect_uri.clone(),
                code_challenge: get(&params, "code_challenge").to_owned(),
                grant_id,
                expires_at: Instant::now() + shared.config.code_ttl,
                used: false,
            },
        );
    }
    redirect_with(&redirect_uri, &[("code", &code), ("state", state)])
}

fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

/// An RFC 6749 §5.2 error.
struct OAuthError {
    status: u16,
    error: &'static str,
    description: &'static str,
}

fn oauth_error(status: u16, error: &'static str, description: &'static str) -> OAuthError {
    OAuthError {
        status,
        error,
        description,
    }
}

/// `Basic base64(urlencode(client_id) ":" urlencode(client_secret))` (RFC 6749 §2.3.1); `Err`
/// when the header is there but malformed.
fn basic_credentials(req: &HttpRequest) -> Option<Result<(String, String), ()>> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decode = |part: &str| {
        url::form_urlencoded::parse(format!("x={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some(
        STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                let (id, secret) = text.split_once(':')?;
                Some((decode(id), decode(secret)))
            })
            .ok_or(()),
    )
}

/// The client authentication method used, if the client authenticated (one method only).
fn authenticate_client(
    shared: &Shared,
    basic: Option<Result<(String, String), ()>>,
    params: &Params,
) -> Result<&'static str, OAuthError> {
    let config = &shared.config;
    let failed = || oauth_error(401, "invalid_client", "Client authentication failed.");
    match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => Err(oauth_error(
            400,
            "invalid_request",
            "Use one client authentication method, not two.",
        )),
        (Some(Ok((id, secret))), None) => {
            let body_id = get(params, "client_id");
            let ok = id == config.client_id
                && secret == config.client_secret
                && (body_id.is_empty() || body_id == id);
            ok.then_some("client_secret_basic").ok_or_else(failed)
        }
        (None, Some(secret)) => {
            let ok =
                get(params, "client_id") == config.client_id && *secret == config.client_secret;
            ok.then_some("client_secret_post").ok_or_else(failed)
        }
        (Some(Err(())), None) | (None, None) => Err(failed()),
    }
}

async fn token(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let params = first_values(&parse_pairs(&body));
    let grant_type = get(&params, "grant_type").to_owned();
    let basic = basic_credentials(&req);
    let (client_auth, result) = match authenticate_client(&shared, basic, &params) {
        Err(e) => ("none", Err(e)),
        Ok(method) => {
            let mut st = shared.lock();
            let result = match grant_type.as_str() {
                "authorization_code" => exchange_code(&shared, &mut st, &params),
                "refresh_token" => refresh(&shared, &mut st, get(&params, "refresh_token")),
                "" => Err(oauth_error(
                    400,
                    "invalid_request",
                    "grant_type is required.",
                )),
                _ => Err(oauth_error(
                    400,
                    "unsupported_grant_type",
                    "Unsupported grant_type.",
                )),
            };
            (method, result)
        }
    };
    let (status, body) = match result {
        Ok(body) => (200, body),
        Err(e) => (
            e.status,
            json!({"error": e.error, "error_description": e.description}),
        ),
    };
    State::record(
        &mut shared.lock().token_requests,
        TokenRequestInfo {
            grant_type,
            client_auth: client_auth.to_owned(),
            status,
        },
    );
    let mut response =
        HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST));
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if status == 401 {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"memoram\""));
    }
    response.json(body)
}

fn exchange_code(
    shared: &Shared,
    st: &mut State,
    params: &Params,
) -> Result<serde_json::Value, OAuthError> {
    let code = get(params, "code");
    if code.is_empty() {
        return Err(oauth_error(400, "invalid_request", "code is required."));
    }
    let Some(record) = st.codes.get_mut(code) else {
        return Err(oauth_error(
            400,
            "invalid_grant",
            "Unknown authorization code.",
        ));
    };
    if record.used {
        // RFC 6749 §4.1.2: a code used twice revokes what it issued.
        let grant_id = record.grant_id;
        if let Some(grant) = st.grants.get_mut(&grant_id) {
            grant.revoked = true;
        }
        return Err(oauth_error(
            400,
            "invalid_grant",
            "Authorization code already used.",
        ));
    }
    record.used = true;
    if Instant::now() >= record.expires_at {
        return Err(oauth_error(
            400,
            "invalid_grant",
            "Authorization code expired.",
        ));
    }
    if record.client_id != shared.config.client_id
        || record.redirect_uri != get(params, "redirect_uri")
    {
        return Err(oauth_error(
            400,
            "invalid_grant",
            "redirect_uri does not match.",
        ));
    }
    if pkce_s256(get(params, "code_verifier")) != record.code_challenge {
        return Err(oauth_error(
            400,
            "invalid_grant",
            "PKCE verification failed.",
        ));
    }
    let grant_id = record.grant_id;
    issue_tokens(shared, st, grant_id)
}

fn refresh(
    shared: &Shared,
    st: &mut State,
    refresh_token: &str,
) -> Result<serde_json::Value, OAuthError> {
    if refresh_token.is_empty() {
        return Err(oauth_error(
            400,
            "invalid_request",
            "refresh_token is required.",
        ));
    }
    let Some(record) = st.refresh_tokens.get_mut(refresh_token) else {
        return Err(oauth_error(400, "invalid_grant", "Unknown refresh token."));
    };
    let grant_id = record.grant_id;
    if record.rotated {
        // Reuse of a rotated refresh token: assume it was stolen and end the grant
        // (RFC 9700 §4.14.2).
        if let Some(grant) = st.grants.get_mut(&grant_id) {
            grant.revoked = true;
        }
        return Err(oauth_error(
            400,
            "invalid_grant",
            "Refresh token reuse detected; grant revoked.",
        ));
    }
    if st.grants.get(&grant_id).is_none_or(|g| g.revoked) {
        return Err(oauth_error(400, "invalid_grant", "The grant was revoked."));
    }
    record.rotated = true;
    issue_tokens(shared, st, grant_id)
}

fn issue_tokens(
    shared: &Shared,
    st: &mut State,
    grant_id: u64,
) -> Result<serde_json::Value, OAuthError> {
    let memory_key = st
        .grants
        .get(&grant_id)
        .and_then(|g| st.user(&g.user_id))
        .map(|u| u.memory_key.clone())
        .ok_or_else(|| oauth_error(400, "invalid_grant", "The user no longer exists."))?;
    let access = random_token(48);
    let refresh = random_token(48);
    let ttl = shared.config.access_token_ttl;
    st.purge();
    st.access_tokens.insert(
        access.clone(),
        AccessRecord {
            expires_at: Instant::now() + ttl,
        },
    );
    st.refresh_tokens.insert(
        refresh.clone(),
        RefreshRecord {
            grant_id,
            rotated: false,
        },
    );
    let mut tokens = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "refresh_token": refresh,
        "memory_key": memory_key,
    });
    if st.omit_memory_key {
        if let Some(fields) = tokens.as_object_mut() {
            fields.remove("memory_key");
        }
    }
    Ok(tokens)
}
