//! `user add` and `token create`.

use std::io::BufRead;

use crate::auth::{digest, hash_password, new_secret};
use crate::catalog::CatalogError;
use crate::config::Config;

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Adds an uploader, reading the password from the first line of stdin.
pub async fn add_user(cfg: Config, name: &str) -> anyhow::Result<i32> {
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
    match catalog.accounts.add_user(name, &hash).await {
        Ok(_) => {
            eprintln!("user {name} added");
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
