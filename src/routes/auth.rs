//! The browser side of the OAuth flow: Step 1 (start), Step 3 (callback), disconnect and log out.
//! Steps 1, 3 and 4 are shared by both providers ([`begin`], [`finish`]); the protocol itself
//! lives in `crate::auth::oauth`.

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::Provider;
use crate::auth::exchange_limit::{self, ExchangeLimit};
use crate::auth::oauth::{Grant, OAuthError, OAuthFlow};
use crate::auth::pending_flows::{FlowCookies, SpentStates};
use crate::auth::session::TypedSession;
use crate::auth::tokens::TokenSet;
use crate::errors::AppError;
use crate::routes::see_other;
use crate::state::AppState;

/// Step 1's route: starts a flow.
pub const START_ROUTE: &str = Provider::Rememberizer.connect_route();
/// Step 3's route: `APP_BASE_URL` + this is the `redirect_uri` registered at Rememberizer.
pub const CALLBACK_ROUTE: &str = "/auth/rememberizer/callback";
pub const DISCONNECT_ROUTE: &str = "/auth/rememberizer/disconnect";

/// What a callback whose state matches no flow of this browser is told (no cookie for it, already
/// claimed, or expired: the browser cannot tell these apart, and need not).
const UNKNOWN_FLOW: &str =
    "This sign-in was not started in this browser, was already completed, or is more than 10 minutes old.";

/// Longest `error`/`error_description` shown back to the user.
const MAX_PROVIDER_TEXT: usize = 500;

/// `GET /auth/rememberizer` — Step 1: send the browser to Rememberizer's authorize endpoint.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    begin(&req, &state.oauth, &state.flows)
}

/// Step 1 for either provider. The flow's state and verifier go to the browser in an encrypted
/// cookie of their own (`pending_flows`): nothing is stored on the server for a visitor who is
/// not connected.
pub fn begin(req: &HttpRequest, oauth: &OAuthFlow, flows: &FlowCookies) -> HttpResponse {
    let (authorize_url, pending) = oauth.start();
    let mut response = HttpResponse::Found();
    response.insert_header((header::LOCATION, authorize_url.as_str()));
    for cookie in flows.start(req, &pending) {
        response.cookie(cookie);
    }
    response.finish()
}

#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/rememberizer/callback` — Step 3: Rememberizer sends the browser back here.
pub async fn callback(
    req: HttpRequest,
    params: web::Query<CallbackParams>,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let (grant, spent_cookie) = finish(
        &req,
        params.into_inner(),
        &state.spent_states,
        &state.exchange_limit,
        &state.oauth,
        &state.flows,
        Provider::Rememberizer,
    )
    .await?;
    let connection = state.tokens.insert(TokenSet::from_grant(grant)).await?;
    if let Some(previous) = session.connection()? {
        state.end_connection(&previous).await?;
    }
    session.start_connection(&connection)?;
    // 303 so the code and state leave the address bar (and the history entry is a clean GET).
    with_cookie(see_other("/dashboard"), spent_cookie)
}

/// Steps 3 and 4 for either provider: the state checked against this browser's flows and
/// claimed once, then the code exchanged. Returns the grant and the removal of the flow's cookie
/// (to go out with the answer).
pub async fn finish(
    req: &HttpRequest,
    params: CallbackParams,
    spent_states: &SpentStates,
    limit: &ExchangeLimit,
    oauth: &OAuthFlow,
    flows: &FlowCookies,
    provider: Provider,
) -> Result<(Grant, Option<Cookie<'static>>), AppError> {
    let invalid = |reason| AppError::InvalidState { provider, reason };
    // The flow this browser started with this state, from its cookie.
    let (pending, spent_cookie) = match params.state.as_deref() {
        Some(returned) if !returned.is_empty() => flows.take(req, returned),
        _ => (None, None),
    };

    // The user refused, or the provider could not authorize: no code, no token request. Only
    // for a flow this browser started: anyone can craft `?error=…&error_description=Call …` with
    // a made-up state, and the app's origin must not display their words.
    if let Some(error) = params.error {
        if pending.is_none() {
            return Err(invalid(
                "This answer does not belong to a sign-in started in this browser.",
            ));
        }
        return Err(AppError::AuthorizationFailed {
            provider,
            error: provider_text(error),
            description: params.error_description.map(provider_text),
        });
    }

    if params.state.as_deref().is_none_or(str::is_empty) {
        return Err(invalid(
            "The answer did not say which sign-in it belongs to.",
        ));
    }
    // A state this browser did not start means someone else created the request: abort, and
    // never send the code anywhere.
    let Some(pending) = pending else {
        return Err(invalid(UNKNOWN_FLOW));
    };
    let Some(code) = params.code.filter(|code| !code.is_empty()) else {
        return Err(AppError::BadRequest(format!(
            "The answer from {} carried no authorization code. Start again to connect.",
            provider.name()
        )));
    };
    // An address that failed too many exchanges lately sends no more codes (each would cost a
    // token request signed with the client secret). The slot is taken before the token request,
    // so concurrent callbacks cannot all pass.
    let attempt = match limit.client_of(req) {
        Some(client) => Some(
            limit
                .begin(client)
                .await
                .ok_or(AppError::TooManyFailedSignIns(provider))?,
        ),
        None => None,
    };
    // Each state is exchanged once, whatever arrives concurrently (a reload, a proxy retry): a
    // second exchange of one code would make a provider following RFC 6749 §4.1.2 revoke the
    // grant.
    match spent_states.claim(&pending.state).await {
        Ok(true) => {}
        // No token request was made: not the client's failure.
        Ok(false) => {
            give_back(attempt).await;
            return Err(invalid(UNKNOWN_FLOW));
        }
        Err(error) => {
            give_back(attempt).await;
            return Err(error.into());
        }
    }

    // Step 4: code + PKCE verifier → tokens.
    let grant = match oauth.exchange_code(code, pending).await {
        Ok(grant) => grant,
        Err(error) => {
            // The provider's own trouble (down, slow) is not the client's failure.
            if matches!(error, OAuthError::Unavailable(_)) {
                give_back(attempt).await;
            }
            return Err(AppError::Exchange(provider, error));
        }
    };
    give_back(attempt).await;
    Ok((grant, spent_cookie))
}

