//! Serde types for Rememberizer's API responses (`shared/rememberizer-api.md`).
//!
//! Unknown fields are ignored (serde's default) and every field the contract does not promise is
//! optional, so a provider that adds or omits a field does not break the app. Every string here
//! is untrusted: templates render it escaped.

use serde::{Deserialize, Deserializer, Serialize};

/// A count or size the contract gives no type for: a JSON number, a numeric string (the public
/// OpenAPI file types a search hit's `size` as a string) or `null`. Anything else reads as absent
/// rather than failing the whole response.
fn lenient_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f as u64)
        }),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Like [`lenient_u64`], for counts where absent means zero.
fn lenient_count<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    lenient_u64(deserializer).map(Option::unwrap_or_default)
}

/// A float that may come as a number, a numeric string or `null`.
fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    })
}

/// A chunk position: must be present and readable as a count, else the answer is unusable.
fn required_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u32, D::Error> {
    lenient_u64(deserializer)?
        .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        .ok_or_else(|| serde::de::Error::custom("expected a chunk number"))
}

/// `thread_contents`: an object of thread key → thread text (the shape the docs describe), read
/// leniently: a thread given as a list of messages is joined line by line, and a list of threads
/// is numbered. Anything else reads as no threads rather than failing the channel.
fn threads<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Thread>, D::Error> {
    use serde_json::Value;
    fn text(value: Value) -> String {
        match value {
            Value::String(s) => s,
            Value::Array(items) => items
                .into_iter()
                .map(text)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join("\n"),
            Value::Object(mut fields) => ["text", "content", "message"]
                .iter()
                .find_map(|name| fields.remove(*name))
                .map(text)
                .unwrap_or_default(),
            Value::Number(n) => n.to_string(),
            Value::Null | Value::Bool(_) => String::new(),
        }
    }
    let threads = match Value::deserialize(deserializer)? {
        Value::Object(map) => map
            .into_iter()
            .map(|(key, value)| Thread {
                key,
                content: text(value),
            })
            .collect(),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, value)| Thread {
                key: (index + 1).to_string(),
                content: text(value),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(threads
        .into_iter()
        .filter(|thread: &Thread| !thread.content.trim().is_empty())
        .collect())
}

/// A text field that may come as `null`: read as empty.
fn text_or_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// `GET /api/v1/account/`. The `id` is an integer in the 2024 file and a string in today's docs;
/// the app never needs it, so any type (or none) is accepted.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Account {
    /// The user's id as sent (a number or a string); `Null` when absent.
    #[serde(default)]
    pub id: serde_json::Value,
    /// The user's email address; `None` when absent or `null`.
    #[serde(default)]
    pub email: Option<String>,
    /// The user's display name; `None` when absent or `null`.
    #[serde(default)]
    pub name: Option<String>,
}

/// `GET /api/v1/integrations/` (its `message` and `code` are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct IntegrationList {
    /// The user's integrations; empty when `data` is absent.
    #[serde(default)]
    pub data: Vec<Integration>,
}

/// One data source the user connected to Rememberizer (a Slack workspace, a Google Drive, …).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Integration {
    /// Its id as sent (any JSON type); required.
    pub id: serde_json::Value,
    /// Its kind: `slack`, `google_drive`, `gmail`, `dropbox`, …; required.
    pub integration_type: String,
    /// Where it reads from as Rememberizer names it (a workspace, a mailbox); `None` when absent.
    #[serde(default)]
    pub source: Option<String>,
    /// Counts and size of its documents; `None` when absent.
    #[serde(default)]
    pub document_stats: Option<DocumentStats>,
}

/// An integration's `document_stats`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DocumentStats {
    /// Its documents per indexing state; `None` when absent.
    #[serde(default)]
    pub status: Option<IndexingStatus>,
    /// Its documents' total size in bytes; `None` when absent or not a number.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total_size: Option<u64>,
    /// How many documents it holds; `None` when absent or not a number.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub document_count: Option<u64>,
}

/// How many of an integration's documents are in each indexing state (a count that is absent or
/// not a number reads as 0).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IndexingStatus {
    /// Indexed: searchable.
    #[serde(default, deserialize_with = "lenient_count")]
    pub indexed: u64,
    /// Still being indexed.
    #[serde(default, deserialize_with = "lenient_count")]
    pub indexing: u64,
    /// Could not be indexed.
    #[serde(default, deserialize_with = "lenient_count")]
    pub error: u64,
}

