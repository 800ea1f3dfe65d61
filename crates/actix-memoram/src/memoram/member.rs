//! What an approved member does, and the rules that hold on every page that reads or writes
//! their memories:
//! - **A rotated key** (`key_version` changed): content that does not open with the kept key
//!   makes the member fetch the credentials again, once per request, and try the new key.
//!   Content that still does not open is reported as such, never as ciphertext.
//! - **Access revoked after approval**: Memoram answers 403; the credentials are forgotten (the
//!   waiting page finds out the status again) and the caller hears [`MemberError::Revoked`].
//! - **A question searched**: Memoram's `searchQuery` is a text filter ("searches title, summary,
//!   content"), not a semantic search, so the question's longest words are searched one by one
//!   and the hits merged.

use std::future::Future;

use serde::Serialize;

use super::cipher::CipherError;
use super::connections::{MemoramConnection, Update, UserKeys};
use super::{BlobQuery, Memoram, MemoryBlob};
use crate::api::ApiError;
use crate::auth::{within_deadline, ConnectionId, StoreError};

/// Memories asked of Memoram per keyword (each search's `limit`).
pub const MEMORIES_PER_KEYWORD: u32 = 5;
/// Keywords searched per question, at most (the longest ones: see [`keywords`]).
pub const MAX_KEYWORDS: usize = 3;
/// Memories a search returns at most.
pub const MAX_MEMORIES: usize = 5;

/// A connection with an approved access request and its credentials.
pub struct Member {
    /// The connection's id (what the browser's session points to).
    pub id: ConnectionId,
    /// The connection as this request read it; compare-and-set writes start from its version.
    pub connection: MemoramConnection,
    /// The credentials in use: the kept ones, or the new ones after a rotated key
    /// ([`Memoram::check_keys`]).
    pub keys: UserKeys,
    /// The credentials were fetched again during this request (at most once).
    keys_checked: bool,
}

/// Why a member's request to Memoram failed.
#[derive(Debug, thiserror::Error)]
pub enum MemberError {
    /// Any other failure of a call: Memoram unreachable or too slow, a 404, 429 or 5xx, an
    /// unusable answer, the developer token refused (`Unauthorized`), or a request this app
    /// could not build (`Local`: content that could not be sealed).
    #[error(transparent)]
    Api(ApiError),
    /// Memoram no longer gives the app access (403 after approval): ask again.
    #[error("the access to Memoram was revoked")]
    Revoked,
    /// The connection ended here meanwhile (disconnected or logged out in another tab).
    #[error("the Memoram connection ended")]
    Gone,
    /// The connection store failed, or a write lost to other writers three times running
    /// (`StoreError::is_contended`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A memory's content as a page shows it.
#[derive(Serialize)]
pub struct Opened {
    /// The plaintext: empty for a blob without `content`; `None` when the content does not
    /// open, even with the credentials fetched again.
    pub text: Option<String>,
    /// With `text` absent: the key version that could not open it.
    pub key_version: u64,
}

impl Member {
    /// The member of an approved connection; `None` while it is not approved.
    pub fn new(id: ConnectionId, connection: MemoramConnection) -> Option<Self> {
        let keys = connection.credentials.clone()?;
        Some(Self {
            id,
            connection,
            keys,
            keys_checked: false,
        })
    }

    fn opened(&self, text: Option<String>) -> Opened {
        Opened {
            text,
            key_version: self.keys.key_version,
        }
    }
}

/// A Memoram call, ended at the request's deadline.
pub async fn within<T>(call: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
    within_deadline(call, || ApiError::Timeout).await
}

impl Memoram {
    /// What a failed call means for `member`: a 403 after approval is a revoked access (the
    /// kept credentials are forgotten, best effort, in the background: the waiting page finds
    /// out the status again, so a lost write only costs a call). Other errors pass.
    pub fn failed(&self, member: &mut Member, error: ApiError) -> MemberError {
        if !matches!(&error, ApiError::Refused(status) if status.as_u16() == 403) {
            return MemberError::Api(error);
        }
        member.connection.credentials = None;
        let (connections, id, mut connection) = (
            self.connections.clone(),
            member.id.clone(),
            member.connection.clone(),
        );
        // Compare-and-set from the version this request read: if the record changed since (a
        // re-approval in another tab), this late 403 is about the old request and writes nothing.
        tokio::spawn(async move {
            match connections.update(&id, &mut connection).await {
                Ok(outcome) => tracing::debug!(?outcome, "forgetting revoked Memoram credentials"),
                Err(error) => tracing::warn!(%error, "forgetting revoked Memoram credentials"),
            }
        });
        MemberError::Revoked
    }

