//! `/ask` streamed: the passages at once, the answer as the model writes it, and an answer that
//! is cut off ending the page with a note, never with an error status.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use simulators::rememberizer::{LlmCut, LlmStreamFault};
use simulators::Fault;

use crate::helpers::*;

const QUESTION: &str = "/ask?q=How+does+the+deploy+rollback+work%3F";

async fn app_with_answers(adjust: impl FnOnce(&mut talk_to_mementos::config::Settings)) -> TestApp {
    let app = spawn_app_with(Default::default(), |settings| {
        with_simulated_answers(settings);
        adjust(settings);
    })
    .await;
    app.connect().await;
    app
}

/// The page's chunks as they arrive, each with when it arrived.
async fn chunks(app: &TestApp, path: &str) -> (StatusCode, Vec<(Duration, String)>) {
    let started = Instant::now();
    let mut response = app.get(path).await;
    let status = response.status();
    let mut chunks = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("a chunk") {
        chunks.push((
            started.elapsed(),
            String::from_utf8_lossy(&chunk).into_owned(),
        ));
    }
    (status, chunks)
}

fn whole(chunks: &[(Duration, String)]) -> String {
    chunks.iter().map(|(_, c)| c.as_str()).collect()
}

/// The page up to where the answer starts (however the network cut it): the index of the
/// chunk that opens the answer's paragraph, and the text up to and with it.
fn split_head(chunks: &[(Duration, String)]) -> (usize, String) {
    let end = chunks
        .iter()
        .position(|(_, chunk)| chunk.contains("<p class=\"answer-text\">"))
        .expect("the answer's paragraph");
    (end, whole(&chunks[..=end]))
}

/// `QUESTION` asked while the model writes a piece every 200 ms: the head (the passages, "Writing
/// the answer…") arrives at once, before the first piece, and the answer follows in several
/// parts over more than a second, to "The answer is complete." and the page's end. The head and
/// the whole page.
async fn streamed_page(app: &TestApp) -> (String, String) {
    app.sim.set_llm_piece_delay(Duration::from_millis(200));
    let (status, chunks) = chunks(app, QUESTION).await;
    assert_eq!(status, StatusCode::OK);
    let (head_end, head) = split_head(&chunks);
    let first_at = chunks[head_end].0;
    assert!(head.contains("Writing the answer…"), "{head}");
    assert!(!head.contains("The answer is complete"), "{head}");
    // The answer comes after the passages in the page: keyboard and screen-reader users can
    // skip to it.
    assert!(hrefs(&head).contains(&"#answer".to_owned()), "{head}");
    assert!(first_at < Duration::from_millis(600), "{first_at:?}");
    // The answer came in several parts, spread over the model's writing.
    let parts = chunks.len() - head_end - 2;
    assert!(parts >= 5, "{parts} parts");
    let (last_at, _) = chunks.last().expect("the end");
    assert!(
        *last_at > first_at + Duration::from_millis(1000),
        "{last_at:?}"
    );
    let html = whole(&chunks);
    assert!(html.contains("The answer is complete."), "{html}");
    assert!(
        html.contains("<a class=\"cite\" href=\"#passage-"),
        "citations are links: {html}"
    );
    assert!(html.trim_end().ends_with("</html>"));
    (head, html)
}

#[tokio::test]
async fn the_passages_arrive_before_the_model_has_written_a_word() {
    let app = app_with_answers(|_| {}).await;
    let (head, _) = streamed_page(&app).await;
    assert!(
        head.contains("id=\"passage-1\""),
        "the passages come with the head"
    );
    // The model was asked once, for a stream.
    assert_eq!(app.sim.llm_requests().len(), 1);
}

/// Asking across both services streams the same way: Rememberizer's and Memoram's passages
/// come with the head, before the model has written a word, and the answer follows in parts.
#[tokio::test]
async fn across_both_services_the_passages_arrive_before_the_first_piece() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |settings| {
            with_simulated_answers(settings);
            settings.memoram.send_to_llm = Some(true);
        },
    )
    .await;
    app.connect().await;
    app.connect_memoram_approved().await;
    let (head, _) = streamed_page(&app).await;
    assert!(head.contains("data-service=\"Rememberizer\""), "{head}");
    assert!(head.contains("data-service=\"Memoram\""), "{head}");
}

