//! The document view and the mementos page.

use reqwest::StatusCode;
use simulators::rememberizer::SimulatorConfig;

use crate::helpers::assert_asks_to_connect;
use crate::helpers::*;

fn document_id(app: &TestApp, name: &str) -> u64 {
    app.sim
        .documents()
        .into_iter()
        .find(|d| d.name == name)
        .map(|d| d.id)
        .expect("document in the dataset")
}

#[tokio::test]
async fn a_long_document_is_read_part_by_part_with_plain_links() {
    let app = spawn_app().await;
    app.connect().await;
    let id = document_id(&app, "Architecture handbook");
    let (status, html) = app.get_html(&format!("/documents/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Architecture handbook</h1>"));
    assert!(html.contains("Google Drive"), "metadata is shown");
    assert!(html.contains("Architecture handbook. "), "the text starts");
    // One view pulls at most three calls of 20 chunks.
    assert_eq!(
        app.sim
            .request_count(&format!("/api/v1/documents/{id}/contents/")),
        3
    );

    let mut parts = 1;
    let mut html = html;
    while let Some(next) = rel_link(&html, "next") {
        assert!(
            next.starts_with(&format!("/documents/{id}?start_chunk=")),
            "{next}"
        );
        let (status, body) = app.get_html(&next).await;
        assert_eq!(status, StatusCode::OK, "{next}");
        html = body;
        parts += 1;
        assert!(parts < 10, "reading terminates");
    }
    assert!(parts >= 2, "a 60+ chunk document needs more than one view");
    assert!(html.contains("End of document.") || html.contains("There is no more text."));
}

#[tokio::test]
async fn the_dashboard_links_each_document_to_its_reader_and_every_link_opens() {
    let app = spawn_app().await;
    app.connect().await;
    let (_, html) = app.get_html("/dashboard").await;
    let links = hrefs(&html);
    // Files open in the chunked reader, Slack channels in the channel reader; both by `pk`.
    let file = document_id(&app, "Architecture handbook");
    let channel = document_id(&app, "Deploy checklist thread");
    assert!(links.contains(&format!("/documents/{file}")), "{links:?}");
    assert!(
        links.contains(&format!("/discussions/{channel}?integration_type=slack")),
        "{links:?}"
    );
    let readers: Vec<&String> = links
        .iter()
        .filter(|l| l.starts_with("/documents/") || l.starts_with("/discussions/"))
        .collect();
    assert!(readers.len() >= 10, "{readers:?}");
    for link in readers {
        let (status, page) = app.get_html(link).await;
        assert_eq!(status, StatusCode::OK, "{link}");
        assert!(
            page.contains("class=\"document-text\"") || page.contains("id=\"messages\""),
            "{link} shows text or messages"
        );
    }
}

#[tokio::test]
async fn a_channel_opened_as_a_document_is_sent_to_the_channel_reader() {
    let app = spawn_app().await;
    app.connect().await;
    let channel = document_id(&app, "Deploy checklist thread");
    let response = app.get(&format!("/documents/{channel}")).await;
    assert_is_redirect_to(
        &response,
        &format!("/discussions/{channel}?integration_type=slack"),
    );
}

