//! Memoram memories: the list (tag filter, text search, minimum importance, cursor pages), one
//! memory (its content decrypted), create, edit and delete (CSRF, POST → redirect → GET), and
//! the tags. Every page takes a [`MemoramMember`]: an approved access request's credentials.
//!
//! Two things a real deployment meets, handled here:
//! - access revoked after approval: Memoram answers 403; the credentials are forgotten and the
//!   browser goes to the waiting page, which says so;
//! - a rotated key (`key_version` changed): content that does not open with the kept key makes
//!   the page fetch the credentials again, once, and try the new key. Content that still does not
//!   open is shown as such, never as ciphertext.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::api::ApiError;
use crate::auth::tokens::TokenError;
use crate::errors::AppError;
use crate::memoram::cipher::CipherError;
use crate::memoram::{BlobQuery, MemoryBlob, MemoryDraft};
use crate::routes::auth::CsrfForm;
use crate::routes::dashboard::display_date;
use crate::routes::guards::{MemoramMember, MEMORAM_ACCESS_ROUTE};
use crate::routes::see_other;
use crate::routes::signed_in;
use crate::state::{memoram_call, AppState, MemoramState};
use crate::templates::Templates;

/// Memories per page.
pub const PAGE_SIZE: u32 = 10;
/// Pages remembered for "Back" (their cursors travel in the address).
const MAX_TRAIL: usize = 50;
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_SUMMARY_CHARS: usize = 2_000;
pub const MAX_CONTENT_CHARS: usize = 20_000;
/// Sealed, content grows by a third plus 28 bytes (base64 of nonce, ciphertext and tag): this
/// many UTF-8 bytes seal to under 64 KiB, the most a provider is assumed to take.
pub const MAX_CONTENT_BYTES: usize = 47 * 1024;
pub const MAX_SOURCE_CHARS: usize = 200;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;
const MAX_SEARCH_CHARS: usize = 200;
/// Bytes a largest form can take, percent-encoded (see `memorize::MAX_FORM_BYTES`).
pub const MAX_FORM_BYTES: usize =
    (MAX_TITLE_CHARS + MAX_SUMMARY_CHARS + MAX_CONTENT_CHARS + MAX_SOURCE_CHARS + 1_100) * 12
        + 1024;

/// The member's keys, kept up to date within one request (a key rotation is noticed once).
struct Keys<'a> {
    memoram: &'a MemoramState,
    member: &'a mut MemoramMember,
    refreshed: bool,
}

/// A memory's content as a page shows it.
#[derive(Serialize)]
struct Opened {
    text: Option<String>,
    /// With `text` absent: the key version that could not open it.
    key_version: u64,
}

impl<'a> Keys<'a> {
    fn new(memoram: &'a MemoramState, member: &'a mut MemoramMember) -> Self {
        Self {
            memoram,
            member,
            refreshed: false,
        }
    }

    /// Opens `content`; if it does not open, fetches the credentials again once per request (a
    /// rotated key) and retries with the new key.
    async fn open(&mut self, content: Option<&str>) -> Result<Opened, AppError> {
        let Some(content) = content else {
            return Ok(Opened {
                text: Some(String::new()),
                key_version: self.member.keys.key_version,
            });
        };
        let cipher = self.memoram.client.cipher;
        match cipher.open(&self.member.keys.encryption_key(), content) {
            Ok(text) => return Ok(self.opened(Some(text))),
            Err(CipherError::BadKey | CipherError::Undecryptable) if !self.refreshed => {}
            Err(_) => return Ok(self.opened(None)),
        }
        self.refresh().await?;
        let text = cipher
            .open(&self.member.keys.encryption_key(), content)
            .ok();
        Ok(self.opened(text))
    }

    /// Fetches the credentials again (a rotated key comes with a new `key_version`) and keeps
    /// them; once per request. A 403 means the access was revoked (see [`revoked`]).
    async fn refresh(&mut self) -> Result<(), AppError> {
        if self.refreshed {
            return Ok(());
        }
        self.refreshed = true;
        let Some(request_id) = self.member.connection.request_id.clone() else {
            return Ok(());
        };
        let credentials = memoram_call(self.memoram.client.credentials(&request_id))
            .await
            .map_err(|e| revoked(e, self.memoram, self.member))?;
        if credentials.key_version == self.member.keys.key_version {
            return Ok(());
        }
        tracing::info!(
            old = self.member.keys.key_version,
            new = credentials.key_version,
            "Memoram key rotated; using the new key"
        );
        self.member.connection.set_credentials(credentials);
        if let Some(keys) = self.member.connection.credentials.clone() {
            self.member.keys = keys;
        }
        self.memoram
            .connections
            .put(&self.member.id, &self.member.connection)
            .await
            .map_err(TokenError::from)?;
        Ok(())
    }

