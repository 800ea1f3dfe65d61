//! The OAuth 2.0 authorization-code flow, client side, in one place, for every provider.
//!
//! Rememberizer's "Authorizing Rememberizer apps" doc has five steps; each is named below where it
//! happens. Another provider's authorization-code grant runs through the same code: what its token
//! response adds (a provider-specific key, say) is kept in [`Grant::extra`]. What differs per provider (endpoint URLs, the client
//! authentication method, the callback path) is an [`Endpoints`] value built by the provider's
//! module (`rememberizer::oauth_endpoints`).
//!
//! - Step 1: [`OAuthFlow::start`] builds the authorize URL (state + PKCE) — `routes::auth::start`.
//! - Step 2: the user consents on the provider's page (nothing to do here).
//! - Step 3: the provider redirects back with `code` + `state`; `routes::auth` matches the state
//!   against the flows this browser started (`pending_flows::FlowCookies::take`) and claims it
//!   once (`pending_flows::SpentStates::claim`).
//! - Step 4: [`OAuthFlow::exchange_code`] trades the code (plus the PKCE verifier) for a [`Grant`].
//! - Step 5: the access token is used as a bearer token by `rememberizer::ApiClient`;
//!   [`OAuthFlow::refresh`] gets a new one when it expires (`tokens::TokenStore`).

use std::time::{Duration, SystemTime};

use oauth2::basic::{
    BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse,
    BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AccessToken, AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken,
    RequestTokenError, Scope, StandardErrorResponse, StandardRevocableToken, TokenResponse,
    TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::http_client::{HttpClient, HttpError};

/// How long a started flow may take before its state is no longer accepted.
pub const PENDING_FLOW_TTL: Duration = Duration::from_secs(10 * 60);
/// Bytes of CSPRNG output in each `state` (256 bits; the checklist asks for at least 128).
const STATE_BYTES: u32 = 32;

/// The longest access-token lifetime believed: a larger `expires_in` (even `u64::MAX`) is read as
/// this, so that no date arithmetic can overflow and a token is still checked now and then.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

/// oauth2-rs's `BasicClient` with one change: the token response is [`LenientTokenResponse`].
type Client = oauth2::Client<
    BasicErrorResponse,
    LenientTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The token endpoint's answer (Step 4 and refresh), read as leniently as the sources require.
///
/// oauth2-rs's `StandardTokenResponse` requires `token_type` and an integer `expires_in`. No public
/// source shows a real Rememberizer token response, and Rememberizer's own samples read only
/// `access_token` and `refresh_token`; so an absent `token_type` reads as Bearer (the only type the
/// API takes), and an absent or unreadable `expires_in` as "unknown" (the token is then used until
/// the API answers 401, and refreshed once). The crate stays in charge of the exchange itself:
/// its `Client` is generic over this type.
///
/// Fields a provider adds to the standard ones are kept, as secrets ([`Grant::extra`]).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LenientTokenResponse {
    access_token: AccessToken,
    #[serde(default = "bearer", deserialize_with = "token_type_any_case")]
    token_type: BasicTokenType,
    #[serde(default, deserialize_with = "lifetime_seconds")]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<RefreshToken>,
    #[serde(default, rename = "scope", deserialize_with = "space_delimited")]
    scopes: Option<Vec<Scope>>,
    /// Whatever else the provider sent, inside `Redacted` so that `Debug` never shows it.
    #[serde(flatten)]
    extra: std::collections::HashMap<String, Redacted>,
}

/// A secret value in a serde type that must derive `Debug`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Redacted(serde_json::Value);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl TokenResponse for LenientTokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &BasicTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in
            .map(|seconds| Duration::from_secs(seconds).min(MAX_TOKEN_LIFETIME))
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scopes.as_ref()
    }
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

