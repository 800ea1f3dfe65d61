//! WCAG 2.2 AA in a real Chromium: axe-core run on every page a person can reach, at a desktop
//! and a phone width, in the light and the dark theme.
//!
//! axe-core comes from the npm registry, pinned in `tests/browser-deps/package-lock.json`
//! (`bash scripts/test` runs `npm ci` there when it is missing). Its script is executed in the
//! page the test drives, as a browser extension would inject it: the app's pages never link it.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Value};

use crate::browser::*;
use crate::helpers::*;

/// The rule sets the issue asks for: WCAG 2.0, 2.1 and 2.2 A and AA, and Deque's best practices.
const AXE_TAGS: &[&str] = &[
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22aa",
    "best-practice",
];

/// The text of `axe.min.js`, read once.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser-deps/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}): run `npm ci --prefix tests/browser-deps` \
                 (bash scripts/test does it)",
                path.display()
            )
        })
    })
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Theme {
    Light,
    Dark,
}

/// Has the browser report `prefers-color-scheme: dark` (or light) to every page from now on, and
/// checks that the page really switched: its background is the theme's.
pub(crate) async fn use_theme(browser: &Browser, theme: Theme) {
    let value = match theme {
        Theme::Light => "light",
        Theme::Dark => "dark",
    };
    browser
        .client
        // A DevTools command, through chromedriver.
        .issue_cmd(SessionCommand {
            path: "goog/cdp/execute",
            body: json!({
                "cmd": "Emulation.setEmulatedMedia",
                "params": { "features": [{ "name": "prefers-color-scheme", "value": value }] },
            }),
        })
        .await
        .expect("emulate the colour scheme");
    let dark = browser
        .eval("return window.matchMedia('(prefers-color-scheme: dark)').matches")
        .await;
    assert_eq!(dark, json!(theme == Theme::Dark), "the theme switched");
}

/// The page's background colour as the browser computed it.
async fn body_background(browser: &Browser) -> Value {
    browser
        .eval("return getComputedStyle(document.body).backgroundColor")
        .await
}