/// A Django-REST-framework style page: `next`/`previous` are absolute URLs or `null`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    /// How many items there are over all pages (0 when absent or not a number).
    #[serde(default, deserialize_with = "lenient_count")]
    pub count: u64,
    /// The next page's absolute URL; `None` on the last page (or when absent).
    #[serde(default)]
    pub next: Option<String>,
    /// The previous page's absolute URL; `None` on the first page (or when absent).
    #[serde(default)]
    pub previous: Option<String>,
    /// This page's items; required.
    pub results: Vec<T>,
}

/// A document's `id`. The published documents schema types it as a string while its example,
/// the 2024 OpenAPI file and every search hit show an integer: both are accepted and kept as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DocumentId {
    /// An integer id, as the examples and search hits send it.
    Number(u64),
    /// A string id, as the published schema types it (or a number that is no `u64`, written
    /// out).
    Text(String),
}

impl DocumentId {
    /// The id as an integer key, when it is one (a number, or a string of digits).
    pub fn as_key(&self) -> Option<u64> {
        match self {
            DocumentId::Number(n) => Some(*n),
            DocumentId::Text(s) => s.trim().parse().ok(),
        }
    }
}

/// An `id` of any JSON type: numbers and strings as [`DocumentId`], anything else as absent.
fn document_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DocumentId>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => Some(match n.as_u64() {
            Some(n) => DocumentId::Number(n),
            None => DocumentId::Text(n.to_string()),
        }),
        serde_json::Value::String(s) => Some(DocumentId::Text(s)),
        _ => None,
    })
}

/// One entry of `GET /api/v1/documents/`, and the `document` of a search hit.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Document {
    /// The integer primary key that `/documents/{pk}/contents/` and `/discussions/{pk}/contents/`
    /// take (Rememberizer's own MCP server builds its document URIs from it). Search hits have
    /// none: there `id` is the integer key.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub pk: Option<u64>,
    /// The document's `id`, a number or a string; `None` when absent or of another JSON type.
    /// Use [`Document::key`] to address the document.
    #[serde(default, deserialize_with = "document_id")]
    pub id: Option<DocumentId>,
    /// Rememberizer's string `document_id` (not what `/contents/` takes); `None` when absent.
    #[serde(default)]
    pub document_id: Option<String>,
    /// The document's name (a file's, a channel's); `None` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Its `type` as sent (for a file, a MIME type such as `application/pdf`); `None` when
    /// absent.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// Its path in the source (folders, a channel's place); `None` when absent.
    #[serde(default)]
    pub path: Option<String>,
    /// A link to it in its source, as sent: any scheme (check it before linking); `None` when
    /// absent.
    #[serde(default)]
    pub url: Option<String>,
    /// On entries of `/documents/`.
    #[serde(default)]
    pub integration_type: Option<String>,
    /// On search hits: `{"id", "integration_type"}`.
    #[serde(default)]
    pub integration: Option<DocumentIntegration>,
    /// Where it comes from as Rememberizer names it (a workspace, a mailbox, a drive); `None`
    /// when absent.
    #[serde(default)]
    pub source: Option<String>,
    /// Its indexing status as sent (`indexed`, `indexing`, `error`, …); `None` when absent.
    #[serde(default)]
    pub status: Option<String>,
    /// When it was indexed, ISO 8601 as sent; `None` when absent (not indexed yet, say).
    #[serde(default)]
    pub indexed_on: Option<String>,
    /// When it was created in its source, ISO 8601 as sent; `None` when absent.
    #[serde(default)]
    pub created_time: Option<String>,
    /// When it was last changed in its source, ISO 8601 as sent (search hits); `None` when
    /// absent.
    #[serde(default)]
    pub modified_time: Option<String>,
    /// Its size in bytes (a number or a numeric string); `None` when absent or unreadable.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: Option<u64>,
}

/// A search hit's `integration`: which kind of integration the document came from (its `id` is
/// ignored).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DocumentIntegration {
    /// `slack`, `google_drive`, …; `None` when absent.
    #[serde(default)]
    pub integration_type: Option<String>,
}

