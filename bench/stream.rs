//! The benchmark's reader of streamed answers (`bash bench/run.sh` runs it): `/ask` pages read
//! as a browser reads them, chunk by chunk, over many connected users' sessions at once.
//!
//! `bench-stream APP_URL COOKIE_FILE CONCURRENCY SECONDS PATH` keeps CONCURRENCY pages in
//! flight for SECONDS and prints `answers passages_p50 passages_p99 first_p50 first_p99
//! whole_p50 whole_p99` (milliseconds, from sending the request): when the passages had
//! arrived (the page up to the answer), when the first piece of the answer did, when the page
//! ended. A page that does not end with its answer complete is counted as a failure (printed to
//! stderr, and the run fails).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[derive(Default)]
struct Timings {
    passages: Vec<Duration>,
    first: Vec<Duration>,
    whole: Vec<Duration>,
    failures: usize,
}

fn percentile(values: &mut [Duration], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index].as_secs_f64() * 1000.0
}

/// One page, read as it arrives: (passages, first piece, whole) or why it failed.
async fn read_page(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
) -> anyhow::Result<(Duration, Duration, Duration)> {
    let sent = Instant::now();
    let mut response = client
        .get(url)
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("status {}", response.status());
    }
    let mut page = String::new();
    let (mut passages, mut first) = (None, None);
    while let Some(chunk) = response.chunk().await? {
        page.push_str(&String::from_utf8_lossy(&chunk));
        match (passages, first) {
            (None, _) => {
                if let Some(at) = page.find("<p class=\"answer-text\">") {
                    passages = Some(sent.elapsed());
                    // The same chunk may already carry a piece of the answer.
                    if page.len() > at + "<p class=\"answer-text\">".len() {
                        first = Some(sent.elapsed());
                    }
                }
            }
            (Some(_), None) => first = Some(sent.elapsed()),
            _ => {}
        }
    }
    if !page.contains("The answer is complete.") {
        bail!("the answer did not complete");
    }
    match (passages, first) {
        (Some(passages), Some(first)) => Ok((passages, first, sent.elapsed())),
        _ => bail!("no answer on the page"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [app, cookies, concurrency, seconds, path] = args.as_slice() else {
        bail!("usage: bench-stream APP_URL COOKIE_FILE CONCURRENCY SECONDS PATH");
    };
    let cookies: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(cookies)
            .context("the cookie file")?
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
    );
    let concurrency: usize = concurrency.parse()?;
    let until = Instant::now() + Duration::from_secs(seconds.parse()?);
    let url = format!("{app}{path}");
    let client = reqwest::Client::builder().build()?;
    let timings = Arc::new(Mutex::new(Timings::default()));
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let (client, url, cookies, timings) = (
                client.clone(),
                url.clone(),
                cookies.clone(),
                timings.clone(),
            );
            tokio::spawn(async move {
                let mut n = worker;
                while Instant::now() < until {
                    let cookie = &cookies[n % cookies.len()];
                    n += concurrency;
                    let outcome = read_page(&client, &url, cookie).await;
                    let mut t = timings.lock().unwrap_or_else(|e| e.into_inner());
                    match outcome {
                        Ok((passages, first, whole)) => {
                            t.passages.push(passages);
                            t.first.push(first);
                            t.whole.push(whole);
                        }
                        Err(error) => {
                            eprintln!("bench-stream: {error:#}");
                            t.failures += 1;
                        }
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let mut t = std::mem::take(&mut *timings.lock().unwrap_or_else(|e| e.into_inner()));
    if t.failures > 0 {
        bail!("{} pages did not end with a complete answer", t.failures);
    }
    println!(
        "{} {:.1} {:.1} {:.1} {:.1} {:.1} {:.1}",
        t.whole.len(),
        percentile(&mut t.passages, 0.5),
        percentile(&mut t.passages, 0.99),
        percentile(&mut t.first, 0.5),
        percentile(&mut t.first, 0.99),
        percentile(&mut t.whole, 0.5),
        percentile(&mut t.whole, 0.99),
    );
    Ok(())
}
