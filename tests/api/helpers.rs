//! The one test harness: the real app and a Rememberizer simulator, each on its own random port,
//! talking over HTTP; and a reqwest client with a cookie store and redirects turned off, playing
//! the browser.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Once};
use std::time::Duration;

use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use secrecy::SecretString;
use simulators::memoram::{MemoramHandle, MemoramSimulator, MemoramSimulatorConfig};
use simulators::rememberizer::{Simulator, SimulatorConfig, SimulatorHandle};
use talk_to_mementos::config::{
    ClientCredentials, HttpSettings, MemoramClientSettings, MemoramSettings, SessionStoreKind,
    Settings, DEFAULT_PROFILE_CACHE_TTL,
};
use talk_to_mementos::startup::Application;
use url::Url;

pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret-d6f1b0";

pub struct TestApp {
    /// `APP_BASE_URL`, e.g. `http://127.0.0.1:41234`.
    pub address: String,
    pub client: reqwest::Client,
    jar: Arc<Jar>,
    pub sim: SimulatorHandle,
    pub sim_url: Url,
    _simulator: Arc<Simulator>,
    /// The Memoram simulator, when the app was started with Memoram (`spawn_app_with_memoram`).
    pub memoram: Option<MemoramHandle>,
    pub memoram_url: Option<Url>,
    _memoram_simulator: Option<Arc<MemoramSimulator>>,
}

/// Written answers from the Rememberizer simulator's chat endpoint (as in demo mode).
pub fn with_simulated_answers(settings: &mut Settings) {
    settings.llm = Some(talk_to_mementos::config::LlmSettings {
        base_url: settings.provider_url.join("v1/").expect("url"),
        api_key: SecretString::from(simulators::rememberizer::DEMO_LLM_KEY),
        model: "simulated".to_owned(),
        timeout: talk_to_mementos::config::DEFAULT_LLM_TIMEOUT,
        total_timeout: talk_to_mementos::config::DEFAULT_LLM_TOTAL,
    });
}

/// Memoram's settings when nothing is configured: in real mode, Memoram is not offered.
pub fn memoram_unset() -> MemoramSettings {
    Settings::from_lookup(|_| None)
        .expect("the defaults are valid")
        .memoram
}

/// The app's Memoram settings for a running simulator, with its demo credentials.
pub fn memoram_settings_for(simulator: &MemoramSimulator) -> MemoramSettings {
    let defaults = MemoramSimulatorConfig::default();
    MemoramSettings {
        client: Some(MemoramClientSettings {
            client_id: defaults.client_id,
            client_secret: SecretString::from(defaults.client_secret),
            api_key: SecretString::from(defaults.api_key),
        }),
        base_url: simulator.api_url(),
        authorize_url: simulator.authorize_url(),
        token_url: simulator.token_url(),
        dashboard_url: simulator.dashboard_url(),
        // The waiting page ends at once (its watch is tested with a longer one where it counts).
        access_watch: Duration::ZERO,
        ..memoram_unset()
    }
}

static TRACING: Once = Once::new();

/// Set `TEST_LOG=1` to see the app's logs while debugging a test.
fn init_tracing() {
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            talk_to_mementos::telemetry::init();
        }
    });
}

pub fn browser() -> reqwest::Client {
    browser_with_jar(Arc::new(Jar::default()))
}

fn browser_with_jar(jar: Arc<Jar>) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("test client")
}

/// The app as its own process (the release-like binary cargo built for the tests), in real mode
/// against an in-process simulator, with its stdout and stderr captured.
pub struct AppProcess {
    pub child: std::process::Child,
    output: Arc<std::sync::Mutex<String>>,
}

impl AppProcess {
    pub fn output(&self) -> String {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) to the app process, and to nothing else.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        assert!(pid > 1);
        // SAFETY: kill only sends a signal, to the child this harness started.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "the signal was delivered");
    }
}

