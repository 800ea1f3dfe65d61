//! The API endpoints: account, integrations, mementos, documents, search, contents, memorize.

use std::collections::BTreeSet;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::data::{self, Doc};
use super::{oauth, Shared};

const DEFAULT_PAGE_SIZE: usize = 10;
const MAX_PAGE_SIZE: usize = 100;
const MAX_CHUNKS_PER_CALL: usize = 20;
const MAX_MEMORIZE_CHARS: usize = 100_000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/account/", web::get().to(account))
        .route("/api/v1/me/", web::get().to(me))
        .route("/api/v1/integrations/", web::get().to(integrations))
        .route("/api/v1/mementos/", web::get().to(mementos))
        .route("/api/v1/documents/", web::get().to(documents))
        .route("/api/v1/documents/search/", web::get().to(search))
        .route("/api/v1/documents/memorize/", web::post().to(memorize))
        .route("/api/v1/documents/{id}/contents/", web::get().to(contents))
        .route(
            "/api/v1/discussions/{id}/contents/",
            web::get().to(discussion_contents),
        )
        .route(
            "/api/v1/common-knowledge/subscribed-list/",
            web::get().to(common_knowledge),
        );
}

pub async fn not_found() -> HttpResponse {
    Refusal::NotFound.error_response()
}

/// Every way the API refuses a request, as DRF would answer it.
#[derive(Debug)]
enum Refusal {
    Unauthorized,
    BadRequest(String),
    NotFound,
    InvalidPage,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unauthorized => f.write_str("Given token not valid for any token type"),
            Refusal::BadRequest(detail) => f.write_str(detail),
            Refusal::NotFound => f.write_str("Not found."),
            Refusal::InvalidPage => f.write_str("Invalid page."),
        }
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        match self {
            Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
            Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
            Refusal::NotFound | Refusal::InvalidPage => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({"detail": self.to_string()});
        if let Refusal::Unauthorized = self {
            body["code"] = json!("token_not_valid");
        }
        HttpResponse::build(self.status_code()).json(body)
    }
}

type Answer = Result<HttpResponse, Refusal>;

fn bad_request(detail: &str) -> Refusal {
    Refusal::BadRequest(detail.to_owned())
}

/// The grant behind the request's bearer token, or the contract's 401.
fn authorize(req: &HttpRequest, shared: &Shared) -> Result<u64, Refusal> {
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let mut st = shared.lock();
    match oauth::grant_for(&st, authorization) {
        Some(grant) => Ok(grant),
        None => {
            st.unauthorized += 1;
            Err(Refusal::Unauthorized)
        }
    }
}

/// Documents the grant may see: those in its mementos, plus notes the user memorized.
fn visible(shared: &Shared, grant: u64) -> Vec<Doc> {
    let st = shared.lock();
    let mementos = st
        .grants
        .get(&grant)
        .map(|g| g.mementos.clone())
        .unwrap_or_default();
    shared
        .documents
        .iter()
        .filter(|d| d.memento_ids.iter().any(|m| mementos.contains(m)))
        .chain(st.memorized.iter())
        .cloned()
        .collect()
}

/// The current docs show the account's `id` as a string (the 2024 file as an integer).
fn account_json(shared: &Shared) -> Value {
    json!({"id": "ada", "email": shared.config.account_email, "name": shared.config.account_name})
}

async fn account(req: HttpRequest, shared: web::Data<Shared>) -> Answer {
    authorize(&req, &shared)?;
    Ok(HttpResponse::Ok().json(account_json(&shared)))
}

async fn me(req: HttpRequest, shared: web::Data<Shared>) -> Answer {
    authorize(&req, &shared)?;
    let usage: u64 = shared.documents.iter().map(|d| d.size).sum::<u64>()
        + shared.lock().memorized.iter().map(|d| d.size).sum::<u64>();
    // The docs' "Extended Response" of `/me/`, key for key.
    let mut body = account_json(&shared);
    body["user_onboarding_status"] = json!(7);
    body["dev_onboarding_status"] = json!(3);
    body["company_name"] = json!("Analytical Engines Ltd");
    body["website"] = json!("https://example.com");
    body["bio"] = json!("Writes the first programs.");
    body["team"] = json!([{"id": "team-1", "name": "Engines", "image_url": "https://example.com/team.png", "role": "admin"}]);
    body["embed_quota"] = json!(104_857_600u64);
    body["current_usage"] = json!(usage);
    body["email_verified"] = json!(true);
    Ok(HttpResponse::Ok().json(body))
}