    /// Opens `content`; if it does not open, fetches the credentials again (once per request:
    /// a rotated key) and retries with the new key.
    pub async fn open(
        &self,
        member: &mut Member,
        content: Option<&str>,
    ) -> Result<Opened, MemberError> {
        let Some(content) = content else {
            return Ok(member.opened(Some(String::new())));
        };
        match self
            .client
            .cipher
            .open(&member.keys.encryption_key(), content)
        {
            Ok(text) => return Ok(member.opened(Some(text))),
            Err(CipherError::BadKey | CipherError::Undecryptable) if !member.keys_checked => {}
            Err(_) => return Ok(member.opened(None)),
        }
        self.check_keys(member).await?;
        let text = self
            .client
            .cipher
            .open(&member.keys.encryption_key(), content)
            .ok();
        Ok(member.opened(text))
    }

    /// Fetches the credentials again and keeps them if the key changed; once per request.
    /// Before every write, so that nothing is sealed with a retired key.
    pub async fn check_keys(&self, member: &mut Member) -> Result<(), MemberError> {
        if member.keys_checked {
            return Ok(());
        }
        member.keys_checked = true;
        let Some(request_id) = member.connection.request_id.clone() else {
            return Ok(());
        };
        let credentials = within(self.client.credentials(&request_id))
            .await
            .map_err(|error| self.failed(member, error))?;
        if credentials.key_version == member.keys.key_version {
            return Ok(());
        }
        tracing::info!(
            old = member.keys.key_version,
            new = credentials.key_version,
            "Memoram key rotated; using the new key"
        );
        member.connection.set_credentials(credentials);
        if let Some(keys) = member.connection.credentials.clone() {
            member.keys = keys;
        }
        // Kept for the next pages unless the record changed meanwhile (then they fetch again).
        if self
            .connections
            .update(&member.id, &mut member.connection)
            .await?
            == Update::Gone
        {
            return Err(MemberError::Gone);
        }
        Ok(())
    }

    /// The memories matching `question`'s keywords, each with the text a passage shows: its
    /// content opened, else its summary, else a note that it cannot be decrypted.
    pub async fn search(
        &self,
        member: &mut Member,
        question: &str,
    ) -> Result<Vec<(MemoryBlob, String)>, MemberError> {
        let user_id = member.keys.user_id.clone();
        let searches = keywords(question).into_iter().map(|word| {
            let query = BlobQuery {
                search: Some(word),
                limit: MEMORIES_PER_KEYWORD,
                ..Default::default()
            };
            let user_id = &user_id;
            async move { within(self.client.memories(user_id, &query)).await }
        });
        let pages = futures_util::future::join_all(searches).await;
        let mut blobs: Vec<MemoryBlob> = Vec::new();
        for page in pages {
            let page = page.map_err(|error| self.failed(member, error))?;
            for blob in page.memory_blobs {
                if blobs.len() < MAX_MEMORIES && !blobs.iter().any(|b| b.id == blob.id) {
                    blobs.push(blob);
                }
            }
        }
        let mut found = Vec::with_capacity(blobs.len());
        for blob in blobs {
            let opened = self.open(member, blob.content.as_deref()).await?;
            let text = match (opened.text, &blob.summary) {
                (Some(text), _) if !text.trim().is_empty() => text.trim().to_owned(),
                (_, Some(summary)) if !summary.trim().is_empty() => summary.trim().to_owned(),
                _ => format!(
                    "(This memory cannot be decrypted with this key (key_version {}).)",
                    opened.key_version
                ),
            };
            found.push((blob, text));
        }
        Ok(found)
    }
}

/// The question's longest distinct words (4 letters or more), longest first.
pub fn keywords(question: &str) -> Vec<String> {
    let mut words: Vec<String> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .collect();
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    let mut unique: Vec<String> = Vec::new();
    for word in words {
        if !unique.contains(&word) {
            unique.push(word);
        }
    }
    unique.truncate(MAX_KEYWORDS);
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_the_longest_distinct_words() {
        assert_eq!(
            keywords("When is the Lisbon trip? Lisbon, in May, with the deploy?"),
            vec!["lisbon", "deploy", "when"]
        );
        assert!(keywords("is it ok?").is_empty());
    }
}
