//! Journeys in a real, headless Chromium driven over WebDriver (chromedriver), with the app and
//! the simulator on their own ports so the flow crosses origins as in production.
//!
//! The harness starts chromedriver itself on a free port. If Chromium or chromedriver is missing,
//! the tests fail with a message naming what to install: they are never skipped.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use fantoccini::error::CmdError;
use fantoccini::key::Key;
use fantoccini::wd::{WebDriverCompatibleCommand, WindowHandle};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::helpers::*;

const INSTALL_HINT: &str =
    "browser tests need Chromium and ChromeDriver: apt-get install -y chromium chromium-driver";
const WAIT: Duration = Duration::from_secs(15);

/// At most two browsers at once: the CI machine has two cores.
fn browsers() -> &'static Semaphore {
    static BROWSERS: OnceLock<Semaphore> = OnceLock::new();
    BROWSERS.get_or_init(|| Semaphore::new(2))
}

pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    _profile: TempDir,
    _permit: SemaphorePermit<'static>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver runs in a process group of its own (its pid is the group id), with the
        // Chromium it started: end the whole group, even when a failed test never closed the
        // session. Never signal anything else: the group id is checked first.
        if let Ok(group) = libc::pid_t::try_from(self.driver.id()) {
            if group > 1 {
                // SAFETY: killpg only sends a signal; `group` is the id of the group this test
                // created for its own chromedriver.
                unsafe {
                    libc::killpg(group, libc::SIGKILL);
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// How a test's browser differs from a person's usual one.
pub(crate) struct BrowserOptions {
    /// Navigation returns at once instead of at the page's load: what a person sees while a
    /// page is still arriving can be looked at (WebDriver's page load strategy `none`).
    pub(crate) return_at_once: bool,
    pub(crate) javascript: bool,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        Self {
            return_at_once: false,
            javascript: true,
        }
    }
}

impl Browser {
    pub(crate) async fn start() -> Browser {
        Self::start_sized(1280, 900).await
    }

    pub(crate) async fn start_sized(width: u32, height: u32) -> Browser {
        Self::start_with(width, height, BrowserOptions::default()).await
    }

    pub(crate) async fn start_with(width: u32, height: u32, options: BrowserOptions) -> Browser {
        let permit = browsers().acquire().await.expect("semaphore");
        let port = free_port();
        let mut command = Command::new("chromedriver");
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let driver = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver ({e}); {INSTALL_HINT}"));
        let profile = TempDir(std::env::temp_dir().join(format!("ttm-chrome-{port}")));
        let chromium = [
            "/usr/bin/chromium",
            "/usr/bin/chromium-browser",
            "/usr/bin/google-chrome",
        ]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or_else(|| panic!("no Chromium binary found; {INSTALL_HINT}"));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    "--hide-scrollbars",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.0.display()),
                ],
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        // Desktop Chrome will not shrink a window below about 500 px: phones are emulated.
        let mut capabilities = capabilities;
        if options.return_at_once {
            capabilities["pageLoadStrategy"] = json!("none");
        }
        if !options.javascript {
            capabilities["goog:chromeOptions"]["prefs"] =
                json!({ "profile.managed_default_content_settings.javascript": 2 });
        }
        if width < 500 {
            capabilities["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1 },
            });
        }
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        };
        let url = format!("http://127.0.0.1:{port}");
        // Wait until chromedriver answers, then open a session.
        let started = Instant::now();
        let client = loop {
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot open a Chromium session ({e}); {INSTALL_HINT}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
            _permit: permit,
        }
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub(crate) async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current url")
    }

    /// Opens a second tab and switches to it, as a person would; the tab this was in.
    async fn open_tab(&self) -> WindowHandle {
        let previous = self.client.window().await.expect("window");
        let tab = self.client.new_window(true).await.expect("new tab").handle;
        self.client.switch_to_window(tab).await.expect("switch");
        previous
    }

    /// Back to `tab`.
    async fn switch_to(&self, tab: WindowHandle) {
        self.client
            .switch_to_window(tab)
            .await
            .expect("switch back");
    }

    pub(crate) async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                // Say where the browser is and what it shows: a timeout alone explains nothing.
                let url = self.client.current_url().await.map(|u| u.to_string());
                let text = match self.client.find(Locator::Css("body")).await {
                    Ok(body) => body.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                let text: String = text.chars().take(600).collect();
                panic!("waiting for {css}: {e}; at {url:?}, showing: {text}")
            }
        }
    }

    /// Waits until the address bar shows `path` (and optionally a query) on `origin`.
    pub(crate) async fn wait_for_path(&self, origin: &str, path_and_query: &str) {
        let expected = url::Url::parse(&format!("{origin}{path_and_query}")).expect("url");
        self.client
            .wait()
            .at_most(WAIT)
            .for_url(&expected)
            .await
            .unwrap_or_else(|e| panic!("waiting for {expected}: {e}"));
    }

    pub(crate) async fn click_link(&self, text: &str) {
        self.client
            .find(Locator::LinkText(text))
            .await
            .unwrap_or_else(|e| panic!("link {text:?}: {e}"))
            .click()
            .await
            .expect("click");
    }

    pub(crate) async fn body_text(&self) -> String {
        self.wait_for("body").await.text().await.expect("text")
    }

    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    pub(crate) async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script:?}: {e}"))
    }

    /// The browser console, via chromedriver's log endpoint (CSP violations are reported there).
    pub(crate) async fn console(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(SessionCommand {
                path: "se/log",
                body: json!({ "type": "browser" }),
            })
            .await
            .expect("browser log");
        // Anything but a list of entries means the log could not be read: fail, rather than
        // report "no violations" for a log nobody saw.
        let entries = entries
            .as_array()
            .unwrap_or_else(|| panic!("the browser log is not a list: {entries}"));
        entries
            .iter()
            .map(|e| {
                e["message"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a log entry without a message: {e}"))
                    .to_owned()
            })
            .collect()
    }

    pub(crate) async fn assert_no_csp_violations(&self) {
        let violations: Vec<_> = self
            .console()
            .await
            .into_iter()
            .filter(|m| m.contains("Content Security Policy") || m.contains("Refused to"))
            .collect();
        assert!(violations.is_empty(), "CSP violations: {violations:#?}");
    }

    async fn assert_no_dialog(&self) {
        match self.client.get_alert_text().await {
            Err(CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::NoSuchAlert => {}
            other => panic!("a dialog opened: {other:?}"),
        }
    }

    pub(crate) async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// A chromedriver command outside the WebDriver standard: a POST of `body` to the session's
/// `path` (`se/log` for the browser console, `goog/cdp/execute` for a DevTools command).
#[derive(Debug)]
pub(crate) struct SessionCommand {
    pub(crate) path: &'static str,
    pub(crate) body: Value,
}

impl WebDriverCompatibleCommand for SessionCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// The two mementos with the most documents.
pub(crate) fn big_mementos(app: &TestApp) -> Vec<u64> {
    let mut mementos = app.sim.mementos();
    mementos.sort_by_key(|m| std::cmp::Reverse(m.document_ids.len()));
    mementos.iter().take(2).map(|m| m.id).collect()
}

/// Clicks "Allow" on the simulator's consent page.
pub(crate) async fn allow(browser: &Browser) {
    browser
        .wait_for("button[value=allow]")
        .await
        .click()
        .await
        .expect("allow");
}

/// The whole connect flow, as a person does it: start, tick these mementos, allow, dashboard.
pub(crate) async fn connect_in_browser(browser: &Browser, app: &TestApp, mementos: &[u64]) {
    browser.goto(&app.url("/auth/rememberizer")).await;
    tick(browser, mementos).await;
    allow(browser).await;
    browser.wait_for_path(&app.address, "/dashboard").await;
}

pub(crate) async fn tick(browser: &Browser, mementos: &[u64]) {
    for id in mementos {
        browser
            .wait_for(&format!("#memento-{id}"))
            .await
            .click()
            .await
            .expect("tick memento");
    }
}

#[tokio::test]
async fn the_happy_path_in_a_real_browser() {
    let app = spawn_app().await;
    let browser = Browser::start().await;

    browser.goto(&app.url("/")).await;
    browser.wait_for("a.button.primary").await;
    browser.screenshot("01-landing").await;
    browser.click_link("Connect Rememberizer").await;

    // Step 2 happens on the provider's origin.
    browser.wait_for("button[value=allow]").await;
    assert_eq!(browser.url().await.port(), app.sim_url.port());
    let granted = big_mementos(&app);
    tick(&browser, &granted).await;
    browser.screenshot("02-consent").await;
    allow(&browser).await;

    // Back on the app: the address bar carries no code or state.
    browser.wait_for_path(&app.address, "/dashboard").await;
    browser.wait_for("table.documents").await;
    let address_bar = browser.url().await;
    assert!(address_bar.query().is_none(), "{address_bar}");
    browser.screenshot("03-dashboard").await;

    let expected = app.expected_document_ids(&granted);
    let text = browser.body_text().await;
    assert!(
        text.contains(&format!("Documents ({})", expected.len())),
        "{text}"
    );
    for doc in app
        .sim
        .documents()
        .iter()
        .filter(|d| !expected.contains(&d.id))
    {
        assert!(!text.contains(&doc.name), "{:?} is not granted", doc.name);
    }

    // The session cookie as the browser stores it.
    let cookies = browser.client.get_all_cookies().await.expect("cookies");
    let session = cookies
        .iter()
        .find(|c| c.name() == "ttm_session")
        .expect("session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Lax)");
    assert_ne!(session.secure(), Some(true), "plain http here");
    assert!(session.value().len() < 300, "an opaque id");
    // Referrer-Policy: the page that came from the provider's redirect has no referrer.
    assert_eq!(browser.eval("return document.referrer").await, json!(""));

    // Paginate through the API's pages.
    browser.click_link("Next →").await;
    browser
        .wait_for_path(&app.address, "/dashboard?page=2")
        .await;
    assert!(browser.body_text().await.contains("Page 2 of"));
    // A same-origin link click would carry the full URL as referrer without the policy.
    assert_eq!(browser.eval("return document.referrer").await, json!(""));
    browser.screenshot("04-page-2").await;

    // Filter by integration.
    let select = browser.wait_for("#integration_type").await;
    select.select_by_value("slack").await.expect("select slack");
    browser
        .wait_for("form.filter button")
        .await
        .click()
        .await
        .expect("filter");
    browser
        .wait_for_path(&app.address, "/dashboard?integration_type=slack")
        .await;
    let rows = browser
        .client
        .find_all(Locator::Css("table.documents tbody tr"))
        .await
        .expect("rows");
    let slack = app
        .sim
        .documents()
        .into_iter()
        .filter(|d| expected.contains(&d.id) && d.integration_type == "slack")
        .count();
    assert_eq!(rows.len(), slack.min(20));
    browser.assert_no_csp_violations().await;

    // Log out; the dashboard is no longer reachable.
    browser
        .wait_for("form[action='/logout'] button")
        .await
        .click()
        .await
        .expect("log out");
    browser.wait_for_path(&app.address, "/").await;
    browser.screenshot("05-logged-out").await;
    // It says so, and offers to connect (issue 29, item 6): no silent trip to the landing page.
    browser.goto(&app.url("/dashboard")).await;
    let heading = browser.wait_for("h1").await.text().await.expect("text");
    assert_eq!(heading, "Connect Rememberizer to see your documents");
    browser
        .wait_for("a.button[href='/auth/rememberizer?return_to=%2Fdashboard']")
        .await;
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

#[tokio::test]
async fn refusing_consent_shows_a_friendly_page_and_trying_again_works() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    browser.click_link("Connect Rememberizer").await;
    browser
        .wait_for("button[value=deny]")
        .await
        .click()
        .await
        .expect("deny");
    browser.wait_for("#declined").await;
    let text = browser.body_text().await;
    assert!(
        !text.contains("Error 403"),
        "a notice, not an error: {text}"
    );
    assert!(text.contains("You did not connect Rememberizer"), "{text}");
    browser.screenshot("06-declined").await;
    assert_eq!(app.sim.token_requests().len(), 0);

    browser.click_link("Connect Rememberizer").await;
    allow(&browser).await;
    browser.wait_for_path(&app.address, "/dashboard").await;
    assert!(browser
        .body_text()
        .await
        .contains("Rememberizer shared no documents with this app."));
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

/// A person who clicks Deny on Memoram's page reads about Memoram, in Memoram's words, and is
/// offered Memoram again: not Rememberizer (as the page said until 2026-12).
#[tokio::test]
async fn declining_memoram_names_memoram_and_offers_memoram_again() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    browser.click_link("Connect Memoram").await;
    click(&browser, "#deny").await;
    let section = browser
        .wait_for("#declined")
        .await
        .text()
        .await
        .expect("text");
    assert!(section.contains("You did not connect Memoram"), "{section}");
    assert!(
        section.contains("Memoram said: The user denied access"),
        "{section}"
    );
    assert!(!section.contains("Rememberizer"), "{section}");
    browser.screenshot("14-memoram-declined").await;
    assert!(app.mem().access_requests().is_empty());
    // Its one way forward is Memoram's consent page again.
    browser.click_link("Connect Memoram").await;
    browser.wait_for("#authorize").await;
    let memoram = app.memoram_url.clone().expect("Memoram simulator");
    assert_eq!(browser.url().await.origin(), memoram.origin());
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

#[tokio::test]
async fn two_tabs_after_token_expiry_both_render() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    app.sim.expire_access_tokens();
    let first = browser.open_tab().await;
    browser.goto(&app.url("/dashboard")).await;
    browser.wait_for("table.documents").await;
    browser.switch_to(first).await;
    browser.client.refresh().await.expect("reload");
    browser.wait_for("table.documents").await;
    assert_eq!(app.token_request_count("refresh_token"), 1);
    browser.close().await;
}

#[tokio::test]
async fn html_in_document_names_renders_as_text_and_runs_nothing() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    let all: Vec<u64> = app.sim.mementos().iter().map(|m| m.id).collect();
    connect_in_browser(&browser, &app, &all).await;
    let hostile: Vec<String> = app
        .sim
        .documents()
        .into_iter()
        .filter(|d| d.name.contains('<') && d.memento_ids.iter().any(|m| all.contains(m)))
        .map(|d| d.name)
        .collect();
    assert!(!hostile.is_empty());
    let mut text = String::new();
    for page in 1..=5 {
        browser
            .goto(&app.url(&format!("/dashboard?page={page}")))
            .await;
        browser.wait_for("main").await;
        browser.assert_no_dialog().await;
        text.push_str(&browser.body_text().await);
    }
    for name in &hostile {
        assert!(text.contains(name.as_str()), "{name:?} is shown literally");
    }
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('main script, main img').length")
            .await,
        json!(0)
    );
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

/// Tabs to `css` ([`tab_to`]) and presses Enter on it, as a keyboard user does.
pub(crate) async fn press_enter_on(browser: &Browser, css: &str) {
    tab_to(browser, css).await;
    browser
        .client
        .active_element()
        .await
        .expect("focused")
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("enter");
}

/// Presses Tab until the focused element matches `css`; returns how many presses it took.
pub(crate) async fn tab_to(browser: &Browser, css: &str) -> usize {
    for presses in 1..=30 {
        browser
            .client
            .active_element()
            .await
            .expect("active element")
            .send_keys(&Key::Tab.to_string())
            .await
            .expect("tab");
        let focused = browser
            .client
            .execute(
                "return document.activeElement.matches(arguments[0])",
                vec![json!(css)],
            )
            .await
            .expect("matches");
        if focused == json!(true) {
            return presses;
        }
    }
    panic!("{css} is not reachable with the keyboard");
}

#[tokio::test]
async fn the_connect_and_logout_buttons_are_reachable_by_keyboard() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    browser.wait_for("a.button.primary").await;
    press_enter_on(&browser, "a[href='/auth/rememberizer']").await;
    allow(&browser).await;
    browser.wait_for_path(&app.address, "/dashboard").await;
    press_enter_on(&browser, "form[action='/logout'] button").await;
    browser.wait_for_path(&app.address, "/").await;
    browser.close().await;
}

