//! `user add|role|remove` and `token create|list|revoke|check`.

use std::io::BufRead;

use crate::auth::{digest, hash_password, new_secret};
use crate::catalog::{Catalog, CatalogError, Role, TOKEN_ID_LEN};
use crate::config::Config;

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Adds a user with `role`, reading the password from the first line of
/// stdin.
pub async fn add_user(cfg: Config, name: &str, role: Role) -> anyhow::Result<i32> {
    if !valid_name(name) {
        eprintln!("error[bad-name]: user names are 1-64 characters of letters, digits, _ - .");
        return Ok(2);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let password = line.trim_end_matches(['\r', '\n']);
    let hash = match hash_password(password) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            return Ok(2);
        }
    };
    let catalog = crate::catalog::open(&cfg.catalog_url(), &cfg.catalog_options()).await?;
    match catalog.accounts.add_user(name, &hash, role).await {
        Ok(_) => {
            eprintln!("user {name} added ({})", role.as_str());
            Ok(0)
        }
        Err(CatalogError::Conflict(_)) => {
            eprintln!("error[conflict]: user {name} already exists");
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates an API token and prints it (only the token) on stdout, once.
pub async fn create_token(cfg: Config, name: &str) -> anyhow::Result<i32> {
    let catalog = crate::catalog::open(&cfg.catalog_url(), &cfg.catalog_options()).await?;
    let token = new_secret();
    match catalog.accounts.add_token(name, &digest(&token)).await {
        Ok(()) => {
            println!("{token}");
            eprintln!(
                "token {} created for {name}",
                &digest(&token)[..TOKEN_ID_LEN]
            );
            Ok(0)
        }
        Err(CatalogError::NotFound(_)) => {
            eprintln!(
                "error[not-found]: no user named {name}; add it with `reel-node user add {name}`"
            );
            Ok(1)
        }
        Err(e) => Err(e.into()),
    }
}

async fn open(cfg: &Config) -> anyhow::Result<Catalog> {
    Ok(crate::catalog::open(&cfg.catalog_url(), &cfg.catalog_options()).await?)
}

/// Changes a user's role.
pub async fn set_role(cfg: Config, name: &str, role: Role) -> anyhow::Result<i32> {
    if open(&cfg).await?.accounts.set_role(name, role).await? {
        eprintln!("user {name} is now {}", role.as_str());
        Ok(0)
    } else {
        eprintln!("error[not-found]: no user named {name}");
        Ok(1)
    }
}

/// Removes a user; their tokens and sessions stop working at once, and
/// their videos stay without an owner (left to admins).
pub async fn remove_user(cfg: Config, name: &str) -> anyhow::Result<i32> {
    if open(&cfg).await?.accounts.remove_user(name).await? {
        eprintln!("user {name} removed, with their tokens and sessions");
        Ok(0)
    } else {
        eprintln!("error[not-found]: no user named {name}");
        Ok(1)
    }
}

/// Prints one line per token: id, user, creation time (UTC).
pub async fn list_tokens(cfg: Config, user: Option<&str>) -> anyhow::Result<i32> {
    let tokens = open(&cfg).await?.accounts.list_tokens(user).await?;
    println!("{:<14}{:<24}CREATED", "ID", "USER");
    for t in tokens {
        println!(
            "{:<14}{:<24}{}",
            t.id,
            t.user,
            crate::http::rfc3339(t.created_at)
        );
    }
    Ok(0)
}

/// Revokes one token by id.
pub async fn revoke_token(cfg: Config, id: &str) -> anyhow::Result<i32> {
    if open(&cfg).await?.accounts.revoke_token(id).await? {
        eprintln!("token {id} revoked");
        Ok(0)
    } else {
        eprintln!("error[not-found]: no token with id {id} (see `reel-node token list`)");
        Ok(1)
    }
}

/// Reads a token from stdin and reports whether it is valid.
pub async fn check_token(cfg: Config) -> anyhow::Result<i32> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let token = line.trim();
    match open(&cfg)
        .await?
        .accounts
        .token_user(&digest(token))
        .await?
    {
        Some(_) => {
            println!("valid {}", &digest(token)[..TOKEN_ID_LEN]);
            Ok(0)
        }
        None => {
            eprintln!("error[invalid-token]: the token is not valid");
            Ok(1)
        }
    }
}
