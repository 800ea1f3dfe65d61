//! `GET /mementos`: what this app was granted, the user's integrations, and their usage.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use tera::Context;

use crate::errors::AppError;
use crate::rememberizer::{Integration, Me, Memento};
use crate::routes::dashboard::{human_size, integration_label};
use crate::routes::guards::RememberizerUser;
use crate::routes::signed_in;
use crate::state::AppState;
use crate::templates::Templates;

/// Chart geometry (SVG user units): one row per integration, its name above its bar. The chart
/// is about as wide in user units as a phone's card is in pixels, so its 14-unit text stays
/// about 14 px there (beside the bars, in a 600-unit chart, it shrank to 7 px at 390 px).
const CHART_WIDTH: u32 = 320;
/// Room to the right of the longest bar for its count.
const VALUE_ROOM: u32 = 50;
const LABEL_HEIGHT: u32 = 20;
const BAR_HEIGHT: u32 = 20;
const BAR_GAP: u32 = 12;
const ROW_HEIGHT: u32 = LABEL_HEIGHT + BAR_HEIGHT + BAR_GAP;

pub async fn mementos(
    state: web::Data<AppState>,
    templates: web::Data<Templates>,
    user: RememberizerUser,
) -> Result<HttpResponse, AppError> {
    let RememberizerUser {
        connection,
        session,
    } = user;
    let api = &state.api;
    let (me, mementos, integrations) = tokio::try_join!(
        state.call_api(&connection, |token| async move { api.me(&token).await }),
        state.call_api(
            &connection,
            |token| async move { api.mementos(&token).await }
        ),
        state.call_api(&connection, |token| async move {
            api.integrations(&token).await
        }),
    )?;

    let rows: Vec<IntegrationRow> = integrations.iter().map(IntegrationRow::from).collect();
    let mut context = Context::new();
    context.insert(
        "mementos",
        &mementos.iter().map(MementoRow::from).collect::<Vec<_>>(),
    );
    context.insert("chart", &Chart::new(&rows));
    context.insert("integrations", &rows);
    context.insert("usage", &Usage::from(&me));
    signed_in(&mut context, &session, &state).await?;
    Ok(templates.page("mementos.html", &context)?)
}

#[derive(Serialize)]
struct MementoRow {
    name: String,
    description: String,
    document_count: Option<u64>,
}

impl From<&Memento> for MementoRow {
    fn from(m: &Memento) -> Self {
        Self {
            name: m
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "(unnamed memento)".to_owned()),
            description: m.description.clone().unwrap_or_default(),
            document_count: m.document_count,
        }
    }
}

#[derive(Serialize)]
struct IntegrationRow {
    label: String,
    source: String,
    documents: u64,
    indexed: u64,
    indexing: u64,
    errors: u64,
    size: String,
}

impl From<&Integration> for IntegrationRow {
    fn from(i: &Integration) -> Self {
        let stats = i.document_stats.as_ref();
        let status = stats.and_then(|s| s.status.as_ref());
        Self {
            label: integration_label(&i.integration_type),
            source: i.source.clone().unwrap_or_default(),
            documents: stats.and_then(|s| s.document_count).unwrap_or(0),
            indexed: status.map_or(0, |s| s.indexed),
            indexing: status.map_or(0, |s| s.indexing),
            errors: status.map_or(0, |s| s.error),
            size: stats
                .and_then(|s| s.total_size)
                .map(human_size)
                .unwrap_or_default(),
        }
    }
}

/// A horizontal bar chart of documents per integration, drawn as SVG by the template.
#[derive(Serialize)]
struct Chart {
    width: u32,
    height: u32,
    bar_height: u32,
    bars: Vec<Bar>,
}

#[derive(Serialize)]
struct Bar {
    label: String,
    value: u64,
    /// The baseline of the integration's name.
    label_y: u32,
    /// The top of the bar.
    y: u32,
    /// The baseline of the count, beside the bar.
    text_y: u32,
    width: u32,
    value_x: u32,
}

