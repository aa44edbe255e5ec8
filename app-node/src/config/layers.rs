//! Merging the configuration layers.

use std::path::Path;

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
    #[error("invalid config key {key}: {reason}")]
    Invalid {
        /// Key path.
        key: String,
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

/// Loads defaults → `file` → `REEL_*` environment → `overrides`.
///
/// `env` is passed in (rather than read here) so tests can build a config
/// without touching the process environment.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let mut root = parse_layer(DEFAULTS, "defaults")?;
    let defaults = root.clone();
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        merge(&mut root, parse_layer(&text, &path.display().to_string())?);
    }
    for (name, value) in env {
        let Some(rest) = name.strip_prefix("REEL_") else {
            continue;
        };
        if rest == "CONFIG" {
            continue;
        }
        let key = rest.to_ascii_lowercase().replace("__", ".");
        // The balancer reads REEL_* too; a variable meant for it must not
        // stop a node from starting, so unknown names are skipped here.
        if has_path(&defaults, &key) {
            set_path(&mut root, &key, &value);
        } else {
            tracing::debug!("ignoring {name}: not a node setting");
        }
    }
    for (key, value) in &overrides.pairs {
        set_path(&mut root, key, value);
    }
    typed_config(root)
}

/// The embedded defaults with `text` on top, as if `text` were the file
/// given to [`load`] with no environment and no flags: the same parsing,
/// merging and validation. The entry point of the config fuzz target.
pub fn parse_config_str(text: &str) -> Result<Config, ConfigError> {
    let mut root = parse_layer(DEFAULTS, "defaults")?;
    merge(&mut root, parse_layer(text, "text")?);
    typed_config(root)
}

fn parse_layer(text: &str, layer: &str) -> Result<Table, ConfigError> {
    text.parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            layer: layer.to_string(),
            message: e.to_string(),
        })
}

/// One typed deserialisation of the merged layers, then the range checks.
fn typed_config(root: Table) -> Result<Config, ConfigError> {
    let cfg: Config = Value::Table(root)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            layer: "merged".into(),
            message: e.to_string(),
        })?;
    cfg.validate()?;
    Ok(cfg)
}

fn has_path(table: &Table, key: &str) -> bool {
    let mut t = table;
    let mut parts = key.split('.').peekable();
    while let Some(p) = parts.next() {
        match (t.get(p), parts.peek()) {
            (Some(Value::Table(sub)), Some(_)) => t = sub,
            (Some(v), None) => return !v.is_table(),
            _ => return false,
        }
    }
    false
}

fn merge(base: &mut Table, top: Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
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

fn set_path(root: &mut Table, key: &str, raw: &str) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut table = root;
    for p in parts {
        let entry = table
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        table = entry.as_table_mut().expect("just made a table");
    }
    // Keep the default's type when the default is a float or a string, so
    // `max_duration_s=60` and `node_name=42` still deserialise.
    let value = match (table.get(last), typed(raw)) {
        (Some(Value::Float(_)), Value::Integer(i)) => Value::Float(i as f64),
        (Some(Value::String(_)), v) if !v.is_str() => Value::String(raw.to_string()),
        (_, v) => v,
    };
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
            "[media]\ntranscode_timeout_s",
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
            assert!(
                parse_config_str(&format!("{key} = {at_cap}\n")).is_ok(),
                "{key}"
            );
        }
    }
}
