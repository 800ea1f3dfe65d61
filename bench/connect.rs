//! The benchmark's client (`bash bench/run.sh` runs it): drives the real OAuth flow, like a
//! browser with a cookie jar, against a running app and simulator on 127.0.0.1.
//!
//! `connect APP_URL USERS CONCURRENCY COOKIE_FILE` connects USERS users (start → consent →
//! callback), writes one `Cookie:` value per line, and prints `flows_per_second cookie_bytes`.
//! `token SIMULATOR_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI` runs the flow as a bare client and
//! prints an access token, for measuring the upstream alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(Policy::none())
        .build()?)
}

/// The client of the people one worker connects, one after the other, as seen from behind a
/// proxy the app trusts (`TRUSTED_PROXIES=127.0.0.1` in `run.sh`): each worker comes from an
/// address of its own, as people do, so that the app's limit of exchanges in flight per address
/// (`actix_oauth_client`'s `ExchangeLimit`, 10) is not one shared by the whole benchmark.
fn client_from(worker: usize) -> anyhow::Result<reqwest::Client> {
    let address = format!("10.0.{}.{}", worker / 250, worker % 250 + 1);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", address.parse()?);
    Ok(reqwest::Client::builder()
        .redirect(Policy::none())
        .default_headers(headers)
        .build()?)
}

fn location(response: &reqwest::Response) -> anyhow::Result<url::Url> {
    let value = response
        .headers()
        .get(LOCATION)
        .ok_or_else(|| anyhow!("no Location (status {})", response.status()))?;
    Ok(url::Url::parse(value.to_str()?)?)
}

/// One browser's cookies: a real cookie jar (domain, path, replacement on renewal), while the
/// connection pool is shared by every simulated user.
struct Browser {
    jar: Jar,
}

impl Browser {
    fn new() -> Self {
        Self {
            jar: Jar::default(),
        }
    }

    async fn get(
        &self,
        http: &reqwest::Client,
        url: url::Url,
    ) -> anyhow::Result<reqwest::Response> {
        let mut request = http.get(url.clone());
        if let Some(cookies) = self.jar.cookies(&url) {
            request = request.header(COOKIE, cookies);
        }
        let response = request.send().await?;
        self.jar
            .set_cookies(&mut response.headers().get_all(SET_COOKIE).iter(), &url);
        Ok(response)
    }

    /// The session cookie as a `Cookie:` header value, for the load generator.
    fn session_cookie(&self, app: &url::Url) -> anyhow::Result<String> {
        let cookies = self.jar.cookies(app).ok_or_else(|| anyhow!("no cookies"))?;
        let session = cookies
            .to_str()?
            .split("; ")
            .find(|c| c.starts_with("ttm_session="))
            .ok_or_else(|| anyhow!("no session cookie"))?;
        Ok(session.to_owned())
    }
}

/// Consent at the simulator (every memento granted): the URL it redirects the browser to.
async fn consent(http: &reqwest::Client, authorize: &url::Url) -> anyhow::Result<url::Url> {
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.extend((1..=5).map(|id| ("memento".to_owned(), id.to_string())));
    form.push(("decision".to_owned(), "allow".to_owned()));
    let mut endpoint = authorize.clone();
    endpoint.set_query(None);
    location(&http.post(endpoint).form(&form).send().await?)
}

/// One user through the app: returns the session cookie after the callback.
async fn connect_one(http: &reqwest::Client, app: &url::Url) -> anyhow::Result<String> {
    let browser = Browser::new();
    let start = browser.get(http, app.join("/auth/rememberizer")?).await?;
    let callback = consent(http, &location(&start)?).await?;
    let done = browser.get(http, callback).await?;
    if done.status() != reqwest::StatusCode::SEE_OTHER {
        bail!("callback answered {}", done.status());
    }
    browser.session_cookie(app)
}

async fn connect(
    app: String,
    users: usize,
    concurrency: usize,
    file: String,
) -> anyhow::Result<()> {
    let app = url::Url::parse(&app)?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency.max(1) {
        let (http, app, next) = (client_from(worker)?, app.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut cookies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < users {
                cookies.push(connect_one(&http, &app).await?);
            }
            anyhow::Ok(cookies)
        }));
    }
    let mut cookies = Vec::with_capacity(users);
    for worker in workers {
        cookies.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    std::fs::write(&file, cookies.join("\n") + "\n").context("writing the cookie file")?;
    let cookie_bytes = cookies.first().map_or(0, String::len);
    println!(
        "{:.0} {}",
        users as f64 / elapsed.as_secs_f64(),
        cookie_bytes
    );
    Ok(())
}

/// The flow as a bare OAuth client of the simulator (no app in between).
async fn token(
    simulator: String,
    client_id: String,
    secret: String,
    redirect: String,
) -> anyhow::Result<()> {
    let http = client()?;
    let mut authorize = url::Url::parse(&format!("{simulator}/api/v1/auth/oauth2/authorize/"))?;
    authorize
        .query_pairs_mut()
        .append_pair("client_id", &client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", &redirect)
        .append_pair("state", "bench");
    let callback = consent(&http, &authorize).await?;
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow!("no code"))?;
    let response: serde_json::Value = http
        .post(format!("{simulator}/api/v1/auth/oauth2/token/"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("client_id", &client_id),
            ("client_secret", &secret),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = response["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("no access token"))?;
    println!("{token}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [cmd, app, users, concurrency, file] if cmd == "connect" => {
            connect(
                app.clone(),
                users.parse()?,
                concurrency.parse()?,
                file.clone(),
            )
            .await
        }
        [cmd, simulator, id, secret, redirect] if cmd == "token" => {
            token(
                simulator.clone(),
                id.clone(),
                secret.clone(),
                redirect.clone(),
            )
            .await
        }
        _ => {
            bail!("usage: connect APP USERS CONCURRENCY FILE | token SIMULATOR ID SECRET REDIRECT")
        }
    }
}