#[tokio::test]
async fn pages_fit_phone_and_desktop_widths() {
    let app = spawn_app().await;
    for width in [375, 1280] {
        let browser = Browser::start_sized(width, 800).await;
        browser.goto(&app.url("/")).await;
        browser.wait_for("main").await;
        assert_no_horizontal_scroll(&browser, "landing", width).await;
        browser.screenshot(&format!("landing-{width}")).await;
        connect_in_browser(&browser, &app, &big_mementos(&app)).await;
        browser.wait_for("table.documents").await;
        assert_no_horizontal_scroll(&browser, "dashboard", width).await;
        browser.screenshot(&format!("dashboard-{width}")).await;
        browser.goto(&app.url("/no-such-page")).await;
        browser.wait_for("section.error").await;
        assert_no_horizontal_scroll(&browser, "404", width).await;
        browser.close().await;
    }
}

pub(crate) async fn assert_no_horizontal_scroll(browser: &Browser, page: &str, width: u32) {
    assert_eq!(
        browser.eval("return window.innerWidth").await,
        json!(width),
        "{page}: viewport"
    );
    let fits = browser
        .eval("return document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, json!(true), "{page} scrolls sideways at {width}px");
}

#[tokio::test]
async fn ask_a_question_open_the_cited_document_and_remember_a_note() {
    let app = spawn_app_with(Default::default(), |settings| {
        with_simulated_answers(settings);
    })
    .await;
    let browser = Browser::start().await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;

    // Ask.
    browser.click_link("Ask").await;
    let input = browser.wait_for("#q").await;
    input
        .send_keys("How does the deploy rollback work?")
        .await
        .expect("type");
    browser
        .wait_for("form.ask-form button[type=submit]")
        .await
        .click()
        .await
        .expect("ask");
    let citation = browser.wait_for("a.cite").await;
    browser.screenshot("07-ask").await;
    let target = citation
        .attr("href")
        .await
        .expect("href")
        .expect("a target");
    citation.click().await.expect("follow citation");
    let focused = browser
        .eval(&format!(
            "return document.querySelector('{target}') !== null && location.hash === '{target}'"
        ))
        .await;
    assert_eq!(focused, json!(true), "the citation leads to its passage");

    // Open the cited document.
    let passage_document = browser
        .wait_for(&format!("article.result:has({target}) h3 a"))
        .await;
    passage_document.click().await.expect("open document");
    // A file opens in the text reader, a Slack channel in the channel reader.
    browser.wait_for("div.document-text, ol#messages").await;
    let path = browser.url().await.path().to_owned();
    assert!(
        path.starts_with("/documents/") || path.starts_with("/discussions/"),
        "{path}"
    );
    browser.screenshot("08-document").await;

    // Save a new note, then find it.
    browser.click_link("New note").await;
    browser
        .wait_for("#name")
        .await
        .send_keys("Wifi password for the Lisbon office")
        .await
        .expect("name");
    browser
        .wait_for("#content")
        .await
        .send_keys("The guest wifi password is marmalade-42.")
        .await
        .expect("content");
    browser
        .wait_for("form.stacked button[type=submit]")
        .await
        .click()
        .await
        .expect("remember");
    browser.wait_for(".success").await;
    browser.screenshot("09-remembered").await;
    // Reloading does not store it twice.
    browser.client.refresh().await.expect("reload");
    browser.wait_for("form.stacked").await;
    let notes = app
        .sim
        .documents()
        .into_iter()
        .filter(|d| d.integration_type == "memory")
        .count();
    assert_eq!(notes, 1);
    browser.goto(&app.url("/ask?q=marmalade")).await;
    browser.wait_for("article.result").await;
    assert!(browser
        .body_text()
        .await
        .contains("Wifi password for the Lisbon office"));
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

/// Against the simulator's current published shapes (`matched_chunks`, `pk` + string `id`,
/// discussions): ask finds passages, a Slack hit opens its channel with the threads under their
/// messages, the window moves, and the dashboard's links open a file and a channel.
#[tokio::test]
async fn ask_finds_passages_and_a_slack_channel_opens_with_its_threads() {
    let app = spawn_app().await;
    let browser = Browser::start_sized(375, 800).await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;

    browser
        .goto(&app.url("/ask?q=deploy+rollback+checklist"))
        .await;
    browser.wait_for("figure.passage").await;
    let summary = browser.wait_for("#sources-summary").await;
    let summary = summary.text().await.expect("text");
    assert!(summary.contains("from Slack"), "{summary}");
    let passage_text = browser.body_text().await;
    assert!(passage_text.contains("match 1 of"), "ranked passages");

    // The first Slack hit opens the channel reader.
    browser
        .wait_for("article.result h3 a[href^='/discussions/']")
        .await
        .click()
        .await
        .expect("open the channel");
    browser.wait_for("ol#messages").await;
    assert!(browser.url().await.path().starts_with("/discussions/"));
    let thread = browser.wait_for("details.thread ol.replies li").await;
    assert!(thread.text().await.expect("text").contains("Reply 1"));
    assert_no_horizontal_scroll(&browser, "channel", 375).await;
    browser.screenshot("09-channel").await;
    browser.assert_no_csp_violations().await;

    // A week earlier, then back.
    let window = browser
        .wait_for("#window")
        .await
        .text()
        .await
        .expect("text");
    browser.click_link("← Earlier").await;
    browser.wait_for("#no-messages, ol#messages").await;
    let earlier = browser
        .wait_for("#window")
        .await
        .text()
        .await
        .expect("text");
    assert_ne!(window, earlier, "the window moved");
    browser.click_link("Later →").await;
    let back = browser
        .wait_for("#window")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(window, back, "and came back to this week");

    // The dashboard's links open a file and a channel.
    for (name, reader) in [
        ("Architecture handbook", "div.document-text"),
        ("Deploy checklist thread", "ol#messages"),
    ] {
        browser.goto(&app.url("/dashboard")).await;
        browser.click_link(name).await;
        browser.wait_for(reader).await;
        let heading = browser.wait_for("h1").await.text().await.expect("h1");
        assert_eq!(heading, name);
    }
    browser.close().await;
}

/// The positive control of `assert_no_csp_violations`: a page that does break the policy (an
/// inline script added at run time) must be caught, or the check could never fail.
#[tokio::test]
async fn a_csp_violation_is_caught_by_the_console_check() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    browser.wait_for("main").await;
    assert!(browser.console().await.is_empty(), "a clean page first");
    let blocked = browser
        .eval(
            "var s = document.createElement('script'); s.textContent = 'window.ranInline = true;'; \
             document.body.appendChild(s); return window.ranInline === undefined;",
        )
        .await;
    assert_eq!(blocked, json!(true), "the policy blocked the inline script");
    let messages = browser.console().await;
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Content Security Policy") || m.contains("Refused to")),
        "the violation is in the log: {messages:?}"
    );
    browser.close().await;
}