/// axe-core's violations on the page the browser shows, one line each: rule, impact, help and
/// the elements at fault.
pub(crate) async fn axe_violations(browser: &Browser) -> Vec<String> {
    let loaded = browser
        .client
        .execute(
            &format!("{}\nreturn typeof window.axe;", axe_source()),
            vec![],
        )
        .await
        .expect("load axe-core into the page");
    assert_eq!(loaded, json!("object"), "axe-core is loaded");
    let results = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })
               .then(r => done(r.violations.map(v => ({
                   id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + (n.failureSummary || '').replace(/\\s+/g, ' '))
               }))))
               .catch(e => done({ error: String(e) }));",
            vec![json!(AXE_TAGS)],
        )
        .await
        .expect("axe.run");
    let violations = results
        .as_array()
        .unwrap_or_else(|| panic!("axe.run failed: {results}"));
    violations
        .iter()
        .map(|v| {
            let nodes: Vec<String> = v["nodes"]
                .as_array()
                .map(|n| {
                    n.iter()
                        .map(|n| format!("\n      {}", n.as_str().unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            format!(
                "{} ({}): {}{}",
                v["id"].as_str().unwrap_or("?"),
                v["impact"].as_str().unwrap_or("?"),
                v["help"].as_str().unwrap_or("?"),
                nodes.concat()
            )
        })
        .collect()
}

/// axe's violations, and whether the page scrolls sideways (WCAG 1.4.10, reflow).
async fn page_problems(browser: &Browser) -> Vec<String> {
    let mut problems = axe_violations(browser).await;
    let widths = browser
        .eval("return [document.documentElement.scrollWidth, window.innerWidth]")
        .await;
    if widths[0].as_f64() > widths[1].as_f64() {
        problems.push(format!("reflow: the page scrolls sideways ({widths})"));
    }
    problems
}

/// Everything a person can reach, signed out and then connected to both services, checked by
/// axe at `width`, light theme then dark, and checked for sideways scrolling. Reports every
/// problem of every page at once.
async fn every_page_passes_axe_at(width: u32, height: u32) {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        with_simulated_answers,
    )
    .await;
    let browser = Browser::start_sized(width, height).await;
    let mut report: Vec<String> = Vec::new();
    let mut counts: Vec<String> = Vec::new();
    let mut check = |page: String, violations: Vec<String>| {
        counts.push(format!("{page}: {}", violations.len()));
        report.extend(violations.into_iter().map(|v| format!("{page}: {v}")));
    };

    // Signed out.
    for theme in [Theme::Light, Theme::Dark] {
        browser.goto(&app.url("/")).await;
        browser.wait_for("main").await;
        use_theme(&browser, theme).await;
        // The pages that need a connection offer it (one service, or either for Ask).
        for path in [
            "/",
            "/no-such-page",
            "/dashboard?integration_type=slack",
            "/ask",
        ] {
            browser.goto(&app.url(path)).await;
            browser.wait_for("main").await;
            check(
                format!("{path} signed out [{width}px {theme:?}]"),
                page_problems(&browser).await,
            );
        }
        // Consent declined: the friendly page the app shows.
        browser.goto(&app.url("/auth/rememberizer")).await;
        click(&browser, "button[value=deny]").await;
        browser.wait_for("#declined").await;
        check(
            format!("declined consent [{width}px {theme:?}]"),
            page_problems(&browser).await,
        );
    }

    // Connected to both (the waiting page, pending, is checked at the end, asked again).
    use_theme(&browser, Theme::Light).await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    let request = connect_memoram_in_browser(&browser, &app).await;
    browser.goto(&app.url("/dashboard")).await;
    let document = browser
        .wait_for("table.documents a[href^='/documents/']")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a document link");
    let discussion = browser
        .wait_for("table.documents a[href^='/discussions/']")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a channel link");
    browser.goto(&app.url("/memories")).await;
    let memory = browser
        .wait_for("table.memories a[href^='/memories/']")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a memory link");
    let pages: Vec<(String, &str)> = vec![
        ("/".to_owned(), "main"),
        ("/dashboard".to_owned(), "table.documents"),
        ("/dashboard?integration_type=no-such".to_owned(), "main"),
        (document.clone(), "div.document-text"),
        (discussion.clone(), "main"),
        ("/mementos".to_owned(), "main"),
        ("/ask".to_owned(), "#q"),
        (
            "/ask?q=How+does+the+deploy+rollback+work%3F".to_owned(),
            ".answer-done",
        ),
        ("/ask?q=zzzxqqy".to_owned(), "main"),
        ("/memorize".to_owned(), "#name"),
        ("/memories".to_owned(), "table.memories"),
        (memory.clone(), "#memory-content"),
        (format!("{memory}/edit"), "#save-memory"),
        ("/memories/new".to_owned(), "#save-memory"),
        ("/memories/tags".to_owned(), "main"),
        ("/no-such-page".to_owned(), "section.error"),
        // The confirmation pages of the destructive actions (issue 29, item 4).
        (
            "/auth/rememberizer/disconnect".to_owned(),
            "#confirm-button",
        ),
        ("/auth/memoram/disconnect".to_owned(), "#confirm-button"),
        (format!("{memory}/delete"), "#confirm-button"),
    ];
    for theme in [Theme::Light, Theme::Dark] {
        use_theme(&browser, theme).await;
        for (path, ready) in &pages {
            browser.goto(&app.url(path)).await;
            browser.wait_for(ready).await;
            check(
                format!("{path} [{width}px {theme:?}]"),
                page_problems(&browser).await,
            );
        }
        // The theme really is the one asked for, on the last page too.
        let background = body_background(&browser).await;
        let expected = match theme {
            Theme::Light => "rgb(247, 247, 251)",
            Theme::Dark => "rgb(20, 20, 28)",
        };
        assert_eq!(background, json!(expected), "{theme:?} background");
    }
    // Access revoked in Memoram's dashboard: the access page and the landing page say so.
    assert!(app.mem().revoke(&request));
    for theme in [Theme::Light, Theme::Dark] {
        use_theme(&browser, theme).await;
        for (path, ready) in [
            ("/memoram/access", "[data-status=revoked]"),
            ("/", "[data-memoram=revoked]"),
        ] {
            browser.goto(&app.url(path)).await;
            browser.wait_for(ready).await;
            check(
                format!("{path} revoked [{width}px {theme:?}]"),
                page_problems(&browser).await,
            );
        }
    }
    // Asked again: the waiting page, pending (it ends at once here, with "check now").
    browser.goto(&app.url("/memoram/access")).await;
    click(&browser, "#ask-again").await;
    for theme in [Theme::Light, Theme::Dark] {
        use_theme(&browser, theme).await;
        browser.goto(&app.url("/memoram/access")).await;
        browser.wait_for("#watch-note").await;
        check(
            format!("/memoram/access pending [{width}px {theme:?}]"),
            page_problems(&browser).await,
        );
    }
    eprintln!("axe violations per page:\n  {}", counts.join("\n  "));
    assert!(
        report.is_empty(),
        "{} axe violations:\n{}",
        report.len(),
        report.join("\n")
    );
    browser.close().await;
}

#[tokio::test]
async fn every_page_passes_axe_on_a_desktop_in_both_themes() {
    every_page_passes_axe_at(1280, 900).await;
}

#[tokio::test]
async fn every_page_passes_axe_on_a_phone_in_both_themes() {
    every_page_passes_axe_at(390, 844).await;
}

/// The positive control: a page with faults axe knows (a button without a name, text too faint
/// to read) and a page wider than the window are reported, so the checks above can fail.
#[tokio::test]
async fn axe_reports_a_fault_put_into_a_page() {
    let app = spawn_app().await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    browser.wait_for("main").await;
    assert_eq!(axe_violations(&browser).await, Vec::<String>::new());
    browser
        .eval(
            "const p = document.createElement('p'); p.textContent = 'faint'; \
             p.style.color = '#eeeeee'; p.style.background = '#ffffff'; \
             document.querySelector('main').appendChild(p); \
             const b = document.createElement('button'); \
             document.querySelector('main').appendChild(b);",
        )
        .await;
    let violations = axe_violations(&browser).await;
    assert!(
        violations.iter().any(|v| v.starts_with("color-contrast")),
        "{violations:#?}"
    );
    assert!(
        violations.iter().any(|v| v.starts_with("button-name")),
        "{violations:#?}"
    );
    // And a page wider than the window is caught too.
    browser
        .eval(
            "const wide = document.createElement('div'); wide.style.width = '3000px'; \
             wide.textContent = 'wide'; document.querySelector('main').appendChild(wide);",
        )
        .await;
    let problems = page_problems(&browser).await;
    assert!(
        problems.iter().any(|p| p.starts_with("reflow")),
        "{problems:#?}"
    );
    browser.close().await;
}

/// What the focused element's outline looks like, and the colour it is drawn on: the first
/// ancestor with a background (the outline sits 2 px outside the control).
const FOCUSED: &str = "
    const e = document.activeElement;
    if (!e || e === document.body || e === document.documentElement) return null;
    if (e.dataset.focusSeen) return { seen: true };
    e.dataset.focusSeen = 'yes';
    const s = getComputedStyle(e);
    let background = null;
    for (let el = e.parentElement; el && !background; el = el.parentElement) {
        const c = getComputedStyle(el).backgroundColor;
        if (c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') background = c;
    }
    return {
        seen: false,
        element: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' “' +
            (e.innerText || e.value || e.name || '').trim().slice(0, 30) + '”',
        color: s.outlineColor, style: s.outlineStyle, width: parseFloat(s.outlineWidth),
        background: background || getComputedStyle(document.documentElement).backgroundColor,
    };";

/// `rgb(r, g, b)` or `rgba(r, g, b, 1)` as three channels.
fn rgb(css: &str) -> [f64; 3] {
    let inner = css
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| {
            p.trim()
                .parse()
                .unwrap_or_else(|_| panic!("a colour: {css}"))
        })
        .collect();
    assert!(
        parts.len() == 3 || parts.get(3) == Some(&1.0),
        "an opaque colour: {css}"
    );
    [parts[0], parts[1], parts[2]]
}

/// WCAG 2's contrast ratio of two colours.
pub(crate) fn contrast(a: &str, b: &str) -> f64 {
    let luminance = |c: [f64; 3]| {
        let channel = |v: f64| {
            let v = v / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])
    };
    let (a, b) = (luminance(rgb(a)), luminance(rgb(b)));
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

/// Tabs through the whole page and returns, for each control focused, a problem if its focus
/// outline is missing, thinner than 2 px or below 3:1 against what it is drawn on; and the
/// lowest ratio seen.
async fn focus_problems(browser: &Browser, page: &str) -> (Vec<String>, f64, usize) {
    let mut problems = Vec::new();
    let mut lowest = f64::INFINITY;
    let mut controls = 0;
    for _ in 0..150 {
        browser
            .client
            .active_element()
            .await
            .expect("active element")
            .send_keys(&fantoccini::key::Key::Tab.to_string())
            .await
            .expect("tab");
        let focused = browser.eval(FOCUSED).await;
        if focused.is_null() {
            if controls > 0 {
                break;
            }
            continue;
        }
        if focused["seen"] == json!(true) {
            break;
        }
        controls += 1;
        let element = focused["element"].as_str().unwrap_or("?");
        let color = focused["color"].as_str().unwrap_or("?");
        let background = focused["background"].as_str().unwrap_or("?");
        let ratio = contrast(color, background);
        lowest = lowest.min(ratio);
        let width = focused["width"].as_f64().unwrap_or(0.0);
        if focused["style"] == json!("none") || width < 2.0 || ratio < 3.0 {
            problems.push(format!(
                "{page}: {element}: outline {} {width}px {color} on {background}: {ratio:.2}:1",
                focused["style"]
            ));
        }
    }
    assert!(controls > 0, "{page}: no control took the focus");
    (problems, lowest, controls)
}

/// Focus visible at 3:1 (WCAG 2.2, 2.4.13's figure, asked by issue 29) on every control of the
/// main pages, reached with the Tab key, in both themes.
#[tokio::test]
async fn the_focus_outline_stands_out_at_3_to_1_on_every_control_in_both_themes() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        with_simulated_answers,
    )
    .await;
    let browser = Browser::start().await;
    browser.goto(&app.url("/")).await;
    browser.wait_for("main").await;
    let mut problems = Vec::new();
    let mut figures = Vec::new();
    for theme in [Theme::Light, Theme::Dark] {
        use_theme(&browser, theme).await;
        browser.goto(&app.url("/")).await;
        browser.wait_for("main").await;
        let (found, lowest, controls) = focus_problems(&browser, "/ signed out").await;
        figures.push(format!(
            "/ signed out {theme:?}: {controls} controls, lowest {lowest:.2}:1"
        ));
        problems.extend(found);
    }
    use_theme(&browser, Theme::Light).await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    connect_memoram_in_browser(&browser, &app).await;
    browser.goto(&app.url("/memories")).await;
    let memory = browser
        .wait_for("table.memories a[href^='/memories/']")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a memory link");
    let pages = [
        "/".to_owned(),
        "/dashboard".to_owned(),
        "/mementos".to_owned(),
        "/ask?q=How+does+the+deploy+rollback+work%3F".to_owned(),
        "/memorize".to_owned(),
        "/memories".to_owned(),
        memory.clone(),
        "/memories/new".to_owned(),
        format!("{memory}/delete"),
        "/auth/rememberizer/disconnect".to_owned(),
    ];
    for theme in [Theme::Light, Theme::Dark] {
        use_theme(&browser, theme).await;
        for page in &pages {
            browser.goto(&app.url(page)).await;
            browser.wait_for("footer").await;
            let (found, lowest, controls) = focus_problems(&browser, page).await;
            figures.push(format!(
                "{page} {theme:?}: {controls} controls, lowest {lowest:.2}:1"
            ));
            problems.extend(found);
        }
    }
    eprintln!("focus outlines:\n  {}", figures.join("\n  "));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    browser.close().await;
}