impl Drop for AppProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A simulator on a free port that knows this test's client and the app at `app_url` as its
/// registered redirect URI; the rest of `config` as given.
pub fn start_simulator(app_url: &str, config: SimulatorConfig) -> Simulator {
    Simulator::start(
        TcpListener::bind("127.0.0.1:0").expect("bind simulator port"),
        SimulatorConfig {
            client_id: CLIENT_ID.to_owned(),
            client_secret: CLIENT_SECRET.to_owned(),
            redirect_uris: vec![format!("{app_url}/auth/rememberizer/callback")],
            ..config
        },
    )
    .expect("simulator starts")
}

pub async fn spawn_app_process(env: &[(&str, &str)]) -> (TestApp, AppProcess) {
    use std::io::BufRead;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let address = format!("http://127.0.0.1:{port}");
    let simulator = start_simulator(&address, SimulatorConfig::default());
    let memoram = MemoramSimulator::start(
        TcpListener::bind("127.0.0.1:0").expect("bind Memoram simulator"),
        MemoramSimulatorConfig {
            redirect_uris: vec![format!("{address}/auth/memoram/callback")],
            ..MemoramSimulatorConfig::default()
        },
    )
    .expect("Memoram simulator starts");
    let memoram_defaults = MemoramSimulatorConfig::default();
    let dir = std::env::temp_dir().join(format!("ttm-process-{port}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_talk-to-mementos"));
    command
        .current_dir(&dir)
        .env_clear()
        .env("REMEMBERIZER_CLIENT_ID", CLIENT_ID)
        .env("REMEMBERIZER_CLIENT_SECRET", CLIENT_SECRET)
        .env("REMEMBERIZER_BASE_URL", simulator.base_url().as_str())
        .env("APP_BASE_URL", &address)
        .env("BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("MEMORAM_CLIENT_ID", &memoram_defaults.client_id)
        .env("MEMORAM_CLIENT_SECRET", &memoram_defaults.client_secret)
        .env("MEMORAM_API_KEY", &memoram_defaults.api_key)
        .env("MEMORAM_BASE_URL", memoram.api_url().as_str())
        .env("MEMORAM_AUTHORIZE_URL", memoram.authorize_url().as_str())
        .env("MEMORAM_TOKEN_URL", memoram.token_url().as_str())
        .env("MEMORAM_DASHBOARD_URL", memoram.dashboard_url().as_str())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().expect("the app binary starts");
    let output = Arc::new(std::sync::Mutex::new(String::new()));
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let output = output.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stream)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(mut out) = output.lock() {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
        });
    }
    let process = AppProcess { child, output };
    // Ready when /healthz answers.
    let client = browser();
    let started = std::time::Instant::now();
    while client
        .get(format!("{address}/healthz"))
        .send()
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the app did not start: {}",
            process.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let jar = Arc::new(Jar::default());
    let app = TestApp {
        address,
        client: browser_with_jar(jar.clone()),
        jar,
        sim: simulator.handle(),
        sim_url: simulator.base_url().clone(),
        _simulator: Arc::new(simulator),
        memoram: Some(memoram.handle()),
        memoram_url: Some(memoram.base_url().clone()),
        _memoram_simulator: Some(Arc::new(memoram)),
    };
    (app, process)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(SimulatorConfig::default(), |_| {}).await
}

/// Starts a simulator configured by `sim_config`, then the app in real mode against it, with
/// `adjust` applied to the app's settings.
pub async fn spawn_app_with(
    sim_config: SimulatorConfig,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn(sim_config, None, adjust).await
}

/// Both providers: Rememberizer's simulator and Memoram's (configured by `memoram_config`, with
/// the app's redirect URI registered), the app in real mode against both.
pub async fn spawn_app_with_memoram(
    memoram_config: MemoramSimulatorConfig,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    spawn(SimulatorConfig::default(), Some(memoram_config), adjust).await
}

