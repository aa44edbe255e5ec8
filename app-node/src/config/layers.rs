//! Merging the configuration layers with figment: embedded defaults, then
//! the TOML file, then `REEL_*` environment variables, then command-line
//! flags. Each layer is a named figment provider, so an error says which
//! layer (and, for the environment, which variable) a bad value came from.
//!
//! Environment and flag values are text; they are typed here after the
//! default of the same key (a string default keeps `node_name=42` a string,
//! a list default reads `a, b` or `["a", "b"]`), which figment's own
//! environment provider cannot know.

use std::path::Path;

use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Profile, Provider};
use toml::{Table, Value};

use super::{Config, DEFAULTS};

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File that failed.
        path: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A layer is not valid TOML or has wrong types/unknown keys.
    #[error("invalid config ({layer}): {message}")]
    Parse {
        /// Which layer was bad.
        layer: String,
        /// Parser message.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid config key {key} (set by {layer}): {reason}")]
    Invalid {
        /// Key path.
        key: String,
        /// Which layer set the value.
        layer: String,
        /// Why.
        reason: String,
    },
}

impl ConfigError {
    /// Stable code for scripts.
    pub fn code(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "config-unreadable",
            ConfigError::Parse { .. } => "config-invalid",
            ConfigError::Invalid { .. } => "config-out-of-range",
        }
    }
}

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `(key.path, value)` pairs, value parsed like an environment variable.
    pub pairs: Vec<(String, String)>,
}

/// One layer as a figment provider.
struct Layer {
    name: String,
    table: Table,
    /// Keys are reported as `REEL_SECTION__KEY` rather than `section.key`.
    env_names: bool,
}

impl Provider for Layer {
    fn metadata(&self) -> Metadata {
        let m = Metadata::named(self.name.clone());
        if self.env_names {
            m.interpolater(|_, keys| env_name(&keys.join(".")))
        } else {
            m
        }
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let value = figment::value::Value::serialize(&self.table)?;
        let dict = value.into_dict().unwrap_or_default();
        Ok(Profile::Default.collect(dict))
    }
}

/// The variable that sets `key` (`worker.lease_s` → `REEL_WORKER__LEASE_S`).
pub fn env_name(key: &str) -> String {
    format!("REEL_{}", key.to_ascii_uppercase().replace('.', "__"))
}

fn parse_toml(text: &str, layer: &str) -> Result<Table, ConfigError> {
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            layer: layer.into(),
            message: e.to_string(),
        })
}

/// Loads defaults → `file` → `REEL_*` environment → `overrides`.
///
/// `env` is passed in (rather than read here) so tests can build a config
/// without touching the process environment.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let defaults = parse_toml(DEFAULTS, "defaults")?;
    let mut fig = Figment::new().merge(Layer {
        name: "defaults".into(),
        table: defaults.clone(),
        env_names: false,
    });
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let name = format!("config file {}", path.display());
        fig = fig.merge(Layer {
            table: parse_toml(&text, &name)?,
            name,
            env_names: false,
        });
    }
    let mut from_env = Table::new();
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("REEL_") else {
            continue;
        };
        if rest == "CONFIG" {
            continue;
        }
        let key = rest.to_ascii_lowercase().replace("__", ".");
        // The balancer reads REEL_* too, so a variable meant for it must not
        // stop a node from starting; `unknown_env` names them once logging
        // is up.
        if has_path(&defaults, &key) {
            set_path(&mut from_env, &defaults, &key, &value);
        }
    }
    fig = fig.merge(Layer {
        name: "environment".into(),
        table: from_env,
        env_names: true,
    });
    let mut from_flags = Table::new();
    for (key, value) in &overrides.pairs {
        set_path(&mut from_flags, &defaults, key, value);
    }
    fig = fig.merge(Layer {
        name: "command line".into(),
        table: from_flags,
        env_names: false,
    });
    extract(&fig)
}

/// The embedded defaults with `text` on top, as if `text` were the file
/// given to [`load`] with no environment and no flags: the same parsing,
/// merging and validation. The entry point of the config fuzz target.
pub fn parse_config_str(text: &str) -> Result<Config, ConfigError> {
    let fig = Figment::new()
        .merge(Layer {
            name: "defaults".into(),
            table: parse_toml(DEFAULTS, "defaults")?,
            env_names: false,
        })
        .merge(Layer {
            name: "text".into(),
            table: parse_toml(text, "text")?,
            env_names: false,
        });
    extract(&fig)
}

