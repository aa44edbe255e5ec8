//! `reel-node` binary: parse the command line, load the configuration, set
//! up logging from it, and hand over to the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let cli = reel_node::cli::Cli::parse();
    // Loaded before logging starts, so the `log` key from any layer (the
    // file, `.env`, REEL_LOG, flags) decides what is logged from the start.
    let cfg = match cli.load_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error[{}]: {e}", e.code());
            std::process::exit(2);
        }
    };
    // One-shot commands keep stderr for their progress bar and errors, so
    // they log warnings only unless `log` was changed from its default.
    let quiet = !matches!(
        cli.command,
        reel_node::cli::Command::Serve { .. } | reel_node::cli::Command::Worker
    );
    let level = if quiet && cfg.log == reel_node::config::DEFAULT_LOG {
        "warn"
    } else {
        cfg.log.as_str()
    };
    let filter = match EnvFilter::try_new(level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error[config-invalid]: log = {level:?} is not a log filter: {e}");
            std::process::exit(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Plain text when logging to a file (make run writes data/logs/).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    for name in reel_node::config::unknown_env(std::env::vars()) {
        tracing::warn!("{name} is not a node setting (a typo, or meant for the balancer); ignored");
    }
    let code = match reel_node::cli::run(cli, cfg).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
