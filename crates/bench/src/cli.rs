//! The command line: `amity-bench <area> <benchmark> [options]`.
//!
//! Each benchmark's arguments also go into the result file as its parameters, so they derive
//! `Serialize` as well as clap's `Args`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

/// Benchmarks a running Amity server over HTTP and websockets.
#[derive(Debug, Parser)]
#[command(name = "amity-bench", version, about)]
pub struct Cli {
    /// The benchmark area.
    #[command(subcommand)]
    pub command: Command,
}

/// Benchmark areas.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Subscriptions over websockets: notification latency, presence fan-out, idle connections.
    Realtime {
        /// The realtime benchmark to run.
        #[command(subcommand)]
        command: RealtimeCommand,
    },
    /// Data sets: bulk-load a generated graph.
    Dataset {
        /// What to do.
        #[command(subcommand)]
        command: DatasetCommand,
    },
    /// Benchmarks over a generated friend graph.
    Graph {
        /// The graph benchmark to run.
        #[command(subcommand)]
        command: GraphCommand,
    },
    /// Throughput: many connections sending requests back to back for a given time.
    Load {
        /// The load benchmark to run.
        #[command(subcommand)]
        command: LoadCommand,
    },
    /// The database alone: a read workload's SQL through a plain sqlx pool, no server.
    Baseline {
        /// The read workload whose SQL to run.
        #[command(subcommand)]
        command: BaselineCommand,
    },
    /// Hostile requests (deep literals and variables, fragment bombs, huge documents, a
    /// password flood): how fast each is refused, and what others see meanwhile.
    Attack(AttackArgs),
    /// Nakama, for comparison: the same graph and load workloads through a running Nakama
    /// server's REST API, and any server's idle memory.
    Nakama {
        /// What to do.
        #[command(subcommand)]
        command: crate::nakama::NakamaCommand,
    },
}

/// Options of `attack`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct AttackArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Clients sending each attack at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub connections: u32,
    /// Requests each client sends, per attack.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Clients guessing one account's password at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub guessers: u32,
    /// Guesses each guessing client sends.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub guess_rounds: u32,
    /// Then: this many connections that send half a request's headers and as many that send
    /// nothing, timed until the server closes them (its header timeout; 0 skips it).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub slow_clients: u32,
}

/// The raw-SQL baselines of the read workloads.
#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// The statements of `friends(first: 100)` with presence.
    Friends(BaselineArgs),
    /// The statements of `friendRecommendations(first: 10)`.
    Recommendations(BaselineArgs),
    /// `load send-accept`'s two transactions per friendship, through the server's own store
    /// and friend service (the same statements), with no HTTP and no GraphQL.
    SendAccept(SendAcceptBaselineArgs),
}

impl BaselineCommand {
    /// Where the result goes.
    pub fn output(&self) -> &std::path::Path {
        match self {
            Self::Friends(a) | Self::Recommendations(a) => &a.output,
            Self::SendAccept(a) => &a.output,
        }
    }
}

/// Options of `baseline send-accept`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct SendAcceptBaselineArgs {
    /// The database (any Amity database: the users it makes are fresh).
    #[arg(long, env = "AMITY_DATABASE_URL", default_value = "sqlite://amity.db")]
    #[serde(skip)]
    pub database_url: String,
    /// Concurrent tasks (as the load benchmark's connections).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
    /// Connections in the pool (default: the server's default for the backend).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: Option<u32>,
    /// Fresh users for each task; it makes friends of every pair of them in turn.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub users_per_connection: u32,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub duration: u32,
    /// Where to write the JSON result.
    #[arg(long, default_value = "bench-result.json")]
    pub output: PathBuf,
}

/// Options of the baselines.
#[derive(Debug, Clone, Args, Serialize)]
pub struct BaselineArgs {
    /// The data set's database (the server's AMITY_DATABASE_URL).
    #[arg(long, env = "AMITY_DATABASE_URL", default_value = "sqlite://amity.db")]
    #[serde(skip)]
    pub database_url: String,
    /// The manifest `dataset generate` wrote.
    #[arg(long, default_value = "dataset.json")]
    pub manifest: PathBuf,
    /// Concurrent tasks (as the load benchmark's connections).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connections: u32,
    /// Connections in the pool (default: the server's default for the backend, 8 on SQLite
    /// and 16 on PostgreSQL; give the server's AMITY_DATABASE_POOL_SIZE if it sets one).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: Option<u32>,
    /// How many data-set users to read as (default: one per task; at most the manifest's
    /// sample of 500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub users: Option<u32>,
    /// How long to measure, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub duration: u32,
    /// Seconds of the same load before measuring, not counted.
    #[arg(long, default_value_t = 3)]
    pub warmup: u32,
    /// PostgreSQL only (`baseline friends`): also write one pgbench script per user into this
    /// directory and print the pgbench command that runs them.
    #[arg(long)]
    pub pgbench_dir: Option<PathBuf>,
    /// Where to write the JSON result.
    #[arg(long, default_value = "bench-result.json")]
    pub output: PathBuf,
}