/// Types `text` into the field `css` after clearing it.
pub(crate) async fn fill(browser: &Browser, css: &str, text: &str) {
    let field = browser.wait_for(css).await;
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

pub(crate) async fn click(browser: &Browser, css: &str) {
    browser.wait_for(css).await.click().await.expect("click");
}

/// Memoram end to end, as a person does it: connect, approve in Memoram's own dashboard (another
/// tab) while the waiting page re-checks by itself, then create, tag, find, edit and delete a
/// memory, and ask a question answered from both services.
#[tokio::test]
async fn memoram_connect_approve_manage_memories_and_ask_across_both() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |settings| {
            with_simulated_answers(settings);
        },
    )
    .await;
    let browser = Browser::start().await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;

    // Connect Memoram from the landing page, authorize on Memoram's page.
    browser.goto(&app.url("/")).await;
    browser.click_link("Connect Memoram").await;
    click(&browser, "#authorize").await;
    browser.wait_for_path(&app.address, "/memoram/access").await;
    browser.wait_for("[data-status=pending]").await;
    browser.screenshot("11-memoram-waiting").await;

    // Approve in Memoram's dashboard, in another tab.
    let waiting = browser.open_tab().await;
    let memoram_url = app.memoram_url.clone().expect("Memoram simulator");
    browser
        .goto(memoram_url.join("dashboard").expect("url").as_str())
        .await;
    let request = app.latest_access_request();
    click(&browser, &format!("#approve-{request}")).await;
    browser.wait_for(&format!("#revoke-{request}")).await;
    browser.client.close_window().await.expect("close the tab");
    browser.switch_to(waiting).await;
    // Back on the waiting page (it stopped watching at once here: the watch has a test of its
    // own below), "I approved it — check now" moves on.
    browser.click_link("I approved it — check now").await;
    browser.wait_for_path(&app.address, "/memories").await;
    browser.wait_for("table.memories").await;
    browser.screenshot("12-memories").await;

    // Create a tagged memory.
    click(&browser, "#new-memory").await;
    fill(&browser, "#title", "Conference badge").await;
    fill(
        &browser,
        "#content",
        "Ada's conference badge number is 7731.",
    )
    .await;
    fill(&browser, "#tags", "events, badges").await;
    fill(&browser, "#importance", "0.6").await;
    click(&browser, "#save-memory").await;
    browser.wait_for(".success").await;
    assert!(browser.body_text().await.contains("badge number is 7731"));
    let stored = app.mem().blobs(&app.mem().demo_user().user_id);
    let badge = stored
        .iter()
        .find(|b| b.title == "Conference badge")
        .expect("stored at Memoram");
    assert!(
        !badge.content.contains("7731"),
        "sealed before it left the app"
    );

    // Find it: by tag from the tags page, and by text.
    browser.goto(&app.url("/memories/tags")).await;
    browser.click_link("badges").await;
    browser.wait_for("table.memories").await;
    assert!(browser.body_text().await.contains("Conference badge"));
    browser.goto(&app.url("/memories")).await;
    fill(&browser, "form.filter #q", "7731").await;
    click(&browser, "form.filter button[type=submit]").await;
    browser.wait_for("table.memories").await;
    let text = browser.body_text().await;
    assert!(text.contains("Conference badge"));
    assert!(!text.contains("Lisbon trip plans"));

    // Edit it.
    browser.click_link("Conference badge").await;
    click(&browser, "#edit-memory").await;
    fill(
        &browser,
        "#content",
        "Ada's conference badge number is 8842.",
    )
    .await;
    click(&browser, "#save-memory").await;
    browser.wait_for(".success").await;
    assert!(browser.body_text().await.contains("8842"));

    // Ask across both services.
    browser
        .goto(&app.url("/ask?q=How%20does%20the%20deploy%20rollback%20work%3F"))
        .await;
    browser.wait_for("[data-service=Memoram]").await;
    browser.wait_for("[data-service=Rememberizer]").await;
    browser.wait_for("a.cite").await;
    browser.screenshot("13-ask-both").await;

    // Delete the memory.
    browser.goto(&app.url("/memories?q=8842")).await;
    browser.click_link("Conference badge").await;
    click(&browser, "#delete-memory").await;
    click(&browser, "#confirm-button").await;
    browser.wait_for_path(&app.address, "/memories").await;
    assert!(browser.body_text().await.contains("Memory deleted."));
    assert!(app
        .mem()
        .blobs(&app.mem().demo_user().user_id)
        .iter()
        .all(|b| b.title != "Conference badge"));
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

