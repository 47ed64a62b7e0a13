//! `photon-bench`: every benchmark of the project, one subcommand each.
//!
//! Each subcommand prints a table, or with `--json` one JSON object of metric name → number.

use clap::{Parser, Subcommand};

mod gas;
mod mobile;
mod restore;
mod route;
mod state;
mod transfers;

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
    /// Restart time of a node with 100,000 logged state changes.
    Restore {
        /// Print one JSON object of metric name → value instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Payments per second and latency between real photon processes over libp2p.
    Transfers {
        /// Print one JSON object of metric name → value instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Route search at scale: k cheapest paths on a 20,000-node scale-free graph (or CSV
    /// files), against an exact search and hop-count routing; signed updates per second.
    Route {
        /// Print one JSON object of metric name → value instead of a table.
        #[arg(long)]
        json: bool,
        /// A graph file (CSV, format in docs/pfs.md) instead of the synthetic graph.
        #[arg(long, requires = "queries")]
        graph: Option<std::path::PathBuf>,
        /// A query file (CSV) to go with `--graph`.
        #[arg(long, requires = "graph")]
        queries: Option<std::path::PathBuf>,
        /// Also write the graph and queries used as `graph.csv` and `queries.csv` here.
        #[arg(long)]
        out: Option<std::path::PathBuf>,
        /// Seed of the synthetic graph and queries.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run only the first this many queries (quick looks; the keys are defined on all).
        #[arg(long)]
        limit: Option<usize>,
        /// Paths per query (k).
        #[arg(long, default_value_t = 3)]
        paths: usize,
    },
    /// The embedded node as a phone runs it: peak memory idle, library size, start with
    /// 100,000 past payments, storage after them, catching up after 1,000 missed blocks.
    Mobile {
        /// Print one JSON object of metric name → value instead of a table.
        #[arg(long)]
        json: bool,
        /// Payments of the first phase (quick looks; the keys are defined on 100,000).
        #[arg(long, default_value_t = 100_000)]
        payments: usize,
    },
    /// Cost of the pure state machine per direct transfer and per mediated hop, in µs.
    State {
        /// Print one JSON object of metric name → microseconds instead of a table.
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
        Command::State { json } => print_rows(&state::measure(), "µs", json),
        Command::Restore { json } => print_rows(&restore::measure()?, "value", json),
        Command::Route { json, graph, queries, out, seed, limit, paths } => {
            let files = (graph.as_deref(), queries.as_deref());
            let rows = route::measure(files, out.as_deref(), seed, (limit, paths))?;
            print_rows(&rows, "value", json);
        }
        Command::Mobile { json, payments } => {
            print_rows(&mobile::measure(payments).await?, "value", json)
        }
        Command::Transfers { json } => print_rows(&transfers::measure().await?, "value", json),
    }
    Ok(())
}

/// Prints (key, value) rows as a table or as one JSON object.
fn print_rows(rows: &[(&'static str, f64)], unit: &str, json: bool) {
    if json {
        let map: serde_json::Map<String, serde_json::Value> =
            rows.iter().map(|(k, v)| ((*k).to_string(), (*v).into())).collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        println!("{:<44} {:>10}", "metric", unit);
        for (key, value) in rows {
            println!("{key:<44} {value:>10.2}");
        }
    }
}
