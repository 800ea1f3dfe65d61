//! How the API refuses a request: `{"error": "<code>", "message": "<sentence>"}` with the status.
//! The docs publish no error schema; this one is plausible and says what went wrong. (The OAuth
//! token endpoint answers RFC 6749 §5.2 errors instead, in `oauth`.)

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug)]
pub(super) enum ApiError {
    /// No developer JWT, or one unknown or expired (or a wrong API key at `/auth/token`).
    Unauthorized(&'static str),
    /// Authenticated, but not allowed: no approved access request, wrong memory key.
    Forbidden(String),
    NotFound(String),
    /// Malformed or invalid input.
    BadRequest(String),
}

pub(super) type ApiResult = Result<HttpResponse, ApiError>;

pub(super) fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest(message.into())
}

pub(super) fn forbidden(message: impl Into<String>) -> ApiError {
    ApiError::Forbidden(message.into())
}

pub(super) fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(format!("{what} not found."))
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Unauthorized(message) => f.write_str(message),
            ApiError::Forbidden(message)
            | ApiError::NotFound(message)
            | ApiError::BadRequest(message) => f.write_str(message),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let ApiError::Unauthorized(_) = self {
            // RFC 6750 §3: a bearer-protected resource names its scheme.
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
        }
        response.json(json!({"error": self.code(), "message": self.to_string()}))
    }
}

/// Any path the simulator does not serve.
pub(super) async fn not_found_route() -> HttpResponse {
    not_found("Resource").error_response()
}
