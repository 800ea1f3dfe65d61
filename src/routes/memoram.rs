//! Connecting Memoram: the user authorizes the app (Steps 1, 3 and 4 shared with Rememberizer,
//! `routes::auth`), the app asks for access with the user's `memory_key`, and a waiting page
//! follows the access request until the user approves it in their Memoram dashboard.

use actix_web::{web, HttpRequest, HttpResponse};
use tera::Context;

use crate::api::{ApiError, Provider};
use crate::auth::session::TypedSession;
use crate::auth::tokens::TokenError;
use crate::errors::AppError;
use crate::memoram::connections::MemoramConnection;
use crate::memoram::AccessStatus;
use crate::routes::auth::{begin, finish, with_cookie, CallbackParams, CsrfForm};
use crate::routes::guards::{MemoramUser, MEMORAM_ACCESS_ROUTE};
use crate::routes::see_other;
use crate::routes::signed_in;
use crate::state::{memoram_call, AppState};
use crate::templates::Templates;

pub const START_ROUTE: &str = "/auth/memoram";
pub const CALLBACK_ROUTE: &str = "/auth/memoram/callback";
pub const DISCONNECT_ROUTE: &str = "/auth/memoram/disconnect";
/// The waiting page re-checks by itself this often (a `<meta http-equiv="refresh">`: no script).
pub const RECHECK_SECONDS: u32 = 5;

/// `GET /auth/memoram`: Step 1, to Memoram's authorize page.
pub async fn start(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    let memoram = state.memoram()?;
    Ok(begin(&req, &memoram.oauth, &memoram.flows))
}

/// `GET /auth/memoram/callback`: Steps 3 and 4 (the token response carries the user's
/// `memory_key`), then the access request (Quickstart step 6), then the waiting page.
pub async fn callback(
    req: HttpRequest,
    params: web::Query<CallbackParams>,
    state: web::Data<AppState>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let memoram = state.memoram()?;
    let (grant, spent_cookie) = finish(
        &req,
        params.into_inner(),
        &state.spent_states,
        &memoram.oauth,
        &memoram.flows,
        Provider::Memoram,
    )
    .await?;
    let memory_key = grant
        .memory_key
        .ok_or(AppError::Memoram(ApiError::BadResponse(
            "the token response carried no memory_key".to_owned(),
        )))?;
    // Kept first, so that a failed access request (the exchange used much of the page's time)
    // does not cost the user their consent: the waiting page offers to ask again.
    let mut connection = MemoramConnection::new(&memory_key);
    let id = memoram
        .connections
        .insert(&connection)
        .await
        .map_err(TokenError::from)?;
    if let Some(previous) = session.memoram_connection()? {
        memoram
            .connections
            .remove(&previous)
            .await
            .map_err(TokenError::from)?;
    }
    session.start_memoram_connection(&id)?;
    let requested = memoram_call(
        memoram
            .client
            .create_access_request(&memory_key, &memoram.reason),
    )
    .await;
    match requested {
        Ok(request) => {
            connection.request_id = Some(request.id);
            memoram
                .connections
                .put(&id, &connection)
                .await
                .map_err(TokenError::from)?;
        }
        // The app's own credentials are refused: a page that says so, not an invitation to
        // retry (the connection is kept all the same).
        Err(error @ AppError::Memoram(ApiError::Unauthorized)) => return Err(error),
        Err(error) => {
            tracing::warn!(%error, "the access request failed; the waiting page offers to ask again");
            session
                .set_flash("Memoram did not take the access request just now. Ask again below.")?;
        }
    }
    with_cookie(see_other(MEMORAM_ACCESS_ROUTE), spent_cookie)
}

/// `GET /memoram/access`: the access request's state. Pending: a page saying where to approve,
/// re-checked by a button and every few seconds. Approved: the credentials are fetched and kept,
/// and the browser goes on to the memories. Rejected or revoked: a way to ask again.
pub async fn access(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: MemoramUser,
) -> Result<HttpResponse, AppError> {
    let memoram = state.memoram()?;
    let MemoramUser {
        id,
        mut connection,
        session,
    } = user;
    let status = match connection.request_id.clone() {
        None => None,
        Some(request_id) => {
            match memoram_call(memoram.client.access_request(&request_id)).await {
                Ok(request) => Some((request_id, request.status)),
                // Gone at Memoram: ask again.
                Err(AppError::Memoram(ApiError::NotFound)) => None,
                Err(other) => return Err(other),
            }
        }
    };
    if let Some((request_id, AccessStatus::Approved)) = &status {
        match memoram_call(memoram.client.credentials(request_id)).await {
            Ok(credentials) => {
                connection.set_credentials(credentials);
                memoram
                    .connections
                    .put(&id, &connection)
                    .await
                    .map_err(TokenError::from)?;
                return Ok(see_other("/memories"));
            }
            // Approved, yet the keys are refused (revoked between the two calls, or not yet
            // released): the page waits and checks again.
            Err(AppError::Memoram(ApiError::Refused(status))) if status.as_u16() == 403 => {}
            Err(other) => return Err(other),
        }
    }
    // Not (or no longer) approved: whatever credentials were kept are of no use now.
    if connection.credentials.is_some() {
        connection.credentials = None;
        memoram
            .connections
            .put(&id, &connection)
            .await
            .map_err(TokenError::from)?;
    }
    let mut context = Context::new();
    signed_in(&mut context, &session)?;
    context.insert("flash", &session.take_flash()?);
    context.insert("dashboard_url", memoram.dashboard_url.as_str());
    context.insert("reason", &memoram.reason);
    context.insert("recheck_seconds", &RECHECK_SECONDS);
    context.insert(
        "status",
        match status.map(|(_, status)| status) {
            None => "none",
            Some(AccessStatus::Pending | AccessStatus::Approved) => "pending",
            Some(AccessStatus::Rejected) => "rejected",
            Some(AccessStatus::Revoked) => "revoked",
            Some(AccessStatus::Unknown) => "unknown",
        },
    );
    Ok(templates.page("memoram_access.html", &context)?)
}

/// `POST /memoram/access`: a new access request (after a rejection or a revocation).
pub async fn ask_again(
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    user: MemoramUser,
) -> Result<HttpResponse, AppError> {
    form.check(&user.session)?;
    let memoram = state.memoram()?;
    let mut connection = user.connection;
    let request = memoram_call(
        memoram
            .client
            .create_access_request(&connection.memory_key(), &memoram.reason),
    )
    .await?;
    connection.request_id = Some(request.id);
    connection.credentials = None;
    memoram
        .connections
        .put(&user.id, &connection)
        .await
        .map_err(TokenError::from)?;
    Ok(see_other(MEMORAM_ACCESS_ROUTE))
}
