//! The configuration as the real binary sees it: `log` from `.env` or the
//! file decides what is logged from the start, and a bad value is refused
//! with the layer it came from.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::procs::BIN;

/// Runs `serve` for a moment in `dir` (with `env` set) and returns what it
/// logged.
fn serve_briefly(dir: &std::path::Path, env: &[(&str, &str)], extra: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .current_dir(dir)
        .env_remove("REEL_LOG")
        .envs(env.iter().copied())
        .args([
            "--data-dir",
            dir.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .args(["serve", "--no-worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_log_key_works_from_dotenv_and_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "REEL_LOG=debug\n").unwrap();
    let log = serve_briefly(dir.path(), &[], &[]);
    assert!(log.contains("DEBUG"), "REEL_LOG from .env ignored:\n{log}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("node.toml");
    std::fs::write(&file, "log = \"warn\"\n").unwrap();
    let log = serve_briefly(dir.path(), &[], &["--config", file.to_str().unwrap()]);
    assert!(!log.contains(" INFO "), "log = warn ignored:\n{log}");
}

#[test]
fn a_bad_value_is_refused_naming_its_layer() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .env("REEL_HTTP__MAX_CONNECTIONS", "lots")
        .args(["--data-dir", dir.path().to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error[config-invalid]"), "{err}");
    assert!(err.contains("REEL_HTTP__MAX_CONNECTIONS"), "{err}");
    let out = Command::new(BIN)
        .env("REEL_LOG", "reel_node=loud")
        .args(["--data-dir", dir.path().to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad log filter is refused");
}

#[test]
fn a_misspelt_variable_is_named_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("REEL_HTTP__MAX_CONECTIONS", "5"), ("REEL_LOG", "warn")];
    let log = serve_briefly(dir.path(), &env, &[]);
    assert!(
        log.contains("REEL_HTTP__MAX_CONECTIONS is not a node setting"),
        "{log}"
    );
}
