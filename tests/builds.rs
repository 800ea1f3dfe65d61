//! Builds other people make of this package, checked by making them. A test binary of its own,
//! so that these builds (each a `cargo` run of a minute or two) do not compete with the app's
//! tests for the cores: cargo runs test binaries one after another.
//!
//! - The production binary, `--no-default-features`: no simulator code in it, and no start
//!   without provider settings.
//! - The one-file example, from the dependencies its header lists, in a fresh edition-2024 crate.
//! - The README's "Add … to your actix-web app" sections: the two blocks as written, in a fresh
//!   edition-2024 crate, built, run against the simulator and driven over HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where these builds put their artifacts, inside the target directory (kept between runs, so a
/// second run is incremental).
fn scratch(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// `cargo` as the test was built by, offline and with this workspace's lock file: the
/// dependencies are the ones already downloaded for this build.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO"))
        .current_dir(dir)
        .args(args)
        .args(["--locked", "--offline", "--quiet"])
        // The outer build's settings are not this one's.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

/// `cargo COMMAND` in a scratch crate outside this workspace, offline, sharing one target
/// directory between these builds (its lock file is this workspace's, copied in).
fn cargo_scratch(crate_dir: &Path, command: &str) -> Output {
    Command::new(env!("CARGO"))
        .current_dir(crate_dir)
        .args([command, "--offline", "--quiet", "--target-dir"])
        .arg(scratch("recipe-target"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs")
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Text only the simulators carry: their consent pages' titles, compiled in with `include_str!`.
const SIMULATOR_MARKERS: [&str; 2] = ["Rememberizer (simulator)", "Memoram (simulator)"];

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn the_production_build_has_no_simulator_and_refuses_to_start_without_settings() {
    let target = scratch("no-demo");
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = cargo(
        manifest_dir,
        &[
            "build",
            "--no-default-features",
            "--bin",
            "talk-to-mementos",
            "--target-dir",
            target.to_str().expect("a UTF-8 path"),
        ],
    );
    assert_success(&built, "cargo build --no-default-features");
    let binary = target.join("debug").join("talk-to-mementos");

    let bytes = std::fs::read(&binary).expect("the binary");
    for marker in SIMULATOR_MARKERS {
        assert!(!contains(&bytes, marker), "{marker:?} is in the binary");
    }
    // The marker is real: the default build (the one the other tests run) carries it.
    let demo = std::fs::read(env!("CARGO_BIN_EXE_talk-to-mementos")).expect("the demo build");
    assert!(SIMULATOR_MARKERS.iter().all(|m| contains(&demo, m)));

    // An empty environment (and directory: no .env) is what an unconfigured server has.
    let dir = scratch("no-demo-run");
    std::fs::create_dir_all(&dir).expect("a directory");
    for env in [
        vec![],
        // What starts demo mode in the default build starts nothing here.
        vec![("BIND_ADDR", "127.0.0.1:0"), ("DEMO", "1")],
    ] {
        let output = Command::new(&binary)
            .current_dir(&dir)
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .expect("the binary runs");
        assert!(!output.status.success(), "{env:?}: it must not start");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim_end(),
            "talk-to-mementos: configuration error: REMEMBERIZER_CLIENT_ID is required: this \
             build has no demo mode (it was built without the `demo` feature)",
            "{env:?}"
        );
    }
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md")
}

/// The `[dependencies]` lines `examples/minimal.rs` lists in its header (after "Its
/// `[dependencies]`"), as a developer copies them.
fn example_dependencies(example: &str) -> Vec<String> {
    example
        .lines()
        .skip_while(|line| !line.starts_with("//! Its `[dependencies]`"))
        .skip(1)
        .map_while(|line| line.strip_prefix("//! "))
        .filter(|line| line.contains(" = "))
        .map(str::to_owned)
        .collect()
}

/// `examples/minimal.rs` as `src/main.rs` of a fresh edition-2024 crate (what `cargo new` makes
/// today) outside the workspace, with `dependencies` as its `[dependencies]`, built.
fn build_example_crate(name: &str, dependencies: &[String]) -> Output {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crate_dir = scratch(name);
    let _ = std::fs::remove_dir_all(&crate_dir);
    std::fs::create_dir_all(crate_dir.join("src")).expect("scratch crate");
    std::fs::copy(
        manifest_dir.join("examples/minimal.rs"),
        crate_dir.join("src/main.rs"),
    )
    .expect("main.rs");
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
             [workspace]\n\n[dependencies]\n{}\n",
            dependencies.join("\n")
        ),
    )
    .expect("Cargo.toml");
    std::fs::copy(
        manifest_dir.join("Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .expect("Cargo.lock");
    cargo_scratch(&crate_dir, "build")
}

#[test]
fn the_one_file_example_builds_from_its_header_in_a_fresh_edition_2024_crate() {
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/minimal.rs"))
            .expect("examples/minimal.rs");
    let dependencies = example_dependencies(&example);
    assert!(
        dependencies.iter().any(|d| d.starts_with("actix-web = ")),
        "the header lists the dependencies: {dependencies:?}"
    );
    assert!(
        example.lines().count() <= 250,
        "the lesson stays short: {} lines",
        example.lines().count()
    );
    let built = build_example_crate("minimal-example", &dependencies);
    assert_success(&built, "cargo build of examples/minimal.rs from its header");
    // The check can fail: without one of the listed lines, it does not build.
    let short: Vec<String> = dependencies
        .into_iter()
        .filter(|d| !d.starts_with("moka = "))
        .collect();
    let built = build_example_crate("minimal-example-short", &short);
    assert!(!built.status.success(), "the example built without moka");
}

/// The README's "Add SERVICE to your actix-web app": its one ```toml block and its one ```rust
/// block, exactly as written.
fn add_to_your_app(readme: &str, service: &str) -> (String, String) {
    let section = readme
        .split_once(&format!("## Add {service} to your actix-web app"))
        .and_then(|(_, rest)| rest.split("\n## ").next())
        .expect("the README has the section");
    let blocks = |language: &str| -> Vec<String> {
        section
            .split(&format!("```{language}\n"))
            .skip(1)
            .filter_map(|rest| rest.split_once("```").map(|(block, _)| block.to_owned()))
            .collect()
    };
    let (toml, rust) = (blocks("toml"), blocks("rust"));
    assert_eq!(
        (toml.len(), rust.len()),
        (1, 1),
        "one toml and one rust block"
    );
    (toml[0].clone(), rust[0].clone())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The first `name=value` of the answer's `Set-Cookie` headers whose name starts with `prefix`.
fn cookie(response: &reqwest::Response, prefix: &str) -> String {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|c| c.starts_with(prefix))
        .unwrap_or_else(|| panic!("a {prefix}… cookie"))
        .to_owned()
}

/// Step 2 at a simulator: the consent page, then Allow (with `fields`: Rememberizer's first
/// memento ticked, say). The callback URL the simulator sends the browser to.
async fn consent(
    client: &reqwest::Client,
    authorize: &url::Url,
    fields: &[(&str, &str)],
) -> url::Url {
    let page = client
        .get(authorize.clone())
        .send()
        .await
        .expect("consent page");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    let mut form: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    form.push(("decision".to_owned(), "allow".to_owned()));
    let mut endpoint = authorize.clone();
    endpoint.set_query(None);
    let back = client
        .post(endpoint)
        .form(&form)
        .send()
        .await
        .expect("consent");
    let location = back.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii");
    url::Url::parse(location).expect("the callback URL")
}

/// The README's "Add SERVICE to your actix-web app" as a developer takes it: the two blocks,
/// checked against the crate's own README (`crates/CRATE/README.md`, its rustdoc), written into
/// a fresh edition-2024 crate named `name` outside the workspace (what `cargo new` makes today;
/// the crate's path written from the repository's root, as a developer who copied it has it),
/// and built. Returns the crate's folder.
async fn build_readme_app(service: &str, krate: &str, name: &str) -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (toml, rust) = add_to_your_app(&readme(), service);
    assert!(
        rust.lines().count() <= 40,
        "{service}: main.rs is {} lines",
        rust.lines().count()
    );
    let crate_readme =
        std::fs::read_to_string(manifest_dir.join(format!("crates/{krate}/README.md")))
            .expect("the crate's README");
    assert!(
        crate_readme.contains(&rust) && crate_readme.contains(&toml),
        "crates/{krate}/README.md shows the same two blocks"
    );
    let crate_dir = scratch(name);
    let _ = std::fs::remove_dir_all(&crate_dir);
    std::fs::create_dir_all(crate_dir.join("src")).expect("scratch crate");
    std::fs::write(crate_dir.join("src/main.rs"), &rust).expect("main.rs");
    let toml = toml.replace(
        "path = \"crates/",
        &format!("path = \"{}/crates/", manifest_dir.display()),
    );
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n\n{toml}"
        ),
    )
    .expect("Cargo.toml");
    std::fs::copy(
        manifest_dir.join("Cargo.lock"),
        crate_dir.join("Cargo.lock"),
    )
    .expect("lock");
    let built = tokio::task::spawn_blocking({
        let crate_dir = crate_dir.clone();
        move || cargo_scratch(&crate_dir, "build")
    })
    .await
    .expect("the build");
    assert_success(
        &built,
        &format!("cargo build of the README's {service} main.rs"),
    );
    crate_dir
}

