//! The few places where the three SQL engines disagree, kept in one spot so
//! every query is written once.
//!
//! Queries are written with `?` placeholders and the token `NOW_MS` for "the
//! database's clock in Unix milliseconds"; [`Dialect::sql`] turns them into
//! the engine's own text.

use std::borrow::Cow;

/// A supported SQL engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.35+ (embedded).
    Sqlite,
    /// PostgreSQL 13+.
    Postgres,
    /// MySQL 8 or MariaDB 10.6+.
    Mysql,
}

impl Dialect {
    /// The engine named by a URL's scheme.
    pub fn from_url(url: &str) -> Option<Self> {
        let scheme = url.split(':').next().unwrap_or("");
        match scheme {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" => Some(Dialect::Mysql),
            _ => None,
        }
    }

    /// The database's clock as Unix milliseconds, an integer expression.
    /// Leases use it so that nodes whose clocks disagree still agree on
    /// when a lease has expired.
    fn now_ms(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)"
            }
            Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
            Dialect::Mysql => "CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)",
        }
    }

    /// Suffix of the SELECT that picks a job to claim: row locks that other
    /// workers skip instead of waiting on. SQLite has one writer at a time
    /// and needs none.
    pub fn claim_lock(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres | Dialect::Mysql => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Whether a claim runs inside a transaction. SQLite does not: a read
    /// transaction that later writes fails at once if another writer got in
    /// between (WAL snapshots cannot be upgraded), so its claim relies on
    /// the conditional UPDATE alone.
    pub fn claim_in_transaction(self) -> bool {
        self != Dialect::Sqlite
    }

    /// The engine's text for a query written with `?` and `NOW_MS`.
    pub fn sql(self, q: &str) -> Cow<'_, str> {
        let q = if q.contains("NOW_MS") {
            Cow::Owned(q.replace("NOW_MS", self.now_ms()))
        } else {
            Cow::Borrowed(q)
        };
        match self {
            Dialect::Postgres if q.contains('?') => Cow::Owned(numbered(&q)),
            _ => q,
        }
    }
}

/// `?` → `$1`, `$2`, … (queries here never hold `?` inside string literals).
fn numbered(q: &str) -> String {
    let mut out = String::with_capacity(q.len() + 8);
    let mut n = 0;
    for c in q.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// `?, ?, ?` for an IN list of `n` items.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Escapes LIKE wildcards with `!` (a character every engine accepts as an
/// ESCAPE without string-literal quirks) so a search for `100%` means the
/// text `100%`.
pub fn like_pattern(q: &str) -> String {
    let mut s = String::from("%");
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            s.push('!');
        }
        s.push(c);
    }
    s.push('%');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let q = "SELECT a FROM t WHERE x = ? AND y < NOW_MS AND z = ?";
        assert!(Dialect::Postgres
            .sql(q)
            .ends_with("x = $1 AND y < CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) AND z = $2"));
        assert!(Dialect::Mysql.sql(q).contains("x = ? AND"));
        assert!(Dialect::Sqlite.sql(q).contains("julianday"));
    }

    #[test]
    fn like_escapes_wildcards() {
        assert_eq!(like_pattern("100%_A!"), "%100!%!_a!!%");
    }

    #[test]
    fn schemes() {
        assert_eq!(Dialect::from_url("sqlite://x.db"), Some(Dialect::Sqlite));
        assert_eq!(
            Dialect::from_url("postgresql://h/db"),
            Some(Dialect::Postgres)
        );
        assert_eq!(Dialect::from_url("mysql://h/db"), Some(Dialect::Mysql));
        assert_eq!(Dialect::from_url("redis://h"), None);
    }
}
