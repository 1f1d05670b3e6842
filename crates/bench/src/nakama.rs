//! `nakama ...`: the load workloads against a running **Nakama** server's REST API, so that
//! Amity and Nakama can be measured side by side with the same tool, the same graph and the same
//! report.
//!
//! - `nakama setup`: builds, through the REST API alone, the graph of an Amity data set (the
//!   same users and friendships, redrawn from the generator's seed since the Amity manifest
//!   lists no edges) and writes a Nakama manifest: every user's Nakama id and session;
//! - `nakama load friends|friends-of-friends|send-accept|invites`: Amity's `load` workloads in
//!   Nakama's terms, on the same connections-for-a-time driver, with the same figures and the
//!   same JSON result;
//! - `nakama idle-rss`: any server's resident memory, read from `/proc` (Nakama's or Amity's).
//!
//! Layout: [`client`] (the REST calls), [`setup`] (the graph and the Nakama manifest),
//! [`load`] (the workloads).

pub mod client;
pub mod load;
pub mod setup;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::json;

use crate::report::Report;
use crate::server_process::Server;
use crate::shape::Shape;
use crate::stats::ErrorTally;

/// What `amity-bench nakama` does.
#[derive(Debug, Subcommand)]
pub enum NakamaCommand {
    /// Builds an Amity data set's graph (users and friendships) in Nakama through its REST API
    /// and writes a Nakama manifest (user ids and sessions) for the loads.
    Setup(SetupArgs),
    /// Throughput against Nakama: Amity's `load` workloads through Nakama's REST API.
    Load {
        /// The workload to run.
        #[command(subcommand)]
        command: NakamaLoadCommand,
    },
    /// A server's resident memory (VmRSS and its peak) from /proc/PID/status: Nakama's or
    /// Amity's, idle.
    IdleRss(IdleRssArgs),
}

impl NakamaCommand {
    /// Where the result goes.
    pub fn output(&self) -> &Path {
        match self {
            Self::Setup(a) => &a.common.output,
            Self::Load { command } => command.output(),
            Self::IdleRss(a) => &a.output,
        }
    }
}

/// The Nakama load workloads.
#[derive(Debug, Subcommand)]
pub enum NakamaLoadCommand {
    /// `GET /v2/friend?limit=100` (the friend list, with presence), as users of the data set:
    /// Amity's `load friends`.
    Friends(NakamaReadArgs),
    /// `GET /v2/friend/friends?limit=10` (ten friends of friends), as users of the data set:
    /// the counterpart of Amity's `load recommendations`.
    FriendsOfFriends(NakamaReadArgs),
    /// Fresh pairs of users become friends: A `POST /v2/friend?ids=B`, then B
    /// `POST /v2/friend?ids=A`: Amity's `load send-accept`.
    SendAccept(NakamaSendAcceptArgs),
    /// `POST /v2/friend` with many ids per call from concurrent callers whose targets overlap:
    /// Amity's `load invites`.
    Invites(NakamaInvitesArgs),
}

impl NakamaLoadCommand {
    /// Where the result goes.
    pub fn output(&self) -> &Path {
        match self {
            Self::Friends(a) | Self::FriendsOfFriends(a) => &a.load.common.output,
            Self::SendAccept(a) => &a.load.common.output,
            Self::Invites(a) => &a.load.common.output,
        }
    }
}

/// Options every Nakama command that talks to the server has.
#[derive(Debug, Clone, Args, Serialize)]
pub struct NakamaCommonArgs {
    /// Nakama's HTTP API (the grpc-gateway port).
    #[arg(long, default_value = "http://127.0.0.1:7350")]
    pub url: String,
    /// The server key (Nakama's `--socket.server_key`), the basic-auth user of authentication.
    #[arg(long, env = "NAKAMA_SERVER_KEY", default_value = "defaultkey")]
    #[serde(skip)]
    pub server_key: String,
    /// Where to write the JSON result.
    #[arg(long, default_value = "bench-result.json")]
    pub output: PathBuf,
    /// How many authentications and other setup requests to have in flight at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub setup_concurrency: u32,
}

/// Options every Nakama load has (those of Amity's loads, for the same parameters in the
/// result file).
#[derive(Debug, Clone, Args, Serialize)]
pub struct NakamaLoadArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: NakamaCommonArgs,
    /// Connections (concurrent clients), each sending its next request as soon as the last
    /// one is answered.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub duration: u32,
    /// The server's process id: its resident memory is read once the run has been idle for
    /// `--idle-secs` (the server must run on this machine).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// How long to leave the server idle before reading its memory, in seconds.
    #[arg(long, default_value_t = 5)]
    pub idle_secs: u64,
}

/// Options of `nakama load friends` and `nakama load friends-of-friends`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct NakamaReadArgs {
    /// Shared load options.
    #[command(flatten)]
    pub load: NakamaLoadArgs,
    /// The manifest `nakama setup` wrote (its ordinary users, the same as the Amity
    /// manifest's, are the ones read as).
    #[arg(long, default_value = "nakama.json")]
    pub manifest: PathBuf,
    /// How many data-set users to read as (default: one per connection; at most the
    /// manifest's sample of 500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub users: Option<u32>,
    /// Seconds of the same load before measuring, not counted.
    #[arg(long, default_value_t = 3)]
    pub warmup: u32,
}

/// Options of `nakama load send-accept`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct NakamaSendAcceptArgs {
    /// Shared load options.
    #[command(flatten)]
    pub load: NakamaLoadArgs,
    /// Fresh users made for each connection; it makes friends of every pair of them in turn,
    /// so n users last n(n-1)/2 friendships (the run fails if a connection runs out).
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub users_per_connection: u32,
}

