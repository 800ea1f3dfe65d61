//! Memoram's response shapes, field for field as its API reference publishes them (they mix
//! camelCase and snake_case per endpoint: copied exactly). Optional where the docs' examples
//! leave a field out or may send `null`, so that a sparse answer still renders.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

/// `POST /auth/token`: `{"token", "expires_at"?, "token_type"?}`.
#[derive(Deserialize)]
pub struct DeveloperTokenResponse {
    /// The developer JWT every call carries as `Authorization: Bearer`; an empty one is
    /// refused (`ApiError::BadResponse`).
    pub token: String,
    /// When the token expires: ISO 8601 per the reference (seconds since the epoch are read
    /// too). Used only when the JWT has no readable `exp` claim; absent or unreadable, the
    /// lifetime asked for is assumed.
    #[serde(default)]
    pub expires_at: Option<serde_json::Value>,
}

/// An access request's status. Anything else the provider may add reads as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessStatus {
    /// `pending`: waiting for the user to act in their Memoram dashboard (every new request).
    Pending,
    /// `approved`: the user let the app in; the request's credentials can be fetched.
    Approved,
    /// `rejected`: the user declined; the credentials answer 403.
    Rejected,
    /// `revoked`: the user withdrew an access they had approved; the credentials answer 403.
    Revoked,
    /// Any other status (not one of the four Memoram documents).
    #[serde(other)]
    Unknown,
}

/// `POST /access-requests` (201) and `GET /access-requests/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessRequest {
    /// Memoram's id of the request, the `{requestId}` of its own calls (opaque; cuid-like in
    /// the docs, e.g. `cm8r8ny2i001mm24853tqfd62`); required.
    pub id: String,
    /// Where the request stands (`status`); required.
    pub status: AccessStatus,
    /// The `reason` the app sent, as the user is shown it; `None` when absent or `null`.
    #[serde(default)]
    pub reason: Option<String>,
    /// The user's id at Memoram (a UUID), "available once linked"; `None` when absent or `null`
    /// (the docs do not say which one an unlinked request sends).
    #[serde(default)]
    pub user_id: Option<String>,
    /// When the request was made (`createdAt`), ISO 8601 as sent; `None` when absent.
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<String>,
    /// When it last changed, e.g. approved or rejected (`updatedAt`), ISO 8601 as sent; `None`
    /// when absent.
    #[serde(default, rename = "updatedAt")]
    pub updated_at: Option<String>,
}

/// `GET /access-requests/{id}/credentials`, only for an approved request. The two keys are
/// secrets: no `Debug`, no `Serialize` except into the server-side store.
#[derive(Clone)]
pub struct Credentials {
    /// The user's id at Memoram (a UUID): the `user_id` of every memory and tag call.
    pub user_id: String,
    /// The user's memory key (snake_case `memory_key` here, `memoryKey` in request bodies); it
    /// replaces the one the token response gave.
    pub memory_key: SecretString,
    /// The user's symmetric content key, as hex ("the hexadecimal string representation"; no
    /// length is published, and [`ContentCipher::Aes256Gcm`] needs 64 hex digits).
    ///
    /// [`ContentCipher::Aes256Gcm`]: super::cipher::ContentCipher::Aes256Gcm
    pub encryption_key: SecretString,
    /// The version of `encryption_key`, an integer (a numeric string is read too): it changes
    /// when Memoram rotates the key.
    pub key_version: u64,
}

impl<'de> Deserialize<'de> for Credentials {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            user_id: String,
            memory_key: String,
            encryption_key: String,
            #[serde(deserialize_with = "number_or_string")]
            key_version: u64,
        }
        let raw = Raw::deserialize(d)?;
        Ok(Self {
            user_id: raw.user_id,
            memory_key: SecretString::from(raw.memory_key),
            encryption_key: SecretString::from(raw.encryption_key),
            key_version: raw.key_version,
        })
    }
}

/// `key_version` is an integer in the reference; a numeric string is read too.
fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| serde::de::Error::custom("key_version is not a whole number")),
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("key_version is not a whole number")),
        _ => Err(serde::de::Error::custom("key_version is missing")),
    }
}

/// One memory blob (`GET /memory-blobs`, `GET /memory-blobs/{id}`; Create/Update answer the same
/// without `content`).
#[derive(Debug, Clone, Deserialize)]
pub struct MemoryBlob {
    /// Memoram's id of the blob, the `{blobId}` of its own calls (opaque; `mem_…` in the
    /// guide); required.
    pub id: String,
    /// Its title, in plaintext; `None` when absent or `null` (see
    /// [`MemoryBlob::display_title`]).
    #[serde(default)]
    pub title: Option<String>,
    /// Its summary, in plaintext (only `content` is encrypted); `None` when absent or `null`.
    #[serde(default)]
    pub summary: Option<String>,
    /// Encrypted ("needs decryption"); absent in Create/Update answers.
    #[serde(default)]
    pub content: Option<String>,
    /// The names of its tags (its `tag_ids` are not read); empty when absent or `null`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
    /// Its importance score: 0–1 in the guide (0.8 in its example, and the list filter takes
    /// 0.0–1.0), though the create schema says "1-5 or 0-1"; `None` when absent or `null`.
    #[serde(default)]
    pub importance: Option<f64>,
    /// Its confidence score (0.9 in the guide's example; no scale is published); `None` when
    /// absent or `null`.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// Where it came from, free text set by whoever wrote it (`conversation` and `my-chat-app`
    /// in the docs); `None` when absent or `null`.
    #[serde(default)]
    pub source: Option<String>,
    /// When it was created, ISO 8601 as sent; `None` when absent.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When it last changed, ISO 8601 as sent; `None` when absent.
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl MemoryBlob {
    /// The title as pages show it (`(untitled memory)` when it has none).
    pub fn display_title(&self) -> String {
        self.title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| "(untitled memory)".to_owned())
    }
}

