//! Memoram's response shapes, field for field as its API reference publishes them (they mix
//! camelCase and snake_case per endpoint: copied exactly). Optional where the docs' examples
//! leave a field out or may send `null`, so that a sparse answer still renders.

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

/// `POST /auth/token`: `{"token", "expires_at"?, "token_type"?}`.
#[derive(Deserialize)]
pub struct DeveloperTokenResponse {
    pub token: String,
    /// Not relied on: the JWT's own `exp` claim, or the lifetime asked for, is used instead.
    #[serde(default)]
    pub expires_at: Option<serde_json::Value>,
}

/// An access request's status. Anything else the provider may add reads as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessStatus {
    Pending,
    Approved,
    Rejected,
    Revoked,
    #[serde(other)]
    Unknown,
}

/// `POST /access-requests` (201) and `GET /access-requests/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessRequest {
    pub id: String,
    pub status: AccessStatus,
    #[serde(default)]
    pub reason: Option<String>,
    /// "available once linked".
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default, rename = "createdAt")]
    pub created_at: Option<String>,
    #[serde(default, rename = "updatedAt")]
    pub updated_at: Option<String>,
}

/// `GET /access-requests/{id}/credentials`, only for an approved request. The two keys are
/// secrets: no `Debug`, no `Serialize` except into the server-side store.
#[derive(Clone)]
pub struct Credentials {
    pub user_id: String,
    pub memory_key: SecretString,
    pub encryption_key: SecretString,
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
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    /// Encrypted ("needs decryption"); absent in Create/Update answers.
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub importance: Option<f64>,
    #[serde(default)]
    pub confidence: Option<f64>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
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
    #[serde(rename = "memoryBlobs", default, deserialize_with = "null_as_empty")]
    pub memory_blobs: Vec<MemoryBlob>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// `GET /tags` and `GET /tags/{id}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Tag {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
    #[serde(default)]
    pub is_enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct TagList {
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
    pub title: String,
    pub summary: String,
    pub content: String,
    pub tags: Vec<String>,
    pub importance: Option<f64>,
    pub confidence: Option<f64>,
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

/// A listing's filters and position (`GET /memory-blobs`).
#[derive(Debug, Clone, Default)]
pub struct BlobQuery {
    pub tags: Vec<String>,
    pub search: Option<String>,
    pub min_importance: Option<f64>,
    pub limit: u32,
    pub cursor: Option<String>,
}