/// Options of `nakama load invites`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct NakamaInvitesArgs {
    /// Shared load options (`--connections` is the number of concurrent callers).
    #[command(flatten)]
    pub load: NakamaLoadArgs,
    /// Ids per `POST /v2/friend` call.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub batch: u32,
    /// Distinct users each caller asks before the next caller takes over (Amity's default
    /// pending-request limit; Nakama has none).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_caller: u32,
    /// Fresh users: the callers, taken in turn, and everyone's targets.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub users: u32,
}

/// Options of `nakama setup`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct SetupArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: NakamaCommonArgs,
    /// The Amity data set's manifest (`dataset generate --manifest`): its users and their
    /// handles, which become Nakama custom ids and usernames.
    #[arg(long, default_value = "dataset.json")]
    pub manifest: PathBuf,
    /// Where to write the Nakama manifest (user ids and sessions) the loads read.
    #[arg(long, default_value = "nakama.json")]
    pub output_manifest: PathBuf,
    /// The `--shape` the data set was generated with.
    #[arg(long, value_enum, default_value_t = Shape::Nakama)]
    pub shape: Shape,
    /// The `--median-friends` it was generated with.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub median_friends: u32,
    /// The `--max-friends` it was generated with.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_friends: u32,
    /// The `--seed` it was generated with (the same seed redraws the same graph).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Ids per `POST /v2/friend` call when each user asks its friends of higher index (more
    /// than 1 deadlocks Nakama on PostgreSQL: each ask updates both users' rows, in no set
    /// order).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub ask_batch: u32,
    /// Ids per `POST /v2/friend` call when each user then accepts those of lower index.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub accept_batch: u32,
}

/// Options of `nakama idle-rss`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct IdleRssArgs {
    /// The server's process id (Nakama's or Amity's; it must run on this machine).
    #[arg(long)]
    pub pid: u32,
    /// How long to wait before reading, in seconds.
    #[arg(long, default_value_t = 0)]
    pub idle_secs: u64,
    /// Where to write the JSON result.
    #[arg(long, default_value = "bench-result.json")]
    pub output: PathBuf,
}

/// Runs a `nakama` command.
pub async fn run(command: NakamaCommand) -> anyhow::Result<Report> {
    match command {
        NakamaCommand::Setup(args) => setup::setup(args).await,
        NakamaCommand::Load { command } => load::run(command).await,
        NakamaCommand::IdleRss(args) => idle_rss(args).await,
    }
}

/// `nakama idle-rss`: the process's VmRSS (and VmHWM, its peak) after `--idle-secs`, under the
/// same figure names as the loads' `--server-pid` reading.
async fn idle_rss(args: IdleRssArgs) -> anyhow::Result<Report> {
    let started_at = Utc::now();
    let server = Server::new(args.pid);
    let name = std::fs::read_to_string(format!("/proc/{}/comm", args.pid))
        .with_context(|| format!("reading /proc/{}/comm (is --pid running here?)", args.pid))?
        .trim()
        .to_owned();
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let idle = server.resident_bytes()?;
    let peak = server.peak_resident_bytes()?;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    println!(
        "{name} (pid {}): RSS {:.1} MiB (peak {:.1} MiB)",
        args.pid,
        mib(idle),
        mib(peak)
    );
    Report::new(
        "nakama/idle-rss",
        &args,
        started_at,
        args.idle_secs as f64,
        json!({
            "process": name,
            "server_rss_idle_bytes": idle,
            "server_rss_peak_bytes": peak,
        }),
        ErrorTally::default(),
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> anyhow::Result<NakamaCommand> {
        let cli = Cli::try_parse_from(["amity-bench", "nakama"].iter().chain(args))?;
        match cli.command {
            Command::Nakama { command } => Ok(command),
            other => anyhow::bail!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_documented_command_lines_parse() -> anyhow::Result<()> {
        let NakamaCommand::Setup(args) = parse(&[
            "setup",
            "--manifest",
            "dataset.json",
            "--output-manifest",
            "nakama.json",
        ])?
        else {
            anyhow::bail!("not setup");
        };
        assert_eq!(args.common.url, "http://127.0.0.1:7350");
        assert_eq!(args.common.server_key, "defaultkey");
        assert_eq!(
            (args.shape, args.seed, args.ask_batch, args.accept_batch),
            (Shape::Nakama, 1, 1, 100)
        );

        let command = parse(&[
            "load",
            "friends-of-friends",
            "--connections",
            "64",
            "--duration",
            "20",
            "--output",
            "fof.json",
        ])?;
        assert_eq!(command.output(), Path::new("fof.json"));
        let NakamaCommand::Load {
            command: NakamaLoadCommand::FriendsOfFriends(args),
        } = command
        else {
            anyhow::bail!("not load friends-of-friends");
        };
        assert_eq!((args.load.connections, args.load.duration), (64, 20));
        assert_eq!(args.manifest, PathBuf::from("nakama.json"));
        // The server key is not written into the result file.
        let parameters = serde_json::to_value(&args)?;
        assert!(parameters["load"]["common"].get("server_key").is_none());
        assert_eq!(parameters["load"]["connections"], 64);

        let NakamaCommand::IdleRss(args) = parse(&["idle-rss", "--pid", "42"])? else {
            anyhow::bail!("not idle-rss");
        };
        assert_eq!((args.pid, args.idle_secs), (42, 0));
        Ok(())
    }
}
