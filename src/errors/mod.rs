//! The app's error type at the HTTP boundary, and the page every error response renders.
//!
//! Handlers return `AppError`; `ResponseError` picks the status and attaches an [`ErrorPage`]
//! to the response. The `ErrorHandlers` middleware (`render_error_page`) then renders
//! `error.html` for every 4xx/5xx, including actix's own 404/405 and extractor errors, so every
//! error looks like the rest of the app. Error types never hold secrets, so logging their chain
//! is safe.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::api::ApiError;
use crate::auth::oauth::OAuthError;
use crate::auth::session::SessionError;
use crate::auth::tokens::TokenError;
use crate::auth::StoreError;
use crate::provider::Provider;
use crate::templates::Templates;

mod render;

pub use render::{
    render_error_page, retry_href, session_store_unavailable, PageChrome, SECURITY_HEADERS,
};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    /// Step 3 failed: the `state` is missing, unknown, used or expired. No token request is made.
    #[error("the callback's state is not valid for this browser: {reason}")]
    InvalidState {
        provider: Provider,
        reason: &'static str,
    },
    /// The session is streaming its share of answers already (`answer_stream::AnswerSlots`).
    #[error("this session is streaming as many answers as it may")]
    TooManyAnswers,
    /// Too many failed code exchanges from this client address lately: no token request.
    #[error("too many failed sign-ins from this address")]
    TooManyFailedSignIns(Provider),
    /// Step 3 carried `error=…` instead of a code.
    #[error("the authorization request ended with error {error}")]
    AuthorizationFailed {
        provider: Provider,
        error: String,
        description: Option<String>,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the code exchange failed")]
    Exchange(Provider, #[source] OAuthError),
    /// A Rememberizer API call failed (Memoram's are `Memoram`).
    #[error("a Rememberizer API call failed")]
    Rememberizer(#[from] ApiError),
    /// Rememberizer refused the access token it had just issued (the connection is kept).
    #[error("Rememberizer refused a freshly refreshed access token")]
    FreshTokenRefused,
    #[error("a Memoram API call failed")]
    Memoram(#[source] ApiError),
    /// Memoram's token response had no `memory_key`: nothing was connected.
    #[error("Memoram's token response carried no memory_key")]
    NoMemoryKey,
    /// The page needs something this browser does not have yet (a connection, an approved
    /// access request): `303` to where it can get it.
    #[error("redirected to {0}")]
    SeeOther(&'static str),
    /// The page needs a connection to `provider` that this browser does not have: a `403` page
    /// that says so and offers to connect (`page`, rendered by `routes::guards::not_connected`;
    /// if it could not be, the error page says the same).
    #[error("this page needs a connection to {}", .provider.name())]
    NotConnected {
        provider: Provider,
        page: Option<String>,
    },
    #[error("the session store failed")]
    Session(#[from] SessionError),
    /// A store of connections (Redis) failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session middleware could not load or save the session (the store is down).
    #[error("the session store is unavailable")]
    SessionStore,
    #[error("a page could not be rendered")]
    Template(#[from] tera::Error),
    /// A bug of this app's own (an invariant that did not hold): a 500, logged with this.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl AppError {
    /// A callback's failure (`provider`'s), as this app's pages say it.
    pub fn flow(provider: Provider, error: crate::connect::FlowError) -> Self {
        use crate::connect::FlowError;
        match error {
            FlowError::InvalidState(reason) => AppError::InvalidState { provider, reason },
            FlowError::AuthorizationFailed { error, description } => {
                AppError::AuthorizationFailed {
                    provider,
                    error,
                    description,
                }
            }
            FlowError::MissingCode => AppError::BadRequest(format!(
                "The answer from {} carried no authorization code. Start again to connect.",
                provider.name()
            )),
            FlowError::TooManyFailedSignIns => AppError::TooManyFailedSignIns(provider),
            FlowError::Exchange(error) => AppError::Exchange(provider, error),
            FlowError::Store(error) => AppError::Store(error),
        }
    }
}

impl AppError {
    /// What a form shown again says of this error, above what was typed: the error page's
    /// status, and its title and message, with the reassurance that `typed` ("Your note") is
    /// below and nothing was lost.
    pub fn for_form(&self, typed: &str) -> (StatusCode, String) {
        let (page, _) = self.page();
        (
            StatusCode::from_u16(page.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            format!(
                "{}: {} {typed} is below, nothing was lost.",
                page.title, page.message
            ),
        )
    }
}

/// What `error.html` shows. Attached to error responses as an extension.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorPage {
    pub status: u16,
    pub title: String,
    pub message: String,
    /// Extra text from the provider (e.g. `error_description`), rendered escaped.
    pub detail: Option<String>,
    /// Who said `detail`: the provider's name.
    pub said: Option<&'static str>,
    pub offer_retry: bool,
    /// The provider to connect (again): its name and where its flow starts.
    pub connect: Option<ConnectOffer>,
}

/// A "Connect …" button on an error page.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectOffer {
    pub name: &'static str,
    pub href: &'static str,
}

impl ErrorPage {
    fn new(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: status.as_u16(),
            title: title.into(),
            message: message.into(),
            detail: None,
            said: None,
            offer_retry: false,
            connect: None,
        }
    }

    fn retry(mut self) -> Self {
        self.offer_retry = true;
        self
    }

    fn connect(mut self, provider: Provider) -> Self {
        self.connect = Some(ConnectOffer {
            name: provider.name(),
            href: provider.connect_route(),
        });
        self
    }

    /// The page for a status that no `AppError` described (actix's 404/405, extractor errors).
    pub fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::new(
                status,
                "Page not found",
                "There is nothing at this address. Check the link, or start from the home page.",
            ),
            StatusCode::METHOD_NOT_ALLOWED => Self::new(
                status,
                "Method not allowed",
                "This address does not accept that kind of request.",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                status,
                "Request too large",
                "What you sent is larger than this app accepts.",
            ),
            s if s.is_client_error() => Self::new(
                status,
                "Bad request",
                "The request could not be understood. Check the address and try again.",
            ),
            _ => Self::new(
                status,
                "Something went wrong",
                "The app could not finish this request. Try again in a moment.",
            )
            .retry(),
        }
    }
}

fn upstream_page(provider: Provider, error: &ApiError) -> (ErrorPage, Option<Duration>) {
    let name = provider.name();
    let unavailable = |status| {
        ErrorPage::new(
            status,
            format!("{name} is not answering"),
            format!("{name} could not be reached or had a problem. You are still connected; try again in a moment."),
        )
        .retry()
    };
    match error {
        ApiError::Timeout => (
            ErrorPage::new(
                StatusCode::GATEWAY_TIMEOUT,
                format!("{name} is slow to answer"),
                format!("{name} did not answer in time. You are still connected; try again in a moment."),
            )
            .retry(),
            None,
        ),
        ApiError::RateLimited { retry_after } => {
            let when = match retry_after {
                Some(d) => format!("in {} seconds", d.as_secs().max(1)),
                None => "in a minute".to_owned(),
            };
            (
                ErrorPage::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{name} asks us to slow down"),
                    format!("Too many requests reached {name}. You are still connected; try again {when}."),
                )
                .retry(),
                *retry_after,
            )
        }
        ApiError::NotFound => (
            ErrorPage::new(
                StatusCode::NOT_FOUND,
                "Not found",
                format!("{name} has no such item, or this app was not given access to it."),
            ),
            None,
        ),
        ApiError::BadResponse(_) => (
            ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                format!("{name} sent an answer we could not read"),
                format!("{name} answered with something unexpected. You are still connected; try again in a moment."),
            )
            .retry(),
            None,
        ),
        ApiError::Unauthorized => (reconnect_page(provider), None),
        // The provider was not asked: nothing to blame it for.
        ApiError::Local(_) => (ErrorPage::for_status(StatusCode::INTERNAL_SERVER_ERROR), None),
        ApiError::Refused(reqwest::StatusCode::FORBIDDEN) => (
            ErrorPage::new(
                StatusCode::FORBIDDEN,
                format!("{name} refused access"),
                format!("{name} answered that this app may not see or do this (403 Forbidden). You are still connected; what this app may see is chosen at {name}."),
            ),
            None,
        ),
        // A refusal, not an outage: trying again would get the same answer.
        ApiError::Refused(status) => (
            ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                format!("{name} did not accept the request"),
                format!("{name} refused this app's request ({status}). Trying again will not help; if it keeps happening, tell the app's operator the request id below."),
            ),
            None,
        ),
        ApiError::Unavailable(_) => (unavailable(StatusCode::BAD_GATEWAY), None),
    }
}

