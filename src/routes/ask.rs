//! `GET /ask`: search the granted Rememberizer documents and the Memoram memories (whichever are
//! connected; both at once when both are), and (when an answer service is configured) a written
//! answer that cites the passages it used, each passage saying which service it came from.

use std::borrow::Cow;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::auth::session::TypedSession;
use crate::errors::AppError;
use crate::memoram;
use crate::memoram::MemberError;
use crate::provider::Provider;
use crate::rememberizer::{DataSource, Found, SearchHit, SearchQuery};
use crate::routes::answer_stream::{answer_page, OwnedPassage};
use crate::routes::dashboard::{integration_label, DocumentRow};
use crate::routes::guards::{not_connected, MemoramMember, RememberizerUser, MEMORAM_ACCESS_ROUTE};
use crate::routes::memory_form::memory_href;
use crate::routes::parse_day;
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::Templates;

pub const RESULT_COUNTS: [u32; 3] = [5, 10, 20];
const DEFAULT_RESULTS: u32 = 10;
const MAX_QUESTION_CHARS: usize = 500;

#[derive(Debug, Deserialize)]
pub struct AskQuery {
    q: Option<String>,
    n: Option<String>,
    /// Only documents from this day on (`YYYY-MM-DD`, UTC).
    from: Option<String>,
    /// Only documents up to the end of this day.
    to: Option<String>,
}

/// Passages of one document, best first.
#[derive(Serialize)]
struct DocumentGroup<'a> {
    /// What identifies the document among the hits: its key, else its provider id or name.
    #[serde(skip)]
    identity: String,
    /// Which service the passages came from.
    service: Provider,
    document: DocumentRow<'a>,
    passages: Vec<PassageView<'a>>,
}

#[derive(Serialize)]
struct PassageView<'a> {
    /// The citation number: `[number]` in the answer links to `#passage-{number}`.
    number: usize,
    /// The hit's place in the API's answer, best first (1 = best). The API's `distance` is not
    /// shown as a percentage: the docs do not define its scale.
    rank: usize,
    text: Cow<'a, str>,
}

pub async fn ask(
    req: HttpRequest,
    query: web::Query<AskQuery>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    rememberizer: Option<RememberizerUser>,
    mut memoram: Option<MemoramMember>,
) -> Result<HttpResponse, AppError> {
    let (session, connection) = match (&rememberizer, &memoram) {
        (Some(user), _) => (&user.session, user.connection.as_str().to_owned()),
        (None, Some(member)) => (&member.session, member.id.as_str().to_owned()),
        // Memoram connected, its access not approved (yet): the waiting page says what to do.
        (None, None)
            if TypedSession::of(&req)
                .connection(memoram::SESSION_SLOT)?
                .is_some() =>
        {
            return Err(AppError::SeeOther(MEMORAM_ACCESS_ROUTE))
        }
        (None, None) => {
            return Err(not_connected(&req, &[Provider::Rememberizer, Provider::Memoram]).await)
        }
    };
    let question = query.q.as_deref().map(str::trim).unwrap_or("").to_owned();
    if question.chars().count() > MAX_QUESTION_CHARS {
        return Err(AppError::BadRequest(format!(
            "Questions can be up to {MAX_QUESTION_CHARS} characters long."
        )));
    }
    let results = match query.n.as_deref().map(str::trim) {
        None | Some("") => DEFAULT_RESULTS,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| RESULT_COUNTS.contains(n))
            .ok_or_else(|| {
                AppError::BadRequest("The number of results must be 5, 10 or 20.".to_owned())
            })?,
    };
    let from = parse_day(query.from.as_deref(), "from")?;
    let to = parse_day(query.to.as_deref(), "to")?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(AppError::BadRequest(
                "The “from” date must not be after the “to” date.".to_owned(),
            ));
        }
    }

    let mut context = Context::new();
    context.insert("question", &question);
    context.insert("results", &results);
    context.insert("result_counts", &RESULT_COUNTS);
    context.insert("from", &from.map(|d| d.to_string()));
    context.insert("to", &to.map(|d| d.to_string()));
    context.insert("answers_enabled", &state.llm.is_some());
    context.insert("answer_host", &state.llm.as_ref().map(|llm| llm.host()));
    // Memoram's memories reach the answer service only if the operator allows it, and the page
    // says which way it is.
    let send_memories = state.memoram.as_ref().is_some_and(|m| m.send_to_llm);
    context.insert("memories_to_llm", &send_memories);
    signed_in(&mut context, session, &state).await?;
    context.insert("searches_rememberizer", &rememberizer.is_some());
    context.insert("searches_memoram", &memoram.is_some());
    if question.is_empty() {
        return Ok(templates.page("ask.html", &context)?);
    }

    // A slot for the answer before anything is searched: a session already streaming its
    // share of answers waits rather than opening another paid connection.
    let slot = match &state.llm {
        Some(_) => Some(
            state
                .answer_slots
                .take(&connection)
                .ok_or(AppError::TooManyAnswers)?,
        ),
        None => None,
    };

    let search = SearchQuery {
        q: question.clone(),
        n: results,
        from: from.map(|day| format!("{day}T00:00:00Z")),
        to: to.map(|day| format!("{day}T23:59:59Z")),
    };
    // Both services at once.
    let (found, memories) = tokio::join!(
        search_rememberizer(&state, rememberizer.as_ref(), &search),
        search_memoram(&state, memoram.as_mut(), &question),
    );
    let found = found?;
    let memories = match memories {
        Ok(memories) => memories,
        // A session that only has Memoram shows Memoram's error; with Rememberizer's passages
        // on the page, a Memoram failure is a note, not the end of the page.
        Err(error) if found.is_none() => return Err(error.into()),
        Err(MemberError::Revoked) => {
            context.insert("memoram_revoked", &true);
            Vec::new()
        }
        Err(error) => {
            tracing::warn!(%error, "Memoram search failed; Rememberizer's passages only");
            context.insert("memoram_failed", &true);
            Vec::new()
        }
    };
    let hits = match &found {
        // The API returns up to `n`; a longer answer is trimmed, best first.
        Some(found) => &found.hits[..found.hits.len().min(results as usize)],
        None => &[][..],
    };
    let mut groups = group_by_document(hits);
    groups.extend(memories);
    number_passages(&mut groups);
    let passage_count: usize = groups.iter().map(|g| g.passages.len()).sum();
    if let Some(found) = &found {
        context.insert("sources_summary", &sources_summary(&found.data_sources));
    }
    context.insert("hit_count", &hits.len());
    context.insert("passage_count", &passage_count);

    let memories_found = groups.iter().any(|g| g.service == Provider::Memoram);
    context.insert("memories_found", &memories_found);
    let only_memories = groups.iter().all(|g| g.service == Provider::Memoram);
    let nothing_to_send = groups.is_empty() || (only_memories && !send_memories);
    context.insert("groups", &groups);
    context.insert("searched", &true);
    let (Some(llm), Some(slot)) = (state.llm.as_ref().filter(|_| !nothing_to_send), slot) else {
        return Ok(templates.page("ask.html", &context)?);
    };
    // The passages (and everything above the answer) go out now; the answer follows as the
    // model writes it.
    context.insert("streaming", &true);
    let passages = groups
        .iter()
        .filter(|g| send_memories || g.service != Provider::Memoram)
        .flat_map(|g| {
            g.passages.iter().map(|p| OwnedPassage {
                number: p.number,
                document: g.document.name.clone().into_owned(),
                text: p.text.clone().into_owned(),
            })
        })
        .collect();
    let page = templates.render("ask.html", &context)?;
    answer_page(
        page,
        llm.clone(),
        question,
        passages,
        passage_count,
        templates.into_inner(),
        slot,
    )
}