/// The integrations whose documents are discussions (channels), read through
/// `/discussions/{pk}/contents/` rather than `/documents/{pk}/contents/`.
pub const DISCUSSION_INTEGRATIONS: [&str; 2] = ["slack", "discord"];

impl Document {
    /// The integer key for `/contents/` and for this app's own links: `pk` when present, else the
    /// `id` when it is an integer (search hits, older answers).
    pub fn key(&self) -> Option<u64> {
        self.pk
            .or_else(|| self.id.as_ref().and_then(DocumentId::as_key))
    }

    /// `integration_type` on a document entry, `integration.integration_type` on a search hit.
    pub fn integration_type(&self) -> Option<&str> {
        self.integration_type
            .as_deref()
            .or_else(|| {
                self.integration
                    .as_ref()
                    .and_then(|i| i.integration_type.as_deref())
            })
            .filter(|kind| !kind.is_empty())
    }

    /// A Slack or Discord channel: its text is a discussion, not chunks of a file.
    pub fn is_discussion(&self) -> bool {
        self.integration_type()
            .is_some_and(|kind| DISCUSSION_INTEGRATIONS.contains(&kind))
    }
}

/// `GET /api/v1/me/`
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Me {
    /// The user's display name; `None` when absent or `null`.
    #[serde(default)]
    pub name: Option<String>,
    /// The user's email address; `None` when absent or `null`.
    #[serde(default)]
    pub email: Option<String>,
    /// Bytes the user may embed.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub embed_quota: Option<u64>,
    /// Bytes embedded so far.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub current_usage: Option<u64>,
}

/// One of `GET /api/v1/mementos/`: a named collection of the user's documents that the app was
/// granted (the person picks them in Step 2).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Memento {
    /// Its id as sent (any JSON type); required.
    pub id: serde_json::Value,
    /// Its name; `None` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// What the user wrote about it; `None` when absent.
    #[serde(default)]
    pub description: Option<String>,
    /// How many documents it holds; `None` when absent or not a number.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub document_count: Option<u64>,
}

/// A plain JSON list, a DRF page of the same items, or a `{"data": [...]}` envelope (the shape
/// of Rememberizer's other list endpoints): the mementos endpoint publishes no response schema.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ListOrPage<T> {
    /// A plain JSON list.
    List(Vec<T>),
    /// A DRF page (only this page: the others are not fetched).
    Page(Page<T>),
    /// `{"data": [...]}`.
    Envelope {
        /// The items.
        data: Vec<T>,
    },
}

impl<T> ListOrPage<T> {
    /// The items, whatever the shape (of a page, its `results`).
    pub fn into_items(self) -> Vec<T> {
        match self {
            ListOrPage::List(items) => items,
            ListOrPage::Page(page) => page.results,
            ListOrPage::Envelope { data } => data,
        }
    }

    /// Which of the three shapes was read (for the live check).
    pub fn shape(&self) -> &'static str {
        match self {
            ListOrPage::List(_) => "plain list",
            ListOrPage::Page(_) => "DRF page",
            ListOrPage::Envelope { .. } => "{\"data\": [...]}",
        }
    }
}

/// `GET /api/v1/documents/search/`.
///
/// Today's docs and Rememberizer's current clients (MCP server, LangChain) read
/// `{"data_sources": [...], "matched_chunks": [...]}`; the 2024 OpenAPI file said
/// `{"data": [...], "message", "code"}`. Both are read; an answer with neither list is an error,
/// not "no results", so that a change of shape shows instead of hiding.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResults {
    /// Per source, how many matching documents it holds; `None` when absent.
    #[serde(default)]
    pub data_sources: Option<Vec<DataSource>>,
    /// The hits, best first (today's shape); `None` when absent.
    #[serde(default)]
    pub matched_chunks: Option<Vec<SearchHit>>,
    /// The 2024 shape.
    #[serde(default)]
    pub data: Option<Vec<SearchHit>>,
}

/// Which shape a search answer came in (for the live check and the logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchShape {
    /// `{"data_sources", "matched_chunks"}`: today's docs and clients.
    MatchedChunks,
    /// `{"data", "message", "code"}`: the 2024 OpenAPI file.
    Data2024,
}

