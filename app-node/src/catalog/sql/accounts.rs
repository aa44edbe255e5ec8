//! Uploaders, their API tokens and login sessions. Only hashes of secrets
//! are stored.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::FromRow;

use super::SqlCatalog;
use crate::catalog::model::valid_token_id;
use crate::catalog::{Accounts, CatalogError, Result, Role, TokenInfo, User, TOKEN_ID_LEN};

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    password_hash: String,
}

/// A user as read from `users` (aliased `u`) with [`USER_COLS`].
#[derive(FromRow)]
struct UserInfoRow {
    id: i64,
    name: String,
    role: String,
}

impl From<UserInfoRow> for User {
    fn from(r: UserInfoRow) -> Self {
        User {
            id: r.id,
            name: r.name,
            role: Role::parse(&r.role),
        }
    }
}

/// The columns of a [`UserInfoRow`].
const USER_COLS: &str = "u.id, u.name, u.role";

#[derive(FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    user: UserInfoRow,
    csrf: String,
}

#[async_trait]
impl Accounts for SqlCatalog {
    async fn add_user(&self, name: &str, password_hash: &str, role: Role) -> Result<i64> {
        let r = sqlx::query(&self.sql(
            "INSERT INTO users (name, password_hash, role, created_at) VALUES (?, ?, ?, NOW_MS)",
        ))
        .bind(name)
        .bind(password_hash)
        .bind(role.as_str())
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(CatalogError::Conflict(format!("user {name}")))
            }
            Err(e) => return Err(e.into()),
        }
        // Read back by name: engines disagree on returning generated ids.
        self.user_password(name)
            .await?
            .map(|(id, _)| id)
            .ok_or_else(|| CatalogError::NotFound(format!("user {name}")))
    }

    async fn user(&self, name: &str) -> Result<Option<User>> {
        let q = format!("SELECT {USER_COLS} FROM users u WHERE u.name = ?");
        let row = sqlx::query_as::<_, UserInfoRow>(&self.sql(&q))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(User::from))
    }

    async fn set_role(&self, name: &str, role: Role) -> Result<bool> {
        let r = sqlx::query(&self.sql("UPDATE users SET role = ? WHERE name = ?"))
            .bind(role.as_str())
            .bind(name)
            .execute(&self.pool)
            .await?;
        // Rows matched on every engine (see `set_title`).
        Ok(r.rows_affected() == 1)
    }

    async fn user_password(&self, name: &str) -> Result<Option<(i64, String)>> {
        let row = sqlx::query_as::<_, UserRow>(
            &self.sql("SELECT id, password_hash FROM users WHERE name = ?"),
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| (r.id, r.password_hash)))
    }

    async fn add_token(&self, user: &str, token_hash: &str) -> Result<()> {
        let Some((uid, _)) = self.user_password(user).await? else {
            return Err(CatalogError::NotFound(format!("user {user}")));
        };
        sqlx::query(
            &self.sql(
                "INSERT INTO api_tokens (token_hash, user_id, created_at) VALUES (?, ?, NOW_MS)",
            ),
        )
        .bind(token_hash)
        .bind(uid)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn token_user(&self, token_hash: &str) -> Result<Option<User>> {
        let q = format!(
            "SELECT {USER_COLS} FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = ?"
        );
        let row = sqlx::query_as::<_, UserInfoRow>(&self.sql(&q))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(User::from))
    }

    async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        let filter = if user.is_some() {
            "WHERE u.name = ?"
        } else {
            ""
        };
        let sql = format!(
            "SELECT SUBSTR(t.token_hash, 1, {TOKEN_ID_LEN}) AS id, u.name AS user, t.created_at
             FROM api_tokens t JOIN users u ON u.id = t.user_id {filter}
             ORDER BY t.created_at, t.token_hash"
        );
        let sql = self.sql(&sql);
        let q = sqlx::query_as::<_, TokenInfo>(&sql);
        let q = match user {
            Some(u) => q.bind(u),
            None => q,
        };
        Ok(q.fetch_all(&self.pool).await?)
    }

    async fn revoke_token(&self, id: &str) -> Result<bool> {
        if !valid_token_id(id) {
            return Ok(false);
        }
        let sql = format!("DELETE FROM api_tokens WHERE SUBSTR(token_hash, 1, {TOKEN_ID_LEN}) = ?");
        let r = sqlx::query(&self.sql(&sql))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn remove_user(&self, name: &str) -> Result<bool> {
        let Some((uid, _)) = self.user_password(name).await? else {
            return Ok(false);
        };
        // Children first and in one transaction, rather than trusting every
        // engine's foreign-key cascade to be switched on. Their videos stay,
        // ownerless (and so left to admins).
        let mut tx = self.pool.begin().await?;
        sqlx::query(&self.sql("UPDATE videos SET owner_id = NULL WHERE owner_id = ?"))
            .bind(uid)
            .execute(&mut *tx)
            .await?;
        for table in ["sessions", "api_tokens", "users"] {
            let col = if table == "users" { "id" } else { "user_id" };
            sqlx::query(&self.sql(&format!("DELETE FROM {table} WHERE {col} = ?")))
                .bind(uid)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn add_session(
        &self,
        id_hash: &str,
        user_id: i64,
        csrf: &str,
        ttl: Duration,
    ) -> Result<()> {
        // Housekeeping rides along with logins so expired rows never pile up.
        sqlx::query(&self.sql("DELETE FROM sessions WHERE expires_at < NOW_MS"))
            .execute(&self.pool)
            .await?;
        sqlx::query(&self.sql(
            "INSERT INTO sessions (id_hash, user_id, csrf, expires_at)
             VALUES (?, ?, ?, NOW_MS + ?)",
        ))
        .bind(id_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(ttl.as_millis().min(i64::MAX as u128) as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &str) -> Result<Option<(User, String)>> {
        let q = format!(
            "SELECT {USER_COLS}, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_hash = ? AND s.expires_at > NOW_MS"
        );
        let row = sqlx::query_as::<_, SessionRow>(&self.sql(&q))
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (r.user.into(), r.csrf)))
    }

    async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query(&self.sql("DELETE FROM sessions WHERE id_hash = ?"))
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
