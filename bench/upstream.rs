//! A Rememberizer stand-in that costs almost nothing: canned answers, read from files once and
//! served from memory, for measuring the app's own cost (`bash bench/run.sh`, second table).
//!
//! `bench-upstream BIND DIR` serves, whatever the query or token:
//! - `GET /api/v1/account/`, `/documents/`, `/integrations/`, `/documents/search/`,
//!   `/documents/{pk}/contents/` → `DIR/account.json`, `documents.json`, `integrations.json`,
//!   `search.json`, `contents.json` (the run script saves them from the simulator, so the payloads
//!   are the same as in the first table);
//! - `POST /api/v1/auth/oauth2/authorize/` (the consent form) → 302 to `redirect_uri` with a
//!   code and the form's `state`;
//! - `POST /api/v1/auth/oauth2/token/` → a token response (an hour, a refresh token);
//! - `POST /v1/chat/completions` → an answer streamed as OpenAI's chunks: `BENCH_PIECES` pieces
//!   (default 40, citing passages 1 and 2) spread evenly over `BENCH_MODEL_MS` (default 2000):
//!   a model that writes over a fixed time, whatever the load.
//!
//! One worker thread, no logging, no checks: not a simulator, a bound.

use std::collections::HashMap;
use std::path::PathBuf;

use actix_web::http::header::{CONTENT_TYPE, LOCATION};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;

struct Canned {
    files: HashMap<&'static str, Bytes>,
    token: Bytes,
    /// The streamed answer's events, the role chunk first and `[DONE]` last.
    pieces: Vec<Bytes>,
    /// The pause before each content piece.
    piece_delay: std::time::Duration,
}

/// `POST /v1/chat/completions` with `"stream": true`, whatever is asked.
async fn chat(canned: web::Data<Canned>) -> HttpResponse {
    let events = futures_util::stream::unfold((canned, 0), |(canned, next)| async move {
        let event = canned.pieces.get(next)?.clone();
        // Content pieces (not the role chunk, the finish chunk or `[DONE]`) wait their turn.
        if next > 0 && next < canned.pieces.len() - 2 {
            tokio::time::sleep(canned.piece_delay).await;
        }
        Some((Ok::<_, std::convert::Infallible>(event), (canned, next + 1)))
    });
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/event-stream"))
        .streaming(events)
}

/// The events of an answer of `count` pieces, in OpenAI's chunk shape.
fn streamed_answer(count: usize) -> Vec<Bytes> {
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let chunk = serde_json::json!({
            "id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": "bench", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        Bytes::from(format!("data: {chunk}\n\n"))
    };
    let mut events = vec![chunk(
        serde_json::json!({"role": "assistant", "content": ""}),
        None,
    )];
    for n in 0..count {
        let piece = match n % 10 {
            4 => " [1]".to_owned(),
            9 => " [2].".to_owned(),
            _ => format!(" word{n}"),
        };
        events.push(chunk(serde_json::json!({ "content": piece }), None));
    }
    events.push(chunk(serde_json::json!({}), Some("stop")));
    events.push(Bytes::from_static(b"data: [DONE]\n\n"));
    events
}

fn json(body: &Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .body(body.clone())
}

async fn api(req: HttpRequest, canned: web::Data<Canned>) -> HttpResponse {
    let path = req.path();
    let name = match path {
        "/api/v1/account/" => "account",
        "/api/v1/documents/" => "documents",
        "/api/v1/integrations/" => "integrations",
        "/api/v1/documents/search/" => "search",
        p if p.starts_with("/api/v1/documents/") && p.ends_with("/contents/") => "contents",
        _ => return HttpResponse::NotFound().finish(),
    };
    json(&canned.files[name])
}

async fn consent(form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let redirect = form.get("redirect_uri").cloned().unwrap_or_default();
    let Ok(mut url) = url::Url::parse(&redirect) else {
        return HttpResponse::BadRequest().finish();
    };
    url.query_pairs_mut()
        .append_pair("code", "bench-code")
        .append_pair("state", form.get("state").map_or("", String::as_str));
    HttpResponse::Found()
        .insert_header((LOCATION, url.as_str()))
        .finish()
}

async fn token_endpoint(canned: web::Data<Canned>) -> HttpResponse {
    json(&canned.token)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [bind, dir] = args.as_slice() else {
        anyhow::bail!("usage: bench-upstream BIND DIR");
    };
    let dir = PathBuf::from(dir);
    let mut files = HashMap::new();
    for name in ["account", "documents", "integrations", "search", "contents"] {
        let path = dir.join(format!("{name}.json"));
        let body = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        files.insert(name, Bytes::from(body));
    }
    // As long as the simulator's (1 600 characters), so that headers cost the same.
    let access_token = "a".repeat(1600);
    let token = Bytes::from(
        serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": "bench-refresh-token",
            "scope": "offline_access",
        })
        .to_string(),
    );
    let number = |name: &str, default: u64| -> anyhow::Result<u64> {
        std::env::var(name).map_or(Ok(default), |v| v.parse().with_context(|| name.to_owned()))
    };
    let count = number("BENCH_PIECES", 40)?.max(1) as usize;
    let piece_delay =
        std::time::Duration::from_millis(number("BENCH_MODEL_MS", 2000)?) / count as u32;
    let canned = web::Data::new(Canned {
        files,
        token,
        pieces: streamed_answer(count),
        piece_delay,
    });
    HttpServer::new(move || {
        App::new()
            .app_data(canned.clone())
            .route("/api/v1/auth/oauth2/authorize/", web::post().to(consent))
            .route("/api/v1/auth/oauth2/token/", web::post().to(token_endpoint))
            .route("/v1/chat/completions", web::post().to(chat))
            .default_service(web::to(api))
    })
    .workers(1)
    .bind(bind.as_str())?
    .run()
    .await?;
    Ok(())
}