async fn spawn(
    sim_config: SimulatorConfig,
    memoram_config: Option<MemoramSimulatorConfig>,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    init_tracing();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind app port");
    let address = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );

    let simulator = start_simulator(&address, sim_config);
    let memoram_simulator = memoram_config.map(|config| {
        let config = MemoramSimulatorConfig {
            redirect_uris: vec![format!("{address}/auth/memoram/callback")],
            ..config
        };
        MemoramSimulator::start(
            TcpListener::bind("127.0.0.1:0").expect("bind Memoram simulator"),
            config,
        )
        .expect("Memoram simulator starts")
    });

    let mut settings = Settings {
        client: Some(ClientCredentials {
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET),
        }),
        provider_url: simulator.base_url().clone(),
        scopes: vec!["offline_access".to_owned()],
        app_base_url: Some(Url::parse(&address).expect("url")),
        bind_addr: listener.local_addr().expect("addr"),
        session_key: None,
        session_store: SessionStoreKind::Memory,
        http: HttpSettings {
            request_timeout: Duration::from_secs(3),
            ..HttpSettings::default()
        },
        profile_cache_ttl: DEFAULT_PROFILE_CACHE_TTL,
        llm: None,
        memoram: memoram_simulator
            .as_ref()
            .map(memoram_settings_for)
            .unwrap_or_else(memoram_unset),
        trusted_proxies: Default::default(),
        llm_limits: Default::default(),
    };
    adjust(&mut settings);
    let app = Application::build_with_listener(settings, listener)
        .await
        .expect("app builds");
    tokio::spawn(app.run_until_stopped());

    let jar = Arc::new(Jar::default());
    TestApp {
        address,
        client: browser_with_jar(jar.clone()),
        jar,
        sim: simulator.handle(),
        sim_url: simulator.base_url().clone(),
        _simulator: Arc::new(simulator),
        memoram: memoram_simulator.as_ref().map(MemoramSimulator::handle),
        memoram_url: memoram_simulator.as_ref().map(|s| s.base_url().clone()),
        _memoram_simulator: memoram_simulator.map(Arc::new),
    }
}

/// The app in real mode with a provider URL where nothing listens (connection refused).
pub async fn spawn_app_with_unreachable_provider() -> TestApp {
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    spawn_app_with(SimulatorConfig::default(), |settings| {
        settings.provider_url = Url::parse(&format!("http://127.0.0.1:{port}")).expect("url");
    })
    .await
}

/// Step 2 on a simulator's consent page, with `client` as the browser: tick `mementos` (none
/// for Memoram), press Allow or Deny. Returns the URL the provider redirects the browser to
/// (the app's callback).
pub async fn consent_with(
    client: &reqwest::Client,
    authorize_url: &Url,
    mementos: &[u64],
    allow: bool,
) -> Url {
    let page = client
        .get(authorize_url.clone())
        .send()
        .await
        .expect("consent page");
    assert_eq!(page.status(), StatusCode::OK, "the consent page is shown");
    let mut form: Vec<(String, String)> = authorize_url.query_pairs().into_owned().collect();
    form.extend(
        mementos
            .iter()
            .map(|id| ("memento".to_owned(), id.to_string())),
    );
    form.push((
        "decision".to_owned(),
        if allow { "allow" } else { "deny" }.to_owned(),
    ));
    let mut endpoint = authorize_url.clone();
    endpoint.set_query(None);
    let response = client
        .post(endpoint)
        .form(&form)
        .send()
        .await
        .expect("consent POST");
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "consent redirects back"
    );
    Url::parse(location(&response)).expect("callback URL")
}