/// Every cell of every table on the page at phone width, as the phone CSS shows it: the label
/// printed before it (`::before`), the cell's own text and its column's name.
const PHONE_CELLS: &str = "
    const cells = [];
    for (const table of document.querySelectorAll('main table')) {
        const names = [...table.querySelectorAll('thead th')].map(th => th.textContent.trim());
        const headerShown = table.tHead && getComputedStyle(table.tHead).display !== 'none';
        for (const row of table.tBodies[0].rows) {
            [...row.cells].forEach((td, i) => cells.push({
                column: names[i] || '',
                before: getComputedStyle(td, '::before').content,
                label: td.dataset.label === undefined ? null : td.dataset.label,
                text: td.innerText.trim(),
                headerShown,
            }));
        }
    }
    return cells;";

/// On a phone the tables' header rows are hidden and each cell prints its column's name: every
/// cell but the first (the row's name) says which column it is, in the header's words, and no
/// cell starts with a bare ": ".
#[tokio::test]
async fn every_table_names_its_columns_on_a_phone() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let browser = Browser::start_sized(390, 844).await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    connect_memoram_in_browser(&browser, &app).await;
    let mut problems = Vec::new();
    for (page, table) in [
        ("/dashboard", "table.documents"),
        ("/mementos", "table.documents"),
        ("/memories", "table.memories"),
    ] {
        browser.goto(&app.url(page)).await;
        browser.wait_for(table).await;
        let cells = browser.eval(PHONE_CELLS).await;
        let cells = cells.as_array().expect("a list of cells");
        assert!(!cells.is_empty(), "{page}: a table with rows");
        for cell in cells {
            let column = cell["column"].as_str().unwrap_or_default();
            let before = cell["before"].as_str().unwrap_or_default();
            let first = column == cells[0]["column"].as_str().unwrap_or_default();
            if before.trim_start_matches('"').starts_with(':') {
                problems.push(format!("{page}: a stray \": \" before {cell}"));
            }
            if cell["headerShown"] == json!(true) {
                problems.push(format!("{page}: the header row shows at 390 px"));
            } else if !first && cell["label"] != json!(column) {
                problems.push(format!("{page}: {column:?} cell not named {cell}"));
            } else if !first && !before.contains(column) {
                problems.push(format!("{page}: {column:?} not printed before {cell}"));
            }
        }
    }
    browser.screenshot("memories-phone").await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    browser.close().await;
}

