//! The browser side of the OAuth flow: Step 1 (start), Step 3 (callback), disconnect and log out.
//! Steps 1, 3 and 4 are shared by both providers ([`begin`], [`finish`]); the protocol itself
//! lives in `crate::auth::oauth`.

use crate::connect::{begin, finish, with_cookie, CallbackParams, Failed, Finished, FlowError};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::auth::session::TypedSession;
use crate::auth::tokens::TokenSet;
use crate::errors::AppError;
use crate::provider::Provider;
use crate::routes::guards::MEMORAM_ACCESS_ROUTE;
use crate::routes::{see_other, signed_in};
use crate::state::AppState;
use crate::templates::Templates;
use crate::{memoram, rememberizer};

/// Step 1's route: starts a flow.
pub const START_ROUTE: &str = Provider::Rememberizer.connect_route();
pub use crate::rememberizer::CALLBACK_ROUTE;
pub const DISCONNECT_ROUTE: &str = "/auth/rememberizer/disconnect";

/// `GET /auth/rememberizer` — Step 1: send the browser to Rememberizer's authorize endpoint.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    begin(&req, &state.oauth, &state.flows)
}

/// `GET /auth/rememberizer/callback` — Step 3: Rememberizer sends the browser back here.
pub async fn callback(
    req: HttpRequest,
    params: web::Query<CallbackParams>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let Finished {
        grant,
        cookie: spent_cookie,
        return_to,
    } = match finish(
        &req,
        params.into_inner(),
        &state.spent_states,
        &state.exchange_limit,
        &state.oauth,
        &state.flows,
    )
    .await
    {
        Ok(finished) => finished,
        Err(failed) => {
            return not_connected(Provider::Rememberizer, failed, &session, &state, &templates)
                .await
        }
    };
    let connection = state.tokens.insert(TokenSet::from_grant(grant)).await?;
    if let Some(previous) = session.connection(rememberizer::SESSION_SLOT)? {
        state.end_connection(&previous).await?;
    }
    session.start_connection(rememberizer::SESSION_SLOT, &connection)?;
    // 303 so the code and state leave the address bar (and the history entry is a clean GET):
    // back to the page the person was going to, or to the dashboard.
    let next = return_to.as_deref().unwrap_or("/dashboard");
    Ok(with_cookie(see_other(next), spent_cookie))
}

/// What `declined.html` shows.
#[derive(Serialize)]
struct Declined<'a> {
    name: &'static str,
    holdings: &'static str,
    connect_href: &'static str,
    /// The provider's `error_description`, shown escaped as its words.
    description: Option<&'a str>,
    /// Connected to this provider from before: that connection is kept.
    still_connected: bool,
}

/// A callback that gave no grant, as this app answers it; the flow's cookie goes in every case
/// (the flow is over).
/// - Declined consent (`access_denied`) is the person's choice, not an error: a notice (200,
///   no error number, no request id) that nothing was connected, and the way to connect.
/// - A flow this browser does not have (spent, unknown, expired) while it is connected to this
///   provider already is Back then "Allow" again: no failure to them, so on to the provider's
///   page, saying they are connected.
/// - Anything else is the error page.
pub async fn not_connected(
    provider: Provider,
    failed: Failed,
    session: &TypedSession,
    state: &AppState,
    templates: &Templates,
) -> Result<HttpResponse, AppError> {
    let Failed { error, cookie } = failed;
    let (slot, home) = match provider {
        Provider::Rememberizer => (rememberizer::SESSION_SLOT, "/dashboard"),
        Provider::Memoram => (memoram::SESSION_SLOT, MEMORAM_ACCESS_ROUTE),
    };
    let response = match error {
        FlowError::AuthorizationFailed { error, description } if error == "access_denied" => {
            let mut context = Context::new();
            signed_in(&mut context, session, state).await?;
            context.insert(
                "declined",
                &Declined {
                    name: provider.name(),
                    holdings: provider.holdings(),
                    connect_href: provider.connect_route(),
                    description: description.as_deref(),
                    still_connected: session.connection(slot)?.is_some(),
                },
            );
            templates.page("declined.html", &context)?
        }
        FlowError::InvalidState(_) if session.connection(slot)?.is_some() => {
            session.set_flash(&format!("You're already connected to {}.", provider.name()))?;
            see_other(home)
        }
        error => HttpResponse::from_error(AppError::flow(provider, error)),
    };
    Ok(with_cookie(response, cookie))
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
        if let Some(connection) = session.connection(rememberizer::SESSION_SLOT)? {
            state.end_connection(&connection).await?;
        }
    }
    if provider != Some(Provider::Rememberizer) {
        if let (Some(memoram), Some(id)) =
            (&state.memoram, session.connection(memoram::SESSION_SLOT)?)
        {
            memoram.connections.remove(&id).await?;
        }
    }
    match provider {
        Some(Provider::Rememberizer) => session.disconnect(rememberizer::SESSION_SLOT),
        Some(Provider::Memoram) => session.disconnect(memoram::SESSION_SLOT),
        None => session.log_out(),
    }
    Ok(see_other("/"))
}