/// One integration as `/integrations/` lists it (the 2024 search shape nests it in hits too).
fn integration_json(shared: &Shared, kind: &str) -> Value {
    let docs: Vec<&Doc> = shared
        .documents
        .iter()
        .filter(|d| d.integration_type == kind)
        .collect();
    let count = |status: &str| docs.iter().filter(|d| d.status == status).count();
    json!({
        "id": data::integration_id(kind),
        "integration_type": kind,
        "integration_step": "authorized",
        "source": docs.first().map(|d| d.source).unwrap_or(""),
        "document_stats": {
            "status": {"indexed": count("indexed"), "indexing": count("indexing"), "error": count("error")},
            "total_size": docs.iter().map(|d| d.size).sum::<u64>(),
            "document_count": docs.len(),
        },
    })
}

async fn integrations(req: HttpRequest, shared: web::Data<Shared>) -> Answer {
    authorize(&req, &shared)?;
    let kinds: BTreeSet<&str> = shared
        .documents
        .iter()
        .map(|d| d.integration_type)
        .collect();
    let data: Vec<Value> = kinds
        .into_iter()
        .map(|kind| {
            let mut integration = integration_json(&shared, kind);
            let document_type = shared
                .documents
                .iter()
                .find(|d| d.integration_type == kind)
                .map(|d| d.kind)
                .unwrap_or("");
            integration["document_type"] = json!(document_type);
            integration["consent_time"] = json!("2024-01-15T09:30:00Z");
            integration["memory_config"] = Value::Null;
            integration["token_validity"] = json!(true);
            integration
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({"data": data, "message": "OK", "code": "success"})))
}

async fn mementos(req: HttpRequest, shared: web::Data<Shared>) -> Answer {
    let grant = authorize(&req, &shared)?;
    let granted = shared
        .lock()
        .grants
        .get(&grant)
        .map(|g| g.mementos.clone())
        .unwrap_or_default();
    // The docs publish no response schema for this endpoint; `{id, name}` is all they show of a
    // memento, so that is all the simulator sends.
    let list: Vec<Value> = data::MEMENTOS
        .iter()
        .filter(|m| granted.contains(&m.id))
        .map(|m| json!({"id": m.id, "name": m.name}))
        .collect();
    Ok(if shared.config.mementos_as_page {
        HttpResponse::Ok()
            .json(json!({"count": list.len(), "next": null, "previous": null, "results": list}))
    } else {
        HttpResponse::Ok().json(list)
    })
}

#[derive(Deserialize)]
struct DocumentsQuery {
    page: Option<String>,
    page_size: Option<String>,
    integration_type: Option<String>,
}

fn parse_number(raw: Option<&str>, default: usize, name: &str) -> Result<usize, Refusal> {
    match raw {
        None | Some("") => Ok(default),
        Some(raw) => raw
            .parse::<usize>()
            .map_err(|_| bad_request(&format!("{name} must be a positive integer."))),
    }
}

async fn documents(
    req: HttpRequest,
    query: Option<web::Query<DocumentsQuery>>,
    shared: web::Data<Shared>,
) -> Answer {
    let grant = authorize(&req, &shared)?;
    let Some(query) = query else {
        return Err(bad_request("Malformed query string."));
    };
    let page = parse_number(query.page.as_deref(), 1, "page")?;
    if page == 0 {
        return Err(Refusal::InvalidPage);
    }
    let page_size = parse_number(query.page_size.as_deref(), DEFAULT_PAGE_SIZE, "page_size")?
        .clamp(1, MAX_PAGE_SIZE);
    let kind = query.integration_type.as_deref().filter(|k| !k.is_empty());
    let mut docs: Vec<Doc> = visible(&shared, grant)
        .into_iter()
        .filter(|d| kind.is_none_or(|k| d.integration_type == k))
        .collect();
    docs.sort_by_key(|d| d.id);
    let count = docs.len();
    let pages = count.div_ceil(page_size).max(1);
    if page > pages {
        return Err(Refusal::InvalidPage);
    }
    let link = |page: usize| {
        let mut url = shared.base_url.clone();
        url.set_path("/api/v1/documents/");
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("page", &page.to_string());
            pairs.append_pair("page_size", &page_size.to_string());
            if let Some(kind) = kind {
                pairs.append_pair("integration_type", kind);
            }
        }
        url.to_string()
    };
    let results: Vec<Value> = docs
        .iter()
        .skip((page - 1) * page_size)
        .take(page_size)
        .map(Doc::to_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "count": count,
        "next": (page < pages).then(|| link(page + 1)),
        "previous": (page > 1).then(|| link(page - 1)),
        "results": results,
    })))
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
    n: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 1)
        .map(str::to_lowercase)
        .collect()
}

fn parse_instant(raw: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, Refusal> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => OffsetDateTime::parse(raw, &Rfc3339)
            .map(Some)
            .map_err(|_| bad_request(&format!("{name} must be an ISO 8601 date-time."))),
    }
}

