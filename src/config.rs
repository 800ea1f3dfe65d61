//! Configuration: read once from the environment (and `.env`, via dotenvy) into one typed struct.
//!
//! Every variable is documented in the README and in `.env.example`. A bad value stops the start
//! with one line naming the variable (`ConfigError`'s `Display`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

use base64::Engine;
use secrecy::SecretString;
use url::Url;

pub use crate::http_client::HttpSettings;
use crate::memoram::cipher::ContentCipher;

/// Production Rememberizer. Everything provider-specific derives from this base URL.
pub const DEFAULT_PROVIDER_URL: &str = "https://api.rememberizer.ai";
pub const DEFAULT_SCOPE: &str = "offline_access";
pub const DEFAULT_BIND_ADDR: &str = "127.0.0.1:8080";
/// Production Memoram's API.
pub const DEFAULT_MEMORAM_BASE_URL: &str = "https://api.memoram.app/api/v1";
/// Where a Memoram user approves access requests (the docs say "their Memoram dashboard").
pub const DEFAULT_MEMORAM_DASHBOARD_URL: &str = "https://memoram.app/dashboard";
/// The access request's default `reason`, shown to the user in their Memoram dashboard.
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
    pub memoram: MemoramSettings,
    /// `DEMO=1`: demo mode may listen on a public address (see [`Settings::from_vars`]).
    pub public_demo: bool,
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
pub struct LlmSettings {
    pub base_url: Url,
    pub api_key: SecretString,
    pub model: String,
    /// The answer call's own limit: writing 400 tokens can take longer than an API call.
    pub timeout: Duration,
}

/// Default `LLM_TIMEOUT_SECS`.
pub const DEFAULT_LLM_TIMEOUT: Duration = Duration::from_secs(30);

/// The app's registration at Rememberizer's Developer Hub.
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

