//! The environment ffmpeg and ffprobe run with: a short list of variables
//! passed from the node, nothing else.

use tokio::process::Command;

/// Environment variables a tool gets from the node; every other one
/// (database URLs, S3 keys, signing secrets) stays with the node, since a
/// crafted input must not be able to make a tool reveal them.
const PASSED: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "TZ",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LD_LIBRARY_PATH",
    // libfaketime, when an operator (or a clock test) runs the node under it.
    "LD_PRELOAD",
    "FAKETIME",
];

/// Clears `command`'s environment but for the passed variables.
pub(super) fn restrict(command: &mut Command) {
    command.env_clear();
    for (k, v) in std::env::vars_os() {
        if k.to_str().is_some_and(|k| PASSED.contains(&k)) {
            command.env(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tools_get_only_the_passed_environment() {
        let mut cmd = Command::new("env");
        restrict(&mut cmd);
        let out = cmd.output().await.unwrap();
        let seen = String::from_utf8(out.stdout).unwrap();
        let names: Vec<&str> = seen.lines().filter_map(|l| l.split('=').next()).collect();
        assert!(names.contains(&"PATH"), "{seen}");
        // The test runs with variables of its own (cargo's, at least); none
        // of them reaches the tool.
        let held: Vec<String> = std::env::vars()
            .map(|(k, _)| k)
            .filter(|k| !PASSED.contains(&k.as_str()))
            .collect();
        assert!(!held.is_empty());
        for k in &held {
            assert!(!names.contains(&k.as_str()), "{k} reached the tool");
        }
    }
}