/// A `from`/`to` pair as a closed interval, whichever order the client sent them in: the docs'
/// parameter table and their code samples disagree on which bound is the earlier.
fn interval(a: OffsetDateTime, b: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    (a.min(b), a.max(b))
}

async fn search(
    req: HttpRequest,
    query: Option<web::Query<SearchQuery>>,
    shared: web::Data<Shared>,
) -> Answer {
    let grant = authorize(&req, &shared)?;
    let Some(query) = query else {
        return Err(bad_request("Malformed query string."));
    };
    let q = query.q.as_deref().unwrap_or("").trim();
    if q.is_empty() {
        return Err(bad_request("q is required."));
    }
    let n = parse_number(query.n.as_deref(), 3, "n")?.clamp(1, 50);
    let from = parse_instant(query.from.as_deref(), "from")?;
    let to = parse_instant(query.to.as_deref(), "to")?;
    let (earliest, latest) = interval(
        from.unwrap_or(OffsetDateTime::UNIX_EPOCH),
        to.unwrap_or(OffsetDateTime::now_utc() + time::Duration::days(1)),
    );
    let terms = words(q);
    let mut hits: Vec<(f64, usize, Doc, String)> = Vec::new();
    for doc in visible(&shared, grant) {
        if doc.last_activity < earliest || doc.last_activity > latest {
            continue;
        }
        for (index, chunk) in doc.chunks().into_iter().enumerate() {
            let chunk_words = words(&chunk);
            let matched = terms.iter().filter(|t| chunk_words.contains(t)).count();
            if matched > 0 && !terms.is_empty() {
                let score = matched as f64 / terms.len() as f64;
                hits.push((score, index, doc.clone(), chunk));
            }
        }
    }
    hits.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.2.id.cmp(&b.2.id))
            .then(a.1.cmp(&b.1))
    });
    hits.truncate(n);
    let distance = |score: f64| ((1.0 - score * 0.9) * 1000.0).round() / 1000.0;
    if shared.config.search_shape_2024 {
        let data: Vec<Value> = hits
            .iter()
            .map(|(score, index, doc, chunk)| {
                let mut document = doc.to_hit_json();
                // The 2024 file: size typed as a string, no indexed_on, the whole integration.
                document["size"] = json!(doc.size.to_string());
                if let Some(fields) = document.as_object_mut() {
                    fields.remove("indexed_on");
                }
                document["integration"] = integration_json(&shared, doc.integration_type);
                json!({
                    "chunk_id": format!("{}-{index}", doc.id),
                    "document": document,
                    "matched_content": chunk,
                    "distance": distance(*score),
                })
            })
            .collect();
        return Ok(HttpResponse::Ok().json(json!({"data": data, "message": "OK", "code": null})));
    }
    // Distinct documents per source, in order of first appearance.
    let mut sources: Vec<(&'static str, Vec<u64>)> = Vec::new();
    for (_, _, doc, _) in &hits {
        let name = data::source_name(doc.integration_type);
        match sources.iter_mut().find(|(n, _)| *n == name) {
            Some((_, ids)) if !ids.contains(&doc.id) => ids.push(doc.id),
            Some(_) => {}
            None => sources.push((name, vec![doc.id])),
        }
    }
    let data_sources: Vec<Value> = sources
        .iter()
        .map(|(name, ids)| json!({"name": name, "documents": ids.len()}))
        .collect();
    let matched_chunks: Vec<Value> = hits
        .iter()
        .map(|(score, _, doc, chunk)| {
            json!({
                "document": doc.to_hit_json(),
                "matched_content": chunk,
                "distance": distance(*score),
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "data_sources": data_sources,
        "matched_chunks": matched_chunks,
    })))
}

#[derive(Deserialize)]
struct DiscussionQuery {
    integration_type: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// `GET /api/v1/discussions/{pk}/contents/`: a channel's main messages and threads in a window
/// (by default the 7 days before now), in the docs' line format.
async fn discussion_contents(
    req: HttpRequest,
    path: web::Path<String>,
    query: Option<web::Query<DiscussionQuery>>,
    shared: web::Data<Shared>,
) -> Answer {
    let grant = authorize(&req, &shared)?;
    let Some(query) = query else {
        return Err(bad_request("Malformed query string."));
    };
    let kind = query.integration_type.as_deref().unwrap_or("");
    if !matches!(kind, "slack" | "discord") {
        return Err(bad_request("integration_type must be slack or discord."));
    }
    let id = path.parse::<u64>().map_err(|_| Refusal::NotFound)?;
    let doc = visible(&shared, grant)
        .into_iter()
        .find(|d| d.id == id && d.integration_type == kind)
        .ok_or(Refusal::NotFound)?;
    let from =
        parse_instant(query.from.as_deref(), "from")?.unwrap_or_else(OffsetDateTime::now_utc);
    let to = parse_instant(query.to.as_deref(), "to")?.unwrap_or(from - time::Duration::days(7));
    let (earliest, latest) = interval(from, to);
    let line = |m: &data::ChannelMessage| {
        format!(
            "{} [{}]: {}",
            m.author,
            data::line_time(m.posted_at),
            m.text
        )
    };
    let mut messages: Vec<data::ChannelMessage> = doc
        .channel_messages()
        .into_iter()
        .filter(|m| m.posted_at >= earliest && m.posted_at <= latest)
        .collect();
    messages.reverse(); // chronological
    let discussion_content = messages.iter().map(line).collect::<Vec<_>>().join("\n");
    let thread_contents: serde_json::Map<String, Value> = messages
        .iter()
        .filter(|m| !m.replies.is_empty())
        .map(|m| {
            let replies = m.replies.iter().map(line).collect::<Vec<_>>().join("\n");
            (data::iso(m.posted_at), Value::String(replies))
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "discussion_content": discussion_content,
        "thread_contents": thread_contents,
    })))
}

