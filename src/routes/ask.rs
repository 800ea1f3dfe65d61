//! `GET /ask`: search the granted documents, and (when an answer service is configured) a
//! written answer that cites the passages it used.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tera::Context;

use crate::errors::AppError;
use crate::llm::Passage;
use crate::rememberizer::SearchHit;
use crate::routes::dashboard::DocumentRow;
use crate::routes::see_other;
use crate::session::TypedSession;
use crate::state::AppState;
use crate::templates::Templates;

pub const RESULT_COUNTS: [u32; 3] = [5, 10, 20];
const DEFAULT_RESULTS: u32 = 10;
const MAX_QUESTION_CHARS: usize = 500;

#[derive(Debug, Deserialize)]
pub struct AskQuery {
    q: Option<String>,
    n: Option<String>,
}

/// Passages of one document, in relevance order.
#[derive(Serialize)]
struct DocumentGroup {
    document: DocumentRow,
    passages: Vec<PassageView>,
}

#[derive(Serialize)]
struct PassageView {
    /// The citation number: `[number]` in the answer links to `#passage-{number}`.
    number: usize,
    text: String,
    /// 0–100, from the API's distance (lower distance, higher relevance).
    relevance: u32,
}

pub async fn ask(
    query: web::Query<AskQuery>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    session: TypedSession,
) -> Result<HttpResponse, AppError> {
    let Some(connection) = session.connection()? else {
        return Ok(see_other("/"));
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

    let mut context = Context::new();
    context.insert("question", &question);
    context.insert("results", &results);
    context.insert("result_counts", &RESULT_COUNTS);
    context.insert("answers_enabled", &state.llm.is_some());
    context.insert("csrf_token", &session.csrf_token()?);
    if question.is_empty() {
        return Ok(templates.page("ask.html", &context)?);
    }

    let api = &state.api;
    let question_ref = question.as_str();
    let hits = state
        .call_api(&connection, |token| async move {
            api.search(&token, question_ref, results).await
        })
        .await?;
    let groups = group_by_document(&hits);

    if let (Some(llm), false) = (&state.llm, hits.is_empty()) {
        let passages: Vec<Passage<'_>> = groups
            .iter()
            .flat_map(|g| {
                g.passages.iter().map(|p| Passage {
                    number: p.number,
                    document: &g.document.name,
                    text: &p.text,
                })
            })
            .collect();
        match llm.answer(&question, &passages).await {
            Ok(answer) => context.insert("answer", &answer),
            Err(error) => {
                // The passages are still worth showing: say that the answer is missing.
                tracing::warn!(%error, "no written answer");
                context.insert("answer_failed", &true);
            }
        }
    }
    context.insert("groups", &groups);
    context.insert("searched", &true);
    Ok(templates.page("ask.html", &context)?)
}

/// Groups hits by document (first appearance decides the order) and numbers the passages.
fn group_by_document(hits: &[SearchHit]) -> Vec<DocumentGroup> {
    let mut groups: Vec<DocumentGroup> = Vec::new();
    for hit in hits {
        let position = groups.iter().position(|g| g.document.id == hit.document.id);
        let index = match position {
            Some(index) => index,
            None => {
                groups.push(DocumentGroup {
                    document: DocumentRow::from(&hit.document),
                    passages: Vec::new(),
                });
                groups.len() - 1
            }
        };
        groups[index].passages.push(PassageView {
            number: 0,
            text: hit.matched_content.trim().to_owned(),
            relevance: hit
                .distance
                .map(|d| ((1.0 - d.clamp(0.0, 1.0)) * 100.0).round() as u32)
                .unwrap_or(0),
        });
    }
    let mut number = 0;
    for group in &mut groups {
        for passage in &mut group.passages {
            number += 1;
            passage.number = number;
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: u64, text: &str, distance: f64) -> SearchHit {
        serde_json::from_value(serde_json::json!({
            "chunk_id": format!("{id}-0"),
            "document": {"id": id, "name": format!("doc {id}")},
            "matched_content": text,
            "distance": distance,
        }))
        .expect("hit")
    }

    #[test]
    fn hits_are_grouped_by_document_and_numbered_in_display_order() {
        let groups = group_by_document(&[hit(1, "a", 0.1), hit(2, "b", 0.2), hit(1, "c", 0.3)]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].passages.len(), 2);
        let numbers: Vec<usize> = groups
            .iter()
            .flat_map(|g| g.passages.iter().map(|p| p.number))
            .collect();
        assert_eq!(numbers, vec![1, 2, 3]);
        assert_eq!(groups[0].passages[1].text, "c");
        assert_eq!(groups[0].passages[0].relevance, 90);
    }
}
