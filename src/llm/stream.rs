//! An answer as the model writes it: OpenAI's Chat Completions stream read piece by piece.
//!
//! The wire format is Server-Sent Events (`sse-stream` parses them, from bytes split anywhere,
//! with `\r\n`, `\r` or `\n`, comment lines skipped): each event's `data` is a
//! `chat.completion.chunk` whose `choices[0].delta.content` is the next piece (the first chunk
//! carries only the role, the last an empty `delta` and a `finish_reason`), and `data: [DONE]`
//! ends the stream. An `{"error": …}` in a chunk is the server giving up mid-answer.
//!
//! What is read is bounded on the wire, before the parser buffers it: at most `max_bytes` in
//! all (the app's response cap, 2 MiB; an answer of `MAX_ANSWER_TOKENS` takes about 100 KiB),
//! and at most [`MAX_EVENT_BYTES`] between two events, so an event of any size is cut, not
//! buffered whole.
//!
//! Three deadlines: one for the first piece and one between two pieces (`LLM_TIMEOUT_SECS`), and
//! one for the whole answer (`LLM_TOTAL_SECS`). However it ends, the answer ends with an
//! [`Ending`]: complete, cut at the token limit, or cut short (and why).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web::Bytes;

use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use sse_stream::{Sse, SseByteStream};
use tokio::time::Instant;

/// What reading the answer yields next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerEvent {
    /// The next piece of the answer's text (never empty).
    Piece(String),
    /// The answer ended; nothing follows.
    End(Ending),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The model finished (`finish_reason: "stop"`).
    Complete,
    /// The model reached the answer's token limit (`finish_reason: "length"`).
    CutAtLimit,
    /// The answer stopped before its end.
    Cut(CutReason),
}

/// Why an answer stopped before its end (for the page's note and the log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CutReason {
    #[error("the answer service could not be reached")]
    Unavailable,
    #[error("the answer service refused the request with status {0}")]
    Refused(u16),
    #[error("no piece of the answer arrived in time")]
    FirstPieceTimeout,
    #[error("the answer stopped arriving")]
    Stalled,
    #[error("the answer took longer than its limit")]
    TotalTimeout,
    #[error("the answer's connection broke")]
    Dropped,
    #[error("the answer ended without its end marker")]
    NoEnd,
    #[error("a piece of the answer was not readable")]
    BadPiece,
    #[error("the answer service reported an error mid-answer")]
    ModelError,
    #[error("the answer was larger than this app reads")]
    TooLarge,
}

/// When the first piece, and the whole answer, must have arrived.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    first_piece: Instant,
    total: Instant,
}

impl Deadlines {
    /// Deadlines counted from now (the request is about to be sent).
    pub fn start(first_piece: Duration, total: Duration) -> Self {
        let now = Instant::now();
        Self {
            first_piece: now + first_piece.min(total),
            total: now + total,
        }
    }

    pub fn first_piece(&self) -> Instant {
        self.first_piece
    }
}

type Events = Pin<Box<dyn Stream<Item = Result<Sse, sse_stream::Error>> + Send>>;

/// The most the wire may carry between two events (a chunk of the stream is a few hundred
/// bytes; this leaves room for a reader's buffer of several).
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// The wire carried more than [`AnswerStream`] reads.
#[derive(Debug, thiserror::Error)]
#[error("the answer was larger than this app reads")]
struct OverLimit;

/// `bytes`, ended with [`OverLimit`] once more than `total` bytes were read in all, or more than
/// `event` since `since_event` was last set to 0 (by the reader, at each event).
fn metered<E>(
    bytes: impl Stream<Item = Result<Bytes, E>> + Send,
    total: usize,
    event: usize,
    since_event: Arc<AtomicUsize>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut read = 0usize;
    bytes.map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        read = read.saturating_add(chunk.len());
        let pending = since_event
            .fetch_add(chunk.len(), Ordering::Relaxed)
            .saturating_add(chunk.len());
        if read > total || pending > event {
            return Err(std::io::Error::other(OverLimit));
        }
        Ok(chunk)
    })
}

/// Whether the stream's error is the wire's bound ([`metered`]), not a broken connection.
fn is_over_limit(error: &sse_stream::Error) -> bool {
    match error {
        sse_stream::Error::Body(body) => body
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .is_some_and(|inner| inner.is::<OverLimit>()),
        _ => false,
    }
}

