//! Measuring tools for `scripts/bench.sh`, one subcommand per figure that no
//! stock tool (wrk, redis-benchmark, pgbench) measures.

mod drain;
mod floor;
mod live;
mod procfs;
mod report;
mod tally;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "bench", about = "measuring tools for scripts/bench.sh")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Queue N votes, start the worker, time it until the queue is drained.
    Drain(drain::Args),
    /// Serve the floor under a vote: read, one RPUSH, write; nothing else.
    Floor(floor::Args),
    /// Time from a vote's POST to its update reaching N open result pages.
    Live(live::Args),
    /// Time the tally query (ours and the original's) at the table's current size.
    Tally(tally::Args),
    /// Print what /proc says of a process: memory, CPU time, peak memory.
    Proc(procfs::Args),
    /// Print the figures collected in a TSV file as a table and write JSON.
    Report(report::Args),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Drain(args) => drain::run(args).await,
        Command::Floor(args) => floor::run(args).await,
        Command::Live(args) => live::run(args).await,
        Command::Tally(args) => tally::run(args).await,
        Command::Proc(args) => procfs::run(args).await,
        Command::Report(args) => report::run(args),
    }
}
