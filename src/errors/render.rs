//! Error responses as the browser gets them: the security headers, the page every 4xx/5xx
//! renders (`render_error_page`), and the answer when the session store is down.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header;
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpResponse};
use tracing_actix_web::RequestId;

use super::*;

/// Headers every response carries (HSTS is added on top when the app is served over https).
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    // The callback URL carries a code and state: never leak it through Referer.
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    (
        "Permissions-Policy",
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    // Pages show account data: no caching anywhere (static files set their own policy).
    ("Cache-Control", "no-store"),
];

/// Middleware right around the session middleware. When the session store fails (Redis down or
/// slow), actix-session fails the whole request with an error that skips every other middleware;
/// this answers the app's "sessions are unavailable" page instead, with a 503, the security
/// headers and the request id. (It never clones the request before routing: a cloned
/// `HttpRequest` cannot be routed.)
pub async fn session_store_unavailable(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let templates = request.app_data::<web::Data<Templates>>().cloned();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    let retry_href = retry_href(request.uri());
    next.call(request).await.map_err(|error| {
        tracing::error!(%error, "the session store failed");
        let (page, _) = AppError::SessionStore.page();
        let mut response = HttpResponse::ServiceUnavailable();
        for header in SECURITY_HEADERS {
            response.insert_header(*header);
        }
        if !request_id.is_empty() {
            response.insert_header((crate::telemetry::REQUEST_ID_HEADER, request_id.as_str()));
        }
        let response = match templates
            .and_then(|t| t.error_page(&page, &retry_href, &request_id, None).ok())
        {
            Some(html) => response.content_type("text/html; charset=utf-8").body(html),
            None => response
                .content_type("text/plain; charset=utf-8")
                .body(format!("{}: {}", page.title, page.message)),
        };
        InternalError::from_response(AppError::SessionStore, response).into()
    })
}

/// Where an error page's "Try again" leads: the same address, with two exceptions.
/// - A failed OAuth callback (`/auth/<provider>/callback`) cannot be retried: its `state` is
///   spent, and repeating it would put the authorization code in a link. Trying again means
///   starting a new flow (`/auth/<provider>`).
/// - Only a path of this app: a request for `//evil.example/x` must not render a link that the
///   browser reads as another origin (protocol-relative), so anything not starting with a single
///   `/` leads home.
pub fn retry_href(uri: &actix_web::http::Uri) -> String {
    let path = uri.path();
    if let Some(start) = path.strip_suffix("/callback").filter(|start| {
        start.starts_with("/auth/") && start[6..].chars().all(|c| c.is_ascii_lowercase())
    }) {
        return start.to_owned();
    }
    let same_origin = path.starts_with('/') && !path.starts_with("//") && !path.contains('\\');
    match uri.path_and_query() {
        Some(pq) if same_origin => pq.as_str().to_owned(),
        _ => "/".to_owned(),
    }
}

/// The navigation of a connected browser's pages (the menu, Log out and its CSRF token), put on
/// an error response by the middleware that can read the session (`routes::error_page_chrome`,
/// inside the session middleware, which this handler is outside of): an error page keeps the
/// menu, so a connected person does not look logged out.
#[derive(Clone)]
pub struct PageChrome(pub tera::Context);

/// `ErrorHandlers` default handler: renders `error.html` for any error response that does not
/// already carry an HTML page or a JSON document (`/readyz` answers JSON on purpose), with the
/// navigation of a connected browser ([`PageChrome`]) when the response carries it.
pub fn render_error_page<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let keep = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html") || v.starts_with("application/json"));
    if keep {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let page = res
        .response()
        .extensions()
        .get::<ErrorPage>()
        .cloned()
        .unwrap_or_else(|| ErrorPage::for_status(status));
    let chrome = res.response().extensions().get::<PageChrome>().cloned();
    let (req, res) = res.into_parts();
    let retry_href = retry_href(req.uri());
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    let html = req
        .app_data::<web::Data<Templates>>()
        .and_then(|templates| {
            templates
                .error_page(&page, &retry_href, &request_id, chrome.map(|c| c.0))
                .ok()
        });
    let mut new = HttpResponse::build(status);
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.append_header((name.clone(), value.clone()));
        }
    }
    let new = match html {
        Some(html) => new.content_type("text/html; charset=utf-8").body(html),
        // Only if the templates themselves are broken: plain text, still no internals.
        None => new
            .content_type("text/plain; charset=utf-8")
            .body(format!("{}: {}", page.title, page.message)),
    };
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_links_stay_on_this_origin_and_never_repeat_a_callback() {
        let href = |raw: &str| retry_href(&raw.parse().expect("uri"));
        assert_eq!(href("/dashboard?page=2"), "/dashboard?page=2");
        assert_eq!(
            href("/auth/rememberizer/callback?code=abc&state=xyz"),
            "/auth/rememberizer"
        );
        assert_eq!(href("//evil.example/x"), "/");
        assert_eq!(href("/\\evil.example/x"), "/");
        assert_eq!(href("http://evil.example/x"), "/x");
    }
}
