//! Builds a [`Config`] from its layers: embedded defaults, then the TOML
//! file, then `REEL_*` environment variables, then command-line flags.
//!
//! Environment names are `REEL_` plus the key path in capitals with
//! sections joined by `__` (`health.interval_ms` → `REEL_HEALTH__INTERVAL_MS`).
//! Only the keys listed in [`ENV_KEYS`] are read, because other `REEL_*`
//! variables belong to the app node and must not trip the balancer.

use std::path::PathBuf;

use toml::{Table, Value};

use super::{BackendConfig, Config, ConfigError};

/// Shape of an environment-settable value.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    /// Comma-separated list of strings.
    List,
}

/// Keys that hold secrets: accepted from the environment only, because
/// the TOML file is meant to be committed.
const SECRET_KEYS: &[&str] = &["admin.token", "admission.secret", "playback.keys"];

/// Key paths that may be set from the environment, with their shapes.
/// `backends` is handled separately (see [`BACKENDS_ENV`]).
const ENV_KEYS: &[(&str, Kind)] = &[
    ("listen", Kind::Str),
    ("admin_listen", Kind::Str),
    ("selection", Kind::Str),
    ("threads", Kind::Int),
    ("shutdown_grace_s", Kind::Int),
    ("health.path", Kind::Str),
    ("health.interval_ms", Kind::Int),
    ("health.timeout_ms", Kind::Int),
    ("health.healthy_threshold", Kind::Int),
    ("health.unhealthy_threshold", Kind::Int),
    ("proxy.connect_timeout_ms", Kind::Int),
    ("proxy.read_timeout_ms", Kind::Int),
    ("proxy.retries", Kind::Int),
    ("proxy.max_in_flight_per_backend", Kind::Int),
    ("proxy.max_in_flight_total", Kind::Int),
    ("proxy.retry_after_s", Kind::Int),
    ("proxy.first_byte_timeout_ms", Kind::Int),
    ("proxy.retry_budget_pct", Kind::Int),
    ("proxy.retry_budget_min_per_s", Kind::Int),
    ("proxy.panic_threshold_pct", Kind::Int),
    ("health.slow_start_s", Kind::Int),
    ("outlier.consecutive_failures", Kind::Int),
    ("outlier.eject_s", Kind::Int),
    ("outlier.max_ejected_pct", Kind::Int),
    ("cache.enabled", Kind::Bool),
    ("cache.max_bytes", Kind::Int),
    ("cache.max_object_bytes", Kind::Int),
    ("cache.lock_timeout_ms", Kind::Int),
    ("cache.playlist_max_age_s", Kind::Int),
    ("admission.playback_reserve_pct", Kind::Int),
    ("admission.session_ttl_s", Kind::Int),
    ("admission.max_sessions", Kind::Int),
    ("admission.session_idle_s", Kind::Int),
    ("admission.secret", Kind::Str),
    ("tls.cert", Kind::Str),
    ("tls.key", Kind::Str),
    ("tls.listen", Kind::Str),
    ("tls.redirect_http", Kind::Bool),
    ("admin.header_timeout_ms", Kind::Int),
    // The only way to set the token: the file is refused to hold it.
    ("admin.token", Kind::Str),
    ("upgrade_sock", Kind::Str),
    ("trusted_proxies", Kind::List),
    ("limits.header_read_timeout_ms", Kind::Int),
    ("limits.header_timeout_ms", Kind::Int),
    ("limits.keepalive_timeout_s", Kind::Int),
    ("limits.max_connections_per_ip", Kind::Int),
    ("limits.max_connections", Kind::Int),
    ("limits.requests_per_ip_per_s", Kind::Int),
    ("access_log.path", Kind::Str),
    ("access_log.queue", Kind::Int),
    // A secret too: the environment only.
    ("playback.keys", Kind::Str),
];

/// Environment variable replacing the backend list: `ADDR[=WEIGHT],…`.
pub const BACKENDS_ENV: &str = "REEL_BACKENDS";

/// The environment variable name for a key path.
pub fn env_name(key: &str) -> String {
    format!("REEL_{}", key.replace('.', "__").to_uppercase())
}

/// Values given on the command line; they win over every other layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<String>,
    /// `--admin-listen`.
    pub admin_listen: Option<String>,
    /// `--backend`, repeatable, already split into address and weight.
    pub backends: Vec<BackendConfig>,
}

/// Where the configuration comes from, kept so a reload can rebuild it.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    /// TOML file, if any; without one the embedded defaults are used.
    pub path: Option<PathBuf>,
    /// Command-line values.
    pub overrides: Overrides,
}