fn sessions_unavailable() -> ErrorPage {
    ErrorPage::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sessions are unavailable",
        "The app cannot read or store sessions right now. Try again in a moment.",
    )
    .retry()
}

fn reconnect_page(provider: Provider) -> ErrorPage {
    let name = provider.name();
    // 403, not 401: a 401 must carry a WWW-Authenticate challenge (RFC 9110 §15.5.2), and
    // there is no HTTP authentication scheme to ask the browser for; the way back is a link.
    ErrorPage::new(
        StatusCode::FORBIDDEN,
        format!("Your connection to {name} ended"),
        format!("{name} no longer accepts this app's access (it expired or was revoked). Connect again to continue."),
    )
    .connect(provider)
}

fn oauth_page(provider: Provider, error: &OAuthError) -> ErrorPage {
    let name = provider.name();
    match error {
        OAuthError::InvalidGrant => ErrorPage::new(
            StatusCode::BAD_REQUEST,
            format!("{name} did not accept this sign-in"),
            "The authorization code expired or was already used. Start again to connect.",
        )
        .connect(provider),
        OAuthError::Unavailable(crate::http_client::HttpError::Timeout) => ErrorPage::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!("{name} is slow to answer"),
            format!("{name} did not answer in time. Try again in a moment."),
        )
        .retry(),
        OAuthError::Unavailable(_) => ErrorPage::new(
            StatusCode::BAD_GATEWAY,
            format!("{name} is not answering"),
            format!("{name} could not be reached or had a problem. Try again in a moment."),
        )
        .retry(),
        OAuthError::Refused(_) | OAuthError::BadResponse(_) => ErrorPage::new(
            StatusCode::BAD_GATEWAY,
            format!("{name} refused this app"),
            format!("{name} did not accept the app's request for tokens. If this keeps happening, the app's client id or secret may be wrong."),
        )
        .connect(provider),
    }
}