/// RFC 6749 §5.1: the token type is case-insensitive ("Bearer", "bearer", "BEARER").
fn token_type_any_case<'de, D: Deserializer<'de>>(d: D) -> Result<BasicTokenType, D::Error> {
    Ok(match Option::<String>::deserialize(d)? {
        None => BasicTokenType::Bearer,
        Some(kind) if kind.eq_ignore_ascii_case("bearer") => BasicTokenType::Bearer,
        Some(kind) if kind.eq_ignore_ascii_case("mac") => BasicTokenType::Mac,
        Some(kind) => BasicTokenType::Extension(kind),
    })
}

/// `expires_in` as a whole number of seconds: an integer (saturated), a float such as `1e17`
/// (saturated), or a numeric string. Anything else, or a negative value, reads as unknown.
fn lifetime_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                // `as` saturates: 1e30 becomes u64::MAX, clamped later to MAX_TOKEN_LIFETIME.
                .map(|f| f as u64)
        }),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

fn space_delimited<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Scope>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|scopes| {
        scopes
            .split_whitespace()
            .map(|scope| Scope::new(scope.to_owned()))
            .collect()
    }))
}

/// Everything needed to run the flow against one provider.
#[derive(Clone, Debug)]
pub struct OAuthFlow {
    client: Client,
    scopes: Vec<Scope>,
    http: HttpClient,
}

/// Where one provider's flow goes, and how the app authenticates at its token endpoint.
#[derive(Clone, Debug)]
pub struct Endpoints {
    /// The provider's authorize endpoint (Step 1), where the browser is sent.
    pub authorize: Url,
    /// The provider's token endpoint (Step 4 and refresh), called from the server only.
    pub token: Url,
    /// The app's callback (Step 3), registered at the provider. Built from configuration, never
    /// from a request's Host header.
    pub redirect: Url,
    /// `client_secret_post` (form body) when true, HTTP Basic otherwise.
    pub secret_in_body: bool,
}

/// What Step 4 (or a refresh) yields: the tokens, checked, and the response's other fields.
pub struct Grant {
    /// The bearer token for the API.
    pub access_token: SecretString,
    /// `None` in a refresh response means "keep using the one you have" (already applied here).
    pub refresh_token: Option<SecretString>,
    /// `None` when the provider did not say.
    pub expires_in: Option<Duration>,
    /// The token response's non-empty string fields beyond the standard ones (a provider's own
    /// key, say), kept as secrets: nothing here is ever logged.
    pub extra: std::collections::HashMap<String, SecretString>,
}

impl Grant {
    /// Takes the extra field `name` out of the grant (see [`Grant::extra`]).
    pub fn take_extra(&mut self, name: &str) -> Option<SecretString> {
        self.extra.remove(name)
    }
}

/// What the app must remember between Step 1 and Step 3, server-side, for this browser only.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingFlow {
    /// The `state` sent in Step 1 (32 random bytes, base64url): Step 3 must bring it back.
    pub state: String,
    /// The PKCE verifier whose S256 challenge went out in Step 1; Step 4 sends it with the code.
    pub pkce_verifier: String,
    /// Seconds since the Unix epoch.
    pub started_at: u64,
    /// Where the person was going when Step 1 began: a path of this app
    /// (checked by `connect::return_path`), never another origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_to: Option<String>,
}

impl PendingFlow {
    /// Whether, at `now`, more than [`PENDING_FLOW_TTL`] (10 minutes) has passed since
    /// `started_at`.
    pub fn is_expired(&self, now: SystemTime) -> bool {
        unix_seconds(now).saturating_sub(self.started_at) > PENDING_FLOW_TTL.as_secs()
    }
}

// Secrets must never reach a log line through `{:?}`.
impl std::fmt::Debug for PendingFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingFlow")
            .field("started_at", &self.started_at)
            .finish_non_exhaustive()
    }
}