impl ConfigSource {
    /// Reads every layer and returns a validated configuration.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let mut table = match &self.path {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                        path: path.display().to_string(),
                        source,
                    })?;
                text.parse::<Table>()
                    .map_err(|e| ConfigError::Parse(format!("{}: {e}", path.display())))?
            }
            None => Table::new(),
        };
        refuse_file_secrets(&table)?;
        apply_env(&mut table, |k| std::env::var(k).ok())?;
        let mut config: Config = Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        self.overrides.apply(&mut config);
        config.validate()?;
        Ok(config)
    }
}

impl Overrides {
    fn apply(&self, config: &mut Config) {
        if let Some(l) = &self.listen {
            config.listen = l.clone();
        }
        if let Some(l) = &self.admin_listen {
            config.admin_listen = l.clone();
        }
        if !self.backends.is_empty() {
            config.backends = self.backends.clone();
        }
    }
}

/// Parses `ADDR[=WEIGHT]` as used by `--backend` and `REEL_BACKENDS`.
pub fn parse_backend(spec: &str) -> Result<BackendConfig, String> {
    let (address, weight) = match spec.split_once('=') {
        Some((a, w)) => {
            let w = w
                .trim()
                .parse::<u32>()
                .map_err(|_| format!("weight in `{spec}` is not a whole number"))?;
            (a.trim(), w)
        }
        None => (spec.trim(), 1),
    };
    if address.is_empty() {
        return Err(format!("`{spec}` has no address"));
    }
    Ok(BackendConfig {
        weight,
        ..BackendConfig::new(address)
    })
}

fn apply_env(
    table: &mut Table,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for (key, kind) in ENV_KEYS {
        let var = env_name(key);
        let Some(raw) = lookup(&var) else { continue };
        let value = match kind {
            Kind::Str => Value::String(raw),
            Kind::Bool => match raw.trim() {
                "true" | "1" => Value::Boolean(true),
                "false" | "0" => Value::Boolean(false),
                _ => {
                    return Err(ConfigError::Env {
                        var: var.clone(),
                        message: format!("`{raw}` is not true or false"),
                    })
                }
            },
            Kind::List => Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
            Kind::Int => {
                Value::Integer(raw.trim().parse::<i64>().map_err(|_| ConfigError::Env {
                    var: var.clone(),
                    message: format!("`{raw}` is not a whole number"),
                })?)
            }
        };
        set_path(table, key, value);
    }
    if let Some(raw) = lookup(BACKENDS_ENV) {
        let mut list = Vec::new();
        for spec in raw.split(',').filter(|s| !s.trim().is_empty()) {
            let b = parse_backend(spec).map_err(|message| ConfigError::Env {
                var: BACKENDS_ENV.into(),
                message,
            })?;
            let mut t = Table::new();
            t.insert("address".into(), Value::String(b.address));
            t.insert("weight".into(), Value::Integer(b.weight.into()));
            list.push(Value::Table(t));
        }
        table.insert("backends".into(), Value::Array(list));
    }
    Ok(())
}

/// A secret in the file is refused rather than ignored, so an operator
/// who put it there learns it was never used.
fn refuse_file_secrets(table: &Table) -> Result<(), ConfigError> {
    for key in SECRET_KEYS {
        let mut node = Some(table);
        let mut found = false;
        let parts: Vec<&str> = key.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let Some(t) = node else { break };
            match t.get(*part) {
                Some(Value::Table(inner)) if i + 1 < parts.len() => node = Some(inner),
                Some(_) if i + 1 == parts.len() => found = true,
                _ => node = None,
            }
        }
        if found {
            return Err(ConfigError::Invalid {
                key: (*key).to_string(),
                message: format!(
                    "is a secret and is read only from the environment ({}), never from the file",
                    env_name(key)
                ),
            });
        }
    }
    Ok(())
}

