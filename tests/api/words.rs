//! One word for each thing (issue 29, item 10): the menu's labels name what each page is, the
//! page's `<h1>` and `<title>` say the same word, the current item is marked, and the old
//! near-synonyms ("Remember", "Memories") are gone from every page.

use reqwest::StatusCode;
use simulators::memoram::MemoramSimulatorConfig;

use crate::connect_first::nav_items;
use crate::helpers::spawn_app_with_memoram;

/// Each menu item: its label, its page, and the page's `<h1>`.
const MENU: &[(&str, &str, &str)] = &[
    ("Ask", "/ask", "Ask your mementos and memories"),
    ("Documents", "/dashboard", "Documents"),
    ("Mementos", "/mementos", "Mementos and integrations"),
    ("New note", "/memorize", "New note"),
    ("Memoram memories", "/memories", "Memoram memories"),
];

fn between<'a>(html: &'a str, open: &str, close: &str) -> &'a str {
    let start = html
        .find(open)
        .unwrap_or_else(|| panic!("{open} in {html}"))
        + open.len();
    let rest = &html[start..];
    let rest = &rest[rest.find('>').map_or(0, |i| i + 1)..];
    &rest[..rest.find(close).expect("closed")]
}

/// The words a person reads (tags left out).
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn the_menu_and_each_page_say_the_same_word_and_the_old_ones_are_gone() {
    let app = spawn_app_with_memoram(MemoramSimulatorConfig::default(), |_| {}).await;
    app.connect().await;
    app.connect_memoram_approved().await;
    let labels: Vec<&str> = MENU.iter().map(|(label, _, _)| *label).collect();
    let mut pages: Vec<String> = vec!["/".into(), "/memories/new".into(), "/memories/tags".into()];
    for (label, path, heading) in MENU {
        let (status, html) = app.get_html(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(nav_items(&html), labels, "{path}");
        let h1 = text(between(&html, "<h1", "</h1>"));
        assert!(h1.trim().starts_with(heading), "{path}: <h1> {h1:?}");
        let title = between(&html, "<title", "</title>");
        assert!(title.starts_with(label), "{path}: <title> {title:?}");
        assert!(
            html.contains(&format!(
                "<a href=\"{path}\" aria-current=\"page\">{label}</a>"
            )),
            "{path}: its menu item is the current page"
        );
        assert_eq!(html.matches("aria-current=").count(), 1, "{path}");
        pages.push((*path).to_owned());
    }
    // The page that saves a note says what it saves with.
    let (_, html) = app.get_html("/memorize").await;
    assert!(html.contains(">Save note</button>"), "{html}");
    for path in pages {
        let (_, html) = app.get_html(&path).await;
        let words = text(&html);
        for word in words.split(|c: char| !c.is_alphanumeric()) {
            assert_ne!(word, "Remember", "{path}: “Remember” is gone");
            assert_ne!(word, "Memories", "{path}: “Memories” alone is gone");
        }
    }
}
