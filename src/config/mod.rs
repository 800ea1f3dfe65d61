//! Configuration: read once from the environment (and `.env`, via dotenvy) into one typed struct.
//!
//! Every variable is documented in the README and in `.env.example`. A bad value stops the start
//! with one line naming the variable (`ConfigError`'s `Display`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

pub use crate::http_client::HttpSettings;

/// The `User-Agent` of every call this app makes: its name and version.
pub const USER_AGENT: &str = concat!("talk-to-mementos/", env!("CARGO_PKG_VERSION"));
use crate::memoram::cipher::ContentCipher;
pub use rules::{MEMORAM_VARS, REMEMBERIZER_VARS};

mod llm;
mod rules;

pub use llm::{LlmLimits, LlmSettings, DEFAULT_LLM_TIMEOUT, DEFAULT_LLM_TOTAL};

/// Production Rememberizer. Everything provider-specific derives from this base URL.
pub const DEFAULT_PROVIDER_URL: &str = "https://api.rememberizer.ai";
pub const DEFAULT_SCOPE: &str = "offline_access";
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8080";
/// Production Memoram's API.
pub const DEFAULT_MEMORAM_BASE_URL: &str = "https://api.memoram.app/api/v1";
/// Where a Memoram user approves access requests (the docs say "their Memoram dashboard").
pub const DEFAULT_MEMORAM_DASHBOARD_URL: &str = "https://memoram.app/dashboard";
/// The access request's default `reason`, shown to the user in their Memoram dashboard.
/// How long the waiting page watches a pending access request (see `routes::memoram::access`).
pub const DEFAULT_MEMORAM_WATCH: std::time::Duration = std::time::Duration::from_secs(5 * 60);
pub const DEFAULT_MEMORAM_REASON: &str =
    "Talk to Mementos would like to read and write your memories, to answer your questions with them.";

/// `REMEMBERIZER_CACHE_SECS` when unset: the dashboard reuses a connection's account and
/// integrations for a minute.
pub const DEFAULT_PROFILE_CACHE_TTL: Duration = Duration::from_secs(60);

/// The app's whole configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None` means demo mode: the app starts the built-in simulator and talks to it.
    pub client: Option<ClientCredentials>,
    pub provider_url: Url,
    pub scopes: Vec<String>,
    /// `None` means "derive from the bound address" (only allowed in demo mode).
    pub app_base_url: Option<Url>,
    pub bind_addr: SocketAddr,
    /// `None` means a random key per start (sessions do not survive a restart).
    pub session_key: Option<SessionKeyBytes>,
    pub session_store: SessionStoreKind,
    pub http: HttpSettings,
    /// How long the dashboard reuses a connection's account and integrations
    /// (`REMEMBERIZER_CACHE_SECS`; zero: not at all). See `rememberizer::cache`.
    pub profile_cache_ttl: Duration,
    /// An OpenAI-compatible chat endpoint for written answers on `/ask`; `None` shows passages
    /// only (in demo mode the simulator's endpoint is used).
    pub llm: Option<LlmSettings>,
    /// `LLM_TIMEOUT_SECS` and `LLM_TOTAL_SECS`, for the configured answer service or the demo's.
    pub llm_limits: LlmLimits,
    pub memoram: MemoramSettings,
    /// `TRUSTED_PROXIES` and `TRUSTED_PROXY_HEADER`: whose forwarded header names the client.
    pub trusted_proxies: crate::auth::exchange_limit::TrustedProxies,
}

/// Memoram's configuration. Whether Memoram is offered: with `MEMORAM_CLIENT_ID` (for real), or
/// in demo mode (on its simulator); not when Rememberizer is configured for real and Memoram is
/// not.
#[derive(Debug, Clone)]
pub struct MemoramSettings {
    /// `None`: the simulator in demo mode, or Memoram not offered.
    pub client: Option<MemoramClientSettings>,
    pub base_url: Url,
    /// `MEMORAM_AUTHORIZE_URL`; default `BASE/oauth/authorize` (not published by Memoram).
    pub authorize_url: Url,
    /// `MEMORAM_TOKEN_URL`; default `BASE/oauth/token` (the Quickstart's `/oauth/token`).
    pub token_url: Url,
    pub scopes: Vec<String>,
    pub access_reason: String,
    pub cipher: ContentCipher,
    /// `MEMORAM_DASHBOARD_URL`: linked from the waiting page.
    pub dashboard_url: Url,
    /// `MEMORAM_SEND_TO_LLM`: whether `/ask` sends the memories it finds, decrypted, to the
    /// answer service. Unset: yes with the simulator's (demo) memories, no with real ones.
    pub send_to_llm: Option<bool>,
    /// How long the waiting page keeps watching a pending access request before it ends with
    /// "check now" ([`DEFAULT_MEMORAM_WATCH`]; not an environment variable: the tests shorten it).
    pub access_watch: std::time::Duration,
}

