//! Serde types for Rememberizer's API responses (`shared/rememberizer-api.md`).
//!
//! Unknown fields are ignored (serde's default) and every field the contract does not promise is
//! optional, so a provider that adds or omits a field does not break the app. Every string here
//! is untrusted: templates render it escaped.

use serde::{Deserialize, Serialize};

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
    pub integration_step: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub document_type: Option<String>,
    #[serde(default)]
    pub document_stats: Option<DocumentStats>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DocumentStats {
    #[serde(default)]
    pub status: Option<IndexingStatus>,
    #[serde(default)]
    pub total_size: Option<u64>,
    #[serde(default)]
    pub document_count: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IndexingStatus {
    #[serde(default)]
    pub indexed: u64,
    #[serde(default)]
    pub indexing: u64,
    #[serde(default)]
    pub error: u64,
}

/// A Django-REST-framework style page: `next`/`previous` are absolute URLs or `null`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    #[serde(default)]
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
    #[serde(default)]
    pub size: Option<u64>,
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
}
