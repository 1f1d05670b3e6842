//! `amity-bench`: the library behind Amity's benchmark tool. It drives a *running* Amity server from the outside,
//! over real HTTP (`POST /graphql` with JSON) and real websockets (the graphql-transport-ws
//! protocol), prints the figures, and writes them with the parameters to a JSON file
//! (`--output`, default `bench-result.json`).
//!
//! What it measures (one subcommand each, grouped by area):
//! - `realtime notify-latency`: the time from sending a direct message over HTTP to the
//!   recipient's `notifications` subscription delivering its `DIRECT_MESSAGE` notification, at
//!   a fixed rate;
//! - `realtime presence-fanout`: how long a user's going online (and offline) takes to reach the
//!   `presence` subscriptions of all of their friends;
//! - `realtime idle-connections`: the server's resident memory per open, subscribed, idle
//!   websocket;
//! - `load friends|recommendations|send-accept|invites`: throughput and latency with many
//!   connections for a given time;
//! - `baseline friends|recommendations`: the same SQL without the server;
//! - `dataset generate`, `graph recommendations`: a generated graph and latency on it;
//! - `attack`: hostile requests, how fast each is refused and what others see meanwhile;
//! - `nakama setup|load ...|idle-rss`: the same graph and load workloads against a running
//!   Nakama server's REST API, for comparison.
//!
//! Layout:
//! - [`cli`]: the command line (clap derive);
//! - [`client`]: the HTTP GraphQL client, which turns every `errors` array into an error, and
//!   the mutations the benchmarks use;
//! - [`setup`]: users and friendships made for a run, with bounded concurrency;
//! - [`ws`]: websocket sessions (connect, authenticated init, subscribe, and a probe that tells
//!   when the server has really started a subscription);
//! - [`stats`]: latency histograms, their summaries and error tallies;
//! - [`report`]: the JSON result file;
//! - [`progress`]: progress lines on stderr;
//! - [`realtime`]: the realtime benchmarks, one module each;
//! - [`dataset`]: the data-set generator (a skewed friend graph bulk-loaded into a database);
//! - [`graph`]: benchmarks over a generated graph (recommendations);
//! - [`load`]: the throughput benchmarks (the connections-for-a-time driver they share with
//!   [`baseline`] is the private `driver` module);
//! - [`baseline`]: the same reads' SQL through a plain sqlx pool (what the database alone does);
//! - [`server_process`]: the server's memory, read from `/proc`;
//! - [`attack`]: the hostile requests;
//! - [`nakama`]: Nakama's REST API, its setup and its loads.

pub mod attack;
pub mod baseline;
pub mod cli;
pub mod client;
pub mod dataset;
mod driver;
pub mod graph;
pub mod load;
pub mod nakama;
pub mod progress;
pub mod realtime;
pub mod report;
pub mod server_process;
pub mod setup;
pub mod shape;
pub mod stats;
pub mod ws;

use std::path::PathBuf;

use crate::cli::{Command, DatasetCommand, GraphCommand};
use crate::report::Report;

/// Runs the benchmark `command` names; returns its report and where to write it.
pub async fn run(command: Command) -> anyhow::Result<(Report, PathBuf)> {
    match command {
        Command::Realtime { command } => {
            let output = command.common().output.clone();
            Ok((realtime::run(command).await?, output))
        }
        Command::Dataset {
            command: DatasetCommand::Generate(args),
        } => {
            let output = args.output.clone();
            Ok((dataset::generate(args).await?, output))
        }
        Command::Graph {
            command: GraphCommand::Recommendations(args),
        } => {
            let output = args.common.output.clone();
            Ok((graph::recommendations(args).await?, output))
        }
        Command::Baseline { command } => {
            let output = command.output().to_owned();
            Ok((baseline::run(command).await?, output))
        }
        Command::Load { command } => {
            let output = command.output().to_owned();
            Ok((load::run(command).await?, output))
        }
        Command::Attack(args) => {
            let output = args.common.output.clone();
            Ok((attack::run(args).await?, output))
        }
        Command::Nakama { command } => {
            let output = command.output().to_owned();
            Ok((nakama::run(command).await?, output))
        }
    }
}
