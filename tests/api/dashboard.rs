use std::time::Duration;

use reqwest::StatusCode;
use simulators::rememberizer::{Fault, SimulatorConfig};

use crate::helpers::assert_asks_to_connect;
use crate::helpers::*;

fn rows(html: &str) -> usize {
    html.matches(r#"<td data-label="Name""#).count()
}

#[tokio::test]
async fn the_dashboard_needs_a_connection() {
    let app = spawn_app().await;
    assert_asks_to_connect(
        app.get("/dashboard").await,
        "/auth/rememberizer",
        "/dashboard",
    )
    .await;
}

#[tokio::test]
async fn pages_follow_the_apis_pages_and_cover_every_granted_document() {
    let app = spawn_app().await;
    let granted = app.connect().await;
    let expected = app.expected_document_ids(&granted);
    assert!(expected.len() > 20, "the dataset spans several pages");
    let documents = app.sim.documents();

    let mut seen = 0;
    let mut path = "/dashboard".to_owned();
    let mut pages = 0;
    loop {
        let (status, html) = app.get_html(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        seen += rows(&html);
        pages += 1;
        assert!(html.contains(&format!("Page {pages} of {}", expected.len().div_ceil(20))));
        for doc in documents.iter().filter(|d| !expected.contains(&d.id)) {
            assert!(
                !html.contains(&escape_html(&doc.name)),
                "{:?} is not granted",
                doc.name
            );
        }
        match rel_link(&html, "next") {
            Some(next) => path = next,
            None => break,
        }
        assert!(pages < 50, "pagination terminates");
    }
    assert_eq!(
        seen,
        expected.len(),
        "every granted document appears exactly once"
    );
    assert_eq!(pages, expected.len().div_ceil(20));
    assert!(app.sim.request_count("/api/v1/documents/") >= pages);
}

#[tokio::test]
async fn the_integration_filter_shows_only_that_integration() {
    let app = spawn_app().await;
    let granted = app.connect().await;
    let expected = app.expected_document_ids(&granted);
    let documents = app.sim.documents();
    let slack: Vec<_> = documents
        .iter()
        .filter(|d| expected.contains(&d.id) && d.integration_type == "slack")
        .collect();
    assert!(!slack.is_empty());

    let (status, html) = app.get_html("/dashboard?integration_type=slack").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rows(&html), slack.len().min(20));
    assert!(html.contains(r#"<option value="slack" selected>"#));
    for doc in documents
        .iter()
        .filter(|d| expected.contains(&d.id) && d.integration_type != "slack")
    {
        assert!(
            !html.contains(&escape_html(&doc.name)),
            "{:?} is filtered out",
            doc.name
        );
    }
}

#[tokio::test]
async fn bad_page_numbers_and_filters_get_a_clear_400() {
    let app = spawn_app().await;
    app.connect().await;
    for path in [
        "/dashboard?page=0",
        "/dashboard?page=-3",
        "/dashboard?page=abc",
        "/dashboard?page=99999999999999",
        "/dashboard?integration_type=%3Cscript%3E",
    ] {
        let (status, html) = app.get_html(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        assert!(html.contains("Bad request"), "{path}");
    }
    // A page past the end is the API's 404, shown as a page, and the session survives.
    let (status, html) = app.get_html("/dashboard?page=999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Not found"));
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn html_in_api_data_is_rendered_as_text() {
    let app = spawn_app_with(
        SimulatorConfig {
            account_name: "<img src=x onerror=alert(1)>Ada".to_owned(),
            ..SimulatorConfig::default()
        },
        |_| {},
    )
    .await;
    let all: Vec<u64> = app.sim.mementos().iter().map(|m| m.id).collect();
    let response = app.connect_with(&all).await;
    assert_is_redirect_to(&response, "/dashboard");

    let hostile: Vec<_> = app
        .sim
        .documents()
        .into_iter()
        .filter(|d| d.name.contains('<'))
        .collect();
    assert!(!hostile.is_empty(), "the dataset has HTML in names");
    let mut pages = String::new();
    for page in 1..=10 {
        let (status, html) = app.get_html(&format!("/dashboard?page={page}")).await;
        if status != StatusCode::OK {
            break;
        }
        pages.push_str(&html);
    }
    assert!(pages.contains("&lt;img src=x onerror=alert(1)&gt;Ada"));
    assert!(!pages.contains("<img src=x"));
    assert!(!pages.contains("<script>alert"));
    for doc in &hostile {
        assert!(
            pages.contains(&escape_html(&doc.name)),
            "{:?} shown as text",
            doc.name
        );
    }
    assert!(
        !pages.contains("href=\"javascript:"),
        "no javascript: links"
    );
    let (_, home) = app.get_html("/").await;
    assert!(home.contains("&lt;img src=x onerror=alert(1)&gt;Ada"));
}

#[tokio::test]
async fn an_empty_grant_says_what_to_do_next() {
    let app = spawn_app().await;
    let response = app.connect_with(&[]).await;
    assert_is_redirect_to(&response, "/dashboard");
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Rememberizer shared no documents with this app."));
    assert_eq!(rows(&html), 0);
}

/// (account, documents, integrations) calls the simulator has answered.
fn profile_calls(app: &TestApp) -> (usize, usize, usize) {
    (
        app.sim.request_count("/api/v1/account/"),
        app.sim.request_count("/api/v1/documents/"),
        app.sim.request_count("/api/v1/integrations/"),
    )
}

#[tokio::test]
async fn account_documents_and_integrations_are_each_fetched_once_per_view() {
    let app = spawn_app_with(SimulatorConfig::default(), |settings| {
        settings.profile_cache_ttl = Duration::ZERO;
    })
    .await;
    app.connect().await;
    for _ in 0..2 {
        let before = profile_calls(&app);
        assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
        assert_eq!(
            profile_calls(&app),
            (before.0 + 1, before.1 + 1, before.2 + 1)
        );
    }
}

#[tokio::test]
async fn within_a_minute_a_view_asks_only_for_the_documents() {
    let app = spawn_app().await;
    app.connect().await;
    let before = profile_calls(&app);
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
    assert_eq!(
        profile_calls(&app),
        (before.0 + 1, before.1 + 1, before.2 + 1)
    );
    for page in [
        "/dashboard",
        "/dashboard?page=2",
        "/dashboard?integration_type=slack",
    ] {
        let (status, html) = app.get_html(page).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Ada Lovelace"), "the kept account is shown");
        assert!(
            html.contains("id=\"integration_type\""),
            "the kept integrations feed the filter"
        );
    }
    assert_eq!(
        profile_calls(&app),
        (before.0 + 1, before.1 + 4, before.2 + 1)
    );
}

#[tokio::test]
async fn kept_answers_expire() {
    let app = spawn_app_with(SimulatorConfig::default(), |settings| {
        settings.profile_cache_ttl = Duration::from_secs(2);
    })
    .await;
    app.connect().await;
    let before = profile_calls(&app);
    app.get_html("/dashboard").await;
    app.get_html("/dashboard").await;
    assert_eq!(
        profile_calls(&app),
        (before.0 + 1, before.1 + 2, before.2 + 1)
    );
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    app.get_html("/dashboard").await;
    assert_eq!(
        profile_calls(&app),
        (before.0 + 2, before.1 + 3, before.2 + 2)
    );
}

#[tokio::test]
async fn a_failed_answer_is_not_kept() {
    let app = spawn_app().await;
    app.connect().await;
    app.sim.set_fault(
        "/api/v1/integrations/",
        Fault {
            status: Some(503),
            remaining: Some(1),
            ..Fault::default()
        },
    );
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("The integration filter is unavailable"));
    let before = profile_calls(&app);
    let (_, html) = app.get_html("/dashboard").await;
    assert!(
        html.contains("id=\"integration_type\""),
        "asked again, and shown"
    );
    assert_eq!(profile_calls(&app), (before.0, before.1 + 1, before.2 + 1));
}

#[tokio::test]
async fn kept_answers_do_not_hide_a_revoked_grant() {
    let app = spawn_app().await;
    app.connect().await;
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
    app.sim.revoke_all_grants();
    let (status, html) = app.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("connect again") || html.contains("Connect again"));
    assert!(!html.contains("Ada Lovelace"));
}

#[tokio::test]
async fn each_connection_has_its_own_answers() {
    let app = spawn_app().await;
    app.connect().await;
    app.get_html("/dashboard").await;
    // Another person on another browser.
    let other = app.second_browser();
    other.connect().await;
    let before = profile_calls(&app);
    let (status, _) = other.get_html("/dashboard").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        profile_calls(&app),
        (before.0 + 1, before.1 + 1, before.2 + 1)
    );
    // The same person after logging out and in again: a new connection, asked afresh.
    let csrf = app.csrf_token().await;
    app.logout(Some(&csrf)).await;
    app.connect().await;
    let before = profile_calls(&app);
    app.get_html("/dashboard").await;
    assert_eq!(
        profile_calls(&app),
        (before.0 + 1, before.1 + 1, before.2 + 1)
    );
}
