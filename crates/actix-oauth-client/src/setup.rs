//! What a provider crate's `from_env` shares: reading a variable, the session key, and the
//! error that names a setting without repeating its value.

use actix_web::cookie::Key;
use base64::Engine;
use url::Url;

/// A setting that is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A required variable is not set.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A variable's value is not usable (the value is never repeated).
    #[error("{0} is invalid: {1}")]
    Invalid(&'static str, &'static str),
    /// The HTTP client could not be built (no TLS roots, …).
    #[error("the HTTP client could not be built")]
    Http(#[source] reqwest::Error),
}

/// The variable `name`, if it is set and not blank.
pub fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The variable `name`, or [`SetupError::Missing`].
pub fn required(name: &'static str) -> Result<String, SetupError> {
    var(name).ok_or(SetupError::Missing(name))
}

/// The variable `name` as a URL (`default` when unset).
pub fn url(name: &'static str, default: &str) -> Result<Url, SetupError> {
    Url::parse(&var(name).unwrap_or_else(|| default.to_owned()))
        .map_err(|_| SetupError::Invalid(name, "not a URL"))
}

/// `SESSION_KEY` from the environment, if set (see [`session_key`]).
pub fn session_key_from_env() -> Result<Option<Vec<u8>>, SetupError> {
    var("SESSION_KEY")
        .map(|key| session_key(&key).map_err(|why| SetupError::Invalid("SESSION_KEY", why)))
        .transpose()
}

/// `SESSION_KEY` as written: hex, or base64 (standard or URL-safe), of 64 bytes or more.
pub fn session_key(value: &str) -> Result<Vec<u8>, &'static str> {
    let value = value.trim();
    let hex = (value.len().is_multiple_of(2) && value.bytes().all(|b| b.is_ascii_hexdigit())).then(
        || {
            (0..value.len())
                .step_by(2)
                .filter_map(|i| u8::from_str_radix(&value[i..i + 2], 16).ok())
                .collect::<Vec<u8>>()
        },
    );
    let decoded = hex
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(value).ok())
        .or_else(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(value)
                .ok()
        })
        .ok_or("expected hex or base64")?;
    if decoded.len() < 64 {
        return Err("at least 64 bytes are needed (try `openssl rand -base64 64`)");
    }
    Ok(decoded)
}

/// The cookies' signing and encryption key from `bytes` (`None`: a random one, so that every
/// browser's session ends with the process).
pub fn cookie_key(bytes: Option<&[u8]>) -> Result<Key, SetupError> {
    match bytes {
        Some(bytes) => Key::try_from(bytes)
            .map_err(|_| SetupError::Invalid("SESSION_KEY", "at least 64 bytes")),
        None => Ok(Key::generate()),
    }
}

/// Checks that a `SESSION_KEY` is given, as sessions kept outside the process (Redis) need: a
/// random key per start ([`cookie_key`]`(None)`) would make every session unreadable after a
/// restart and on every other instance. Without one, [`SetupError::Missing`]`("SESSION_KEY")`.
pub fn require_session_key(bytes: Option<&[u8]>) -> Result<(), SetupError> {
    bytes.map(|_| ()).ok_or(SetupError::Missing("SESSION_KEY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_key_is_hex_or_base64_of_64_bytes_or_more() {
        assert_eq!(session_key(&"ab".repeat(64)).map(|k| k.len()), Ok(64));
        let base64 = base64::engine::general_purpose::STANDARD.encode([7u8; 80]);
        assert_eq!(session_key(&base64).map(|k| k.len()), Ok(80));
        assert!(session_key(&"ab".repeat(63)).is_err());
        assert!(session_key("not a key!").is_err());
        assert!(cookie_key(Some(&[1u8; 64])).is_ok());
        assert!(cookie_key(Some(&[1u8; 10])).is_err());
    }
}