/// A README app running (killed when dropped).
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the README app built in `crate_dir` with only `env`, and waits until `app` answers;
/// returns it and a client that does not follow redirects.
async fn run_readme_app(
    crate_dir: &Path,
    name: &str,
    app: &str,
    env: &[(&str, String)],
) -> (Running, reqwest::Client) {
    let child = Command::new(scratch("recipe-target").join("debug").join(name))
        .current_dir(crate_dir)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the app starts");
    let running = Running(child);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client");
    for _ in 0..200 {
        if client.get(app).send().await.is_ok() {
            return (running, client);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("{name} does not listen on {app}");
}

/// Rememberizer's consent: the first memento shared.
const MEMENTO: &[(&str, &str)] = &[("memento", "1")];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_main_rs_builds_in_a_fresh_crate_and_connects() {
    use reqwest::StatusCode;
    let crate_dir = build_readme_app("Rememberizer", "actix-rememberizer", "my-app").await;

    // Run it against the simulator, as a developer would against Rememberizer.
    let port = free_port();
    let app = format!("http://127.0.0.1:{port}");
    let simulator = simulators::rememberizer::Simulator::start(
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind"),
        simulators::rememberizer::SimulatorConfig {
            redirect_uris: vec![format!("{app}/auth/rememberizer/callback")],
            ..Default::default()
        },
    )
    .expect("the simulator");
    let defaults = simulators::rememberizer::SimulatorConfig::default();
    let (_running, client) = run_readme_app(
        &crate_dir,
        "my-app",
        &app,
        &[
            ("REMEMBERIZER_CLIENT_ID", defaults.client_id.clone()),
            ("REMEMBERIZER_CLIENT_SECRET", defaults.client_secret.clone()),
            ("REMEMBERIZER_BASE_URL", simulator.base_url().to_string()),
            ("APP_BASE_URL", app.clone()),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
        ],
    )
    .await;
    let url = |path: &str| format!("{app}{path}");
    let home = client.get(url("/")).send().await.expect("home");
    let home = home.text().await.expect("html");
    assert!(
        home.contains(r#"<a href="/auth/rememberizer">Connect Rememberizer</a>"#),
        "{home}"
    );
    let sim = simulator.handle();

    // A forged state: refused, and no code reaches the token endpoint.
    let forged = client
        .get(url("/auth/rememberizer/callback?code=stolen&state=forged"))
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(sim.token_requests().is_empty());

    // The flow: Step 1 (the flow's cookie), consent, Steps 3–4, the dashboard.
    let start = client
        .get(url("/auth/rememberizer"))
        .send()
        .await
        .expect("start");
    assert_eq!(start.status(), StatusCode::FOUND);
    let flow = cookie(&start, "oauth_flow_");
    let authorize = url::Url::parse(
        start.headers()[reqwest::header::LOCATION]
            .to_str()
            .expect("ascii"),
    )
    .expect("authorize URL");
    let callback = consent(&client, &authorize, MEMENTO).await;
    let follow = || {
        client
            .get(callback.clone())
            .header(reqwest::header::COOKIE, &flow)
            .send()
    };
    let done = follow().await.expect("callback");
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[reqwest::header::LOCATION], "/dashboard");
    let session = cookie(&done, "session=");
    let dashboard = client
        .get(url("/dashboard"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await
        .expect("dashboard");
    assert_eq!(dashboard.status(), StatusCode::OK);
    let text = dashboard.text().await.expect("text");
    assert!(text.contains('@'), "the account's email: {text}");
    assert!(text.lines().count() > 1, "and the documents' names: {text}");
    // Not connected: the dashboard offers to connect.
    let stranger = client
        .get(url("/dashboard"))
        .send()
        .await
        .expect("dashboard");
    assert_eq!(stranger.status(), StatusCode::FORBIDDEN);

    // The callback replayed with the old cookie: no second code exchange.
    assert_eq!(
        follow().await.expect("replay").status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(sim.token_requests().len(), 1, "one code exchange");

    // A token endpoint that hangs: an error page within 20 s, not a callback held for ever.
    sim.set_fault(
        "/api/v1/auth/oauth2/token/",
        simulators::Fault {
            delay: Some(std::time::Duration::from_secs(120)),
            ..simulators::Fault::default()
        },
    );
    let start = client
        .get(url("/auth/rememberizer"))
        .send()
        .await
        .expect("start");
    let flow = cookie(&start, "oauth_flow_");
    let authorize = url::Url::parse(
        start.headers()[reqwest::header::LOCATION]
            .to_str()
            .expect("ascii"),
    )
    .expect("authorize URL");
    let callback = consent(&client, &authorize, MEMENTO).await;
    let started = std::time::Instant::now();
    let hung = client
        .get(callback)
        .header(reqwest::header::COOKIE, &flow)
        .send()
        .await
        .expect("callback");
    let took = started.elapsed();
    println!("the README's app, a hanging token endpoint: answered in {took:?}");
    assert!(hung.status().is_server_error(), "{}", hung.status());
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}

/// Step 1 of a README app: the redirect to the authorize page, and the flow's cookie.
async fn start_flow(client: &reqwest::Client, start: &str) -> (url::Url, String) {
    let response = client.get(start).send().await.expect("start");
    assert_eq!(response.status(), reqwest::StatusCode::FOUND);
    let flow = cookie(&response, "oauth_flow_");
    let location = response.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii");
    (url::Url::parse(location).expect("authorize URL"), flow)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_memoram_main_rs_builds_in_a_fresh_crate_and_connects() {
    use reqwest::header::{COOKIE, LOCATION};
    use reqwest::StatusCode;
    let crate_dir = build_readme_app("Memoram", "actix-memoram", "my-memoram-app").await;

    // Run it against Memoram's simulator, as a developer would against Memoram.
    let port = free_port();
    let app = format!("http://127.0.0.1:{port}");
    let config = simulators::memoram::MemoramSimulatorConfig {
        redirect_uris: vec![format!("{app}/auth/memoram/callback")],
        ..Default::default()
    };
    let (client_id, client_secret, api_key) = (
        config.client_id.clone(),
        config.client_secret.clone(),
        config.api_key.clone(),
    );
    let simulator = simulators::memoram::MemoramSimulator::start(
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind"),
        config,
    )
    .expect("the simulator");
    let (_running, client) = run_readme_app(
        &crate_dir,
        "my-memoram-app",
        &app,
        &[
            ("MEMORAM_CLIENT_ID", client_id),
            ("MEMORAM_CLIENT_SECRET", client_secret),
            ("MEMORAM_API_KEY", api_key),
            ("MEMORAM_BASE_URL", simulator.api_url().to_string()),
            (
                "MEMORAM_AUTHORIZE_URL",
                simulator.authorize_url().to_string(),
            ),
            ("MEMORAM_TOKEN_URL", simulator.token_url().to_string()),
            (
                "MEMORAM_DASHBOARD_URL",
                simulator.dashboard_url().to_string(),
            ),
            ("APP_BASE_URL", app.clone()),
            ("BIND_ADDR", format!("127.0.0.1:{port}")),
        ],
    )
    .await;
    let url = |path: &str| format!("{app}{path}");
    let home = client.get(url("/")).send().await.expect("home");
    let home = home.text().await.expect("html");
    assert!(
        home.contains(r#"<a href="/auth/memoram">Connect Memoram</a>"#),
        "{home}"
    );
    let sim = simulator.handle();

    // A forged state: refused, and no code reaches the token endpoint.
    let forged = client
        .get(url("/auth/memoram/callback?code=stolen&state=forged"))
        .send()
        .await
        .expect("forged");
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(sim.token_requests().is_empty());

    // The authorization, then the page that waits for the approval.
    let (authorize, flow) = start_flow(&client, &url("/auth/memoram")).await;
    let callback = consent(&client, &authorize, &[]).await;
    let follow = || client.get(callback.clone()).header(COOKIE, &flow).send();
    let done = follow().await.expect("callback");
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(done.headers()[LOCATION], "/memoram/access");
    let session = cookie(&done, "session=");
    let get = |path: &str| client.get(url(path)).header(COOKIE, &session).send();
    let waiting = get("/memoram/access").await.expect("waiting page");
    assert_eq!(waiting.status(), StatusCode::OK);
    let waiting = waiting.text().await.expect("html");
    assert!(waiting.contains("I approved it"), "{waiting}");
    assert!(!waiting.contains("http-equiv"), "it never reloads itself");
    assert!(
        waiting.contains(simulator.dashboard_url().as_str()),
        "{waiting}"
    );
    // Not approved yet: the memories wait.
    let early = get("/memories").await.expect("memories");
    assert_eq!(early.status(), StatusCode::SEE_OTHER);
    assert_eq!(early.headers()[LOCATION], "/memoram/access");

    // Approved in the dashboard: on to the memories, opened with the person's key.
    let request = sim
        .access_requests()
        .last()
        .expect("an access request")
        .id
        .clone();
    assert!(sim.approve(&request));
    let approved = get("/memoram/access").await.expect("waiting page");
    assert_eq!(approved.status(), StatusCode::SEE_OTHER);
    assert_eq!(approved.headers()[LOCATION], "/memories");
    let memories = get("/memories").await.expect("memories");
    assert_eq!(memories.status(), StatusCode::OK);
    let text = memories.text().await.expect("text");
    let user = sim.demo_user();
    let blobs = sim.blobs(&user.user_id);
    let first = blobs.first().expect("the simulator's memories");
    assert!(
        text.contains(&format!("{}: ", first.title)),
        "the memories' titles: {text}"
    );
    assert!(
        !text.contains(&first.content) && !text.contains("(cannot be opened)"),
        "the content opened, not the sealed payload: {text}"
    );
    // Not connected: refused with an offer to connect.
    let stranger = client.get(url("/memories")).send().await.expect("memories");
    assert_eq!(stranger.status(), StatusCode::FORBIDDEN);

    // The callback replayed with the old cookie: no second code exchange.
    assert_eq!(
        follow().await.expect("replay").status(),
        StatusCode::BAD_REQUEST
    );
    let exchanges = |sim: &simulators::memoram::MemoramHandle| {
        sim.token_requests()
            .iter()
            .filter(|r| r.grant_type == "authorization_code")
            .count()
    };
    assert_eq!(exchanges(&sim), 1, "one code exchange");

    // A token endpoint that hangs: an error page within 20 s, not a callback held for ever.
    sim.set_fault(
        "/api/v1/oauth/token",
        simulators::Fault {
            delay: Some(std::time::Duration::from_secs(120)),
            ..simulators::Fault::default()
        },
    );
    let (authorize, flow) = start_flow(&client, &url("/auth/memoram")).await;
    let callback = consent(&client, &authorize, &[]).await;
    let started = std::time::Instant::now();
    let hung = client
        .get(callback)
        .header(COOKIE, &flow)
        .send()
        .await
        .expect("callback");
    let took = started.elapsed();
    println!("the README's Memoram app, a hanging token endpoint: answered in {took:?}");
    assert!(hung.status().is_server_error(), "{}", hung.status());
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}