/// Gives an exchange's slot back (see `ExchangeLimit::begin`), if one was taken.
async fn give_back(attempt: Option<exchange_limit::Attempt<'_>>) {
    if let Some(attempt) = attempt {
        attempt.give_back().await;
    }
}

/// `response` with `cookie` (a flow cookie's removal) added.
pub fn with_cookie(
    mut response: HttpResponse,
    cookie: Option<Cookie<'static>>,
) -> Result<HttpResponse, AppError> {
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| AppError::BadRequest(format!("cookie: {e}")))?;
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf_token: Option<String>,
}

impl CsrfForm {
    /// The form's token matches this session's (synchronizer-token pattern).
    pub fn check(&self, session: &TypedSession) -> Result<(), AppError> {
        let submitted = self.csrf_token.as_deref().unwrap_or_default();
        if session.csrf_token_matches(submitted)? {
            Ok(())
        } else {
            Err(AppError::Csrf)
        }
    }
}

/// `POST /logout`: forgets every connection and destroys the session server-side.
pub async fn logout(
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    end_connections(&form, &state, session, None).await
}

/// `POST /auth/rememberizer/disconnect`: forgets the Rememberizer tokens only.
pub async fn disconnect(
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    end_connections(&form, &state, session, Some(Provider::Rememberizer)).await
}

/// `POST /auth/memoram/disconnect`: forgets the Memoram connection only.
pub async fn disconnect_memoram(
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    end_connections(&form, &state, session, Some(Provider::Memoram)).await
}

/// Forgets one provider's connection (`None`: both, and the session with them), server-side
/// first; the session ends when no connection is left.
async fn end_connections(
    form: &CsrfForm,
    state: &AppState,
    session: TypedSession,
    provider: Option<Provider>,
) -> Result<HttpResponse, AppError> {
    form.check(&session)?;
    if provider != Some(Provider::Memoram) {
        if let Some(connection) = session.connection()? {
            state.end_connection(&connection).await?;
        }
    }
    if provider != Some(Provider::Rememberizer) {
        if let (Some(memoram), Some(id)) = (&state.memoram, session.memoram_connection()?) {
            memoram.connections.remove(&id).await?;
        }
    }
    match provider {
        Some(Provider::Rememberizer) => session.disconnect_rememberizer()?,
        Some(Provider::Memoram) => session.disconnect_memoram()?,
        None => session.log_out(),
    }
    Ok(see_other("/"))
}

/// Provider text as the app shows and logs it: at most `MAX_PROVIDER_TEXT` bytes, control
/// characters written out (`\n` as the two characters `\` `n`) so that no line of the log can be
/// forged.
fn provider_text(text: String) -> String {
    let mut text = crate::telemetry::escape_control(&text).into_owned();
    if text.len() > MAX_PROVIDER_TEXT {
        let mut end = MAX_PROVIDER_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_text_is_bounded_and_on_one_line() {
        assert_eq!(
            provider_text("a\nfake log line\r\u{1b}[31m".to_owned()),
            "a\\nfake log line\\r\\u{1b}[31m"
        );
        let long = provider_text("é".repeat(400));
        assert!(long.len() <= MAX_PROVIDER_TEXT + '…'.len_utf8());
        assert!(long.ends_with('…'));
    }
}