#[derive(Deserialize)]
struct ContentsQuery {
    start_chunk: Option<String>,
    end_chunk: Option<String>,
}

async fn contents(
    req: HttpRequest,
    path: web::Path<String>,
    query: Option<web::Query<ContentsQuery>>,
    shared: web::Data<Shared>,
) -> Answer {
    let grant = authorize(&req, &shared)?;
    let id = path.parse::<u64>().map_err(|_| Refusal::NotFound)?;
    // Channels are discussions: they have no chunked contents (the real API answers 404 too).
    let doc = visible(&shared, grant)
        .into_iter()
        .find(|d| d.id == id && !d.is_discussion())
        .ok_or(Refusal::NotFound)?;
    let Some(query) = query else {
        return Err(bad_request("Malformed query string."));
    };
    let start = parse_number(query.start_chunk.as_deref(), 0, "start_chunk")?;
    let requested_end = parse_number(
        query.end_chunk.as_deref(),
        start.saturating_add(MAX_CHUNKS_PER_CALL),
        "end_chunk",
    )?;
    let chunks = doc.chunks();
    if start >= chunks.len() {
        return Ok(HttpResponse::Ok().json(json!({"content": "", "end_chunk": start})));
    }
    let end = requested_end
        .min(start.saturating_add(MAX_CHUNKS_PER_CALL))
        .min(chunks.len())
        .max(start);
    Ok(HttpResponse::Ok().json(json!({"content": chunks[start..end].concat(), "end_chunk": end})))
}

async fn common_knowledge(req: HttpRequest, shared: web::Data<Shared>) -> Answer {
    authorize(&req, &shared)?;
    Ok(HttpResponse::Ok().json(json!([
        {"id": 1, "name": "Rust standard library docs", "description": "Public knowledge", "num_of_subscribers": 120},
        {"id": 2, "name": "OAuth 2.0 RFCs", "description": "RFC 6749, 7636 and 9700", "num_of_subscribers": 48},
    ])))
}

#[derive(Deserialize)]
struct MemorizeBody {
    name: Option<String>,
    content: Option<String>,
}

async fn memorize(
    req: HttpRequest,
    body: Result<web::Json<MemorizeBody>, actix_web::Error>,
    shared: web::Data<Shared>,
) -> Answer {
    authorize(&req, &shared)?;
    let body = body.map_err(|_| bad_request("The body must be JSON with name and content."))?;
    let name = body.name.as_deref().unwrap_or("").trim().to_owned();
    let content = body.content.as_deref().unwrap_or("").trim().to_owned();
    if name.is_empty() || content.is_empty() {
        return Err(bad_request("name and content are required."));
    }
    if content.chars().count() > MAX_MEMORIZE_CHARS || name.chars().count() > 500 {
        return Err(bad_request("The note is too long."));
    }
    {
        let mut st = shared.lock();
        if st.memorized.len() >= super::MAX_MEMORIZED {
            return Err(bad_request("Embedding quota exceeded."));
        }
        let id = 10_000 + st.memorized.len() as u64 + 1;
        let doc = Doc {
            id,
            document_id: format!("memory-{id:06}"),
            name,
            kind: "text/plain",
            path: format!("/memory/{id}"),
            url: String::new(),
            integration_type: "memory",
            source: "Rememberizer",
            status: "indexed",
            indexed_on: Some("2026-01-01T00:00:00Z".to_owned()),
            size: content.len() as u64,
            memento_ids: vec![],
            content,
            created_time: data::iso(OffsetDateTime::now_utc()),
            last_activity: OffsetDateTime::now_utc(),
        };
        st.memorized.push(doc);
    };
    // The docs' prose: "201 Created with no response body" (their schema shows a 200 with JSON;
    // the app accepts both).
    Ok(HttpResponse::Created().finish())
}