/// One typed extraction of the merged layers, then the range checks, each
/// error naming the layer its value came from.
fn extract(fig: &Figment) -> Result<Config, ConfigError> {
    let cfg: Config = fig.extract().map_err(|e| ConfigError::Parse {
        layer: e
            .metadata
            .as_ref()
            .map(|m| m.name.to_string())
            .unwrap_or_else(|| "merged".into()),
        // Keys are shown without figment's profile name.
        message: e.to_string().replace("\"default.", "\""),
    })?;
    cfg.validate().map_err(|e| match e {
        ConfigError::Invalid { key, reason, .. } => ConfigError::Invalid {
            layer: layer_of(fig, &key),
            key,
            reason,
        },
        other => other,
    })?;
    Ok(cfg)
}

/// Secrets read straight from the environment, never config keys (the
/// file is committed); known, so not reported as typos.
pub const SECRET_ENV: &[&str] = &["REEL_EDGE__PURGE_TOKEN", "REEL_WEBHOOKS__SECRET"];

/// Variables read by client commands (`reel-node upload`), not settings.
const CLIENT_ENV: &[&str] = &["REEL_TOKEN", "REEL_SERVER"];

/// `REEL_*` variables that are not node settings (typos, or meant for the
/// balancer), for the caller to report once logging is set up.
pub fn unknown_env(env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let Ok(defaults) = parse_toml(DEFAULTS, "defaults") else {
        return Vec::new();
    };
    let mut out: Vec<String> = env
        .into_iter()
        .filter_map(|(name, _)| {
            let rest = name.strip_prefix("REEL_")?;
            let key = rest.to_ascii_lowercase().replace("__", ".");
            (rest != "CONFIG"
                && !SECRET_ENV.contains(&name.as_str())
                && !CLIENT_ENV.contains(&name.as_str())
                && !has_path(&defaults, &key))
            .then_some(name)
        })
        .collect();
    out.sort();
    out
}

/// Which layer supplied `key` (as written in [`Config::validate`], possibly
/// `a / b` for a pair of keys), with the variable name for the environment.
fn layer_of(fig: &Figment, key: &str) -> String {
    let named = |k: &str| match fig.find_metadata(k) {
        Some(m) if m.name == "environment" => Some(format!("environment {}", env_name(k))),
        Some(m) if m.name == "defaults" => None,
        Some(m) => Some(m.name.to_string()),
        None => None,
    };
    // For a pair of keys, the layer that set either of them away from its
    // default is the one to blame.
    key.split(" / ")
        .find_map(named)
        .unwrap_or_else(|| "defaults".into())
}

fn has_path(table: &Table, key: &str) -> bool {
    lookup(table, key).is_some_and(|v| !v.is_table())
}

fn lookup<'a>(table: &'a Table, key: &str) -> Option<&'a Value> {
    let mut t = table;
    let mut parts = key.split('.').peekable();
    while let Some(p) = parts.next() {
        match (t.get(p), parts.peek()) {
            (Some(Value::Table(sub)), Some(_)) => t = sub,
            (Some(v), None) => return Some(v),
            _ => return None,
        }
    }
    None
}

/// Environment values are untyped text; guess the TOML type from its look so
/// `REEL_WORKER__CONCURRENCY=2` is an integer and `…=true` a boolean.
fn typed(raw: &str) -> Value {
    if let Ok(b) = raw.parse::<bool>() {
        return Value::Boolean(b);
    }
    if let Ok(i) = raw.parse::<i64>() {
        return Value::Integer(i);
    }
    if raw.contains('.') && !raw.contains(':') {
        if let Ok(f) = raw.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::String(raw.to_string())
}

/// A list from one text value: a TOML array (`["a", "b"]`) or plain
/// comma-separated words (`a, b`); empty text is the empty list.
fn list(raw: &str) -> Value {
    let t = raw.trim();
    if t.starts_with('[') {
        if let Ok(mut table) = format!("v = {t}").parse::<Table>() {
            if let Some(v) = table.remove("v") {
                return v;
            }
        }
    }
    Value::Array(
        t.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Value::String(s.to_string()))
            .collect(),
    )
}

