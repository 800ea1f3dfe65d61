use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde_json::json;
use tokio::sync::Mutex;

use crate::state::AppState;

/// How long a readiness answer is reused. `/readyz` needs no authentication, so without this
/// every hit would be an outbound call to the provider (and a Redis round trip).
pub const READINESS_TTL: Duration = Duration::from_secs(2);

/// The last readiness answer. The lock is held across a check, so concurrent hits wait for the
/// one check in progress instead of starting their own.
#[derive(Default)]
pub struct Readiness(Mutex<Option<(Instant, bool, serde_json::Value)>>);

/// `GET /healthz`: liveness — the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// `GET /readyz`: readiness — the provider answers and the session store works. A load balancer
/// sends traffic only while this is 200.
pub async fn readyz(state: web::Data<AppState>, readiness: web::Data<Readiness>) -> HttpResponse {
    let mut last = readiness.0.lock().await;
    let (ready, body) = match last.as_ref() {
        Some((checked, ready, body)) if checked.elapsed() < READINESS_TTL => (*ready, body.clone()),
        _ => {
            let (ready, body) = check(&state).await;
            *last = Some((Instant::now(), ready, body.clone()));
            (ready, body)
        }
    };
    drop(last);
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn check(state: &AppState) -> (bool, serde_json::Value) {
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
    (ready, body)
}
