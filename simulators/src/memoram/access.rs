//! Access requests: the app asks for a user's memories by their memory key; the user decides in
//! their dashboard; once approved, the app may read the user's credentials (and their blobs).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::data::{self, AccessRequest, RequestStatus};
use super::error::{bad_request, forbidden, not_found, ApiResult};
use super::{auth, now, Shared, MAX_ACCESS_REQUESTS};

/// The docs' "Maximum length: 255" of `reason`, in characters.
const MAX_REASON_CHARS: usize = 255;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/v1/access-requests", web::post().to(create))
        .route("/api/v1/access-requests", web::get().to(list))
        .route("/api/v1/access-requests/{id}", web::get().to(get))
        .route(
            "/api/v1/access-requests/{id}/credentials",
            web::get().to(credentials),
        );
}

#[derive(Deserialize)]
struct CreateBody {
    #[serde(rename = "memoryKey")]
    memory_key: Option<String>,
    reason: Option<String>,
}

async fn create(req: HttpRequest, body: web::Bytes, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let body: CreateBody = serde_json::from_slice(&body)
        .map_err(|e| bad_request(format!("Invalid JSON body: {e}")))?;
    let memory_key = body
        .memory_key
        .filter(|k| !k.trim().is_empty())
        .ok_or_else(|| bad_request("memoryKey is required."))?;
    let reason = body.reason.unwrap_or_default();
    if reason.trim().is_empty() {
        return Err(bad_request("reason is required."));
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(bad_request(format!(
            "reason must be at most {MAX_REASON_CHARS} characters."
        )));
    }
    let mut st = shared.lock();
    let user_id = st
        .users
        .iter()
        .find(|u| u.memory_key == memory_key)
        .map(|u| u.user_id.clone())
        .ok_or_else(|| not_found("Memory key"))?;
    if st.access_requests.len() >= MAX_ACCESS_REQUESTS {
        return Err(bad_request("Access request quota exceeded."));
    }
    let created = now();
    let request = AccessRequest {
        id: data::request_id(),
        connector_id: connector,
        user_id,
        memory_key,
        reason,
        status: if st.auto_approve {
            RequestStatus::Approved
        } else {
            RequestStatus::Pending
        },
        created_at: created,
        updated_at: created,
    };
    let body = request.to_json();
    st.access_requests.push(request);
    Ok(HttpResponse::Created().json(body))
}

async fn list(req: HttpRequest, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let st = shared.lock();
    let items: Vec<Value> = st
        .access_requests
        .iter()
        .rev()
        .filter(|r| r.connector_id == connector)
        .map(AccessRequest::to_json)
        .collect();
    Ok(HttpResponse::Ok().json(json!({"total": items.len(), "items": items})))
}

/// This connector's request with this id; another connector's is as unknown as a missing one.
fn find<'a>(
    requests: &'a [AccessRequest],
    connector: &str,
    id: &str,
) -> Result<&'a AccessRequest, super::error::ApiError> {
    requests
        .iter()
        .find(|r| r.id == id && r.connector_id == connector)
        .ok_or_else(|| not_found("Access request"))
}

async fn get(req: HttpRequest, path: web::Path<String>, shared: web::Data<Shared>) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let st = shared.lock();
    let request = find(&st.access_requests, &connector, &path)?;
    Ok(HttpResponse::Ok().json(request.to_json()))
}

async fn credentials(
    req: HttpRequest,
    path: web::Path<String>,
    shared: web::Data<Shared>,
) -> ApiResult {
    let connector = auth::connector_for(&req, &shared)?;
    let st = shared.lock();
    let request = find(&st.access_requests, &connector, &path)?;
    if request.status != RequestStatus::Approved {
        return Err(forbidden(format!(
            "The access request is {}; credentials are available only once it is approved.",
            request.status.as_str()
        )));
    }
    let user = st.user(&request.user_id).ok_or_else(|| not_found("User"))?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(json!({
            "user_id": user.user_id,
            "memory_key": user.memory_key,
            "encryption_key": hex::encode(user.key),
            "key_version": user.key_version,
        })))
}
