//! The one place that builds outgoing HTTP clients and reads their responses.
//!
//! Both the OAuth token endpoint and the API go through here, so every call to the provider has
//! the same safety properties: no redirects followed (a redirect from a token endpoint is how
//! SSRF and token leaks happen; oauth2-rs warns about it), connect and total timeouts, a cap on
//! the response size, and a `User-Agent` ([`HttpSettings::user_agent`]: name your app there).

use std::time::Duration;

use tracing::Instrument;

/// The `User-Agent` unless [`HttpSettings::user_agent`] says otherwise: this crate and its version.
pub const DEFAULT_USER_AGENT: &str = concat!("actix-oauth-client/", env!("CARGO_PKG_VERSION"));

/// Limits for every outgoing HTTP call (token endpoint and API alike), and the name it goes by.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// How long a connection may take to open.
    pub connect_timeout: Duration,
    /// How long a whole request may take, body included.
    pub request_timeout: Duration,
    /// The largest response body read; a larger one is an error.
    pub max_response_bytes: usize,
    /// The `User-Agent` header: your app's name and version, so that the provider can tell
    /// whose calls these are.
    pub user_agent: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 2 * 1024 * 1024,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

/// The one outgoing HTTP client: redirects never followed, [`HttpSettings`]' timeouts, size cap
/// and `User-Agent`. Cheap to clone (clones share one connection pool).
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::Client,
    max_response_bytes: usize,
}

/// Why an outgoing call gave no response to read. No variant holds the request's URL (its query
/// may hold what a person typed).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A timeout passed: [`HttpSettings`]' connect or request timeout, or the request's own.
    #[error("the request timed out")]
    Timeout,
    /// No connection could be opened to the server.
    #[error("could not connect")]
    Connect(#[source] reqwest::Error),
    /// The body was larger than the cap (given here, in bytes), or announced itself so.
    #[error("the response was larger than {0} bytes")]
    TooLarge(usize),
    /// The token endpoint answered 5xx or 429 (only from [`HttpClient::execute_oauth2`]).
    #[error("the server answered {0}")]
    Status(reqwest::StatusCode),
    /// Anything else: a request that could not be built, a connection broken mid-answer.
    #[error("the request failed")]
    Other(#[source] reqwest::Error),
}

impl From<reqwest::Error> for HttpError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's errors print their URL, whose query can hold a user's search question (or
        // anything else a page sent upstream): errors are logged, so the URL is dropped here.
        let e = e.without_url();
        if e.is_timeout() {
            HttpError::Timeout
        } else if e.is_connect() {
            HttpError::Connect(e)
        } else {
            HttpError::Other(e)
        }
    }
}

/// A response whose body has been read completely (and within the size cap).
#[derive(Debug)]
pub struct FetchedResponse {
    /// The status as sent, whatever it is (a 3xx is returned, never followed).
    pub status: reqwest::StatusCode,
    /// The response's headers.
    pub headers: reqwest::header::HeaderMap,
    /// The whole body, at most `max_response_bytes` long.
    pub body: Vec<u8>,
}

