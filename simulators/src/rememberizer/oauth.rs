//! The provider's side of the authorization-code flow: consent page, codes, token endpoint.

use std::time::Instant;

use crate::{consent_fields, first_values, parse_pairs, pkce_s256, redirect_with, Params};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rand::distributions::{Alphanumeric, DistString};
use serde_json::json;

use super::{data, Shared, State, TokenRequestRecord};

pub const AUTHORIZE_PATH: &str = "/api/v1/auth/oauth2/authorize/";
pub const TOKEN_PATH: &str = "/api/v1/auth/oauth2/token/";

pub(super) struct CodeRecord {
    client_id: String,
    redirect_uri: String,
    code_challenge: Option<String>,
    grant_id: u64,
    expires_at: Instant,
    used: bool,
}

pub(super) struct Grant {
    pub mementos: Vec<u64>,
    pub revoked: bool,
}

pub(super) struct AccessRecord {
    pub grant_id: u64,
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

impl CodeRecord {
    pub(super) fn is_live(&self, now: Instant) -> bool {
        now < self.expires_at
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/consent.css", web::get().to(consent_css))
        .route(AUTHORIZE_PATH, web::get().to(authorize_page))
        .route(AUTHORIZE_PATH, web::post().to(authorize_decision))
        .route(TOKEN_PATH, web::post().to(token));
}

/// Errors that must not redirect (unknown client, unregistered redirect URI): an HTML page.
fn refuse(shared: &Shared, message: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/html; charset=utf-8")
        .body(render_error(shared, message))
}

fn render_error(_shared: &Shared, message: &str) -> String {
    let mut context = tera::Context::new();
    context.insert("message", message);
    templates()
        .render("error.html", &context)
        .unwrap_or_else(|e| format!("template error: {e}"))
}

fn templates() -> &'static tera::Tera {
    static TERA: std::sync::OnceLock<tera::Tera> = std::sync::OnceLock::new();
    TERA.get_or_init(|| {
        let mut tera = tera::Tera::default();
        // Both templates are compiled into the binary; a failure here is a build-time bug that
        // the simulator's tests catch, and the page then says so instead of panicking.
        let _ = tera.add_raw_templates(vec![
            ("consent.html", include_str!("templates/consent.html")),
            ("error.html", include_str!("templates/error.html")),
        ]);
        tera.autoescape_on(vec![".html"]);
        tera
    })
}

fn redirect_allowed(shared: &Shared, redirect_uri: &str) -> bool {
    crate::redirect_allowed(&shared.config.redirect_uris, redirect_uri)
}

/// Checks that must pass before the simulator may redirect anywhere; `Err` is the message of
/// the page shown instead.
fn check_client(shared: &Shared, params: &Params) -> Result<String, &'static str> {
    let client_id = params.get("client_id").map(String::as_str).unwrap_or("");
    if client_id != shared.config.client_id {
        return Err("Unknown client_id: this app is not registered.");
    }
    let redirect_uri = params.get("redirect_uri").cloned().unwrap_or_default();
    if !redirect_allowed(shared, &redirect_uri) {
        return Err("The redirect_uri is not registered for this app.");
    }
    Ok(redirect_uri)
}

/// Errors that are reported to the client by redirect (RFC 6749 §4.1.2.1).
fn check_request(params: &Params) -> Result<(), &'static str> {
    if params.get("response_type").map(String::as_str) != Some("code") {
        return Err("unsupported_response_type");
    }
    match params.get("code_challenge_method").map(String::as_str) {
        None | Some("S256") => Ok(()),
        Some(_) => Err("invalid_request"),
    }
}

/// The consent page's stylesheet: a file of its own, as the page's policy allows no inline style.
async fn consent_css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .body(include_str!("templates/consent.css"))
}