async fn search_rememberizer(
    state: &AppState,
    user: Option<&RememberizerUser>,
    search: &SearchQuery,
) -> Result<Option<Found>, AppError> {
    let Some(user) = user else {
        return Ok(None);
    };
    let api = &state.api;
    state
        .call_api(&user.connection, |token| async move {
            api.search(&token, search).await
        })
        .await
        .map(Some)
}

/// The memories matching the question, each a group of one passage (its decrypted content; its
/// summary if the content does not open).
async fn search_memoram(
    state: &AppState,
    member: Option<&mut MemoramMember>,
    question: &str,
) -> Result<Vec<DocumentGroup<'static>>, MemberError> {
    let (Some(memoram), Some(member)) = (state.memoram.as_ref(), member) else {
        return Ok(Vec::new());
    };
    let found = memoram.search(member, question).await?;
    let groups = found
        .into_iter()
        .enumerate()
        .map(|(index, (blob, text))| DocumentGroup {
            identity: format!("memoram:{}", blob.id),
            service: Provider::Memoram,
            document: DocumentRow::memory(
                blob.display_title(),
                memory_href(&blob.id),
                blob.source.clone(),
            ),
            passages: vec![PassageView {
                number: 0,
                rank: index + 1,
                text: Cow::Owned(text),
            }],
        })
        .collect();
    Ok(groups)
}

