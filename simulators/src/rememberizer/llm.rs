//! A small OpenAI-compatible chat endpoint (`POST /v1/chat/completions`) for demo mode and the
//! tests. It is no language model: it answers extractively, quoting the first sentence of the
//! passages that share the most words with the question, with their citation numbers, or says
//! the passages do not answer. Deterministic, so tests can check what the app does with it.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::Shared;

pub const CHAT_PATH: &str = "/v1/chat/completions";
/// The API key the endpoint accepts.
pub const DEMO_LLM_KEY: &str = "demo-llm-key";
const NO_ANSWER: &str = "The passages do not answer this question.";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route(CHAT_PATH, web::post().to(chat));
}

#[derive(Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: String,
}

async fn chat(
    req: HttpRequest,
    body: Result<web::Json<ChatRequest>, actix_web::Error>,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {DEMO_LLM_KEY}"));
    if !authorized {
        return HttpResponse::Unauthorized()
            .json(json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error"}}));
    }
    let Ok(body) = body else {
        return HttpResponse::BadRequest().json(
            json!({"error": {"message": "Invalid JSON body.", "type": "invalid_request_error"}}),
        );
    };
    let user = body
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .map(|m| m.content.clone())
        .unwrap_or_default();
    let messages = body
        .messages
        .iter()
        .map(|m| (m.role.clone(), m.content.clone()))
        .collect();
    super::State::record(&mut shared.lock().llm_requests, messages);
    let answer = extractive_answer(&user);
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-simulated",
        "object": "chat.completion",
        "model": body.model.clone().unwrap_or_else(|| "simulated".to_owned()),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
    }))
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .map(str::to_lowercase)
        .collect()
}

/// Reads the `<question>…</question>` (or a `Question: …` line) and the
/// `<passage number="N" …>text</passage>` blocks of the user message.
fn extractive_answer(user: &str) -> String {
    let question = user
        .split_once("<question>")
        .and_then(|(_, rest)| rest.split_once("</question>"))
        .map(|(q, _)| q.trim())
        .or_else(|| user.lines().find_map(|l| l.strip_prefix("Question: ")))
        .unwrap_or("");
    let terms = words(question);
    let mut scored: Vec<(usize, usize, String)> = Vec::new();
    for block in user.split("<passage number=\"").skip(1) {
        let Some((number, rest)) = block.split_once('"') else {
            continue;
        };
        let Ok(number) = number.parse::<usize>() else {
            continue;
        };
        let text = rest
            .split_once(">\n")
            .map(|(_, t)| t)
            .unwrap_or(rest)
            .split("</passage>")
            .next()
            .unwrap_or("");
        let passage_words = words(text);
        let overlap = terms.iter().filter(|t| passage_words.contains(t)).count();
        if overlap > 0 {
            // The sentence sharing the most words with the question (the longer one on a tie).
            let sentence = text
                .split_inclusive(". ")
                .map(|s| {
                    let shared = words(s).iter().filter(|w| terms.contains(w)).count();
                    (shared, s.len(), s)
                })
                .max_by_key(|(shared, len, _)| (*shared, *len))
                .map(|(_, _, s)| s)
                .unwrap_or(text)
                .trim()
                .trim_end_matches('.')
                .to_owned();
            scored.push((overlap, number, sentence));
        }
    }
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    if scored.is_empty() {
        return NO_ANSWER.to_owned();
    }
    scored
        .into_iter()
        .take(2)
        .map(|(_, number, sentence)| format!("{sentence} [{number}]."))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_cite_the_passages_that_match() {
        let user = "Question: How do deploys work?\n\nPassages:\n<passage number=\"1\" document=\"a\">\nNothing here. Lunch menu.\n</passage>\n<passage number=\"2\" document=\"b\">\nCanary deploys go first. Then the rest.\n</passage>\n";
        assert_eq!(extractive_answer(user), "Canary deploys go first [2].");
        let user = "Question: rollback deploys?\n\nPassages:\n<passage number=\"1\" document=\"d\">\nDeploy notes. We rollback deploys with one command. Lunch.\n</passage>\n";
        assert_eq!(
            extractive_answer(user),
            "We rollback deploys with one command [1]."
        );
        assert_eq!(
            extractive_answer("Question: Unrelated?\n\nPassages:\n"),
            NO_ANSWER
        );
    }
}