async fn authorize_page(req: HttpRequest, shared: web::Data<Shared>) -> HttpResponse {
    let params = first_values(&parse_pairs(req.query_string().as_bytes()));
    let redirect_uri = match check_client(&shared, &params) {
        Ok(uri) => uri,
        Err(message) => return refuse(&shared, message),
    };
    let state = params.get("state").cloned().unwrap_or_default();
    if let Err(error) = check_request(&params) {
        return redirect_with(&redirect_uri, &[("error", error), ("state", &state)]);
    }
    let mementos: Vec<_> = data::MEMENTOS
        .iter()
        .map(|m| {
            let count = shared
                .documents
                .iter()
                .filter(|d| d.memento_ids.contains(&m.id))
                .count();
            json!({"id": m.id, "name": m.name, "description": m.description, "count": count})
        })
        .collect();
    let hidden = consent_fields(&params);
    let mut context = tera::Context::new();
    context.insert("account_name", &shared.config.account_name);
    context.insert("account_email", &shared.config.account_email);
    context.insert("client_id", &shared.config.client_id);
    context.insert(
        "scope",
        params.get("scope").map(String::as_str).unwrap_or(""),
    );
    context.insert("mementos", &mementos);
    context.insert("hidden", &hidden);
    match templates().render("consent.html", &context) {
        Ok(html) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => HttpResponse::InternalServerError().body(format!("template error: {e}")),
    }
}

async fn authorize_decision(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let pairs = parse_pairs(&body);
    let params = first_values(&pairs);
    let redirect_uri = match check_client(&shared, &params) {
        Ok(uri) => uri,
        Err(message) => return refuse(&shared, message),
    };
    let state = params.get("state").cloned().unwrap_or_default();
    if let Err(error) = check_request(&params) {
        return redirect_with(&redirect_uri, &[("error", error), ("state", &state)]);
    }
    if params.get("decision").map(String::as_str) != Some("allow") {
        return redirect_with(
            &redirect_uri,
            &[
                ("error", "access_denied"),
                ("error_description", "The user denied access"),
                ("state", &state),
            ],
        );
    }
    let mut mementos = Vec::new();
    for (_, value) in pairs.iter().filter(|(k, _)| k == "memento") {
        match value.parse::<u64>() {
            Ok(id) if data::MEMENTOS.iter().any(|m| m.id == id) => mementos.push(id),
            _ => return refuse(&shared, "Unknown memento."),
        }
    }
    let code = random_token(43);
    {
        let mut st = shared.lock();
        let grant_id = st.next_grant;
        st.next_grant += 1;
        st.grants.insert(
            grant_id,
            Grant {
                mementos,
                revoked: false,
            },
        );
        st.purge();
        st.codes.insert(
            code.clone(),
            CodeRecord {
                client_id: shared.config.client_id.clone(),
                redirect_uri: redirect_uri.clone(),
                code_challenge: params
                    .get("code_challenge")
                    .cloned()
                    .filter(|c| !c.is_empty()),
                grant_id,
                expires_at: Instant::now() + shared.config.code_ttl,
                used: false,
            },
        );
    }
    redirect_with(&redirect_uri, &[("code", &code), ("state", &state)])
}

fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), len)
}

fn oauth_error(status: u16, error: &str, description: &str) -> (u16, serde_json::Value) {
    (
        status,
        json!({"error": error, "error_description": description}),
    )
}

async fn token(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let form = parse_pairs(&body);
    let params = first_values(&form);
    let grant_type = params.get("grant_type").cloned().unwrap_or_default();
    let (status, body) = {
        let mut st = shared.lock();
        let result = token_response(&shared, &mut st, &params);
        let record = TokenRequestRecord {
            grant_type,
            form,
            authorization_header: req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            status: result.0,
        };
        State::record(&mut st.token_requests, record);
        result
    };
    HttpResponse::build(
        actix_web::http::StatusCode::from_u16(status)
            .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
    )
    .insert_header((header::CACHE_CONTROL, "no-store"))
    .json(body)
}