/// "12 documents from Google Drive, 2 from Slack", from the answer's `data_sources`.
fn sources_summary(sources: &[DataSource]) -> Option<String> {
    let parts: Vec<String> = sources
        .iter()
        .filter(|source| source.documents > 0 && !source.name.trim().is_empty())
        .enumerate()
        .map(|(index, source)| {
            let name = integration_label(source.name.trim());
            match (index, source.documents) {
                (0, 1) => format!("1 document from {name}"),
                (0, count) => format!("{count} documents from {name}"),
                (_, count) => format!("{count} from {name}"),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Groups hits by document (first appearance decides the order) and numbers the passages.
fn group_by_document(hits: &[SearchHit]) -> Vec<DocumentGroup<'_>> {
    let mut groups: Vec<DocumentGroup> = Vec::new();
    for (index, hit) in hits.iter().enumerate() {
        let identity = match (hit.document.key(), &hit.document.document_id) {
            (Some(key), _) => format!("key:{key}"),
            (None, Some(id)) => format!("document_id:{id}"),
            (None, None) => format!("hit:{index}"),
        };
        let position = groups.iter().position(|g| g.identity == identity);
        let group = match position {
            Some(position) => position,
            None => {
                groups.push(DocumentGroup {
                    identity,
                    service: Provider::Rememberizer,
                    document: DocumentRow::from(&hit.document),
                    passages: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[group].passages.push(PassageView {
            number: 0,
            rank: index + 1,
            text: whole_words(hit.matched_content.trim()),
        });
    }
    number_passages(&mut groups);
    groups
}

/// A passage as a quotation: Rememberizer cuts a document into chunks of a fixed number of
/// characters, so a long passage may start and end in the middle of a word. A cut end loses its
/// broken word and shows "…"; so does a start that is not the start of a sentence (a lower-case
/// letter). Short passages (a title, a line) are shown as they are.
fn whole_words(text: &str) -> Cow<'_, str> {
    const CUT_AT_LEAST: usize = 100;
    if text.chars().count() < CUT_AT_LEAST {
        return Cow::Borrowed(text);
    }
    let starts_mid_sentence = text.chars().next().is_some_and(char::is_lowercase);
    let ends_mid_word = text.chars().last().is_some_and(char::is_alphanumeric);
    if !starts_mid_sentence && !ends_mid_word {
        return Cow::Borrowed(text);
    }
    let mut body = text;
    if starts_mid_sentence {
        if let Some((_, rest)) = body.split_once(char::is_whitespace) {
            body = rest.trim_start();
        }
    }
    if ends_mid_word {
        if let Some((kept, _)) = body.rsplit_once(char::is_whitespace) {
            body = kept.trim_end();
        }
    }
    Cow::Owned(format!(
        "{}{body}{}",
        if starts_mid_sentence { "…" } else { "" },
        if ends_mid_word { "…" } else { "" }
    ))
}

/// Numbers the passages in display order: `[n]` in the answer cites passage `n`.
fn number_passages(groups: &mut [DocumentGroup]) {
    let mut number = 0;
    for group in groups {
        for passage in &mut group.passages {
            number += 1;
            passage.number = number;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: u64, text: &str, distance: f64) -> SearchHit {
        serde_json::from_value(serde_json::json!({
            "document": {"id": id, "name": format!("doc {id}"),
                         "integration": {"id": 3, "integration_type": "slack"}},
            "matched_content": text,
            "distance": distance,
        }))
        .expect("hit")
    }

    #[test]
    fn a_passage_cut_mid_word_ends_and_starts_at_a_word_with_an_ellipsis() {
        let middle =
            "the rollback runs the previous release again and checks its health. ".repeat(2);
        assert_eq!(
            whole_words(&format!("ollback {middle}and then we wai")),
            format!("…{}and then we…", middle)
        );
        let whole = format!("The deploy {middle}");
        assert_eq!(whole_words(whole.trim()), whole.trim());
        assert_eq!(whole_words("a short line wi"), "a short line wi");
        let no_spaces = "X".repeat(120);
        assert_eq!(whole_words(&no_spaces), format!("{no_spaces}…"));
    }

    #[test]
    fn hits_are_grouped_by_document_and_numbered_in_display_order() {
        let hits = [hit(1, "a", 0.1), hit(2, "b", 0.2), hit(1, "c", 0.3)];
        let groups = group_by_document(&hits);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].passages.len(), 2);
        let numbers: Vec<usize> = groups
            .iter()
            .flat_map(|g| g.passages.iter().map(|p| p.number))
            .collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        assert_eq!(groups[0].passages[1].text, "c");
        let ranks: Vec<usize> = groups
            .iter()
            .flat_map(|g| g.passages.iter().map(|p| p.rank))
            .collect();
        assert_eq!(ranks, vec![1, 3, 2], "the rank is the API's order");
        assert_eq!(
            groups[0].document.href.as_deref(),
            Some("/discussions/1?integration_type=slack"),
            "a Slack hit opens the channel reader"
        );
    }

    #[test]
    fn data_sources_read_as_a_sentence() {
        let sources: Vec<DataSource> = serde_json::from_value(serde_json::json!([
            {"name": "Google Drive", "documents": 12},
            {"name": "slack", "documents": 2},
            {"name": "Gmail", "documents": 0},
        ]))
        .expect("sources");
        assert_eq!(
            sources_summary(&sources).as_deref(),
            Some("12 documents from Google Drive, 2 from Slack")
        );
        assert_eq!(sources_summary(&[]), None);
    }

    #[test]
    fn dates_are_days() {
        assert!(parse_day(Some("2025-03-31"), "from").is_ok_and(|d| d.is_some()));
        assert!(parse_day(Some(""), "from").is_ok_and(|d| d.is_none()));
        for bad in ["2025-13-01", "31/03/2025", "2025-03-31T00:00:00Z", "<x>"] {
            assert!(parse_day(Some(bad), "from").is_err(), "{bad}");
        }
    }
}
