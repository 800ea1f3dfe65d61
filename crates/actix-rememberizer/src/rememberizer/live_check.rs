//! The live check: one call per endpoint against a real Rememberizer account, reporting which of
//! the published shapes each answer came in and whether this client's models read it.
//!
//! `cargo run --example live_check` drives it (see the README). Each answer is fetched once, its
//! shape described from the raw JSON, then decoded with the very types `ApiClient` uses. Nothing
//! is written to the account unless `memorize` is asked for. No token or content is printed:
//! only key names, JSON types and counts.

use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;

use super::{
    parse_messages, Account, ApiClient, ApiError, Contents, DiscussionContents, Document,
    IntegrationList, ListOrPage, Me, Memento, Page, SearchResults, SearchShape,
};
use crate::auth::tokens::AccessToken;

/// One endpoint's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    /// The endpoint, relative to `/api/v1/` (`POST documents/memorize/` for the one write).
    pub endpoint: String,
    /// What the raw answer looked like (keys, JSON types), or why there was none.
    pub shape: String,
    /// `Ok(summary)` when the client's models read the answer, `Err(reason)` otherwise.
    pub read: Result<String, String>,
}

impl Check {
    fn skipped(endpoint: &str, why: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            shape: format!("skipped: {why}"),
            read: Ok("-".to_owned()),
        }
    }

    /// Whether the models read the answer (a skipped check counts as read).
    pub fn is_ok(&self) -> bool {
        self.read.is_ok()
    }
}

/// What to exercise beyond the read-only calls.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The search question (`q`).
    pub query: String,
    /// Also `POST /documents/memorize/` a small note (it stays in the account).
    pub memorize: bool,
}

/// Runs the checks with `token`, in order: account, me, integrations, documents (first page of
/// 100), mementos, search, one file's contents and one channel's last 30 days (each taken from
/// that first page, or skipped), and memorize if `options.memorize`. A failed call is a failed
/// check, never an error.
pub async fn run(api: &ApiClient, token: &AccessToken, options: &Options) -> Vec<Check> {
    let mut checks = Vec::new();
    checks.push(
        check(api, token, "account/", &[], account_shape, |a: Account| {
            Ok(format!(
                "name {}, email {}",
                present(a.name.is_some()),
                present(a.email.is_some())
            ))
        })
        .await,
    );
    checks.push(
        check(api, token, "me/", &[], keys_shape, |me: Me| {
            Ok(format!(
                "embed_quota {}, current_usage {}",
                present(me.embed_quota.is_some()),
                present(me.current_usage.is_some())
            ))
        })
        .await,
    );
    checks.push(
        check(
            api,
            token,
            "integrations/",
            &[],
            keys_shape,
            |list: IntegrationList| Ok(format!("{} integrations", list.data.len())),
        )
        .await,
    );

    // Documents: the first page also supplies a file and a channel for the readers below.
    let mut documents: Vec<Document> = Vec::new();
    let params = [("page", "1".to_owned()), ("page_size", "100".to_owned())];
    checks.push(
        check(
            api,
            token,
            "documents/",
            &params,
            documents_shape,
            |page: Page<Document>| {
                let keyed = page.results.iter().filter(|d| d.key().is_some()).count();
                let summary = format!(
                    "{} of {} documents, {keyed} with a usable key",
                    page.results.len(),
                    page.count
                );
                documents = page.results;
                if keyed == documents.len() {
                    Ok(summary)
                } else {
                    Err(format!("{summary}: the others cannot be opened"))
                }
            },
        )
        .await,
    );
    checks.push(
        check(
            api,
            token,
            "mementos/",
            &[],
            keys_shape,
            |list: ListOrPage<Memento>| {
                let shape = list.shape();
                Ok(format!("{} mementos ({shape})", list.into_items().len()))
            },
        )
        .await,
    );
    let params = [("q", options.query.clone()), ("n", "5".to_owned())];
    checks.push(
        check(
            api,
            token,
            "documents/search/",
            &params,
            keys_shape,
            |found: SearchResults| {
                let found = found
                    .into_found()
                    .ok_or("neither matched_chunks nor data: the client finds nothing")?;
                let keyed = found
                    .hits
                    .iter()
                    .filter(|h| h.document.key().is_some())
                    .count();
                let shape = match found.shape {
                    SearchShape::MatchedChunks => "matched_chunks",
                    SearchShape::Data2024 => "2024 data",
                };
                Ok(format!(
                    "{} hits read from {shape}, {keyed} linkable, {} data sources",
                    found.hits.len(),
                    found.data_sources.len()
                ))
            },
        )
        .await,
    );

    match documents
        .iter()
        .find(|d| !d.is_discussion())
        .and_then(Document::key)
    {
        Some(key) => checks.push(
            check(
                api,
                token,
                &format!("documents/{key}/contents/"),
                &[("start_chunk", "0".to_owned())],
                keys_shape,
                |c: Contents| {
                    Ok(format!(
                        "{} characters, end_chunk {}",
                        c.content.len(),
                        c.end_chunk
                    ))
                },
            )
            .await,
        ),
        None => checks.push(Check::skipped(
            "documents/{pk}/contents/",
            "no file document on the first page",
        )),
    }
    match documents.iter().find(|d| d.is_discussion()) {
        Some(channel) => {
            let kind = channel.integration_type().unwrap_or("slack").to_owned();
            let key = channel.key().unwrap_or_default();
            let now = OffsetDateTime::now_utc();
            let iso = |t: OffsetDateTime| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default()
            };
            let params = [
                ("integration_type", kind),
                ("from", iso(now - time::Duration::days(30))),
                ("to", iso(now)),
            ];
            checks.push(
                check(
                    api,
                    token,
                    &format!("discussions/{key}/contents/"),
                    &params,
                    discussion_shape,
                    |d: DiscussionContents| {
                        Ok(format!(
                            "{} messages, {} threads in the last 30 days",
                            parse_messages(&d.discussion_content).len(),
                            d.thread_contents.len()
                        ))
                    },
                )
                .await,
            );
        }
        None => checks.push(Check::skipped(
            "discussions/{pk}/contents/",
            "no Slack or Discord channel on the first page",
        )),
    }

    checks.push(if options.memorize {
        let note = format!(
            "Written by talk-to-mementos' live check at {}.",
            OffsetDateTime::now_utc()
        );
        match api
            .memorize(token, "talk-to-mementos live check", &note)
            .await
        {
            Ok(()) => Check {
                endpoint: "POST documents/memorize/".to_owned(),
                shape: "2xx".to_owned(),
                read: Ok("stored".to_owned()),
            },
            Err(error) => failed("POST documents/memorize/", &error),
        }
    } else {
        Check::skipped(
            "POST documents/memorize/",
            "writes a note to the account; pass --memorize",
        )
    });
    checks
}