/// Search hits, best first, with the per-source document counts when the API gives them.
#[derive(Debug, Clone)]
pub struct Found {
    /// The hits, best first, as sent.
    pub hits: Vec<SearchHit>,
    /// Per-source document counts; empty when the answer gave none.
    pub data_sources: Vec<DataSource>,
    /// Which shape the answer came in.
    pub shape: SearchShape,
}

impl SearchResults {
    /// The hits of either shape (`matched_chunks` when both lists are there); `None` when the
    /// answer has neither.
    pub fn into_found(self) -> Option<Found> {
        let (hits, shape) = match (self.matched_chunks, self.data) {
            (Some(hits), _) => (hits, SearchShape::MatchedChunks),
            (None, Some(hits)) => (hits, SearchShape::Data2024),
            (None, None) => return None,
        };
        Some(Found {
            hits,
            data_sources: self.data_sources.unwrap_or_default(),
            shape,
        })
    }
}

/// `{"name", "documents"}`: how many of the matching documents came from one source.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DataSource {
    /// The source's name (empty when absent or `null`).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub name: String,
    /// How many matching documents came from it (0 when absent or not a number).
    #[serde(default, deserialize_with = "lenient_count")]
    pub documents: u64,
}

/// One search hit: a passage of a granted document that matched the question.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SearchHit {
    /// The document it is in (without `pk`: its `id` is the integer key); required.
    pub document: Document,
    /// The passage's text (empty when absent or `null`).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub matched_content: String,
    /// Kept as sent, never turned into a percentage: its scale is not defined (the 2024 file calls
    /// it cosine similarity, where higher is closer). Hits come best first; the rank is the order.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub distance: Option<f64>,
}

/// `GET /api/v1/documents/{pk}/contents/`
#[derive(Debug, Clone, Deserialize)]
pub struct Contents {
    /// Up to 20 chunks of the document's text; empty past its end (and when absent or `null`).
    #[serde(default, deserialize_with = "text_or_empty")]
    pub content: String,
    /// The chunk to continue from (the next call's `start_chunk`); required, a number or a
    /// numeric string (`u32::MAX` if larger).
    #[serde(deserialize_with = "required_u32")]
    pub end_chunk: u32,
}

/// `GET /api/v1/discussions/{pk}/contents/`: a Slack or Discord channel over a time window.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscussionContents {
    /// The channel's main messages.
    #[serde(default, deserialize_with = "text_or_empty")]
    pub discussion_content: String,
    /// The channel's threads.
    #[serde(default, deserialize_with = "threads")]
    pub thread_contents: Vec<Thread>,
}

/// One thread of a discussion: the key it came under (the parent message's time, ISO 8601 UTC,
/// in the docs' example) and its replies, in the same line format as the main messages.
#[derive(Debug, Clone, Serialize)]
pub struct Thread {
    /// The key it came under; its position from 1 when the threads came as a list.
    pub key: String,
    /// Its messages as text, one per line; never blank (blank threads are dropped).
    pub content: String,
}

/// One line of a discussion as the docs show it: `User A [2023-06-01 10:30:00]: Good morning!`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Who wrote it, as the line names them; empty when the line has no `author [time]: `
    /// prefix.
    pub author: String,
    /// `YYYY-MM-DD HH:MM:SS` (UTC) as sent; empty when the line has no such prefix.
    pub posted_at: String,
    /// What was written; the lines that continue it are joined with `\n`.
    pub text: String,
}

/// Splits a discussion text into messages. A line without the `author [time]: ` prefix continues
/// the previous message (a message with line breaks), or stands alone if it comes first.
pub fn parse_messages(text: &str) -> Vec<Message> {
    let mut messages: Vec<Message> = Vec::new();
    for line in text.lines() {
        match split_message_line(line) {
            Some(message) => messages.push(message),
            None => match messages.last_mut() {
                Some(previous) => {
                    previous.text.push('\n');
                    previous.text.push_str(line);
                }
                None if line.trim().is_empty() => {}
                None => messages.push(Message {
                    author: String::new(),
                    posted_at: String::new(),
                    text: line.to_owned(),
                }),
            },
        }
    }
    messages
}