/// Rememberizer's settings that name a service and a registration: any of them means "the real
/// Rememberizer", so everything it needs must then be set too. With none of them, Rememberizer is
/// the built-in simulator (demo mode).
pub const REMEMBERIZER_VARS: [&str; 4] = [
    "REMEMBERIZER_CLIENT_ID",
    "REMEMBERIZER_CLIENT_SECRET",
    "REMEMBERIZER_BASE_URL",
    "REMEMBERIZER_SCOPE",
];
/// Memoram's, likewise.
pub const MEMORAM_VARS: [&str; 8] = [
    "MEMORAM_CLIENT_ID",
    "MEMORAM_CLIENT_SECRET",
    "MEMORAM_API_KEY",
    "MEMORAM_BASE_URL",
    "MEMORAM_AUTHORIZE_URL",
    "MEMORAM_TOKEN_URL",
    "MEMORAM_SCOPE",
    "MEMORAM_DASHBOARD_URL",
];
/// Settings that tune the app whichever service it talks to, simulator included.
const TUNING_VARS: [&str; 8] = [
    "REMEMBERIZER_TIMEOUT_SECS",
    "REMEMBERIZER_CACHE_SECS",
    "MEMORAM_ACCESS_REASON",
    "MEMORAM_CONTENT_CIPHER",
    "LLM_BASE_URL",
    "LLM_API_KEY",
    "LLM_MODEL",
    "LLM_TIMEOUT_SECS",
];
/// A variable with one of these prefixes must be one of the app's: a misspelt name is refused
/// rather than silently ignored (an ignored `REMEMBERIZER_CLIENTID` would mean demo mode).
const OWN_PREFIXES: [&str; 3] = ["REMEMBERIZER_", "MEMORAM_", "LLM_"];

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
    #[error("{var}={value} is not a loopback address, and with no {provider}_* settings {provider} would be the built-in simulator: set {provider}_CLIENT_ID and its secret, or DEMO=1 to serve the demo there on purpose")]
    PublicDemo {
        var: &'static str,
        value: String,
        provider: &'static str,
    },
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
        Self::from_vars(&std::env::vars().collect())
    }

    /// Builds settings from a set of variables (the process environment, or a map in tests).
    ///
    /// A provider runs on its built-in simulator only when *none* of its settings is set
    /// ([`REMEMBERIZER_VARS`], [`MEMORAM_VARS`]); any of them and all it needs must be there.
    /// Memoram is simulated only alongside a simulated Rememberizer (demo mode); with
    /// Rememberizer configured and no Memoram settings, Memoram is not offered. Demo mode
    /// refuses a non-loopback `BIND_ADDR` or `APP_BASE_URL` unless `DEMO=1`, and a build without
    /// the `demo` feature refuses to start without Rememberizer's settings. An unknown
    /// `REMEMBERIZER_*`, `MEMORAM_*` or `LLM_*` variable is refused (a misspelt name).
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        for name in vars.keys() {
            if OWN_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
                && !REMEMBERIZER_VARS
                    .iter()
                    .chain(&MEMORAM_VARS)
                    .chain(&TUNING_VARS)
                    .any(|known| known == name)
            {
                return Err(ConfigError::Unknown {
                    var: name.clone(),
                    suggestion: closest_known(name),
                });
            }
        }
        let settings = Self::from_lookup(|name| vars.get(name).cloned())?;
        settings.check_demo()?;
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
        let client = required(&get, &REMEMBERIZER_VARS, &REMEMBERIZER_VARS[..2])?.map(|values| {
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

        let mut http = HttpSettings::default();
        if let Some(timeout) = whole_seconds("REMEMBERIZER_TIMEOUT_SECS", get, 1..=120)? {
            http.request_timeout = timeout;
        }

        let profile_cache_ttl = whole_seconds("REMEMBERIZER_CACHE_SECS", get, 0..=3600)?
            .unwrap_or(DEFAULT_PROFILE_CACHE_TTL);

        let llm = match get("LLM_BASE_URL") {
            None => None,
            Some(raw) => Some(LlmSettings {
                base_url: parse_http_url("LLM_BASE_URL", &raw)?,
                api_key: SecretString::from(get("LLM_API_KEY").ok_or(ConfigError::MissingFor {
                    var: "LLM_API_KEY",
                    because: "LLM_BASE_URL",
                })?),
                model: get("LLM_MODEL").ok_or(ConfigError::MissingFor {
                    var: "LLM_MODEL",
                    because: "LLM_BASE_URL",
                })?,
                timeout: whole_seconds("LLM_TIMEOUT_SECS", get, 1..=300)?
                    .unwrap_or(DEFAULT_LLM_TIMEOUT),
            }),
        };

        let memoram = memoram_settings(&get)?;
        let public_demo = match get("DEMO").as_deref().map(str::trim) {
            None | Some("0" | "false") => false,
            Some("1" | "true") => true,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    var: "DEMO",
                    reason: "expected 1 or 0".to_owned(),
                })
            }
        };

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
            memoram,
            public_demo,
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

    /// Demo mode only where it is meant: in a build that has it, and on a loopback address
    /// unless `DEMO=1`.
    fn check_demo(&self) -> Result<(), ConfigError> {
        if !self.is_demo_mode() {
            return Ok(());
        }
        if !cfg!(feature = "demo") {
            return Err(ConfigError::NoDemo {
                var: "REMEMBERIZER_CLIENT_ID",
            });
        }
        if self.public_demo {
            return Ok(());
        }
        let public = |var: &'static str, value: String| ConfigError::PublicDemo {
            var,
            value,
            provider: "REMEMBERIZER",
        };
        if !self.bind_addr.ip().is_loopback() {
            return Err(public("BIND_ADDR", self.bind_addr.to_string()));
        }
        if let Some(url) = &self.app_base_url {
            let local = match url.host() {
                Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !local {
                return Err(public("APP_BASE_URL", url.to_string()));
            }
        }
        Ok(())
    }
}