/// How a field looks: its height and the styles a person sees.
const FIELD_LOOK: &str = "
    const e = document.querySelector(arguments[0]);
    const s = getComputedStyle(e);
    return {
        height: e.getBoundingClientRect().height,
        look: [s.fontSize, s.fontFamily, s.paddingLeft, s.borderTopWidth, s.borderTopColor,
               s.borderTopLeftRadius, s.backgroundColor, s.color].join(' | '),
    };";

/// Number and date fields look like the text fields beside them and, on a phone, are at least
/// 44 px tall (as every field is); numbers take any value in range (0.33, 0.25), not only the
/// multiples of a step.
#[tokio::test]
async fn number_and_date_fields_look_like_the_others_and_take_any_value_in_range() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    for width in [390, 1280] {
        let browser = Browser::start_sized(width, 844).await;
        connect_in_browser(&browser, &app, &big_mementos(&app)).await;
        connect_memoram_in_browser(&browser, &app).await;
        let mut problems = Vec::new();
        // Each page: the text field every other field must look like, then the others.
        for (page, reference, fields) in [
            (
                "/memories/new",
                "#title",
                &[
                    "#content",
                    "#summary",
                    "#importance",
                    "#confidence",
                    "#source",
                ][..],
            ),
            ("/ask", "#q", &["#n", "#from", "#to"][..]),
            ("/memories", "#q", &["#tag", "#importance"][..]),
            ("/memorize", "#name", &["#content"][..]),
            ("/dashboard", "#integration_type", &[][..]),
        ] {
            browser.goto(&app.url(page)).await;
            browser.wait_for(reference).await;
            let expected = browser
                .client
                .execute(FIELD_LOOK, vec![json!(reference)])
                .await
                .expect("look");
            for field in std::iter::once(&reference).chain(fields) {
                let look = browser
                    .client
                    .execute(FIELD_LOOK, vec![json!(field)])
                    .await
                    .expect("look");
                let height = look["height"].as_f64().unwrap_or_default();
                if width < 500 && height < 44.0 {
                    problems.push(format!("{page} {field}: {height} px tall at {width} px"));
                }
                if look["look"] != expected["look"] {
                    problems.push(format!(
                        "{page} {field}: {} unlike {reference}: {}",
                        look["look"], expected["look"]
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        if width < 500 {
            browser.goto(&app.url("/memories/new")).await;
            browser.wait_for("#importance").await;
            browser.screenshot("memory-form-phone").await;
            continue;
        }

        // Any value in range: the browser lets the form go, and the app keeps it.
        browser.goto(&app.url("/memories/new")).await;
        fill(&browser, "#title", "Thirds").await;
        fill(&browser, "#content", "A third of the way there.").await;
        fill(&browser, "#importance", "0.33").await;
        fill(&browser, "#confidence", "0.77").await;
        let valid = browser
            .eval("return document.querySelector('form.stacked').checkValidity()")
            .await;
        assert_eq!(valid, json!(true), "0.33 and 0.77 are accepted");
        click(&browser, "#save-memory").await;
        browser.wait_for(".success").await;
        let facts = browser
            .wait_for("dl.facts")
            .await
            .text()
            .await
            .expect("text");
        assert!(facts.contains("0.33") && facts.contains("0.77"), "{facts}");
        browser.goto(&app.url("/memories")).await;
        fill(&browser, "form.filter #importance", "0.25").await;
        let valid = browser
            .eval("return document.querySelector('form.filter').checkValidity()")
            .await;
        assert_eq!(valid, json!(true), "0.25 is accepted");
        click(&browser, "form.filter button[type=submit]").await;
        browser
            .wait_for_path(&app.address, "/memories?q=&tag=&importance=0.25")
            .await;
        browser.close().await;
    }
}

/// Every link on the page that opens a new tab: its accessible text (what a screen reader
/// reads: `aria-label` if it has one, else its text, hidden parts included) and its size.
const NEW_TAB_LINKS: &str = "
    const text = (a, skip) => [...a.childNodes]
        .filter(n => n.nodeType === Node.TEXT_NODE || !n.matches(skip))
        .map(n => n.textContent).join('').replace(/\\s+/g, ' ').trim();
    return [...document.querySelectorAll('a[target=_blank]')].map(a => {
        const r = a.getBoundingClientRect();
        const hidden = [...a.querySelectorAll('.visually-hidden')]
            .every(h => h.getBoundingClientRect().width <= 1);
        return {
            name: a.getAttribute('aria-label') || text(a, '[aria-hidden=true]'),
            shown: hidden ? text(a, '.visually-hidden') : a.innerText,
            width: r.width, height: r.height, external: a.classList.contains('external'),
        };
    });";

/// The dashboard's "↗" links are targets of at least 24 × 24 px on a phone and a desktop, and
/// every link that opens a new tab says so (hidden text, as GOV.UK's pattern has it) on the
/// dashboard, a document, a channel and the Memoram waiting page.
#[tokio::test]
async fn new_tab_links_say_so_and_the_small_links_are_24_px_targets() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let mut sizes = Vec::new();
    for width in [390, 1280] {
        let browser = Browser::start_sized(width, 844).await;
        connect_in_browser(&browser, &app, &big_mementos(&app)).await;
        browser.goto(&app.url("/dashboard")).await;
        let document = browser
            .wait_for("table.documents a[href^='/documents/']")
            .await
            .attr("href")
            .await
            .expect("href")
            .expect("a document");
        let discussion = browser
            .wait_for("table.documents a[href^='/discussions/']")
            .await
            .attr("href")
            .await
            .expect("href")
            .expect("a channel");
        let mut problems = Vec::new();
        let mut pages = vec!["/dashboard".to_owned(), document, discussion];
        if width > 500 {
            pages.push("/memoram/access".to_owned());
        }
        for page in &pages {
            if page == "/memoram/access" {
                // The waiting page: Memoram connected, its access request not yet approved.
                browser.goto(&app.url("/auth/memoram")).await;
                click(&browser, "#authorize").await;
                browser.wait_for_path(&app.address, "/memoram/access").await;
            } else {
                browser.goto(&app.url(page)).await;
            }
            browser.wait_for("a[target=_blank]").await;
            let links = browser.eval(NEW_TAB_LINKS).await;
            for link in links.as_array().expect("links") {
                let name = link["name"].as_str().unwrap_or_default();
                if !name.ends_with("(opens in new tab)") {
                    problems.push(format!("{page}: {name:?} does not say it opens a new tab"));
                }
                if link["shown"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("opens in new tab")
                {
                    problems.push(format!("{page}: {name:?} shows the hint"));
                }
                let (w, h) = (
                    link["width"].as_f64().unwrap_or_default(),
                    link["height"].as_f64().unwrap_or_default(),
                );
                if link["external"] == json!(true) {
                    sizes.push((w, h));
                    if w < 24.0 || h < 24.0 {
                        problems.push(format!("{page}: ↗ is {w} × {h} px at {width} px"));
                    }
                }
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        browser.close().await;
    }
    assert!(sizes.len() > 2, "the dashboard has ↗ links");
    let smallest = sizes.iter().fold((f64::INFINITY, f64::INFINITY), |a, s| {
        (a.0.min(s.0), a.1.min(s.1))
    });
    eprintln!("the smallest ↗ target: {} × {} px", smallest.0, smallest.1);
}

/// What a page says it is: its `<h1>`s, the menu items marked current and its description.
const PAGE_IDENTITY: &str = "
    return {
        headings: [...document.querySelectorAll('h1')].map(h => h.innerText.trim()),
        current: [...document.querySelectorAll('[aria-current]')]
            .map(a => a.getAttribute('href') + ' ' + a.getAttribute('aria-current')),
        description: (document.querySelector('meta[name=description]') || {}).content || '',
    };";

/// Each page has one `<h1>` naming what the page is (the dashboard's is "Documents", not the
/// person's name, which it still shows), marks its menu item `aria-current="page"` (a page
/// under it, such as a document, `"true"`), and has a meta description.
#[tokio::test]
async fn each_page_names_itself_once_and_marks_its_menu_item() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let browser = Browser::start().await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    connect_memoram_in_browser(&browser, &app).await;
    browser.goto(&app.url("/dashboard")).await;
    let document = browser
        .wait_for("table.documents a[href^='/documents/']")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a document");
    let account = browser
        .wait_for("#account")
        .await
        .text()
        .await
        .expect("text");
    assert!(account.contains("Ada Lovelace"), "{account}");
    browser.goto(&app.url("/memories")).await;
    let memory = browser
        .wait_for("table.memories a[href^='/memories/']")
        .await
        .attr("href")
        .await
        .expect("href")
        .expect("a memory");
    let pages: Vec<(String, &str, Option<&str>)> = vec![
        ("/".to_owned(), "Welcome back", None),
        (
            "/dashboard".to_owned(),
            "Documents (",
            Some("/dashboard page"),
        ),
        (document, "", Some("/dashboard true")),
        ("/mementos".to_owned(), "Mementos", Some("/mementos page")),
        ("/ask".to_owned(), "Ask", Some("/ask page")),
        ("/ask?q=rollback".to_owned(), "Ask", Some("/ask page")),
        ("/memorize".to_owned(), "New note", Some("/memorize page")),
        ("/memories".to_owned(), "memories", Some("/memories page")),
        (memory.clone(), "", Some("/memories true")),
        (
            "/memories/new".to_owned(),
            "New memory",
            Some("/memories true"),
        ),
        ("/memories/tags".to_owned(), "tags", Some("/memories true")),
        ("/no-such-page".to_owned(), "not found", None),
        (
            "/auth/rememberizer/disconnect".to_owned(),
            "Disconnect Rememberizer?",
            None,
        ),
        (
            "/auth/memoram/disconnect".to_owned(),
            "Disconnect Memoram?",
            None,
        ),
        (
            format!("{memory}/delete"),
            "Delete this memory?",
            Some("/memories true"),
        ),
    ];
    let mut problems = Vec::new();
    for (page, heading, current) in &pages {
        browser.goto(&app.url(page)).await;
        browser.wait_for("footer").await;
        let identity = browser.eval(PAGE_IDENTITY).await;
        let headings: Vec<&str> = identity["headings"]
            .as_array()
            .map(|h| h.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if headings.len() != 1 || !headings[0].contains(heading) {
            problems.push(format!(
                "{page}: h1 {headings:?}, expected one with {heading:?}"
            ));
        }
        let marked: Vec<&str> = identity["current"]
            .as_array()
            .map(|c| c.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if marked != current.iter().copied().collect::<Vec<_>>() {
            problems.push(format!("{page}: current {marked:?}, expected {current:?}"));
        }
        if identity["description"].as_str().unwrap_or_default().len() < 50 {
            problems.push(format!("{page}: description {}", identity["description"]));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    browser.close().await;
}

/// The form page after a refused submission, as the GOV.UK error pattern checks it.
const ERROR_STATE: &str = "
    const main = document.querySelector('main');
    const summary = document.querySelector('.error-summary');
    const field = document.getElementById(arguments[0]);
    const describedBy = (field.getAttribute('aria-describedby') || '').split(' ');
    return {
        title: document.title,
        summaryFirst: main.firstElementChild === summary,
        summaryRole: summary && summary.getAttribute('role'),
        links: summary ? [...summary.querySelectorAll('a')].map(a => a.getAttribute('href')) : [],
        invalid: field.getAttribute('aria-invalid'),
        message: describedBy.map(id => document.getElementById(id))
            .filter(e => e && e.classList.contains('field-error'))
            .map(e => e.textContent.replace(/\\s+/g, ' ').trim()).join(' '),
        focused: document.activeElement.id,
    };";

/// A refused form, GOV.UK's way: the title starts "Error: ", an error summary comes first in
/// the main content with a link to each field at fault, each such field is aria-invalid and
/// described by its message, the first is focused (`autofocus`: the app ships no JavaScript,
/// so this is what a person without it gets too), and what was typed stays. axe finds nothing
/// on these pages either.
#[tokio::test]
async fn a_refused_form_summarises_its_errors_first_and_ties_each_to_its_field() {
    let app = spawn_app_with_memoram(
        simulators::memoram::MemoramSimulatorConfig::default(),
        |_| {},
    )
    .await;
    let browser = Browser::start().await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    connect_memoram_in_browser(&browser, &app).await;

    // A memory with an importance out of range.
    browser.goto(&app.url("/memories/new")).await;
    fill(&browser, "#title", "Kept title").await;
    fill(&browser, "#content", "Kept content").await;
    fill(&browser, "#importance", "1.5").await;
    click(&browser, "#save-memory").await;
    browser.wait_for(".error-summary").await;
    let state = browser
        .client
        .execute(ERROR_STATE, vec![json!("importance")])
        .await
        .expect("state");
    assert!(
        state["title"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Error: "),
        "{state}"
    );
    assert_eq!(state["summaryFirst"], json!(true), "{state}");
    assert_eq!(state["summaryRole"], json!("alert"), "{state}");
    assert_eq!(state["links"], json!(["#importance"]), "{state}");
    assert_eq!(state["invalid"], json!("true"), "{state}");
    assert!(
        state["message"]
            .as_str()
            .unwrap_or_default()
            .contains("must be a number from 0 to 1"),
        "{state}"
    );
    assert_eq!(state["focused"], json!("importance"), "{state}");
    for (field, typed) in [
        ("#title", "Kept title"),
        ("#content", "Kept content"),
        ("#importance", "1.5"),
    ] {
        let value = browser
            .wait_for(field)
            .await
            .prop("value")
            .await
            .expect("value");
        assert_eq!(value.as_deref(), Some(typed), "{field} kept");
    }
    let memory_form = axe_violations(&browser).await;
    // The other fields are not marked.
    let title_invalid = browser
        .eval("return document.getElementById('title').getAttribute('aria-invalid')")
        .await;
    assert_eq!(title_invalid, json!(null));

    // A note with neither name nor content: two errors, in the form's order.
    browser.goto(&app.url("/memorize")).await;
    click(&browser, "form.stacked button[type=submit]").await;
    browser.wait_for(".error-summary").await;
    let name = browser
        .client
        .execute(ERROR_STATE, vec![json!("name")])
        .await
        .expect("state");
    assert_eq!(name["links"], json!(["#name", "#content"]), "{name}");
    assert_eq!(name["invalid"], json!("true"), "{name}");
    assert_eq!(name["focused"], json!("name"), "the first field at fault");
    assert_eq!(
        name["message"],
        json!("Error: Give the note a name."),
        "{name}"
    );
    let content = browser
        .client
        .execute(ERROR_STATE, vec![json!("content")])
        .await
        .expect("state");
    assert_eq!(content["invalid"], json!("true"), "{content}");
    assert!(
        content["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no content"),
        "{content}"
    );
    let memorize = axe_violations(&browser).await;
    assert_eq!(
        (memory_form, memorize),
        (Vec::<String>::new(), Vec::<String>::new()),
        "axe on the error states"
    );
    browser.assert_no_csp_violations().await;
    browser.close().await;
}

/// The rendered size, in CSS pixels, of each text of the mementos chart: the SVG scales with
/// its width, so a label of 14 user units is smaller on screen when the chart is narrower.
const CHART_TEXT_SIZES: &str = "
    const svg = document.querySelector('.chart svg');
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    return [...svg.querySelectorAll('text')]
        .map(t => parseFloat(getComputedStyle(t).fontSize) * scale);";

/// The mementos chart's labels and values are readable on a phone (the issue measured about
/// 7 px at 390 px) and not oversized on a desktop: 12 to 20 px at both widths.
#[tokio::test]
async fn the_mementos_chart_text_is_readable_on_a_phone() {
    let app = spawn_app().await;
    for width in [390, 1280] {
        let browser = Browser::start_sized(width, 844).await;
        connect_in_browser(&browser, &app, &big_mementos(&app)).await;
        browser.goto(&app.url("/mementos")).await;
        browser.wait_for(".chart svg").await;
        let sizes: Vec<f64> = browser
            .eval(CHART_TEXT_SIZES)
            .await
            .as_array()
            .expect("sizes")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert!(!sizes.is_empty());
        eprintln!("chart text at {width} px: {sizes:?}");
        assert!(
            sizes.iter().all(|s| (12.0..=20.0).contains(s)),
            "at {width} px: {sizes:?}"
        );
        assert_no_horizontal_scroll(&browser, "mementos", width).await;
        browser.screenshot(&format!("mementos-{width}")).await;
        browser.close().await;
    }
}

#[tokio::test]
async fn every_page_passes_axe_on_a_small_phone_in_both_themes() {
    every_page_passes_axe_at(320, 640).await;
}

/// With JavaScript off, a refused note comes back the same way: the summary first, and the
/// focus on the first field at fault (`autofocus`), so typing goes straight into it.
#[tokio::test]
async fn with_javascript_off_a_refused_note_puts_the_focus_on_its_first_field() {
    let app = spawn_app().await;
    let browser = Browser::start_with(
        1280,
        900,
        BrowserOptions {
            return_at_once: false,
            javascript: false,
        },
    )
    .await;
    connect_in_browser(&browser, &app, &big_mementos(&app)).await;
    browser.goto(&app.url("/memorize")).await;
    fill(&browser, "#content", "A note with no name").await;
    click(&browser, "form.stacked button[type=submit]").await;
    let summary = browser
        .wait_for(".error-summary")
        .await
        .text()
        .await
        .expect("text");
    assert!(summary.contains("Give the note a name."), "{summary}");
    let focused = browser
        .client
        .active_element()
        .await
        .expect("the focused element");
    assert_eq!(
        focused.attr("id").await.expect("id").as_deref(),
        Some("name")
    );
    // Typing goes into the field at fault, then the note saves.
    focused.send_keys("Named at last").await.expect("type");
    click(&browser, "form.stacked button[type=submit]").await;
    browser.wait_for(".success").await;
    assert!(app
        .sim
        .documents()
        .iter()
        .any(|d| d.name == "Named at last"));
    browser.close().await;
}