#[tokio::test]
async fn a_cut_off_answer_keeps_what_was_written_and_says_it_is_incomplete() {
    let app = app_with_answers(|settings| {
        if let Some(llm) = settings.llm.as_mut() {
            llm.timeout = Duration::from_millis(1500);
        }
    })
    .await;
    for (kind, note) in [
        (LlmCut::Drop, "the connection to the answer service broke"),
        (LlmCut::BadJson, "sent something this app cannot read"),
        (LlmCut::Error, "sent something this app cannot read"),
        (LlmCut::Stall, "the answer service stopped writing"),
        (LlmCut::Length, "reached its length limit"),
    ] {
        app.sim.set_llm_stream_fault(Some(LlmStreamFault {
            after_pieces: 3,
            kind,
        }));
        let (status, chunks) = chunks(&app, QUESTION).await;
        assert_eq!(status, StatusCode::OK, "{kind:?}");
        let html = whole(&chunks);
        assert!(html.contains(note), "{kind:?}: {html}");
        assert!(
            html.contains("id=\"passage-1\""),
            "{kind:?}: the passages stay"
        );
        let written = html
            .split_once("<p class=\"answer-text\">")
            .and_then(|(_, rest)| rest.split_once("</p>"))
            .map(|(text, _)| text.to_owned())
            .expect("the answer's paragraph");
        assert!(
            written.chars().count() >= 12,
            "{kind:?}: what was written stays: {written:?}"
        );
        assert!(
            html.trim_end().ends_with("</html>"),
            "{kind:?}: the page is whole"
        );
    }
}

