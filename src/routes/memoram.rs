//! Connecting Memoram: the user authorizes the app (Steps 1, 3 and 4 shared with Rememberizer,
//! `routes::auth`), the app asks for access with the user's `memory_key`, and a waiting page
//! follows the access request until the user approves it in their Memoram dashboard.

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use tera::Context;

use crate::api::ApiError;
use crate::auth::session::TypedSession;
use crate::auth::ConnectionId;
use crate::connect::{begin, finish, with_cookie, CallbackParams, Finished};
use crate::errors::AppError;
use crate::memoram;
use crate::memoram::connections::MemoramConnection;
use crate::memoram::AccessState;
use crate::provider::Provider;
use crate::routes::auth::{not_connected, CsrfForm};
use crate::routes::guards::{MemoramUser, MEMORAM_ACCESS_ROUTE};
use crate::routes::see_other;
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::Templates;

pub const START_ROUTE: &str = Provider::Memoram.connect_route();
pub use crate::memoram::CALLBACK_ROUTE;
pub const DISCONNECT_ROUTE: &str = "/auth/memoram/disconnect";
/// The waiting page watches a pending access request while it is open, without reloading:
/// Memoram is asked again after these pauses (5 s six times, then 10 s six times, then 20 s),
/// within `AppState::memoram_watch` in all.
pub fn pause_before(check: u32) -> std::time::Duration {
    std::time::Duration::from_secs(match check {
        0..6 => 5,
        6..12 => 10,
        _ => 20,
    })
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
    templates: web::Data<Templates>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let memoram = state.memoram()?;
    let Finished {
        mut grant,
        cookie: spent_cookie,
        return_to,
    } = match finish(
        &req,
        params.into_inner(),
        &state.spent_states,
        &state.exchange_limit,
        &memoram.oauth,
        &memoram.flows,
    )
    .await
    {
        Ok(finished) => finished,
        Err(failed) => {
            return not_connected(Provider::Memoram, failed, &session, &state, &templates).await
        }
    };
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
    // The waiting page keeps where the person was going, for once the access is approved.
    let next = match return_to.filter(|path| !path.starts_with(MEMORAM_ACCESS_ROUTE)) {
        Some(path) => format!("{MEMORAM_ACCESS_ROUTE}?return_to={}", encode(&path)),
        None => MEMORAM_ACCESS_ROUTE.to_owned(),
    };
    Ok(with_cookie(see_other(&next), spent_cookie))
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The waiting page's query: where to go once the access is approved.
#[derive(serde::Deserialize)]
pub struct AccessQuery {
    return_to: Option<String>,
}

/// `GET /memoram/access`: the access request's state. Pending: a page saying where to approve,
/// with "I approved it — check now", sent at once; then, while the tab is open, the page keeps
/// watching the request (`watch`) and ends with a link on once Memoram says yes. Approved: the
/// credentials are fetched and kept, and the browser goes on to the memories. Rejected or
/// revoked: a way to ask again.
pub async fn access(
    query: web::Query<AccessQuery>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: MemoramUser,
) -> Result<HttpResponse, AppError> {
    // Only a path of this app (`connect::return_path`), else the memories.
    let return_to = query
        .return_to
        .as_deref()
        .and_then(crate::connect::return_path);
    let next = return_to.as_deref().unwrap_or("/memories").to_owned();
    let memoram = state.memoram()?;
    let MemoramUser {
        id,
        mut connection,
        session,
    } = user;
    let access = memoram.check_access(&id, &mut connection).await?;
    if access == AccessState::Approved {
        return Ok(see_other(&next));
    }
    let mut context = Context::new();
    signed_in(&mut context, &session, &state).await?;
    context.insert(
        "check_href",
        &match &return_to {
            Some(path) => format!("{MEMORAM_ACCESS_ROUTE}?return_to={}", encode(path)),
            None => MEMORAM_ACCESS_ROUTE.to_owned(),
        },
    );
    context.insert("flash", &session.take_flash()?);
    context.insert("dashboard_url", memoram.dashboard_url.as_str());
    context.insert("reason", &memoram.reason);
    context.insert("status", access.as_str());
    if access != AccessState::Pending {
        return Ok(templates.page("memoram_access.html", &context)?);
    }
    let page = templates.render("memoram_access.html", &context)?;
    let (head, tail) = page
        .split_once(WATCH_MARK)
        .ok_or(AppError::Internal("the waiting page lost its mark"))?;
    let watch = Watch {
        head: Some(head.to_owned()),
        tail: Some(tail.to_owned()),
        state: state.clone(),
        templates: templates.into_inner(),
        id,
        connection,
        next,
        deadline: tokio::time::Instant::now() + state.memoram_watch,
        checks: 0,
        watching: true,
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .streaming(futures_util::stream::unfold(watch, Watch::next)))
}

/// Where the waiting page's outcome goes in `memoram_access.html`.
pub const WATCH_MARK: &str = "<!--watch-->";

/// The waiting page, sent in parts: the page up to [`WATCH_MARK`] at once, then a check of the
/// access request after each pause (a newline each time: proxies see a live answer), then one
/// note (approved, changed, could not check, or stopped watching) and the rest of the page. A
/// closed tab drops the stream, and the checks with it.
struct Watch {
    head: Option<String>,
    tail: Option<String>,
    state: web::Data<AppState>,
    templates: std::sync::Arc<Templates>,
    id: ConnectionId,
    connection: MemoramConnection,
    /// Where the note sends the person once the access is approved.
    next: String,
    deadline: tokio::time::Instant,
    checks: u32,
    watching: bool,
}

impl Watch {
    async fn next(mut self) -> Option<(Result<Bytes, std::convert::Infallible>, Self)> {
        if let Some(head) = self.head.take() {
            return Some((Ok(Bytes::from(head)), self));
        }
        if self.watching {
            let outcome = self.check().await;
            if let Some(outcome) = outcome {
                self.watching = false;
                let mut context = Context::new();
                context.insert("outcome", outcome);
                context.insert("next", &self.next);
                let note = self
                    .templates
                    .render("memoram_watch_note.html", &context)
                    .unwrap_or_else(|error| {
                        tracing::error!(%error, "the waiting page's note did not render");
                        String::new()
                    });
                return Some((Ok(Bytes::from(note)), self));
            }
            return Some((Ok(Bytes::from_static(b"\n")), self));
        }
        let tail = self.tail.take()?;
        Some((Ok(Bytes::from(tail)), self))
    }

    /// One check after its pause; `Some` ends the watch with that outcome.
    async fn check(&mut self) -> Option<&'static str> {
        let pause = pause_before(self.checks);
        if tokio::time::Instant::now() + pause > self.deadline {
            return Some("stopped");
        }
        tokio::time::sleep(pause).await;
        self.checks += 1;
        let memoram = self.state.memoram.as_ref()?;
        match memoram.check_access(&self.id, &mut self.connection).await {
            Ok(AccessState::Pending) => None,
            Ok(AccessState::Approved) => Some("approved"),
            Ok(_) => Some("changed"),
            Err(error) => {
                tracing::warn!(%error, "the waiting page could not check the access request");
                Some("failed")
            }
        }
    }
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
    fn the_waiting_page_checks_every_5_then_10_then_20_seconds() {
        let secs = |n| pause_before(n).as_secs();
        assert_eq!((secs(0), secs(5)), (5, 5));
        assert_eq!((secs(6), secs(11)), (10, 10));
        assert_eq!((secs(12), secs(u32::MAX)), (20, 20));
        // Five minutes hold 22 checks: 6 × 5 s, 6 × 10 s, 10 × 20 s (290 s).
        let checks = (0..)
            .scan(0, |total, n| {
                *total += secs(n);
                (*total <= 300).then_some(())
            })
            .count();
        assert_eq!(checks, 22);
    }
}
