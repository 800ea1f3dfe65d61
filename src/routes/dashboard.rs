//! `GET /dashboard`: the account and the documents Rememberizer shares with this app.

use std::borrow::Cow;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::errors::AppError;
use crate::rememberizer::{Account, Document, DocumentsQuery, Integration, Page};
use crate::routes::guards::RememberizerUser;
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::Templates;

/// Documents per page (the API's pages are followed, never sliced here).
pub const PAGE_SIZE: u32 = 20;
const MAX_PAGE: u32 = 100_000;

#[derive(Debug, Deserialize)]
pub struct DashboardQuery {
    page: Option<String>,
    integration_type: Option<String>,
}

pub async fn dashboard(
    query: web::Query<DashboardQuery>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: RememberizerUser,
) -> Result<HttpResponse, AppError> {
    let RememberizerUser {
        connection,
        session,
    } = user;
    let query = DocumentsQuery {
        page: parse_page(query.page.as_deref())?,
        page_size: PAGE_SIZE,
        integration_type: parse_integration_filter(query.integration_type.as_deref())?,
    };

    let (api, profiles) = (&state.api, &state.profiles);
    let query_ref = &query;
    let connection_ref = &connection;
    // Three independent calls, made concurrently. The account and the integrations change
    // rarely: they are reused for a short while (`rememberizer::cache`); the documents are
    // asked for on every view.
    let (account, documents, integrations) = tokio::join!(
        profiles
            .account
            .get_or_fetch(connection_ref, || state.call_api(
                connection_ref,
                |token| async move { api.account(&token).await }
            )),
        state.call_api(connection_ref, |token| async move {
            api.documents(&token, query_ref).await
        }),
        profiles.integrations.get_or_fetch(connection_ref, || state
            .call_api(connection_ref, |token| async move {
                api.integrations(&token).await
            })),
    );
    let (account, documents) = (account?, documents?);
    // The integrations only feed the filter: if Rememberizer fails to list them, the documents
    // are still shown, with a note instead of the filter. A lost grant still ends the page.
    let integrations = match integrations {
        Ok(integrations) => Some(integrations),
        Err(AppError::Rememberizer(error)) => {
            tracing::warn!(%error, "listing the integrations failed; the filter is hidden");
            None
        }
        Err(other) => return Err(other),
    };

    let mut context = view(
        &account,
        &documents,
        integrations.as_deref().map(Vec::as_slice),
        &query,
    );
    signed_in(&mut context, &session, &state).await?;
    context.insert("flash", &session.take_flash()?);
    Ok(templates.page("dashboard.html", &context)?)
}

/// The dashboard's template context from Rememberizer's three answers (`None` for integrations
/// that could not be listed). Apart from the handler so that `bench/stages.rs` can time it.
pub fn view(
    account: &Account,
    documents: &Page<Document>,
    integrations: Option<&[Integration]>,
    query: &DocumentsQuery,
) -> Context {
    let pages = Pagination::new(
        query,
        documents.count,
        documents.next.is_some(),
        documents.previous.is_some(),
    );
    let mut context = Context::new();
    context.insert("account", account);
    context.insert(
        "documents",
        &documents
            .results
            .iter()
            .map(DocumentRow::from)
            .collect::<Vec<_>>(),
    );
    context.insert("count", &documents.count);
    context.insert("pages", &pages);
    context.insert("filter", &query.integration_type);
    context.insert(
        "integrations",
        &integration_types(integrations.unwrap_or_default()),
    );
    context.insert("integrations_unavailable", &integrations.is_none());
    context
}

fn parse_page(raw: Option<&str>) -> Result<u32, AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(1),
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|page| (1..=MAX_PAGE).contains(page))
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "The page number must be a whole number from 1 to {MAX_PAGE}."
                ))
            }),
    }
}

/// The dashboard's `integration_type` filter: any well-formed integration type (the API knows
/// which exist); `None` for all. (Not `discussions::parse_discussion_source`, which takes only
/// the two that have channels.)
fn parse_integration_filter(raw: Option<&str>) -> Result<Option<String>, AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(kind)
            if kind.len() <= 64
                && kind.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                }) =>
        {
            Ok(Some(kind.to_owned()))
        }
        Some(_) => Err(AppError::BadRequest(
            "The integration filter must be an integration type such as slack or google_drive."
                .to_owned(),
        )),
    }
}

/// Distinct integration types, for the filter.
fn integration_types(integrations: &[Integration]) -> Vec<FilterOption> {
    let mut kinds: Vec<&str> = integrations
        .iter()
        .map(|i| i.integration_type.as_str())
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|kind| FilterOption {
            value: kind.to_owned(),
            label: integration_label(kind),
        })
        .collect()
}