/// The app's registration in the Memoram Developer Portal.
#[derive(Debug, Clone)]
pub struct MemoramClientSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    pub api_key: SecretString,
}

/// `LLM_BASE_URL` (e.g. `https://api.openai.com/v1`), `LLM_API_KEY`, `LLM_MODEL`,
/// `LLM_TIMEOUT_SECS`.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Key material for signing and encrypting the session cookie (at least 64 bytes).
#[derive(Clone)]
pub struct SessionKeyBytes(pub Vec<u8>);

impl std::fmt::Debug for SessionKeyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeyBytes([REDACTED])")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionStoreKind {
    Memory,
    Redis(Url),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{var} is required when {because} is set")]
    MissingFor {
        var: &'static str,
        because: &'static str,
    },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("{var} is not a setting of this app{}", suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    Unknown {
        var: String,
        suggestion: Option<&'static str>,
    },
    /// Demo mode would serve simulated accounts on an address others can reach.
    #[error("{var}={value} is not a loopback address, and with no {provider}_* settings {provider} would be the built-in simulator, which serves this machine only (the simulators listen on 127.0.0.1, where another machine's browser cannot reach them): set {provider}_CLIENT_ID and its secret for the real service, or keep demo mode on a loopback address")]
    PublicDemo {
        var: &'static str,
        value: String,
        provider: &'static str,
    },
    #[error("{var} is not valid UTF-8 text")]
    NotText { var: String },
    /// A build without the `demo` feature has no simulators to fall back on.
    #[error(
        "{var} is required: this build has no demo mode (it was built without the `demo` feature)"
    )]
    NoDemo { var: &'static str },
}