/// A throwaway `redis-server` on a free port, stopped when dropped. CI installs it
/// (`redis-server` package); without it the Redis tests fail with a message saying so.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer { port, child: None };
        server.launch();
        server
    }

    fn launch(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server ({e}): apt-get install -y redis-server")
            });
        self.child = Some(child);
        let started = std::time::Instant::now();
        while self.ping().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self) -> Url {
        Url::parse(&format!("redis://127.0.0.1:{}", self.port)).expect("url")
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        redis::Client::open(self.url().as_str())?
            .get_connection_with_timeout(Duration::from_millis(500))
    }

    pub fn ping(&self) -> redis::RedisResult<String> {
        redis::cmd("PING").query(&mut self.connection()?)
    }

    /// `CONFIG SET name value`.
    pub fn config_set(&self, name: &str, value: &str) {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(&mut self.connection().expect("redis connection"))
            .expect("CONFIG SET");
    }

    /// `used_memory` from `INFO memory`, in bytes.
    pub fn used_memory(&self) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query(&mut self.connection().expect("redis connection"))
            .expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory")
    }

    /// Keys matching a pattern, with their TTL in seconds.
    pub fn keys_with_ttl(&self, pattern: &str) -> Vec<(String, i64)> {
        let mut connection = self.connection().expect("redis connection");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(pattern)
            .query(&mut connection)
            .expect("KEYS");
        keys.into_iter()
            .map(|key| {
                let ttl: i64 = redis::cmd("TTL")
                    .arg(&key)
                    .query(&mut connection)
                    .expect("TTL");
                (key, ttl)
            })
            .collect()
    }

    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        assert!(pid > 1);
        // SAFETY: kill only sends a signal, to the redis-server this harness started.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// Redis stops answering (SIGSTOP): connections hang, data is kept.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// Redis goes away and comes back empty on the same port.
    pub fn restart_empty(&mut self) {
        self.kill();
        self.launch();
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if self.child.is_some() {
            // A paused server must be continued to die promptly.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.resume()));
        }
        self.kill();
    }
}

/// A fixed session key, shared by instances that serve the same users.
pub const SHARED_SESSION_KEY: [u8; 64] = [42; 64];

/// `count` instances of the app behind one public URL (the first instance's address), sharing
/// a Redis, a session key and one simulator, and one test browser (cookies are per host, not
/// per port, so the browser's cookie reaches every instance, as behind a load balancer).
pub async fn spawn_instances(count: usize, redis: &RedisServer) -> Vec<TestApp> {
    init_tracing();
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind app port"))
        .collect();
    let public = format!(
        "http://127.0.0.1:{}",
        listeners[0].local_addr().expect("addr").port()
    );
    let simulator = Arc::new(start_simulator(&public, SimulatorConfig::default()));
    let memoram = Arc::new(
        MemoramSimulator::start(
            TcpListener::bind("127.0.0.1:0").expect("bind Memoram simulator"),
            MemoramSimulatorConfig {
                redirect_uris: vec![format!("{public}/auth/memoram/callback")],
                ..MemoramSimulatorConfig::default()
            },
        )
        .expect("Memoram simulator starts"),
    );
    let jar = Arc::new(Jar::default());
    let client = browser_with_jar(jar.clone());
    let mut instances = Vec::new();
    for listener in listeners {
        let simulators = (&simulator, &memoram);
        instances.push(start_instance(listener, &public, simulators, redis, &client, &jar).await);
    }
    instances
}

/// One more instance joining `existing` (a restart, or a scale-out), same browser.
pub async fn spawn_another_instance(existing: &TestApp, redis: &RedisServer) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind app port");
    let memoram = existing
        ._memoram_simulator
        .as_ref()
        .expect("instances run with Memoram");
    start_instance(
        listener,
        &existing.public_url(),
        (&existing._simulator, memoram),
        redis,
        &existing.client,
        &existing.jar,
    )
    .await
}

