//! Tera templates, compiled into the binary so it runs from any directory.
//!
//! Autoescaping is on for every template (they all end in `.html`), and nothing from the API is
//! ever marked `| safe`: names, paths and even the account name are untrusted text.

use actix_web::http::header::ContentType;
use actix_web::HttpResponse;
use serde::Serialize;
use tera::{Context, Tera};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("home.html", include_str!("../templates/home.html")),
    (
        "dashboard.html",
        include_str!("../templates/dashboard.html"),
    ),
    ("document.html", include_str!("../templates/document.html")),
    (
        "discussion.html",
        include_str!("../templates/discussion.html"),
    ),
    ("mementos.html", include_str!("../templates/mementos.html")),
    ("ask.html", include_str!("../templates/ask.html")),
    (
        "ask_answer_end.html",
        include_str!("../templates/ask_answer_end.html"),
    ),
    ("memorize.html", include_str!("../templates/memorize.html")),
    ("confirm.html", include_str!("../templates/confirm.html")),
    ("declined.html", include_str!("../templates/declined.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("connect.html", include_str!("../templates/connect.html")),
    (
        "error_summary.html",
        include_str!("../templates/error_summary.html"),
    ),
    (
        "memoram_access.html",
        include_str!("../templates/memoram_access.html"),
    ),
    (
        "memoram_watch_note.html",
        include_str!("../templates/memoram_watch_note.html"),
    ),
    ("memories.html", include_str!("../templates/memories.html")),
    ("memory.html", include_str!("../templates/memory.html")),
    (
        "memory_form.html",
        include_str!("../templates/memory_form.html"),
    ),
    (
        "memory_tags.html",
        include_str!("../templates/memory_tags.html"),
    ),
];

/// What went wrong with a submitted form, shown in the GOV.UK Design System's pattern: an error
/// summary first in the page, with a link to each field at fault, and a message beside each such
/// field, which is marked `aria-invalid` and described by it (`templates/error_summary.html`).
#[derive(Default)]
pub struct FormErrors {
    /// In the order the form asks for the fields; `None` for a problem with the whole form (it
    /// expired, the connection ended).
    items: Vec<(Option<&'static str>, String)>,
}

#[derive(Serialize)]
struct ErrorItem<'a> {
    field: Option<&'static str>,
    message: &'a str,
}

impl FormErrors {
    /// A problem with the field whose `id` (and `name`) is `field`.
    pub fn field(mut self, field: &'static str, message: impl Into<String>) -> Self {
        self.items.push((Some(field), message.into()));
        self
    }

    /// A problem with the whole form.
    pub fn form(mut self, message: impl Into<String>) -> Self {
        self.items.push((None, message.into()));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// `errors` (the summary's list), `field_errors` (each field's message) and `first_invalid`
    /// (the field that takes the focus: `autofocus` works without JavaScript).
    pub fn insert_into(&self, context: &mut Context) {
        let errors: Vec<ErrorItem> = self
            .items
            .iter()
            .map(|(field, message)| ErrorItem {
                field: *field,
                message,
            })
            .collect();
        let mut by_field = std::collections::BTreeMap::new();
        for (field, message) in &self.items {
            if let Some(field) = field {
                by_field.entry(*field).or_insert(message.as_str());
            }
        }
        let first_invalid = self.items.iter().find_map(|(field, _)| *field);
        context.insert("errors", &errors);
        context.insert("field_errors", &by_field);
        context.insert("first_invalid", &first_invalid);
    }
}

/// Bytes reserved for a rendered page: the dashboard with twenty rows is about 15 KiB.
const PAGE_CAPACITY: usize = 16 * 1024;

pub struct Templates(Tera);

impl Templates {
    pub fn new() -> Result<Self, tera::Error> {
        let mut tera = Tera::default();
        tera.add_raw_templates(TEMPLATES.iter().copied())?;
        tera.autoescape_on(vec![".html"]);
        Ok(Self(tera))
    }

    /// Renders a template to a string (a page sent in parts, `routes::answer_stream`).
    pub fn render(&self, name: &str, context: &Context) -> Result<String, tera::Error> {
        self.0.render(name, context)
    }

    /// Renders a page as a `text/html` response. The page is written into one buffer sized for
    /// a typical page, and sent as it is: Tera writes only `&str`s, so it needs no second pass to
    /// check that it is UTF-8 (as `Tera::render` makes).
    pub fn page(&self, name: &str, context: &Context) -> Result<HttpResponse, tera::Error> {
        let mut html = Vec::with_capacity(PAGE_CAPACITY);
        self.0.render_to(name, context, &mut html)?;
        Ok(HttpResponse::Ok()
            .content_type(ContentType::html())
            .body(html))
    }

    /// The error page; `chrome` is a connected browser's navigation (`errors::PageChrome`).
    pub fn error_page(
        &self,
        page: &impl Serialize,
        retry_href: &str,
        request_id: &str,
        chrome: Option<Context>,
    ) -> Result<String, tera::Error> {
        let mut context = chrome.unwrap_or_default();
        context.insert("request_id", request_id);
        context.insert("error", page);
        context.insert("retry_href", retry_href);
        self.0.render("error.html", &context)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_file_is_compiled_in() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("templates dir")
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".html"))
            .collect();
        files.sort();
        let mut registered: Vec<String> = TEMPLATES.iter().map(|(n, _)| (*n).to_owned()).collect();
        registered.sort();
        assert_eq!(files, registered);
        assert!(Templates::new().is_ok());
    }
}
