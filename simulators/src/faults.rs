//! Fault injection: what a real provider also does (slow answers, 5xx, 429, HTML, huge or cut
//! bodies), switched on per path prefix by the tests through `SimulatorHandle::set_fault` (or
//! `MemoramHandle::set_fault`). Each simulator keeps a [`FaultTable`] and a request counter in its
//! state and implements [`FaultSource`]; [`apply`] is the one middleware for both.

use std::collections::HashMap;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody, SizedStream};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use futures_util::stream;

use super::{MAX_COUNTED_PATHS, OTHER_PATHS};

#[derive(Clone, Debug, Default)]
pub struct Fault {
    /// Sleep before answering.
    pub delay: Option<Duration>,
    /// Sleep after the real handler ran, before the answer leaves: the request took effect
    /// (a code spent, a refresh token rotated) but its answer is late.
    pub delay_after: Option<Duration>,
    /// Answer with this status instead of the real handler.
    pub status: Option<u16>,
    /// Add `Retry-After: N` (seconds).
    pub retry_after: Option<u64>,
    pub body: FaultBody,
    /// Apply to this many more requests, then disappear; `None` = until cleared.
    pub remaining: Option<usize>,
}

#[derive(Clone, Debug, Default)]
pub enum FaultBody {
    /// A JSON error fitting the status; with no status, the real handler answers.
    #[default]
    Json,
    /// An HTML error page like a proxy's (status from `status`, default 502).
    Html,
    /// A 200 JSON-looking body of this many bytes, streamed.
    Oversized(usize),
    /// Headers and the start of a body, then the connection breaks.
    Truncated,
    /// The status (default 204) with an empty body, as some servers answer a POST.
    Empty,
}

/// The faults switched on, by path prefix.
#[derive(Default)]
pub struct FaultTable(Vec<(String, Fault)>);

impl FaultTable {
    /// Applies `fault` to every request whose path starts with `path_prefix` (replacing the
    /// fault set for that prefix before).
    pub fn set(&mut self, path_prefix: &str, fault: Fault) {
        self.0.retain(|(prefix, _)| prefix != path_prefix);
        self.0.push((path_prefix.to_owned(), fault));
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The fault for `path`, if any, counting it down.
    pub fn take(&mut self, path: &str) -> Option<Fault> {
        let index = self
            .0
            .iter()
            .position(|(prefix, _)| path.starts_with(prefix.as_str()))?;
        let fault = self.0[index].1.clone();
        if let Some(remaining) = &mut self.0[index].1.remaining {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                self.0.remove(index);
            }
        }
        Some(fault)
    }
}

/// A simulator's shared state (its `web::Data`), as the middleware sees it.
pub trait FaultSource: 'static {
    /// Counts a request for `path`, then returns the fault to apply to it, if any.
    fn take_fault(&self, path: &str) -> Option<Fault>;
}

/// Counts a request for `path`; beyond `MAX_COUNTED_PATHS` distinct paths, under `OTHER_PATHS`.
pub fn count_request(counts: &mut HashMap<String, usize>, path: &str) {
    let key = if counts.contains_key(path) || counts.len() < MAX_COUNTED_PATHS {
        path
    } else {
        OTHER_PATHS
    };
    *counts.entry(key.to_owned()).or_default() += 1;
}

/// Counts the request, then applies a matching fault, if any.
pub async fn apply<S: FaultSource>(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let fault = req
        .app_data::<web::Data<S>>()
        .and_then(|shared| shared.take_fault(req.path()));
    if let Some(fault) = fault {
        if let Some(delay) = fault.delay {
            tokio::time::sleep(delay).await;
        }
        if let Some(response) = response_for(&fault) {
            return Ok(req.into_response(response));
        }
        if let Some(delay) = fault.delay_after {
            let response = next.call(req).await?;
            tokio::time::sleep(delay).await;
            return Ok(response.map_into_boxed_body());
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

fn response_for(fault: &Fault) -> Option<HttpResponse> {
    let status = |default: u16| {
        StatusCode::from_u16(fault.status.unwrap_or(default)).unwrap_or(StatusCode::BAD_GATEWAY)
    };
    let mut response = match &fault.body {
        FaultBody::Json => {
            let code = status(fault.status?);
            let mut builder = HttpResponse::build(code);
            builder.json(serde_json::json!({
                "detail": format!("Simulated fault: {}", code.canonical_reason().unwrap_or("error")),
            }))
        }
        FaultBody::Html => HttpResponse::build(status(502))
            .content_type("text/html; charset=utf-8")
            .body("<!doctype html><html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"),
        FaultBody::Oversized(size) => {
            let size = *size;
            let chunk = web::Bytes::from(vec![b' '; 64 * 1024]);
            let chunks = size.div_ceil(chunk.len());
            let body = stream::iter((0..chunks).map(move |i| {
                let remaining = size - i * chunk.len();
                Ok::<_, std::io::Error>(chunk.slice(..remaining.min(chunk.len())))
            }));
            HttpResponse::build(status(200))
                .content_type("application/json")
                .streaming(body)
        }
        FaultBody::Empty => HttpResponse::build(status(204)).finish(),
        FaultBody::Truncated => {
            let start = web::Bytes::from_static(br#"{"count": 40, "next": null, "results": [{"id": 1, "na"#);
            let body = stream::iter(vec![
                Ok(start),
                Err(std::io::Error::other("simulated connection reset")),
            ]);
            HttpResponse::build(status(200))
                .content_type("application/json")
                .body(SizedStream::new(4096, body))
        }
    };
    if let Some(seconds) = fault.retry_after {
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&seconds.to_string()) {
            response
                .headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, value);
        }
    }
    Some(response)
}
