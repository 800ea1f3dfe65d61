//! One module per page or resource; handlers extract, call the domain, and render.

pub mod answer_stream;
pub mod ask;
pub mod assets;
pub mod auth;
pub mod confirm;
pub mod dashboard;
pub mod discussions;
pub mod documents;
pub mod guards;
pub mod health;
pub mod home;
pub mod mementos;
pub mod memoram;
pub mod memories;
pub mod memorize;
pub mod memory_form;

use crate::rememberizer;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::HttpResponse;

/// A day from a date field or link (`YYYY-MM-DD`, UTC); absent or empty is `None`.
pub fn parse_day(
    raw: Option<&str>,
    name: &str,
) -> Result<Option<time::Date>, crate::errors::AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => time::Date::parse(
            raw,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map(Some)
        .map_err(|_| {
            crate::errors::AppError::BadRequest(format!(
                "The “{name}” date must be a day like 2025-03-31."
            ))
        }),
    }
}

/// The integer key at the end of a reader's address (`/documents/42`, `/discussions/42`).
pub fn parse_key(raw: &str, example: &str) -> Result<u64, crate::errors::AppError> {
    raw.parse::<u64>().map_err(|_| {
        crate::errors::AppError::BadRequest(format!(
            "This address must end with a document's number, like {example}."
        ))
    })
}

/// `303 See Other` to a path of this app (used after POSTs and the OAuth callback).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// What the navigation offers: only what can be used now.
#[derive(serde::Serialize)]
pub struct Nav {
    /// Connected to Rememberizer: Documents, Mementos, New note (and Ask).
    pub rememberizer: bool,
    /// Connected to Memoram with an approved access: Memoram memories (and Ask). A connection
    /// still waiting for approval offers none of them: each would only lead to the waiting page.
    pub memoram: bool,
}

impl Nav {
    /// This browser's connections as the stores have them now.
    pub async fn of(
        session: &crate::auth::session::TypedSession,
        state: &crate::state::AppState,
    ) -> Result<Self, crate::errors::AppError> {
        let rememberizer = session.connection(rememberizer::SESSION_SLOT)?.is_some();
        let memoram = match (
            &state.memoram,
            session.connection(crate::memoram::SESSION_SLOT)?,
        ) {
            (Some(memoram), Some(id)) => memoram
                .connections
                .get(&id)
                .await?
                .is_some_and(|connection| connection.credentials.is_some()),
            _ => false,
        };
        Ok(Self {
            rememberizer,
            memoram,
        })
    }
}

/// What every page of a connected browser shows: the CSRF token of its forms (log out,
/// disconnect) and the navigation of what it can use now ([`Nav::of`]).
pub async fn signed_in(
    context: &mut tera::Context,
    session: &crate::auth::session::TypedSession,
    state: &crate::state::AppState,
) -> Result<(), crate::errors::AppError> {
    let nav = Nav::of(session, state).await?;
    chrome(context, &session.csrf_token()?, &nav);
    Ok(())
}

/// Middleware inside the session middleware: an error response to a connected browser carries
/// its pages' navigation ([`signed_in`], as `errors::PageChrome`), so that the error page
/// rendered outside (`errors::render_error_page`, which cannot read the session) keeps the menu
/// and Log out.
pub async fn error_page_chrome(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(request).await?;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let session = crate::auth::session::TypedSession::of(response.request());
        let state = response
            .request()
            .app_data::<actix_web::web::Data<crate::state::AppState>>()
            .cloned();
        if let Some(state) = state.filter(|_| session.is_connected()) {
            let mut context = tera::Context::new();
            // Without it (the session or a store unreadable), the error page is still shown,
            // plain.
            if signed_in(&mut context, &session, &state).await.is_ok() {
                response
                    .response_mut()
                    .extensions_mut()
                    .insert(crate::errors::PageChrome(context));
            }
        }
    }
    Ok(response)
}

/// `signed_in`'s part of the context, given its values (`bench/stages.rs` has no session).
pub fn chrome(context: &mut tera::Context, csrf_token: &str, nav: &Nav) {
    context.insert("csrf_token", csrf_token);
    context.insert("nav", nav);
}
