//! Confirmation pages for the destructive actions (GOV.UK's "confirm" pattern): the button that
//! starts one is a link here, and this page's button is the form that does it, so that nothing is
//! deleted or disconnected by one stray click, and no JavaScript is needed to ask. Each page asks
//! its question in the `<h1>`, says what happens and what is kept, and offers "Cancel" back. The
//! actions themselves stay where they were (`auth::disconnect`, `memories::delete`), each with
//! its CSRF check.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use tera::Context;

use crate::auth::session::TypedSession;
use crate::errors::AppError;
use crate::memoram::within;
use crate::routes::guards::{MemoramMember, MemoramUser, RememberizerUser};
use crate::routes::memories::memory_id;
use crate::routes::memory_form::memory_href;
use crate::routes::{auth, memoram, signed_in};
use crate::state::AppState;
use crate::templates::Templates;

/// What `confirm.html` shows.
#[derive(Serialize)]
struct Confirmation<'a> {
    /// The question, in the `<h1>` and the title.
    question: &'a str,
    /// What is about to be acted on, named under the question (a memory's title).
    subject: Option<String>,
    /// What happens.
    happens: &'a str,
    /// What is kept.
    kept: &'a str,
    /// The destructive button's words.
    button: &'a str,
    /// The POST route that does it.
    action: String,
    /// Where "Cancel" leads.
    cancel: String,
    /// A page under "Memories" in the menu (marked `aria-current="true"` there).
    under_memories: bool,
}

async fn page(
    templates: &Templates,
    state: &AppState,
    session: &TypedSession,
    confirmation: &Confirmation<'_>,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    signed_in(&mut context, session, state).await?;
    context.insert("confirm", confirmation);
    Ok(templates.page("confirm.html", &context)?)
}

/// `GET /auth/rememberizer/disconnect`: "Disconnect Rememberizer?"
pub async fn disconnect_rememberizer(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: RememberizerUser,
) -> Result<HttpResponse, AppError> {
    page(
        &templates,
        &state,
        &user.session,
        &Confirmation {
            question: "Disconnect Rememberizer?",
            subject: None,
            happens: "This app forgets its access to your Rememberizer account: its tokens are \
                      deleted from this server, and your documents and mementos no longer show here.",
            kept: "Your documents and mementos stay in Rememberizer, untouched. You can connect \
                   again at any time and choose what to share.",
            button: "Disconnect Rememberizer",
            action: auth::DISCONNECT_ROUTE.to_owned(),
            cancel: "/".to_owned(),
            under_memories: false,
        },
    )
    .await
}

/// `GET /auth/memoram/disconnect`: "Disconnect Memoram?" A browser not connected to Memoram gets
/// the page offering to connect it, as every page that needs Memoram does; a pending access can
/// be disconnected.
pub async fn disconnect_memoram(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: MemoramUser,
) -> Result<HttpResponse, AppError> {
    page(
        &templates,
        &state,
        &user.session,
        &Confirmation {
            question: "Disconnect Memoram?",
            subject: None,
            happens: "This app forgets its connection to your Memoram memory: its key and access \
                      are deleted from this server, and your memories no longer show here.",
            kept: "Your memories stay in Memoram, untouched. You can connect again at any time; \
                   Memoram will ask you to approve this app again.",
            button: "Disconnect Memoram",
            action: memoram::DISCONNECT_ROUTE.to_owned(),
            cancel: "/".to_owned(),
            under_memories: false,
        },
    )
    .await
}

/// `GET /memories/{id}/delete`: "Delete this memory?", naming it. A memory Memoram does not have
/// is a 404 page, as on the memory's own page.
pub async fn delete_memory(
    path: web::Path<String>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    mut member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    let id = memory_id(path.into_inner())?;
    let memoram = state.memoram()?;
    let blob = within(memoram.client.memory(&member.keys.user_id, &id))
        .await
        .map_err(|e| memoram.failed(&mut member, e))?;
    let href = memory_href(&id);
    page(
        &templates,
        &state,
        &member.session,
        &Confirmation {
            question: "Delete this memory?",
            subject: Some(blob.display_title()),
            happens: "The memory and its content are deleted from Memoram. This cannot be undone.",
            kept: "Your other memories and your tags are kept.",
            button: "Delete memory",
            action: format!("{href}/delete"),
            cancel: href,
            under_memories: true,
        },
    )
    .await
}