    fn opened(&self, text: Option<String>) -> Opened {
        Opened {
            text,
            key_version: self.member.keys.key_version,
        }
    }
}

/// The memories' texts for search results: each content opened (the credentials fetched again
/// at most once, if the key rotated), else its summary, else a note that it cannot be decrypted.
pub async fn open_for_search(
    memoram: &MemoramState,
    member: &mut MemoramMember,
    blobs: &[MemoryBlob],
) -> Result<Vec<String>, AppError> {
    let mut keys = Keys::new(memoram, member);
    let mut texts = Vec::with_capacity(blobs.len());
    for blob in blobs {
        let opened = keys.open(blob.content.as_deref()).await?;
        texts.push(match (opened.text, &blob.summary) {
            (Some(text), _) if !text.trim().is_empty() => text.trim().to_owned(),
            (_, Some(summary)) if !summary.trim().is_empty() => summary.trim().to_owned(),
            _ => format!(
                "(This memory cannot be decrypted with this key (key_version {}).)",
                opened.key_version
            ),
        });
    }
    Ok(texts)
}

/// A 403 from Memoram once approved means the access was revoked: the kept credentials are
/// forgotten (best effort) and the browser goes to the waiting page. Other errors pass.
pub fn revoked(error: AppError, memoram: &MemoramState, member: &mut MemoramMember) -> AppError {
    if !matches!(&error, AppError::Memoram(ApiError::Refused(status)) if status.as_u16() == 403) {
        return error;
    }
    member.connection.credentials = None;
    let (connections, id, connection) = (
        memoram.connections.clone(),
        member.id.clone(),
        member.connection.clone(),
    );
    // The waiting page finds out the status again; losing this write only costs one more call.
    actix_web::rt::spawn(async move {
        if let Err(error) = connections.put(&id, &connection).await {
            tracing::warn!(%error, "forgetting revoked Memoram credentials");
        }
    });
    AppError::SeeOther(MEMORAM_ACCESS_ROUTE)
}

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
    let page = memoram_call(
        memoram
            .client
            .memories(&member.keys.user_id, &blob_query),
    )
    .await
    .map_err(|e| match e {
        // A cursor Memoram no longer takes: start over rather than fail.
        AppError::Memoram(ApiError::Refused(status)) if status.as_u16() == 400 && cursor.is_some() => {
            AppError::BadRequest("This page of memories is no longer available. Start again from the first page.".to_owned())
        }
        other => revoked(other, memoram, &mut member),
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
    signed_in(&mut context, &member.session)?;
    if let Some(flash) = member.session.take_flash()? {
        context.insert("flash", &flash);
    }
    context.insert("memories", &rows);
    context.insert("tag", &tag);
    context.insert("q", &search);
    context.insert("importance", &min_importance);
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
        title: display_title(blob),
        summary: blob.summary.clone().filter(|s| !s.trim().is_empty()),
        tags: blob.tags.clone(),
        importance: blob.importance.map(|i| format!("{i:.2}")),
        updated: blob
            .updated_at
            .as_deref()
            .or(blob.created_at.as_deref())
            .map(display_date),
    }
}

/// A memory's title as pages show it (`(untitled memory)` when it has none).
pub fn display_title(blob: &MemoryBlob) -> String {
    blob.title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(|| "(untitled memory)".to_owned())
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
    signed_in(&mut context, &member.session)?;
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
    importance: Option<f64>,
    confidence: Option<f64>,
    source: Option<String>,
    created_at: Option<String>,
    updated_at: Option<String>,
}

