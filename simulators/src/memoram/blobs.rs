//! Memory blobs and tags. Every call names a `user_id`; the app may act for that user only while it
//! holds an approved access request for them (else 403), and writes must also carry the user's
//! `memoryKey` (else 403).
//!
//! Content is stored exactly as the client sent it. Search reads it the way the provider can, as
//! the holder of the keys: decrypted under the user's key when it decrypts, as sent otherwise.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::data::{Blob, Tag};
use super::error::{bad_request, forbidden, not_found, ApiError, ApiResult};
use super::{auth, crypto, iso, now, Shared, State, MAX_BLOBS_PER_USER};

const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;
const MAX_CONTENT_BYTES: usize = 64 * 1024;
const MAX_TITLE_CHARS: usize = 200;
const MAX_SUMMARY_CHARS: usize = 2_000;
const MAX_SOURCE_CHARS: usize = 200;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/memory-blobs", web::get().to(list))
        .route("/api/v1/memory-blobs", web::post().to(create))
        .route("/api/v1/memory-blobs/{id}", web::get().to(get))
        // The docs show PATCH; the contract restating them leaves the method open, so both.
        .route("/api/v1/memory-blobs/{id}", web::patch().to(update))
        .route("/api/v1/memory-blobs/{id}", web::put().to(update))
        .route("/api/v1/memory-blobs/{id}", web::delete().to(delete))
        .route("/api/v1/tags", web::get().to(tags))
        .route("/api/v1/tags/{id}", web::get().to(tag));
}

type Params = HashMap<String, String>;

/// The query's parameters, the first value of each (parsed leniently: never a 500).
fn query_params(req: &HttpRequest) -> Params {
    let mut params = Params::new();
    for (k, v) in url::form_urlencoded::parse(req.query_string().as_bytes()) {
        params
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    params
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// The user the request names, if this connector may act for them.
fn authorize_user(st: &State, connector: &str, user_id: Option<&str>) -> Result<String, ApiError> {
    let user_id = user_id
        .filter(|u| !u.is_empty())
        .ok_or_else(|| bad_request("user_id is required."))?;
    // An unknown user and a user who did not approve look the same: no way to probe for users.
    if st.user(user_id).is_none() || !st.is_approved(connector, user_id) {
        return Err(forbidden(
            "This app has no approved access request for this user.",
        ));
    }
    Ok(user_id.to_owned())
}

/// Cursors are opaque to clients; here, the creation sequence number of the page's last blob.
fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("seq:{seq}"))
}

fn decode_cursor(cursor: &str) -> Result<u64, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("seq:")?.parse().ok())
        .ok_or_else(|| bad_request("Invalid cursor."))
}

impl State {
    /// The docs' MemoryBlob (`with_content`) or MemoryBlobResponse (create/update: no content).
    fn blob_json(&self, blob: &Blob, with_content: bool) -> Value {
        let mut body = json!({
            "id": blob.id,
            "user_id": blob.user_id,
            "title": blob.title,
            "summary": blob.summary,
            "tags": self.tag_names(&blob.tag_ids),
            "tag_ids": blob.tag_ids,
            "importance": blob.importance,
            "confidence": blob.confidence,
            "source": blob.source,
            "created_at": iso(blob.created_at),
            "updated_at": iso(blob.updated_at),
        });
        if with_content {
            body["content"] = json!(blob.content);
        }
        body
    }

    /// The content as the provider can read it: decrypted when it decrypts under the user's key.
    fn readable_content(&self, blob: &Blob) -> String {
        self.user(&blob.user_id)
            .and_then(|u| crypto::decrypt(&u.key, &blob.content))
            .unwrap_or_else(|| blob.content.clone())
    }
}

fn contains_ci(text: Option<&str>, needle: &str) -> bool {
    text.is_some_and(|t| t.to_lowercase().contains(needle))
}