/// Why a code exchange or a refresh gave no [`Grant`]. No variant holds a token or a response
/// body.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider could not be reached, was too slow, or answered 5xx/429.
    #[error("the token endpoint is unavailable")]
    Unavailable(#[source] HttpError),
    /// The code or refresh token is no longer valid: the user must connect again.
    #[error("the grant is invalid, expired or revoked")]
    InvalidGrant,
    /// Any other RFC 6749 §5.2 error (e.g. `invalid_client`: a configuration problem).
    #[error("the token endpoint refused the request: {0}")]
    Refused(String),
    /// The answer was not a usable bearer token response. The body is never kept: it may hold
    /// tokens.
    #[error("the token endpoint's response was not usable: {0}")]
    BadResponse(&'static str),
}

impl OAuthFlow {
    /// The flow against `endpoints` with the app's client credentials, asking for `scopes`
    /// (sent space-delimited in Step 1; none: no `scope` parameter), its token requests sent
    /// through `http`.
    pub fn new(
        endpoints: Endpoints,
        client_id: &str,
        client_secret: &SecretString,
        scopes: &[String],
        http: HttpClient,
    ) -> Self {
        let client: Client = oauth2::Client::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(client_secret.expose_secret().to_owned()))
            .set_auth_uri(AuthUrl::from_url(endpoints.authorize))
            .set_token_uri(TokenUrl::from_url(endpoints.token))
            .set_redirect_uri(RedirectUrl::from_url(endpoints.redirect))
            .set_auth_type(if endpoints.secret_in_body {
                AuthType::RequestBody
            } else {
                AuthType::BasicAuth
            });
        Self {
            client,
            scopes: scopes.iter().cloned().map(Scope::new).collect(),
            http,
        }
    }

    /// Step 1: the URL to send the browser to, and what to keep until it comes back.
    pub fn start(&self) -> (Url, PendingFlow) {
        // PKCE S256 on every flow (RFC 9700 §2.1.1): a stolen or injected code is useless
        // without the verifier, which never leaves this server until Step 4.
        let (pkce_challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(|| CsrfToken::new_random_len(STATE_BYTES))
            .add_scopes(self.scopes.iter().cloned())
            .set_pkce_challenge(pkce_challenge)
            .url();
        let pending = PendingFlow {
            state: state.secret().clone(),
            pkce_verifier: pkce_verifier.secret().clone(),
            started_at: unix_seconds(SystemTime::now()),
            return_to: None,
        };
        (url, pending)
    }

    /// Step 4: exchange the authorization code for tokens, proving possession of the verifier.
    pub async fn exchange_code(
        &self,
        code: String,
        flow: PendingFlow,
    ) -> Result<Grant, OAuthError> {
        let response = self
            .client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(flow.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(classify)?;
        grant(response, None)
    }

    /// Refresh: a new access token (and, if the provider rotates them, a new refresh token).
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<Grant, OAuthError> {
        let refresh_token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let response = self
            .client
            .exchange_refresh_token(&refresh_token)
            .request_async(&self.http)
            .await
            .map_err(classify)?;
        // A response without a refresh token means "keep using the one you have".
        grant(response, Some(refresh_token))
    }
}

type TokenResponseError =
    RequestTokenError<HttpError, StandardErrorResponse<BasicErrorResponseType>>;

fn classify(error: TokenResponseError) -> OAuthError {
    match error {
        RequestTokenError::Request(e) => OAuthError::Unavailable(e),
        RequestTokenError::ServerResponse(e) => match e.error() {
            BasicErrorResponseType::InvalidGrant => OAuthError::InvalidGrant,
            other => OAuthError::Refused(other.as_ref().to_owned()),
        },
        // `Parse` carries the raw body, which may contain tokens: drop it here.
        RequestTokenError::Parse(_, _) => OAuthError::BadResponse("not a JSON token response"),
        RequestTokenError::Other(_) => OAuthError::BadResponse("unexpected response"),
    }
}

/// Validates a token response (Step 4 and refresh) and turns it into what the app stores.
fn grant(
    response: LenientTokenResponse,
    previous_refresh_token: Option<RefreshToken>,
) -> Result<Grant, OAuthError> {
    if response.token_type() != &BasicTokenType::Bearer {
        return Err(OAuthError::BadResponse("token_type is not bearer"));
    }
    let access_token = response.access_token().secret();
    if access_token.is_empty() {
        return Err(OAuthError::BadResponse("empty access_token"));
    }
    // An absent or empty refresh token in a refresh response means "keep using the one you have".
    let refresh_token = response
        .refresh_token()
        .filter(|token| !token.secret().is_empty())
        .cloned()
        .or(previous_refresh_token)
        .filter(|token| !token.secret().is_empty())
        .map(|token| SecretString::from(token.into_secret()));
    Ok(Grant {
        access_token: SecretString::from(access_token.clone()),
        refresh_token,
        expires_in: response.expires_in(),
        extra: response
            .extra
            .into_iter()
            .filter_map(|(name, value)| match value.0 {
                serde_json::Value::String(text) if !text.is_empty() => {
                    Some((name, SecretString::from(text)))
                }
                _ => None,
            })
            .collect(),
    })
}

/// `base` + a relative `path`, keeping every segment of `base`.
pub fn join(base: &Url, path: &str) -> Result<Url, url::ParseError> {
    // `Url::join` would drop the last path segment of a base without a trailing slash.
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path)
}

/// Seconds since the Unix epoch (0 for an earlier time), as [`PendingFlow::started_at`] keeps
/// them.
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_client::HttpSettings;

    fn flow() -> OAuthFlow {
        let provider = Url::parse("https://provider.example/prefix").expect("url");
        let endpoints = Endpoints {
            authorize: join(&provider, "api/v1/auth/oauth2/authorize/").expect("url"),
            token: join(&provider, "api/v1/auth/oauth2/token/").expect("url"),
            redirect: Url::parse("https://app.example/auth/rememberizer/callback").expect("url"),
            secret_in_body: true,
        };
        OAuthFlow::new(
            endpoints,
            "client-123",
            &SecretString::from("secret"),
            &["offline_access".to_owned()],
            HttpClient::new(&HttpSettings::default()).expect("client"),
        )
    }

    #[test]
    fn step_1_url_carries_state_pkce_and_the_configured_redirect_uri() {
        let (url, pending) = flow().start();
        assert_eq!(
            url.as_str().split('?').next(),
            Some("https://provider.example/prefix/api/v1/auth/oauth2/authorize/")
        );
        let params: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(params["client_id"], "client-123");
        assert_eq!(params["response_type"], "code");
        assert_eq!(
            params["redirect_uri"],
            "https://app.example/auth/rememberizer/callback"
        );
        assert_eq!(params["scope"], "offline_access");
        assert_eq!(params["code_challenge_method"], "S256");
        assert_eq!(params["state"], pending.state);
        // 32 random bytes, base64url without padding.
        assert_eq!(pending.state.len(), 43);
        assert!(!params.contains_key("client_secret"));
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            pending.pkce_verifier.clone(),
        ));
        assert_eq!(&params["code_challenge"], challenge.as_str());
    }

    #[test]
    fn every_flow_gets_fresh_secrets() {
        let (_, a) = flow().start();
        let (_, b) = flow().start();
        assert_ne!(a.state, b.state);
        assert_ne!(a.pkce_verifier, b.pkce_verifier);
    }

    #[test]
    fn pending_flows_expire_after_ten_minutes() {
        let (_, pending) = flow().start();
        let now = SystemTime::now();
        assert!(!pending.is_expired(now + Duration::from_secs(9 * 60)));
        assert!(pending.is_expired(now + Duration::from_secs(11 * 60)));
    }

    #[test]
    fn debug_output_hides_the_state_and_verifier() {
        let (_, pending) = flow().start();
        let debug = format!("{pending:?}");
        assert!(!debug.contains(&pending.state));
        assert!(!debug.contains(&pending.pkce_verifier));
    }

    fn response(json: &str) -> LenientTokenResponse {
        serde_json::from_str(json).expect("token response json")
    }

    #[test]
    fn token_type_is_accepted_in_any_case_and_other_types_are_refused() {
        for kind in ["Bearer", "bearer", "BEARER"] {
            let json = format!(r#"{{"access_token":"a","token_type":"{kind}","expires_in":60}}"#);
            assert!(grant(response(&json), None).is_ok(), "{kind}");
        }
        let mac = response(r#"{"access_token":"a","token_type":"mac"}"#);
        assert!(matches!(grant(mac, None), Err(OAuthError::BadResponse(_))));
        let empty = response(r#"{"access_token":"","token_type":"Bearer"}"#);
        assert!(grant(empty, None).is_err());
    }

    #[test]
    fn a_minimal_token_response_reads_as_a_bearer_token_of_unknown_lifetime() {
        // All that Rememberizer's own samples ever read.
        let minimal = response(r#"{"access_token":"a","refresh_token":"r"}"#);
        assert_eq!(minimal.token_type(), &BasicTokenType::Bearer);
        assert_eq!(minimal.expires_in(), None);
        let tokens = grant(minimal, None).expect("a minimal response is accepted");
        assert!(tokens.refresh_token.is_some());
        assert!(tokens.extra.is_empty());
    }

    #[test]
    fn expires_in_is_read_leniently_and_clamped() {
        let lifetime = |value: &str| {
            response(&format!(r#"{{"access_token":"a","expires_in":{value}}}"#)).expires_in()
        };
        assert_eq!(lifetime("3600"), Some(Duration::from_secs(3600)));
        assert_eq!(lifetime(r#""3600""#), Some(Duration::from_secs(3600)));
        assert_eq!(lifetime("18446744073709551615"), Some(MAX_TOKEN_LIFETIME));
        assert_eq!(lifetime("1e17"), Some(MAX_TOKEN_LIFETIME));
        assert_eq!(lifetime("-5"), None);
        assert_eq!(lifetime("null"), None);
        assert_eq!(lifetime(r#""soon""#), None);
        // And the clamped lifetime turns into a token set without overflowing.
        let huge = response(r#"{"access_token":"a","expires_in":18446744073709551615}"#);
        assert!(grant(huge, None).is_ok());
    }

    #[test]
    fn a_providers_extra_field_is_read_and_never_debug_printed() {
        // Memoram's token response adds the user's `memory_key` (its "Quickstart", step 5).
        let json = r#"{"access_token":"a","token_type":"Bearer","memory_key":"mk_secret","n":7}"#;
        let parsed = response(json);
        assert!(!format!("{parsed:?}").contains("mk_secret"));
        let mut tokens = grant(parsed, None).expect("valid");
        assert_eq!(
            tokens
                .take_extra("memory_key")
                .map(|k| k.expose_secret().to_owned()),
            Some("mk_secret".to_owned())
        );
        assert!(tokens.extra.is_empty(), "not a string: not kept");
    }

    #[test]
    fn a_refresh_without_a_new_refresh_token_keeps_the_old_one() {
        let json = r#"{"access_token":"new","token_type":"Bearer","expires_in":60}"#;
        let tokens =
            grant(response(json), Some(RefreshToken::new("old".to_owned()))).expect("valid");
        assert_eq!(
            tokens.refresh_token.map(|t| t.expose_secret().to_owned()),
            Some("old".to_owned())
        );
        let empty = r#"{"access_token":"new","token_type":"Bearer","refresh_token":""}"#;
        let tokens = grant(response(empty), Some(RefreshToken::new("old".to_owned()))).expect("ok");
        assert_eq!(
            tokens.refresh_token.map(|t| t.expose_secret().to_owned()),
            Some("old".to_owned()),
            "an empty refresh token does not replace the old one"
        );
        let rotated = r#"{"access_token":"new","token_type":"Bearer","refresh_token":"r2"}"#;
        let tokens =
            grant(response(rotated), Some(RefreshToken::new("old".to_owned()))).expect("ok");
        assert_eq!(
            tokens.refresh_token.map(|t| t.expose_secret().to_owned()),
            Some("r2".to_owned())
        );
    }
}
