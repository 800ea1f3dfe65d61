//! Steps 1 and 3–4 of the flow as actix-web handlers use them, for any provider: [`begin`]
//! sends the browser to the authorize page with its flow in a cookie of its own; [`finish`]
//! checks the callback's `state` against this browser's flows, spends it once, keeps the
//! failed-exchange limit and exchanges the code. Written once: an app's callback (and this
//! crate's) calls these, and adds only what it does with the grant.

use actix_web::cookie::Cookie;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::exchange_limit::{self, ExchangeLimit};
use crate::auth::oauth::{Grant, OAuthError, OAuthFlow};
use crate::auth::pending_flows::{FlowCookies, SpentStates};
use crate::auth::StoreError;

/// Why a callback did not give a grant. Each is the browser's or the provider's doing, never a
/// secret: a page may show it.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The `state` is missing, unknown to this browser, used or expired: no token request.
    #[error("the callback's state is not valid for this browser: {0}")]
    InvalidState(
        /// What the person is told.
        &'static str,
    ),
    /// The provider sent `error=…` (the person declined, or it could not authorize).
    #[error("the authorization request ended with error {error}")]
    AuthorizationFailed {
        /// The provider's `error`, bounded and on one line.
        error: String,
        /// The provider's `error_description`, likewise.
        description: Option<String>,
    },
    /// A callback of a flow this browser started, without a code.
    #[error("the callback carried no authorization code")]
    MissingCode,
    /// Too many failed exchanges from this client lately: no token request.
    #[error("too many failed sign-ins from this address")]
    TooManyFailedSignIns,
    /// The code exchange (Step 4) failed.
    #[error("the code exchange failed")]
    Exchange(#[source] OAuthError),
    /// The store of spent states failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a callback whose state matches no flow of this browser is told (no cookie for it, already
/// claimed, or expired: the browser cannot tell these apart, and need not).
const UNKNOWN_FLOW: &str =
    "This sign-in was not started in this browser, was already completed, or is more than 10 minutes old.";

/// Longest `error`/`error_description` shown back to the user.
const MAX_PROVIDER_TEXT: usize = 500;

/// Longest `return_to` kept with a flow.
const MAX_RETURN_PATH: usize = 1024;

/// `value` if it is a path of this app to come back to after connecting: it starts with one `/`
/// (not `//` or `/\`, which browsers read as another host), holds only printable ASCII without
/// `\` (a percent-encoded address, as a browser sends it), is at most 1 024 bytes, and is not a
/// step of the flow itself (`/auth/…`). Anything else is `None`: never an open redirect.
pub fn return_path(value: &str) -> Option<String> {
    let safe = value.starts_with('/')
        && !value.starts_with("//")
        && !value.starts_with("/auth/")
        && value.len() <= MAX_RETURN_PATH
        && value.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    safe.then(|| value.to_owned())
}

/// Step 1 for either provider. The flow's state and verifier go to the browser in an encrypted
/// cookie of their own (`pending_flows`): nothing is stored on the server for a visitor who is
/// not connected. A `return_to` query parameter that is a path of this app ([`return_path`])
/// goes with the flow, for [`finish`] to hand back.
pub fn begin(req: &HttpRequest, oauth: &OAuthFlow, flows: &FlowCookies) -> HttpResponse {
    let (authorize_url, mut pending) = oauth.start();
    pending.return_to = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "return_to")
        .and_then(|(_, value)| return_path(&value));
    let mut response = HttpResponse::Found();
    response.insert_header((header::LOCATION, authorize_url.as_str()));
    for cookie in flows.start(req, &pending) {
        response.cookie(cookie);
    }
    response.finish()
}