impl Chart {
    fn new(rows: &[IntegrationRow]) -> Self {
        let max = rows.iter().map(|r| r.documents).max().unwrap_or(0).max(1);
        let room = CHART_WIDTH - VALUE_ROOM;
        let bars: Vec<Bar> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let top = i as u32 * ROW_HEIGHT;
                let y = top + LABEL_HEIGHT;
                let width = ((row.documents as f64 / max as f64) * f64::from(room)).round() as u32;
                Bar {
                    label: row.label.clone(),
                    value: row.documents,
                    label_y: top + LABEL_HEIGHT - 5,
                    y,
                    text_y: y + BAR_HEIGHT / 2 + 5,
                    width: width.max(u32::from(row.documents > 0)),
                    value_x: width + 8,
                }
            })
            .collect();
        Self {
            width: CHART_WIDTH,
            height: (bars.len() as u32 * ROW_HEIGHT).max(ROW_HEIGHT) - BAR_GAP,
            bar_height: BAR_HEIGHT,
            bars,
        }
    }
}

/// `current_usage` of `embed_quota`, for a `<meter>`.
#[derive(Serialize)]
struct Usage {
    used: u64,
    quota: u64,
    used_text: String,
    quota_text: String,
    percent: u64,
    /// The share in words: "less than 1%" for a use too small to round to a whole percent.
    percent_text: String,
    /// What the meter draws: the use, or 1% of the quota for a smaller use, so a small use
    /// is a sliver rather than an empty bar (the text says the exact figure).
    shown: u64,
    /// The meter's `low` and `high` marks: 70% and 90% of the quota, in whole bytes.
    low: u64,
    high: u64,
}

impl Usage {
    fn from(me: &Me) -> Option<Self> {
        let quota = me.embed_quota.filter(|q| *q > 0)?;
        let used = me.current_usage.unwrap_or(0);
        let percent = (used.saturating_mul(100) / quota).min(100);
        let percent_text = if used > 0 && percent == 0 {
            "less than 1%".to_owned()
        } else {
            format!("{percent}%")
        };
        Some(Self {
            used,
            quota,
            used_text: human_size(used),
            quota_text: human_size(quota),
            percent,
            percent_text,
            shown: if used > 0 { used.max(quota / 100) } else { 0 },
            low: quota / 10 * 7,
            high: quota / 10 * 9,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(documents: u64) -> IntegrationRow {
        IntegrationRow {
            label: "Slack".to_owned(),
            source: String::new(),
            documents,
            indexed: documents,
            indexing: 0,
            errors: 0,
            size: String::new(),
        }
    }

    #[test]
    fn the_longest_bar_is_the_largest_integration() {
        let chart = Chart::new(&[row(10), row(5), row(0)]);
        assert_eq!(chart.bars[0].width, CHART_WIDTH - VALUE_ROOM);
        assert_eq!(chart.bars[1].width, chart.bars[0].width / 2);
        assert_eq!(chart.bars[2].width, 0);
        assert_eq!(chart.height, 3 * ROW_HEIGHT - BAR_GAP);
        assert!(
            chart.bars[1].label_y < chart.bars[1].y,
            "the name above its bar"
        );
    }

    #[test]
    fn usage_is_a_bounded_percentage() {
        let me = |used, quota| Me {
            name: None,
            email: None,
            embed_quota: quota,
            current_usage: used,
        };
        assert_eq!(
            Usage::from(&me(Some(25), Some(100))).map(|u| u.percent),
            Some(25)
        );
        assert_eq!(
            Usage::from(&me(Some(250), Some(100))).map(|u| u.percent),
            Some(100)
        );
        let small = Usage::from(&me(Some(3), Some(1000))).expect("usage");
        assert_eq!(small.percent_text, "less than 1%");
        assert_eq!(small.shown, 10, "a sliver of the bar");
        let none = Usage::from(&me(Some(0), Some(1000))).expect("usage");
        assert_eq!((none.percent_text.as_str(), none.shown), ("0%", 0));
        assert!(Usage::from(&me(Some(1), None)).is_none());
        assert!(Usage::from(&me(Some(1), Some(0))).is_none());
    }
}