fn memory_view(blob: &MemoryBlob) -> MemoryView {
    MemoryView {
        href: memory_href(&blob.id),
        title: display_title(blob),
        summary: blob.summary.clone().filter(|s| !s.trim().is_empty()),
        tags: blob.tags.clone(),
        importance: blob.importance,
        confidence: blob.confidence,
        source: blob.source.clone().filter(|s| !s.trim().is_empty()),
        created_at: blob.created_at.as_deref().map(display_date),
        updated_at: blob.updated_at.as_deref().map(display_date),
    }
}

/// The create and edit form, as typed (everything a string, so that a bad value comes back).
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct MemoryForm {
    #[serde(default, skip_serializing)]
    csrf_token: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    content: String,
    /// Comma-separated.
    #[serde(default)]
    tags: String,
    #[serde(default)]
    importance: String,
    #[serde(default)]
    confidence: String,
    #[serde(default)]
    source: String,
}

impl MemoryForm {
    fn draft(&self) -> Result<MemoryDraft, String> {
        let content = self.content.trim();
        if content.is_empty() {
            return Err("Write something to remember: the memory needs content.".to_owned());
        }
        let too_long = |what: &str, text: &str, max: usize| {
            (text.chars().count() > max)
                .then(|| format!("The {what} can be up to {max} characters long."))
        };
        if let Some(problem) = too_long("title", &self.title, MAX_TITLE_CHARS)
            .or_else(|| too_long("summary", &self.summary, MAX_SUMMARY_CHARS))
            .or_else(|| too_long("content", content, MAX_CONTENT_CHARS))
            .or_else(|| {
                (content.len() > MAX_CONTENT_BYTES).then(|| {
                    format!(
                        "The content is too long once encrypted: at most {} KiB of text (about {MAX_CONTENT_CHARS} characters of Latin script, fewer in others).",
                        MAX_CONTENT_BYTES / 1024
                    )
                })
            })
            .or_else(|| too_long("source", &self.source, MAX_SOURCE_CHARS))
        {
            return Err(problem);
        }
        let tags = parse_tags(&self.tags)?;
        let unit = |raw: &str, what: &str| {
            parse_unit(Some(raw), what)
                .map_err(|_| format!("The {what} must be a number from 0 to 1, like 0.8."))
        };
        Ok(MemoryDraft {
            title: self.title.trim().to_owned(),
            summary: self.summary.trim().to_owned(),
            content: content.to_owned(),
            tags,
            importance: unit(&self.importance, "importance")?,
            confidence: unit(&self.confidence, "confidence")?,
            source: self.source.trim().to_owned(),
        })
    }
}

/// Tags typed as "work, travel": trimmed, without empties or repeats (case-insensitive).
fn parse_tags(raw: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(format!(
                "A tag can be up to {MAX_TAG_CHARS} characters long."
            ));
        }
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            tags.push(tag.to_owned());
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("A memory can have up to {MAX_TAGS} tags."));
    }
    Ok(tags)
}

/// A number from 0 to 1; absent or empty is `None`.
fn parse_unit(raw: Option<&str>, what: &str) -> Result<Option<f64>, AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse::<f64>()
            .ok()
            .filter(|v| (0.0..=1.0).contains(v))
            .map(Some)
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "The {what} must be a number from 0 to 1, like 0.5."
                ))
            }),
    }
}

