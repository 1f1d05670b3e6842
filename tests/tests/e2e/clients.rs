//! Real GraphQL clients against the real server: the Node.js project in `tests/clients`
//! (graphql-ws, Apollo Client 4 and urql with default settings; see its README) and GraphiQL in
//! headless Chromium with no internet. Each test skips with a printed reason, never silently,
//! when Node.js, the installed packages (`npm ci --prefix tests/clients`) or Chromium are
//! missing; `.ci/run` installs them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use amity_e2e::TestServer;

/// The whole `node --test` run; each test in it has its own 20 s timeout.
const NODE_SUITE_DEADLINE: Duration = Duration::from_secs(180);
/// The GraphiQL check: start Chromium, load the page, introspect, run one query.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

/// `tests/clients`.
fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// Why the Node.js client tests cannot run on this machine, if they cannot.
fn node_unavailable() -> Option<String> {
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !node.is_ok_and(|status| status.success()) {
        return Some("node is not on PATH; install Node.js 20 or later".to_owned());
    }
    if !clients_dir().join("node_modules").is_dir() {
        return Some(
            "tests/clients/node_modules missing; run npm ci --prefix tests/clients".to_owned(),
        );
    }
    None
}

/// The Chromium to drive: `AMITY_TEST_CHROMIUM`, else `/usr/bin/chromium`; or why there is none.
fn chromium() -> Result<PathBuf, String> {
    let path = std::env::var_os("AMITY_TEST_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "no Chromium at {} (set AMITY_TEST_CHROMIUM, or apt-get install chromium)",
            path.display()
        ))
    }
}

/// What a finished (or killed) process printed.
struct Finished {
    status: ExitStatus,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

impl Finished {
    fn output(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout, self.stderr
        )
    }
}

/// Runs `command` to completion, killing it after `deadline`. Blocking: call it from
/// `spawn_blocking`, so that the server on the test's runtime keeps answering meanwhile.
fn run_with_deadline(mut command: Command, deadline: Duration) -> Finished {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the process starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let started = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the process can be waited for") {
            break status;
        }
        if started.elapsed() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("the killed process can be waited for");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Finished {
        status,
        timed_out,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs `command` off the test's runtime (the server on it keeps answering), prints what it
/// said, and fails the test unless it ended successfully within `deadline`.
async fn run_to_success(command: Command, deadline: Duration, what: &str) {
    let finished = tokio::task::spawn_blocking(move || run_with_deadline(command, deadline))
        .await
        .unwrap();
    println!("{}", finished.output());
    assert!(
        !finished.timed_out,
        "{what} did not finish within {deadline:?}\n{}",
        finished.output()
    );
    assert!(
        finished.status.success(),
        "{what} failed ({}):\n{}",
        finished.status,
        finished.output()
    );
}

/// The client test files, `tests/clients/test/*.test.mjs`, in name order (passed to
/// `node --test` one by one: Node 20 and 22 read a directory argument differently).
fn client_test_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(clients_dir().join("test"))
        .expect("tests/clients/test exists")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(".test.mjs"))
        })
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_ws_apollo_and_urql_drive_the_real_server() {
    if let Some(reason) = node_unavailable() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let files = client_test_files();
    assert!(!files.is_empty(), "no tests/clients/test/*.test.mjs");
    let server = TestServer::start().await;

    let mut command = Command::new("node");
    command
        .arg("--test")
        .args(&files)
        .current_dir(clients_dir())
        .env("AMITY_TEST_URL", server.base_url());
    run_to_success(
        command,
        NODE_SUITE_DEADLINE,
        "node --test tests/clients/test",
    )
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_works_in_a_browser_with_no_internet() {
    if let Some(reason) = node_unavailable() {
        eprintln!("SKIPPED: {reason}");
        return;
    }
    let chromium = match chromium() {
        Ok(path) => path,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace");
    let screenshots = workspace.join("target").join("e2e");
    std::fs::create_dir_all(&screenshots).expect("target/e2e can be created");
    let screenshot = screenshots.join("graphiql.png");
    let server = TestServer::start().await;

    let mut command = Command::new("node");
    command
        .arg("browser/graphiql.mjs")
        .current_dir(clients_dir())
        .env("AMITY_TEST_URL", server.base_url())
        .env("AMITY_TEST_SCREENSHOT", &screenshot)
        .env("AMITY_TEST_CHROMIUM", &chromium);
    let what = format!(
        "the GraphiQL check (screenshot at {})",
        screenshot.display()
    );
    run_to_success(command, BROWSER_DEADLINE, &what).await;
    assert!(
        screenshot.is_file(),
        "no screenshot at {}",
        screenshot.display()
    );
    server.stop().await;
}
