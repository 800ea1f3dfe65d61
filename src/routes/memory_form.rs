//! The memory form (`/memories/new`, `/memories/{id}/edit`): what was typed, checked into a
//! `MemoryDraft`, and the page that shows it again, with what was typed and why it failed.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::api::ApiError;
use crate::auth::session::TypedSession;
use crate::errors::AppError;
use crate::memoram::{MemberError, MemoryBlob, MemoryDraft};
use crate::routes::guards::MemoramMember;
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::{FormErrors, Templates};

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_SUMMARY_CHARS: usize = 2_000;
pub const MAX_CONTENT_CHARS: usize = 20_000;
/// Sealed, content grows by a third plus 28 bytes (base64 of nonce, ciphertext and tag): this
/// many UTF-8 bytes seal to under 64 KiB, the most a provider is assumed to take.
pub const MAX_CONTENT_BYTES: usize = 47 * 1024;
pub const MAX_SOURCE_CHARS: usize = 200;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 50;
/// Bytes a largest form can take, percent-encoded (see `memorize::MAX_FORM_BYTES`).
pub const MAX_FORM_BYTES: usize =
    (MAX_TITLE_CHARS + MAX_SUMMARY_CHARS + MAX_CONTENT_CHARS + MAX_SOURCE_CHARS + 1_100) * 12
        + 1024;

/// The create and edit form, as typed (everything a string, so that a bad value comes back).
#[derive(Default, Deserialize, Serialize)]
pub struct MemoryForm {
    #[serde(default, skip_serializing)]
    csrf_token: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    content: String,
    /// Comma-separated.
    #[serde(default)]
    tags: String,
    #[serde(default)]
    importance: String,
    #[serde(default)]
    confidence: String,
    #[serde(default)]
    source: String,
}

/// Sizes only: what was typed is the person's plaintext memory, and a `{:?}` must not log it.
impl std::fmt::Debug for MemoryForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryForm")
            .field("title_chars", &self.title.chars().count())
            .field("content_chars", &self.content.chars().count())
            .finish_non_exhaustive()
    }
}

impl MemoryForm {
    /// The edit form of `blob`, its content opened.
    pub fn filled(blob: MemoryBlob, content: String) -> Self {
        Self {
            title: blob.title.unwrap_or_default(),
            summary: blob.summary.unwrap_or_default(),
            content,
            tags: blob.tags.join(", "),
            importance: blob.importance.map(|v| v.to_string()).unwrap_or_default(),
            confidence: blob.confidence.map(|v| v.to_string()).unwrap_or_default(),
            source: blob.source.unwrap_or_default(),
            csrf_token: None,
        }
    }

    /// The memory to save, or the first field at fault (its `id`) and what is wrong with it.
    pub fn draft(&self) -> Result<MemoryDraft, (&'static str, String)> {
        let content = self.content.trim();
        if content.is_empty() {
            return Err((
                "content",
                "Write something to remember: the memory needs content.".to_owned(),
            ));
        }
        let too_long = |what: &'static str, text: &str, max: usize| {
            (text.chars().count() > max).then(|| {
                (
                    what,
                    format!("The {what} can be up to {max} characters long."),
                )
            })
        };
        if let Some(problem) = too_long("title", &self.title, MAX_TITLE_CHARS)
            .or_else(|| too_long("summary", &self.summary, MAX_SUMMARY_CHARS))
            .or_else(|| too_long("content", content, MAX_CONTENT_CHARS))
            .or_else(|| {
                (content.len() > MAX_CONTENT_BYTES).then(|| {
                    ("content", format!(
                        "The content is too long once encrypted: at most {} KiB of text (about {MAX_CONTENT_CHARS} characters of Latin script, fewer in others).",
                        MAX_CONTENT_BYTES / 1024
                    ))
                })
            })
            .or_else(|| too_long("source", &self.source, MAX_SOURCE_CHARS))
        {
            return Err(problem);
        }
        let tags = parse_tags(&self.tags).map_err(|problem| ("tags", problem))?;
        let unit = |raw: &str, what: &'static str| {
            parse_unit(Some(raw), what).map_err(|_| {
                (
                    what,
                    format!("The {what} must be a number from 0 to 1, like 0.8."),
                )
            })
        };
        Ok(MemoryDraft {
            title: self.title.trim().to_owned(),
            summary: self.summary.trim().to_owned(),
            content: content.to_owned(),
            tags,
            importance: unit(&self.importance, "importance")?,
            confidence: unit(&self.confidence, "confidence")?,
            source: self.source.trim().to_owned(),
        })
    }
}