impl Settings {
    /// Reads `.env` (if present; real environment variables win) and then the environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is not worth refusing to start over.
        let _ = dotenvy::dotenv();
        Self::from_os_vars(std::env::vars_os())
    }

    /// The environment as the OS gives it: any bytes. Another program's variable that is not
    /// text is none of this app's business (`std::env::vars` would panic on it); one of this
    /// app's is refused by name.
    pub fn from_os_vars(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Self, ConfigError> {
        let mut text = HashMap::new();
        for (name, value) in vars {
            let Ok(name) = name.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => {
                    text.insert(name, value);
                }
                Err(_) if rules::is_read(&name) => return Err(ConfigError::NotText { var: name }),
                Err(_) => {}
            }
        }
        Self::from_vars(&text)
    }

    /// Builds settings from a set of variables (the process environment, or a map in tests).
    ///
    /// A provider runs on its built-in simulator only when *none* of its settings is set
    /// ([`REMEMBERIZER_VARS`], [`MEMORAM_VARS`]); any of them and all it needs must be there.
    /// Memoram is simulated only alongside a simulated Rememberizer (demo mode); with
    /// Rememberizer configured and no Memoram settings, Memoram is not offered. Demo mode
    /// refuses a non-loopback `BIND_ADDR` or `APP_BASE_URL` (its simulators serve this machine
    /// only), and a build without the `demo` feature refuses to start without Rememberizer's
    /// settings. An unknown `REMEMBERIZER_*` or `MEMORAM_*` variable, or a near miss of an
    /// `LLM_*` one, is refused (a misspelt name).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        rules::check_names(vars.keys())?;
        let settings = Self::from_lookup(|name| vars.get(name).cloned())?;
        rules::check_demo(&settings)?;
        Ok(settings)
    }

    /// Builds settings from any variable lookup, without the checks of [`Self::from_vars`]
    /// that need the whole set of variables or concern demo mode.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());

        let provider_url = parse_http_url(
            "REMEMBERIZER_BASE_URL",
            &get("REMEMBERIZER_BASE_URL").unwrap_or_else(|| DEFAULT_PROVIDER_URL.to_owned()),
        )?;

        // Values are checked before completeness: a bad URL is named as such.
        let client =
            rules::required(&get, &REMEMBERIZER_VARS, &REMEMBERIZER_VARS[..2])?.map(|values| {
                ClientCredentials {
                    client_id: values[0].trim().to_owned(),
                    client_secret: SecretString::from(values[1].clone()),
                }
            });

        let scopes = get("REMEMBERIZER_SCOPE")
            .unwrap_or_else(|| DEFAULT_SCOPE.to_owned())
            .split_whitespace()
            .map(str::to_owned)
            .collect();

        let app_base_url = get("APP_BASE_URL")
            .map(|v| parse_http_url("APP_BASE_URL", &v))
            .transpose()?;
        // Routes, cookie paths and redirects are at the root: a path here would be ignored by
        // all of them but the redirect URIs, which would then not match. Refused, not ignored.
        if let Some(url) = app_base_url.as_ref().filter(|url| url.path() != "/") {
            return Err(ConfigError::Invalid {
                var: "APP_BASE_URL",
                reason: format!(
                    "has a path ({}); this app serves its pages, cookies and callbacks at the root of its origin: give the origin only, like https://mementos.example.com",
                    url.path()
                ),
            });
        }
        // Outside demo mode the redirect URI registered at Rememberizer must be known up front;
        // it never comes from the request's Host header.
        let app_base_url = match (&client, app_base_url) {
            (Some(_), None) => Some(parse_http_url("APP_BASE_URL", "http://localhost:8080")?),
            (_, url) => url,
        };

        let bind_addr = get("BIND_ADDR")
            .unwrap_or_else(|| DEFAULT_BIND_ADDR.to_owned())
            .trim()
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::Invalid {
                var: "BIND_ADDR",
                reason: format!("{e} (expected host:port, e.g. 127.0.0.1:8080)"),
            })?;

        let session_key = get("SESSION_KEY")
            .map(|v| parse_session_key(&v))
            .transpose()?;

        let session_store = match get("SESSION_STORE").as_deref().map(str::trim) {
            None | Some("memory") => SessionStoreKind::Memory,
            Some(other) => {
                let url = Url::parse(other).map_err(|e| ConfigError::Invalid {
                    var: "SESSION_STORE",
                    reason: format!("{e} (expected `memory` or a redis:// URL)"),
                })?;
                if url.scheme() == "rediss" {
                    return Err(ConfigError::Invalid {
                        var: "SESSION_STORE",
                        reason: "rediss:// (Redis over TLS) is not supported by this build; use \
                                 redis:// on a private network, or a local TLS tunnel (e.g. \
                                 stunnel) in front of the TLS endpoint"
                            .to_owned(),
                    });
                }
                if url.scheme() != "redis" {
                    return Err(ConfigError::Invalid {
                        var: "SESSION_STORE",
                        reason: "expected `memory` or a redis:// URL".to_owned(),
                    });
                }
                // Instances sharing sessions must sign and encrypt cookies with the same key; a
                // random key per start would make every instance reject the others' cookies.
                if session_key.is_none() {
                    return Err(ConfigError::MissingFor {
                        var: "SESSION_KEY",
                        because: "SESSION_STORE=redis://…",
                    });
                }
                SessionStoreKind::Redis(url)
            }
        };

        let mut http = HttpSettings {
            user_agent: USER_AGENT.to_owned(),
            ..HttpSettings::default()
        };
        if let Some(timeout) = whole_seconds("REMEMBERIZER_TIMEOUT_SECS", get, 1..=120)? {
            http.request_timeout = timeout;
        }

        let profile_cache_ttl = whole_seconds("REMEMBERIZER_CACHE_SECS", get, 0..=3600)?
            .unwrap_or(DEFAULT_PROFILE_CACHE_TTL);

        let (llm_limits, llm) = llm::settings(get)?;

        let trusted_proxies = crate::auth::exchange_limit::TrustedProxies::parse(
            &get("TRUSTED_PROXIES").unwrap_or_default(),
            get("TRUSTED_PROXY_HEADER").as_deref(),
        )
        .map_err(|(var, reason)| ConfigError::Invalid { var, reason })?;

        let memoram = memoram_settings(&get)?;
        Ok(Self {
            client,
            provider_url,
            scopes,
            app_base_url,
            bind_addr,
            session_key,
            session_store,
            http,
            profile_cache_ttl,
            llm,
            llm_limits,
            memoram,
            trusted_proxies,
        })
    }

    /// Whether "Connect Memoram" is offered (see [`MemoramSettings`]).
    pub fn memoram_offered(&self) -> bool {
        self.memoram.client.is_some() || self.is_demo_mode()
    }

    /// Rememberizer has no settings: it runs on its simulator (and so may Memoram).
    pub fn is_demo_mode(&self) -> bool {
        self.client.is_none()
    }

    /// Memoram has no settings and Rememberizer is simulated: Memoram is simulated too.
    pub fn memoram_simulated(&self) -> bool {
        self.is_demo_mode() && self.memoram.client.is_none()
    }
}

