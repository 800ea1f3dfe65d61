//! The answer service's settings (`LLM_*`): checked at start whether or not `LLM_BASE_URL` is
//! set, since the time limits apply to the demo's answer service too.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::{parse_http_url, whole_seconds, ConfigError};

#[derive(Debug, Clone)]
pub struct LlmSettings {
    pub base_url: Url,
    pub api_key: SecretString,
    pub model: String,
    /// `LLM_TIMEOUT_SECS`: how long the first piece of a streamed answer may take, and the
    /// pause between two pieces.
    pub timeout: Duration,
    /// `LLM_TOTAL_SECS`: how long the whole answer may take (at least `timeout`).
    pub total_timeout: Duration,
}

/// How long an answer may take: to its first piece and between two (`timeout`), and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlmLimits {
    pub timeout: Duration,
    pub total_timeout: Duration,
}

impl Default for LlmLimits {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_LLM_TIMEOUT,
            total_timeout: DEFAULT_LLM_TOTAL,
        }
    }
}

/// Default `LLM_TIMEOUT_SECS`.
pub const DEFAULT_LLM_TIMEOUT: Duration = Duration::from_secs(30);
/// Default `LLM_TOTAL_SECS`: 400 tokens at a slow 10 a second, and then some.
pub const DEFAULT_LLM_TOTAL: Duration = Duration::from_secs(60);

/// The app's registration at Rememberizer's Developer Hub.
/// `LLM_TIMEOUT_SECS` and `LLM_TOTAL_SECS` (always), and the configured answer service, if any.
pub(super) fn settings(
    get: impl Fn(&str) -> Option<String> + Copy,
) -> Result<(LlmLimits, Option<LlmSettings>), ConfigError> {
    // The answer's time limits apply to whichever answer service there is, the demo's too,
    // so they are checked whether or not LLM_BASE_URL is set.
    let llm_timeout =
        whole_seconds("LLM_TIMEOUT_SECS", get, 1..=300)?.unwrap_or(DEFAULT_LLM_TIMEOUT);
    let llm_total = whole_seconds("LLM_TOTAL_SECS", get, 1..=600)?
        .unwrap_or(DEFAULT_LLM_TOTAL.max(llm_timeout));
    if llm_total < llm_timeout {
        return Err(ConfigError::Invalid {
            var: "LLM_TOTAL_SECS",
            reason: format!(
                "{} s is shorter than LLM_TIMEOUT_SECS ({} s): the whole answer cannot take less than its first piece",
                llm_total.as_secs(),
                llm_timeout.as_secs()
            ),
        });
    }
    let llm_limits = LlmLimits {
        timeout: llm_timeout,
        total_timeout: llm_total,
    };
    let llm = match get("LLM_BASE_URL") {
        None => {
            // A key or a model with no service to send them to is a configuration mistake.
            if let Some(because) = ["LLM_API_KEY", "LLM_MODEL"]
                .into_iter()
                .find(|var| get(var).is_some())
            {
                return Err(ConfigError::MissingFor {
                    var: "LLM_BASE_URL",
                    because,
                });
            }
            None
        }
        Some(raw) => {
            // Values are checked before completeness: a bad URL is named as such.
            let base_url = parse_http_url("LLM_BASE_URL", &raw)?;
            let api_key = get("LLM_API_KEY").ok_or(ConfigError::MissingFor {
                var: "LLM_API_KEY",
                because: "LLM_BASE_URL",
            })?;
            // Sent as `Authorization: Bearer …`: a key that no header can carry is refused
            // now, not reported as "the service refused" at answer time. Never echoed.
            if reqwest::header::HeaderValue::from_str(&format!("Bearer {api_key}")).is_err() {
                return Err(ConfigError::Invalid {
                    var: "LLM_API_KEY",
                    reason: "it has a character an HTTP header cannot carry (a line break or another control character)".to_owned(),
                });
            }
            Some(LlmSettings {
                base_url,
                api_key: SecretString::from(api_key),
                model: get("LLM_MODEL")
                    .map(|model| model.trim().to_owned())
                    .ok_or(ConfigError::MissingFor {
                        var: "LLM_MODEL",
                        because: "LLM_BASE_URL",
                    })?,
                timeout: llm_limits.timeout,
                total_timeout: llm_limits.total_timeout,
            })
        }
    };
    Ok((llm_limits, llm))
}