/// `GET /memory-blobs`: a page and the cursor of the next one (`null` on the last page).
#[derive(Debug, Deserialize)]
pub struct BlobPage {
    /// This page's blobs (`memoryBlobs`), their content still encrypted; empty when absent or
    /// `null`.
    #[serde(rename = "memoryBlobs", default, deserialize_with = "null_as_empty")]
    pub memory_blobs: Vec<MemoryBlob>,
    /// The next page's [`BlobQuery::cursor`]; `None` on the last page (`null`, as the guide's
    /// `CURSOR_STRING_OR_NULL` implies) or when absent.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `GET /tags` and `GET /tags/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Tag {
    /// Memoram's id of the tag, the `{tagId}` of `GET /tags/{tagId}` (opaque; `tag_…` in the
    /// guide); required.
    pub id: String,
    /// Its name, as blobs list it in [`MemoryBlob::tags`] and writes and filters take it;
    /// required.
    pub name: String,
    /// What it is for, free text; `None` when absent or `null`.
    #[serde(default)]
    pub description: Option<String>,
    /// Its colour, `#RRGGBB` in the guide (e.g. `#FF5733`) but as sent: check it before using
    /// it in CSS; `None` when absent or `null`.
    #[serde(default)]
    pub color: Option<String>,
    /// Whether the tag is enabled (the docs do not say what a disabled one does); `None` when
    /// absent or `null`.
    #[serde(default)]
    pub is_enabled: Option<bool>,
}

/// `GET /tags?user_id=`: `{"items"}`, every tag at once (no total, no cursor).
#[derive(Debug, Deserialize)]
pub struct TagList {
    /// The user's tags; empty when absent or `null`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub items: Vec<Tag>,
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The writable fields of a memory (`POST /memory-blobs`, `PATCH /memory-blobs/{id}`), with the
/// content still in plaintext: the client seals it. Its `Debug` shows sizes, never the text.
#[derive(Clone, Default)]
pub struct MemoryDraft {
    /// `title`, sent trimmed; when empty, left out of a create and sent as `""` by an update.
    pub title: String,
    /// `summary`, in plaintext, sent like `title`.
    pub summary: String,
    /// The content in plaintext: sealed with the user's `encryption_key` into `content`
    /// (required, sent even when empty).
    pub content: String,
    /// Tag names (`tags`); Memoram creates the ones that do not exist, and an update replaces
    /// the whole list with this one (empty: no tags).
    pub tags: Vec<String>,
    /// `importance` (see [`MemoryBlob::importance`] for its scale); `None`: left out (an update
    /// keeps the stored one).
    pub importance: Option<f64>,
    /// `confidence`; `None`: left out, like `importance`.
    pub confidence: Option<f64>,
    /// `source`, free text, sent like `title`.
    pub source: String,
}

impl std::fmt::Debug for MemoryDraft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryDraft")
            .field("title_chars", &self.title.chars().count())
            .field("content_chars", &self.content.chars().count())
            .field("tags", &self.tags.len())
            .finish_non_exhaustive()
    }
}

/// Memoram's page size when `limit` is absent, and what a [`BlobQuery::default`] asks for.
pub const DEFAULT_BLOB_LIMIT: u32 = 10;

/// A listing's filters and position (`GET /memory-blobs`). Its `Default` is Memoram's own first
/// page: no filter, [`DEFAULT_BLOB_LIMIT`] blobs.
#[derive(Debug, Clone)]
pub struct BlobQuery {
    /// Only blobs with these tag names (`tags`, comma-joined); empty: not sent.
    pub tags: Vec<String>,
    /// A text filter over title, summary and content (`searchQuery`), not a semantic search;
    /// `None`: not sent.
    pub search: Option<String>,
    /// Only blobs of at least this importance (`importance`, 0.0–1.0), a filter the guide
    /// documents and the API reference does not; `None`: not sent.
    pub min_importance: Option<f64>,
    /// Blobs per page (`limit`, always sent; Memoram's default is 10 when absent).
    pub limit: u32,
    /// Where the page starts: the previous page's [`BlobPage::next_cursor`]; `None`: the first
    /// page.
    pub cursor: Option<String>,
}

impl Default for BlobQuery {
    /// The first page, unfiltered, of [`DEFAULT_BLOB_LIMIT`] blobs: never `limit=0`.
    fn default() -> Self {
        Self {
            tags: Vec::new(),
            search: None,
            min_importance: None,
            limit: DEFAULT_BLOB_LIMIT,
            cursor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_listing_is_memorams_own_first_page_never_limit_0() {
        // A derived `Default` would send `limit=0`.
        let query = BlobQuery::default();
        assert_eq!(query.limit, DEFAULT_BLOB_LIMIT);
        assert!(query.limit > 0 && query.tags.is_empty() && query.cursor.is_none());
    }
}