/// `needed` (in order), if any of `provider`'s settings is set; `None` if none is. The first
/// setting of `needed` that is missing is named, with the first of `provider`'s that is set.
fn required(
    get: &impl Fn(&str) -> Option<String>,
    provider: &[&'static str],
    needed: &[&'static str],
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(because) = provider.iter().copied().find(|var| get(var).is_some()) else {
        return Ok(None);
    };
    needed
        .iter()
        .map(|var| get(var).ok_or(ConfigError::MissingFor { var, because }))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The known variable `name` was most likely meant to be: the same letters but for `_` and
/// case, the start of one, or at most two edits away.
fn closest_known(name: &str) -> Option<&'static str> {
    let letters = |s: &str| s.replace('_', "").to_ascii_uppercase();
    let known = || {
        REMEMBERIZER_VARS
            .iter()
            .chain(&MEMORAM_VARS)
            .chain(&TUNING_VARS)
            .copied()
    };
    known()
        .find(|k| letters(k) == letters(name))
        .or_else(|| known().find(|k| k.starts_with(name)))
        .or_else(|| {
            known()
                .map(|k| (edit_distance(k, name), k))
                .filter(|(distance, _)| *distance <= 2)
                .min()
                .map(|(_, k)| k)
        })
}

/// Levenshtein distance over bytes (variable names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
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
    let client =
        required(get, &MEMORAM_VARS, &MEMORAM_VARS[..3])?.map(|values| MemoramClientSettings {
            client_id: values[0].trim().to_owned(),
            client_secret: SecretString::from(values[1].clone()),
            api_key: SecretString::from(values[2].clone()),
        });
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
    let value = value.trim();
    let decoded = decode_hex(value)
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(value).ok())
        .or_else(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(value)
                .ok()
        })
        .ok_or_else(|| ConfigError::Invalid {
            var: "SESSION_KEY",
            reason: "expected hex or base64".to_owned(),
        })?;
    if decoded.len() < 64 {
        return Err(ConfigError::Invalid {
            var: "SESSION_KEY",
            reason: format!(
                "decodes to {} bytes, at least 64 are needed (try `openssl rand -base64 64`)",
                decoded.len()
            ),
        });
    }
    Ok(SessionKeyBytes(decoded))
}

