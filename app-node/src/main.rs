//! `reel-node` binary: parse the command line and hand over to the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    let cli = reel_node::cli::Cli::parse();
    // One-shot commands keep stderr for their progress bar and errors.
    let quiet = !matches!(
        cli.command,
        reel_node::cli::Command::Serve { .. } | reel_node::cli::Command::Worker
    );
    let fallback = if quiet { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("REEL_LOG").unwrap_or_else(|_| EnvFilter::new(fallback)),
        )
        .with_writer(std::io::stderr)
        // Plain text when logging to a file (make run writes data/logs/).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let code = match reel_node::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