fn memoram_settings(get: &impl Fn(&str) -> Option<String>) -> Result<MemoramSettings, ConfigError> {
    let base_url = parse_http_url(
        "MEMORAM_BASE_URL",
        &get("MEMORAM_BASE_URL").unwrap_or_else(|| DEFAULT_MEMORAM_BASE_URL.to_owned()),
    )?;
    let derived = |var: &'static str, path: &str| match get(var) {
        Some(raw) => parse_http_url(var, &raw),
        None => crate::auth::oauth::join(&base_url, path).map_err(|e| ConfigError::Invalid {
            var,
            reason: e.to_string(),
        }),
    };
    let authorize_url = derived("MEMORAM_AUTHORIZE_URL", "oauth/authorize")?;
    let token_url = derived("MEMORAM_TOKEN_URL", "oauth/token")?;
    let access_reason = get("MEMORAM_ACCESS_REASON")
        .map(|reason| reason.trim().to_owned())
        .unwrap_or_else(|| DEFAULT_MEMORAM_REASON.to_owned());
    if access_reason.chars().count() > crate::memoram::MAX_REASON_CHARS {
        return Err(ConfigError::Invalid {
            var: "MEMORAM_ACCESS_REASON",
            reason: format!(
                "{} characters; Memoram takes at most {}",
                access_reason.chars().count(),
                crate::memoram::MAX_REASON_CHARS
            ),
        });
    }
    let cipher = match get("MEMORAM_CONTENT_CIPHER") {
        None => ContentCipher::Aes256Gcm,
        Some(raw) => ContentCipher::parse(&raw).ok_or_else(|| ConfigError::Invalid {
            var: "MEMORAM_CONTENT_CIPHER",
            reason: "expected `aes-256-gcm` or `none`".to_owned(),
        })?,
    };
    let dashboard_url = parse_http_url(
        "MEMORAM_DASHBOARD_URL",
        &get("MEMORAM_DASHBOARD_URL").unwrap_or_else(|| DEFAULT_MEMORAM_DASHBOARD_URL.to_owned()),
    )?;
    // Values are checked before completeness: a bad URL is named as such.
    let client = rules::required(get, &MEMORAM_VARS, &MEMORAM_VARS[..3])?.map(|values| {
        MemoramClientSettings {
            client_id: values[0].trim().to_owned(),
            client_secret: SecretString::from(values[1].clone()),
            api_key: SecretString::from(values[2].clone()),
        }
    });
    let send_to_llm = match get("MEMORAM_SEND_TO_LLM").as_deref().map(str::trim) {
        None => None,
        Some("1" | "true") => Some(true),
        Some("0" | "false") => Some(false),
        Some(_) => {
            return Err(ConfigError::Invalid {
                var: "MEMORAM_SEND_TO_LLM",
                reason: "expected 1 or 0".to_owned(),
            })
        }
    };
    Ok(MemoramSettings {
        client,
        base_url,
        authorize_url,
        token_url,
        scopes: get("MEMORAM_SCOPE")
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        access_reason,
        cipher,
        dashboard_url,
        send_to_llm,
        access_watch: DEFAULT_MEMORAM_WATCH,
    })
}

/// `var` as a whole number of seconds within `allowed` (`None` when unset); `0`, where allowed,
/// means "off".
fn whole_seconds(
    var: &'static str,
    get: impl Fn(&str) -> Option<String>,
    allowed: RangeInclusive<u64>,
) -> Result<Option<Duration>, ConfigError> {
    let Some(raw) = get(var) else {
        return Ok(None);
    };
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|seconds| allowed.contains(seconds))
        .map(|seconds| Some(Duration::from_secs(seconds)))
        .ok_or_else(|| ConfigError::Invalid {
            var,
            reason: format!(
                "expected a whole number of seconds from {}{} to {}",
                allowed.start(),
                if *allowed.start() == 0 { " (off)" } else { "" },
                allowed.end()
            ),
        })
}

fn parse_http_url(var: &'static str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value.trim()).map_err(|e| ConfigError::Invalid {
        var,
        reason: format!("{e} (expected an absolute http(s) URL)"),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ConfigError::Invalid {
            var,
            reason: "expected an absolute http(s) URL".to_owned(),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::Invalid {
            var,
            reason: "must not carry a query or fragment".to_owned(),
        });
    }
    Ok(url)
}

/// `SESSION_KEY` may be hex or base64 (standard or URL-safe); it must decode to 64+ bytes,
/// which is what actix-web's `Key` needs for signing plus encryption.
fn parse_session_key(value: &str) -> Result<SessionKeyBytes, ConfigError> {
    // The crate's reading of it, so that a key the app takes, the crate takes too.
    actix_rememberizer::session_key(value)
        .map(SessionKeyBytes)
        .map_err(|reason| ConfigError::Invalid {
            var: "SESSION_KEY",
            reason: reason.to_owned(),
        })
}

#[cfg(test)]
mod tests;
