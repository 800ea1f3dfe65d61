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

/// A text field that may come as `null`: read as empty.
fn text_or_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// `GET /api/v1/account/`
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Account {
    pub id: serde_json::Value,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// `GET /api/v1/integrations/`
#[derive(Debug, Clone, Deserialize)]
pub struct IntegrationList {
    #[serde(default)]
    pub data: Vec<Integration>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Integration {
    pub id: serde_json::Value,
    pub integration_type: String,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub document_stats: Option<DocumentStats>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DocumentStats {
    #[serde(default)]
    pub status: Option<IndexingStatus>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub total_size: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub document_count: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IndexingStatus {
    #[serde(default, deserialize_with = "lenient_count")]
    pub indexed: u64,
    #[serde(default, deserialize_with = "lenient_count")]
    pub indexing: u64,
    #[serde(default, deserialize_with = "lenient_count")]
    pub error: u64,
}

/// A Django-REST-framework style page: `next`/`previous` are absolute URLs or `null`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    #[serde(default, deserialize_with = "lenient_count")]
    pub count: u64,
    #[serde(default)]
    pub next: Option<String>,
    #[serde(default)]
    pub previous: Option<String>,
    pub results: Vec<T>,
}

/// One entry of `GET /api/v1/documents/`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Document {
    /// The integer id used by `/documents/{id}/contents/`.
    pub id: u64,
    #[serde(default)]
    pub document_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub integration_type: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub indexed_on: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub size: Option<u64>,
}

/// `GET /api/v1/me/`
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Me {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Bytes the user may embed.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub embed_quota: Option<u64>,
    /// Bytes embedded so far.
    #[serde(default, deserialize_with = "lenient_u64")]
    pub current_usage: Option<u64>,
}

/// One of `GET /api/v1/mementos/`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Memento {
    pub id: serde_json::Value,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub document_count: Option<u64>,
}

/// A plain JSON list, or a DRF page of the same items.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ListOrPage<T> {
    List(Vec<T>),
    Page(Page<T>),
}

impl<T> ListOrPage<T> {
    pub fn into_items(self) -> Vec<T> {
        match self {
            ListOrPage::List(items) => items,
            ListOrPage::Page(page) => page.results,
        }
    }
}

/// `GET /api/v1/documents/search/`
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResults {
    #[serde(default)]
    pub data: Vec<SearchHit>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SearchHit {
    #[serde(default)]
    pub chunk_id: Option<serde_json::Value>,
    pub document: Document,
    #[serde(default, deserialize_with = "text_or_empty")]
    pub matched_content: String,
    /// Lower is closer.
    #[serde(default)]
    pub distance: Option<f64>,
}

/// `GET /api/v1/documents/{id}/contents/`
#[derive(Debug, Clone, Deserialize)]
pub struct Contents {
    #[serde(default, deserialize_with = "text_or_empty")]
    pub content: String,
    pub end_chunk: u32,
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
        assert_eq!(page.results[0].id, 7);
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
