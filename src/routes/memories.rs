//! Memoram memories: the list (tag filter, text search, minimum importance, cursor pages), one
//! memory (its content decrypted), create, edit and delete (CSRF, POST → redirect → GET), and
//! the tags. Every page takes a [`MemoramMember`]: an approved access request's credentials.
//! Memoram's rules (a rotated key, a revoked access) are `memoram::Member`'s; a revoked access
//! sends the browser to the waiting page, which says so.

use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::api::ApiError;
use crate::auth::session::TypedSession;
use crate::errors::AppError;
use crate::memoram::{within, BlobQuery, MemberError, Memoram, MemoryBlob, Opened};
use crate::routes::auth::CsrfForm;
use crate::routes::dashboard::display_date;
use crate::routes::guards::MemoramMember;
use crate::routes::memory_form::{
    check, failed_save, form_page, memory_href, parse_unit, without_member, MemoryForm,
};
use crate::routes::see_other;
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::Templates;

/// Memories per page.
pub const PAGE_SIZE: u32 = 10;
/// Pages remembered for "Back" (their cursors travel in the address).
const MAX_TRAIL: usize = 50;
const MAX_SEARCH_CHARS: usize = 200;
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    tag: Option<String>,
    q: Option<String>,
    importance: Option<String>,
    cursor: Option<String>,
    /// The cursors of the pages before this one (for "Back"), see [`encode_trail`].
    trail: Option<String>,
}

#[derive(Serialize)]
struct Row {
    /// `/memories/{id}`, the id percent-encoded.
    href: String,
    title: String,
    summary: Option<String>,
    tags: Vec<String>,
    importance: Option<String>,
    updated: Option<String>,
}

/// `GET /memories`.
pub async fn list(
    query: web::Query<ListQuery>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    mut member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    let memoram = state.memoram()?;
    let query = query.into_inner();
    let tag = clean(query.tag.as_deref());
    let search = clean(query.q.as_deref());
    if search
        .as_ref()
        .is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS)
    {
        return Err(AppError::BadRequest(format!(
            "A search can be up to {MAX_SEARCH_CHARS} characters long."
        )));
    }
    let min_importance = parse_unit(query.importance.as_deref(), "minimum importance")?;
    let cursor = clean(query.cursor.as_deref());
    let trail = decode_trail(query.trail.as_deref());
    let blob_query = BlobQuery {
        tags: tag.iter().cloned().collect(),
        search: search.clone(),
        min_importance,
        limit: PAGE_SIZE,
        cursor: cursor.clone(),
    };
    let page = within(memoram.client.memories(&member.keys.user_id, &blob_query))
        .await
        .map_err(|e| match e {
            // A cursor Memoram no longer takes: start over rather than fail.
            ApiError::Refused(status) if status.as_u16() == 400 && cursor.is_some() => {
                AppError::BadRequest("This page of memories is no longer available. Start again from the first page.".to_owned())
            }
            other => memoram.failed(&mut member, other).into(),
        })?;
    let rows: Vec<Row> = page.memory_blobs.iter().map(row).collect();

    // Links keep the filters; "Next" adds this page's cursor to the trail, "Back" drops one.
    let filters = {
        let mut pairs = Vec::new();
        if let Some(tag) = &tag {
            pairs.push(("tag", tag.clone()));
        }
        if let Some(search) = &search {
            pairs.push(("q", search.clone()));
        }
        if let Some(importance) = min_importance {
            pairs.push(("importance", importance.to_string()));
        }
        pairs
    };
    let link = |cursor: Option<&String>, trail: &[String]| {
        let mut pairs = filters.clone();
        if let Some(cursor) = cursor {
            pairs.push(("cursor", cursor.clone()));
        }
        if !trail.is_empty() {
            pairs.push(("trail", encode_trail(trail)));
        }
        if pairs.is_empty() {
            return "/memories".to_owned();
        }
        let mut url = url::form_urlencoded::Serializer::new(String::new());
        url.extend_pairs(pairs);
        format!("/memories?{}", url.finish())
    };
    let next = page
        .next_cursor
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|next| {
            let mut trail = trail.clone();
            trail.push(cursor.clone().unwrap_or_default());
            link(Some(next), &trail)
        });
    let back = cursor.as_ref().map(|_| {
        let mut trail = trail.clone();
        let previous = trail.pop().filter(|c| !c.is_empty());
        link(previous.as_ref(), &trail)
    });

    let mut context = Context::new();
    signed_in(&mut context, &member.session, &state).await?;
    if let Some(flash) = member.session.take_flash()? {
        context.insert("flash", &flash);
    }
    context.insert("memories", &rows);
    context.insert("tag", &tag);
    context.insert("q", &search);
    // As a string, as the person typed it (`1`, not Tera's `1.0` for a whole `f64`).
    context.insert("importance", &min_importance.map(|i| i.to_string()));
    context.insert("next", &next);
    context.insert("back", &back);
    context.insert(
        "page_number",
        &(trail.len() + usize::from(cursor.is_some()) + 1),
    );
    Ok(templates.page("memories.html", &context)?)
}