/// The query of the provider's redirect back (Step 3), for `web::Query`: `code` and `state`, or
/// `error` (and `error_description`) when the person declined; each may be absent.
#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// A callback that gave a grant.
pub struct Finished {
    /// The tokens (and any provider fields) of Step 4.
    pub grant: Grant,
    /// The removal of the flow's cookie, to go out with the answer ([`with_cookie`]).
    pub cookie: Option<Cookie<'static>>,
    /// Where the person was going when the flow began ([`begin`]'s `return_to`), if anywhere.
    pub return_to: Option<String>,
}

/// A callback that gave no grant: why, and the removal of the flow's cookie if this browser
/// had one for the callback's state. The flow is over either way (declined, failed, expired):
/// the answer carries the removal too ([`with_cookie`]), so no spent flow lingers in the
/// browser.
#[derive(Debug)]
pub struct Failed {
    /// Why there is no grant.
    pub error: FlowError,
    /// The removal of the flow's cookie, to go out with the answer.
    pub cookie: Option<Cookie<'static>>,
}

/// Steps 3 and 4 for either provider: the state checked against this browser's flows and
/// claimed once, then the code exchanged. Success or failure, the flow's cookie is spent.
pub async fn finish(
    req: &HttpRequest,
    params: CallbackParams,
    spent_states: &SpentStates,
    limit: &ExchangeLimit,
    oauth: &OAuthFlow,
    flows: &FlowCookies,
) -> Result<Finished, Failed> {
    // The flow this browser started with this state, from its cookie.
    let (pending, spent_cookie) = match params.state.as_deref() {
        Some(returned) if !returned.is_empty() => flows.take(req, returned),
        _ => (None, None),
    };
    match finish_flow(req, params, pending, spent_states, limit, oauth).await {
        Ok((grant, return_to)) => Ok(Finished {
            grant,
            cookie: spent_cookie,
            return_to,
        }),
        Err(error) => Err(Failed {
            error,
            cookie: spent_cookie,
        }),
    }
}

