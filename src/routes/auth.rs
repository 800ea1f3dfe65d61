//! The browser side of the OAuth flow: Step 1 (start), Step 3 (callback) and log out.
//! The protocol itself lives in `crate::oauth`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::errors::AppError;
use crate::routes::see_other;
use crate::session::TypedSession;
use crate::state::AppState;
use crate::tokens::{TokenError, TokenSet};

/// Step 1's route: starts a flow.
pub const START_ROUTE: &str = "/auth/rememberizer";
/// Step 3's route: `APP_BASE_URL` + this is the `redirect_uri` registered at Rememberizer.
pub const CALLBACK_ROUTE: &str = "/auth/rememberizer/callback";

/// What a callback whose state matches no flow of this browser is told (no cookie for it, already
/// claimed, or expired: the browser cannot tell these apart, and need not).
const UNKNOWN_FLOW: &str =
    "This sign-in was not started in this browser, was already completed, or is more than 10 minutes old.";

/// Longest `error`/`error_description` shown back to the user.
const MAX_PROVIDER_TEXT: usize = 500;

/// `GET /auth/rememberizer` — Step 1: send the browser to Rememberizer's authorize endpoint.
/// The flow's state and verifier go to the browser in an encrypted cookie of their own
/// (`pending_flows`): nothing is stored on the server for a visitor who is not connected.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (authorize_url, pending) = state.oauth.start();
    let mut response = HttpResponse::Found();
    response.insert_header((header::LOCATION, authorize_url.as_str()));
    for cookie in state.flows.start(&req, &pending) {
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
    let params = params.into_inner();

    // The flow this browser started with this state, from its cookie (whose removal goes out
    // with the answer).
    let (pending, spent_cookie) = match params.state.as_deref() {
        Some(returned) if !returned.is_empty() => state.flows.take(&req, returned),
        _ => (None, None),
    };

    // The user refused, or Rememberizer could not authorize: no code, no token request. Only
    // for a flow this browser started: anyone can craft `?error=…&error_description=Call …` with
    // a made-up state, and the app's origin must not display their words.
    if let Some(error) = params.error {
        if pending.is_none() {
            return Err(AppError::InvalidState(
                "This answer does not belong to a sign-in started in this browser.",
            ));
        }
        return Err(AppError::AuthorizationFailed {
            error: provider_text(error),
            description: params.error_description.map(provider_text),
        });
    }

    if params.state.as_deref().is_none_or(str::is_empty) {
        return Err(AppError::InvalidState(
            "The answer from Rememberizer did not say which sign-in it belongs to.",
        ));
    }
    // A state this browser did not start means someone else created the request: abort, and
    // never send the code anywhere.
    let Some(pending) = pending else {
        return Err(AppError::InvalidState(UNKNOWN_FLOW));
    };
    let Some(code) = params.code.filter(|code| !code.is_empty()) else {
        return Err(AppError::BadRequest(
            "The answer from Rememberizer carried no authorization code. Start again to connect."
                .to_owned(),
        ));
    };
    // Each state is exchanged once, whatever arrives concurrently (a reload, a proxy retry): a
    // second exchange of one code would make a provider following RFC 6749 §4.1.2 revoke the
    // grant.
    if !state
        .spent_states
        .claim(&pending.state)
        .await
        .map_err(TokenError::from)?
    {
        return Err(AppError::InvalidState(UNKNOWN_FLOW));
    }

    // Step 4: code + PKCE verifier → tokens, kept server-side.
    let grant = state
        .oauth
        .exchange_code(code, pending)
        .await
        .map_err(AppError::Exchange)?;
    let connection = state.tokens.insert(TokenSet::from_grant(grant)).await?;
    if let Some(previous) = session.connection()? {
        state.tokens.remove(&previous).await?;
    }
    session.start_connection(&connection)?;
    // 303 so the code and state leave the address bar (and the history entry is a clean GET).
    let mut response = see_other("/dashboard");
    if let Some(cookie) = spent_cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| AppError::BadRequest(format!("cookie: {e}")))?;
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    csrf_token: Option<String>,
}

/// `POST /logout`: forgets the tokens and destroys the session server-side.
pub async fn logout(
    form: web::Form<LogoutForm>,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let submitted = form.into_inner().csrf_token.unwrap_or_default();
    if !session.csrf_token_matches(&submitted)? {
        return Err(AppError::Csrf);
    }
    if let Some(connection) = session.connection()? {
        state.tokens.remove(&connection).await?;
    }
    session.log_out();
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