impl AppError {
    /// The page this error shows, and the delay to send as `Retry-After`, if any.
    pub(crate) fn page(&self) -> (ErrorPage, Option<Duration>) {
        let page = match self {
            AppError::BadRequest(message) => {
                let mut page = ErrorPage::for_status(StatusCode::BAD_REQUEST);
                page.message = message.clone();
                page
            }
            AppError::NotFound => ErrorPage::for_status(StatusCode::NOT_FOUND),
            AppError::Csrf => ErrorPage::new(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was missing its security token or it did not match. Reload the page and try again.",
            ),
            AppError::InvalidState { provider, reason } => ErrorPage::new(
                StatusCode::BAD_REQUEST,
                "This sign-in could not be completed",
                format!("{reason} For your safety nothing was sent to {}. Start again from this browser.", provider.name()),
            )
            .connect(*provider),
            AppError::AuthorizationFailed {
                provider,
                error,
                description,
            } => {
                let name = provider.name();
                // The callbacks answer a declined consent with a notice of their own (200,
                // `routes::auth::not_connected`); this page is for any other caller.
                let mut page = if error == "access_denied" {
                    ErrorPage::new(
                        StatusCode::FORBIDDEN,
                        format!("You did not connect {name}"),
                        format!("You declined to give this app access to your {}. Nothing was shared. You can connect whenever you like.", provider.holdings()),
                    )
                } else {
                    ErrorPage::new(
                        StatusCode::BAD_REQUEST,
                        format!("{name} could not authorize this app"),
                        format!("{name} answered with the error “{error}”."),
                    )
                };
                page.detail = description.clone();
                page.said = Some(name);
                page.connect(*provider)
            }
            AppError::Token(TokenError::Reconnect) => reconnect_page(Provider::Rememberizer),
            AppError::Token(TokenError::Store(_)) => sessions_unavailable(),
            AppError::Token(TokenError::Busy) => ErrorPage::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Rememberizer is slow to answer",
                "Your connection to Rememberizer is being renewed and that is taking long. Try again in a moment.",
            )
            .retry(),
            AppError::Token(TokenError::Refresh(e)) => oauth_page(Provider::Rememberizer, e),
            AppError::Token(TokenError::Late) => {
                return upstream_page(Provider::Rememberizer, &ApiError::Timeout)
            }
            AppError::Exchange(provider, e) => oauth_page(*provider, e),
            AppError::Token(TokenError::Internal) => {
                ErrorPage::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
            AppError::TooManyAnswers => ErrorPage::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Answers are being written in your other tabs",
                format!(
                    "This app writes up to {} answers at a time for you, and that many are being written now. Wait until one of them is finished (or close its tab), then ask again.",
                    crate::llm::MAX_ANSWERS_PER_SESSION
                ),
            )
            .retry(),
            AppError::TooManyFailedSignIns(provider) => {
                let page = ErrorPage::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed sign-ins",
                    format!("Too many sign-ins to {} failed from your address lately, so this one was not tried. Wait ten minutes, then connect again.", provider.name()),
                );
                return (page, Some(crate::auth::exchange_limit::WINDOW));
            }
            AppError::Rememberizer(e) => return upstream_page(Provider::Rememberizer, e),
            AppError::FreshTokenRefused => ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                "Rememberizer refused a new access token",
                "Rememberizer issued this app a new access token and then did not accept it. You are still connected: try again in a moment, and if it keeps happening, connect again.",
            )
            .retry()
            .connect(Provider::Rememberizer),
            AppError::Memoram(ApiError::Unauthorized) => ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                "Memoram refused this app",
                "Memoram did not accept the app's developer credentials (MEMORAM_API_KEY). You are still connected; the app's operator must fix its configuration.",
            )
            .retry(),
            AppError::Memoram(e) => return upstream_page(Provider::Memoram, e),
            AppError::NoMemoryKey => ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                "Memoram did not send a memory key",
                "Memoram completed the sign-in, but its answer had no memory key, which this app needs to reach your memories. Nothing was connected. You can connect Memoram again; if this keeps happening, Memoram has a problem on its side.",
            )
            .connect(Provider::Memoram),
            AppError::SeeOther(_) => ErrorPage::new(StatusCode::SEE_OTHER, "See other", ""),
            AppError::NotConnected { provider, .. } => ErrorPage::new(
                StatusCode::FORBIDDEN,
                format!("Connect {}", provider.name()),
                format!("This page needs a connection to {}.", provider.name()),
            )
            .connect(*provider),
            AppError::Store(e) if e.is_contended() => ErrorPage::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Changed in another tab at the same time",
                "Your connection was being changed by another page at the same moment, several times over, so this change was not made. Try again.",
            )
            .retry(),
            AppError::Session(_) | AppError::SessionStore | AppError::Store(_) => {
                sessions_unavailable()
            }
            AppError::Template(_) | AppError::Internal(_) => {
                ErrorPage::for_status(StatusCode::INTERNAL_SERVER_ERROR)
            }
        };
        (page, None)
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.page().0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let AppError::SeeOther(location) = self {
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, *location))
                .finish();
        }
        if let AppError::NotConnected {
            page: Some(html), ..
        } = self
        {
            tracing::info!(error = %self, status = 403, "request refused");
            return HttpResponse::Forbidden()
                .content_type(actix_web::http::header::ContentType::html())
                .body(html.clone());
        }
        let (page, retry_after) = self.page();
        let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            tracing::error!(error = %error_chain(self), status = status.as_u16(), "request failed");
        } else {
            tracing::info!(error = %error_chain(self), status = status.as_u16(), "request refused");
        }
        let mut response = HttpResponse::build(status);
        if let Some(delay) = retry_after {
            response.insert_header((header::RETRY_AFTER, delay.as_secs().max(1).to_string()));
        }
        let mut response = response.finish();
        response.extensions_mut().insert(page);
        response
    }
}

/// "outer: inner: innermost" — the whole cause chain on one line. Control characters (which an
/// upstream answer could carry into an error message) are written out, so a log line stays one
/// line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    crate::telemetry::escape_control(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_that_kept_changing_is_not_an_outage() {
        let (page, _) = AppError::Store(StoreError::contended("a Memoram connection")).page();
        assert_eq!(page.status, 503);
        assert_eq!(page.title, "Changed in another tab at the same time");
        assert!(page.offer_retry);
        let outage = StoreError::new(std::io::Error::other("connection refused"));
        let (page, _) = AppError::Store(outage).page();
        assert_eq!(page.title, "Sessions are unavailable");
    }

    #[test]
    fn a_bug_of_this_app_is_a_500_and_a_form_says_what_was_kept() {
        let (page, _) = AppError::Internal("the answer page lost its marks").page();
        assert_eq!(page.status, 500);
        let (status, problem) = AppError::Store(StoreError::contended("x")).for_form("Your note");
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            problem.starts_with("Changed in another tab at the same time: ")
                && problem.ends_with(" Your note is below, nothing was lost."),
            "{problem}"
        );
    }
}