impl HttpClient {
    /// A client with `settings`, following no redirect and closing connections idle for 30 s.
    /// Fails when `settings.user_agent` is not a valid header value, or reqwest cannot start its
    /// TLS backend.
    pub fn new(settings: &HttpSettings) -> Result<Self, reqwest::Error> {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.request_timeout)
            .user_agent(settings.user_agent.as_str())
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self {
            inner,
            max_response_bytes: settings.max_response_bytes,
        })
    }

    /// A request on this client, to be sent with [`HttpClient::send`] (or [`HttpClient::open`]),
    /// which keep the size cap and trace the call.
    pub fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        self.inner.request(method, url)
    }

    /// Sends a request and reads the body, refusing bodies over the cap without buffering them.
    /// Each call is a child span of the request span, with method, path, status and duration
    /// (the path only: a query string is no business of the logs).
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<FetchedResponse, HttpError> {
        let (client, request) = request.build_split();
        let request = request.map_err(HttpError::from)?;
        let span = upstream_span(&request);
        let result = self.fetch(client, request).instrument(span.clone()).await;
        match &result {
            Ok(response) => span.record("http.status_code", response.status.as_u16()),
            Err(error) => span.record("error", tracing::field::display(error)),
        };
        result
    }

    async fn fetch(
        &self,
        client: reqwest::Client,
        request: reqwest::Request,
    ) -> Result<FetchedResponse, HttpError> {
        let mut response = client.execute(request).await?;
        let announced = response.content_length();
        if announced.is_some_and(|len| len > self.max_response_bytes as u64) {
            return Err(HttpError::TooLarge(self.max_response_bytes));
        }
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        // Sized once from the announced length (up to 256 KiB: an announcement is not a
        // promise), so that the chunks do not make the buffer grow and copy itself.
        let mut body = Vec::with_capacity(announced.map_or(0, |len| len.min(256 * 1024) as usize));
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(HttpError::TooLarge(self.max_response_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(FetchedResponse {
            status,
            headers,
            body,
        })
    }

    /// Sends a request and returns the response as soon as its head has arrived, its body still
    /// to be read: for an answer streamed as it is written (`llm`). Whoever reads it keeps the
    /// size cap (`max_response_bytes`).
    pub async fn open(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, HttpError> {
        let (client, request) = request.build_split();
        let request = request.map_err(HttpError::from)?;
        let span = upstream_span(&request);
        span.record("streamed", true);
        let result = client
            .execute(request)
            .instrument(span.clone())
            .await
            .map_err(HttpError::from);
        match &result {
            Ok(response) => span.record("http.status_code", response.status().as_u16()),
            Err(error) => span.record("error", tracing::field::display(error)),
        };
        result
    }

    /// The largest response body read.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// The token endpoint's calls (through oauth2-rs, see the `AsyncHttpClient` impl below) get
    /// the same limits as the API's.
    pub async fn execute_oauth2(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, HttpError> {
        let request = reqwest::Request::try_from(request).map_err(HttpError::from)?;
        let builder = reqwest::RequestBuilder::from_parts(self.inner.clone(), request);
        let fetched = self.send(builder).await?;
        // 5xx and 429 mean "provider unavailable", not an OAuth error: stop before oauth2-rs
        // tries to read an RFC 6749 error (or an HTML page) out of the body.
        if fetched.status.is_server_error()
            || fetched.status == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            return Err(HttpError::Status(fetched.status));
        }
        let mut response = oauth2::HttpResponse::new(fetched.body);
        *response.status_mut() = fetched.status;
        *response.headers_mut() = fetched.headers;
        Ok(response)
    }
}

/// oauth2-rs sends its token requests through this client. A named, `Send` future (rather than a
/// closure) lets a refresh run as a task of its own (`tokens`).
impl<'c> oauth2::AsyncHttpClient<'c> for HttpClient {
    type Error = HttpError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.execute_oauth2(request))
    }
}

/// The span of one upstream call, a child of the request's: method and path (never the query
/// string: it is no business of the logs); status or error recorded when known.
fn upstream_span(request: &reqwest::Request) -> tracing::Span {
    tracing::info_span!(
        "upstream",
        http.method = %request.method(),
        http.path = %request.url().path(),
        http.status_code = tracing::field::Empty,
        error = tracing::field::Empty,
        streamed = tracing::field::Empty,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::{web, App, HttpRequest, HttpServer};

    /// A local server that answers each request with its `User-Agent`.
    fn echo_user_agent() -> url::Url {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        let server = HttpServer::new(|| {
            App::new().default_service(web::to(|req: HttpRequest| async move {
                req.headers()
                    .get("user-agent")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            }))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        url::Url::parse(&format!("http://{address}/")).expect("url")
    }

    #[actix_web::test]
    async fn the_user_agent_is_neutral_unless_the_app_names_itself() {
        let url = echo_user_agent();
        for (settings, expected) in [
            (HttpSettings::default(), DEFAULT_USER_AGENT),
            (
                HttpSettings {
                    user_agent: "my-app/1.2".to_owned(),
                    ..HttpSettings::default()
                },
                "my-app/1.2",
            ),
        ] {
            let http = HttpClient::new(&settings).expect("client");
            let response = http
                .send(http.request(reqwest::Method::GET, url.clone()))
                .await
                .expect("answer");
            assert_eq!(String::from_utf8_lossy(&response.body), expected);
        }
        assert!(DEFAULT_USER_AGENT.starts_with("actix-oauth-client/"));
    }
}