/// The waiting page moves on by itself without a reload (issue 29, item 1): what to do comes at
/// once, and once Memoram says yes a link on is added to the same page, in its live region, with
/// keyboard focus left where it was; with JavaScript off too.
#[tokio::test]
async fn the_waiting_page_moves_on_without_a_reload_and_leaves_focus_alone() {
    for javascript in [true, false] {
        let app = spawn_app_with_memoram(
            simulators::memoram::MemoramSimulatorConfig::default(),
            |settings| settings.memoram.access_watch = Duration::from_secs(60),
        )
        .await;
        // Navigation returns while the page is still arriving, as a person sees it.
        let options = BrowserOptions {
            return_at_once: true,
            javascript,
        };
        let browser = Browser::start_with(1280, 900, options).await;
        browser.goto(&app.url("/")).await;
        click(&browser, "a[href='/auth/memoram']").await;
        click(&browser, "#authorize").await;
        browser.wait_for("#check-again").await;
        let request = app.latest_access_request();
        let script = |code: &'static str| {
            let client = browser.client.clone();
            async move { client.execute(code, vec![]).await.expect("script") }
        };
        if javascript {
            // Focus on "I approved it — check now", and a mark that a reload would wipe.
            let focused = script(
                "window.stillThisPage = true; document.getElementById('check-again').focus(); \
                 return document.activeElement.id;",
            )
            .await;
            assert_eq!(focused, json!("check-again"));
        }
        assert!(
            browser
                .client
                .find(Locator::Css("#watch-note"))
                .await
                .is_err(),
            "no outcome before the approval"
        );
        assert!(app.mem().approve(&request));
        browser
            .wait_for("section[aria-live=polite] #watch-note[data-outcome=approved]")
            .await;
        if javascript {
            let after =
                script("return [document.activeElement.id, window.stillThisPage === true];").await;
            assert_eq!(after, json!(["check-again", true]), "no reload, focus kept");
        }
        browser.click_link("Go to your Memoram memories").await;
        browser.wait_for("table.memories").await;
        browser.close().await;
    }
}

