//! The Rememberizer simulator on its own, for other clients and the benchmark.
//!
//! `SIMULATOR_BIND` (default 127.0.0.1:9090), `SIMULATOR_CLIENT_ID`, `SIMULATOR_CLIENT_SECRET`,
//! `SIMULATOR_REDIRECT_URIS` (comma-separated; empty accepts any localhost redirect URI),
//! `SIMULATOR_ACCESS_TOKEN_TTL_SECS`, `SIMULATOR_WORKERS`, `SIMULATOR_LLM_PIECE_MS` (the chat
//! endpoint's pause before each streamed piece, default 120); `SIMULATOR_MINIMAL_TOKENS=1` answers
//! token requests with only `access_token` + `refresh_token`, `SIMULATOR_SEARCH_2024=1` answers
//! search in the 2024 OpenAPI shape.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use simulators::rememberizer::{Simulator, SimulatorConfig};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn number(name: &'static str) -> Result<Option<u64>, String> {
    var(name)
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .map_err(|e| format!("{name} is invalid: {e}"))
        })
        .transpose()
}

/// `1`/`true` or `0`/`false` (unset: false).
fn flag(name: &str) -> Result<bool, String> {
    match var(name).as_deref().map(str::trim) {
        None | Some("" | "0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(format!("{name}: expected 1 or 0, got {other:?}")),
    }
}

fn config() -> Result<(String, SimulatorConfig), String> {
    let defaults = SimulatorConfig::default();
    let bind = var("SIMULATOR_BIND").unwrap_or_else(|| "127.0.0.1:9090".to_owned());
    let config = SimulatorConfig {
        client_id: var("SIMULATOR_CLIENT_ID").unwrap_or(defaults.client_id.clone()),
        client_secret: var("SIMULATOR_CLIENT_SECRET").unwrap_or(defaults.client_secret.clone()),
        redirect_uris: var("SIMULATOR_REDIRECT_URIS")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        access_token_ttl: number("SIMULATOR_ACCESS_TOKEN_TTL_SECS")?
            .map(Duration::from_secs)
            .unwrap_or(defaults.access_token_ttl),
        workers: number("SIMULATOR_WORKERS")?
            .map(|n| n as usize)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        minimal_token_response: flag("SIMULATOR_MINIMAL_TOKENS")?,
        search_shape_2024: flag("SIMULATOR_SEARCH_2024")?,
        llm_piece_delay: Duration::from_millis(number("SIMULATOR_LLM_PIECE_MS")?.unwrap_or(120)),
        ..defaults
    };
    Ok((bind, config))
}

#[actix_web::main]
async fn main() -> ExitCode {
    let (bind, config) = match config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rememberizer-simulator: configuration error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match TcpListener::bind(&bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("rememberizer-simulator: configuration error: SIMULATOR_BIND: cannot listen on {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client_id = config.client_id.clone();
    let simulator = match Simulator::start(listener, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rememberizer-simulator: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "rememberizer-simulator listening on {} (client id {client_id})",
        simulator.base_url()
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("rememberizer-simulator: signal handling failed: {e}");
    }
    simulator.stop().await;
    ExitCode::SUCCESS
}
