//! `GET /discussions/{key}`: a Slack or Discord channel — its main messages and the threads under
//! them — seven days at a time.
//!
//! Rememberizer serves channels from `/api/v1/discussions/{pk}/contents/`, not from the chunked
//! `/documents/{pk}/contents/` (which answers 404 for them). The window is a week of whole UTC days
//! ending on `until` (today by default); "Earlier" and "Later" move it by a week.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use tera::Context;
use time::{Date, Duration, OffsetDateTime};

use crate::errors::AppError;
use crate::rememberizer::{
    parse_messages, DiscussionContents, DiscussionWindow, Message, DISCUSSION_INTEGRATIONS,
};
use crate::routes::dashboard::DocumentRow;
use crate::routes::documents::find_metadata;
use crate::routes::guards::RememberizerUser;
use crate::routes::signed_in;
use crate::routes::{parse_day, parse_key};
use crate::state::AppState;
use crate::templates::Templates;

/// Days in one window, `until` included.
pub const WINDOW_DAYS: i64 = 7;

#[derive(Debug, Deserialize)]
pub struct DiscussionQuery {
    integration_type: Option<String>,
    /// The last day shown (`YYYY-MM-DD`, UTC).
    until: Option<String>,
}

/// The week shown, and the links that move it.
#[derive(Debug, Serialize, PartialEq)]
struct Window {
    first_day: String,
    last_day: String,
    earlier_href: String,
    /// `None` when the window already ends today.
    later_href: Option<String>,
}

/// A main message, with the replies of its thread when it has one.
#[derive(Serialize)]
struct MessageView {
    #[serde(flatten)]
    message: Message,
    replies: Vec<Message>,
}

/// A thread whose parent message is not in this window's main messages.
#[derive(Serialize)]
struct ThreadView {
    label: String,
    replies: Vec<Message>,
}

pub async fn discussion(
    path: web::Path<String>,
    query: web::Query<DiscussionQuery>,
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: RememberizerUser,
) -> Result<HttpResponse, AppError> {
    let RememberizerUser {
        connection,
        session,
    } = user;
    let key = parse_key(&path, "/discussions/42")?;
    let integration_type = parse_discussion_source(query.integration_type.as_deref())?;
    let today = OffsetDateTime::now_utc().date();
    let until = parse_until(query.until.as_deref(), today)?;
    let first_day = until - Duration::days(WINDOW_DAYS - 1);
    let window = DiscussionWindow {
        earliest: format!("{first_day}T00:00:00Z"),
        latest: format!("{until}T23:59:59Z"),
    };

    let api = &state.api;
    let window_ref = &window;
    let (contents, metadata) = tokio::join!(
        state.call_api(&connection, |token| async move {
            api.discussion(&token, key, integration_type, window_ref)
                .await
        }),
        find_metadata(&state, &connection, key),
    );
    let (contents, metadata) = (contents?, metadata?);

    let (messages, other_threads) = nest_threads(contents);
    let mut context = Context::new();
    context.insert("key", &key);
    context.insert(
        "integration",
        &crate::routes::dashboard::integration_label(integration_type),
    );
    context.insert("document", &metadata.as_ref().map(DocumentRow::from));
    context.insert("messages", &messages);
    context.insert("other_threads", &other_threads);
    context.insert(
        "window",
        &window_links(key, integration_type, first_day, until, today),
    );
    signed_in(&mut context, &session, &state).await?;
    Ok(templates.page("discussion.html", &context)?)
}

/// `slack` (the default) or `discord`: the only integrations the API serves as discussions.
fn parse_discussion_source(raw: Option<&str>) -> Result<&'static str, AppError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(DISCUSSION_INTEGRATIONS[0]),
        Some(kind) => DISCUSSION_INTEGRATIONS
            .iter()
            .copied()
            .find(|known| *known == kind)
            .ok_or_else(|| {
                AppError::BadRequest(
                    "Channels come from slack or discord (integration_type).".to_owned(),
                )
            }),
    }
}

fn parse_until(raw: Option<&str>, today: Date) -> Result<Date, AppError> {
    match parse_day(raw, "until")? {
        None => Ok(today),
        // Far enough from the calendar's ends that a week either side is still a date.
        Some(day) if (1970..=9000).contains(&day.year()) => Ok(day),
        Some(_) => Err(AppError::BadRequest(
            "“until” must be a day from 1970 to 9000.".to_owned(),
        )),
    }
}

fn window_links(key: u64, kind: &str, first_day: Date, until: Date, today: Date) -> Window {
    let href = |until: Date| format!("/discussions/{key}?integration_type={kind}&until={until}");
    let week = Duration::days(WINDOW_DAYS);
    Window {
        first_day: first_day.to_string(),
        last_day: until.to_string(),
        earlier_href: href(until - week),
        later_href: (until < today).then(|| {
            let later = until + week;
            if later >= today {
                format!("/discussions/{key}?integration_type={kind}")
            } else {
                href(later)
            }
        }),
    }
}