/// Tags typed as "work, travel": trimmed, without empties or repeats (case-insensitive).
fn parse_tags(raw: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if tag.chars().count() > MAX_TAG_CHARS {
            return Err(format!(
                "A tag can be up to {MAX_TAG_CHARS} characters long."
            ));
        }
        if !tags.iter().any(|t| t.eq_ignore_ascii_case(tag)) {
            tags.push(tag.to_owned());
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(format!("A memory can have up to {MAX_TAGS} tags."));
    }
    Ok(tags)
}

/// What went wrong with a submitted form, as its page says it.
pub struct Problem {
    pub status: StatusCode,
    pub message: String,
    /// The field at fault (its `id`), or `None` for a problem with the whole form.
    pub field: Option<&'static str>,
    /// Where to look before saving again, when whether it was saved is unknown: its address and
    /// the link's words.
    pub check: Option<(String, &'static str)>,
}

impl Problem {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
            check: None,
        }
    }
}

/// The form page, with what was typed and, if any, the problem with it.
pub async fn form_page(
    state: &AppState,
    templates: &Templates,
    session: &TypedSession,
    editing: Option<&str>,
    form: &MemoryForm,
    problem: Option<Problem>,
) -> Result<HttpResponse, AppError> {
    let mut context = Context::new();
    signed_in(&mut context, session, state).await?;
    context.insert("form", form);
    context.insert("editing", &editing.map(memory_href));
    context.insert("max_title", &MAX_TITLE_CHARS);
    context.insert("max_summary", &MAX_SUMMARY_CHARS);
    context.insert("max_content", &MAX_CONTENT_CHARS);
    context.insert("max_source", &MAX_SOURCE_CHARS);
    context.insert("max_tags", &MAX_TAGS);
    let mut errors = FormErrors::default();
    let status = match problem {
        Some(problem) => {
            errors = match problem.field {
                Some(field) => errors.field(field, problem.message),
                None => errors.form(problem.message),
            };
            if let Some((href, label)) = &problem.check {
                context.insert("check_href", href);
                context.insert("check_label", label);
            }
            problem.status
        }
        None => StatusCode::OK,
    };
    errors.insert_into(&mut context);
    let mut response = templates.page("memory_form.html", &context)?;
    *response.status_mut() = status;
    Ok(response)
}

/// The form again when the page could not check the connection (no approved access: revoked,
/// or disconnected in another tab; or the store failing): nothing saved, what was typed kept.
pub async fn without_member(
    state: &AppState,
    templates: &Templates,
    session: &TypedSession,
    editing: Option<&str>,
    form: &MemoryForm,
    error: AppError,
) -> Result<HttpResponse, AppError> {
    let problem = match error {
        AppError::SeeOther(_) | AppError::NotConnected { .. } => Problem::new(
            StatusCode::FORBIDDEN,
            "This app has no access to your Memoram memories right now (it was revoked or disconnected, perhaps in another tab), so nothing was saved. Your memory is below: copy it, then restore the access from the home page.",
        ),
        other => {
            let (status, problem) = other.for_form("Your memory");
            Problem::new(status, problem)
        }
    };
    form_page(state, templates, session, editing, form, Some(problem)).await
}

/// The CSRF token, then the fields.
pub fn check(form: &MemoryForm, member: &MemoramMember) -> Result<MemoryDraft, Problem> {
    let submitted = form.csrf_token.as_deref().unwrap_or_default();
    match member.session.csrf_token_matches(submitted) {
        Ok(true) => {}
        _ => return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "This form had expired, so nothing was saved. Your memory is below: press Save again.",
        )),
    }
    form.draft().map_err(|(field, message)| Problem {
        field: Some(field),
        ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    })
}

