//! A typed wrapper over `actix_session::Session`: handlers never see raw keys or token strings.
//!
//! A session exists only once a browser is connected (flows in progress live in their own
//! encrypted cookies, `pending_flows`). It holds, server-side in the session store:
//! - the id of its Rememberizer connection in the token store (`tokens::TokenStore`), and of its
//!   Memoram connection (`memoram::connections`), either or both;
//! - a CSRF token for the app's own forms (synchronizer-token pattern), created at each login
//!   (either provider's), so that concurrent first page loads cannot each write a different one;
//! - a one-time message for the next page.

use std::future::{ready, Ready};

use actix_session::{Session, SessionExt, SessionGetError, SessionInsertError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use oauth2::CsrfToken;
use subtle::ConstantTimeEq;

use crate::auth::ConnectionId;

const CONNECTION_ID: &str = "connection_id";
const MEMORAM_CONNECTION_ID: &str = "memoram_connection_id";
const CSRF_TOKEN: &str = "csrf_token";
const FLASH: &str = "flash";

pub struct TypedSession(Session);

/// Whether raw session state belongs to a connected browser. The session stores write nothing
/// else (see `session_store`).
pub fn is_connected_state(state: &std::collections::HashMap<String, String>) -> bool {
    state.contains_key(CONNECTION_ID) || state.contains_key(MEMORAM_CONNECTION_ID)
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("could not read the session")]
    Read(#[from] SessionGetError),
    #[error("could not write the session")]
    Write(#[from] SessionInsertError),
}

impl TypedSession {
    /// After Rememberizer's Step 4: a new session id (no fixation), the connection, and a CSRF
    /// token (see `connected`).
    pub fn start_connection(&self, connection: &ConnectionId) -> Result<(), SessionError> {
        self.connected(CONNECTION_ID, connection.as_str())
    }

    /// After Memoram's code exchange, as [`Self::start_connection`].
    pub fn start_memoram_connection(&self, connection: &ConnectionId) -> Result<(), SessionError> {
        self.connected(MEMORAM_CONNECTION_ID, connection.as_str())
    }

    /// A new session id and a new CSRF token on every login (no fixation: a token or an id
    /// planted before the login is worth nothing after it). The CSRF token is created here, at
    /// login, not on first use, where two concurrent page loads could each write their own and
    /// leave one tab with a token that no longer matches. A form left open in another tab from
    /// before a login fails once, and comes back with what was typed in it.
    fn connected(&self, key: &str, id: &str) -> Result<(), SessionError> {
        self.0.renew();
        self.0.insert(key, id)?;
        self.0
            .insert(CSRF_TOKEN, CsrfToken::new_random_len(32).secret())?;
        Ok(())
    }

    pub fn memoram_connection(&self) -> Result<Option<ConnectionId>, SessionError> {
        Ok(self
            .0
            .get::<String>(MEMORAM_CONNECTION_ID)?
            .map(ConnectionId::from_session))
    }

    /// Forgets one provider's connection; the session ends when none is left.
    pub fn disconnect_rememberizer(self) -> Result<(), SessionError> {
        self.0.remove(CONNECTION_ID);
        self.end_if_unused()
    }

    pub fn disconnect_memoram(self) -> Result<(), SessionError> {
        self.0.remove(MEMORAM_CONNECTION_ID);
        self.end_if_unused()
    }

    fn end_if_unused(self) -> Result<(), SessionError> {
        if self.connection()?.is_none() && self.memoram_connection()?.is_none() {
            self.log_out();
        }
        Ok(())
    }

    pub fn connection(&self) -> Result<Option<ConnectionId>, SessionError> {
        Ok(self
            .0
            .get::<String>(CONNECTION_ID)?
            .map(ConnectionId::from_session))
    }

    /// The CSRF token for the forms on a connected session's pages (created at login; on first
    /// use for a session from before that rule). A browser that is not connected gets none:
    /// nothing is written for it (the store holds connected browsers only), its forms carry an
    /// empty token that no check accepts, and every form handler asks for a connection anyway.
    pub fn csrf_token(&self) -> Result<String, SessionError> {
        if let Some(token) = self.0.get::<String>(CSRF_TOKEN)? {
            return Ok(token);
        }
        if !self.is_connected()? {
            return Ok(String::new());
        }
        let token = CsrfToken::new_random_len(32).secret().clone();
        self.0.insert(CSRF_TOKEN, &token)?;
        Ok(token)
    }

    fn is_connected(&self) -> Result<bool, SessionError> {
        Ok(self.connection()?.is_some() || self.memoram_connection()?.is_some())
    }

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
        if self.is_connected()? {
            self.0.insert(FLASH, message)?;
        }
        Ok(())
    }

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
