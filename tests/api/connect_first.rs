//! No silent dead ends (issue 29, item 6): a page that needs a connection answers a browser
//! without it with a `403` page that says so and offers to connect, and after connecting the
//! person is back on the page they asked for. The menu offers only what can be used now.

use reqwest::StatusCode;
use simulators::memoram::MemoramSimulatorConfig;
use url::Url;

use crate::browser::{allow, press_enter_on, tick, Browser, BrowserOptions};
use crate::helpers::{
    assert_asks_to_connect, assert_is_redirect_to, hrefs, location, spawn_app_with_memoram, TestApp,
};

async fn app() -> TestApp {
    spawn_app_with_memoram(MemoramSimulatorConfig::default(), |_| {}).await
}

const REMEMBERIZER_PAGES: &[&str] = &[
    "/dashboard",
    "/dashboard?integration_type=slack&page=2",
    "/documents/101",
    "/discussions/1",
    "/mementos",
    "/memorize",
];

const MEMORAM_PAGES: &[&str] = &[
    "/memories",
    "/memories?q=tea",
    "/memories/new",
    "/memories/tags",
    "/memories/made-up",
    "/memories/made-up/edit",
    "/memoram/access",
];

#[tokio::test]
async fn a_signed_out_visit_to_a_page_that_needs_a_connection_is_a_403_offering_to_connect() {
    let app = app().await;
    for path in REMEMBERIZER_PAGES {
        let html = assert_asks_to_connect(app.get(path).await, "/auth/rememberizer", path).await;
        assert!(
            nav_items(&html).is_empty(),
            "no menu for a stranger: {html}"
        );
    }
    for path in MEMORAM_PAGES {
        assert_asks_to_connect(app.get(path).await, "/auth/memoram", path).await;
    }
    let response = app.get("/dashboard").await;
    assert!(
        response.headers().contains_key("content-security-policy"),
        "the page carries the security headers"
    );
    assert!(
        response.headers().get("set-cookie").is_none(),
        "no session for a stranger"
    );
    let (status, html) = (response.status(), response.text().await.expect("body"));
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("<h1 id=\"connect-heading\">Connect Rememberizer to see your documents</h1>"),
        "{html}"
    );
    assert!(html.contains("<title>Connect Rememberizer to see your documents · "));
    // Asking works with either service: both are offered.
    let asked = "/ask?q=what+did+I+write";
    let html = assert_asks_to_connect(app.get(asked).await, "/auth/rememberizer", asked).await;
    let encoded: String = url::form_urlencoded::byte_serialize(asked.as_bytes()).collect();
    assert!(
        hrefs(&html).contains(&format!("/auth/memoram?return_to={encoded}")),
        "{html}"
    );
    assert!(html.contains("Connect Rememberizer or Memoram to ask questions"));
    // A form's POST cannot be asked for again: the offer comes without a return_to.
    let response = app
        .client
        .post(app.url("/memories/made-up/delete"))
        .form(&[("csrf_token", "made-up")])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = response.text().await.expect("body");
    assert!(hrefs(&html).contains(&"/auth/memoram".to_owned()), "{html}");
}

#[tokio::test]
async fn connected_to_one_service_a_page_of_the_other_offers_it_and_keeps_the_menu() {
    let app = app().await;
    app.connect().await;
    let html =
        assert_asks_to_connect(app.get("/memories").await, "/auth/memoram", "/memories").await;
    assert_eq!(
        nav_items(&html),
        ["Ask", "Documents", "Mementos", "New note"]
    );
    assert!(html.contains("Log out"));
}

/// Following the offer and consenting at the simulator lands back on the page asked for.
#[tokio::test]
async fn connecting_from_the_offer_comes_back_to_the_page_asked_for() {
    let app = app().await;
    let asked = "/dashboard?integration_type=slack";
    let html = assert_asks_to_connect(app.get(asked).await, "/auth/rememberizer", asked).await;
    let href = connect_href(&html, "/auth/rememberizer");
    let start = app.get(&href).await;
    assert_eq!(start.status(), StatusCode::FOUND);
    let authorize = Url::parse(location(&start)).expect("authorize URL");
    let shared: Vec<u64> = app.sim.mementos().iter().map(|m| m.id).collect();
    let callback = app.consent(&authorize, &shared, true).await;
    assert_is_redirect_to(&app.follow(&callback).await, asked);
    let (status, page) = app.get_html(asked).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<h1 id=\"documents-heading\">Documents"),
        "{page}"
    );

    // Memoram: through the waiting page, then back once the access is approved.
    let asked = "/memories?q=tea";
    let html = assert_asks_to_connect(app.get(asked).await, "/auth/memoram", asked).await;
    let start = app.get(&connect_href(&html, "/auth/memoram")).await;
    let authorize = Url::parse(location(&start)).expect("authorize URL");
    let callback = app.consent(&authorize, &[], true).await;
    let waiting = "/memoram/access?return_to=%2Fmemories%3Fq%3Dtea";
    assert_is_redirect_to(&app.follow(&callback).await, waiting);
    let (status, page) = app.get_html(waiting).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        hrefs(&page).contains(&waiting.to_owned()),
        "“check now” keeps it: {page}"
    );
    assert!(app.mem().approve(&app.latest_access_request()));
    assert_is_redirect_to(&app.get(waiting).await, asked);
    // Connecting from the waiting page itself comes back through it once, not twice.
    let other = app.second_browser();
    let html = assert_asks_to_connect(
        other.get("/memoram/access").await,
        "/auth/memoram",
        "/memoram/access",
    )
    .await;
    let start = other.get(&connect_href(&html, "/auth/memoram")).await;
    let authorize = Url::parse(location(&start)).expect("authorize URL");
    let callback = other.consent(&authorize, &[], true).await;
    assert_is_redirect_to(&other.follow(&callback).await, "/memoram/access");
    // Only a path of this app is kept.
    assert_is_redirect_to(
        &app.get("/memoram/access?return_to=%2F%2Fevil.example%2F")
            .await,
        "/memories",
    );
}

