//! Builds other people make of this package, checked by making them. A test binary of its own,
//! so that these builds (each a `cargo` run of a minute or two) do not compete with the app's
//! tests for the cores: cargo runs test binaries one after another.
//!
//! - The production binary, `--no-default-features`: no simulator code in it, and no start
//!   without provider settings.

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
