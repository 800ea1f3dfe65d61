use actix_web::HttpResponse;

/// `GET /healthz`: liveness — the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}
