//! `GET /memorize` and `POST /memorize`: store a note in the user's Rememberizer knowledge.
//! CSRF-protected, size-limited, and POST → redirect → GET so a reload never stores it twice.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use tera::Context;

use crate::api::ApiError;
use crate::auth::session::TypedSession;
use crate::errors::AppError;
use crate::routes::guards::RememberizerUser;
use crate::routes::see_other;
use crate::routes::{chrome, Nav};
use crate::state::AppState;
use crate::templates::{FormErrors, Templates};

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_CONTENT_CHARS: usize = 20_000;
/// The form body a note of the largest size can need: every character may take 4 bytes of UTF-8,
/// each sent as `%XX` (3 bytes), plus room for the field names and the CSRF token. 20 000
/// characters of CJK text are 180 000 bytes encoded; a 64 KiB cap refused them.
pub const MAX_FORM_BYTES: usize = (MAX_NAME_CHARS + MAX_CONTENT_CHARS) * 12 + 1024;

#[derive(Debug, Deserialize)]
pub struct MemorizeForm {
    csrf_token: Option<String>,
    name: Option<String>,
    content: Option<String>,
}

pub async fn form(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: RememberizerUser,
) -> Result<HttpResponse, AppError> {
    let session = user.session;
    let nav = Nav::of(&session, &state).await?;
    let mut context = page_context(&session, &nav)?;
    if let Some(saved) = session.take_flash()? {
        context.insert("saved", &saved);
    }
    Ok(templates.page("memorize.html", &context)?)
}

pub async fn memorize(
    form: web::Form<MemorizeForm>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    session: TypedSession,
    user: Result<RememberizerUser, AppError>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let name = form.name.unwrap_or_default().trim().to_owned();
    let content = form.content.unwrap_or_default().trim().to_owned();
    // Whatever goes wrong from here on, the form comes back with what was typed in it (with the
    // menu as far as it can be told: a store failure does not lose the note).
    let nav = Nav::of(&session, &state).await.unwrap_or(Nav {
        rememberizer: user.is_ok(),
        memoram: false,
    });
    let again_with = |status: StatusCode,
                      errors: FormErrors,
                      check: Option<&str>|
     -> Result<HttpResponse, AppError> {
        let mut context = page_context(&session, &nav)?;
        errors.insert_into(&mut context);
        context.insert("check_href", &check);
        context.insert("name", &name);
        context.insert("content", &content);
        let mut response = templates.page("memorize.html", &context)?;
        *response.status_mut() = status;
        Ok(response)
    };
    let again =
        |status, problem: String| again_with(status, FormErrors::default().form(problem), None);
    let connection = match user {
        Ok(user) => user.connection,
        // Disconnected (or logged out) in another tab before this arrived.
        Err(AppError::NotConnected { .. }) => {
            return again(
                StatusCode::FORBIDDEN,
                "Your connection to Rememberizer ended (perhaps in another tab), so nothing was stored. Your note is below: copy it, connect again, then save it."
                    .to_owned(),
            )
        }
        Err(error) => {
            let (status, problem) = error.for_form("Your note");
            return again(status, problem);
        }
    };
    if !session.csrf_token_matches(form.csrf_token.as_deref().unwrap_or_default())? {
        return again(
            StatusCode::FORBIDDEN,
            "This form had expired, so nothing was stored. Your note is below: press Save note again."
                .to_owned(),
        );
    }
    // Every field at fault, in the form's order.
    let mut errors = FormErrors::default();
    if name.is_empty() {
        errors = errors.field("name", "Give the note a name.");
    } else if name.chars().count() > MAX_NAME_CHARS {
        errors = errors.field(
            "name",
            format!("The name can be up to {MAX_NAME_CHARS} characters long."),
        );
    }
    if content.is_empty() {
        errors = errors.field("content", "Write the note: it has no content.");
    } else if content.chars().count() > MAX_CONTENT_CHARS {
        errors = errors.field(
            "content",
            format!("The note can be up to {MAX_CONTENT_CHARS} characters long."),
        );
    }
    if !errors.is_empty() {
        return again_with(StatusCode::BAD_REQUEST, errors, None);
    }

    let api = &state.api;
    let (name_ref, content_ref) = (name.as_str(), content.as_str());
    let stored = state
        .call_api(&connection, |token| async move {
            api.memorize(&token, name_ref, content_ref).await
        })
        .await;
    if let Err(error) = stored {
        tracing::warn!(%error, "memorize failed; the form is shown again");
        if matches!(error, AppError::Rememberizer(ApiError::Timeout)) {
            // Sent, and no answer: it may have been stored. Saving again could store it twice.
            return again_with(
                StatusCode::GATEWAY_TIMEOUT,
                FormErrors::default().form("Rememberizer did not answer in time, so this app cannot tell whether your note was stored. Look before you save it again: saving twice would store it twice. What you typed is below."),
                Some("/dashboard"),
            );
        }
        let (status, problem) = error.for_form("Your note");
        return again(status, problem);
    }
    session.set_flash(&name)?;
    Ok(see_other("/memorize"))
}

fn page_context(session: &TypedSession, nav: &Nav) -> Result<Context, AppError> {
    let mut context = Context::new();
    chrome(&mut context, &session.csrf_token()?, nav);
    FormErrors::default().insert_into(&mut context);
    context.insert("max_name", &MAX_NAME_CHARS);
    context.insert("max_content", &MAX_CONTENT_CHARS);
    Ok(context)
}