/// Saving failed at Memoram: the form comes back with what was typed, and why.
pub async fn failed_save(
    state: &AppState,
    templates: &Templates,
    session: &TypedSession,
    editing: Option<&str>,
    form: &MemoryForm,
    error: MemberError,
) -> Result<HttpResponse, AppError> {
    tracing::warn!(%error, "saving a memory failed; the form is shown again");
    let problem = match error {
        // Revoked meanwhile: what was typed stays on the page, with the way to ask again.
        MemberError::Revoked => Problem::new(
            StatusCode::FORBIDDEN,
            "Memoram no longer gives this app access to your memories (it was revoked), so nothing was saved. Your memory is below; ask for access again from the Memoram access page.",
        ),
        MemberError::Api(ApiError::Refused(status)) if status.as_u16() == 400 => Problem::new(
            StatusCode::BAD_GATEWAY,
            "Memoram did not accept this memory. Check its fields; nothing was lost.",
        ),
        // The write was sent and no answer came: it may have been saved. Saving again could
        // make a second copy, so the page offers to look first.
        MemberError::Api(ApiError::Timeout) => Problem {
            status: StatusCode::GATEWAY_TIMEOUT,
            message: "Memoram did not answer in time, so this app cannot tell whether your memory was saved. Look before you save it again: saving twice would keep it twice. What you typed is below.".to_owned(),
            field: None,
            check: Some(match editing {
                Some(id) => (memory_href(id), "Look at this memory"),
                None => ("/memories".to_owned(), "Look at your memories"),
            }),
        },
        other => {
            let (status, problem) = AppError::from(other).for_form("Your memory");
            Problem::new(status, problem)
        }
    };
    form_page(state, templates, session, editing, form, Some(problem)).await
}

/// A number from 0 to 1; absent or empty is `None`.
pub fn parse_unit(raw: Option<&str>, what: &str) -> Result<Option<f64>, AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => raw
            .parse::<f64>()
            .ok()
            .filter(|v| (0.0..=1.0).contains(v))
            .map(Some)
            .ok_or_else(|| {
                AppError::BadRequest(format!(
                    "The {what} must be a number from 0 to 1, like 0.5."
                ))
            }),
    }
}

/// `/memories/{id}`, the id a path segment: every byte but `A-Za-z0-9*-._` percent-encoded
/// (the serializer writes a space as `+`, which a path would read as a plus: `%20` instead).
pub fn memory_href(id: &str) -> String {
    let segment = url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("/memories/{segment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_no_memory_text() {
        let form = MemoryForm {
            title: "Diary".to_owned(),
            content: "my secret plan".to_owned(),
            ..MemoryForm::default()
        };
        let shown = format!("{form:?} {:?}", form.draft().expect("valid"));
        assert!(
            !shown.contains("secret") && !shown.contains("Diary"),
            "{shown}"
        );
        assert!(shown.contains("content_chars: 14"), "{shown}");
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_bounded() {
        assert_eq!(
            parse_tags(" work, Travel ,, work ,travel").expect("valid"),
            vec!["work".to_owned(), "Travel".to_owned()]
        );
        assert!(parse_tags(&"x".repeat(MAX_TAG_CHARS + 1)).is_err());
        let many: Vec<String> = (0..=MAX_TAGS).map(|i| format!("t{i}")).collect();
        assert!(parse_tags(&many.join(",")).is_err());
        assert_eq!(parse_tags("").expect("valid"), Vec::<String>::new());
    }

    #[test]
    fn a_form_without_content_or_with_long_fields_is_refused() {
        let form = MemoryForm {
            content: "  ".to_owned(),
            ..MemoryForm::default()
        };
        assert!(form.draft().is_err());
        let form = MemoryForm {
            content: "x".to_owned(),
            title: "t".repeat(MAX_TITLE_CHARS + 1),
            ..MemoryForm::default()
        };
        assert!(form.draft().is_err());
        let form = MemoryForm {
            content: " Ada likes tea ".to_owned(),
            tags: "drinks".to_owned(),
            importance: "0.7".to_owned(),
            ..MemoryForm::default()
        };
        let draft = form.draft().expect("valid");
        assert_eq!(draft.content, "Ada likes tea");
        assert_eq!(draft.importance, Some(0.7));
    }

    #[test]
    fn content_that_would_seal_beyond_64_kib_is_refused() {
        let form = MemoryForm {
            content: "€".repeat(MAX_CONTENT_CHARS),
            ..MemoryForm::default()
        };
        assert!(form.draft().is_err(), "60 000 bytes of text");
        let key = secrecy::SecretString::from("00".repeat(32));
        let largest = "a".repeat(MAX_CONTENT_BYTES);
        let sealed = crate::memoram::cipher::ContentCipher::Aes256Gcm
            .seal(&key, &largest)
            .expect("seals");
        assert!(sealed.len() <= 64 * 1024);
    }
}
