//! `photon-bench`: every benchmark of the project, one subcommand each.
//!
//! Each subcommand prints a table, or with `--json` one JSON object of metric name → number.

use clap::{Parser, Subcommand};

mod gas;

#[derive(Parser)]
#[command(name = "photon-bench", version, about = "Photon Network benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gas per contract operation, measured on a fresh anvil in steady state.
    Gas {
        /// Print one JSON object of metric name → gas instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Gas { json } => {
            let report = gas::measure().await?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
        }
    }
    Ok(())
}
