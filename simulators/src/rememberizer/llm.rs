//! A small OpenAI-compatible chat endpoint (`POST /v1/chat/completions`) for demo mode and the
//! tests. It is no language model: it answers extractively, quoting the first sentence of the
//! passages that share the most words with the question, with their citation numbers, or says
//! the passages do not answer. Deterministic, so tests can check what the app does with it.
//!
//! With `"stream": true` it writes the answer as OpenAI's Chat Completions stream does
//! (Server-Sent Events, one `chat.completion.chunk` per piece, `data: [DONE]` at the end), a piece
//! of a few characters every `llm_piece_delay` (citations split across pieces as they come),
//! so that a person sees the answer grow in demo mode. `LlmStreamFault` cuts the stream in the
//! ways a real model's can be cut, and the handle counts streams whose reader went away.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::Shared;

/// Characters per streamed piece.
const PIECE_CHARS: usize = 6;

/// How a streamed answer goes wrong, after `after_pieces` pieces of content.
#[derive(Debug, Clone, Copy)]
pub struct LlmStreamFault {
    pub after_pieces: usize,
    pub kind: LlmCut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmCut {
    /// The connection ends: no finish chunk, no `[DONE]`.
    Drop,
    /// A piece that is not JSON, then the stream goes on.
    BadJson,
    /// Nothing more is sent, and the connection stays open.
    Stall,
    /// `finish_reason: "length"`: the answer reached its token limit.
    Length,
    /// An `{"error": …}` object mid-stream, then `[DONE]` (as vLLM ends a failed stream).
    Error,
}

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
    #[serde(default)]
    stream: bool,
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
    let scripted = shared.lock().llm_answer.clone();
    let answer = scripted.unwrap_or_else(|| extractive_answer(&user));
    let model = body.model.clone().unwrap_or_else(|| "simulated".to_owned());
    if body.stream {
        let (delay, fault) = {
            let st = shared.lock();
            (st.llm_piece_delay, st.llm_stream_fault)
        };
        let events = StreamedAnswer::new(&answer, &model, delay, fault, shared.into_inner());
        return HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .streaming(futures_util::stream::unfold(events, StreamedAnswer::next));
    }
    HttpResponse::Ok().json(json!({
        "id": "chatcmpl-simulated",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
    }))
}

/// One streamed answer: the events still to send, at their pace. Dropped before its end (the
/// reader went away), it counts itself in `llm_streams_dropped`.
struct StreamedAnswer {
    events: std::collections::VecDeque<Event>,
    delay: Duration,
    shared: Arc<Shared>,
    finished: bool,
}

enum Event {
    Data(String),
    /// Pause before what follows (a piece of content).
    Wait,
    /// Keep the connection open and send nothing more.
    Stall,
}

impl StreamedAnswer {
    fn new(
        answer: &str,
        model: &str,
        delay: Duration,
        fault: Option<LlmStreamFault>,
        shared: Arc<Shared>,
    ) -> Self {
        let chunk = |delta: serde_json::Value, finish: Option<&str>| {
            json!({
                "id": "chatcmpl-simulated", "object": "chat.completion.chunk",
                "created": 1_700_000_000, "model": model, "system_fingerprint": "fp_simulated",
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            })
            .to_string()
        };
        let mut events = std::collections::VecDeque::new();
        // A comment first, as servers send to keep a connection alive: a reader must skip it.
        events.push_back(Event::Data(": simulated keep-alive\n\n".to_owned()));
        events.push_back(Event::Data(format!(
            "data: {}\n\n",
            chunk(json!({"role": "assistant", "content": ""}), None)
        )));
        let chars: Vec<char> = answer.chars().collect();
        let mut finish = "stop";
        for (index, piece) in chars.chunks(PIECE_CHARS).enumerate() {
            if let Some(fault) = fault.filter(|f| f.after_pieces == index) {
                match fault.kind {
                    LlmCut::Drop => {
                        events.push_back(Event::Wait);
                        return Self::with(events, delay, shared);
                    }
                    LlmCut::Stall => {
                        events.push_back(Event::Stall);
                        return Self::with(events, delay, shared);
                    }
                    LlmCut::BadJson => events.push_back(Event::Data(
                        "data: {\"choices\": [{\"delta\"\n\n".to_owned(),
                    )),
                    LlmCut::Length => {
                        finish = "length";
                        break;
                    }
                    LlmCut::Error => {
                        events.push_back(Event::Data(format!(
                            "data: {}\n\n",
                            json!({"error": {"message": "The model overloaded.", "type": "server_error"}})
                        )));
                        events.push_back(Event::Data("data: [DONE]\n\n".to_owned()));
                        return Self::with(events, delay, shared);
                    }
                }
            }
            events.push_back(Event::Wait);
            let piece: String = piece.iter().collect();
            events.push_back(Event::Data(format!(
                "data: {}\n\n",
                chunk(json!({"content": piece}), None)
            )));
        }
        events.push_back(Event::Data(format!(
            "data: {}\n\n",
            chunk(json!({}), Some(finish))
        )));
        events.push_back(Event::Data("data: [DONE]\n\n".to_owned()));
        Self::with(events, delay, shared)
    }

    fn with(
        events: std::collections::VecDeque<Event>,
        delay: Duration,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            events,
            delay,
            shared,
            finished: false,
        }
    }

    async fn next(mut self) -> Option<(Result<Bytes, std::convert::Infallible>, Self)> {
        loop {
            match self.events.pop_front() {
                Some(Event::Data(text)) => return Some((Ok(Bytes::from(text)), self)),
                Some(Event::Wait) => tokio::time::sleep(self.delay).await,
                Some(Event::Stall) => tokio::time::sleep(Duration::from_secs(3600)).await,
                None => {
                    self.finished = true;
                    return None;
                }
            }
        }
    }
}

impl Drop for StreamedAnswer {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.lock().llm_streams_dropped += 1;
        }
    }
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