/// The cursors of the pages before this one, as they travel in the address: each base64url
/// (Memoram's cursors are opaque: they may hold any character), joined with `.`; the newest
/// `MAX_TRAIL` only (older pages are reached from the first).
fn encode_trail(trail: &[String]) -> String {
    let start = trail.len().saturating_sub(MAX_TRAIL);
    trail[start..]
        .iter()
        .map(|cursor| URL_SAFE_NO_PAD.encode(cursor))
        .collect::<Vec<_>>()
        .join(".")
}

/// The trail of an address; what does not decode is dropped (the page still works, Back may
/// lead to the first page).
fn decode_trail(raw: Option<&str>) -> Vec<String> {
    let trail: Vec<String> = match raw {
        None | Some("") => Vec::new(),
        // An empty part is the first page's (empty) cursor.
        Some(raw) => raw
            .split('.')
            .filter_map(|part| String::from_utf8(URL_SAFE_NO_PAD.decode(part).ok()?).ok())
            .collect(),
    };
    let start = trail.len().saturating_sub(MAX_TRAIL);
    trail[start..].to_vec()
}

fn row(blob: &MemoryBlob) -> Row {
    Row {
        href: memory_href(&blob.id),
        title: blob.display_title(),
        summary: blob.summary.clone().filter(|s| !s.trim().is_empty()),
        tags: blob.tags.clone(),
        importance: blob.importance.map(|i| format!("{i:.2}")),
        updated: blob
            .updated_at
            .as_deref()
            .or(blob.created_at.as_deref())
            .map(|date| display_date(date).into_owned()),
    }
}

/// `GET /memories/{id}`.
pub async fn show(
    path: web::Path<String>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    mut member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    let id = memory_id(path.into_inner())?;
    let (blob, opened) = fetch(state.memoram()?, &mut member, &id).await?;
    let mut context = Context::new();
    signed_in(&mut context, &member.session, &state).await?;
    context.insert("flash", &member.session.take_flash()?);
    context.insert("memory", &memory_view(&blob));
    context.insert("content", &opened);
    Ok(templates.page("memory.html", &context)?)
}