fn present(yes: bool) -> &'static str {
    if yes {
        "present"
    } else {
        "absent"
    }
}

fn failed(endpoint: &str, error: &ApiError) -> Check {
    Check {
        endpoint: endpoint.to_owned(),
        shape: "no answer".to_owned(),
        read: Err(error.to_string()),
    }
}

/// One `GET`: describe the raw answer with `shape`, then decode it as `T` and summarise.
async fn check<T, F>(
    api: &ApiClient,
    token: &AccessToken,
    path: &str,
    params: &[(&str, String)],
    shape: fn(&Value) -> String,
    read: F,
) -> Check
where
    T: DeserializeOwned,
    F: FnOnce(T) -> Result<String, String>,
{
    let endpoint = format!("GET {path}");
    let body = match api.get_body(token, path, params).await {
        Ok(body) => body,
        Err(error) => return failed(&endpoint, &error),
    };
    let shape = match serde_json::from_slice::<Value>(&body) {
        Ok(value) => shape(&value),
        Err(_) => "not JSON".to_owned(),
    };
    let read = serde_json::from_slice::<T>(&body)
        .map_err(|e| format!("the client's model refused it: {e}"))
        .and_then(read);
    Check {
        endpoint,
        shape,
        read,
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_u64() || n.is_i64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// `{a, b, c}` for an object, `list of N {…}` for a list.
fn keys_shape(value: &Value) -> String {
    match value {
        Value::Object(fields) => format!(
            "{{{}}}",
            fields.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        Value::Array(items) => format!(
            "list of {}{}",
            items.len(),
            items
                .first()
                .map(|first| format!(" {}", keys_shape(first)))
                .unwrap_or_default()
        ),
        other => json_type(other).to_owned(),
    }
}

fn account_shape(value: &Value) -> String {
    format!(
        "{} (id: {})",
        keys_shape(value),
        value.get("id").map(json_type).unwrap_or("absent")
    )
}

fn documents_shape(value: &Value) -> String {
    let first = value
        .get("results")
        .and_then(Value::as_array)
        .and_then(|r| r.first());
    match first {
        Some(doc) => format!(
            "DRF page; a document has pk: {}, id: {}",
            doc.get("pk").map(json_type).unwrap_or("absent"),
            doc.get("id").map(json_type).unwrap_or("absent")
        ),
        None => keys_shape(value),
    }
}

fn discussion_shape(value: &Value) -> String {
    format!(
        "{} (discussion_content: {}, thread_contents: {})",
        keys_shape(value),
        value
            .get("discussion_content")
            .map(json_type)
            .unwrap_or("absent"),
        value
            .get("thread_contents")
            .map(json_type)
            .unwrap_or("absent")
    )
}

/// The checks as a plain-text table.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let (mark, read) = match &check.read {
            Ok(summary) => ("ok  ", summary.as_str()),
            Err(reason) => ("FAIL", reason.as_str()),
        };
        out.push_str(&format!(
            "{mark} {}\n     shape: {}\n     read:  {read}\n",
            check.endpoint, check.shape
        ));
    }
    let failed = checks.iter().filter(|c| !c.is_ok()).count();
    out.push_str(&format!(
        "{} endpoints checked, {failed} not read by the client\n",
        checks.len()
    ));
    out
}