fn clean(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The form page, with what was typed and, if any, the problem with it.
fn form_page(
    templates: &Templates,
    member: &MemoramMember,
    editing: Option<&str>,
    form: &MemoryForm,
    problem: Option<(StatusCode, String)>,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    signed_in(&mut context, &member.session)?;
    context.insert("form", form);
    context.insert("editing", &editing.map(memory_href));
    context.insert("max_title", &MAX_TITLE_CHARS);
    context.insert("max_summary", &MAX_SUMMARY_CHARS);
    context.insert("max_content", &MAX_CONTENT_CHARS);
    context.insert("max_source", &MAX_SOURCE_CHARS);
    context.insert("max_tags", &MAX_TAGS);
    let status = match problem {
        Some((status, message)) => {
            context.insert("error", &message);
            status
        }
        None => StatusCode::OK,
    };
    let mut response = templates.page("memory_form.html", &context)?;
    *response.status_mut() = status;
    Ok(response)
}

/// `GET /memories/new`.
pub async fn new_form(
    templates: web::Data<Templates>,
    member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    form_page(&templates, &member, None, &MemoryForm::default(), None)
}

/// `POST /memories`: seals the content with the user's key and creates the memory.
pub async fn create(
    form: web::Form<MemoryForm>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    save(
        state.memoram()?,
        &templates,
        member,
        None,
        form.into_inner(),
    )
    .await
}

/// Create (`editing` is `None`) or update: the form checked, the content sealed, the memory
/// saved, then `303` to its page; or the form again, with what was typed and why it failed.
async fn save(
    memoram: &MemoramState,
    templates: &Templates,
    mut member: MemoramMember,
    editing: Option<&str>,
    form: MemoryForm,
) -> Result<HttpResponse, AppError> {
    let draft = match check(&form, &member) {
        Ok(draft) => draft,
        Err(problem) => return form_page(templates, &member, editing, &form, Some(problem)),
    };
    // Sealed with the current key: a key rotated since the credentials were kept would make the
    // memory unreadable once the new key is in use.
    if let Err(error) = Keys::new(memoram, &mut member).refresh().await {
        return failed_save(templates, &member, editing, &form, error);
    }
    let memory_key = member.connection.memory_key();
    let client = &memoram.client;
    let saved = match editing {
        None => memoram_call(client.create_memory(&member.keys, &memory_key, &draft)).await,
        Some(id) => memoram_call(client.update_memory(&member.keys, &memory_key, id, &draft)).await,
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
            let error = revoked(error, memoram, &mut member);
            failed_save(templates, &member, editing, &form, error)
        }
    }
}

/// `GET /memories/{id}` and its edit form: the memory and its opened content.
async fn fetch(
    memoram: &MemoramState,
    member: &mut MemoramMember,
    id: &str,
) -> Result<(MemoryBlob, Opened), AppError> {
    let blob = memoram_call(memoram.client.memory(&member.keys.user_id, id))
        .await
        .map_err(|e| revoked(e, memoram, member))?;
    let opened = Keys::new(memoram, member)
        .open(blob.content.as_deref())
        .await?;
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
    let form = MemoryForm {
        title: blob.title.unwrap_or_default(),
        summary: blob.summary.unwrap_or_default(),
        content,
        tags: blob.tags.join(", "),
        importance: blob.importance.map(|v| v.to_string()).unwrap_or_default(),
        confidence: blob.confidence.map(|v| v.to_string()).unwrap_or_default(),
        source: blob.source.unwrap_or_default(),
        csrf_token: None,
    };
    form_page(&templates, &member, Some(&id), &form, None)
}

/// `POST /memories/{id}`: the edit; `tags` replaces the memory's tags.
pub async fn update(
    path: web::Path<String>,
    form: web::Form<MemoryForm>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    member: MemoramMember,
) -> Result<HttpResponse, AppError> {
    let id = memory_id(path.into_inner())?;
    save(
        state.memoram()?,
        &templates,
        member,
        Some(&id),
        form.into_inner(),
    )
    .await
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
    memoram_call(memoram.client.delete_memory(&member.keys.user_id, &id))
        .await
        .map_err(|e| revoked(e, memoram, &mut member))?;
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
    let tags = memoram_call(memoram.client.tags(&member.keys.user_id))
        .await
        .map_err(|e| revoked(e, memoram, &mut member))?;
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
    signed_in(&mut context, &member.session)?;
    context.insert("tags", &views);
    Ok(templates.page("memory_tags.html", &context)?)
}

fn is_hex_colour(value: &str) -> bool {
    value.len() == 7 && value.starts_with('#') && value[1..].chars().all(|c| c.is_ascii_hexdigit())
}

/// The CSRF token, then the fields.
fn check(form: &MemoryForm, member: &MemoramMember) -> Result<MemoryDraft, (StatusCode, String)> {
    let submitted = form.csrf_token.as_deref().unwrap_or_default();
    match member.session.csrf_token_matches(submitted) {
        Ok(true) => {}
        _ => return Err((
            StatusCode::FORBIDDEN,
            "This form had expired, so nothing was saved. Your memory is below: press Save again."
                .to_owned(),
        )),
    }
    form.draft()
        .map_err(|problem| (StatusCode::UNPROCESSABLE_ENTITY, problem))
}