#[derive(Serialize)]
struct FilterOption {
    value: String,
    label: String,
}

/// "google_drive" → "Google Drive".
pub fn integration_label(kind: &str) -> String {
    let mut label = String::with_capacity(kind.len());
    for word in kind.split(['_', '-']).filter(|w| !w.is_empty()) {
        if !label.is_empty() {
            label.push(' ');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            label.extend(first.to_uppercase());
            label.push_str(chars.as_str());
        }
    }
    label
}

/// A document as the pages show it. It borrows the API's text (names, types, sources) from the
/// `Document` it was made from: a page of twenty rows copies none of it before Tera serializes it.
#[derive(Serialize)]
pub struct DocumentRow<'a> {
    /// The integer key (`pk`, or an integer `id`): what the app's readers take.
    pub key: Option<u64>,
    /// This app's reader for it: the channel reader for Slack and Discord, the chunked text
    /// reader for files. `None` when the API gave no usable key.
    pub href: Option<String>,
    pub is_discussion: bool,
    pub name: Cow<'a, str>,
    kind: &'a str,
    /// The type in words ("Google Doc", "PDF"), where the API gave a MIME type this app knows.
    kind_label: &'a str,
    source: Cow<'a, str>,
    integration: Cow<'a, str>,
    status: &'a str,
    size: String,
    indexed_on: Cow<'a, str>,
    /// Only `http(s)` links from the API become links.
    link: Option<String>,
}

impl<'a> From<&'a Document> for DocumentRow<'a> {
    fn from(doc: &'a Document) -> Self {
        let key = doc.key();
        Self {
            key,
            href: key.map(|key| reader_href(doc, key)),
            is_discussion: doc.is_discussion(),
            name: Cow::Borrowed(
                doc.name
                    .as_deref()
                    .filter(|n| !n.trim().is_empty())
                    .unwrap_or("(untitled)"),
            ),
            kind: doc.kind.as_deref().unwrap_or_default(),
            kind_label: document_type_label(doc.kind.as_deref().unwrap_or_default()),
            source: Cow::Borrowed(doc.source.as_deref().unwrap_or_default()),
            integration: doc
                .integration_type()
                .map(|kind| Cow::Owned(integration_label(kind)))
                .unwrap_or_default(),
            status: doc.status.as_deref().unwrap_or_default(),
            size: doc.size.map(human_size).unwrap_or_default(),
            indexed_on: doc
                .indexed_on
                .as_deref()
                .map(display_date)
                .unwrap_or_default(),
            link: doc.url.as_deref().and_then(safe_link),
        }
    }
}

impl DocumentRow<'static> {
    /// A Memoram memory among search results: its page, its source as the "integration".
    pub fn memory(name: String, href: String, source: Option<String>) -> Self {
        Self {
            key: None,
            href: Some(href),
            is_discussion: false,
            name: Cow::Owned(name),
            kind: "",
            kind_label: "",
            source: source.map(Cow::Owned).unwrap_or_default(),
            integration: Cow::Borrowed("Memoram"),
            status: "",
            size: String::new(),
            indexed_on: Cow::Borrowed(""),
            link: None,
        }
    }
}

/// A document's type as a person says it: the API gives a MIME type
/// ("application/vnd.google-apps.document"). A type this app does not know is shown as sent.
pub fn document_type_label(kind: &str) -> &str {
    let essence = kind.split(';').next().unwrap_or_default().trim();
    match essence.to_ascii_lowercase().as_str() {
        "application/vnd.google-apps.document" => "Google Doc",
        "application/vnd.google-apps.spreadsheet" => "Google Sheet",
        "application/vnd.google-apps.presentation" => "Google Slides",
        "application/vnd.google-apps.drawing" => "Google Drawing",
        "application/vnd.google-apps.form" => "Google Form",
        "application/pdf" => "PDF",
        "application/msword"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => {
            "Word document"
        }
        "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "Excel workbook",
        "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            "PowerPoint presentation"
        }
        "application/vnd.oasis.opendocument.text" => "OpenDocument text",
        "application/rtf" | "text/rtf" => "Rich text",
        "application/json" => "JSON",
        "application/zip" => "ZIP archive",
        "message/rfc822" => "Email",
        "text/plain" => "Text",
        "text/markdown" => "Markdown",
        "text/html" => "Web page",
        "text/csv" => "CSV",
        "image/png" => "PNG image",
        "image/jpeg" => "JPEG image",
        "image/gif" => "GIF image",
        "image/svg+xml" => "SVG image",
        "image/webp" => "WebP image",
        "channel" => "Channel",
        _ => kind,
    }
}