/// Connects Memoram in the browser and has the person approve it (through the simulator's
/// handle, as its dashboard would): the browser ends on `/memories`.
pub(crate) async fn connect_memoram_in_browser(browser: &Browser, app: &TestApp) -> String {
    browser.goto(&app.url("/")).await;
    browser.click_link("Connect Memoram").await;
    click(browser, "#authorize").await;
    browser.wait_for_path(&app.address, "/memoram/access").await;
    let request = app.latest_access_request();
    assert!(app.mem().approve(&request));
    browser.goto(&app.url("/memoram/access")).await;
    browser.wait_for_path(&app.address, "/memories").await;
    request
}

/// A memory being typed while Memoram is disconnected in another tab: pressing Save keeps it on
/// the page, with a notice, instead of a redirect that drops it.
#[tokio::test]
async fn a_memory_typed_while_another_tab_disconnects_stays_on_the_page() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let browser = Browser::start().await;
    connect_memoram_in_browser(&browser, &app).await;
    browser.goto(&app.url("/memories/new")).await;
    let typed = "The spare key is under the third flowerpot";
    fill(&browser, "#title", "Spare key").await;
    fill(&browser, "#content", typed).await;

    let writing = browser.open_tab().await;
    browser.goto(&app.url("/")).await;
    click(&browser, "#disconnect-memoram").await;
    click(&browser, "#confirm-button").await;
    browser.wait_for_path(&app.address, "/").await;
    browser.switch_to(writing).await;

    click(&browser, "#save-memory").await;
    let notice = browser
        .wait_for(".error-summary")
        .await
        .text()
        .await
        .expect("text");
    assert!(notice.contains("nothing was saved"), "{notice}");
    let content = browser
        .wait_for("#content")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(content.as_deref(), Some(typed));
    browser.screenshot("15-memory-kept-after-disconnect").await;
    assert!(app
        .mem()
        .blobs(&app.mem().demo_user().user_id)
        .iter()
        .all(|b| b.title != "Spare key"));
    browser.close().await;
}

