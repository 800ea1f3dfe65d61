//! The person's Memoram dashboard, where the user (the signed-in demo user) approves, rejects or
//! revokes the apps' access requests and rotates their encryption key. Plain HTML forms, no
//! script; every action answers 303 back to the dashboard.
//!
//! Buttons have stable ids for WebDriver tests: `approve-<request id>`, `reject-<request id>`,
//! `revoke-<request id>` and `rotate-key` (and name/value pairs: `approve=<request id>`, …).

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use serde_json::json;

use super::data::{Blob, RequestStatus};
use super::oauth::{error_page, render};
use super::{iso, Shared};

pub const PATH: &str = "/dashboard";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route(PATH, web::get().to(page))
        .route("/dashboard/rotate-key", web::post().to(rotate_key))
        .route("/dashboard/requests/{id}/{action}", web::post().to(decide));
}

fn back_to_dashboard() -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, PATH))
        .finish()
}

/// `GET /`: the person's entry point is their dashboard.
async fn home() -> HttpResponse {
    back_to_dashboard()
}

async fn page(shared: web::Data<Shared>) -> HttpResponse {
    let st = shared.lock();
    let user = &st.users[0];
    let requests: Vec<_> = st
        .access_requests
        .iter()
        .rev()
        .filter(|r| r.user_id == user.user_id)
        .map(|r| {
            json!({
                "id": r.id,
                "app": shared.connector_name(&r.connector_id),
                "connector_id": r.connector_id,
                "reason": r.reason,
                "status": r.status.as_str(),
                "created": iso(r.created_at),
                "updated": iso(r.updated_at),
                "pending": r.status == RequestStatus::Pending,
                "approved": r.status == RequestStatus::Approved,
            })
        })
        .collect();
    let mut blobs: Vec<&Blob> = st
        .blobs
        .iter()
        .filter(|b| b.user_id == user.user_id)
        .collect();
    blobs.sort_by_key(|b| std::cmp::Reverse(b.seq));
    let memories: Vec<_> = blobs
        .iter()
        .map(|b| {
            json!({
                "title": b.title.as_deref().unwrap_or("(untitled)"),
                "tags": st.tag_names(&b.tag_ids).join(", "),
                "created": iso(b.created_at),
            })
        })
        .collect();
    let mut context = tera::Context::new();
    context.insert("user_name", &user.name);
    context.insert("user_email", &user.email);
    context.insert("user_id", &user.user_id);
    context.insert("memory_key", &user.memory_key);
    context.insert("key_version", &user.key_version);
    context.insert("requests", &requests);
    context.insert("memories", &memories);
    render("dashboard.html", &context, StatusCode::OK)
}

async fn decide(path: web::Path<(String, String)>, shared: web::Data<Shared>) -> HttpResponse {
    let (id, action) = path.into_inner();
    let to = match action.as_str() {
        "approve" => RequestStatus::Approved,
        "reject" => RequestStatus::Rejected,
        "revoke" => RequestStatus::Revoked,
        _ => return error_page(StatusCode::NOT_FOUND, "Unknown action."),
    };
    let mut st = shared.lock();
    let demo_user = st.users[0].user_id.clone();
    if !st
        .access_requests
        .iter()
        .any(|r| r.id == id && r.user_id == demo_user)
    {
        return error_page(StatusCode::NOT_FOUND, "Unknown access request.");
    }
    // A decision that no longer applies (a double click, a stale page) changes nothing.
    st.transition(&id, to);
    back_to_dashboard()
}

async fn rotate_key(shared: web::Data<Shared>) -> HttpResponse {
    let mut st = shared.lock();
    let user_id = st.users[0].user_id.clone();
    st.rotate_key(&user_id);
    back_to_dashboard()
}