/// The throughput benchmarks.
#[derive(Debug, Subcommand)]
pub enum LoadCommand {
    /// `friends(first: 100)` with presence fields, as users of a generated data set.
    Friends(ReadLoadArgs),
    /// The same page with its fields behind an inline fragment, which the server answers
    /// through async-graphql's general resolvers instead of the friends page's fast path:
    /// run beside `friends`, it shows what the fast path is worth.
    FriendsGeneralPath(ReadLoadArgs),
    /// `friendRecommendations(first: 10)`, as users of a generated data set.
    Recommendations(ReadLoadArgs),
    /// Fresh pairs of users become friends: one asks, the other accepts.
    SendAccept(SendAcceptArgs),
    /// Friend requests to many users per call from concurrent callers whose targets overlap.
    Invites(InvitesArgs),
}

impl LoadCommand {
    /// Where the result goes.
    pub fn output(&self) -> &std::path::Path {
        match self {
            Self::Friends(a) | Self::FriendsGeneralPath(a) | Self::Recommendations(a) => {
                &a.load.common.output
            }
            Self::SendAccept(a) => &a.load.common.output,
            Self::Invites(a) => &a.load.common.output,
        }
    }
}

/// Options every load benchmark has.
#[derive(Debug, Clone, Args, Serialize)]
pub struct LoadArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
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

/// Options of `load friends` and `load recommendations`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct ReadLoadArgs {
    /// Shared load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// The manifest `dataset generate` wrote (its ordinary users are signed in as).
    #[arg(long, default_value = "dataset.json")]
    pub manifest: PathBuf,
    /// How many data-set users to sign in as (default: one per connection; at most the
    /// manifest's sample of 500).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub users: Option<u32>,
    /// Seconds of the same load before measuring, not counted.
    #[arg(long, default_value_t = 3)]
    pub warmup: u32,
}

/// Options of `load send-accept`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct SendAcceptArgs {
    /// Shared load options.
    #[command(flatten)]
    pub load: LoadArgs,
    /// Fresh users signed up for each connection; it makes friends of every pair of them in
    /// turn, so n users last n(n-1)/2 friendships (the run fails if a connection runs out).
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u32).range(2..=10_000))]
    pub users_per_connection: u32,
}

/// Options of `load invites`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct InvitesArgs {
    /// Shared load options (`--connections` is the number of concurrent callers).
    #[command(flatten)]
    pub load: LoadArgs,
    /// Ids per `addFriends` call.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub batch: u32,
    /// Distinct users each caller asks before the next caller takes over (the server's
    /// AMITY_MAX_PENDING_INVITES, 500 by default, bounds it).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub per_caller: u32,
    /// Fresh users: the callers, taken in turn, and everyone's targets.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub users: u32,
}

/// Data sets for benchmarks.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Bulk-load N users and a skewed friend graph straight into a database (not through the
    /// server), and write a manifest the graph benchmarks read.
    Generate(GenerateArgs),
}

/// Benchmarks over a generated friend graph.
#[derive(Debug, Subcommand)]
pub enum GraphCommand {
    /// Latency of `friendRecommendations(first: 20)` for ordinary users and for users at the
    /// friend limit.
    Recommendations(RecommendationsArgs),
}

/// Options of `dataset generate`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct GenerateArgs {
    /// The database to load (the server's AMITY_DATABASE_URL); it is migrated first.
    #[arg(long, env = "AMITY_DATABASE_URL", default_value = "sqlite://amity.db")]
    #[serde(skip)]
    pub database_url: String,
    /// The shape of the graph: `skewed` (log-normal degrees, a long tail up to the limit) or
    /// `nakama` (the shape Nakama was measured on: every user has the median number of friends,
    /// 2,000 users by default).
    #[arg(long, value_enum, default_value_t = Shape::Skewed)]
    pub shape: Shape,
    /// How many users (default: 100,000 for `skewed`, 2,000 for `nakama`).
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..=10_000_000))]
    pub users: Option<u32>,
    /// The median number of friends (with `skewed`, degrees are log-normal around it; with
    /// `nakama`, every user draws exactly this many).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub median_friends: u32,
    /// The most friends a user may have (the server's AMITY_MAX_FRIENDS); about 0.2 % of users
    /// are filled up to it.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_friends: u32,
    /// The random seed (the same seed gives the same graph).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the manifest (handles to sign in as, the password, who is at the limit).
    #[arg(long, default_value = "dataset.json")]
    pub manifest: PathBuf,
    /// Where to write the result (timings).
    #[arg(long, default_value = "bench-result.json")]
    pub output: PathBuf,
}

pub use crate::shape::Shape;

/// Options of `graph recommendations`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct RecommendationsArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The manifest `dataset generate` wrote.
    #[arg(long, default_value = "dataset.json")]
    pub manifest: PathBuf,
    /// How many users of each group to sign in as.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub sample: u32,
    /// Requests per group, one at a time (latency, not throughput).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub requests: u32,
}