#[tokio::test]
async fn no_first_piece_in_time_ends_the_answer_not_the_page() {
    let app = app_with_answers(|settings| {
        if let Some(llm) = settings.llm.as_mut() {
            llm.timeout = Duration::from_secs(1);
        }
    })
    .await;
    app.sim.set_fault(
        "/v1/chat/completions",
        Fault {
            delay: Some(Duration::from_secs(5)),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let started = Instant::now();
    let (status, chunks) = chunks(&app, QUESTION).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let html = whole(&chunks);
    assert!(html.contains("did not start writing in time"), "{html}");
}

/// A model that keeps writing past the whole answer's deadline (`LLM_TOTAL_SECS`; 1.5 s here)
/// is cut there: what it wrote stays, the page ends with the note, and its stream is dropped.
#[tokio::test]
async fn an_answer_longer_than_its_total_time_is_cut_with_a_note() {
    let app = app_with_answers(|settings| {
        if let Some(llm) = settings.llm.as_mut() {
            llm.total_timeout = Duration::from_millis(1500);
        }
    })
    .await;
    app.sim.set_llm_piece_delay(Duration::from_millis(300));
    let started = Instant::now();
    let (status, chunks) = chunks(&app, QUESTION).await;
    let took = started.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert!(took < Duration::from_millis(2500), "{took:?}");
    let html = whole(&chunks);
    assert!(
        html.contains("the answer took longer than this app waits for one"),
        "{html}"
    );
    assert!(!html.contains("The answer is complete."), "{html}");
    let written = html
        .split_once("<p class=\"answer-text\">")
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map(|(text, _)| text.to_owned())
        .expect("the answer's paragraph");
    assert!(written.len() >= 12, "what was written stays: {written}");
    assert!(html.trim_end().ends_with("</html>"));
    // The model, still writing, is no longer read.
    let started = Instant::now();
    while app.sim.llm_streams_dropped() == 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "still read");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asks `QUESTION` as a browser tab does, on a TCP connection of its own, and reads the page up
/// to the answer's paragraph (the passages are out). Dropping the connection closes the tab: the
/// socket is closed at once (a reqwest response dropped mid-body may leave its connection open
/// until more data arrives, which is not what a browser does).
async fn open_answer(app: &TestApp) -> tokio::net::TcpStream {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut tab = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!(
        "GET {QUESTION} HTTP/1.1\r\nHost: {address}\r\nCookie: {}\r\nAccept: text/html\r\n\r\n",
        app.cookie_header()
    );
    tab.write_all(request.as_bytes()).await.expect("request");
    let mut head = Vec::new();
    let mut buffer = [0u8; 8192];
    while !String::from_utf8_lossy(&head).contains("<p class=\"answer-text\">") {
        let read = tab.read(&mut buffer).await.expect("read");
        assert!(
            read > 0,
            "the page ended early: {}",
            String::from_utf8_lossy(&head)
        );
        head.extend_from_slice(&buffer[..read]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("id=\"passage-1\""));
    tab
}

/// Waits until the simulated model has been asked `count` times in all. A tab closed before
/// then would stop the answer before the model is asked at all, and there would be no reader
/// of the model's to see go: the tests below close tabs only once the model is writing.
async fn until_asked(app: &TestApp, count: usize) {
    let started = Instant::now();
    while app.sim.llm_requests().len() < count {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the model was asked {} times, not {count}",
            app.sim.llm_requests().len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the simulated model has seen `count` readers go; how long that took.
async fn until_dropped(app: &TestApp, count: usize) -> Duration {
    let started = Instant::now();
    // Generous: a busy 2-core machine can be slow to schedule; the tests' own bounds are below.
    while app.sim.llm_streams_dropped() < count {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the model's stream is still being read"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_closed_tab_stops_the_model() {
    let app = app_with_answers(|_| {}).await;
    app.sim.set_llm_piece_delay(Duration::from_millis(300));
    let response = open_answer(&app).await;
    until_asked(&app, 1).await;
    assert_eq!(app.sim.llm_streams_dropped(), 0);
    // The person closes the tab: the connection to the app goes.
    drop(response);
    let took = until_dropped(&app, 1).await;
    // Well before the answer would have ended by itself (300 ms a piece).
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn a_tab_closed_before_the_first_piece_stops_the_model_within_a_second() {
    // The model takes 4 s to its first piece (LLM_TIMEOUT_SECS is 30): the app has nothing to
    // write in the meantime, so only the closed connection itself can tell it the tab is gone.
    let app = app_with_answers(|_| {}).await;
    app.sim.set_llm_piece_delay(Duration::from_secs(4));
    let response = open_answer(&app).await;
    until_asked(&app, 1).await;
    assert_eq!(app.sim.llm_streams_dropped(), 0);
    drop(response);
    let took = until_dropped(&app, 1).await;
    println!("the model's request ended {took:?} after the tab closed");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test]
async fn a_session_streams_at_most_two_answers_at_once() {
    let app = app_with_answers(|_| {}).await;
    app.sim.set_llm_piece_delay(Duration::from_secs(3));
    let first = open_answer(&app).await;
    let _second = open_answer(&app).await;
    until_asked(&app, 2).await;
    let (status, html) = app.get_html(QUESTION).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        html.contains("Answers are being written in your other tabs"),
        "{html}"
    );
    assert_eq!(
        app.sim.llm_requests().len(),
        2,
        "the third made no model request"
    );
    // Another person is not affected.
    let other = app.second_browser();
    other.connect().await;
    let others = open_answer(&other).await;
    until_asked(&app, 3).await;
    drop(others);
    until_dropped(&app, 1).await;
    // A closed tab gives its slot back.
    drop(first);
    until_dropped(&app, 2).await;
    let _third = open_answer(&app).await;
}

#[tokio::test]
async fn every_piece_is_escaped_and_no_html_from_the_model_reaches_the_page() {
    let app = app_with_answers(|_| {}).await;
    // A model that writes markup, a citation of a passage that does not exist, and citations
    // split across its 6-character pieces.
    app.sim.set_llm_answer(Some(
        "<script>alert(1)</script> Canaries go first [1]. <img src=x onerror=alert(2)> & [2] [99].",
    ));
    let (status, chunks) = chunks(&app, QUESTION).await;
    assert_eq!(status, StatusCode::OK);
    let html = whole(&chunks);
    let answer = html
        .split_once("<p class=\"answer-text\">")
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map(|(text, _)| text)
        .expect("the answer");
    let outside_links = answer
        .split("<a class=\"cite\"")
        .map(|part| part.split_once("</a>").map_or(part, |(_, rest)| rest))
        .collect::<String>();
    assert!(!outside_links.contains('<'), "{answer}");
    assert!(
        answer.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{answer}"
    );
    assert!(
        answer.contains("<a class=\"cite\" href=\"#passage-1\""),
        "{answer}"
    );
    assert!(
        answer.contains("<a class=\"cite\" href=\"#passage-2\""),
        "{answer}"
    );
    assert!(
        !answer.contains("99"),
        "the citation of a passage that is not there is dropped"
    );
    assert!(
        html.contains("cited passages that do not exist ([99])"),
        "{html}"
    );
}
