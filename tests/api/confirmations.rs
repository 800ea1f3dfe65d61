//! Destructive actions ask first (issue 29, item 4): the buttons that start them are links to a
//! confirmation page (GOV.UK's "confirm" pattern) whose form does the deed. A GET changes
//! nothing; the POST keeps its CSRF check; a memory that does not exist is a 404 page.

use reqwest::StatusCode;
use simulators::memoram::MemoramSimulatorConfig;

use crate::accessibility::{contrast, use_theme, Theme};
use crate::browser::{
    big_mementos, connect_in_browser, connect_memoram_in_browser, press_enter_on, tab_to, Browser,
    BrowserOptions,
};

use crate::helpers::{
    assert_is_redirect_to, escape_html, extract_hidden, location, spawn_app_with_memoram, TestApp,
};

async fn app() -> TestApp {
    spawn_app_with_memoram(MemoramSimulatorConfig::default(), |_| {}).await
}

/// Saves a memory through the app; returns its id.
async fn a_memory(app: &TestApp, title: &str) -> String {
    let response = app
        .post_with_csrf(
            "/memories/new",
            "/memories",
            &[("title", title), ("content", "Ada's bike is blue.")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
        .strip_prefix("/memories/")
        .expect("a memory's address")
        .to_owned()
}

/// The confirmation page's parts: one `<h1>` with the question, a form posting to `action`
/// with this session's CSRF token, a warning button, and "Cancel" back to `cancel`.
fn assert_is_confirmation(html: &str, question: &str, action: &str, cancel: &str) {
    assert_eq!(html.matches("<h1").count(), 1, "one heading: {html}");
    assert!(
        html.contains(&format!(">{question}</h1>")),
        "the heading asks {question:?}"
    );
    assert!(
        html.contains(&format!("<form method=\"post\" action=\"{action}\"")),
        "the form posts to {action}: {html}"
    );
    let token = extract_hidden(html, "csrf_token").expect("the CSRF hidden field");
    assert!(!token.is_empty(), "a real token");
    assert!(
        html.contains("class=\"button warning\""),
        "a warning button"
    );
    assert!(
        html.contains(&format!("href=\"{cancel}\" id=\"cancel-link\">Cancel</a>")),
        "Cancel leads to {cancel}"
    );
}

#[tokio::test]
async fn the_disconnect_pages_ask_and_disconnect_nothing() {
    let app = app().await;
    app.connect().await;
    app.connect_memoram_approved().await;
    let (_, home) = app.get_html("/").await;
    for link in ["/auth/rememberizer/disconnect", "/auth/memoram/disconnect"] {
        assert!(
            home.contains(&format!("href=\"{link}\"")),
            "the home page links to {link}"
        );
    }

    let (status, html) = app.get_html("/auth/rememberizer/disconnect").await;
    assert_eq!(status, StatusCode::OK);
    assert_is_confirmation(
        &html,
        "Disconnect Rememberizer?",
        "/auth/rememberizer/disconnect",
        "/",
    );
    assert!(html.contains("stay in Rememberizer"), "what is kept");
    let (status, html) = app.get_html("/auth/memoram/disconnect").await;
    assert_eq!(status, StatusCode::OK);
    assert_is_confirmation(
        &html,
        "Disconnect Memoram?",
        "/auth/memoram/disconnect",
        "/",
    );
    assert!(html.contains("stay in Memoram"), "what is kept");

    // Neither GET disconnected anything.
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
    assert_eq!(app.get("/memories").await.status(), StatusCode::OK);

    // The POST without the token is still refused, and still disconnects nothing.
    for route in ["/auth/rememberizer/disconnect", "/auth/memoram/disconnect"] {
        let no_token: &[(&str, &str)] = &[];
        let response = app
            .client
            .post(app.url(route))
            .form(no_token)
            .send()
            .await
            .expect("POST");
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{route}");
    }
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::OK);
    assert_eq!(app.get("/memories").await.status(), StatusCode::OK);

    // The page's own form does it.
    let response = app
        .post_with_csrf(
            "/auth/rememberizer/disconnect",
            "/auth/rememberizer/disconnect",
            &[],
        )
        .await;
    assert_is_redirect_to(&response, "/");
    assert_eq!(app.get("/dashboard").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/memories").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_disconnect_page_for_a_provider_not_connected_offers_to_connect_as_other_pages_do() {
    let app = app().await;
    app.connect().await;
    // Connected to Rememberizer only: Memoram's page is like any page that needs Memoram (once
    // connected, the person lands on the waiting page, not back on "Disconnect Memoram?").
    for (page, connect) in [
        ("/auth/memoram/disconnect", "href=\"/auth/memoram\""),
        ("/memories", "href=\"/auth/memoram?return_to=%2Fmemories\""),
    ] {
        let (status, html) = app.get_html(page).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(html.contains(connect), "{page} offers to connect: {html}");
        assert!(!html.contains("Disconnect Memoram?"), "{page}");
    }
    let stranger = app.second_browser();
    let (status, html) = stranger.get_html("/auth/rememberizer/disconnect").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("href=\"/auth/rememberizer\""), "{html}");
    assert!(!html.contains("Disconnect Rememberizer?"));
}

#[tokio::test]
async fn the_delete_page_names_the_memory_and_deletes_nothing() {
    let app = app().await;
    app.connect_memoram_approved().await;
    let id = a_memory(&app, "Ada's <bike>").await;
    let user = app.mem().demo_user();

    let (_, memory) = app.get_html(&format!("/memories/{id}")).await;
    assert!(
        memory.contains(&format!(
            "href=\"/memories/{id}/delete\" id=\"delete-memory\""
        )),
        "Delete is a link to the confirmation page"
    );
    let (status, html) = app.get_html(&format!("/memories/{id}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert_is_confirmation(
        &html,
        "Delete this memory?",
        &format!("/memories/{id}/delete"),
        &format!("/memories/{id}"),
    );
    assert!(
        html.contains(&escape_html("Ada's <bike>")),
        "names the memory, escaped"
    );
    assert!(html.contains("cannot be undone"));
    assert!(
        app.mem().blobs(&user.user_id).iter().any(|b| b.id == id),
        "the GET deleted nothing"
    );

    let response = app
        .client
        .post(app.url(&format!("/memories/{id}/delete")))
        .form(&[("csrf_token", "made-up")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(app.mem().blobs(&user.user_id).iter().any(|b| b.id == id));

    let response = app
        .post_with_csrf(
            &format!("/memories/{id}/delete"),
            &format!("/memories/{id}/delete"),
            &[],
        )
        .await;
    assert_is_redirect_to(&response, "/memories");
    assert!(app.mem().blobs(&user.user_id).iter().all(|b| b.id != id));
}

#[tokio::test]
async fn the_delete_page_of_a_memory_that_does_not_exist_is_a_404_page() {
    let app = app().await;
    app.connect_memoram_approved().await;
    for path in [
        "/memories/mem_no_such_memory/delete",
        "/memories/a%20b/delete",
    ] {
        let (status, html) = app.get_html(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(
            html.to_lowercase().contains("not found"),
            "a clear page: {html}"
        );
        assert!(!html.contains("id=\"confirm-button\""), "{path}");
    }
}

// ---- In a real browser: keyboard only, JavaScript off ----

/// A browser with JavaScript off: the confirmation pages are plain links and forms.
async fn browser_without_javascript() -> Browser {
    Browser::start_with(
        1280,
        900,
        BrowserOptions {
            return_at_once: false,
            javascript: false,
        },
    )
    .await
}

/// Waits for `css`, then tabs to it and presses Enter, as a keyboard user does.
async fn press(browser: &Browser, css: &str) {
    browser.wait_for(css).await;
    press_enter_on(browser, css).await;
}

#[tokio::test]
async fn a_memory_is_deleted_through_its_confirmation_page_with_the_keyboard_and_no_javascript() {
    let app = app().await;
    let browser = browser_without_javascript().await;
    connect_memoram_in_browser(&browser, &app).await;
    let memory = browser
        .wait_for("table.memories a[href^='/memories/']")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a memory link");
    let id = memory.trim_start_matches("/memories/").to_owned();
    let user = app.mem().demo_user();
    let exists = || app.mem().blobs(&user.user_id).iter().any(|b| b.id == id);

    // Cancel keeps it.
    browser.goto(&app.url(&memory)).await;
    press(&browser, "#delete-memory").await;
    browser
        .wait_for_path(&app.address, &format!("{memory}/delete"))
        .await;
    let heading = browser.wait_for("h1").await.text().await.expect("text");
    assert_eq!(heading, "Delete this memory?");
    press(&browser, "#cancel-link").await;
    browser.wait_for_path(&app.address, &memory).await;
    assert!(exists(), "Cancel deleted nothing");

    // Confirming deletes it.
    press(&browser, "#delete-memory").await;
    browser
        .wait_for_path(&app.address, &format!("{memory}/delete"))
        .await;
    press(&browser, "#confirm-button").await;
    browser.wait_for_path(&app.address, "/memories").await;
    assert!(browser.body_text().await.contains("Memory deleted."));
    assert!(!exists(), "the confirmed deletion reached Memoram");
    browser.close().await;
}

#[tokio::test]
async fn a_service_is_disconnected_through_its_confirmation_page_with_the_keyboard_and_no_javascript(
) {
    let app = app().await;
    let browser = browser_without_javascript().await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    connect_memoram_in_browser(&browser, &app).await;
    browser.goto(&app.url("/")).await;

    // Cancel keeps the connection.
    press(&browser, "#disconnect-rememberizer").await;
    browser
        .wait_for_path(&app.address, "/auth/rememberizer/disconnect")
        .await;
    let heading = browser.wait_for("h1").await.text().await.expect("text");
    assert_eq!(heading, "Disconnect Rememberizer?");
    browser.screenshot("confirm-disconnect").await;
    press(&browser, "#cancel-link").await;
    browser.wait_for_path(&app.address, "/").await;
    browser.wait_for("#disconnect-rememberizer").await;

    // Confirming disconnects Rememberizer, and Rememberizer only.
    press(&browser, "#disconnect-rememberizer").await;
    press(&browser, "#confirm-button").await;
    browser.wait_for_path(&app.address, "/").await;
    browser.wait_for("a[href='/auth/rememberizer']").await;
    press(&browser, "#disconnect-memoram").await;
    browser
        .wait_for_path(&app.address, "/auth/memoram/disconnect")
        .await;
    press(&browser, "#confirm-button").await;
    browser.wait_for_path(&app.address, "/").await;
    browser.wait_for("a[href='/auth/memoram']").await;
    // Memoram's pages now offer to connect it.
    browser.goto(&app.url("/memories")).await;
    browser
        .wait_for("a[href='/auth/memoram?return_to=%2Fmemories']")
        .await;
    browser.close().await;
}

/// The confirming button looks destructive, as GOV.UK's warning button: white on #d4351c,
/// at least 4.5:1, in both themes, and its focus is visible when reached with the keyboard.
#[tokio::test]
async fn the_confirming_button_is_a_red_warning_button_with_visible_focus_in_both_themes() {
    let app = app().await;
    let browser = Browser::start().await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    for theme in [Theme::Light, Theme::Dark] {
        use_theme(&browser, theme).await;
        browser
            .goto(&app.url("/auth/rememberizer/disconnect"))
            .await;
        browser.wait_for("#confirm-button").await;
        let colours = browser
            .eval(
                "const s = getComputedStyle(document.getElementById('confirm-button')); \
                 return [s.backgroundColor, s.color];",
            )
            .await;
        assert_eq!(
            colours,
            serde_json::json!(["rgb(212, 53, 28)", "rgb(255, 255, 255)"]),
            "{theme:?}"
        );
        let ratio = contrast("rgb(212, 53, 28)", "rgb(255, 255, 255)");
        assert!(ratio >= 4.5, "{ratio:.2}:1");
        tab_to(&browser, "#confirm-button").await;
        let outline = browser
            .eval(
                "const s = getComputedStyle(document.activeElement); \
                 return [s.outlineStyle, parseFloat(s.outlineWidth)];",
            )
            .await;
        assert_eq!(outline, serde_json::json!(["solid", 3]), "{theme:?}");
    }
    browser.close().await;
}