fn token_response(shared: &Shared, st: &mut State, params: &Params) -> (u16, serde_json::Value) {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    // client_secret_post: credentials in the form body.
    if get("client_id") != shared.config.client_id
        || get("client_secret") != shared.config.client_secret
    {
        return oauth_error(401, "invalid_client", "Client authentication failed.");
    }
    match get("grant_type") {
        "authorization_code" => exchange_code(shared, st, params),
        "refresh_token" => refresh(shared, st, get("refresh_token")),
        "" => oauth_error(400, "invalid_request", "grant_type is required."),
        _ => oauth_error(400, "unsupported_grant_type", "Unsupported grant_type."),
    }
}

fn exchange_code(shared: &Shared, st: &mut State, params: &Params) -> (u16, serde_json::Value) {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let Some(code) = st.codes.get_mut(get("code")) else {
        return oauth_error(400, "invalid_grant", "Unknown authorization code.");
    };
    if code.used {
        // RFC 6749 §4.1.2: a code used twice revokes what it issued.
        let grant_id = code.grant_id;
        if let Some(grant) = st.grants.get_mut(&grant_id) {
            grant.revoked = true;
        }
        return oauth_error(400, "invalid_grant", "Authorization code already used.");
    }
    code.used = true;
    if Instant::now() > code.expires_at {
        return oauth_error(400, "invalid_grant", "Authorization code expired.");
    }
    if code.client_id != get("client_id") || code.redirect_uri != get("redirect_uri") {
        return oauth_error(400, "invalid_grant", "redirect_uri does not match.");
    }
    if let Some(challenge) = &code.code_challenge {
        if pkce_s256(get("code_verifier")) != *challenge {
            return oauth_error(400, "invalid_grant", "PKCE verification failed.");
        }
    }
    let grant_id = code.grant_id;
    issue_tokens(shared, st, grant_id)
}

fn refresh(shared: &Shared, st: &mut State, refresh_token: &str) -> (u16, serde_json::Value) {
    let Some(record) = st.refresh_tokens.get_mut(refresh_token) else {
        return oauth_error(400, "invalid_grant", "Unknown refresh token.");
    };
    let grant_id = record.grant_id;
    if record.rotated {
        // Reuse of a rotated refresh token: assume it was stolen and end the grant
        // (RFC 9700 §4.14.2).
        if let Some(grant) = st.grants.get_mut(&grant_id) {
            grant.revoked = true;
        }
        return oauth_error(
            400,
            "invalid_grant",
            "Refresh token reuse detected; grant revoked.",
        );
    }
    if st.grants.get(&grant_id).is_none_or(|g| g.revoked) {
        return oauth_error(400, "invalid_grant", "The grant was revoked.");
    }
    record.rotated = true;
    issue_tokens(shared, st, grant_id)
}

fn issue_tokens(shared: &Shared, st: &mut State, grant_id: u64) -> (u16, serde_json::Value) {
    let length = shared.config.token_length.max(32);
    let access = random_token(length);
    let refresh = random_token(length);
    let ttl = st.access_token_ttl;
    st.purge();
    st.access_tokens.insert(
        access.clone(),
        AccessRecord {
            grant_id,
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
    let body = if shared.config.minimal_token_response {
        // All that Rememberizer's own samples read: no token_type, no expires_in.
        json!({"access_token": access, "refresh_token": refresh})
    } else {
        json!({
            "access_token": access,
            "token_type": shared.config.token_type,
            "expires_in": ttl.as_secs(),
            "refresh_token": refresh,
            "scope": "offline_access",
        })
    };
    (200, body)
}

/// The grant behind a bearer token, if the token is valid now.
pub(super) fn grant_for(st: &State, authorization: Option<&str>) -> Option<u64> {
    let value = authorization?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let record = st.access_tokens.get(token.trim())?;
    let grant = st.grants.get(&record.grant_id)?;
    (!grant.revoked && Instant::now() < record.expires_at).then_some(record.grant_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
