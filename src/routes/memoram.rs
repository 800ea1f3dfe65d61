//! Connecting Memoram: the user authorizes the app (Steps 1, 3 and 4 shared with Rememberizer,
//! `routes::auth`), the app asks for access with the user's `memory_key`, and a waiting page
//! follows the access request until the user approves it in their Memoram dashboard.

use actix_web::{web, HttpRequest, HttpResponse};
use tera::Context;

use crate::api::ApiError;
use crate::auth::session::TypedSession;
use crate::connect::{begin, finish, with_cookie, CallbackParams};
use crate::errors::AppError;
use crate::memoram;
use crate::memoram::AccessState;
use crate::provider::Provider;
use crate::routes::auth::CsrfForm;
use crate::routes::guards::{MemoramUser, MEMORAM_ACCESS_ROUTE};
use crate::routes::see_other;
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::Templates;

pub const START_ROUTE: &str = Provider::Memoram.connect_route();
pub const CALLBACK_ROUTE: &str = "/auth/memoram/callback";
pub const DISCONNECT_ROUTE: &str = "/auth/memoram/disconnect";
/// The waiting page re-checks by itself (a `<meta http-equiv="refresh">`: no script), first
/// every 5 s, then less and less often, up to once a minute, and stops after
/// `MAX_AUTOMATIC_CHECKS` (about 25 minutes in all): a tab forgotten on it makes about 40 calls
/// to Memoram, not one every 5 s for as long as the session lives.
pub const FIRST_RECHECK_SECONDS: u32 = 5;
pub const MAX_RECHECK_SECONDS: u32 = 60;
pub const MAX_AUTOMATIC_CHECKS: u32 = 40;

/// Seconds before automatic check `n + 1` (`None`: no more automatic checks): 5 s six times,
/// then 10, 20 and 40 s six times each, then 60 s.
pub fn recheck_after(n: u32) -> Option<u32> {
    (n < MAX_AUTOMATIC_CHECKS).then(|| {
        FIRST_RECHECK_SECONDS
            .saturating_mul(1 << (n / 6).min(4))
            .min(MAX_RECHECK_SECONDS)
    })
}

#[derive(serde::Deserialize)]
pub struct WaitQuery {
    /// How many automatic checks this tab made so far.
    check: Option<String>,
}

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
    let (mut grant, spent_cookie) = finish(
        &req,
        params.into_inner(),
        &state.spent_states,
        &state.exchange_limit,
        &memoram.oauth,
        &memoram.flows,
    )
    .await
    .map_err(|error| AppError::flow(Provider::Memoram, error))?;
    // Nothing is connected without it: the connection is made of this key.
    let memory_key = grant
        .take_extra(memoram::MEMORY_KEY)
        .ok_or(AppError::NoMemoryKey)?;
    let (id, requested) = memoram.connect(&memory_key).await?;
    if let Some(previous) = session.connection(memoram::SESSION_SLOT)? {
        memoram.connections.remove(&previous).await?;
    }
    session.start_connection(memoram::SESSION_SLOT, &id)?;
    match requested {
        Ok(()) => {}
        // The app's own credentials are refused: a page that says so, not an invitation to
        // retry (the connection is kept all the same).
        Err(ApiError::Unauthorized) => return Err(AppError::Memoram(ApiError::Unauthorized)),
        Err(error) => {
            tracing::warn!(%error, "the access request failed; the waiting page offers to ask again");
            session
                .set_flash("Memoram did not take the access request just now. Ask again below.")?;
        }
    }
    Ok(with_cookie(see_other(MEMORAM_ACCESS_ROUTE), spent_cookie))
}

/// `GET /memoram/access`: the access request's state. Pending: a page saying where to approve,
/// re-checked by a button and every few seconds. Approved: the credentials are fetched and kept,
/// and the browser goes on to the memories. Rejected or revoked: a way to ask again.
pub async fn access(
    query: web::Query<WaitQuery>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: MemoramUser,
) -> Result<HttpResponse, AppError> {
    // Anything but a small number is a first visit.
    let checks = query
        .check
        .as_deref()
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    let memoram = state.memoram()?;
    let MemoramUser {
        id,
        mut connection,
        session,
    } = user;
    let access = memoram.check_access(&id, &mut connection).await?;
    if access == AccessState::Approved {
        return Ok(see_other("/memories"));
    }
    let mut context = Context::new();
    signed_in(&mut context, &session)?;
    context.insert("flash", &session.take_flash()?);
    context.insert("dashboard_url", memoram.dashboard_url.as_str());
    context.insert("reason", &memoram.reason);
    if let Some(seconds) = recheck_after(checks) {
        context.insert("recheck_seconds", &seconds);
        context.insert(
            "recheck_href",
            &format!("{MEMORAM_ACCESS_ROUTE}?check={}", checks + 1),
        );
    }
    context.insert("status", access.as_str());
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
    memoram.ask_again(&user.id, &user.connection).await?;
    Ok(see_other(MEMORAM_ACCESS_ROUTE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_page_backs_off_from_5_to_60_seconds_then_stops() {
        let schedule: Vec<Option<u32>> = (0..42).map(recheck_after).collect();
        assert_eq!(schedule[0], Some(5));
        assert_eq!(schedule[5], Some(5));
        assert_eq!(schedule[6], Some(10));
        assert_eq!(schedule[12], Some(20));
        assert_eq!(schedule[18], Some(40));
        assert_eq!(schedule[24], Some(60));
        assert_eq!(schedule[39], Some(60));
        assert_eq!(schedule[40], None);
        let total: u32 = schedule.iter().flatten().sum();
        assert!((20 * 60..=30 * 60).contains(&total), "{total} s in all");
        assert_eq!(recheck_after(u32::MAX), None);
    }
}