/// The app's page for a document: `/discussions/{key}?integration_type=…` for a channel,
/// `/documents/{key}` for a file.
pub fn reader_href(doc: &Document, key: u64) -> String {
    match doc.integration_type().filter(|_| doc.is_discussion()) {
        Some(kind) => format!("/discussions/{key}?integration_type={kind}"),
        None => format!("/documents/{key}"),
    }
}

/// Links built from API data must be http(s): no `javascript:`, `data:` or relative tricks.
pub fn safe_link(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.into())
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// "2025-03-05T10:20:30Z" → "2025-03-05" (the day where the timestamp was written: an RFC 3339
/// date starts with it); anything unparsable is shown as the API sent it.
pub fn display_date(raw: &str) -> Cow<'_, str> {
    let day = raw.get(..10).filter(|_| {
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).is_ok()
    });
    Cow::Borrowed(day.unwrap_or(raw))
}

/// Page links for the template. They point at this app's `/dashboard`, page by page, as the
/// API's `next`/`previous` say there is one.
#[derive(Serialize)]
struct Pagination {
    page: u32,
    total_pages: u64,
    previous_href: Option<String>,
    next_href: Option<String>,
}

impl Pagination {
    fn new(query: &DocumentsQuery, count: u64, has_next: bool, has_previous: bool) -> Self {
        let href = |page: u32| {
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("page", &page.to_string());
            if let Some(kind) = &query.integration_type {
                q.append_pair("integration_type", kind);
            }
            format!("/dashboard?{}", q.finish())
        };
        Self {
            page: query.page,
            total_pages: count.div_ceil(u64::from(query.page_size.max(1))).max(1),
            previous_href: (has_previous && query.page > 1).then(|| href(query.page - 1)),
            next_href: has_next.then(|| href(query.page + 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_read_as_names_and_unknown_ones_as_sent() {
        assert_eq!(
            document_type_label("application/vnd.google-apps.document"),
            "Google Doc"
        );
        assert_eq!(document_type_label("application/pdf"), "PDF");
        assert_eq!(document_type_label("Text/Plain; charset=utf-8"), "Text");
        assert_eq!(document_type_label("message/rfc822"), "Email");
        assert_eq!(
            document_type_label("application/x-unheard-of"),
            "application/x-unheard-of"
        );
        assert_eq!(document_type_label(""), "");
    }

    #[test]
    fn only_http_links_survive() {
        assert_eq!(
            safe_link("https://drive.example/d/1").as_deref(),
            Some("https://drive.example/d/1")
        );
        for bad in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,x",
            "/relative",
            "",
        ] {
            assert_eq!(safe_link(bad), None, "{bad}");
        }
    }

    #[test]
    fn sizes_and_dates_read_well() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(5 * 1024 * 1024), "5.0 MB");
        assert_eq!(display_date("2025-03-05T10:20:30Z"), "2025-03-05");
        // The day where it was written, not converted to UTC.
        assert_eq!(display_date("2025-03-05T23:20:30-05:00"), "2025-03-05");
        assert_eq!(display_date("2025-03-05"), "2025-03-05");
        assert_eq!(display_date("2025-13-05T10:20:30Z"), "2025-13-05T10:20:30Z");
        assert_eq!(display_date("yesterday"), "yesterday");
        assert_eq!(display_date("été"), "été");
    }

    #[test]
    fn page_numbers_are_validated() {
        assert_eq!(parse_page(None).ok(), Some(1));
        assert_eq!(parse_page(Some("3")).ok(), Some(3));
        for bad in ["0", "-1", "abc", "1e3", "99999999999"] {
            assert!(parse_page(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn integration_filter_is_validated() {
        assert_eq!(
            parse_integration_filter(Some("google_drive"))
                .ok()
                .flatten()
                .as_deref(),
            Some("google_drive")
        );
        assert_eq!(parse_integration_filter(Some("")).ok().flatten(), None);
        assert!(parse_integration_filter(Some("<script>")).is_err());
    }

    #[test]
    fn pagination_links_keep_the_filter() {
        let query = DocumentsQuery {
            page: 2,
            page_size: 20,
            integration_type: Some("slack".to_owned()),
        };
        let pages = Pagination::new(&query, 45, true, true);
        assert_eq!(pages.total_pages, 3);
        assert_eq!(
            pages.next_href.as_deref(),
            Some("/dashboard?page=3&integration_type=slack")
        );
        assert_eq!(
            pages.previous_href.as_deref(),
            Some("/dashboard?page=1&integration_type=slack")
        );
        assert_eq!(integration_label("google_drive"), "Google Drive");
        assert_eq!(integration_label("_web-crawl__x"), "Web Crawl X");
        assert_eq!(integration_label("ümlaut"), "Ümlaut");
        assert_eq!(integration_label(""), "");
    }
}