/// Access revoked in Memoram's dashboard shows on the landing page at once, not when the person
/// next opens their memories.
#[tokio::test]
async fn the_landing_page_shows_access_revoked_at_memoram() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let browser = Browser::start().await;
    let request = connect_memoram_in_browser(&browser, &app).await;
    browser.goto(&app.url("/")).await;
    browser.wait_for("[data-memoram=approved]").await;
    assert!(app.mem().revoke(&request));
    browser.client.refresh().await.expect("reload");
    let text = browser
        .wait_for("[data-memoram=revoked]")
        .await
        .text()
        .await
        .expect("text");
    assert!(text.contains("revoked"), "{text}");
    assert!(browser
        .client
        .find(Locator::LinkText("Open your memories"))
        .await
        .is_err());
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

/// The answer's text as the page shows it now.
async fn answer_text(browser: &Browser) -> String {
    match browser.client.find(Locator::Css(".answer-text")).await {
        Ok(element) => element.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// With a model that writes over about 4 s, the passages are on screen within a second and the
/// answer grows in several visible steps, above them, then says it is complete.
#[tokio::test]
async fn the_answer_grows_on_the_page_while_the_model_writes() {
    let app = spawn_app_with(Default::default(), with_simulated_answers).await;
    app.sim.set_llm_piece_delay(Duration::from_millis(150));
    // The model takes a second and a half to start: long enough to see what is on screen first.
    app.sim.set_fault(
        "/v1/chat/completions",
        simulators::Fault {
            delay: Some(Duration::from_millis(1500)),
            remaining: Some(1),
            ..simulators::Fault::default()
        },
    );
    let browser = Browser::start_with(
        1280,
        900,
        BrowserOptions {
            return_at_once: true,
            javascript: true,
        },
    )
    .await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    let started = Instant::now();
    browser
        .goto(&app.url("/ask?q=How+does+the+deploy+rollback+work%3F"))
        .await;
    let first_passage = browser.wait_for("#passage-1").await;
    let passages_at = started.elapsed();
    eprintln!("the first passage was on screen {passages_at:?} after the navigation");
    assert!(passages_at < Duration::from_millis(1000), "{passages_at:?}");
    browser.screenshot("16-passages-before-the-answer").await;
    assert!(first_passage.is_displayed().await.expect("displayed"));
    assert_eq!(
        answer_text(&browser).await,
        "",
        "no piece yet when the passages show"
    );
    let status = browser.wait_for(".answer-status").await;
    assert_eq!(status.text().await.expect("text"), "Writing the answer…");
    // Watch it grow.
    let mut seen: Vec<usize> = Vec::new();
    let mut half_written = false;
    while started.elapsed() < Duration::from_secs(20) {
        let text = answer_text(&browser).await;
        if seen.last() != Some(&text.len()) {
            seen.push(text.len());
            if !half_written && text.len() > 20 {
                browser.screenshot("17-answer-half-written").await;
                half_written = true;
            }
        }
        if browser
            .client
            .find(Locator::Css(".answer-done"))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen.len() >= 4, "the answer grew in steps: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    let done = browser
        .wait_for(".answer-done")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(done, "The answer is complete.");
    assert!(!browser
        .wait_for(".answer-status")
        .await
        .is_displayed()
        .await
        .expect("displayed"));
    // The answer is shown above the passages, and its citations lead to them.
    let answer_top = browser
        .eval("return document.querySelector('.answer').getBoundingClientRect().top")
        .await;
    let passages_top = browser
        .eval("return document.querySelector('.passages').getBoundingClientRect().top")
        .await;
    assert!(
        answer_top.as_f64() < passages_top.as_f64(),
        "{answer_top} {passages_top}"
    );
    assert!(browser
        .client
        .find(Locator::Css(".answer a.cite"))
        .await
        .is_ok());
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

/// With JavaScript off the whole answer arrives the same way: the page is plain HTML in parts.
#[tokio::test]
async fn with_javascript_off_the_whole_answer_arrives() {
    let app = spawn_app_with(Default::default(), with_simulated_answers).await;
    app.sim.set_llm_piece_delay(Duration::from_millis(20));
    let browser = Browser::start_with(
        1280,
        900,
        BrowserOptions {
            return_at_once: false,
            javascript: false,
        },
    )
    .await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    browser
        .goto(&app.url("/ask?q=How+does+the+deploy+rollback+work%3F"))
        .await;
    let done = browser
        .wait_for(".answer-done")
        .await
        .text()
        .await
        .expect("text");
    assert_eq!(done, "The answer is complete.");
    let text = answer_text(&browser).await;
    assert!(text.len() > 20 && text.ends_with('.'), "{text}");
    assert!(browser
        .client
        .find(Locator::Css(".answer a.cite"))
        .await
        .is_ok());
    browser.close().await;
}

/// The Memoram simulator's dashboard, with an access request in its table, fits a 320 px phone:
/// nothing scrolls sideways (issue 29, smaller items).
#[tokio::test]
async fn the_memoram_simulators_dashboard_fits_a_320_px_phone() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let browser = Browser::start_sized(320, 800).await;
    connect_memoram_in_browser(&browser, &app).await;
    let dashboard = app
        .memoram_url
        .clone()
        .expect("Memoram simulator")
        .join("/dashboard")
        .expect("url");
    browser.goto(dashboard.as_str()).await;
    browser.wait_for("#access-requests").await;
    assert_no_horizontal_scroll(&browser, "Memoram simulator dashboard", 320).await;
    browser.screenshot("memoram-simulator-dashboard-320").await;
    browser.close().await;
}