/// [`finish`] once the flow is out of its cookie: the grant and where to return.
async fn finish_flow(
    req: &HttpRequest,
    params: CallbackParams,
    pending: Option<crate::auth::oauth::PendingFlow>,
    spent_states: &SpentStates,
    limit: &ExchangeLimit,
    oauth: &OAuthFlow,
) -> Result<(Grant, Option<String>), FlowError> {
    let invalid = FlowError::InvalidState;

    // The user refused, or the provider could not authorize: no code, no token request. Only
    // for a flow this browser started: anyone can craft `?error=…&error_description=Call …` with
    // a made-up state, and the app's origin must not display their words.
    if let Some(error) = params.error {
        if pending.is_none() {
            return Err(invalid(
                "This answer does not belong to a sign-in started in this browser.",
            ));
        }
        return Err(FlowError::AuthorizationFailed {
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
        return Err(FlowError::MissingCode);
    };
    // An address that failed too many exchanges lately sends no more codes (each would cost a
    // token request signed with the client secret). The slot is taken before the token request,
    // so concurrent callbacks cannot all pass.
    let attempt = match limit.client_of(req) {
        Some(client) => Some(
            limit
                .begin(client)
                .await
                .ok_or(FlowError::TooManyFailedSignIns)?,
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
    let return_to = pending.return_to.clone();
    let grant = match oauth.exchange_code(code, pending).await {
        Ok(grant) => grant,
        Err(error) => {
            // The provider's own trouble (down, slow) is not the client's failure.
            if matches!(error, OAuthError::Unavailable(_)) {
                give_back(attempt).await;
            }
            return Err(FlowError::Exchange(error));
        }
    };
    give_back(attempt).await;
    Ok((grant, return_to))
}

/// Gives an exchange's slot back (see `ExchangeLimit::begin`), if one was taken.
async fn give_back(attempt: Option<exchange_limit::Attempt<'_>>) {
    if let Some(attempt) = attempt {
        attempt.give_back().await;
    }
}

/// `response` with `cookie` (a flow cookie's removal) added. A cookie this crate built always
/// fits in a header; if one ever did not, the flow's cookie stays until it expires (its state is
/// spent already), which is worth a log line, not a failed sign-in.
pub fn with_cookie(mut response: HttpResponse, cookie: Option<Cookie<'static>>) -> HttpResponse {
    if let Some(cookie) = cookie {
        if let Err(error) = response.add_cookie(&cookie) {
            tracing::warn!(%error, "the flow's cookie could not be removed");
        }
    }
    response
}

/// Provider text as the app shows and logs it: at most `MAX_PROVIDER_TEXT` bytes, control
/// characters written out (`\n` as the two characters `\` `n`) so that no line of the log can be
/// forged.
fn provider_text(text: String) -> String {
    let mut text = escape_control(&text).into_owned();
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

/// Text from outside (a provider's error, an upstream message) made safe for a log line: control
/// characters are written out (`\n` becomes the two characters `\` `n`), so no line can be
/// forged or a terminal driven.
pub fn escape_control(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_path_of_this_app_is_kept_to_return_to() {
        for good in [
            "/dashboard",
            "/dashboard?page=2&integration_type=slack",
            "/memories/a-1",
        ] {
            assert_eq!(return_path(good).as_deref(), Some(good));
        }
        for hostile in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example/",
            "/\\/evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "dashboard",
            "",
            "/auth/rememberizer/callback?code=x",
            "/dash board",
            "/dash\nboard",
        ] {
            assert_eq!(return_path(hostile), None, "{hostile:?} was kept");
        }
        // Percent-encoded bytes stay encoded: a path, not a header.
        assert_eq!(
            return_path("/%0d%0aSet-Cookie:x=1").as_deref(),
            Some("/%0d%0aSet-Cookie:x=1")
        );
        assert_eq!(return_path(&format!("/{}", "a".repeat(1024))), None);
    }

    /// A declined consent (`error=access_denied` with this browser's state) ends the flow: the
    /// failure carries the removal of the flow's cookie, for the answer to send.
    #[tokio::test]
    async fn a_declined_callback_spends_the_flows_cookie() {
        use crate::auth::exchange_limit::TrustedProxies;
        use crate::auth::oauth::Endpoints;
        use crate::http_client::{HttpClient, HttpSettings};

        let oauth = OAuthFlow::new(
            Endpoints {
                authorize: url::Url::parse("https://provider.example/authorize").expect("url"),
                token: url::Url::parse("https://provider.example/token").expect("url"),
                redirect: url::Url::parse("https://app.example/callback").expect("url"),
                secret_in_body: true,
            },
            "client-123",
            &secrecy::SecretString::from("secret"),
            &[],
            HttpClient::new(&HttpSettings::default()).expect("client"),
        );
        let flows = FlowCookies::new(actix_web::cookie::Key::generate(), false, "/");
        let (_, pending) = oauth.start();
        let started = flows.start(
            &actix_web::test::TestRequest::default().to_http_request(),
            &pending,
        );
        let mut request = actix_web::test::TestRequest::default();
        for cookie in started {
            request = request.cookie(cookie);
        }
        let params = CallbackParams {
            code: None,
            state: Some(pending.state.clone()),
            error: Some("access_denied".to_owned()),
            error_description: None,
        };
        let limit = ExchangeLimit::new(TrustedProxies::parse("", None).expect("no proxies"));
        let failed = match finish(
            &request.to_http_request(),
            params,
            &SpentStates::memory(),
            &limit,
            &oauth,
            &flows,
        )
        .await
        {
            Ok(_) => panic!("a declined consent gives no grant"),
            Err(failed) => failed,
        };
        assert!(matches!(
            failed.error,
            FlowError::AuthorizationFailed { ref error, .. } if error == "access_denied"
        ));
        let removal = failed.cookie.expect("the flow's cookie is removed");
        assert!(removal
            .name()
            .starts_with(crate::auth::pending_flows::DEFAULT_COOKIE_PREFIX));
        assert_eq!(
            removal.max_age(),
            Some(actix_web::cookie::time::Duration::ZERO)
        );
    }

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