/// Connected to Memoram, the access not approved yet: its pages (and Ask, with nothing else to
/// search) send the browser to the waiting page, which says what to do.
#[tokio::test]
async fn with_memoram_pending_its_pages_and_ask_lead_to_the_waiting_page() {
    let app = app().await;
    app.connect_memoram().await;
    assert_is_redirect_to(&app.get("/memories").await, "/memoram/access");
    assert_is_redirect_to(&app.get("/ask").await, "/memoram/access");
    assert_asks_to_connect(
        app.get("/mementos").await,
        "/auth/rememberizer",
        "/mementos",
    )
    .await;
}

/// The links of the main navigation, in order (the Log out button is not a link).
pub fn nav_items(html: &str) -> Vec<String> {
    let Some(start) = html.find("<nav aria-label=\"Main\">") else {
        return Vec::new();
    };
    let nav = &html[start..];
    let nav = &nav[..nav.find("</nav>").expect("the nav ends")];
    nav.split("<a ")
        .skip(1)
        .map(|a| {
            let text = &a[a.find('>').expect("tag") + 1..];
            text[..text.find("</a>").expect("link ends")]
                .trim()
                .to_owned()
        })
        .collect()
}

fn connect_href(html: &str, route: &str) -> String {
    hrefs(html)
        .into_iter()
        .find(|h| h.starts_with(&format!("{route}?return_to=")))
        .expect("a connect link")
}

/// Each combination of connections, by the items of the menu on the landing page and on a
/// page every connected browser can open.
#[tokio::test]
async fn the_menu_offers_only_what_can_be_used_now() {
    let app = app().await;
    let (_, html) = app.get_html("/").await;
    assert!(nav_items(&html).is_empty(), "none: {html}");
    assert!(!html.contains("Log out"));

    // Memoram pending only: nothing to use yet; Log out stays.
    let pending = app.second_browser();
    pending.connect_memoram().await;
    let (_, html) = pending.get_html("/").await;
    assert!(
        nav_items(&html).is_empty(),
        "pending: {:?}",
        nav_items(&html)
    );
    assert!(html.contains("Log out"));
    let (_, html) = pending.get_html("/memoram/access").await;
    assert!(
        nav_items(&html).is_empty(),
        "pending: {:?}",
        nav_items(&html)
    );

    // Memoram approved only.
    let memoram = app.second_browser();
    memoram.connect_memoram_approved().await;
    for page in ["/", "/memories"] {
        let (_, html) = memoram.get_html(page).await;
        assert_eq!(nav_items(&html), ["Ask", "Memoram memories"], "{page}");
    }

    // Rememberizer only.
    app.connect().await;
    for page in ["/", "/dashboard"] {
        let (_, html) = app.get_html(page).await;
        assert_eq!(
            nav_items(&html),
            ["Ask", "Documents", "Mementos", "New note"],
            "{page}"
        );
    }

    // Both; and back to Rememberizer's items only while a new access request waits.
    let request = app.connect_memoram_approved().await;
    let both = [
        "Ask",
        "Documents",
        "Mementos",
        "New note",
        "Memoram memories",
    ];
    for page in ["/", "/dashboard", "/memories", "/ask"] {
        let (_, html) = app.get_html(page).await;
        assert_eq!(nav_items(&html), both, "{page}");
    }
    assert!(app.mem().revoke(&request));
    let (_, html) = app.get_html("/").await;
    assert_eq!(
        nav_items(&html),
        ["Ask", "Documents", "Mementos", "New note"],
        "revoked"
    );
}

/// In a browser with JavaScript off, keyboard only: the offer, the consent, and back on the
/// page asked for.
#[tokio::test]
async fn with_javascript_off_the_offer_leads_back_to_the_page_by_keyboard() {
    let app = app().await;
    let options = BrowserOptions {
        javascript: false,
        ..BrowserOptions::default()
    };
    let browser = Browser::start_with(1280, 900, options).await;
    browser.goto(&app.url("/mementos?from=menu")).await;
    let heading = browser.wait_for("h1").await.text().await.expect("text");
    assert_eq!(heading, "Connect Rememberizer to see your mementos");
    browser.screenshot("connect-first").await;
    press_enter_on(
        &browser,
        "a.button.primary[href^='/auth/rememberizer?return_to=']",
    )
    .await;
    let first: Vec<u64> = app.sim.mementos().iter().take(1).map(|m| m.id).collect();
    tick(&browser, &first).await;
    allow(&browser).await;
    browser
        .wait_for_path(&app.address, "/mementos?from=menu")
        .await;
    let heading = browser.wait_for("h1").await.text().await.expect("text");
    assert_eq!(heading, "Mementos and integrations");
    browser.close().await;
}
