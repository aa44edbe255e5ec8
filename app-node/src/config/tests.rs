//! Tests of the configuration's defaults, validation and secrets.

use super::*;

#[test]
fn retry_and_media_limits_are_refused_with_their_keys() {
    for (key, value) in [
        ("worker.retry_backoff_s", "1000"),
        ("worker.retry_backoff_max_s", "999999999"),
        ("media.transcode_timeout_factor", "0"),
        ("media.transcode_timeout_margin_s", "0"),
        ("media.max_duration_s", "-1"),
        ("media.max_pixels", "0"),
        ("media.max_fps", "0.5"),
        ("media.max_streams", "0"),
    ] {
        let o = Overrides {
            pairs: vec![(key.into(), value.into())],
        };
        let err = load(None, Vec::new(), &o).unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
    let o = Overrides {
        pairs: vec![("worker.retry_backoff_s".into(), "0".into())],
    };
    assert!(load(None, Vec::new(), &o).is_ok(), "no backoff is allowed");
}

#[test]
fn embed_and_cors_values_are_checked() {
    let load1 = |key: &str, value: &str| {
        let o = Overrides {
            pairs: vec![(key.into(), value.into())],
        };
        load(None, Vec::new(), &o)
    };
    for (key, value) in [
        ("embed.frame_ancestors", "[]"),
        (
            "embed.frame_ancestors",
            r#"["'none'", "https://a.example"]"#,
        ),
        (
            "embed.frame_ancestors",
            r#"["https://a.example; script-src *"]"#,
        ),
        ("embed.frame_ancestors", r#"["'unsafe-inline'"]"#),
        ("cors.allow_origin", "https://a.example/"),
        ("cors.allow_origin", "https://a.example, https://b.example"),
        ("cors.allow_origin", "null"),
        ("cors.preflight_max_age_s", "0"),
    ] {
        let err = load1(key, value).unwrap_err();
        assert!(err.to_string().contains(key), "{key} = {value}: {err}");
    }
    let c = load1(
        "embed.frame_ancestors",
        r#"["'self'", "https://*.example.org:8443"]"#,
    )
    .unwrap();
    assert_eq!(
        c.embed.frame_ancestors_value(),
        "'self' https://*.example.org:8443"
    );
    assert_eq!(c.cors.allow_origin, "*");
    assert!(load1("cors.allow_origin", "https://blog.example:8443").is_ok());
    assert!(load1("cors.allow_origin", "").is_ok());
}

fn with(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let o = Overrides {
        pairs: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    load(None, Vec::new(), &o)
}

#[test]
fn webhook_endpoints_pass_the_ssrf_guard() {
    for bad in [
        "ftp://example.com/x",
        "not a url",
        "http://127.0.0.1:9/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "https://user:pw@example.com/hook",
    ] {
        let err = with(&[("webhooks.urls", bad)]).unwrap_err().to_string();
        assert!(err.contains("webhooks.urls"), "{bad}: {err}");
    }
    let c = with(&[("webhooks.urls", "https://example.com/hook")]).unwrap();
    assert_eq!(c.webhooks.urls, vec!["https://example.com/hook"]);
    // Their own switch: allowing imports from the LAN is not enough.
    let imports_only = [
        ("webhooks.urls", "http://127.0.0.1:9/hook"),
        ("ingest.allow_private_networks", "true"),
    ];
    assert!(with(&imports_only).is_err());
    let loopback = [
        ("webhooks.urls", "http://127.0.0.1:9/hook"),
        ("webhooks.allow_private_networks", "true"),
    ];
    assert!(with(&loopback).is_ok());
}

#[test]
fn secrets_in_the_environment_are_not_reported_as_typos() {
    let env = [
        ("REEL_WEBHOOKS__SECRET", "s"),
        ("REEL_WEBHOOKS__SECRT", "s"),
        ("REEL_EDGE__PURGE_TOKEN", "t"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    assert_eq!(unknown_env(env.clone()), vec!["REEL_WEBHOOKS__SECRT"]);
    // Nor do they become settings.
    assert!(load(None, env, &Overrides::default()).is_ok());
}

#[test]
fn webhook_limits_and_the_secret_key_are_refused() {
    for (key, value) in [
        ("webhooks.timeout_s", "0"),
        ("webhooks.max_attempts", "0"),
        ("webhooks.retry_backoff_s", "7200"),
        ("webhooks.poll_ms", "1"),
    ] {
        let err = with(&[(key, value)]).unwrap_err().to_string();
        assert!(err.contains(key), "{key}: {err}");
    }
    // The secret is never a key: a file that sets it is refused rather
    // than holding a secret nobody reads.
    let err = parse_config_str("[webhooks]\nsecret = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("secret"), "{err}");
}

#[test]
fn playback_keys_and_lifetimes_are_checked_and_never_shown() {
    let secret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let ok = with(&[("playback.keys", &format!("k2:{secret}, k1:{secret}"))]).unwrap();
    assert_eq!(ok.playback.keys().signing_id(), Some("k2"));
    let shown = format!("{ok:?}");
    assert!(!shown.contains(secret), "Debug shows key ids only");
    assert!(shown.contains("k2"));
    for (key, value) in [
        ("playback.keys", "k1:c2hvcnQ="),
        ("playback.keys", "k1"),
        ("playback.token_ttl_s", "10"),
        ("playback.max_token_ttl_s", "99999999"),
        ("http.visibility_cache_ms", "600000"),
    ] {
        let err = with(&[(key, value)]).unwrap_err().to_string();
        assert!(err.contains(key), "{key}={value}: {err}");
        assert!(!err.contains("c2hvcnQ"), "no secret in: {err}");
    }
    let err = with(&[("playback.token_ttl_s", "90000")]).unwrap_err();
    assert!(err.to_string().contains("playback.token_ttl_s"), "{err}");
}