#[derive(Serialize)]
struct MemoryView {
    href: String,
    title: String,
    summary: Option<String>,
    tags: Vec<String>,
    /// `1`, `0.5`: Rust's shortest form (Tera would print a whole `f64` as `1.0`).
    importance: Option<String>,
    confidence: Option<String>,
    source: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn memory_view(blob: &MemoryBlob) -> MemoryView {
    MemoryView {
        href: memory_href(&blob.id),
        title: blob.display_title(),
        summary: blob.summary.clone().filter(|s| !s.trim().is_empty()),
        tags: blob.tags.clone(),
        importance: blob.importance.map(|i| i.to_string()),
        confidence: blob.confidence.map(|c| c.to_string()),
        source: blob.source.clone().filter(|s| !s.trim().is_empty()),
        created_at: blob
            .created_at
            .as_deref()
            .map(|d| display_date(d).into_owned()),
        updated_at: blob
            .updated_at
            .as_deref()
            .map(|d| display_date(d).into_owned()),
    }
}

fn clean(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// `GET /memories/new`.
pub async fn new_form(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    form_page(
        &state,
        &templates,
        &member.session,
        None,
        &MemoryForm::default(),
        None,
    )
    .await
}

/// `POST /memories`: seals the content with the user's key and creates the memory.
pub async fn create(
    form: web::Form<MemoryForm>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    session: TypedSession,
    member: Result<MemoramMember, AppError>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    match member {
        Ok(member) => save(&state, &templates, member, None, form).await,
        // The connection was lost before the handler ran: what was typed comes back.
        Err(error) => without_member(&state, &templates, &session, None, &form, error).await,
    }
}

/// Create (`editing` is `None`) or update: the form checked, the content sealed, the memory
/// saved, then `303` to its page; or the form again, with what was typed and why it failed.
async fn save(
    state: &AppState,
    templates: &Templates,
    mut member: MemoramMember,
    editing: Option<&str>,
    form: MemoryForm,
) -> Result<HttpResponse, AppError> {
    let memoram = state.memoram()?;
    let draft = match check(&form, &member) {
        Ok(draft) => draft,
        Err(problem) => {
            return form_page(
                state,
                templates,
                &member.session,
                editing,
                &form,
                Some(problem),
            )
            .await
        }
    };
    // Sealed with the current key: a key rotated since the credentials were kept would make the
    // memory unreadable once the new key is in use.
    if let Err(error) = memoram.check_keys(&mut member).await {
        return failed_save(state, templates, &member.session, editing, &form, error).await;
    }
    let memory_key = member.connection.memory_key();
    let client = &memoram.client;
    let saved = match editing {
        None => within(client.create_memory(&member.keys, &memory_key, &draft)).await,
        Some(id) => within(client.update_memory(&member.keys, &memory_key, id, &draft)).await,
    };
    match saved {
        Ok(blob) => {
            let id = editing.unwrap_or(&blob.id);
            member.session.set_flash(match editing {
                None => "Memory saved.",
                Some(_) => "Changes saved.",
            })?;
            Ok(see_other(&memory_href(id)))
        }
        Err(error) => {
            let error = memoram.failed(&mut member, error);
            failed_save(state, templates, &member.session, editing, &form, error).await
        }
    }
}

/// `GET /memories/{id}` and its edit form: the memory and its opened content.
async fn fetch(
    memoram: &Memoram,
    member: &mut MemoramMember,
    id: &str,
) -> Result<(MemoryBlob, Opened), MemberError> {
    let blob = within(memoram.client.memory(&member.keys.user_id, id))
        .await
        .map_err(|e| memoram.failed(member, e))?;
    let opened = memoram.open(member, blob.content.as_deref()).await?;
    Ok((blob, opened))
}

/// `GET /memories/{id}/edit`: the form, filled with the memory (its content decrypted).
pub async fn edit_form(
    path: web::Path<String>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    mut member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    let id = memory_id(path.into_inner())?;
    let (blob, opened) = fetch(state.memoram()?, &mut member, &id).await?;
    let Some(content) = opened.text else {
        // Saving would replace content the app cannot read with an empty one.
        return Err(AppError::BadRequest(format!(
            "This memory cannot be decrypted with this key (key_version {}), so it cannot be edited here.",
            opened.key_version
        )));
    };
    let form = MemoryForm::filled(blob, content);
    form_page(&state, &templates, &member.session, Some(&id), &form, None).await
}

/// `POST /memories/{id}`: the edit; `tags` replaces the memory's tags.
pub async fn update(
    path: web::Path<String>,
    form: web::Form<MemoryForm>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    session: TypedSession,
    member: Result<MemoramMember, AppError>,
) -> Result<HttpResponse, AppError> {
    let id = memory_id(path.into_inner())?;
    let form = form.into_inner();
    match member {
        Ok(member) => save(&state, &templates, member, Some(&id), form).await,
        Err(error) => without_member(&state, &templates, &session, Some(&id), &form, error).await,
    }
}

/// `POST /memories/{id}/delete`.
pub async fn delete(
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    mut member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    form.check(&member.session)?;
    let memoram = state.memoram()?;
    let id = memory_id(path.into_inner())?;
    within(memoram.client.delete_memory(&member.keys.user_id, &id))
        .await
        .map_err(|e| memoram.failed(&mut member, e))?;
    member.session.set_flash("Memory deleted.")?;
    Ok(see_other("/memories"))
}

#[derive(Serialize)]
struct TagView {
    name: String,
    description: Option<String>,
    color: Option<String>,
    href: String,
}

/// `GET /memories/tags`.
pub async fn tags(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    mut member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    let memoram = state.memoram()?;
    let tags = within(memoram.client.tags(&member.keys.user_id))
        .await
        .map_err(|e| memoram.failed(&mut member, e))?;
    let views: Vec<TagView> = tags
        .into_iter()
        .filter(|tag| tag.is_enabled != Some(false))
        .map(|tag| TagView {
            href: format!(
                "/memories?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("tag", &tag.name)
                    .finish()
            ),
            // Only a `#rrggbb` colour reaches the page (as a swatch's text), nothing else.
            color: tag.color.filter(|c| is_hex_colour(c)),
            description: tag.description.filter(|d| !d.trim().is_empty()),
            name: tag.name,
        })
        .collect();
    let mut context = Context::new();
    signed_in(&mut context, &member.session, &state).await?;
    context.insert("tags", &views);
    Ok(templates.page("memory_tags.html", &context)?)
}

fn is_hex_colour(value: &str) -> bool {
    value.len() == 7 && value.starts_with('#') && value[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// A memory id from an address. Memoram's ids are like `mem_123456789`; anything else (empty,
/// `.` or `..`, which a URL would resolve away into another endpoint, spaces, slashes) is not a
/// memory of this user: 404, and Memoram is not asked.
pub fn memory_id(raw: String) -> Result<String, AppError> {
    let plausible = (1..=128).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if plausible {
        Ok(raw)
    } else {
        Err(AppError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn importance_is_a_number_from_zero_to_one() {
        assert_eq!(parse_unit(Some("0.5"), "x").ok(), Some(Some(0.5)));
        assert_eq!(parse_unit(Some(" "), "x").ok(), Some(None));
        for bad in ["1.5", "-0.1", "NaN", "high", "inf"] {
            assert!(parse_unit(Some(bad), "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_ids_that_could_change_the_endpoint_are_refused() {
        for id in [
            "mem_123",
            "cm8r8ny2i001mm24853tqfd62",
            "3c90c3cc-0d44-4b50-8888-8dd25736052a",
        ] {
            assert!(memory_id(id.to_owned()).is_ok(), "{id}");
        }
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "a%2Fb",
            "x\ty",
            &"a".repeat(129),
        ] {
            assert!(memory_id(id.to_owned()).is_err(), "{id:?}");
        }
    }

    #[test]
    fn the_back_trail_round_trips_any_cursor_and_keeps_the_newest() {
        let cursors = vec!["", "a b", "x.y/z+=", "é"]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        assert_eq!(decode_trail(Some(&encode_trail(&cursors))), cursors);
        let long: Vec<String> = (0..MAX_TRAIL + 5).map(|i| format!("c{i}")).collect();
        let kept = decode_trail(Some(&encode_trail(&long)));
        assert_eq!(kept.len(), MAX_TRAIL);
        assert_eq!(kept.last(), long.last());
        assert!(decode_trail(Some("!!!.%%%")).is_empty());
        assert!(decode_trail(None).is_empty());
    }

    #[test]
    fn only_hex_colours_are_kept() {
        assert!(is_hex_colour("#FF5733"));
        assert!(!is_hex_colour("red"));
        assert!(!is_hex_colour("#FF5733;background:url(x)"));
    }
}