#[tokio::test]
async fn documents_outside_the_grant_or_unknown_are_not_found() {
    let app = spawn_app().await;
    let response = app.connect_with(&[1]).await;
    assert_is_redirect_to(&response, "/dashboard");
    let outside = document_id(&app, "Salary bands 2026");
    let other_memento = document_id(&app, "Reading list");
    for path in [
        format!("/documents/{outside}"),
        format!("/documents/{other_memento}"),
        "/documents/999999".to_owned(),
    ] {
        let (status, html) = app.get_html(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains("not given access"), "{path}");
        assert!(!html.contains("salary"), "nothing of the document leaks");
    }
    for path in [
        "/documents/abc",
        "/documents/1?start_chunk=-1",
        "/documents/1?start_chunk=x",
    ] {
        let (status, _) = app.get_html(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test]
async fn the_mementos_page_shows_the_grant_integrations_chart_and_usage() {
    for as_page in [false, true] {
        let app = spawn_app_with(
            SimulatorConfig {
                mementos_as_page: as_page,
                ..SimulatorConfig::default()
            },
            |_| {},
        )
        .await;
        let response = app.connect_with(&[1, 3]).await;
        assert_is_redirect_to(&response, "/dashboard");
        let (status, html) = app.get_html("/mementos").await;
        assert_eq!(status, StatusCode::OK);
        for memento in app.sim.mementos() {
            let shown = html.contains(&format!("<strong>{}</strong>", memento.name));
            assert_eq!(shown, [1, 3].contains(&memento.id), "{}", memento.name);
        }
        assert!(html.contains("<svg"), "a server-rendered chart");
        assert_eq!(
            html.matches("class=\"chart-bar\"").count(),
            4,
            "one bar per integration"
        );
        assert!(html.contains("<meter"), "a usage meter");
        assert!(html.contains("embedded ("));
    }
}

#[tokio::test]
async fn every_page_needs_a_connection() {
    let app = spawn_app().await;
    for path in ["/documents/101", "/mementos"] {
        assert_asks_to_connect(app.get(path).await, "/auth/rememberizer", path).await;
    }
}

/// The text of each `<open>…</close>` element in `html`, tags inside left out.
fn texts_of<'a>(html: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    html.split(open)
        .skip(1)
        .filter_map(|rest| rest.split_once(close).map(|(text, _)| text))
        .collect()
}

/// Types read as names ("Google Doc", "PDF", "Email"), not as the API's MIME types, on the
/// dashboard and on a document's page.
#[tokio::test]
async fn document_types_are_named_not_mime_types() {
    let app = spawn_app().await;
    let all: Vec<u64> = app.sim.mementos().iter().map(|m| m.id).collect();
    app.connect_with(&all).await;
    let mut types = Vec::new();
    for page in 1..=3 {
        let (_, html) = app.get_html(&format!("/dashboard?page={page}")).await;
        types.extend(
            texts_of(&html, "<td data-label=\"Type\">", "</td>")
                .into_iter()
                .map(str::to_owned),
        );
    }
    assert!(types.iter().any(|t| t == "Google Doc"), "{types:?}");
    assert!(types.iter().any(|t| t == "PDF"), "{types:?}");
    assert!(types.iter().any(|t| t == "Email"), "{types:?}");
    assert!(types.iter().all(|t| !t.contains('/')), "{types:?}");
    let id = document_id(&app, "Architecture handbook");
    let (_, html) = app.get_html(&format!("/documents/{id}")).await;
    assert!(html.contains("<dt>Type</dt><dd>Google Doc</dd>"), "{html}");
    assert!(!html.contains("application/vnd.google-apps"), "{html}");
}

/// Rememberizer's passages are fixed-size slices of a document: on the page each ends and
/// starts at a whole word, with "…" where text was cut, never in the middle of a word.
#[tokio::test]
async fn passages_cut_mid_word_end_at_a_word_with_an_ellipsis() {
    let app = spawn_app().await;
    let all: Vec<u64> = app.sim.mementos().iter().map(|m| m.id).collect();
    app.connect_with(&all).await;
    let (status, html) = app.get_html("/ask?q=architecture+handbook").await;
    assert_eq!(status, StatusCode::OK);
    let passages = texts_of(&html, "<blockquote>", "</blockquote>");
    assert!(passages.len() > 3, "{html}");
    let long: Vec<&str> = passages
        .iter()
        .copied()
        .filter(|p| p.chars().count() >= 100)
        .collect();
    assert!(!long.is_empty(), "{passages:?}");
    for passage in &long {
        let last = passage.chars().last().unwrap_or(' ');
        assert!(!last.is_alphanumeric(), "ends mid-word: {passage:?}");
        let first = passage.chars().next().unwrap_or(' ');
        assert!(!first.is_lowercase(), "starts mid-word: {passage:?}");
    }
    assert!(
        long.iter().any(|p| p.ends_with('…')),
        "a cut shows: {long:?}"
    );
}

/// A use too small to round to 1% says "less than 1%" and shows a sliver of the meter, not
/// "(0%)" and an empty bar.
#[tokio::test]
async fn a_small_usage_reads_less_than_one_percent() {
    let app = spawn_app().await;
    app.connect().await;
    let (_, html) = app.get_html("/mementos").await;
    assert!(html.contains("embedded (less than 1%)"), "{html}");
    assert!(!html.contains("(0%)"), "{html}");
    let meter = texts_of(&html, "<meter", ">")[0];
    assert!(
        meter.contains("value=\"1048576\""),
        "1% of 100 MiB: {meter}"
    );
}

/// With no memento shared, the empty dashboard says why and where to look.
#[tokio::test]
async fn an_empty_dashboard_says_how_mementos_are_shared() {
    let app = spawn_app().await;
    app.connect_with(&[]).await;
    let (_, html) = app.get_html("/dashboard").await;
    assert!(html.contains("Rememberizer shared no documents with this app."));
    let hint = texts_of(&html, "<p id=\"no-documents-hint\">", "</p>")[0];
    assert!(hint.contains("mementos you tick"), "{hint}");
    assert!(hint.contains("href=\"/mementos\""), "{hint}");
}

/// The answer arrives in a polite live region, and the sentence about memories going to the
/// answer service is said once on a page with memories found.
#[tokio::test]
async fn the_answer_is_a_polite_live_region_and_the_privacy_sentence_is_said_once() {
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
    let (_, form) = app.get_html("/ask").await;
    assert!(
        form.contains("id=\"memories-privacy\""),
        "said before asking"
    );
    let (_, html) = app
        .get_html("/ask?q=How%20does%20the%20deploy%20rollback%20work%3F")
        .await;
    assert!(html.contains("id=\"memories-sent\""), "{html}");
    assert!(
        !html.contains("id=\"memories-privacy\""),
        "said twice: {html}"
    );
    assert_eq!(
        html.matches("to the answer service at").count(),
        1,
        "{html}"
    );
    assert!(
        html.contains("<div aria-live=\"polite\"><p class=\"answer-text\">"),
        "{html}"
    );
}