fn decode_hex(value: &str) -> Option<Vec<u8>> {
    if value.len() % 2 != 0 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..value.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&value[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn no_client_id_means_demo_mode_with_defaults() {
        let s = settings(&[]).expect("defaults are valid");
        assert!(s.is_demo_mode());
        assert_eq!(s.provider_url.as_str(), "https://api.rememberizer.ai/");
        assert_eq!(s.scopes, vec!["offline_access".to_owned()]);
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.session_store, SessionStoreKind::Memory);
        assert!(s.app_base_url.is_none());
    }

    #[test]
    fn a_client_id_without_a_secret_names_the_missing_variable() {
        let err = settings(&[("REMEMBERIZER_CLIENT_ID", "abc")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "REMEMBERIZER_CLIENT_SECRET is required when REMEMBERIZER_CLIENT_ID is set"
        );
    }

    #[test]
    fn real_mode_defaults_app_base_url_to_localhost_8080() {
        let s = settings(&[
            ("REMEMBERIZER_CLIENT_ID", "abc"),
            ("REMEMBERIZER_CLIENT_SECRET", "shh"),
        ])
        .expect("valid");
        assert_eq!(
            s.app_base_url.map(|u| u.to_string()),
            Some("http://localhost:8080/".to_owned())
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("REMEMBERIZER_BASE_URL", "not a url"),
            ("REMEMBERIZER_BASE_URL", "ftp://example.com"),
            ("APP_BASE_URL", "localhost:8080"),
            ("BIND_ADDR", "localhost"),
            ("SESSION_KEY", "too-short"),
            ("SESSION_KEY", "00ff"),
            ("SESSION_STORE", "postgres://x"),
            ("REMEMBERIZER_TIMEOUT_SECS", "0"),
            ("REMEMBERIZER_TIMEOUT_SECS", "soon"),
            ("REMEMBERIZER_CACHE_SECS", "3601"),
            ("REMEMBERIZER_CACHE_SECS", "-1"),
            ("LLM_BASE_URL", "nope"),
        ] {
            let err = settings(&[(var, value)]).unwrap_err().to_string();
            assert!(err.starts_with(var), "{var}={value} gave: {err}");
        }
    }

    #[test]
    fn the_dashboard_cache_lasts_a_minute_unless_set() {
        let ttl = |pairs: &[(&str, &str)]| settings(pairs).expect("valid").profile_cache_ttl;
        assert_eq!(ttl(&[]), Duration::from_secs(60));
        assert_eq!(ttl(&[("REMEMBERIZER_CACHE_SECS", "0")]), Duration::ZERO);
        assert_eq!(
            ttl(&[("REMEMBERIZER_CACHE_SECS", " 5 ")]),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn a_redis_store_needs_a_session_key_and_tls_is_refused_clearly() {
        let err = settings(&[("SESSION_STORE", "redis://127.0.0.1:6379/0")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "SESSION_KEY is required when SESSION_STORE=redis://… is set"
        );
        let key = "ab".repeat(64);
        let ok = settings(&[
            ("SESSION_STORE", "redis://127.0.0.1:6379/0"),
            ("SESSION_KEY", &key),
        ]);
        assert!(ok.is_ok_and(|s| matches!(s.session_store, SessionStoreKind::Redis(_))));
        let err = settings(&[
            ("SESSION_STORE", "rediss://redis.example:6380"),
            ("SESSION_KEY", &key),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("SESSION_STORE") && err.contains("TLS"),
            "{err}"
        );
    }

    #[test]
    fn session_key_accepts_hex_and_base64() {
        let hex = "ab".repeat(64);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 64]);
        for key in [hex, b64] {
            let s = settings(&[("SESSION_KEY", &key)]).expect("valid key");
            assert_eq!(s.session_key.map(|k| k.0.len()), Some(64));
        }
    }

    #[test]
    fn an_llm_endpoint_needs_a_key_and_a_model() {
        let err = settings(&[("LLM_BASE_URL", "https://llm.example/v1")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "LLM_API_KEY is required when LLM_BASE_URL is set"
        );
        let s = settings(&[
            ("LLM_BASE_URL", "https://llm.example/v1"),
            ("LLM_API_KEY", "k"),
            ("LLM_MODEL", "m"),
        ])
        .expect("valid");
        let llm = s.llm.expect("llm");
        assert_eq!(llm.model, "m");
        assert_eq!(llm.timeout, DEFAULT_LLM_TIMEOUT);
        let err = settings(&[
            ("LLM_BASE_URL", "https://llm.example/v1"),
            ("LLM_API_KEY", "k"),
            ("LLM_MODEL", "m"),
            ("LLM_TIMEOUT_SECS", "0"),
        ])
        .unwrap_err();
        assert!(err.to_string().starts_with("LLM_TIMEOUT_SECS"), "{err}");
    }

    fn from_vars(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(
            &vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn any_provider_setting_means_the_real_provider_so_the_rest_is_required() {
        for (vars, message) in [
            (
                vec![("REMEMBERIZER_CLIENT_SECRET", "shh")],
                "REMEMBERIZER_CLIENT_ID is required when REMEMBERIZER_CLIENT_SECRET is set",
            ),
            (
                vec![("REMEMBERIZER_BASE_URL", "https://api.rememberizer.ai")],
                "REMEMBERIZER_CLIENT_ID is required when REMEMBERIZER_CLIENT_ID",
            ),
            (
                vec![("REMEMBERIZER_SCOPE", "offline_access")],
                "REMEMBERIZER_CLIENT_ID is required when REMEMBERIZER_SCOPE is set",
            ),
            (
                vec![("MEMORAM_API_KEY", "k")],
                "MEMORAM_CLIENT_ID is required when MEMORAM_API_KEY is set",
            ),
            (
                vec![("MEMORAM_CLIENT_ID", "id"), ("MEMORAM_API_KEY", "k")],
                "MEMORAM_CLIENT_SECRET is required when MEMORAM_CLIENT_ID is set",
            ),
            (
                vec![("MEMORAM_DASHBOARD_URL", "https://memoram.app/dashboard")],
                "MEMORAM_CLIENT_ID is required when MEMORAM_DASHBOARD_URL is set",
            ),
        ] {
            let error = from_vars(&vars).expect_err(message).to_string();
            // The second case names the first variable of the provider that is set.
            let expected = message.replace(
                "when REMEMBERIZER_CLIENT_ID",
                "when REMEMBERIZER_BASE_URL is set",
            );
            assert_eq!(error, expected);
        }
    }

    #[test]
    fn tuning_variables_do_not_take_a_provider_out_of_demo_mode() {
        let s = from_vars(&[
            ("REMEMBERIZER_TIMEOUT_SECS", "3"),
            ("REMEMBERIZER_CACHE_SECS", "0"),
            ("MEMORAM_CONTENT_CIPHER", "none"),
        ])
        .expect("valid");
        assert!(s.is_demo_mode() && s.memoram_simulated());
    }

    #[test]
    fn memoram_is_simulated_only_in_demo_mode() {
        let real = [
            ("REMEMBERIZER_CLIENT_ID", "id"),
            ("REMEMBERIZER_CLIENT_SECRET", "s"),
        ];
        let s = from_vars(&real).expect("valid");
        assert!(!s.memoram_simulated() && !s.memoram_offered());
        let memoram = [
            ("MEMORAM_CLIENT_ID", "id"),
            ("MEMORAM_CLIENT_SECRET", "s"),
            ("MEMORAM_API_KEY", "k"),
        ];
        let s = from_vars(&memoram).expect("valid");
        assert!(s.is_demo_mode() && !s.memoram_simulated() && s.memoram_offered());
    }

    #[test]
    fn a_misspelt_variable_is_refused_and_the_likely_one_named() {
        for (var, suggestion) in [
            ("REMEMBERIZER_CLIENTID", "REMEMBERIZER_CLIENT_ID"),
            ("REMEMBERIZER_CLIENT_IDS", "REMEMBERIZER_CLIENT_ID"),
            ("MEMORAM_APIKEY", "MEMORAM_API_KEY"),
            ("LLM_TIMEOUT", "LLM_TIMEOUT_SECS"),
        ] {
            let error = from_vars(&[(var, "x")]).expect_err(var).to_string();
            assert_eq!(
                error,
                format!("{var} is not a setting of this app (did you mean {suggestion}?)")
            );
        }
        let error = from_vars(&[("REMEMBERIZER_SOMETHING_ELSE", "x")])
            .expect_err("unknown")
            .to_string();
        assert_eq!(
            error,
            "REMEMBERIZER_SOMETHING_ELSE is not a setting of this app"
        );
        // Others' variables are not this app's business.
        assert!(from_vars(&[("PATH", "/bin"), ("SIMULATOR_BIND", "x")]).is_ok());
    }

    #[test]
    fn demo_mode_stays_on_loopback_unless_demo_is_set() {
        let error = from_vars(&[("BIND_ADDR", "0.0.0.0:8080")])
            .expect_err("public bind")
            .to_string();
        assert!(
            error.starts_with("BIND_ADDR=0.0.0.0:8080 is not a loopback address")
                && error.contains("DEMO=1"),
            "{error}"
        );
        let error = from_vars(&[("APP_BASE_URL", "https://demo.example.com")])
            .expect_err("public URL")
            .to_string();
        assert!(
            error.starts_with("APP_BASE_URL=https://demo.example.com/"),
            "{error}"
        );
        for local in [
            "http://localhost:8080",
            "http://127.0.0.1:8080",
            "http://[::1]:8080",
        ] {
            assert!(from_vars(&[("APP_BASE_URL", local)]).is_ok(), "{local}");
        }
        assert!(from_vars(&[("BIND_ADDR", "[::1]:8080")]).is_ok());
        let meant = from_vars(&[("BIND_ADDR", "0.0.0.0:8080"), ("DEMO", "1")]).expect("meant");
        assert!(meant.is_demo_mode() && meant.public_demo);
        assert!(from_vars(&[("DEMO", "yes")])
            .expect_err("DEMO")
            .to_string()
            .starts_with("DEMO"));
        // Configured for real, a public address is what production is.
        assert!(from_vars(&[
            ("REMEMBERIZER_CLIENT_ID", "id"),
            ("REMEMBERIZER_CLIENT_SECRET", "s"),
            ("BIND_ADDR", "0.0.0.0:8080"),
            ("APP_BASE_URL", "https://mementos.example.com"),
        ])
        .is_ok());
    }

    #[test]
    fn scopes_are_space_separated() {
        let s = settings(&[
            ("REMEMBERIZER_CLIENT_ID", "abc"),
            ("REMEMBERIZER_CLIENT_SECRET", "shh"),
            ("REMEMBERIZER_SCOPE", "offline_access  read"),
        ])
        .expect("valid");
        assert_eq!(s.scopes, vec!["offline_access", "read"]);
    }
}
