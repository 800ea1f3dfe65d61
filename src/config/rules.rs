//! Which settings mean what: a provider's own settings (any of them means the real service),
//! tuning that applies to the simulators too, names this app owns (a misspelt one is refused),
//! and when demo mode may start.

use super::{ConfigError, Settings};

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
pub const TUNING_VARS: [&str; 10] = [
    "REMEMBERIZER_TIMEOUT_SECS",
    "REMEMBERIZER_CACHE_SECS",
    "MEMORAM_ACCESS_REASON",
    "MEMORAM_CONTENT_CIPHER",
    "MEMORAM_SEND_TO_LLM",
    "LLM_BASE_URL",
    "LLM_API_KEY",
    "LLM_MODEL",
    "LLM_TIMEOUT_SECS",
    "LLM_TOTAL_SECS",
];
/// A variable with one of these prefixes must be one of the app's: a misspelt name is refused
/// rather than silently ignored (an ignored `REMEMBERIZER_CLIENTID` would mean demo mode).
const OWN_PREFIXES: [&str; 2] = ["REMEMBERIZER_", "MEMORAM_"];
/// A prefix other tools use too (`LLM_*` in other apps' environments): only a near miss of one
/// of this app's names is refused.
const SHARED_PREFIXES: [&str; 1] = ["LLM_"];

/// Refuses a variable with one of this app's prefixes that is not one of its settings, and a
/// near miss of one of its `LLM_*` settings.
pub fn check_names<'a>(names: impl IntoIterator<Item = &'a String>) -> Result<(), ConfigError> {
    for name in names {
        if known().any(|k| k == name) {
            continue;
        }
        let suggestion = closest_known(name);
        let own = OWN_PREFIXES.iter().any(|prefix| name.starts_with(prefix));
        let near_miss = SHARED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
            && suggestion.is_some_and(|known| known.starts_with("LLM_"));
        if own || near_miss {
            return Err(ConfigError::Unknown {
                var: name.clone(),
                suggestion,
            });
        }
    }
    Ok(())
}

/// This app's settings without a prefix of its own.
const APP_VARS: [&str; 6] = [
    "APP_BASE_URL",
    "BIND_ADDR",
    "SESSION_KEY",
    "SESSION_STORE",
    "TRUSTED_PROXIES",
    "TRUSTED_PROXY_HEADER",
];

/// Whether `name` is one this app reads (or would refuse as a misspelling of one).
pub fn is_read(name: &str) -> bool {
    known().any(|k| k == name)
        || APP_VARS.contains(&name)
        || OWN_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
}

fn known() -> impl Iterator<Item = &'static str> {
    REMEMBERIZER_VARS
        .iter()
        .chain(&MEMORAM_VARS)
        .chain(&TUNING_VARS)
        .copied()
}

/// Demo mode only where it can work: in a build that has it, and on a loopback address. Its
/// simulators listen on 127.0.0.1, and the browser is sent to them there: a browser on another
/// machine would be sent to its own machine, so a public demo cannot work and is refused.
pub fn check_demo(settings: &Settings) -> Result<(), ConfigError> {
    if !settings.is_demo_mode() {
        return Ok(());
    }
    if !cfg!(feature = "demo") {
        return Err(ConfigError::NoDemo {
            var: "REMEMBERIZER_CLIENT_ID",
        });
    }
    let public = |var: &'static str, value: String| ConfigError::PublicDemo {
        var,
        value,
        provider: "REMEMBERIZER",
    };
    if !settings.bind_addr.ip().is_loopback() {
        return Err(public("BIND_ADDR", settings.bind_addr.to_string()));
    }
    if let Some(url) = &settings.app_base_url {
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

/// `needed` (in order), if any of `provider`'s settings is set; `None` if none is. The first
/// setting of `needed` that is missing is named, with the first of `provider`'s that is set.
pub fn required(
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
