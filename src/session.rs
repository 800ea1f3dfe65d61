//! A typed wrapper over `actix_session::Session`: handlers never see raw keys or token strings.
//!
//! What a session holds (server-side, in the session store):
//! - the flows this browser has started and not finished (Step 1 → Step 3): state + PKCE verifier;
//! - once connected, the id of its connection in the token store (`tokens::TokenStore`);
//! - a CSRF token for the app's own forms (synchronizer-token pattern).

use std::future::{ready, Ready};
use std::time::SystemTime;

use actix_session::{Session, SessionExt, SessionGetError, SessionInsertError};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use oauth2::CsrfToken;
use subtle::ConstantTimeEq;

use crate::oauth::PendingFlow;
use crate::tokens::ConnectionId;

/// How many flows one browser may have pending at once (several tabs); the oldest goes first.
pub const MAX_PENDING_FLOWS: usize = 5;

const PENDING_FLOWS: &str = "oauth.pending_flows";
const CONNECTION_ID: &str = "connection_id";
const CSRF_TOKEN: &str = "csrf_token";
const FLASH: &str = "flash";

pub struct TypedSession(Session);

/// Whether raw session state belongs to a connected browser. Session stores use it to keep
/// sessions that only hold pending flows short-lived (see `session_store`).
pub fn is_connected_state(state: &std::collections::HashMap<String, String>) -> bool {
    state.contains_key(CONNECTION_ID)
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("could not read the session")]
    Read(#[from] SessionGetError),
    #[error("could not write the session")]
    Write(#[from] SessionInsertError),
}

impl TypedSession {
    /// Step 1: remember a flow this browser started.
    pub fn push_pending_flow(&self, flow: PendingFlow) -> Result<(), SessionError> {
        let now = SystemTime::now();
        let mut flows = self.pending_flows()?;
        flows.retain(|f| !f.is_expired(now));
        flows.push(flow);
        if flows.len() > MAX_PENDING_FLOWS {
            let excess = flows.len() - MAX_PENDING_FLOWS;
            flows.drain(..excess);
        }
        self.0.insert(PENDING_FLOWS, flows)?;
        Ok(())
    }

    /// Step 3: find and remove the pending flow whose state the provider sent back. Each state is
    /// usable once. States are compared in constant time, and every pending flow is compared so
    /// the time taken does not tell which one matched. Expired flows never match.
    pub fn take_pending_flow(&self, state: &str) -> Result<Option<PendingFlow>, SessionError> {
        let now = SystemTime::now();
        let mut flows = self.pending_flows()?;
        let mut found = None;
        for (index, flow) in flows.iter().enumerate() {
            let matches: bool = flow.state.as_bytes().ct_eq(state.as_bytes()).into();
            if matches {
                found = Some(index);
            }
        }
        let Some(index) = found else {
            return Ok(None);
        };
        let flow = flows.remove(index);
        self.0.insert(PENDING_FLOWS, &flows)?;
        Ok((!flow.is_expired(now)).then_some(flow))
    }

    fn pending_flows(&self) -> Result<Vec<PendingFlow>, SessionError> {
        Ok(self.0.get(PENDING_FLOWS)?.unwrap_or_default())
    }

    /// After Step 4: a new session id (no fixation), a new CSRF token, and the connection. The
    /// completed flow was already removed by `take_pending_flow`; flows other tabs started stay
    /// valid, so one tab's login does not break another's.
    pub fn start_connection(&self, connection: &ConnectionId) -> Result<(), SessionError> {
        self.0.renew();
        self.0.remove(CSRF_TOKEN);
        self.0.insert(CONNECTION_ID, connection.as_str())?;
        Ok(())
    }

    pub fn connection(&self) -> Result<Option<ConnectionId>, SessionError> {
        Ok(self
            .0
            .get::<String>(CONNECTION_ID)?
            .map(ConnectionId::from_session))
    }

    /// The CSRF token for forms on pages this session sees, created on first use.
    pub fn csrf_token(&self) -> Result<String, SessionError> {
        if let Some(token) = self.0.get::<String>(CSRF_TOKEN)? {
            return Ok(token);
        }
        let token = CsrfToken::new_random_len(32).secret().clone();
        self.0.insert(CSRF_TOKEN, &token)?;
        Ok(token)
    }

    pub fn csrf_token_matches(&self, submitted: &str) -> Result<bool, SessionError> {
        Ok(match self.0.get::<String>(CSRF_TOKEN)? {
            Some(expected) => expected.as_bytes().ct_eq(submitted.as_bytes()).into(),
            None => false,
        })
    }

    /// A one-time message for the next page (POST → redirect → GET).
    pub fn set_flash(&self, message: &str) -> Result<(), SessionError> {
        self.0.insert(FLASH, message)?;
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

impl FromRequest for TypedSession {
    type Error = <Session as FromRequest>::Error;
    type Future = Ready<Result<TypedSession, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(TypedSession(req.get_session())))
    }
}