async fn list(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let params = query_params(&req);
    let limit = match param(&params, "limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| bad_request("limit must be a positive integer."))?
            .clamp(1, MAX_LIMIT),
    };
    let min_importance = match param(&params, "importance") {
        None => None,
        Some(raw) => Some(
            raw.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad_request("importance must be a number."))?,
        ),
    };
    let wanted_tags: Vec<String> = param(&params, "tags")
        .map(|raw| {
            raw.split(',')
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let search = param(&params, "searchQuery").map(str::to_lowercase);
    let before = param(&params, "cursor").map(decode_cursor).transpose()?;

    let st = shared.lock();
    let user_id = authorize_user(&st, &connector, param(&params, "user_id"))?;
    let mut found: Vec<&Blob> = st
        .blobs
        .iter()
        .filter(|b| b.user_id == user_id)
        .filter(|b| before.is_none_or(|seq| b.seq < seq))
        .filter(|b| min_importance.is_none_or(|min| b.importance.is_some_and(|i| i >= min)))
        .filter(|b| {
            let names: Vec<String> = st
                .tag_names(&b.tag_ids)
                .iter()
                .map(|n| n.to_lowercase())
                .collect();
            wanted_tags.iter().all(|t| names.contains(t))
        })
        .filter(|b| {
            search.as_deref().is_none_or(|q| {
                contains_ci(b.title.as_deref(), q)
                    || contains_ci(b.summary.as_deref(), q)
                    || st.readable_content(b).to_lowercase().contains(q)
            })
        })
        .collect();
    found.sort_by_key(|b| std::cmp::Reverse(b.seq));
    let more = found.len() > limit;
    found.truncate(limit);
    let next_cursor = found.last().filter(|_| more).map(|b| encode_cursor(b.seq));
    let blobs: Vec<Value> = found.iter().map(|b| st.blob_json(b, true)).collect();
    Ok(HttpResponse::Ok().json(json!({"memoryBlobs": blobs, "next_cursor": next_cursor})))
}

async fn get(req: HttpRequest, path: web::Path<String>, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let params = query_params(&req);
    let st = shared.lock();
    let user_id = authorize_user(&st, &connector, param(&params, "user_id"))?;
    let blob = st
        .blobs
        .iter()
        .find(|b| b.id == *path && b.user_id == user_id)
        .ok_or_else(|| not_found("Memory blob"))?;
    Ok(HttpResponse::Ok().json(st.blob_json(blob, true)))
}

/// The body of create and update: the docs' CreateMemoryRequest / UpdateMemoryRequest.
#[derive(Deserialize)]
struct BlobBody {
    user_id: Option<String>,
    #[serde(rename = "memoryKey")]
    memory_key: Option<String>,
    content: Option<String>,
    title: Option<String>,
    summary: Option<String>,
    tags: Option<Vec<String>>,
    importance: Option<f64>,
    confidence: Option<f64>,
    source: Option<String>,
}

fn parse_body(bytes: &[u8]) -> Result<BlobBody, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| bad_request(format!("Invalid JSON body: {e}")))
}

/// `user_id` and `memoryKey` present, the app approved for that user, and the key theirs.
fn authorize_write(st: &State, connector: &str, body: &BlobBody) -> Result<String, ApiError> {
    let memory_key = body
        .memory_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| bad_request("memoryKey is required."))?;
    let user_id = authorize_user(st, connector, body.user_id.as_deref())?;
    if st.user(&user_id).is_none_or(|u| u.memory_key != memory_key) {
        return Err(forbidden("memoryKey does not match this user."));
    }
    Ok(user_id)
}

fn check_length(field: &str, value: Option<&str>, max_chars: usize) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max_chars => Err(bad_request(format!(
            "{field} must be at most {max_chars} characters."
        ))),
        _ => Ok(()),
    }
}

fn check_score(field: &str, value: Option<f64>) -> Result<(), ApiError> {
    match value {
        Some(v) if !(0.0..=1.0).contains(&v) => {
            Err(bad_request(format!("{field} must be between 0 and 1.")))
        }
        _ => Ok(()),
    }
}

/// The fields' limits; the tag names, trimmed, when the body has tags.
fn validate(body: &BlobBody, creating: bool) -> Result<Option<Vec<String>>, ApiError> {
    match body.content.as_deref() {
        None if creating => return Err(bad_request("content is required.")),
        Some(c) if c.trim().is_empty() => return Err(bad_request("content must not be empty.")),
        Some(c) if c.len() > MAX_CONTENT_BYTES => {
            return Err(bad_request(format!(
                "content must be at most {MAX_CONTENT_BYTES} bytes."
            )))
        }
        _ => {}
    }
    check_length("title", body.title.as_deref(), MAX_TITLE_CHARS)?;
    check_length("summary", body.summary.as_deref(), MAX_SUMMARY_CHARS)?;
    check_length("source", body.source.as_deref(), MAX_SOURCE_CHARS)?;
    check_score("importance", body.importance)?;
    check_score("confidence", body.confidence)?;
    let Some(tags) = &body.tags else {
        return Ok(None);
    };
    if tags.len() > MAX_TAGS {
        return Err(bad_request(format!("At most {MAX_TAGS} tags.")));
    }
    let mut names = Vec::with_capacity(tags.len());
    for tag in tags {
        let name = tag.trim();
        if name.is_empty() {
            return Err(bad_request("Tag names must not be empty."));
        }
        if name.chars().count() > MAX_TAG_CHARS {
            return Err(bad_request(format!(
                "Tag names must be at most {MAX_TAG_CHARS} characters."
            )));
        }
        names.push(name.to_owned());
    }
    Ok(Some(names))
}

