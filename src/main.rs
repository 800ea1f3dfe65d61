use std::process::ExitCode;

use talk_to_mementos::config::Settings;
use talk_to_mementos::startup::Application;
use talk_to_mementos::telemetry;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("talk-to-mementos: configuration error: {error}");
            return ExitCode::FAILURE;
        }
    };
    telemetry::init();
    let app = match Application::build(settings).await {
        Ok(app) => app,
        Err(error) => {
            eprintln!("talk-to-mementos: cannot start: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("talk-to-mementos: server error: {error}");
            ExitCode::FAILURE
        }
    }
}