/// Saving failed at Memoram: the form comes back with what was typed, and why.
fn failed_save(
    templates: &Templates,
    member: &MemoramMember,
    editing: Option<&str>,
    form: &MemoryForm,
    error: AppError,
) -> Result<HttpResponse, AppError> {
    if matches!(error, AppError::SeeOther(_)) {
        // Revoked meanwhile: what was typed stays on the page, with the way to ask again.
        return form_page(
            templates,
            member,
            editing,
            form,
            Some((
                StatusCode::FORBIDDEN,
                "Memoram no longer gives this app access to your memories (it was revoked), so nothing was saved. Your memory is below; ask for access again from the Memoram access page."
                    .to_owned(),
            )),
        );
    }
    tracing::warn!(%error, "saving a memory failed; the form is shown again");
    let (page, _) = error.page();
    let status = StatusCode::from_u16(page.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let message = match &error {
        AppError::Memoram(ApiError::Refused(status)) if status.as_u16() == 400 => {
            "Memoram did not accept this memory. Check its fields; nothing was lost.".to_owned()
        }
        _ => format!(
            "{}: {} Your memory is below, nothing was lost.",
            page.title, page.message
        ),
    };
    form_page(templates, member, editing, form, Some((status, message)))
}

/// A memory id from an address. Memoram's ids are like `mem_123456789`; anything else (empty,
/// `.` or `..`, which a URL would resolve away into another endpoint, spaces, slashes) is not a
/// memory of this user: 404, and Memoram is not asked.
fn memory_id(raw: String) -> Result<String, AppError> {
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

/// `/memories/{id}`, the id a path segment: every byte but `A-Za-z0-9*-._` percent-encoded
/// (the serializer writes a space as `+`, which a path would read as a plus: `%20` instead).
pub fn memory_href(id: &str) -> String {
    let segment = url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("/memories/{segment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        assert_eq!(
            parse_tags(" work, Travel ,, work ,travel").expect("valid"),
            vec!["work".to_owned(), "Travel".to_owned()]
        );
        assert!(parse_tags(&"x".repeat(MAX_TAG_CHARS + 1)).is_err());
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(&many.join(",")).is_err());
        assert_eq!(parse_tags("").expect("valid"), Vec::<String>::new());
    }

    #[test]
    fn importance_is_a_number_from_zero_to_one() {
        assert_eq!(parse_unit(Some("0.5"), "x").ok(), Some(Some(0.5)));
        assert_eq!(parse_unit(Some(" "), "x").ok(), Some(None));
        for bad in ["1.5", "-0.1", "NaN", "high", "inf"] {
            assert!(parse_unit(Some(bad), "x").is_err(), "{bad}");
        }
    }

    #[test]
    fn a_form_without_content_or_with_long_fields_is_refused() {
        let form = MemoryForm {
            content: "  ".to_owned(),
            ..MemoryForm::default()
        };
        assert!(form.draft().is_err());
        let form = MemoryForm {
            content: "x".to_owned(),
            title: "t".repeat(MAX_TITLE_CHARS + 1),
            ..MemoryForm::default()
        };
        assert!(form.draft().is_err());
        let form = MemoryForm {
            content: " Ada likes tea ".to_owned(),
            tags: "drinks".to_owned(),
            importance: "0.7".to_owned(),
            ..MemoryForm::default()
        };
        let draft = form.draft().expect("valid");
        assert_eq!(draft.content, "Ada likes tea");
        assert_eq!(draft.importance, Some(0.7));
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
    fn content_that_would_seal_beyond_64_kib_is_refused() {
        let form = MemoryForm {
            content: "€".repeat(MAX_CONTENT_CHARS),
            ..MemoryForm::default()
        };
        assert!(form.draft().is_err(), "60 000 bytes of text");
        let key = secrecy::SecretString::from("00".repeat(32));
        let largest = "a".repeat(MAX_CONTENT_BYTES);
        let sealed = crate::memoram::cipher::ContentCipher::Aes256Gcm
            .seal(&key, &largest)
            .expect("seals");
        assert!(sealed.len() <= 64 * 1024);
    }

    #[test]
    fn only_hex_colours_are_kept() {
        assert!(is_hex_colour("#FF5733"));
        assert!(!is_hex_colour("red"));
        assert!(!is_hex_colour("#FF5733;background:url(x)"));
    }
}