/// The pieces of one answer. Dropping it drops the connection to the answer service, which
/// stops the model writing (the reader went away).
pub struct AnswerStream {
    events: Events,
    /// Bytes read since the last event (see [`metered`]).
    since_event: Arc<AtomicUsize>,
    deadlines: Deadlines,
    /// Between two pieces (`LLM_TIMEOUT_SECS`).
    idle: Duration,
    pieces: usize,
    /// Bytes of pieces so far, against `max_bytes`.
    bytes: usize,
    max_bytes: usize,
    finish_reason: Option<String>,
    ended: bool,
}

/// One `chat.completion.chunk`, as much of it as is read.
#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Delta,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

impl AnswerStream {
    pub fn new(
        response: reqwest::Response,
        deadlines: Deadlines,
        idle: Duration,
        max_bytes: usize,
    ) -> Self {
        let bytes = futures_util::stream::unfold(response, |mut response| async move {
            match response.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), response)),
                Ok(None) => None,
                Err(error) => Some((Err(error.without_url()), response)),
            }
        });
        Self::from_bytes(bytes, deadlines, idle, max_bytes, MAX_EVENT_BYTES)
    }

    fn from_bytes<E>(
        bytes: impl Stream<Item = Result<Bytes, E>> + Send + 'static,
        deadlines: Deadlines,
        idle: Duration,
        max_bytes: usize,
        max_event_bytes: usize,
    ) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let since_event = Arc::new(AtomicUsize::new(0));
        let bytes = metered(bytes, max_bytes, max_event_bytes, since_event.clone());
        Self {
            events: Box::pin(SseByteStream::new(bytes)),
            since_event,
            deadlines,
            idle,
            pieces: 0,
            bytes: 0,
            max_bytes,
            finish_reason: None,
            ended: false,
        }
    }

    /// The next piece, or how the answer ended (then `End` again, if asked again).
    pub async fn next_event(&mut self) -> AnswerEvent {
        if self.ended {
            return AnswerEvent::End(self.ending_at_end());
        }
        let event = self.read().await;
        if matches!(event, AnswerEvent::End(_)) {
            self.ended = true;
        }
        event
    }

    async fn read(&mut self) -> AnswerEvent {
        loop {
            let (deadline, late) = if self.pieces == 0 {
                (self.deadlines.first_piece, CutReason::FirstPieceTimeout)
            } else {
                (Instant::now() + self.idle, CutReason::Stalled)
            };
            let (deadline, late) = if self.deadlines.total <= deadline {
                (self.deadlines.total, CutReason::TotalTimeout)
            } else {
                (deadline, late)
            };
            let event = match tokio::time::timeout_at(deadline, self.events.next()).await {
                Err(_) => return AnswerEvent::End(Ending::Cut(late)),
                Ok(None) => return AnswerEvent::End(self.ending_at_end()),
                Ok(Some(Err(error))) if is_over_limit(&error) => {
                    return AnswerEvent::End(Ending::Cut(CutReason::TooLarge))
                }
                Ok(Some(Err(_))) => return AnswerEvent::End(Ending::Cut(CutReason::Dropped)),
                Ok(Some(Ok(event))) => {
                    self.since_event.store(0, Ordering::Relaxed);
                    event
                }
            };
            let Some(data) = event.data else {
                continue;
            };
            if data.trim() == "[DONE]" {
                return AnswerEvent::End(match self.finish_reason.as_deref() {
                    Some("length") => Ending::CutAtLimit,
                    _ => Ending::Complete,
                });
            }
            let Ok(chunk) = serde_json::from_str::<Chunk>(&data) else {
                return AnswerEvent::End(Ending::Cut(CutReason::BadPiece));
            };
            if chunk.error.is_some() {
                return AnswerEvent::End(Ending::Cut(CutReason::ModelError));
            }
            let Some(choice) = chunk.choices.into_iter().next() else {
                // A usage chunk (`choices: []`) or a keep-alive: nothing to show.
                continue;
            };
            if let Some(reason) = choice.finish_reason {
                self.finish_reason = Some(reason);
            }
            match choice.delta.content {
                Some(piece) if !piece.is_empty() => {
                    self.bytes += piece.len();
                    if self.bytes > self.max_bytes {
                        return AnswerEvent::End(Ending::Cut(CutReason::TooLarge));
                    }
                    self.pieces += 1;
                    return AnswerEvent::Piece(piece);
                }
                _ => continue,
            }
        }
    }

    /// The stream ended without `[DONE]`: the model's own `finish_reason`, if it gave one, says
    /// whether the answer is whole; else it was cut.
    fn ending_at_end(&self) -> Ending {
        match self.finish_reason.as_deref() {
            Some("length") => Ending::CutAtLimit,
            Some(_) => Ending::Complete,
            None => Ending::Cut(CutReason::NoEnd),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The answer stream over `bytes`, delivered in `cuts` (byte offsets where a chunk ends).
    pub(crate) fn over(bytes: &[u8], cuts: &[usize]) -> AnswerStream {
        let mut chunks = Vec::new();
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
            let cut = cut.clamp(start, bytes.len());
            chunks.push(Ok::<_, std::convert::Infallible>(
                actix_web::web::Bytes::copy_from_slice(&bytes[start..cut]),
            ));
            start = cut;
        }
        AnswerStream::from_bytes(
            futures_util::stream::iter(chunks),
            Deadlines::start(Duration::from_secs(5), Duration::from_secs(10)),
            Duration::from_secs(5),
            1 << 20,
            MAX_EVENT_BYTES,
        )
    }

    pub(crate) async fn read_all(mut stream: AnswerStream) -> (Vec<String>, Ending) {
        let mut pieces = Vec::new();
        loop {
            match stream.next_event().await {
                AnswerEvent::Piece(piece) => pieces.push(piece),
                AnswerEvent::End(ending) => return (pieces, ending),
            }
        }
    }

    /// OpenAI's "Streaming" example (tests/fixtures/openai), as it goes over the wire.
    fn fixture() -> String {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/openai");
        std::fs::read_to_string(dir.join("chat_stream.txt")).expect("the fixture")
    }

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime")
            .block_on(future)
    }

    #[test]
    fn openais_example_stream_reads_as_its_pieces() {
        let (pieces, ending) = run(read_all(over(fixture().as_bytes(), &[])));
        assert_eq!(pieces, vec!["Hello", " there", ", Ada [1]."]);
        assert_eq!(ending, Ending::Complete);
    }

    #[test]
    fn line_ends_may_be_crlf_or_cr() {
        let stream = fixture();
        for ending in ["\r\n", "\r"] {
            let text = stream.replace('\n', ending);
            let (pieces, end) = run(read_all(over(text.as_bytes(), &[])));
            assert_eq!(pieces.concat(), "Hello there, Ada [1].", "{ending:?}");
            assert_eq!(end, Ending::Complete);
        }
    }

    proptest! {
        /// However the bytes are split (inside a line, a field name, a UTF-8 character, between
        /// `\r` and `\n`), the same pieces come out.
        #[test]
        fn bytes_split_anywhere_give_the_same_answer(
            mut cuts in proptest::collection::vec(0usize..700, 0..40),
            crlf in any::<bool>(),
        ) {
            let mut text = fixture().replace("Ada", "Adä");
            if crlf {
                text = text.replace('\n', "\r\n");
            }
            cuts.sort_unstable();
            let (pieces, ending) = run(read_all(over(text.as_bytes(), &cuts)));
            prop_assert_eq!(pieces.concat(), "Hello there, Adä [1].");
            prop_assert_eq!(ending, Ending::Complete);
        }
    }

    #[test]
    fn how_a_stream_is_cut_is_told_apart() {
        let role = r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        let piece =
            r#"data: {"choices":[{"index":0,"delta":{"content":"Part"},"finish_reason":null}]}"#;
        let length = r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#;
        let stop = r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        let cases = [
            (format!("{role}\n\n{piece}\n\n"), Ending::Cut(CutReason::NoEnd)),
            (format!("{piece}\n\n{length}\n\ndata: [DONE]\n\n"), Ending::CutAtLimit),
            (format!("{piece}\n\n{stop}\n\n"), Ending::Complete),
            (format!("{piece}\n\ndata: {{\"choices\": [\n\n"), Ending::Cut(CutReason::BadPiece)),
            (
                format!("{piece}\n\ndata: {{\"error\": {{\"message\": \"overloaded\"}}}}\n\ndata: [DONE]\n\n"),
                Ending::Cut(CutReason::ModelError),
            ),
            // An empty delta, a usage chunk and a comment are nothing to show.
            (
                format!("{piece}\n\n: ping\n\n{role}\n\ndata: {{\"choices\":[],\"usage\":{{}}}}\n\n{stop}\n\ndata: [DONE]\n\n"),
                Ending::Complete,
            ),
        ];
        for (text, expected) in cases {
            let (pieces, ending) = run(read_all(over(text.as_bytes(), &[])));
            assert_eq!(pieces, vec!["Part".to_owned()], "{text}");
            assert_eq!(ending, expected, "{text}");
        }
    }

    #[test]
    fn a_stream_that_stops_sending_is_cut_at_its_deadline() {
        run(async {
            let piece = r#"data: {"choices":[{"index":0,"delta":{"content":"Part"}}]}"#;
            let first = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
                actix_web::web::Bytes::from(format!("{piece}\n\n")),
            )]);
            let stalled = first.chain(futures_util::stream::pending());
            let mut stream = AnswerStream::from_bytes(
                stalled,
                Deadlines::start(Duration::from_millis(50), Duration::from_secs(10)),
                Duration::from_millis(50),
                1 << 20,
                MAX_EVENT_BYTES,
            );
            assert_eq!(
                stream.next_event().await,
                AnswerEvent::Piece("Part".to_owned())
            );
            assert_eq!(
                stream.next_event().await,
                AnswerEvent::End(Ending::Cut(CutReason::Stalled))
            );
            let silent = futures_util::stream::pending::<
                Result<actix_web::web::Bytes, std::convert::Infallible>,
            >();
            let mut stream = AnswerStream::from_bytes(
                silent,
                Deadlines::start(Duration::from_millis(50), Duration::from_millis(30)),
                Duration::from_millis(50),
                1 << 20,
                MAX_EVENT_BYTES,
            );
            assert_eq!(
                stream.next_event().await,
                AnswerEvent::End(Ending::Cut(CutReason::TotalTimeout))
            );
        });
    }

    /// A source of `chunks` chunks of `chunk` bytes each, counting what is read from it.
    fn counted_source(
        first: String,
        chunk: Vec<u8>,
        chunks: usize,
        read: Arc<AtomicUsize>,
    ) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
        futures_util::stream::iter(
            std::iter::once(Bytes::from(first))
                .chain(std::iter::repeat_n(Bytes::from(chunk), chunks)),
        )
        .map(move |bytes| {
            read.fetch_add(bytes.len(), Ordering::Relaxed);
            Ok(bytes)
        })
    }

    #[test]
    fn one_huge_event_is_cut_at_the_event_bound_not_buffered_whole() {
        let piece = r#"data: {"choices":[{"index":0,"delta":{"content":"Part"}}]}"#;
        let read = Arc::new(AtomicUsize::new(0));
        // Then one event whose data line never ends: 64 MiB in chunks of 64 KiB.
        let source = counted_source(
            format!("{piece}\n\ndata: "),
            vec![b'x'; 64 * 1024],
            1024,
            read.clone(),
        );
        let stream = AnswerStream::from_bytes(
            source,
            Deadlines::start(Duration::from_secs(5), Duration::from_secs(10)),
            Duration::from_secs(5),
            2 << 20,
            MAX_EVENT_BYTES,
        );
        let (pieces, ending) = run(read_all(stream));
        assert_eq!(pieces, vec!["Part".to_owned()]);
        assert_eq!(ending, Ending::Cut(CutReason::TooLarge));
        let read = read.load(Ordering::Relaxed);
        assert!(
            read <= MAX_EVENT_BYTES + 2 * 64 * 1024,
            "{read} bytes read of a 64 MiB event"
        );
    }

    #[test]
    fn many_small_events_are_cut_at_the_total_bound() {
        // Keep-alive events (a usage chunk each), 100 bytes apiece, past a 1 MiB total.
        let event = format!(
            "data: {{\"choices\":[],\"usage\":{{}}}}{}\n\n",
            " ".repeat(64)
        );
        let read = Arc::new(AtomicUsize::new(0));
        let source = counted_source(
            String::new(),
            event.repeat(100).into_bytes(),
            1_000,
            read.clone(),
        );
        let stream = AnswerStream::from_bytes(
            source,
            Deadlines::start(Duration::from_secs(5), Duration::from_secs(10)),
            Duration::from_secs(5),
            1 << 20,
            MAX_EVENT_BYTES,
        );
        let (pieces, ending) = run(read_all(stream));
        assert!(pieces.is_empty());
        assert_eq!(ending, Ending::Cut(CutReason::TooLarge));
        let read = read.load(Ordering::Relaxed);
        assert!(read <= (1 << 20) + event.len() * 100, "{read} bytes read");
    }
}
