//! Command line of `reel-node`.

mod copy;
mod import;
mod playback;
mod serve;
mod upload;
mod users;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::catalog::Role;
use crate::config::{self, Config, Overrides};

/// Reel app node: serves pages, the JSON API and HLS media, and transcodes uploads.
#[derive(Debug, Parser)]
#[command(name = "reel-node", version)]
pub struct Cli {
    /// TOML config file (layered over the embedded defaults).
    #[arg(long, global = true, env = "REEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides `listen`).
    #[arg(long, global = true)]
    pub listen: Option<String>,
    /// Data directory (overrides `data_dir`).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// Node name sent as X-Reel-Node (overrides `node_name`).
    #[arg(long, global = true)]
    pub node_name: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP and, unless disabled, run the transcode worker.
    Serve {
        /// Serve HTTP only; another process runs the worker.
        #[arg(long)]
        no_worker: bool,
    },
    /// Run only the transcode worker.
    Worker,
    /// Create or upgrade the catalog schema.
    Migrate,
    /// Import a video from a URL or a local file and wait until it plays.
    Import {
        /// http(s) URL or path of a local file.
        source: String,
        /// Title shown in the catalog.
        #[arg(long)]
        title: String,
        /// Queue it and return at once.
        #[arg(long)]
        no_wait: bool,
        /// User who owns the video and may edit it; without it the video
        /// has no owner and only admins may edit it.
        #[arg(long)]
        owner: Option<String>,
        /// Who may find and play it: private videos play only through
        /// signed URLs (`playback-url`), unlisted ones are in no listing.
        #[arg(long, default_value = "public", value_parser = ["public", "unlisted", "private"])]
        visibility: String,
    },
    /// Upload a local file to a server with the resumable tus protocol;
    /// run it again after an interruption to continue where it stopped.
    Upload {
        /// The video file.
        file: PathBuf,
        /// Title shown in the catalog.
        #[arg(long)]
        title: String,
        /// Base URL of a node or the balancer.
        #[arg(long, env = "REEL_SERVER")]
        server: String,
        /// API token (`reel-node token create`).
        #[arg(long, env = "REEL_TOKEN", hide_env_values = true)]
        token: String,
        /// MiB sent per request.
        #[arg(long, default_value_t = 16)]
        chunk_mib: u64,
        /// Folder keeping where unfinished uploads stand
        /// (default: $XDG_STATE_HOME/reel/uploads).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Highest average rate in KiB/s.
        #[arg(long)]
        limit_kib: Option<u64>,
        /// Return once uploaded instead of waiting until the video plays.
        #[arg(long)]
        no_wait: bool,
    },
    /// Manage uploaders.
    User {
        /// What to do with users.
        #[command(subcommand)]
        action: UserAction,
    },
    /// Manage API tokens.
    Token {
        /// What to do with tokens.
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Print a signed playback URL of a video (the only way a private
    /// video plays): its master playlist path on stdout, the watch and
    /// embed pages that play with the same token on stderr. Needs
    /// playback.keys.
    PlaybackUrl {
        /// Video id.
        id: String,
        /// Lifetime in seconds (default playback.token_ttl_s, at most
        /// playback.max_token_ttl_s).
        #[arg(long)]
        ttl_s: Option<u64>,
    },
    /// Validate the configuration and print the effective values.
    CheckConfig,
    /// Catalog tools.
    Catalog {
        /// What to do with the catalog.
        #[command(subcommand)]
        action: CatalogAction,
    },
    /// Media store tools.
    Storage {
        /// What to do with the store.
        #[command(subcommand)]
        action: StorageAction,
    },
}

/// `catalog` subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogAction {
    /// Copy every row of the configured catalog into another database
    /// (created and migrated if needed); rows already there are kept.
    Copy {
        /// Target URL: sqlite://FILE, postgres://… or mysql://….
        #[arg(long)]
        to: String,
    },
}

/// `storage` subcommands.
#[derive(Debug, Subcommand)]
pub enum StorageAction {
    /// Copy every object of the configured store into a store of another
    /// kind, configured by the same file and environment ([storage.s3]);
    /// objects already there with the same size are skipped.
    Copy {
        /// Target kind.
        #[arg(long, value_parser = ["s3", "local"])]
        to: String,
    },
}

/// `user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user (an uploader, who edits their own videos); the password
    /// is read from standard input.
    Add {
        /// Login name.
        name: String,
        /// Make them an admin, who may edit and delete any video.
        #[arg(long)]
        admin: bool,
    },
    /// Change a user's role; it applies to their tokens and sessions at
    /// once.
    Role {
        /// Login name.
        name: String,
        /// The new role.
        #[arg(value_parser = ["uploader", "admin"])]
        role: String,
    },
    /// Remove an uploader with all their tokens and sessions (their videos
    /// stay).
    Remove {
        /// Login name.
        name: String,
    },
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create an API token for an uploader and print it once.
    Create {
        /// Uploader name.
        name: String,
    },
    /// List tokens (id, user, creation time); never the secrets.
    List {
        /// Only this uploader's tokens.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a token by its id (from `token list`); every node refuses it
    /// from the next request on.
    Revoke {
        /// Token id.
        id: String,
    },
    /// Read a token from standard input and say whose it is; exit status 1
    /// when it is not valid.
    Check,
}

impl Cli {
    /// Applies every layer, CLI flags last.
    pub fn load_config(&self) -> Result<Config, config::ConfigError> {
        let _ = dotenvy::dotenv();
        let mut o = Overrides::default();
        if let Some(l) = &self.listen {
            o.pairs.push(("listen".into(), l.clone()));
        }
        if let Some(d) = &self.data_dir {
            o.pairs.push(("data_dir".into(), d.display().to_string()));
        }
        if let Some(n) = &self.node_name {
            o.pairs.push(("node_name".into(), n.clone()));
        }
        if let Command::Serve { no_worker: true } = self.command {
            o.pairs.push(("worker.enabled".into(), "false".into()));
        }
        config::load(self.config.as_deref(), std::env::vars(), &o)
    }
}

/// A one-shot command's scratch folder, removed when the command ends.
struct ScratchGuard {
    dir: PathBuf,
    /// Held for the command's life; the kernel drops it if the process dies.
    _lock: std::fs::File,
}

impl Drop for ScratchGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A database URL fit for printing: any password becomes `***`.
fn redact_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Entry point used by `main` with the loaded configuration; returns the
/// process exit code.
pub async fn run(cli: Cli, mut cfg: Config) -> anyhow::Result<i32> {
    // One-shot commands that use scratch get a folder of their own, locked
    // like a node's, so neither a node nor another command clears it under
    // them; it goes when they end.
    let _scratch = if matches!(
        cli.command,
        Command::Import { .. } | Command::Storage { .. }
    ) {
        cfg.node_name = format!("{}-cli-{}", cfg.node_name(), std::process::id());
        let lock = serve::lock_scratch(&cfg.tmp_dir())?;
        Some(ScratchGuard {
            dir: cfg.tmp_dir(),
            _lock: lock,
        })
    } else {
        None
    };
    match cli.command {
        Command::Serve { .. } => serve::serve(cfg, true).await,
        Command::Worker => serve::serve(cfg, false).await,
        Command::Migrate => {
            crate::catalog::migrate(&cfg.catalog_url()).await?;
            println!("catalog is up to date");
            Ok(0)
        }
        Command::Import {
            source,
            title,
            no_wait,
            owner,
            visibility,
        } => {
            let visibility = crate::catalog::Visibility::parse(&visibility)
                .unwrap_or(crate::catalog::Visibility::Public);
            import::import(cfg, &source, &title, no_wait, owner.as_deref(), visibility).await
        }
        Command::Upload {
            file,
            title,
            server,
            token,
            chunk_mib,
            state_dir,
            limit_kib,
            no_wait,
        } => {
            upload::upload(upload::UploadArgs {
                file,
                title,
                server,
                token,
                chunk_bytes: chunk_mib.clamp(1, 1024) << 20,
                state_dir: state_dir.unwrap_or_else(upload::default_state_dir),
                max_rate: limit_kib.map(|k| k.saturating_mul(1024)),
                no_wait,
            })
            .await
        }
        Command::User {
            action: UserAction::Add { name, admin },
        } => {
            let role = if admin { Role::Admin } else { Role::Uploader };
            users::add_user(cfg, &name, role).await
        }
        Command::User {
            action: UserAction::Role { name, role },
        } => users::set_role(cfg, &name, Role::parse(&role)).await,
        Command::User {
            action: UserAction::Remove { name },
        } => users::remove_user(cfg, &name).await,
        Command::Token {
            action: TokenAction::Create { name },
        } => users::create_token(cfg, &name).await,
        Command::Token {
            action: TokenAction::List { user },
        } => users::list_tokens(cfg, user.as_deref()).await,
        Command::Token {
            action: TokenAction::Revoke { id },
        } => users::revoke_token(cfg, &id).await,
        Command::Token {
            action: TokenAction::Check,
        } => users::check_token(cfg).await,
        Command::PlaybackUrl { id, ttl_s } => playback::playback_url(cfg, &id, ttl_s).await,
        Command::Catalog {
            action: CatalogAction::Copy { to },
        } => copy::catalog(cfg, &to).await,
        Command::Storage {
            action: StorageAction::Copy { to },
        } => copy::storage(cfg, &to).await,
        Command::CheckConfig => {
            println!("config ok");
            println!("listen = {}", cfg.listen);
            println!("data_dir = {}", cfg.data_dir.display());
            println!("catalog.url = {}", redact_password(&cfg.catalog_url()));
            println!(
                "storage = {} {}",
                cfg.storage.kind,
                cfg.storage_path().display()
            );
            println!("node_name = {}", cfg.node_name());
            println!("worker.enabled = {}", cfg.worker.enabled);
            println!("playback.keys = {:?}", cfg.playback.keys());
            Ok(0)
        }
    }
}