async fn start_instance(
    listener: TcpListener,
    public: &str,
    (simulator, memoram): (&Arc<Simulator>, &Arc<MemoramSimulator>),
    redis: &RedisServer,
    client: &reqwest::Client,
    jar: &Arc<Jar>,
) -> TestApp {
    let address = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let settings = Settings {
        client: Some(ClientCredentials {
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET),
        }),
        provider_url: simulator.base_url().clone(),
        scopes: vec!["offline_access".to_owned()],
        app_base_url: Some(Url::parse(public).expect("url")),
        bind_addr: listener.local_addr().expect("addr"),
        session_key: Some(talk_to_mementos::config::SessionKeyBytes(
            SHARED_SESSION_KEY.to_vec(),
        )),
        session_store: SessionStoreKind::Redis(redis.url()),
        http: HttpSettings {
            request_timeout: Duration::from_secs(3),
            ..HttpSettings::default()
        },
        profile_cache_ttl: DEFAULT_PROFILE_CACHE_TTL,
        llm: None,
        memoram: memoram_settings_for(memoram),
        trusted_proxies: Default::default(),
        llm_limits: Default::default(),
    };
    let app = Application::build_with_listener(settings, listener)
        .await
        .expect("app builds");
    tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: client.clone(),
        jar: jar.clone(),
        sim: simulator.handle(),
        sim_url: simulator.base_url().clone(),
        _simulator: simulator.clone(),
        memoram: Some(memoram.handle()),
        memoram_url: Some(memoram.base_url().clone()),
        _memoram_simulator: Some(memoram.clone()),
    }
}