/// Sets `key` in `layer` from text, typed after the key's default.
fn set_path(layer: &mut Table, defaults: &Table, key: &str, raw: &str) {
    let value = match (lookup(defaults, key), typed(raw)) {
        (Some(Value::Array(_)), _) => list(raw),
        // Keep the default's type when it is a float or a string, so
        // `max_duration_s=60` and `node_name=42` still deserialise.
        (Some(Value::Float(_)), Value::Integer(i)) => Value::Float(i as f64),
        (Some(Value::String(_)), v) if !v.is_str() => Value::String(raw.to_string()),
        (_, v) => v,
    };
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut table = layer;
    for p in parts {
        let entry = table
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        table = entry.as_table_mut().expect("just made a table");
    }
    table.insert(last.to_string(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_load() {
        let cfg = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(cfg.catalog_url(), "sqlite://./data/reel.db");
        assert!(!cfg.ingest.allow_private_networks);
        assert_eq!(cfg.ingest.max_bytes, 4 << 30);
        assert!(cfg.worker.enabled);
        assert_eq!(cfg.worker.concurrency, 1);
    }

    #[test]
    fn env_beats_file_and_flags_beat_env() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("node.toml");
        std::fs::write(
            &f,
            "listen = \"127.0.0.1:9000\"\n[worker]\nconcurrency = 3\n",
        )
        .unwrap();
        let e = env(&[
            ("REEL_WORKER__CONCURRENCY", "4"),
            ("REEL_INGEST__ALLOW_PRIVATE_NETWORKS", "true"),
            ("REEL_NODE_NAME", "n1"),
            ("PATH", "/bin"),
        ]);
        let o = Overrides {
            pairs: vec![("listen".into(), "127.0.0.1:9001".into())],
        };
        let cfg = load(Some(&f), e, &o).unwrap();
        assert_eq!(cfg.listen.port(), 9001);
        assert_eq!(cfg.worker.concurrency, 4);
        assert!(cfg.ingest.allow_private_networks);
        assert_eq!(cfg.node_name(), "n1");
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let e = env(&[("REEL_WORKER__CONCURRENCY", "0")]);
        let err = load(None, e, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("worker.concurrency"), "{err}");
        assert!(
            err.to_string()
                .contains("environment REEL_WORKER__CONCURRENCY"),
            "names the layer: {err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("node.toml");
        std::fs::write(&f, "[worker]\nbogus = 1\n").unwrap();
        let err = load(Some(&f), env(&[]), &Overrides::default()).unwrap_err();
        assert_eq!(err.code(), "config-invalid");
        assert!(err.to_string().contains("bogus"), "{err}");
    }

    fn key_paths(t: &Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let path = format!("{prefix}{k}");
            match v {
                Value::Table(sub) => key_paths(sub, &format!("{path}."), out),
                _ => out.push(path),
            }
        }
    }

    #[test]
    fn sample_file_documents_every_key_with_its_default() {
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/node.toml");
        let text = std::fs::read_to_string(sample).unwrap();
        let (a, b): (Table, Table) = (text.parse().unwrap(), DEFAULTS.parse().unwrap());
        let (mut ka, mut kb) = (Vec::new(), Vec::new());
        key_paths(&a, "", &mut ka);
        key_paths(&b, "", &mut kb);
        ka.sort();
        kb.sort();
        assert_eq!(
            ka, kb,
            "configs/node.toml and the embedded defaults disagree on keys"
        );
        assert_eq!(
            a, b,
            "configs/node.toml shows a value that is not the default"
        );
        for k in &kb {
            let env = format!("REEL_{}", k.to_ascii_uppercase().replace('.', "__"));
            assert!(text.contains(&env), "{env} not documented");
        }
    }

    #[test]
    fn a_bad_type_names_the_layer_it_came_from() {
        let e = env(&[("REEL_WORKER__LEASE_S", "soon")]);
        let err = load(None, e, &Overrides::default()).unwrap_err();
        assert_eq!(err.code(), "config-invalid");
        assert!(
            err.to_string().contains("REEL_WORKER__LEASE_S"),
            "names the variable: {err}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("node.toml");
        std::fs::write(&f, "[http]\nmax_connections = \"many\"\n").unwrap();
        let err = load(Some(&f), env(&[]), &Overrides::default()).unwrap_err();
        assert!(
            err.to_string().contains("node.toml"),
            "names the file: {err}"
        );
        assert!(err.to_string().contains("max_connections"), "{err}");
        let o = Overrides {
            pairs: vec![("listen".into(), "not an address".into())],
        };
        let err = load(None, env(&[]), &o).unwrap_err();
        assert!(err.to_string().contains("command line"), "{err}");
    }

    #[test]
    fn lists_come_from_toml_arrays_or_comma_words() {
        for raw in ["[\"10.0.0.0/8\", \"::1\"]", "10.0.0.0/8, ::1"] {
            let e = env(&[("REEL_HTTP__TRUSTED_PROXIES", raw)]);
            let cfg = load(None, e, &Overrides::default()).unwrap();
            assert_eq!(cfg.http.trusted_proxies, ["10.0.0.0/8", "::1"], "{raw}");
        }
        let e = env(&[("REEL_HTTP__TRUSTED_PROXIES", "10.0.0.0/8, not-an-ip")]);
        let err = load(None, e, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("http.trusted_proxies"), "{err}");
    }

    #[test]
    fn balancer_variables_do_not_break_the_node() {
        let e = env(&[
            ("REEL_ADMIN_LISTEN", "127.0.0.1:1"),
            ("REEL_HEALTH__PATH", "/x"),
        ]);
        assert!(load(None, e, &Overrides::default()).is_ok());
    }

    #[test]
    fn text_layer_is_parsed_like_a_file() {
        let cfg = parse_config_str("[worker]\nconcurrency = 2\n").unwrap();
        assert_eq!(cfg.worker.concurrency, 2);
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8081");
        let err = parse_config_str("[worker]\nbogus = 1\n").unwrap_err();
        assert_eq!(err.code(), "config-invalid");
    }

    /// Found by the `config` fuzz target: a negative (or NaN) limit was
    /// accepted and would have refused (or let through) every source.
    #[test]
    fn fuzz_max_duration_must_be_a_positive_number() {
        let crash = "listen = \"0.0.0.0:9000\"\n[storage]\nkind = \"s3\"\nserve = \"redirect\"\n\
                     [storage.s3]\nbucket = \"reel\"\nendpoint = \"http://127.0.0.1:9000\"\n\
                     allow_http = true\n[media]\nmax_duration_s =-60\n";
        for text in [
            crash.to_string(),
            "[media]\nmax_duration_s = nan\n".into(),
            "[media]\nmax_duration_s = inf\n".into(),
            "[media]\nmax_duration_s = 0.0\n".into(),
        ] {
            let err = parse_config_str(&text).unwrap_err();
            assert!(err.to_string().contains("media.max_duration_s"), "{err}");
        }
        assert!(parse_config_str("[media]\nmax_duration_s = 0.5\n").is_ok());
    }

    /// The check the `config` fuzz target makes on every accepted config
    /// (seen in review; 844k runs did not reach such numbers): a wait this
    /// long made sqlx's pool panic on every acquire (`Instant + Duration`),
    /// and a lease this long overflows the SQL lease arithmetic.
    #[test]
    fn waits_are_bounded() {
        for key in [
            "[catalog]\nacquire_timeout_s",
            "[ingest]\nconnect_timeout_s",
            "[ingest]\nread_timeout_s",
            "[ingest]\ntotal_timeout_s",
            "[worker]\nlease_s",
            "[worker]\npoll_ms",
            "[media]\ntranscode_timeout_margin_s",
            "[http]\nheader_read_timeout_s",
            "[http]\nbody_timeout_s",
            "[http]\nshutdown_grace_s",
            "[http]\nshutdown_deadline_s",
            "[housekeeping]\ninterval_s",
            "[housekeeping]\nabandoned_after_s",
            "[housekeeping]\nscratch_max_age_s",
        ] {
            let err = parse_config_str(&format!("{key} = 9223372036854775807\n")).unwrap_err();
            assert_eq!(err.code(), "config-out-of-range", "{key}: {err}");
            let name = key.split('\n').nth(1).unwrap();
            assert!(err.to_string().contains(name), "{err}");
            let at_cap = if name == "poll_ms" {
                super::super::MAX_WAIT_S * 1000
            } else {
                super::super::MAX_WAIT_S
            };
            // The scratch age must outlast the download limit, so a download
            // limit at the cap needs the scratch age at the cap too.
            let also = if name == "total_timeout_s" {
                format!(
                    "\n[housekeeping]\nscratch_max_age_s = {}\n",
                    super::super::MAX_WAIT_S
                )
            } else {
                String::new()
            };
            // A transcode margin at the cap would outlast any scratch age
            // allowed, so it is refused by that rule instead.
            if name == "transcode_timeout_margin_s" {
                continue;
            }
            assert!(
                parse_config_str(&format!("{key} = {at_cap}\n{also}")).is_ok(),
                "{key}"
            );
        }
    }
}
