//! The benchmark tool (`amity-bench`) run against a real server with small parameters: its
//! setup, websockets, schedules and tallies must work, and a clean run must count no errors.
//! The figures themselves are not asserted (speed is judged from release-build runs).

use amity_bench::cli::Command;
use amity_bench::cli::{
    BanCloseArgs, BaselineArgs, BaselineCommand, CommonArgs, DatasetCommand, GenerateArgs,
    IdleConnectionsArgs, InvitesArgs, LoadArgs, LoadCommand, NotifyLatencyArgs, PresenceFanoutArgs,
    ReadLoadArgs, RealtimeCommand, SendAcceptArgs, Shape,
};
use amity_e2e::TestServer;

fn common(server: &TestServer, dir: &tempfile::TempDir) -> CommonArgs {
    CommonArgs {
        url: format!("{}/graphql", server.base_url()),
        output: dir.path().join("result.json"),
        setup_concurrency: 4,
    }
}

async fn run(command: RealtimeCommand) -> amity_bench::report::Report {
    let (report, output) = amity_bench::run(Command::Realtime { command })
        .await
        .expect("the benchmark runs");
    report.write(&output).expect("the result file is written");
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    assert_eq!(written["benchmark"], report.benchmark.as_str());
    assert_eq!(report.errors, 0, "errors: {}", report.error_kinds);
    report
}

#[tokio::test]
async fn notify_latency_delivers_every_message_it_sends() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let report = run(RealtimeCommand::NotifyLatency(NotifyLatencyArgs {
        common: common(&server, &dir),
        rate: 40,
        duration: 1,
        subscribers: 4,
        timeout: 5,
    }))
    .await;
    assert_eq!(report.figures["sent"], 40);
    assert_eq!(report.figures["delivered"], 40);
    assert_eq!(report.figures["delivery"]["count"], 40);
    assert_eq!(report.parameters["rate"], 40);
    server.stop().await;
}

#[tokio::test]
async fn presence_fanout_sees_every_friend_get_every_change() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let report = run(RealtimeCommand::PresenceFanout(PresenceFanoutArgs {
        common: common(&server, &dir),
        friends: 5,
        rounds: 2,
        pause_ms: 300,
        timeout: 10,
        connect_concurrency: 5,
    }))
    .await;
    assert_eq!(report.figures["online_each"]["count"], 10);
    assert_eq!(report.figures["offline_each"]["count"], 10);
    assert_eq!(report.figures["online_all"]["count"], 2);
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_holds_every_connection_open() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let report = run(RealtimeCommand::IdleConnections(IdleConnectionsArgs {
        common: common(&server, &dir),
        connections: 20,
        // The server runs inside this test process.
        server_pid: std::process::id(),
        users: 3,
        idle_secs: 0,
        connect_concurrency: 8,
    }))
    .await;
    assert_eq!(report.figures["connections"], 20);
    assert!(report.figures["rss_holding_bytes"].as_u64().unwrap() > 0);
    server.stop().await;
}

#[tokio::test]
async fn ban_close_sees_every_banned_websocket_closed() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    server
        .sign_up_as("benchmod", amity_domain::accounts::Role::Moderator)
        .await;
    let report = run(RealtimeCommand::BanClose(BanCloseArgs {
        common: common(&server, &dir),
        target_url: None,
        moderator: "benchmod".to_owned(),
        moderator_password: "password-1".to_owned(),
        rounds: 3,
        timeout: 5,
    }))
    .await;
    assert_eq!(report.figures["from_request"]["count"], 3);
    // The password is not written to the result file.
    assert!(report.parameters.get("moderator_password").is_none());
    server.stop().await;
}

/// A server on a database the data-set generator filled first; `check` looks at the
/// generator's report.
async fn serve_generated(
    generate: GenerateArgs,
    check: impl FnOnce(&amity_bench::report::Report),
) -> TestServer {
    TestServer::start_prepared(|url| async move {
        let (report, _) = amity_bench::run(Command::Dataset {
            command: DatasetCommand::Generate(GenerateArgs {
                database_url: url,
                ..generate
            }),
        })
        .await
        .expect("the data set loads");
        check(&report);
    })
    .await
}

#[tokio::test]
async fn a_generated_data_set_serves_the_recommendations_benchmark() {
    use amity_bench::cli::{GraphCommand, RecommendationsArgs};
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("dataset.json");
    let generate = GenerateArgs {
        database_url: String::new(),
        shape: Shape::Skewed,
        users: Some(600),
        median_friends: 10,
        max_friends: 60,
        seed: 7,
        manifest: manifest.clone(),
        output: dir.path().join("generate.json"),
    };
    let server = serve_generated(generate, |report| {
        assert_eq!(report.figures["users"], 600);
        assert_eq!(report.figures["max_friends"], 60);
    })
    .await;
    let (report, _) = amity_bench::run(Command::Graph {
        command: GraphCommand::Recommendations(RecommendationsArgs {
            common: common(&server, &dir),
            manifest,
            sample: 3,
            requests: 12,
        }),
    })
    .await
    .expect("the benchmark runs");
    assert_eq!(report.errors, 0, "errors: {}", report.error_kinds);
    for group in ["ordinary", "at_limit"] {
        assert_eq!(report.figures[group]["count"], 12, "{group}");
        // Everyone in a connected random graph has friends of friends to be shown.
        assert_eq!(
            report.figures[format!("{group}_empty_answers")],
            0,
            "{group}"
        );
    }
    server.stop().await;
}