/// The realtime benchmarks.
#[derive(Debug, Subcommand)]
pub enum RealtimeCommand {
    /// Time from a direct message sent over HTTP to its DIRECT_MESSAGE notification arriving on
    /// the recipient's `notifications` subscription, at a fixed rate.
    NotifyLatency(NotifyLatencyArgs),
    /// Time for a user's going online and offline to reach the `presence` subscriptions of all
    /// of their friends.
    PresenceFanout(PresenceFanoutArgs),
    /// The server's resident memory per open, authenticated, subscribed, idle websocket.
    IdleConnections(IdleConnectionsArgs),
    /// Time from a moderator's ban to the banned user's open websocket being closed, on the
    /// same node or another one.
    BanClose(BanCloseArgs),
}

impl RealtimeCommand {
    /// The options every benchmark has.
    pub fn common(&self) -> &CommonArgs {
        match self {
            Self::NotifyLatency(a) => &a.common,
            Self::PresenceFanout(a) => &a.common,
            Self::IdleConnections(a) => &a.common,
            Self::BanClose(a) => &a.common,
        }
    }
}

/// Options every benchmark has.
#[derive(Debug, Clone, Args, Serialize)]
pub struct CommonArgs {
    /// The server's GraphQL endpoint; the websocket endpoint is the same path with ws://.
    #[arg(long, default_value = "http://127.0.0.1:8080/graphql")]
    pub url: String,
    /// Where to write the JSON result.
    #[arg(long, default_value = "bench-result.json")]
    pub output: PathBuf,
    /// How many sign-ups and other setup requests to have in flight at once.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub setup_concurrency: u32,
}

/// Options of `realtime notify-latency`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct NotifyLatencyArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Notifications per second to produce, over all subscribers together.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,
    /// How long to produce them, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub duration: u32,
    /// Subscribed recipients, each with its own sender (a friend), websocket and sending loop;
    /// the rate is spread evenly over them.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub subscribers: u32,
    /// How long to wait for a notification before counting it as missing, in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub timeout: u32,
}

/// Options of `realtime presence-fanout`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct PresenceFanoutArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Friends of the hub user, each with a `presence` subscription (the server's
    /// AMITY_MAX_FRIENDS, 1000 by default, must allow as many).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub friends: u32,
    /// How many times the hub goes online and offline.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Pause after each offline fan-out before the hub reconnects, in milliseconds (the server
    /// may coalesce going offline and online again within about a second).
    #[arg(long, default_value_t = 2000)]
    pub pause_ms: u64,
    /// How long to wait for all friends to see one change before counting the rest as missing,
    /// in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub timeout: u32,
    /// How many websockets to open at once.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connect_concurrency: u32,
}

/// Options of `realtime idle-connections`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct IdleConnectionsArgs {
    /// Shared options.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Websockets to open and hold.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub connections: u32,
    /// The server's process id, whose VmRSS is read from /proc/PID/status (so the server must
    /// run on this machine).
    #[arg(long)]
    pub server_pid: u32,
    /// Users the connections are spread over.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub users: u32,
    /// How long to hold the connections idle before reading the memory again, in seconds.
    #[arg(long, default_value_t = 5)]
    pub idle_secs: u64,
    /// How many websockets to open at once.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub connect_concurrency: u32,
}

/// Options of `realtime ban-close`.
#[derive(Debug, Clone, Args, Serialize)]
pub struct BanCloseArgs {
    /// Shared options (`--url` is where the moderator bans).
    #[command(flatten)]
    pub common: CommonArgs,
    /// The GraphQL endpoint of the node the banned user's websocket connects to (default: the
    /// same as `--url`; another node's shows the ban crossing nodes).
    #[arg(long)]
    pub target_url: Option<String>,
    /// A moderator's or admin's handle (make one with `amity users create --role moderator`).
    #[arg(long)]
    pub moderator: String,
    /// The moderator's password.
    #[arg(long)]
    #[serde(skip)]
    pub moderator_password: String,
    /// How many times a user is banned (and unbanned again).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rounds: u32,
    /// How long to wait for the close before counting it as missing, in seconds.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub timeout: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_documented_command_lines_parse() -> anyhow::Result<()> {
        let cli = Cli::try_parse_from([
            "amity-bench",
            "realtime",
            "notify-latency",
            "--url",
            "http://127.0.0.1:18080/graphql",
            "--rate",
            "500",
            "--duration",
            "3",
        ])?;
        let Command::Realtime {
            command: RealtimeCommand::NotifyLatency(args),
        } = cli.command
        else {
            anyhow::bail!("parsed as another command");
        };
        assert_eq!(args.rate, 500);
        assert_eq!(args.subscribers, 100);
        assert_eq!(args.common.output, PathBuf::from("bench-result.json"));

        let cli = Cli::try_parse_from([
            "amity-bench",
            "realtime",
            "idle-connections",
            "--connections",
            "10",
            "--server-pid",
            "42",
        ])?;
        let Command::Realtime {
            command: RealtimeCommand::IdleConnections(args),
        } = cli.command
        else {
            anyhow::bail!("parsed as another command");
        };
        assert_eq!(
            (args.connections, args.server_pid, args.users),
            (10, 42, 100)
        );
        Ok(())
    }
}
