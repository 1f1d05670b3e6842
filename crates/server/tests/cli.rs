//! The real `amity` binary: zero-configuration start, graceful shutdown, and the commands that
//! operators run. On SQLite in a temporary directory, or on PostgreSQL when
//! `AMITY_TEST_DATABASE_URL` is set.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use amity_persistence::testing::TestDatabase;

const SECRET: &str = "cli-test-secret-cli-test-secret-0123";

fn amity(dir: &Path, db_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amity"));
    cmd.current_dir(dir)
        .env_remove("AMITY_LISTEN_ADDR")
        .env("AMITY_DATABASE_URL", db_url)
        .env("AMITY_JWT_SECRET", SECRET)
        .env("AMITY_PASSWORD_HASH_MEMORY_KIB", "1024")
        .env("AMITY_PASSWORD_HASH_ITERATIONS", "1")
        .env("AMITY_LOG", "info");
    cmd
}

fn run_with_stdin(mut cmd: Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// One GraphQL request to the server at `addr`, with `token` if given; the JSON answer.
async fn graphql(addr: &str, token: Option<&str>, query: &str) -> serde_json::Value {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&serde_json::json!({ "query": query }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap().json().await.unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn operator_commands_and_a_served_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let url = db.url().to_owned();

    // Migrations by hand.
    let out = amity(dir.path(), &url)
        .args(["migrate", "up"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = amity(dir.path(), &url)
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert!(text(&out).contains("applied m2026"), "{}", text(&out));

    // The first admin, from standard input.
    let mut cmd = amity(dir.path(), &url);
    cmd.args([
        "users",
        "create",
        "--handle",
        "root_admin",
        "--password-stdin",
        "--role",
        "admin",
    ]);
    let out = run_with_stdin(cmd, "a long admin password\n");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("with role admin"), "{}", text(&out));

    // Bad values fail clearly with a non-zero exit and change nothing.
    for (args, expect) in [
        (
            vec!["users", "set-role", "root_admin", "emperor"],
            "unknown role",
        ),
        (
            vec!["users", "set-role", "nobody", "admin"],
            "\"nobody\" (unknown user)",
        ),
        (
            vec!["users", "ban", "root_admin", "nobody"],
            "\"nobody\" (unknown user)",
        ),
        (
            vec!["users", "ban", "root_admin", "--until", "tomorrow"],
            "not an RFC 3339 time",
        ),
        (
            vec![
                "users",
                "ban",
                "root_admin",
                "--until",
                "2001-01-01T00:00:00Z",
            ],
            "must be in the future",
        ),
        (vec!["users", "unban", "no way"], "not a valid handle"),
        (vec!["users", "show", "nobody"], "no user with handle"),
    ] {
        let out = amity(dir.path(), &url).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(expect), "{args:?}: {}", text(&out));
    }
    let mut cmd = amity(dir.path(), &url);
    cmd.args(["users", "create", "--handle", "x", "--password-stdin"]);
    let out = run_with_stdin(cmd, "long enough password\n");
    assert!(!out.status.success());
    assert!(text(&out).contains("3 to 32 characters"), "{}", text(&out));

    let out = amity(dir.path(), &url)
        .args(["users", "set-role", "ROOT_ADMIN", "moderator"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("is now moderator"), "{}", text(&out));
    // Nothing above banned anyone.
    let out = amity(dir.path(), &url)
        .args(["users", "show", "root_admin"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not banned"), "{}", text(&out));

    let mut cmd = amity(dir.path(), &url);
    cmd.args([
        "users",
        "create",
        "--handle",
        "player_one",
        "--password-stdin",
    ]);
    let out = run_with_stdin(cmd, "player one password\n");
    assert!(out.status.success(), "{}", text(&out));

    // Serve on a free port, sign in as that user over HTTP, then stop with SIGTERM.
    let mut child = amity(dir.path(), &url)
        .env("AMITY_LISTEN_ADDR", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = bound_address(child.stderr.take().unwrap());
    let res = graphql(
        &addr,
        None,
        "mutation { signIn(handle: \"root_admin\", password: \"a long admin password\") { user { role } } }",
    )
    .await;
    assert_eq!(res["data"]["signIn"]["user"]["role"], "MODERATOR", "{res}");

    // A ban from the command line reaches the running server: the player's token stops
    // working (SQLite: the server polls the moderation log; PostgreSQL: through the bus).
    let gql = |token: Option<String>, query: &'static str| {
        let addr = addr.clone();
        async move { graphql(&addr, token.as_deref(), query).await }
    };
    const SIGN_IN: &str =
        "mutation { signIn(handle: \"player_one\", password: \"player one password\") { token } }";
    let res = gql(None, SIGN_IN).await;
    let token = res["data"]["signIn"]["token"].as_str().unwrap().to_owned();
    let res = gql(Some(token.clone()), "{ me { handle } }").await;
    assert_eq!(res["data"]["me"]["handle"], "player_one", "{res}");
    let out = amity(dir.path(), &url)
        .args([
            "users",
            "ban",
            "player_one",
            "--reason",
            "cheating",
            "--until",
            "2999-01-01T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("banned player_one") && text(&out).contains("until 2999-01-01"),
        "{}",
        text(&out)
    );
    let started = Instant::now();
    let refused = loop {
        let res = gql(Some(token.clone()), "{ me { handle } }").await;
        if res["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED" {
            break res;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still accepted: {res}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        refused["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("banned until 2999-01-01"),
        "{refused}"
    );
    let res = gql(None, SIGN_IN).await;
    assert_eq!(res["errors"][0]["extensions"]["code"], "FORBIDDEN", "{res}");
    let out = amity(dir.path(), &url)
        .args(["users", "show", "player_one"])
        .output()
        .unwrap();
    assert!(
        text(&out).contains("banned until 2999-01-01") && text(&out).contains("cheating"),
        "{}",
        text(&out)
    );
    let out = amity(dir.path(), &url)
        .args(["users", "unban", "player_one"])
        .output()
        .unwrap();
    assert!(text(&out).contains("unbanned player_one"), "{}", text(&out));
    let res = gql(None, SIGN_IN).await;
    assert!(res["data"]["signIn"]["token"].is_string(), "{res}");
    // The token from before the ban stays dead.
    let res = gql(Some(token), "{ me { handle } }").await;
    assert_eq!(
        res["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{res}"
    );

    // System notifications: bad input first, then to one user, then to everyone (the running
    // server takes the job and delivers it).
    let res = gql(None, SIGN_IN).await;
    let token = res["data"]["signIn"]["token"].as_str().unwrap().to_owned();
    for (args, expect) in [
        (
            vec!["notify", "--subject", " ", "player_one"],
            "must not be empty",
        ),
        (
            vec![
                "notify",
                "--subject",
                "hi",
                "--content",
                "[1]",
                "player_one",
            ],
            "JSON object",
        ),
        (
            vec!["notify", "--subject", "hi", "--content", "{", "player_one"],
            "not JSON",
        ),
        (
            vec!["notify", "--subject", "hi", "nobody"],
            "\"nobody\" (unknown user)",
        ),
    ] {
        let out = amity(dir.path(), &url).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(text(&out).contains(expect), "{args:?}: {}", text(&out));
    }
    let out = amity(dir.path(), &url)
        .args(["notify", "--subject", "Maintenance at noon", "player_one"])
        .output()
        .unwrap();
    assert!(text(&out).contains("sent to 1 user(s)"), "{}", text(&out));
    let out = amity(dir.path(), &url)
        .args([
            "notify",
            "--subject",
            "Season two",
            "--content",
            "{\"season\":2}",
            "--all",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("recorded for 2 user(s)"),
        "{}",
        text(&out)
    );
    let counts = gql(
        Some(token.clone()),
        "{ notificationCounts { unread total } }",
    )
    .await;
    assert_eq!(counts["data"]["notificationCounts"]["total"], 2, "{counts}");

    // Deleting from the command line frees the handle; signing in finds nobody.
    let out = amity(dir.path(), &url)
        .args(["users", "delete", "player_one"])
        .output()
        .unwrap();
    assert!(text(&out).contains("deleted player_one"), "{}", text(&out));
    let res = gql(None, SIGN_IN).await;
    assert_eq!(
        res["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{res}"
    );
    let out = amity(dir.path(), &url)
        .args(["users", "delete", "player_one"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no user has the handle"),
        "{}",
        text(&out)
    );
    terminate(&mut child);
    let status = wait(&mut child, Duration::from_secs(15));
    assert!(status.success(), "graceful shutdown exits 0");
}

#[test]
fn zero_configuration_start_creates_and_migrates_amity_db() {
    // The embedded default, in both passes: the server ignores AMITY_TEST_DATABASE_URL.
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_amity"))
        .current_dir(dir.path())
        .env_remove("AMITY_DATABASE_URL")
        .env_remove("AMITY_JWT_SECRET")
        .env("AMITY_LISTEN_ADDR", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = bound_address(child.stderr.take().unwrap());
    let health = std::net::TcpStream::connect(&addr);
    assert!(health.is_ok());
    terminate(&mut child);
    assert!(wait(&mut child, Duration::from_secs(15)).success());
    assert!(dir.path().join("amity.db").exists());
    let secret = std::fs::read_to_string(dir.path().join("amity.db.jwt-secret")).unwrap();
    assert_eq!(secret.trim().len(), 64);

    let out = Command::new(env!("CARGO_BIN_EXE_amity"))
        .current_dir(dir.path())
        .env_remove("AMITY_DATABASE_URL")
        .args(["migrate", "status"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied"));
}

#[test]
fn export_schema_matches_the_checked_in_sdl_and_help_lists_settings() {
    let out = Command::new(env!("CARGO_BIN_EXE_amity"))
        .arg("export-schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let checked_in =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema.graphql"))
            .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), checked_in);

    let help = Command::new(env!("CARGO_BIN_EXE_amity"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for setting in [
        "AMITY_LISTEN_ADDR",
        "AMITY_DATABASE_URL",
        "AMITY_JWT_SECRET",
        "AMITY_DATABASE_POOL_SIZE",
        "AMITY_DATABASE_ACQUIRE_TIMEOUT_MS",
        "AMITY_REQUEST_TIMEOUT_MS",
        "AMITY_RATE_AUTH_PER_ADDRESS",
        "AMITY_RATE_SIGNIN_FAILURES_PER_HANDLE",
        "AMITY_RATE_MUTATIONS_PER_USER",
        "AMITY_TRUSTED_PROXIES",
        "AMITY_CORS_ALLOWED_ORIGINS",
        "AMITY_MAX_CONNECTIONS",
        "AMITY_HTTP_HEADER_TIMEOUT_MS",
        "AMITY_HTTP_IDLE_TIMEOUT_MS",
        "AMITY_WEBSOCKET_MAX_SUBSCRIPTIONS",
        "AMITY_MAX_CONNECTIONS_PER_USER",
        "AMITY_SHUTDOWN_GRACE_MS",
        "AMITY_LOG_FORMAT",
        "AMITY_INTROSPECTION",
    ] {
        assert!(help.contains(setting), "--help lacks {setting}");
    }
}

#[tokio::test]
async fn hostile_requests_leave_the_process_up_and_sigterm_ends_it_whatever_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let mut child = amity(dir.path(), db.url())
        .env("AMITY_LISTEN_ADDR", "127.0.0.1:0")
        .env("AMITY_REQUEST_TIMEOUT_MS", "60000")
        .env("AMITY_HTTP_IDLE_TIMEOUT_MS", "120000")
        .env("AMITY_SHUTDOWN_GRACE_MS", "1000")
        .env("AMITY_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, log) = logged_address(child.stderr.take().unwrap());
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        let request = http.post(format!("http://{addr}/graphql")).json(&body);
        async move {
            request
                .send()
                .await
                .expect("the server answers")
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    };

    // What crashed or stalled the process before: value literals nested 1,600 deep, objects
    // 1,500 deep, thirty fragments each spreading the previous one twice.
    use amity_graphql::edge::hostile;
    for query in [
        hostile::list_literal(1_600),
        hostile::object_literal(1_500),
        hostile::fragment_bomb(30),
    ] {
        let res = post(serde_json::json!({ "query": query })).await;
        assert_eq!(
            res["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{res}"
        );
    }
    assert!(child.try_wait().unwrap().is_none(), "the process died");
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // A failed sign-in is logged at warn with the client's address.
    let res = post(serde_json::json!({
        "query": "mutation { signIn(handle: \"nobody_here\", password: \"not the one\") { token } }"
    }))
    .await;
    assert_eq!(
        res["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{res}"
    );
    let logged = wait_for_log(&log, |line| {
        line.contains("WARN") && line.contains("failed sign-in") && line.contains("127.0.0.1")
    });
    assert!(logged.contains("nobody_here"), "{logged}");

    // A request stuck in flight (its body never finishes) does not keep a stopping process
    // alive past the grace period.
    let mut stuck = std::net::TcpStream::connect(&addr).unwrap();
    stuck
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: amity\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"query\":",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    terminate(&mut child);
    let status = wait(&mut child, Duration::from_secs(15));
    assert!(
        !status.success(),
        "the watchdog ended it, not a graceful stop"
    );
    wait_for_log(&log, |line| line.contains("exiting now"));
    drop(stuck);
}

/// The server's log lines as they arrive.
type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Keeps every log line and returns the address the server says it listens on.
fn logged_address(stderr: std::process::ChildStderr) -> (String, Log) {
    let log = Log::default();
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap().push(line);
        }
    });
    let line = wait_for_log(&log, |line| line.contains("addr="));
    let i = line.find("addr=").unwrap();
    let addr = line[i + 5..].split_whitespace().next().unwrap().to_owned();
    (addr, log)
}

/// The first log line that `matches`, waiting up to a minute for it.
fn wait_for_log(log: &Log, matches: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        if let Some(line) = log.lock().unwrap().iter().find(|l| matches(l)) {
            return line.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no such log line in {:#?}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the log until the server says where it listens.
fn bound_address(stderr: std::process::ChildStderr) -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(i) = line.find("addr=") {
                let addr = line[i + 5..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let _ = tx.send(addr);
                sent = true;
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the server logs its address")
}

fn terminate(child: &mut std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the server did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `amity` in `dir` with `vars` and no other AMITY_ setting of this process, and returns
/// how it ended and what it said, within `limit`.
fn refused_start(dir: &Path, vars: &[(&str, &str)], limit: Duration) -> (Duration, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_amity"));
    cmd.current_dir(dir).env("AMITY_LISTEN_ADDR", "127.0.0.1:0");
    for (name, _) in std::env::vars() {
        if name.starts_with("AMITY_") && !name.starts_with("AMITY_TEST_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("AMITY_LISTEN_ADDR", "127.0.0.1:0");
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait(&mut child, limit);
    let took = started.elapsed();
    let out = child.wait_with_output().unwrap();
    assert!(
        !status.success(),
        "the start was not refused: {}",
        text(&out)
    );
    (took, text(&out))
}

#[test]
fn mistyped_settings_stop_the_start_before_the_database_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let quick = Duration::from_secs(10);
    let sqlite = "sqlite://never.db";

    // A misspelt variable, with the closest real one.
    let (_, said) = refused_start(
        dir.path(),
        &[
            ("AMITY_DATABASE_URL", sqlite),
            ("AMITY_LISTEN_ADR", "127.0.0.1:0"),
        ],
        quick,
    );
    assert!(said.contains("AMITY_LISTEN_ADR"), "{said}");
    assert!(said.contains("did you mean AMITY_LISTEN_ADDR?"), "{said}");

    // A misspelt key and a [server] table in amity.toml.
    std::fs::write(dir.path().join("amity.toml"), "max_frends = 10\n").unwrap();
    let (_, said) = refused_start(dir.path(), &[("AMITY_DATABASE_URL", sqlite)], quick);
    assert!(said.contains("unknown setting `max_frends`"), "{said}");
    assert!(said.contains("`max_friends`"), "{said}");
    std::fs::write(dir.path().join("amity.toml"), "[server]\nport = 8080\n").unwrap();
    let (_, said) = refused_start(dir.path(), &[("AMITY_DATABASE_URL", sqlite)], quick);
    assert!(said.contains("unknown setting `server`"), "{said}");
    std::fs::remove_file(dir.path().join("amity.toml")).unwrap();

    // Session settings out of range.
    for (name, value, expect) in [
        (
            "AMITY_REFRESH_TOKEN_TTL_SECS",
            "0",
            "refresh_token_ttl_secs must be between",
        ),
        (
            "AMITY_MAX_SESSIONS_PER_USER",
            "0",
            "max_sessions_per_user must be between",
        ),
        (
            "AMITY_MAX_SESSIONS_PER_USER",
            "100000",
            "max_sessions_per_user must be between",
        ),
    ] {
        let (_, said) = refused_start(
            dir.path(),
            &[("AMITY_DATABASE_URL", sqlite), (name, value)],
            quick,
        );
        assert!(said.contains(expect), "{name}={value}: {said}");
    }

    // A log filter that does not parse, a log format that does not exist.
    let (_, said) = refused_start(
        dir.path(),
        &[("AMITY_DATABASE_URL", sqlite), ("AMITY_LOG", "amity=loud")],
        quick,
    );
    assert!(said.contains("AMITY_LOG"), "{said}");
    let (_, said) = refused_start(
        dir.path(),
        &[("AMITY_DATABASE_URL", sqlite), ("AMITY_LOG_FORMAT", "xml")],
        quick,
    );
    assert!(said.to_lowercase().contains("log_format"), "{said}");
    // None of these touched the database.
    assert!(!dir.path().join("never.db").exists());

    // A port already taken stops the start before the database is created or migrated.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let (_, said) = refused_start(
        dir.path(),
        &[("AMITY_DATABASE_URL", sqlite), ("AMITY_LISTEN_ADDR", &port)],
        quick,
    );
    assert!(said.contains("binding"), "{said}");
    assert!(!dir.path().join("never.db").exists());

    // PostgreSQL without a shared secret is refused before any connection is tried (the
    // address below would take the full connect timeout).
    let (took, said) = refused_start(
        dir.path(),
        &[(
            "AMITY_DATABASE_URL",
            "postgres://amity@192.0.2.1:5432/amity",
        )],
        quick,
    );
    assert!(said.contains("AMITY_JWT_SECRET"), "{said}");
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn an_unreachable_database_fails_fast_naming_host_port_and_cause() {
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("postgres://amity@127.0.0.1:{port}/amity");
    let (took, said) = refused_start(
        dir.path(),
        &[("AMITY_DATABASE_URL", &url), ("AMITY_JWT_SECRET", SECRET)],
        Duration::from_secs(30),
    );
    assert!(took < Duration::from_secs(5), "took {took:?}: {said}");
    assert!(said.contains(&format!("127.0.0.1:{port}")), "{said}");
    assert!(said.to_lowercase().contains("refused"), "{said}");
}

#[tokio::test]
async fn json_logs_have_one_access_line_per_request_with_operation_and_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let mut child = amity(dir.path(), db.url())
        .env("AMITY_LISTEN_ADDR", "127.0.0.1:0")
        .env("AMITY_LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::default();
    let lines = log.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            lines.lock().unwrap().push(line);
        }
    });
    let listening = wait_for_log(&log, |line| line.contains("\"addr\""));
    let listening: serde_json::Value = serde_json::from_str(&listening).unwrap();
    let addr = listening["addr"].as_str().unwrap().to_owned();

    let signed_up = graphql(
        &addr,
        None,
        "mutation SignUp { signUp(handle: \"logged_user\", password: \"a long password\") { token user { id } } }",
    )
    .await;
    let token = signed_up["data"]["signUp"]["token"].as_str().unwrap();
    let user_id = signed_up["data"]["signUp"]["user"]["id"].as_str().unwrap();
    let me = graphql(&addr, Some(token), "query Me { me { id } }").await;
    assert_eq!(me["data"]["me"]["id"], user_id, "{me}");

    let access = wait_for_log(&log, |line| {
        line.contains("\"Me\"") && line.contains("amity::access")
    });
    let access: serde_json::Value = serde_json::from_str(&access).unwrap();
    assert_eq!(access["level"], "INFO", "{access}");
    assert_eq!(access["span"]["operation"], "Me", "{access}");
    assert_eq!(access["span"]["user_id"], user_id, "{access}");
    assert_eq!(access["span"]["outcome"], "OK", "{access}");
    assert_eq!(access["span"]["path"], "/graphql", "{access}");
    assert_eq!(access["status"], 200, "{access}");
    assert!(access["duration_ms"].as_f64().is_some(), "{access}");
    // Every line is JSON, and none carries the token.
    for line in log.lock().unwrap().iter() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
        assert!(!line.contains(token), "a token was logged: {line}");
    }
    terminate(&mut child);
    assert!(wait(&mut child, Duration::from_secs(15)).success());
}