/// Runs a load or baseline command and checks that it counted no errors.
async fn run_clean(command: Command) -> amity_bench::report::Report {
    let (report, _) = amity_bench::run(command).await.expect("the benchmark runs");
    assert_eq!(
        report.errors, 0,
        "{}: errors: {}",
        report.benchmark, report.error_kinds
    );
    report
}

fn load_args(server: &TestServer, dir: &tempfile::TempDir, connections: u32) -> LoadArgs {
    LoadArgs {
        common: common(server, dir),
        connections,
        duration: 1,
        server_pid: Some(std::process::id()),
        idle_secs: 0,
    }
}

#[tokio::test]
async fn the_read_loads_and_their_baselines_run_on_a_nakama_shaped_data_set() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("dataset.json");
    let generate = GenerateArgs {
        database_url: String::new(),
        shape: Shape::Nakama,
        users: Some(300),
        median_friends: 12,
        max_friends: 1000,
        seed: 3,
        manifest: manifest.clone(),
        output: dir.path().join("generate.json"),
    };
    let server = serve_generated(generate, |report| {
        assert_eq!(report.figures["users"], 300);
        assert_eq!(report.figures["max_friends"], 12, "nobody above the median");
    })
    .await;
    for command in [
        LoadCommand::Friends,
        LoadCommand::FriendsGeneralPath,
        LoadCommand::Recommendations,
    ] {
        let report = run_clean(Command::Load {
            command: command(ReadLoadArgs {
                load: load_args(&server, &dir, 4),
                manifest: manifest.clone(),
                users: None,
                warmup: 0,
            }),
        })
        .await;
        assert!(report.figures["requests"].as_u64().unwrap() > 0);
        assert_eq!(report.figures["empty_answers"], 0, "{}", report.benchmark);
        assert!(report.figures["server_rss_idle_bytes"].as_u64().unwrap() > 0);
    }
    for command in [BaselineCommand::Friends, BaselineCommand::Recommendations] {
        let report = run_clean(Command::Baseline {
            command: command(BaselineArgs {
                database_url: server.database_url().to_owned(),
                manifest: manifest.clone(),
                connections: 4,
                pool_size: Some(2),
                users: None,
                duration: 1,
                warmup: 0,
                pgbench_dir: server.is_postgres().then(|| dir.path().join("pgbench")),
                output: dir.path().join("baseline.json"),
            }),
        })
        .await;
        assert!(report.figures["requests"].as_u64().unwrap() > 0);
        assert_eq!(report.figures["empty_answers"], 0, "{}", report.benchmark);
    }
    if server.is_postgres() {
        let script = std::fs::read_to_string(dir.path().join("pgbench/friends-0.sql")).unwrap();
        assert!(
            script.contains("FROM friend_edges e JOIN users u"),
            "{script}"
        );
        assert!(
            !script.contains('?'),
            "every placeholder has its value: {script}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn send_accept_and_batch_invites_make_every_edge_they_claim() {
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let report = run_clean(Command::Load {
        command: LoadCommand::SendAccept(SendAcceptArgs {
            load: load_args(&server, &dir, 2),
            users_per_connection: 40,
        }),
    })
    .await;
    let friendships = report.figures["units"].as_u64().unwrap();
    assert!(friendships > 0);
    // Two requests per friendship: every ask is followed by its accept.
    assert_eq!(
        report.figures["requests"].as_u64().unwrap(),
        2 * friendships
    );

    let report = run_clean(Command::Load {
        command: LoadCommand::Invites(InvitesArgs {
            load: load_args(&server, &dir, 4),
            batch: 10,
            per_caller: 30,
            users: 300,
        }),
    })
    .await;
    let invites = report.figures["units"].as_u64().unwrap();
    assert!(invites > 0);
    assert_eq!(invites, 10 * report.figures["requests"].as_u64().unwrap());
    server.stop().await;
}

#[tokio::test]
async fn attack_meets_every_refusal_it_expects_with_the_default_limits() {
    let defaults = amity::Settings::default();
    let server = TestServer::start_with(|s| {
        s.rate_auth_per_address = defaults.rate_auth_per_address;
        s.rate_signin_failures_per_handle = defaults.rate_signin_failures_per_handle;
        s.rate_mutations_per_user = defaults.rate_mutations_per_user;
        s.http_header_timeout_ms = 200;
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let args = amity_bench::cli::AttackArgs {
        common: common(&server, &dir),
        connections: 2,
        rounds: 2,
        guessers: 6,
        guess_rounds: 2,
        slow_clients: 3,
    };
    let (report, _) = amity_bench::run(Command::Attack(args))
        .await
        .expect("the attack run completes");
    assert_eq!(
        report.errors, 0,
        "unexpected answers: {}",
        report.error_kinds
    );
    assert_eq!(
        report.figures["fragments-30-doubling"]["codes"]["BAD_USER_INPUT"],
        4
    );
    assert_eq!(
        report.figures["largest-accepted-9900-aliases"]["codes"]["data"],
        4
    );
    // Of twelve guesses at once, ten are checked, the rest refused unchecked.
    let guesses = &report.figures["password-guessing"]["codes"];
    assert_eq!(guesses["UNAUTHENTICATED"], 10);
    assert_eq!(guesses["RATE_LIMITED"], 2);
    assert_eq!(
        report.figures["slow-clients"]["codes"]["closed by the server"],
        6
    );
    server.stop().await;
}