fn set_path(table: &mut Table, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            table.insert(key.to_string(), value);
        }
        Some((section, rest)) => {
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            if let Value::Table(inner) = entry {
                set_path(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load_with(text: &str, env: &[(&str, &str)], o: Overrides) -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut table: Table = text.parse().unwrap();
        refuse_file_secrets(&table)?;
        apply_env(&mut table, |k| env.get(k).cloned())?;
        let mut c: Config = Value::Table(table).try_into().unwrap();
        o.apply(&mut c);
        c.validate()?;
        Ok(c)
    }

    #[test]
    fn env_names_join_sections() {
        assert_eq!(env_name("health.interval_ms"), "REEL_HEALTH__INTERVAL_MS");
        assert_eq!(env_name("admin_listen"), "REEL_ADMIN_LISTEN");
    }

    #[test]
    fn layers_apply_in_order() {
        let file = "listen = \"127.0.0.1:7000\"\n[health]\ninterval_ms = 500\n";
        let env = [
            ("REEL_HEALTH__INTERVAL_MS", "300"),
            ("REEL_LISTEN", "127.0.0.1:7001"),
            ("REEL_BACKENDS", "127.0.0.1:1=3,127.0.0.1:2"),
        ];
        let o = Overrides {
            listen: Some("127.0.0.1:7002".into()),
            ..Default::default()
        };
        let c = load_with(file, &env, o).unwrap();
        assert_eq!(c.listen, "127.0.0.1:7002");
        assert_eq!(c.health.interval_ms, 300);
        assert_eq!(c.health.timeout_ms, 1000);
        assert_eq!(c.backends.len(), 2);
        assert_eq!(c.backends[0].weight, 3);
    }

    #[test]
    fn bad_env_number_names_the_variable() {
        let e = load_with("", &[("REEL_PROXY__RETRIES", "x")], Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("REEL_PROXY__RETRIES"), "{e}");
    }

    #[test]
    fn secrets_only_from_the_environment() {
        let file = "[admission]\nsecret = \"abc\"\n";
        let e = refuse_file_secrets(&file.parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("REEL_ADMISSION__SECRET"), "{e}");
        let c = load_with("", &[("REEL_ADMISSION__SECRET", "k")], Overrides::default()).unwrap();
        assert_eq!(c.admission.secret, "k");
    }

    #[test]
    fn playback_keys_only_from_the_environment_and_checked() {
        let file = "[playback]\nkeys = \"k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"\n";
        let e = refuse_file_secrets(&file.parse().unwrap()).unwrap_err();
        assert!(e.to_string().contains("REEL_PLAYBACK__KEYS"), "{e}");
        let keys = "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
        let c = load_with("", &[("REEL_PLAYBACK__KEYS", keys)], Overrides::default()).unwrap();
        assert_eq!(c.playback.parsed().signing_id(), Some("k1"));
        assert!(
            !format!("{c:?}").contains("MDEy"),
            "Debug shows key ids only"
        );
        let e = load_with(
            "",
            &[("REEL_PLAYBACK__KEYS", "k1:c2hvcnQ=")],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("playback.keys"), "{e}");
    }

    #[test]
    fn bool_env_values() {
        let e = load_with(
            "",
            &[("REEL_TLS__REDIRECT_HTTP", "yes")],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("REEL_TLS__REDIRECT_HTTP"), "{e}");
        // Parsed as true: refused only because TLS itself is not set up.
        let e = load_with(
            "",
            &[("REEL_TLS__REDIRECT_HTTP", "true")],
            Overrides::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("tls.redirect_http"), "{e}");
    }

    #[test]
    fn admin_token_only_from_the_environment() {
        let env = [("REEL_ADMIN__TOKEN", "0123456789abcdef0123")];
        let c = load_with("", &env, Overrides::default()).unwrap();
        assert!(c.admin.token.is_some());
        let file = "[admin]\ntoken = \"0123456789abcdef0123\"\n";
        let e = load_with(file, &env, Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("REEL_ADMIN__TOKEN"), "{e}");
        let c = load_with(
            "",
            &[("REEL_UPGRADE_SOCK", "run/u.sock")],
            Overrides::default(),
        );
        assert_eq!(c.unwrap().upgrade_sock, "run/u.sock");
    }

    #[test]
    fn edge_keys_from_env() {
        let env = [
            ("REEL_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1,"),
            ("REEL_LIMITS__MAX_CONNECTIONS_PER_IP", "7"),
            ("REEL_ACCESS_LOG__PATH", "-"),
        ];
        let c = load_with("", &env, Overrides::default()).unwrap();
        assert_eq!(c.trusted_proxies, ["10.0.0.0/8", "192.0.2.1"]);
        assert_eq!(c.limits.max_connections_per_ip, 7);
        assert_eq!(c.access_log.path, "-");
        let env = [("REEL_TRUSTED_PROXIES", "10.0.0.0/8,bad")];
        let e = load_with("", &env, Overrides::default()).unwrap_err();
        assert!(e.to_string().starts_with("trusted_proxies[1]"), "{e}");
    }

    #[test]
    fn the_sample_file_shows_the_defaults() {
        let text = include_str!("../../../configs/balancer.toml");
        let mut c = load_with(text, &[], Overrides::default()).unwrap();
        // The file spells out the default names; the defaults leave them unset.
        assert_eq!(c.backend_names(), Config::default().backend_names());
        for b in &mut c.backends {
            b.name = None;
        }
        assert_eq!(c, Config::default());
    }

    #[test]
    fn backend_specs() {
        assert_eq!(parse_backend("1.2.3.4:5=7").unwrap().weight, 7);
        assert_eq!(parse_backend("1.2.3.4:5").unwrap().weight, 1);
        assert!(parse_backend("1.2.3.4:5=x").is_err());
    }
}
