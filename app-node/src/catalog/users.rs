//! Uploaders, their API tokens and login sessions in the SQLite catalog.
//! Only hashes of secrets are stored.

use sqlx::Row;

use super::model::now_ms;
use super::sqlite::SqliteCatalog;
use super::{CatalogError, Result};

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl SqliteCatalog {
    pub(super) async fn insert_user(&self, name: &str, password_hash: &str) -> Result<i64> {
        let r = sqlx::query("INSERT INTO users (name, password_hash, created_at) VALUES (?, ?, ?)")
            .bind(name)
            .bind(password_hash)
            .bind(now_ms())
            .execute(&self.pool)
            .await;
        match r {
            Ok(r) => Ok(r.last_insert_rowid()),
            Err(e) if is_unique_violation(&e) => {
                Err(CatalogError::Conflict(format!("user {name}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(super) async fn find_user(&self, name: &str) -> Result<Option<(i64, String)>> {
        let row = sqlx::query("SELECT id, password_hash FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    pub(super) async fn insert_token(&self, user: &str, token_hash: &str) -> Result<()> {
        let Some((uid, _)) = self.find_user(user).await? else {
            return Err(CatalogError::NotFound(format!("user {user}")));
        };
        sqlx::query("INSERT INTO api_tokens (token_hash, user_id, created_at) VALUES (?, ?, ?)")
            .bind(token_hash)
            .bind(uid)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn find_token(&self, token_hash: &str) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM api_tokens WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub(super) async fn insert_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_ms: i64,
    ) -> Result<()> {
        // Housekeeping rides along with logins so expired rows never pile up.
        sqlx::query("DELETE FROM sessions WHERE expires_at < ?")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, csrf, expires_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(expires_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn find_session(&self, id_hash: &str) -> Result<Option<(i64, String)>> {
        let row =
            sqlx::query("SELECT user_id, csrf FROM sessions WHERE id_hash = ? AND expires_at > ?")
                .bind(id_hash)
                .bind(now_ms())
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    pub(super) async fn remove_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
