//! What a dashboard costs stage by stage, on one thread with nothing else running: the floor
//! under the app's CPU per page (`bash bench/run.sh` prints it under the first table).
//!
//! `bench-stages DIR UPSTREAM` reads the canned answers in `DIR` (`account.json`,
//! `documents.json`, `integrations.json`, as `bench/run.sh` saves them) and times, each as the
//! median of 7 rounds:
//! - **decode**: the three answers parsed into the client's models (serde_json);
//! - **view**: the rows and the template context built (`routes::dashboard::view`);
//! - **render**: `dashboard.html` rendered by Tera into a response (`Templates::page`);
//! - **call**: one `GET /api/v1/documents/` through the app's API client (reqwest, hyper,
//!   bearer header, body read and parsed) to the canned upstream at `UPSTREAM`, one at a time,
//!   in CPU time of this process (the upstream's own time is not in it).
//!
//! Same allocator as the app, same release profile.

use std::path::Path;
use std::time::{Duration, Instant};

use actix_web::body::{BodySize, MessageBody};
use anyhow::Context as _;
use secrecy::SecretString;
use talk_to_mementos::api::decode;
use talk_to_mementos::auth::tokens::AccessToken;
use talk_to_mementos::http_client::{HttpClient, HttpSettings};
use talk_to_mementos::rememberizer::{
    Account, ApiClient, Document, DocumentsQuery, IntegrationList, Page,
};
use talk_to_mementos::routes::{self, dashboard};
use talk_to_mementos::templates::Templates;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROUNDS: usize = 7;

/// The median over `ROUNDS` rounds of `iterations` runs of `stage`, in µs per run (wall clock:
/// one thread doing nothing else, so it is CPU time).
fn time(iterations: u32, mut stage: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        stage();
    }
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..iterations {
                stage();
            }
            started.elapsed().as_secs_f64() * 1e6 / f64::from(iterations)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[ROUNDS / 2]
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`.
fn cpu_time() -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .context("/proc/self/stat")?
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // CLK_TCK is 100 on Linux.
    Ok(Duration::from_millis(ticks * 10))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, upstream) = match args.as_slice() {
        [_, dir, upstream] => (Path::new(dir), url::Url::parse(upstream)?),
        _ => anyhow::bail!("usage: bench-stages DIR UPSTREAM_URL"),
    };
    let read =
        |name: &str| std::fs::read(dir.join(name)).with_context(|| format!("reading {name}"));
    let (account_json, documents_json, integrations_json) = (
        read("account.json")?,
        read("documents.json")?,
        read("integrations.json")?,
    );
    let query = DocumentsQuery {
        page: 1,
        page_size: dashboard::PAGE_SIZE,
        integration_type: None,
    };
    let account: Account = decode(&account_json)?;
    let documents: Page<Document> = decode(&documents_json)?;
    let integrations: IntegrationList = decode(&integrations_json)?;
    let templates = Templates::new()?;
    let context = || {
        let mut context = dashboard::view(&account, &documents, Some(&integrations.data), &query);
        // What `routes::signed_in` adds from the session.
        routes::chrome(
            &mut context,
            "a-csrf-token-of-the-usual-length-0123456789",
            &routes::Nav {
                rememberizer: true,
                memoram: false,
            },
        );
        context
    };
    let page_bytes = match templates.page("dashboard.html", &context())?.body().size() {
        BodySize::Sized(bytes) => bytes,
        _ => 0,
    };

    let decode_us = time(2_000, || {
        let a: Account = decode(&account_json).expect("account");
        let d: Page<Document> = decode(&documents_json).expect("documents");
        let i: IntegrationList = decode(&integrations_json).expect("integrations");
        std::hint::black_box((a, d, i));
    });
    let view_us = time(2_000, || {
        std::hint::black_box(context());
    });
    let built = context();
    let render_us = time(2_000, || {
        std::hint::black_box(templates.page("dashboard.html", &built).expect("render"));
    });

    // One call at a time to the canned upstream, with the app's client.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let api = ApiClient::new(HttpClient::new(&HttpSettings::default())?, &upstream)?;
    let token = AccessToken::new(SecretString::from("bench-token"));
    let calls = 4_000u32;
    let call_us = runtime.block_on(async {
        for _ in 0..200 {
            api.documents(&token, &query).await?;
        }
        let before = cpu_time()?;
        for _ in 0..calls {
            std::hint::black_box(api.documents(&token, &query).await?);
        }
        anyhow::Ok((cpu_time()? - before).as_secs_f64() * 1e6 / f64::from(calls))
    })?;

    println!("| stage of one dashboard (one thread, nothing else running) | µs |");
    println!("|---|---|");
    println!(
        "| decode: account, documents (20) and integrations parsed (serde_json) | {decode_us:.1} |"
    );
    println!("| view: rows and template context built | {view_us:.1} |");
    println!("| render: Tera renders `dashboard.html` ({page_bytes} bytes) | {render_us:.1} |");
    println!("| call: one `GET /documents/` through the API client, parsed (CPU of this process) | {call_us:.1} |");
    Ok(())
}
