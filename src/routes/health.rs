use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::state::AppState;

/// `GET /healthz`: liveness — the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// `GET /readyz`: readiness — the provider answers and the session store works. A load balancer
/// sends traffic only while this is 200.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let provider = state.api.probe().await;
    // The in-memory store lives in this process: if this handler runs, it is up.
    let session_store = match &state.redis {
        None => Ok(()),
        Some(redis) => redis.ping().await.map_err(|e| e.to_string()),
    };
    let ready = provider.is_ok() && session_store.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": {
            "provider": match &provider { Ok(()) => "ok".to_owned(), Err(e) => e.to_string() },
            "session_store": match &session_store { Ok(()) => "ok".to_owned(), Err(e) => e.clone() },
        },
    });
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
