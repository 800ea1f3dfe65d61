//! A typed wrapper over `actix_session::Session`: handlers never see raw keys or token strings.
//!
//! A session exists only once a browser is connected (flows in progress live in their own
//! encrypted cookies, `pending_flows`). It holds, server-side in the session store:
//! - the id of each of its connections, one per provider ([`Slot`]): a key in that provider's
//!   store (`tokens::TokenStore` for an OAuth provider's tokens);
//! - a CSRF token for the app's own forms (synchronizer-token pattern), created at each login
//!   (any provider's), so that concurrent first page loads cannot each write a different one;
//! - a one-time message for the next page.

use std::future::{ready, Ready};

use actix_session::{Session, SessionExt, SessionGetError, SessionInsertError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use oauth2::CsrfToken;
use subtle::ConstantTimeEq;

use crate::auth::ConnectionId;

const CSRF_TOKEN: &str = "csrf_token";
const FLASH: &str = "flash";
/// Every [`Slot`]'s key ends with this, so that the session stores can tell a connected
/// browser's state from any other without knowing the providers.
const SLOT_SUFFIX: &str = "connection_id";

/// Where one provider's connection id is kept in the session. A browser with at least one is
/// connected; the session stores write nothing for any other ([`is_connected_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot(&'static str);

impl Slot {
    /// A slot under `key`, which must end with `connection_id` (checked when the constant is
    /// built: a `const` with another key does not compile).
    pub const fn new(key: &'static str) -> Self {
        let (key_bytes, suffix) = (key.as_bytes(), SLOT_SUFFIX.as_bytes());
        assert!(
            key_bytes.len() >= suffix.len(),
            "a slot's key ends with `connection_id`"
        );
        let mut i = 0;
        while i < suffix.len() {
            assert!(
                key_bytes[key_bytes.len() - suffix.len() + i] == suffix[i],
                "a slot's key ends with `connection_id`"
            );
            i += 1;
        }
        Slot(key)
    }

    /// The session key.
    pub const fn key(self) -> &'static str {
        self.0
    }
}

/// The browser's session, typed: connections, CSRF token, a one-time message.
pub struct TypedSession(Session);

/// Whether raw session state belongs to a connected browser (it holds some [`Slot`]). The
/// session stores write nothing else (see `session_store`).
pub fn is_connected_state(state: &std::collections::HashMap<String, String>) -> bool {
    state.keys().any(|key| key.ends_with(SLOT_SUFFIX))
}

/// The session's state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A value in the session is not what was written there.
    #[error("could not read the session")]
    Read(#[from] SessionGetError),
    /// A value could not be written.
    #[error("could not write the session")]
    Write(#[from] SessionInsertError),
}

impl TypedSession {
    /// After a code exchange: a new session id and a new CSRF token (no fixation: a token or an
    /// id planted before the login is worth nothing after it), and the connection in its slot.
    /// The CSRF token is created here, at login, not on first use, where two concurrent page
    /// loads could each write their own and leave one tab with a token that no longer matches.
    /// A form left open in another tab from before a login fails once, and comes back with what
    /// was typed in it.
    pub fn start_connection(
        &self,
        slot: Slot,
        connection: &ConnectionId,
    ) -> Result<(), SessionError> {
        self.0.renew();
        self.0.insert(slot.key(), connection.as_str())?;
        self.0
            .insert(CSRF_TOKEN, CsrfToken::new_random_len(32).secret())?;
        Ok(())
    }

    /// The connection in `slot`, if there is one.
    pub fn connection(&self, slot: Slot) -> Result<Option<ConnectionId>, SessionError> {
        Ok(self
            .0
            .get::<String>(slot.key())?
            .map(ConnectionId::from_session))
    }

    /// Forgets one provider's connection; the session ends when none is left.
    pub fn disconnect(self, slot: Slot) {
        self.0.remove(slot.key());
        if !self.is_connected() {
            self.log_out();
        }
    }

    /// The CSRF token for the forms on a connected session's pages (created at login; on first
    /// use for a session from before that rule). A browser that is not connected gets none:
    /// nothing is written for it (the store holds connected browsers only), its forms carry an
    /// empty token that no check accepts, and every form handler asks for a connection anyway.
    pub fn csrf_token(&self) -> Result<String, SessionError> {
        if let Some(token) = self.0.get::<String>(CSRF_TOKEN)? {
            return Ok(token);
        }
        if !self.is_connected() {
            return Ok(String::new());
        }
        let token = CsrfToken::new_random_len(32).secret().clone();
        self.0.insert(CSRF_TOKEN, &token)?;
        Ok(token)
    }

    /// Whether any provider is connected in this session.
    pub fn is_connected(&self) -> bool {
        is_connected_state(&self.0.entries())
    }

    /// Whether `submitted` is this session's CSRF token (compared in constant time).
    pub fn csrf_token_matches(&self, submitted: &str) -> Result<bool, SessionError> {
        Ok(match self.0.get::<String>(CSRF_TOKEN)? {
            Some(expected) => expected.as_bytes().ct_eq(submitted.as_bytes()).into(),
            None => false,
        })
    }

    /// A one-time message for the next page (POST → redirect → GET), for a connected session
    /// only: for anyone else it is dropped, since nothing is written for a browser that is not
    /// connected.
    pub fn set_flash(&self, message: &str) -> Result<(), SessionError> {
        if self.is_connected() {
            self.0.insert(FLASH, message)?;
        }
        Ok(())
    }

    /// The one-time message, removed.
    pub fn take_flash(&self) -> Result<Option<String>, SessionError> {
        let message = self.0.get::<String>(FLASH)?;
        if message.is_some() {
            self.0.remove(FLASH);
        }
        Ok(message)
    }

    /// Destroys the session server-side (not only the cookie).
    pub fn log_out(self) {
        self.0.purge();
    }
}

impl TypedSession {
    /// The request's session (for extractors built on this one, `guards`).
    pub fn of(req: &HttpRequest) -> Self {
        TypedSession(req.get_session())
    }
}

impl FromRequest for TypedSession {
    type Error = <Session as FromRequest>::Error;
    type Future = Ready<Result<TypedSession, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(TypedSession(req.get_session())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_connected_by_any_providers_slot_and_by_nothing_else() {
        let state = |keys: &[&str]| {
            keys.iter()
                .map(|key| (key.to_string(), "\"x\"".to_owned()))
                .collect::<std::collections::HashMap<_, _>>()
        };
        const OTHER: Slot = Slot::new("other_provider_connection_id");
        const PROVIDER: Slot = Slot::new("connection_id");
        assert!(is_connected_state(&state(&[PROVIDER.key()])));
        assert!(is_connected_state(&state(&[OTHER.key(), CSRF_TOKEN])));
        assert!(!is_connected_state(&state(&[CSRF_TOKEN, FLASH])));
        assert!(!is_connected_state(&state(&[])));
    }
}
