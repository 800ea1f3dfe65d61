//! `/ask`'s page, sent as it is written: the head, the question and the passages at once, then
//! the answer piece by piece as the model writes it, then the page's end.
//!
//! It is plain HTML sent in chunks: it works with JavaScript off, and the CSP is unchanged (no
//! script at all). The passages come first in the page and the answer after them, so that they
//! are on screen before the model has written a word; the stylesheet shows the answer above them
//! (`order` in a flex column) and hides "Writing the answer…" once the end note has arrived.
//!
//! The status line (200) is gone once the head is sent: whatever happens to the answer after
//! that (the model slow, silent or cut off, its text unreadable) ends the page with a note that
//! the answer is incomplete, never an error status; and one log line says why (no question, no
//! text, no key). A reader who goes away (a closed tab) drops this stream, and with it the
//! connection to the answer service: the model stops writing. The server notices a closed tab
//! at once, not at its next write: it does not keep half-closed connections
//! (`h1_allow_half_closed(false)` in `startup`), so a tab closed while the model has not yet
//! written a word drops the model's request within milliseconds, not at `LLM_TIMEOUT_SECS`.
//!
//! Each answer holds a paid connection to the answer service for up to `LLM_TOTAL_SECS`, so one
//! session streams a bounded number at once (`llm::AnswerSlots`): each writer holds a slot.

use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use tera::Context;

use crate::errors::AppError;
use crate::llm::{
    AnswerEvent, AnswerSlot, AnswerStream, Citations, CutReason, Ending, LlmClient, Passage,
};
use crate::templates::Templates;

/// Where the answer's pieces go in `ask.html`, and where its end notes go.
pub const ANSWER_MARK: &str = "<!--answer-->";
pub const END_MARK: &str = "<!--answer-end-->";

/// A passage sent to the model, owned (the stream outlives the handler).
pub struct OwnedPassage {
    pub number: usize,
    pub document: String,
    pub text: String,
}

/// The page `page` (rendered with its answer marks) sent in parts, with the answer of `llm` to
/// `question` from `passages` (of `on_page` passages) written between them.
pub fn answer_page(
    page: String,
    llm: LlmClient,
    question: String,
    passages: Vec<OwnedPassage>,
    on_page: usize,
    templates: Arc<Templates>,
    slot: AnswerSlot,
) -> Result<HttpResponse, AppError> {
    // A template that lost its marks is this app's bug, not the request's.
    let marks = || AppError::Internal("the answer page lost its marks");
    let (head, rest) = page.split_once(ANSWER_MARK).ok_or_else(marks)?;
    let (middle, tail) = rest.split_once(END_MARK).ok_or_else(marks)?;
    let writer = Writer {
        parts: Parts {
            head: head.to_owned(),
            middle: middle.to_owned(),
            tail: tail.to_owned(),
        },
        phase: Phase::Head,
        llm,
        question,
        passages,
        citations: Citations::new(on_page),
        templates,
        _slot: slot,
    };
    Ok(HttpResponse::Ok()
        .content_type(ContentType::html())
        .streaming(futures_util::stream::unfold(writer, Writer::next)))
}

struct Parts {
    head: String,
    middle: String,
    tail: String,
}

enum Phase {
    Head,
    Asking,
    Writing(Box<AnswerStream>),
    Done,
}

struct Writer {
    parts: Parts,
    phase: Phase,
    llm: LlmClient,
    question: String,
    passages: Vec<OwnedPassage>,
    citations: Citations,
    templates: Arc<Templates>,
    /// Given back when the page ends or the reader goes away (this stream is dropped).
    _slot: AnswerSlot,
}

type Chunk = Result<Bytes, std::convert::Infallible>;

impl Writer {
    async fn next(mut self) -> Option<(Chunk, Self)> {
        loop {
            match std::mem::replace(&mut self.phase, Phase::Done) {
                Phase::Head => {
                    self.phase = Phase::Asking;
                    let head = std::mem::take(&mut self.parts.head);
                    return Some((Ok(Bytes::from(head)), self));
                }
                Phase::Asking => {
                    let passages: Vec<Passage<'_>> = self
                        .passages
                        .iter()
                        .map(|p| Passage {
                            number: p.number,
                            document: &p.document,
                            text: &p.text,
                        })
                        .collect();
                    match self.llm.stream_answer(&self.question, &passages).await {
                        Ok(stream) => self.phase = Phase::Writing(Box::new(stream)),
                        Err(reason) => return self.end(Ending::Cut(reason)),
                    }
                }
                Phase::Writing(mut stream) => match stream.next_event().await {
                    AnswerEvent::Piece(piece) => {
                        let html = self.citations.push(&piece);
                        self.phase = Phase::Writing(stream);
                        if !html.is_empty() {
                            return Some((Ok(Bytes::from(html)), self));
                        }
                    }
                    AnswerEvent::End(ending) => return self.end(ending),
                },
                Phase::Done => return None,
            }
        }
    }

    /// The rest of the page: what the answer still held, the end notes, the page's end.
    fn end(mut self, ending: Ending) -> Option<(Chunk, Self)> {
        if let Ending::Cut(reason) = ending {
            tracing::warn!(%reason, written_chars = self.citations.text().chars().count(), "the written answer was cut short");
        }
        let mut html = self.citations.finish();
        html.push_str(&self.parts.middle);
        let mut context = Context::new();
        let (kind, why) = match ending {
            Ending::Complete => ("complete", ""),
            Ending::CutAtLimit => ("limit", ""),
            Ending::Cut(reason) => ("cut", why(reason)),
        };
        context.insert("ending", kind);
        context.insert("why", why);
        context.insert("invalid_citations", self.citations.invalid());
        // The model's "the passages do not answer" is said plainly by the page too; a whole
        // answer that cites none of the passages is flagged, since it may not come from them.
        let unanswered = self.citations.unanswered();
        context.insert("unanswered", &unanswered);
        context.insert(
            "uncited",
            &(ending == Ending::Complete && !unanswered && self.citations.cited() == 0),
        );
        match self.templates.render("ask_answer_end.html", &context) {
            Ok(notes) => html.push_str(&notes),
            Err(error) => tracing::error!(%error, "the answer's end notes could not be rendered"),
        }
        html.push_str(&self.parts.tail);
        self.phase = Phase::Done;
        Some((Ok(Bytes::from(html)), self))
    }
}

/// Why an answer is incomplete, as the page says it.
fn why(reason: CutReason) -> &'static str {
    match reason {
        CutReason::Unavailable | CutReason::Refused(_) => "the answer service is not answering",
        CutReason::FirstPieceTimeout => "the answer service did not start writing in time",
        CutReason::Stalled => "the answer service stopped writing",
        CutReason::TotalTimeout => "the answer took longer than this app waits for one",
        CutReason::Dropped | CutReason::NoEnd => "the connection to the answer service broke",
        CutReason::BadPiece | CutReason::ModelError | CutReason::TooLarge => {
            "the answer service sent something this app cannot read"
        }
    }
}
