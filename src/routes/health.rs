//! Liveness, readiness and the providers' health, for load balancers and operators.
//!
//! - `GET /healthz`: liveness — the process serves requests. `?details=1` adds what this
//!   instance sees of its dependencies (each provider's API, the session store), always with a
//!   200: a provider that is down is worth a look, not a restart.
//! - `GET /readyz`: readiness — this instance can serve (its session store answers). A provider
//!   that is down does not take instances out of a load balancer: the landing page, the static
//!   files and the other provider's pages still work, and each page says what is down.

use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::Mutex;

use crate::state::AppState;

/// How long an answer that asks a dependency is reused. Neither route needs authentication, so
/// without this every hit would be an outbound call (to a provider, or to Redis).
pub const READINESS_TTL: Duration = Duration::from_secs(2);

/// The last answer of a check. The lock is held across a check, so concurrent hits wait for the
/// one check in progress instead of starting their own.
#[derive(Default)]
pub struct Checked(Mutex<Option<(Instant, bool, serde_json::Value)>>);

/// The last readiness and health answers.
#[derive(Default)]
pub struct Readiness {
    ready: Checked,
    details: Checked,
}

impl Checked {
    async fn get_or_check<F: std::future::Future<Output = (bool, serde_json::Value)>>(
        &self,
        check: impl FnOnce() -> F,
    ) -> (bool, serde_json::Value) {
        let mut last = self.0.lock().await;
        match last.as_ref() {
            Some((checked, ok, body)) if checked.elapsed() < READINESS_TTL => (*ok, body.clone()),
            _ => {
                let (ok, body) = check().await;
                *last = Some((Instant::now(), ok, body.clone()));
                (ok, body)
            }
        }
    }
}

#[derive(Deserialize)]
pub struct HealthQuery {
    details: Option<String>,
}

/// `GET /healthz`: liveness; `?details=1`: the dependencies as this instance sees them.
pub async fn healthz(
    query: web::Query<HealthQuery>,
    state: web::Data<AppState>,
    readiness: web::Data<Readiness>,
) -> HttpResponse {
    // Only `details=1` asks for the report (and its calls upstream); `details=0`, an empty
    // value or anything else is the plain liveness answer.
    if query.details.as_deref().map(str::trim) != Some("1") {
        return HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok");
    }
    let (_, body) = readiness.details.get_or_check(|| details(&state)).await;
    HttpResponse::Ok().json(body)
}

/// `GET /readyz`: readiness — the session store answers. A load balancer sends traffic only
/// while this is 200.
pub async fn readyz(state: web::Data<AppState>, readiness: web::Data<Readiness>) -> HttpResponse {
    let (ready, body) = readiness.ready.get_or_check(|| ready(&state)).await;
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The session store (and Memoram's connections and Rememberizer's tokens, kept beside it).
async fn session_store(state: &AppState) -> Result<(), String> {
    // The in-memory store lives in this process: if this handler runs, it is up.
    match &state.redis {
        None => Ok(()),
        Some(redis) => redis.ping().await.map_err(|e| e.to_string()),
    }
}

async fn ready(state: &AppState) -> (bool, serde_json::Value) {
    let session_store = session_store(state).await;
    let ready = session_store.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "checks": { "session_store": outcome(&session_store) },
    });
    (ready, body)
}

async fn details(state: &AppState) -> (bool, serde_json::Value) {
    let memoram = async {
        match &state.memoram {
            Some(memoram) => Some(memoram.client.probe().await.map_err(|e| e.to_string())),
            None => None,
        }
    };
    let (rememberizer, memoram, session_store) = tokio::join!(
        async { state.api.probe().await.map_err(|e| e.to_string()) },
        memoram,
        session_store(state)
    );
    let mut providers = json!({ "rememberizer": outcome(&rememberizer) });
    if let Some(memoram) = &memoram {
        providers["memoram"] = outcome(memoram).into();
    }
    let body = json!({
        "status": "live",
        "ready": session_store.is_ok(),
        "checks": { "session_store": outcome(&session_store), "providers": providers },
    });
    (true, body)
}

fn outcome(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(error) => error.clone(),
    }
}