async fn create(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let body = parse_body(&body)?;
    let mut st = shared.lock();
    let user_id = authorize_write(&st, &connector, &body)?;
    let tag_names = validate(&body, true)?.unwrap_or_default();
    if st.blobs.iter().filter(|b| b.user_id == user_id).count() >= MAX_BLOBS_PER_USER {
        return Err(bad_request("Memory quota exceeded."));
    }
    let created = now();
    let tag_ids = st.tag_ids_for(&user_id, &tag_names, created)?;
    let id = st.insert_blob(Blob {
        id: String::new(),
        user_id,
        title: body.title,
        summary: body.summary,
        content: body.content.unwrap_or_default(),
        tag_ids,
        importance: body.importance,
        confidence: body.confidence,
        source: body.source,
        created_at: created,
        updated_at: created,
        seq: 0,
    });
    let blob = st
        .blobs
        .iter()
        .find(|b| b.id == id)
        .ok_or_else(|| not_found("Memory blob"))?;
    Ok(HttpResponse::Created().json(st.blob_json(blob, false)))
}

/// A partial update: only the fields sent change; `tags` replaces them all.
async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let body = parse_body(&body)?;
    let mut st = shared.lock();
    let user_id = authorize_write(&st, &connector, &body)?;
    let tag_names = validate(&body, false)?;
    let index = st
        .blobs
        .iter()
        .position(|b| b.id == *path && b.user_id == user_id)
        .ok_or_else(|| not_found("Memory blob"))?;
    let updated = now();
    let tag_ids = match tag_names {
        Some(names) => Some(st.tag_ids_for(&user_id, &names, updated)?),
        None => None,
    };
    let blob = &mut st.blobs[index];
    if let Some(content) = body.content {
        blob.content = content;
    }
    if let Some(title) = body.title {
        blob.title = Some(title);
    }
    if let Some(summary) = body.summary {
        blob.summary = Some(summary);
    }
    if let Some(source) = body.source {
        blob.source = Some(source);
    }
    if let Some(importance) = body.importance {
        blob.importance = Some(importance);
    }
    if let Some(confidence) = body.confidence {
        blob.confidence = Some(confidence);
    }
    if let Some(tag_ids) = tag_ids {
        blob.tag_ids = tag_ids;
    }
    blob.updated_at = updated;
    Ok(HttpResponse::Ok().json(st.blob_json(&st.blobs[index], false)))
}

async fn delete(req: HttpRequest, path: web::Path<String>, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let params = query_params(&req);
    let mut st = shared.lock();
    let user_id = authorize_user(&st, &connector, param(&params, "user_id"))?;
    let index = st
        .blobs
        .iter()
        .position(|b| b.id == *path && b.user_id == user_id)
        .ok_or_else(|| not_found("Memory blob"))?;
    st.blobs.remove(index);
    // The docs' page says "200: Memory blob deleted successfully." without a readable schema.
    Ok(HttpResponse::Ok().json(json!({
        "success": true,
        "message": "Memory blob deleted successfully.",
        "id": *path,
    })))
}

async fn tags(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let params = query_params(&req);
    let st = shared.lock();
    let user_id = authorize_user(&st, &connector, param(&params, "user_id"))?;
    let mut tags: Vec<&Tag> = st.tags.iter().filter(|t| t.user_id == user_id).collect();
    tags.sort_by_key(|t| t.name.to_lowercase());
    let items: Vec<Value> = tags.iter().map(|t| t.to_json()).collect();
    Ok(HttpResponse::Ok().json(json!({"items": items})))
}

async fn tag(req: HttpRequest, path: web::Path<String>, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let params = query_params(&req);
    let st = shared.lock();
    let user_id = authorize_user(&st, &connector, param(&params, "user_id"))?;
    let tag = st
        .tags
        .iter()
        .find(|t| t.id == *path && t.user_id == user_id)
        .ok_or_else(|| not_found("Tag"))?;
    Ok(HttpResponse::Ok().json(tag.to_json()))
}
