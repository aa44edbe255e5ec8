//! `reel-benchplot RESULTS.json OUT_PREFIX`: draws the bench plots from the
//! combined results that `scripts/bench.sh` writes, as
//! `OUT_PREFIX-<chart>.svg`, and prints each file written.
//!
//! Charts: p99 latency against connections for every part with
//! closed-loop runs at two or more connection counts, and stalls and
//! segment p99 against viewers from the capacity part's steps.

mod draw;
mod series;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, prefix] = args.as_slice() else {
        eprintln!("usage: reel-benchplot RESULTS.json OUT_PREFIX");
        return ExitCode::from(2);
    };
    let results: serde_json::Value = match std::fs::read_to_string(input)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            eprintln!("reel-benchplot: reading {input}: {e}");
            return ExitCode::from(1);
        }
    };
    let charts = series::latency_charts(&results)
        .into_iter()
        .chain(series::capacity_charts(&results));
    let mut drawn = 0;
    for chart in charts {
        let path = PathBuf::from(format!("{prefix}-{}.svg", chart.name));
        if let Err(e) = draw::svg(&chart, &path) {
            eprintln!("reel-benchplot: {e}");
            return ExitCode::from(1);
        }
        println!("{}", path.display());
        drawn += 1;
    }
    if drawn == 0 {
        eprintln!("reel-benchplot: nothing to draw in {input}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