impl TestApp {
    /// The `APP_BASE_URL` the simulator redirects to (for single instances, `address`).
    pub fn public_url(&self) -> String {
        self.sim
            .registered_redirect_uri()
            .and_then(|uri| {
                uri.strip_suffix("/auth/rememberizer/callback")
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| self.address.clone())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The `Cookie` header this test browser sends to the app.
    pub fn cookie_header(&self) -> String {
        let url = Url::parse(&self.address).expect("url");
        self.jar
            .cookies(&url)
            .and_then(|v| v.to_str().ok().map(str::to_owned))
            .unwrap_or_default()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_html(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    /// Step 1 as the browser sees it: the authorize URL the app redirects to.
    pub async fn start_connect(&self) -> Url {
        let response = self.get("/auth/rememberizer").await;
        assert_eq!(response.status(), StatusCode::FOUND);
        Url::parse(location(&response)).expect("authorize URL")
    }

    /// Step 2 on the simulator's consent page (see [`consent_with`]).
    pub async fn consent(&self, authorize_url: &Url, mementos: &[u64], allow: bool) -> Url {
        consent_with(&self.client, authorize_url, mementos, allow).await
    }

    /// Step 3: the browser follows the provider's redirect to the app's callback.
    pub async fn follow(&self, callback: &Url) -> Response {
        self.client
            .get(callback.clone())
            .send()
            .await
            .expect("callback")
    }

    /// The whole flow, granting `mementos`; returns the callback's response.
    pub async fn connect_with(&self, mementos: &[u64]) -> Response {
        let authorize = self.start_connect().await;
        let callback = self.consent(&authorize, mementos, true).await;
        self.follow(&callback).await
    }

    /// Connects granting every memento that has documents; asserts it landed on the dashboard.
    pub async fn connect(&self) -> Vec<u64> {
        let mementos: Vec<u64> = self
            .sim
            .mementos()
            .into_iter()
            .filter(|m| !m.document_ids.is_empty())
            .map(|m| m.id)
            .collect();
        let response = self.connect_with(&mementos).await;
        assert_is_redirect_to(&response, "/dashboard");
        mementos
    }

    /// The refresh tokens the app sent to the token endpoint, in order (each request checked
    /// for client credentials in the body).
    pub fn refresh_tokens_sent(&self) -> Vec<String> {
        self.sim
            .token_requests()
            .iter()
            .filter(|r| r.grant_type == "refresh_token")
            .map(|r| {
                let form: HashMap<_, _> = r.form.iter().cloned().collect();
                assert_eq!(form["client_id"], CLIENT_ID);
                assert_eq!(
                    form["client_secret"], CLIENT_SECRET,
                    "credentials in the body"
                );
                form["refresh_token"].clone()
            })
            .collect()
    }

    /// The same app and simulators seen from another browser (its own cookie jar): another
    /// person.
    pub fn second_browser(&self) -> TestApp {
        let jar = Arc::new(Jar::default());
        TestApp {
            address: self.address.clone(),
            client: browser_with_jar(jar.clone()),
            jar,
            sim: self.sim.clone(),
            sim_url: self.sim_url.clone(),
            _simulator: self._simulator.clone(),
            memoram: self.memoram.clone(),
            memoram_url: self.memoram_url.clone(),
            _memoram_simulator: self._memoram_simulator.clone(),
        }
    }

    /// The CSRF token of the logout form on a page.
    pub async fn csrf_token(&self) -> String {
        let (_, html) = self.get_html("/dashboard").await;
        extract_hidden(&html, "csrf_token").expect("the page has a logout form")
    }

    pub async fn logout(&self, csrf_token: Option<&str>) -> Response {
        let mut form = HashMap::new();
        if let Some(token) = csrf_token {
            form.insert("csrf_token", token.to_owned());
        }
        self.client
            .post(self.url("/logout"))
            .form(&form)
            .send()
            .await
            .expect("POST /logout")
    }

    /// Documents the simulator should show for `mementos`, by name.
    pub fn expected_document_ids(&self, mementos: &[u64]) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .sim
            .mementos()
            .into_iter()
            .filter(|m| mementos.contains(&m.id))
            .flat_map(|m| m.document_ids)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The Memoram simulator's handle (the app must have been started with Memoram).
    pub fn mem(&self) -> &MemoramHandle {
        self.memoram
            .as_ref()
            .expect("started with spawn_app_with_memoram")
    }

    /// Memoram's Steps 1–4: the authorize redirect, the consent page (Authorize or Deny), and
    /// the callback's response.
    pub async fn connect_memoram_with(&self, allow: bool) -> Response {
        let response = self.get("/auth/memoram").await;
        assert_eq!(response.status(), StatusCode::FOUND);
        let authorize = Url::parse(location(&response)).expect("authorize URL");
        let callback = self.consent(&authorize, &[], allow).await;
        self.follow(&callback).await
    }

    /// Connects Memoram; asserts the waiting page is next. Returns the access request's id.
    pub async fn connect_memoram(&self) -> String {
        let response = self.connect_memoram_with(true).await;
        assert_is_redirect_to(&response, "/memoram/access");
        self.latest_access_request()
    }

    /// The id of the access request the app made last, as Memoram's simulator holds it.
    pub fn latest_access_request(&self) -> String {
        self.mem()
            .access_requests()
            .last()
            .expect("an access request was made")
            .id
            .clone()
    }

    /// Connects Memoram and approves the access request in the simulator's dashboard; asserts
    /// the waiting page moves on to the memories.
    pub async fn connect_memoram_approved(&self) -> String {
        let request = self.connect_memoram().await;
        assert!(self.mem().approve(&request));
        let response = self.get("/memoram/access").await;
        assert_is_redirect_to(&response, "/memories");
        request
    }

    /// A POST of `form` (plus this session's CSRF token, read from `csrf_page`).
    pub async fn post_with_csrf(
        &self,
        csrf_page: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Response {
        let (_, html) = self.get_html(csrf_page).await;
        let token = extract_hidden(&html, "csrf_token").expect("a form with a CSRF token");
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf_token", &token));
        self.client
            .post(self.url(path))
            .form(&fields)
            .send()
            .await
            .expect("POST")
    }

    pub fn token_request_count(&self, grant_type: &str) -> usize {
        self.sim
            .token_requests()
            .iter()
            .filter(|r| r.grant_type == grant_type)
            .count()
    }
}

pub fn location(response: &Response) -> &str {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("a Location header")
}

pub fn assert_is_redirect_to(response: &Response, path: &str) {
    assert!(
        response.status().is_redirection(),
        "expected a redirect to {path}, got {}",
        response.status()
    );
    assert_eq!(location(response), path);
}

/// A page that needs a connection this browser lacks answers `403` with a page that says so and
/// a "Connect …" link to `connect_route` carrying `asked` (the path and query asked for,
/// URL-encoded) as `return_to`. Returns the page.
pub async fn assert_asks_to_connect(
    response: Response,
    connect_route: &str,
    asked: &str,
) -> String {
    assert_eq!(
        response.status(),
        reqwest::StatusCode::FORBIDDEN,
        "{asked}: a page that needs a connection says so"
    );
    assert!(response.headers().get(LOCATION).is_none(), "{asked}");
    let html = response.text().await.expect("body");
    let encoded: String = url::form_urlencoded::byte_serialize(asked.as_bytes()).collect();
    let href = format!("{connect_route}?return_to={encoded}");
    assert!(
        hrefs(&html).contains(&href),
        "{asked}: no link to {href} in {html}"
    );
    assert_eq!(html.matches("<h1").count(), 1, "{asked}: one heading");
    assert!(
        html.contains("<h1 id=\"connect-heading\">Connect "),
        "{html}"
    );
    html
}

pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

/// The value of `<input type="hidden" name="NAME" value="…">` in a page.
pub fn extract_hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// A query parameter of a URL (the state of an authorize URL, the code of a callback).
pub fn query_param(url: &Url, name: &str) -> String {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{name} in {url}"))
}

/// Every `href` in a page, with the HTML escaping Tera applies (`&amp;`) undone.
pub fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.find('"').map(|end| unescape(&rest[..end])))
        .collect()
}

/// Text as Tera 2's autoescape writes it into a page (`&`, `<`, `>`, `"` and `'`).
pub fn escape_html(text: &str) -> String {
    let mut escaped = Vec::new();
    tera::escape_html(text, &mut escaped).expect("writing to a Vec");
    String::from_utf8(escaped).expect("UTF-8 in, UTF-8 out")
}

/// The reverse of `escape_html`.
pub fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The target of the link marked `rel="…"`, if the page has one.
pub fn rel_link(html: &str, rel: &str) -> Option<String> {
    let marker = format!("rel=\"{rel}\" href=\"");
    let rest = html.split(&marker).nth(1)?;
    Some(unescape(&rest[..rest.find('"')?]))
}

/// `/readyz` until it answers `expected` (its answer is reused for `READINESS_TTL`).
pub async fn readyz_becomes(app: &TestApp, expected: StatusCode) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let response = app.get("/readyz").await;
        if response.status() == expected {
            return response.json().await.expect("json");
        }
        assert!(
            started.elapsed() < talk_to_mementos::routes::health::READINESS_TTL * 3,
            "/readyz stayed {}",
            response.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `count` anonymous `GET /auth/rememberizer`, `concurrency` at a time, each from a client
/// without cookies (as a flood would come). Returns how many were answered 302.
pub async fn flood_of_starts(address: &str, count: usize, concurrency: usize) -> usize {
    use futures_util::StreamExt;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let url = format!("{address}/auth/rememberizer");
    futures_util::stream::iter(0..count)
        .map(|_| client.get(&url).send())
        .buffer_unordered(concurrency)
        .filter(|r| std::future::ready(r.as_ref().is_ok_and(|r| r.status() == StatusCode::FOUND)))
        .count()
        .await
}

/// Resident memory of a process, in KiB (`/proc/PID/status`).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The start of a page still being sent, read until it holds `needle` (a streamed page's parts
/// may come in several chunks).
pub async fn read_until(response: &mut Response, needle: &str) -> String {
    let mut text = String::new();
    while !text.contains(needle) {
        let chunk = tokio::time::timeout(Duration::from_secs(15), response.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {needle} within 15 s: {text}"))
            .expect("a chunk")
            .unwrap_or_else(|| panic!("the page ended without {needle}: {text}"));
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text
}
