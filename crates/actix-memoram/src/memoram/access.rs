//! The access request ("Quickstart", steps 6 and 7): once the user has authorized the app, the
//! app asks for access with their `memory_key`; the user approves (or rejects) it in their
//! Memoram dashboard; once approved, the request's credentials open their memories.
//!
//! One request at a time per connection: asking again while a request is pending (a second
//! tab, a double click, a page left open) keeps that request, and of tabs asking at the same
//! moment one creates the request (it claims the record first, compare-and-set) while the
//! others wait for it. Every write is compare-and-set (`connections`): an answer that arrives
//! after the record changed, or after a disconnect, changes nothing.

use std::time::{Duration, SystemTime};

use rand::distributions::{Alphanumeric, DistString};
use secrecy::SecretString;

use super::connections::{MemoramConnection, RequestClaim};
use super::member::{within, MemberError};
use super::{AccessStatus, Memoram};
use crate::api::ApiError;
use crate::auth::tokens::unix_ms;
use crate::auth::{ConnectionId, StoreError};

/// A claim older than this is from an attempt that did not finish (its instance stopped): it no
/// longer holds others back. Longer than any page's deadline.
const CLAIM_LIFETIME: Duration = Duration::from_secs(30);

/// Where this browser's access request stands, as the waiting page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessState {
    /// No request (the last one failed, or Memoram no longer knows it): ask again.
    None,
    /// Waiting for the user to approve it in their dashboard; also when Memoram says approved
    /// but the credentials are not released yet (a 403).
    Pending,
    /// Approved, and the credentials are kept: the memories are open.
    Approved,
    /// The user declined the request: ask again.
    Rejected,
    /// The user withdrew an access they had approved: ask again.
    Revoked,
    /// A status this app does not know.
    Unknown,
}

impl AccessState {
    /// The state's name in the app's waiting-page template: `none`, `pending` (for `Approved`
    /// too), `rejected`, `revoked` or `unknown`. The crate's own waiting page does not use it.
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
                // Gone: disconnected meanwhile (another tab); the request is Memoram's to expire.
                self.connections.update(&id, &mut connection).await?;
                Ok((id, Ok(())))
            }
            Err(error) => Ok((id, Err(error))),
        }
    }

    /// The state of `connection`'s access request, as Memoram says it now. Approved: the
    /// credentials are fetched (if not kept yet) and kept. Not (or no longer) approved: the
    /// kept credentials are forgotten. `connection` is updated to what is stored.
    pub async fn check_access(
        &self,
        id: &ConnectionId,
        connection: &mut MemoramConnection,
    ) -> Result<AccessState, MemberError> {
        let Some(request_id) = connection.request_id.clone() else {
            return Ok(AccessState::None);
        };
        let status = match within(self.client.access_request(&request_id)).await {
            Ok(request) => request.status,
            // Gone at Memoram: ask again.
            Err(ApiError::NotFound) => return Ok(AccessState::None),
            Err(other) => return Err(MemberError::Api(other)),
        };
        let same_request = |c: &MemoramConnection| c.request_id.as_deref() == Some(&request_id);
        if status == AccessStatus::Approved {
            if connection.credentials.is_some() {
                return Ok(AccessState::Approved);
            }
            match within(self.client.credentials(&request_id)).await {
                Ok(credentials) => {
                    let stored = self
                        .connections
                        .modify(id, |c| {
                            same_request(c) && {
                                c.set_credentials(credentials.clone());
                                true
                            }
                        })
                        .await?;
                    *connection = stored.ok_or(MemberError::Gone)?;
                    return Ok(if connection.credentials.is_some() {
                        AccessState::Approved
                    } else {
                        AccessState::Pending
                    });
                }
                // Approved, yet the keys are refused (revoked between the two calls, or not
                // yet released): the page waits and checks again.
                Err(ApiError::Refused(status)) if status.as_u16() == 403 => {}
                Err(other) => return Err(MemberError::Api(other)),
            }
        }
        if connection.credentials.is_some() {
            let stored = self
                .connections
                .modify(id, |c| same_request(c) && c.credentials.take().is_some())
                .await?;
            *connection = stored.ok_or(MemberError::Gone)?;
        }
        Ok(match status {
            AccessStatus::Pending | AccessStatus::Approved => AccessState::Pending,
            AccessStatus::Rejected => AccessState::Rejected,
            AccessStatus::Revoked => AccessState::Revoked,
            AccessStatus::Unknown => AccessState::Unknown,
        })
    }

    /// A new access request for `connection` (after a rejection or a revocation), unless one is
    /// pending or being created by another tab: then that one is kept.
    pub async fn ask_again(
        &self,
        id: &ConnectionId,
        connection: &MemoramConnection,
    ) -> Result<(), MemberError> {
        if let Some(request_id) = &connection.request_id {
            match within(self.client.access_request(request_id)).await {
                Ok(request)
                    if matches!(
                        request.status,
                        AccessStatus::Pending | AccessStatus::Approved
                    ) =>
                {
                    return Ok(());
                }
                Ok(_) | Err(ApiError::NotFound) => {}
                Err(other) => return Err(MemberError::Api(other)),
            }
        }
        // Claim the record: of concurrent tabs, the first write wins; the others find its claim.
        let claim = RequestClaim {
            token: Alphanumeric.sample_string(&mut rand::thread_rng(), 16),
            since_ms: unix_ms(SystemTime::now()),
        };
        let claimable = |c: &MemoramConnection| {
            c.request_id == connection.request_id
                && c.requesting.as_ref().is_none_or(|other| {
                    claim.since_ms.saturating_sub(other.since_ms)
                        > CLAIM_LIFETIME.as_millis() as u64
                })
        };
        let claimed = self
            .connections
            .modify(id, |c| {
                claimable(c) && {
                    c.requesting = Some(claim.clone());
                    true
                }
            })
            .await?
            .ok_or(MemberError::Gone)?;
        if claimed.requesting.as_ref() != Some(&claim) {
            // Another tab asked first (or is asking): its request is the one.
            return Ok(());
        }
        let request = within(
            self.client
                .create_access_request(&connection.memory_key(), &self.reason),
        )
        .await;
        self.connections
            .modify(id, |c| {
                c.requesting.as_ref() == Some(&claim) && {
                    c.requesting = None;
                    if let Ok(request) = &request {
                        c.request_id = Some(request.id.clone());
                        c.credentials = None;
                    }
                    true
                }
            })
            .await?;
        request.map(drop).map_err(MemberError::Api)
    }
}
