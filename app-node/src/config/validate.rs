//! Checks of values serde cannot make: ranges, supported kinds, and how
//! keys relate to each other.

use super::{parse_net, Config, ConfigError, CorsConfig, EmbedConfig, MAX_WAIT_S};

impl Config {
    /// Checks values serde cannot: ranges and supported kinds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| {
            Err(ConfigError::Invalid {
                key: key.to_string(),
                layer: String::new(),
                reason: why.to_string(),
            })
        };
        if self.http.visibility_cache_ms > 60_000 {
            return bad(
                "http.visibility_cache_ms",
                "must be at most 60000 (a minute)",
            );
        }
        if let Err(e) = reel_playback::Keys::parse(&self.playback.keys) {
            return bad("playback.keys", &e.to_string());
        }
        let max_ttl = self.playback.max_token_ttl_s;
        if !(60..=MAX_WAIT_S).contains(&max_ttl) {
            return bad(
                "playback.max_token_ttl_s",
                "must be between 60 and 2592000 (30 days)",
            );
        }
        if !(60..=max_ttl).contains(&self.playback.token_ttl_s) {
            return bad(
                "playback.token_ttl_s",
                "must be between 60 and playback.max_token_ttl_s",
            );
        }
        for url in &self.edge.purge_urls {
            let ok = reqwest::Url::parse(url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return bad("edge.purge_urls", "each entry must be an http(s):// URL");
            }
        }
        match self.storage.kind.as_str() {
            "local" => {}
            "s3" if self.storage.s3.bucket.is_empty() => {
                return bad(
                    "storage.s3.bucket",
                    "is required when storage.kind = \"s3\"",
                )
            }
            "s3" => {}
            _ => return bad("storage.kind", "must be \"local\" or \"s3\""),
        }
        match self.storage.serve.as_str() {
            "proxy" => {}
            "redirect" if self.storage.kind == "s3" => {}
            "redirect" => {
                return bad(
                    "storage.serve",
                    "\"redirect\" needs storage.kind = \"s3\" (a local store has no URLs to sign)",
                )
            }
            _ => return bad("storage.serve", "must be \"proxy\" or \"redirect\""),
        }
        if !(1..=7 * 24 * 3600).contains(&self.storage.redirect_expiry_s) {
            return bad(
                "storage.redirect_expiry_s",
                "must be between 1 and 604800 (7 days)",
            );
        }
        let url = self.catalog_url();
        if !["sqlite:", "postgres:", "postgresql:", "mysql:"]
            .iter()
            .any(|s| url.starts_with(s))
        {
            return bad(
                "catalog.url",
                "must start with sqlite://, postgres:// or mysql://",
            );
        }
        if self.catalog.max_connections == 0 {
            return bad("catalog.max_connections", "must be at least 1");
        }
        if self.catalog.acquire_timeout_s == 0 {
            return bad("catalog.acquire_timeout_s", "must be at least 1");
        }
        if self.worker.concurrency == 0 || self.worker.concurrency > 64 {
            return bad("worker.concurrency", "must be between 1 and 64");
        }
        if self.worker.lease_s < 2 {
            return bad("worker.lease_s", "must be at least 2 seconds");
        }
        if self.worker.max_attempts < 1 {
            return bad("worker.max_attempts", "must be at least 1");
        }
        if self.worker.retry_backoff_max_s > 7 * 24 * 3600 {
            return bad(
                "worker.retry_backoff_max_s",
                "must be at most 604800 (7 days)",
            );
        }
        if self.worker.retry_backoff_s > self.worker.retry_backoff_max_s {
            return bad(
                "worker.retry_backoff_s",
                "must not exceed worker.retry_backoff_max_s",
            );
        }
        let m = &self.media;
        if !(m.transcode_timeout_factor.is_finite() && m.transcode_timeout_factor > 0.0) {
            return bad(
                "media.transcode_timeout_factor",
                "must be a positive number",
            );
        }
        if m.transcode_timeout_margin_s == 0 {
            return bad("media.transcode_timeout_margin_s", "must be at least 1");
        }
        if !(m.max_duration_s.is_finite() && m.max_duration_s > 0.0) {
            return bad("media.max_duration_s", "must be a positive number");
        }
        if m.max_pixels < 4 {
            return bad("media.max_pixels", "must be at least 4 (a 2x2 frame)");
        }
        if !(m.max_fps.is_finite() && m.max_fps >= 1.0) {
            return bad("media.max_fps", "must be at least 1");
        }
        if m.max_streams == 0 {
            return bad("media.max_streams", "must be at least 1");
        }
        if self.ingest.max_bytes == 0 {
            return bad("ingest.max_bytes", "must be positive");
        }
        if self.ingest.upload_expire_s == 0 {
            return bad("ingest.upload_expire_s", "must be positive");
        }
        if self.ingest.upload_lock_s == 0 {
            return bad("ingest.upload_lock_s", "must be positive");
        }
        if self.ingest.upload_max_life_s == 0 {
            return bad("ingest.upload_max_life_s", "must be positive");
        }
        if self.ingest.max_open_uploads == 0 {
            return bad("ingest.max_open_uploads", "must be at least 1");
        }
        if self.ingest.max_upload_chunks < 2 {
            return bad("ingest.max_upload_chunks", "must be at least 2");
        }
        // Waits become deadlines (`Instant + Duration` panics past the end of
        // time, in sqlx's pool among others) and leases SQL integers, so an
        // absurd value must stop here rather than in a request.
        let waits = [
            ("catalog.acquire_timeout_s", self.catalog.acquire_timeout_s),
            ("ingest.connect_timeout_s", self.ingest.connect_timeout_s),
            ("ingest.read_timeout_s", self.ingest.read_timeout_s),
            ("ingest.total_timeout_s", self.ingest.total_timeout_s),
            ("ingest.upload_expire_s", self.ingest.upload_expire_s),
            ("ingest.upload_lock_s", self.ingest.upload_lock_s),
            ("ingest.upload_max_life_s", self.ingest.upload_max_life_s),
            ("worker.lease_s", self.worker.lease_s),
            ("worker.poll_ms", self.worker.poll_ms / 1000),
            ("worker.retry_backoff_s", self.worker.retry_backoff_s),
            (
                "worker.retry_backoff_max_s",
                self.worker.retry_backoff_max_s,
            ),
            (
                "media.transcode_timeout_margin_s",
                self.media.transcode_timeout_margin_s,
            ),
            (
                "http.header_read_timeout_s",
                self.http.header_read_timeout_s,
            ),
            ("http.body_timeout_s", self.http.body_timeout_s),
            ("http.listing_cache_ms", self.http.listing_cache_ms / 1000),
            ("http.shutdown_grace_s", self.http.shutdown_grace_s),
            ("http.shutdown_deadline_s", self.http.shutdown_deadline_s),
            ("housekeeping.interval_s", self.housekeeping.interval_s),
            (
                "housekeeping.abandoned_after_s",
                self.housekeeping.abandoned_after_s,
            ),
            (
                "housekeeping.scratch_max_age_s",
                self.housekeeping.scratch_max_age_s,
            ),
        ];
        if let Some((key, _)) = waits.iter().find(|(_, s)| *s > MAX_WAIT_S) {
            return bad(key, "must be at most 30 days");
        }
        let h = &self.http;
        for (key, v) in [
            ("http.max_concurrency", h.max_concurrency),
            ("http.max_media_concurrency", h.max_media_concurrency),
            ("http.max_connections", h.max_connections),
            (
                "http.max_connections_per_client",
                h.max_connections_per_client,
            ),
            ("http.password_threads", h.password_threads),
            ("http.password_queue", h.password_queue),
            ("http.body_budget_mib", h.body_budget_mib),
        ] {
            if v == 0 {
                return bad(key, "must be positive");
            }
        }
        for (key, v) in [
            ("http.header_read_timeout_s", h.header_read_timeout_s),
            ("http.body_timeout_s", h.body_timeout_s),
            ("http.shutdown_deadline_s", h.shutdown_deadline_s),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1 second");
            }
        }
        if self.qoe.reports_per_ip_per_min == 0 {
            return bad("qoe.reports_per_ip_per_min", "must be positive");
        }
        if self.qoe.sessions_per_ip_per_min == 0 {
            return bad("qoe.sessions_per_ip_per_min", "must be positive");
        }
        if !(1..=3650).contains(&self.qoe.keep_days) {
            return bad("qoe.keep_days", "must be between 1 and 3650");
        }
        let hk = &self.housekeeping;
        if hk.interval_s == 0 {
            return bad("housekeeping.interval_s", "must be at least 1 second");
        }
        if hk.abandoned_after_s < 60 {
            return bad(
                "housekeeping.abandoned_after_s",
                "must be at least 60 seconds",
            );
        }
        // A job's scratch folder keeps the time of its last new entry (the
        // download's file, then the transcode's output folder), so the age
        // limit must exceed the longest either step may run: the download
        // limit, or the transcode limit of the longest source, doubled for
        // HDR.
        let m = &self.media;
        let transcode = 2.0
            * (m.transcode_timeout_factor * m.max_duration_s + m.transcode_timeout_margin_s as f64);
        let longest_job = transcode.max(self.ingest.total_timeout_s as f64);
        if (hk.scratch_max_age_s as f64) < longest_job {
            return bad(
                "housekeeping.scratch_max_age_s",
                &format!(
                    "must exceed the longest a job can run ({} s with these media and ingest limits)",
                    longest_job.ceil()
                ),
            );
        }
        if h.login_per_ip_per_min == 0 || h.login_per_user_per_min == 0 {
            return bad(
                "http.login_per_ip_per_min / http.login_per_user_per_min",
                "must be at least 1",
            );
        }
        if let Some(p) = h.trusted_proxies.iter().find(|p| parse_net(p).is_none()) {
            return bad(
                "http.trusted_proxies",
                &format!("{p:?} is not an IP address or CIDR network"),
            );
        }
        self.embed.check()?;
        self.cors.check()?;
        self.validate_webhooks()
    }

    /// The `[webhooks]` keys. Endpoints pass the imports' SSRF guard here
    /// for IP literals; host names are checked again as they resolve, at
    /// every send.
    fn validate_webhooks(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| {
            Err(ConfigError::Invalid {
                key: key.to_string(),
                layer: String::new(),
                reason: why,
            })
        };
        let w = &self.webhooks;
        for raw in &w.urls {
            if raw.len() > 2000 {
                return bad(
                    "webhooks.urls",
                    format!("an endpoint URL is longer than 2000 bytes: {:.60}…", raw),
                );
            }
            let url = match url::Url::parse(raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => u,
                _ => return bad("webhooks.urls", format!("{raw:?} is not an http(s):// URL")),
            };
            if !url.username().is_empty() || url.password().is_some() {
                return bad(
                    "webhooks.urls",
                    format!("{raw:?} carries credentials; receivers check the signature instead"),
                );
            }
            if let Err(e) = crate::ingest::check_url(&url, w.allow_private_networks) {
                return bad(
                    "webhooks.urls",
                    format!("{raw:?} is refused: {e} (see webhooks.allow_private_networks)"),
                );
            }
        }
        if w.connect_timeout_s == 0 || w.timeout_s == 0 {
            return bad(
                "webhooks.connect_timeout_s / webhooks.timeout_s",
                "must be at least 1 second".into(),
            );
        }
        if w.connect_timeout_s > w.timeout_s || w.timeout_s > 300 {
            return bad(
                "webhooks.timeout_s",
                "must be at least webhooks.connect_timeout_s and at most 300".into(),
            );
        }
        if !(1..=100).contains(&w.max_attempts) {
            return bad("webhooks.max_attempts", "must be between 1 and 100".into());
        }
        if w.retry_backoff_max_s > 7 * 24 * 3600 {
            return bad(
                "webhooks.retry_backoff_max_s",
                "must be at most 604800 (7 days)".into(),
            );
        }
        if w.retry_backoff_s > w.retry_backoff_max_s {
            return bad(
                "webhooks.retry_backoff_s",
                "must not exceed webhooks.retry_backoff_max_s".into(),
            );
        }
        if !(10..=60_000).contains(&w.poll_ms) {
            return bad("webhooks.poll_ms", "must be between 10 and 60000".into());
        }
        if !(1..=3650).contains(&w.keep_days) {
            return bad("webhooks.keep_days", "must be between 1 and 3650".into());
        }
        Ok(())
    }
}

