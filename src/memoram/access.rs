//! The access request ("Quickstart", steps 6 and 7): once the user has authorized the app, the
//! app asks for access with their `memory_key`; the user approves (or rejects) it in their
//! Memoram dashboard; once approved, the request's credentials open their memories.

use secrecy::SecretString;

use super::connections::MemoramConnection;
use super::member::{within, MemberError};
use super::{AccessStatus, Memoram};
use crate::api::ApiError;
use crate::auth::{ConnectionId, StoreError};

/// Where this browser's access request stands, as the waiting page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessState {
    /// No request (the last one failed, or Memoram no longer knows it): ask again.
    None,
    Pending,
    /// Approved, and the credentials are kept: the memories are open.
    Approved,
    Rejected,
    Revoked,
    /// A status this app does not know.
    Unknown,
}

impl AccessState {
    /// The name the waiting page's template uses.
    pub fn as_str(self) -> &'static str {
        match self {
            AccessState::None => "none",
            AccessState::Pending | AccessState::Approved => "pending",
            AccessState::Rejected => "rejected",
            AccessState::Revoked => "revoked",
            AccessState::Unknown => "unknown",
        }
    }
}

impl Memoram {
    /// After the code exchange: keeps a new connection with the user's `memory_key`, then asks
    /// for access. The connection is kept first, so that a failed access request (the exchange
    /// used much of the page's time) does not cost the user their consent: the waiting page
    /// offers to ask again. Returns the connection and how the request went.
    pub async fn connect(
        &self,
        memory_key: &SecretString,
    ) -> Result<(ConnectionId, Result<(), ApiError>), StoreError> {
        let mut connection = MemoramConnection::new(memory_key);
        let id = self.connections.insert(&connection).await?;
        let requested = within(self.client.create_access_request(memory_key, &self.reason)).await;
        match requested {
            Ok(request) => {
                connection.request_id = Some(request.id);
                self.connections.put(&id, &connection).await?;
                Ok((id, Ok(())))
            }
            Err(error) => Ok((id, Err(error))),
        }
    }

    /// The state of `connection`'s access request. Approved: the credentials are fetched and
    /// kept. Not (or no longer) approved: whatever credentials were kept are forgotten.
    pub async fn check_access(
        &self,
        id: &ConnectionId,
        connection: &mut MemoramConnection,
    ) -> Result<AccessState, MemberError> {
        let status = match connection.request_id.clone() {
            None => None,
            Some(request_id) => match within(self.client.access_request(&request_id)).await {
                Ok(request) => Some((request_id, request.status)),
                // Gone at Memoram: ask again.
                Err(ApiError::NotFound) => None,
                Err(other) => return Err(MemberError::Api(other)),
            },
        };
        if let Some((request_id, AccessStatus::Approved)) = &status {
            match within(self.client.credentials(request_id)).await {
                Ok(credentials) => {
                    connection.set_credentials(credentials);
                    self.connections.put(id, connection).await?;
                    return Ok(AccessState::Approved);
                }
                // Approved, yet the keys are refused (revoked between the two calls, or not
                // yet released): the page waits and checks again.
                Err(ApiError::Refused(status)) if status.as_u16() == 403 => {}
                Err(other) => return Err(MemberError::Api(other)),
            }
        }
        if connection.credentials.is_some() {
            connection.credentials = None;
            self.connections.put(id, connection).await?;
        }
        Ok(match status.map(|(_, status)| status) {
            None => AccessState::None,
            Some(AccessStatus::Pending | AccessStatus::Approved) => AccessState::Pending,
            Some(AccessStatus::Rejected) => AccessState::Rejected,
            Some(AccessStatus::Revoked) => AccessState::Revoked,
            Some(AccessStatus::Unknown) => AccessState::Unknown,
        })
    }

    /// A new access request for `connection` (after a rejection or a revocation).
    pub async fn ask_again(
        &self,
        id: &ConnectionId,
        connection: &mut MemoramConnection,
    ) -> Result<(), MemberError> {
        let request = within(
            self.client
                .create_access_request(&connection.memory_key(), &self.reason),
        )
        .await
        .map_err(MemberError::Api)?;
        connection.request_id = Some(request.id);
        connection.credentials = None;
        self.connections.put(id, connection).await?;
        Ok(())
    }
}