/// Puts each thread under the main message it answers. The docs key a thread by its parent's
/// time in ISO 8601 (`2023-06-01T10:30:00Z`), and the parent's line carries the same instant
/// (`User A [2023-06-01 10:30:00]: …`). A thread whose parent is outside the window is listed
/// on its own.
fn nest_threads(contents: DiscussionContents) -> (Vec<MessageView>, Vec<ThreadView>) {
    let mut messages: Vec<MessageView> = parse_messages(&contents.discussion_content)
        .into_iter()
        .map(|message| MessageView {
            message,
            replies: Vec::new(),
        })
        .collect();
    let mut other_threads = Vec::new();
    for thread in contents.thread_contents {
        let replies = parse_messages(&thread.content);
        let parent_time = line_time(&thread.key);
        let parent = messages.iter_mut().find(|m| {
            m.replies.is_empty()
                && parent_time
                    .as_deref()
                    .is_some_and(|time| m.message.posted_at == time)
        });
        match parent {
            Some(parent) => parent.replies = replies,
            None => other_threads.push(ThreadView {
                label: parent_time.unwrap_or(thread.key),
                replies,
            }),
        }
    }
    (messages, other_threads)
}

/// A thread key as the time format of message lines: `2023-06-01T10:30:00Z` →
/// `2023-06-01 10:30:00`. Slack's own `1700000000.000100` timestamps are read too.
fn line_time(key: &str) -> Option<String> {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let instant = OffsetDateTime::parse(key, &time::format_description::well_known::Rfc3339)
        .ok()
        .or_else(|| {
            let (seconds, _) = key.split_once('.').unwrap_or((key, ""));
            seconds
                .parse::<i64>()
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        })?;
    instant.to_offset(time::UtcOffset::UTC).format(format).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(raw: &str) -> Date {
        parse_until(Some(raw), time::macros::date!(2026 - 01 - 01)).expect("a day")
    }

    #[test]
    fn the_window_moves_a_week_at_a_time_and_never_past_today() {
        let today = day("2026-11-26");
        let w = window_links(7, "slack", day("2026-11-20"), today, today);
        assert_eq!(
            (w.first_day.as_str(), w.last_day.as_str()),
            ("2026-11-20", "2026-11-26")
        );
        assert_eq!(
            w.earlier_href,
            "/discussions/7?integration_type=slack&until=2026-11-19"
        );
        assert_eq!(w.later_href, None);

        let w = window_links(7, "slack", day("2026-11-13"), day("2026-11-19"), today);
        assert_eq!(
            w.later_href.as_deref(),
            Some("/discussions/7?integration_type=slack")
        );
        let w = window_links(7, "discord", day("2026-10-01"), day("2026-10-07"), today);
        assert_eq!(
            w.later_href.as_deref(),
            Some("/discussions/7?integration_type=discord&until=2026-10-14")
        );
    }

    #[test]
    fn bad_parameters_are_refused() {
        let today = time::macros::date!(2026 - 11 - 26);
        assert_eq!(parse_until(None, today).ok(), Some(today));
        for bad in [
            "yesterday",
            "2026-02-30",
            "0001-01-01",
            "2026-11-26T00:00:00Z",
        ] {
            assert!(parse_until(Some(bad), today).is_err(), "{bad}");
        }
        assert_eq!(parse_discussion_source(None).ok(), Some("slack"));
        assert_eq!(
            parse_discussion_source(Some("discord")).ok(),
            Some("discord")
        );
        assert!(parse_discussion_source(Some("gmail")).is_err());
    }

    #[test]
    fn thread_keys_read_as_message_times() {
        assert_eq!(
            line_time("2023-06-01T10:30:00Z").as_deref(),
            Some("2023-06-01 10:30:00")
        );
        assert_eq!(
            line_time("2023-06-01T12:30:00+02:00").as_deref(),
            Some("2023-06-01 10:30:00")
        );
        assert_eq!(
            line_time("1700000000.000100").as_deref(),
            Some("2023-11-14 22:13:20")
        );
        assert_eq!(line_time("thread-1"), None);
    }

    #[test]
    fn threads_go_under_their_parent_message() {
        let contents: DiscussionContents = serde_json::from_value(serde_json::json!({
            "discussion_content": "User A [2023-06-01 10:30:00]: Good morning!\nUser B [2023-06-01 10:32:15]: Morning!",
            "thread_contents": {
                "2023-06-01T10:30:00Z": "User C [2023-06-01 10:35:00]: Hi A\nUser A [2023-06-01 10:37:30]: Hi C",
                "2023-05-30T08:00:00Z": "User D [2023-05-30 08:05:00]: An older thread",
            }
        }))
        .expect("discussion");
        let (messages, others) = nest_threads(contents);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].replies.len(), 2);
        assert_eq!(messages[0].replies[1].text, "Hi C");
        assert!(messages[1].replies.is_empty());
        assert_eq!(others.len(), 1);
        assert_eq!(others[0].label, "2023-05-30 08:00:00");
    }
}