fn invalid(key: &str, why: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        layer: String::new(),
        reason: why.to_string(),
    }
}

impl EmbedConfig {
    /// Each entry must be one CSP source expression, so that no value can
    /// end the directive (`;`) and add another policy to the embed page.
    fn check(&self) -> Result<(), ConfigError> {
        let key = "embed.frame_ancestors";
        let list = &self.frame_ancestors;
        if list.is_empty() {
            return Err(invalid(
                key,
                "must not be empty (use [\"'none'\"] to allow no site)",
            ));
        }
        if list.len() > 1 && list.iter().any(|s| s == "'none'") {
            return Err(invalid(key, "'none' must be the only entry"));
        }
        for s in list {
            let keyword = matches!(s.as_str(), "'self'" | "'none'" | "*");
            let host_source = !s.is_empty()
                && s.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | ':' | '/' | '_')
                });
            if !keyword && !host_source {
                return Err(invalid(
                    key,
                    &format!(
                        "{s:?} is not a CSP source (\"*\", \"'self'\", \"'none'\", \"https:\" or \"https://host[:port]\")"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl CorsConfig {
    /// `""`, `"*"` or exactly one serialised origin (no path, no slash).
    fn check(&self) -> Result<(), ConfigError> {
        let o = self.allow_origin.as_str();
        let origin_ok = o.is_empty()
            || o == "*"
            || reqwest::Url::parse(o).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.origin().ascii_serialization() == o
            });
        if !origin_ok {
            return Err(invalid(
                "cors.allow_origin",
                "must be \"*\", \"\" (off) or one origin such as \"https://blog.example\" (no path)",
            ));
        }
        if !(1..=86_400).contains(&self.preflight_max_age_s) {
            return Err(invalid(
                "cors.preflight_max_age_s",
                "must be between 1 and 86400",
            ));
        }
        Ok(())
    }
}