fn split_message_line(line: &str) -> Option<Message> {
    let open = line.find(" [")?;
    let rest = &line[open + 2..];
    let close = rest.find("]: ")?;
    let posted_at = &rest[..close];
    let looks_like_time = posted_at.len() == 19
        && posted_at
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b':' | b' '));
    looks_like_time.then(|| Message {
        author: line[..open].trim().to_owned(),
        posted_at: posted_at.to_owned(),
        text: rest[close + 3..].to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_ignored_and_optional_fields_may_be_absent() {
        let page: Page<Document> = serde_json::from_str(
            r#"{"count": 1, "next": null, "previous": null, "extra": true,
                "results": [{"id": 7, "something_new": [1, 2]}]}"#,
        )
        .expect("tolerant parse");
        assert_eq!(page.results[0].key(), Some(7));
        assert!(page.results[0].name.is_none());
    }

    #[test]
    fn numbers_without_a_stated_type_are_read_leniently() {
        let page: Page<Document> = serde_json::from_str(
            r#"{"count": null, "next": null, "previous": null, "results": [
                {"id": 1, "size": "1536"}, {"id": 2, "size": 2048.0}, {"id": 3, "size": null},
                {"id": 4, "size": "large"}, {"id": 5, "size": -1}]}"#,
        )
        .expect("tolerant parse");
        let sizes: Vec<_> = page.results.iter().map(|d| d.size).collect();
        assert_eq!(sizes, [Some(1536), Some(2048), None, None, None]);
        assert_eq!(page.count, 0);

        let stats: DocumentStats = serde_json::from_str(
            r#"{"status": {"indexed": "3", "indexing": null}, "total_size": "10", "document_count": 2}"#,
        )
        .expect("tolerant parse");
        let status = stats.status.expect("status");
        assert_eq!((status.indexed, status.indexing, status.error), (3, 0, 0));
        assert_eq!(
            (stats.total_size, stats.document_count),
            (Some(10), Some(2))
        );

        let hit: SearchHit = serde_json::from_str(
            r#"{"document": {"id": 9, "size": "77"}, "matched_content": null}"#,
        )
        .expect("tolerant parse");
        assert_eq!(
            (hit.document.size, hit.matched_content.as_str()),
            (Some(77), "")
        );
    }

    #[test]
    fn discussion_lines_split_into_messages() {
        let messages = parse_messages(
            "User A [2023-06-01 10:30:00]: Good morning [all]: hi\nsecond line\nUser B [2023-06-01 10:32:15]: Morning!",
        );
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].author, "User A");
        assert_eq!(messages[0].posted_at, "2023-06-01 10:30:00");
        assert_eq!(messages[0].text, "Good morning [all]: hi\nsecond line");
        assert_eq!(messages[1].text, "Morning!");
        let free = parse_messages("no prefix here\nUser [soon]: x");
        assert_eq!(
            free.len(),
            1,
            "a line without a time prefix continues the message"
        );
        assert_eq!(free[0].author, "");
    }

    #[test]
    fn document_keys_prefer_pk_then_an_integer_id() {
        let doc =
            |json: serde_json::Value| -> Document { serde_json::from_value(json).expect("doc") };
        assert_eq!(
            doc(serde_json::json!({"pk": 5, "id": "abc"})).key(),
            Some(5)
        );
        assert_eq!(doc(serde_json::json!({"id": 6})).key(), Some(6));
        assert_eq!(doc(serde_json::json!({"id": "7"})).key(), Some(7));
        assert_eq!(doc(serde_json::json!({"id": "doc-x"})).key(), None);
        assert_eq!(doc(serde_json::json!({"id": [1]})).key(), None);
        let hit = doc(
            serde_json::json!({"id": 8, "integration": {"id": 1, "integration_type": "slack"}}),
        );
        assert_eq!(hit.integration_type(), Some("slack"));
        assert!(hit.is_discussion());
    }

    #[test]
    fn mementos_come_as_a_list_or_as_a_page() {
        let list: ListOrPage<Memento> =
            serde_json::from_str(r#"[{"id": 1, "name": "A"}]"#).expect("list");
        let page: ListOrPage<Memento> = serde_json::from_str(
            r#"{"count": 1, "next": null, "previous": null, "results": [{"id": 1, "name": "A"}]}"#,
        )
        .expect("page");
        assert_eq!(list.into_items().len(), 1);
        assert_eq!(page.into_items().len(), 1);
    }
}
