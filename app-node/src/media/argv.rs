//! The small builder every ffmpeg argument list is made with, and the
//! options every run that reads a source starts with.

use std::ffi::OsString;
use std::path::Path;

use super::source::{file_url, SOURCE_DEMUXERS};

/// Small builder so call sites read like the command line they produce.
#[derive(Default)]
pub(super) struct Argv(pub(super) Vec<OsString>);

impl Argv {
    pub(super) fn flag(&mut self, a: &str) -> &mut Self {
        self.0.push(a.into());
        self
    }
    pub(super) fn arg(&mut self, a: &std::ffi::OsStr) -> &mut Self {
        self.0.push(a.to_owned());
        self
    }
    pub(super) fn opt(&mut self, key: &str, value: impl Into<OsString>) -> &mut Self {
        self.0.push(key.into());
        self.0.push(value.into());
        self
    }
}

/// Options every ffmpeg run starts with: quiet, non-interactive, local files only.
pub(super) fn preamble(a: &mut Argv, input: &Path) {
    a.flag("-nostdin")
        .flag("-hide_banner")
        .flag("-y")
        .opt("-loglevel", "error")
        .opt("-protocol_whitelist", "file")
        .opt("-format_whitelist", SOURCE_DEMUXERS)
        .opt("-i", file_url(input));
}

/// Helpers for the tests that read argument lists back.
#[cfg(test)]
pub(super) mod read_back {
    use std::ffi::OsString;

    /// The arguments as text.
    pub fn text(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    /// The value after the first `key`; panics when `key` is missing.
    pub fn value_of(args: &[String], key: &str) -> String {
        let i = args
            .iter()
            .position(|a| a == key)
            .unwrap_or_else(|| panic!("{key} missing"));
        args[i + 1].clone()
    }
}
