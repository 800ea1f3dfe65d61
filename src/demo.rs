//! Demo mode, compiled only with the `demo` cargo feature (on by default): a provider with no
//! settings at all runs on its built-in simulator (the `simulators` crate), started here on a free
//! local port and reached over HTTP exactly as the real service would be. `config` decides when
//! that is allowed (never by accident: see `config::Settings::from_vars`).

use std::net::TcpListener;
use std::time::Duration;

use secrecy::SecretString;
use simulators::memoram::{MemoramSimulator, MemoramSimulatorConfig};
use simulators::rememberizer::{Simulator, SimulatorConfig, DEMO_LLM_KEY};
use url::Url;

use crate::config::{
    ClientCredentials, LlmSettings, MemoramClientSettings, MemoramSettings, Settings,
};
use crate::memoram::cipher::ContentCipher;

/// The simulators started for this app; they stop with it.
#[derive(Default)]
pub struct Simulators {
    pub rememberizer: Option<Simulator>,
    pub memoram: Option<MemoramSimulator>,
}

impl Simulators {
    pub async fn stop(self) {
        if let Some(simulator) = self.rememberizer {
            simulator.stop().await;
        }
        if let Some(simulator) = self.memoram {
            simulator.stop().await;
        }
    }
}

/// Starts a simulator for each provider that has no settings, and returns the settings pointed
/// at them, as if they had been configured: the rest of the app cannot tell.
pub fn start_simulators(
    mut settings: Settings,
    app_base_url: &Url,
) -> anyhow::Result<(Settings, Simulators)> {
    let mut simulators = Simulators::default();
    let memoram_simulated = settings.memoram_simulated();
    if settings.client.is_none() {
        let redirect = crate::rememberizer::redirect_uri(app_base_url)?;
        let (client, url) = start_rememberizer(&mut simulators, &redirect)?;
        // Answers come from the simulator's small chat endpoint unless LLM_* is set.
        if settings.llm.is_none() {
            settings.llm = Some(answer_service(&url, settings.llm_limits)?);
        }
        settings.client = Some(client);
        settings.provider_url = url;
    }
    if memoram_simulated {
        let redirect = crate::memoram::redirect_uri(app_base_url)?;
        start_memoram(&mut simulators, &mut settings.memoram, &redirect)?;
    }
    Ok((settings, simulators))
}

/// The demo model's pause before each piece of a streamed answer (`SIMULATOR_LLM_PIECE_MS`,
/// default 120 ms: a typical answer then takes about four seconds, and a person sees it grow).
pub const DEFAULT_PIECE_DELAY: Duration = Duration::from_millis(120);

fn piece_delay() -> anyhow::Result<Duration> {
    match std::env::var("SIMULATOR_LLM_PIECE_MS") {
        Err(_) => Ok(DEFAULT_PIECE_DELAY),
        Ok(raw) => raw
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms <= 10_000)
            .map(Duration::from_millis)
            .ok_or_else(|| {
                anyhow::anyhow!("SIMULATOR_LLM_PIECE_MS: expected milliseconds from 0 to 10000")
            }),
    }
}

/// Rememberizer's stand-in, knowing this app's redirect URI as if it were registered in the
/// Developer Hub. Returns the demo client's credentials and the simulator's base URL.
fn start_rememberizer(
    simulators: &mut Simulators,
    redirect_uri: &Url,
) -> anyhow::Result<(ClientCredentials, Url)> {
    let config = SimulatorConfig {
        redirect_uris: vec![redirect_uri.to_string()],
        llm_piece_delay: piece_delay()?,
        ..SimulatorConfig::default()
    };
    let client = ClientCredentials {
        client_id: config.client_id.clone(),
        client_secret: SecretString::from(config.client_secret.clone()),
    };
    let simulator = Simulator::start(TcpListener::bind("127.0.0.1:0")?, config)?;
    let url = simulator.base_url().clone();
    tracing::warn!(
        simulator = %url,
        "demo mode: no REMEMBERIZER_* settings, so Rememberizer is the built-in simulator (fake accounts and documents)"
    );
    simulators.rememberizer = Some(simulator);
    Ok((client, url))
}

/// The answer service of demo mode: the Rememberizer simulator's small extractive chat
/// endpoint, with the configured time limits (`LLM_TIMEOUT_SECS`, `LLM_TOTAL_SECS`).
fn answer_service(
    rememberizer_url: &Url,
    limits: crate::config::LlmLimits,
) -> anyhow::Result<LlmSettings> {
    Ok(LlmSettings {
        base_url: rememberizer_url.join("v1/")?,
        api_key: SecretString::from(DEMO_LLM_KEY),
        model: "simulated-extractive".to_owned(),
        timeout: limits.timeout,
        total_timeout: limits.total_timeout,
    })
}

/// Memoram's stand-in: `settings` is pointed at it, with its demo credentials.
fn start_memoram(
    simulators: &mut Simulators,
    settings: &mut MemoramSettings,
    redirect_uri: &Url,
) -> anyhow::Result<()> {
    let config = MemoramSimulatorConfig {
        redirect_uris: vec![redirect_uri.to_string()],
        plaintext_content: settings.cipher == ContentCipher::None,
        ..MemoramSimulatorConfig::default()
    };
    settings.client = Some(MemoramClientSettings {
        client_id: config.client_id.clone(),
        client_secret: SecretString::from(config.client_secret.clone()),
        api_key: SecretString::from(config.api_key.clone()),
    });
    let simulator = MemoramSimulator::start(TcpListener::bind("127.0.0.1:0")?, config)?;
    tracing::warn!(
        simulator = %simulator.base_url(),
        dashboard = %simulator.dashboard_url(),
        "demo mode: no MEMORAM_* settings, so Memoram is the built-in simulator (approve access requests on its dashboard)"
    );
    settings.base_url = simulator.api_url();
    settings.authorize_url = simulator.authorize_url();
    settings.token_url = simulator.token_url();
    settings.dashboard_url = simulator.dashboard_url();
    // The simulator's memories are made up: /ask may send them to the answer service.
    settings.send_to_llm.get_or_insert(true);
    simulators.memoram = Some(simulator);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_answer_service_keeps_the_configured_time_limits() {
        let limits = crate::config::LlmLimits {
            timeout: std::time::Duration::from_secs(5),
            total_timeout: std::time::Duration::from_secs(20),
        };
        let url = Url::parse("http://127.0.0.1:9/").expect("url");
        let service = answer_service(&url, limits).expect("settings");
        assert_eq!(
            (service.timeout, service.total_timeout),
            (limits.timeout, limits.total_timeout)
        );
        assert_eq!(service.base_url.as_str(), "http://127.0.0.1:9/v1/");
    }
}
