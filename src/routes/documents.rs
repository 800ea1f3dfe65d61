//! `GET /documents/{key}`: a file document's details and its text, read chunk by chunk.
//!
//! `key` is the document's integer `pk` (or, where the API gives no `pk`, its integer `id`). Slack
//! and Discord channels have no chunked text: they are read by `routes::discussions`, and a link
//! here to one of them is sent on there.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::errors::AppError;
use crate::rememberizer::ApiError;
use crate::rememberizer::{Document, DocumentsQuery};
use crate::routes::dashboard::{reader_href, DocumentRow};
use crate::routes::guards::RememberizerUser;
use crate::routes::signed_in;
use crate::routes::{parse_key, see_other};
use crate::state::AppState;
use crate::templates::Templates;

/// Calls to `/contents/` one page view may make (20 chunks each): the rest is behind "Load more".
const MAX_CONTENT_CALLS: usize = 3;
/// Pages of `/documents/` searched for the document's details (the API has no lookup by id).
const MAX_METADATA_PAGES: u32 = 3;
const METADATA_PAGE_SIZE: u32 = 100;

#[derive(Debug, Deserialize)]
pub struct DocumentQuery {
    start_chunk: Option<String>,
}

#[derive(Serialize)]
struct TextPart {
    start_chunk: u32,
    end_chunk: u32,
    more_href: Option<String>,
    finished: bool,
}

pub async fn document(
    path: web::Path<String>,
    query: web::Query<DocumentQuery>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: RememberizerUser,
) -> Result<HttpResponse, AppError> {
    let RememberizerUser {
        connection,
        session,
    } = user;
    let id = parse_key(&path, "/documents/42")?;
    let start = match query.start_chunk.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(raw) => raw.parse::<u32>().map_err(|_| {
            AppError::BadRequest("start_chunk must be a whole number from 0.".to_owned())
        })?,
    };

    let (text, metadata) = tokio::join!(
        read_text(&state, &connection, id, start),
        find_metadata(&state, &connection, id),
    );
    let metadata = metadata?;
    let (content, end, finished) = match (text, &metadata) {
        // A channel has no `/documents/{pk}/contents/` (404): its reader is the channel reader.
        (Err(AppError::Rememberizer(ApiError::NotFound)), Some(doc)) if doc.is_discussion() => {
            return Ok(see_other(&reader_href(doc, id)));
        }
        (text, _) => text?,
    };

    let mut context = Context::new();
    context.insert("id", &id);
    context.insert("document", &metadata.as_ref().map(DocumentRow::from));
    context.insert("content", &content);
    context.insert(
        "part",
        &TextPart {
            start_chunk: start,
            end_chunk: end,
            more_href: (!finished).then(|| format!("/documents/{id}?start_chunk={end}")),
            finished,
        },
    );
    signed_in(&mut context, &session, &state).await?;
    Ok(templates.page("document.html", &context)?)
}

/// Reads from `start` until the text ends or the call budget is spent: (text, end_chunk, done).
async fn read_text(
    state: &AppState,
    connection: &crate::auth::ConnectionId,
    id: u64,
    start: u32,
) -> Result<(String, u32, bool), AppError> {
    let api = &state.api;
    let mut text = String::new();
    let mut position = start;
    for _ in 0..MAX_CONTENT_CALLS {
        let part = state
            .call_api(connection, |token| async move {
                api.contents(&token, id, position).await
            })
            .await?;
        // An empty part, or one that does not move forward, is the end of the document.
        if part.content.is_empty() || part.end_chunk <= position {
            return Ok((text, position, true));
        }
        text.push_str(&part.content);
        position = part.end_chunk;
    }
    Ok((text, position, false))
}

/// The document's details, from the first pages of the document list (matched on its key).
pub async fn find_metadata(
    state: &AppState,
    connection: &crate::auth::ConnectionId,
    id: u64,
) -> Result<Option<Document>, AppError> {
    let api = &state.api;
    for page in 1..=MAX_METADATA_PAGES {
        let query = DocumentsQuery {
            page,
            page_size: METADATA_PAGE_SIZE,
            integration_type: None,
        };
        let query = &query;
        let documents = state
            .call_api(connection, |token| async move {
                api.documents(&token, query).await
            })
            .await?;
        if let Some(found) = documents.results.into_iter().find(|d| d.key() == Some(id)) {
            return Ok(Some(found));
        }
        if documents.next.is_none() {
            break;
        }
    }
    Ok(None)
}
