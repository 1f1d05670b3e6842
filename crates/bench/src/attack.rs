//! `amity-bench attack`: the requests that crashed, stalled or brute-forced the server before
//! its edge was hardened, sent by several clients at once, each timed until it is refused,
//! while another client asks `/healthz` (and, during the password flood, a signed-in user asks
//! `me`) to show what everyone else sees meanwhile.
//!
//! Every answer is checked: an attack must be refused with its expected code (or, for the
//! largest document the server accepts, answered with data); anything else is an error of the
//! run. Run it against a server with its default limits: the password flood is meant to meet
//! the rate limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use amity_graphql::edge::hostile;
use anyhow::Context;
use chrono::Utc;
use serde_json::{Value, json};

use crate::cli::AttackArgs;
use crate::client::{GraphqlClient, endpoint_url};
use crate::report::Report;
use crate::setup::run_prefix;
use crate::stats::{ErrorTally, Latencies};

/// One attack: a body to post, and the codes it may be answered with ("data" for success).
struct Attack {
    name: &'static str,
    body: Vec<u8>,
    expected: &'static [&'static str],
}

fn query_body(query: &str) -> Vec<u8> {
    json!({ "query": query }).to_string().into_bytes()
}

/// The attacks, as reported in the hardening issue (sizes included).
fn attacks() -> Vec<Attack> {
    vec![
        Attack {
            name: "list-literal-1600-deep",
            body: query_body(&hostile::list_literal(1_600)),
            expected: &["BAD_USER_INPUT"],
        },
        Attack {
            name: "object-literal-1500-deep",
            body: query_body(&hostile::object_literal(1_500)),
            expected: &["BAD_USER_INPUT"],
        },
        Attack {
            name: "variables-5000-deep",
            body: format!(
                r#"{{"query":"query($x: JSON) {{ __typename }}","variables":{{"x":{}}}}}"#,
                hostile::nested("{\"a\":", "}", 5_000)
            )
            .into_bytes(),
            expected: &["BAD_USER_INPUT"],
        },
        Attack {
            name: "fragments-30-doubling",
            body: query_body(&hostile::fragment_bomb(30)),
            expected: &["BAD_USER_INPUT"],
        },
        Attack {
            name: "aliases-14000-in-250KiB",
            body: query_body(&hostile::aliases(14_000)),
            expected: &["BAD_USER_INPUT"],
        },
        Attack {
            name: "largest-accepted-9900-aliases",
            body: query_body(&hostile::aliases(9_900)),
            expected: &["data"],
        },
    ]
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    latencies: Latencies,
    codes: ErrorTally,
    unexpected: ErrorTally,
}

/// The code an answer carries: the first error's `extensions.code`, `data`, or what went wrong.
fn answer_code(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => match value
            .pointer("/errors/0/extensions/code")
            .and_then(Value::as_str)
        {
            Some(code) => code.to_owned(),
            None if value.get("data").is_some_and(|d| !d.is_null()) => "data".to_owned(),
            None => format!("HTTP {status} without a code"),
        },
        Err(_) => format!("HTTP {status}, not JSON"),
    }
}

async fn post(
    http: &reqwest::Client,
    url: &reqwest::Url,
    body: &[u8],
    token: Option<&str>,
) -> String {
    let mut request = http
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    match request.send().await {
        Ok(res) => {
            let status = res.status().as_u16();
            match res.bytes().await {
                Ok(body) => answer_code(status, &body),
                Err(e) => format!("transport: {e}"),
            }
        }
        Err(e) => format!("transport: {e}"),
    }
}

/// Sends `body` `rounds` times from each of `connections` clients, timing each answer.
async fn flood(
    url: &reqwest::Url,
    body: &[u8],
    expected: &[&str],
    connections: u32,
    rounds: u32,
) -> anyhow::Result<Seen> {
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (url, body) = (url.clone(), body.to_vec());
            let expected: Vec<String> = expected.iter().map(|c| (*c).to_owned()).collect();
            tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(60))
                    .build()?;
                let mut seen = Seen::default();
                for _ in 0..rounds {
                    let started = Instant::now();
                    let code = post(&http, &url, &body, None).await;
                    seen.latencies.record(started.elapsed());
                    if !expected.contains(&code) {
                        seen.unexpected.add(code.clone());
                    }
                    seen.codes.add(code);
                }
                anyhow::Ok(seen)
            })
        })
        .collect();
    let mut all = Seen::default();
    for task in tasks {
        let seen = task.await.context("an attacking client")??;
        all.latencies.merge(&seen.latencies);
        all.codes.merge(&seen.codes);
        all.unexpected.merge(&seen.unexpected);
    }
    Ok(all)
}

/// Asks `/healthz` (or `me` with `token`) back to back every `every` until `stop`.
fn probe(
    url: reqwest::Url,
    token: Option<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<anyhow::Result<Seen>> {
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()?;
        let mut seen = Seen::default();
        let me = query_body("{ me { id } }");
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let code = match &token {
                None => match http.get(url.clone()).send().await {
                    Ok(res) if res.status().is_success() => "data".to_owned(),
                    Ok(res) => format!("HTTP {}", res.status().as_u16()),
                    Err(e) => format!("transport: {e}"),
                },
                Some(token) => post(&http, &url, &me, Some(token)).await,
            };
            seen.latencies.record(started.elapsed());
            if code != "data" {
                seen.unexpected.add(code);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        anyhow::Ok(seen)
    })
}

/// Opens `count` connections that send half a request's headers and `count` that send
/// nothing, and times how long the server keeps each open (until it closes them).
async fn slow_clients(url: &reqwest::Url, count: u32) -> anyhow::Result<Seen> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.host_str().context("the URL has no host")?.to_owned();
    let port = url.port_or_known_default().context("the URL has no port")?;
    let tasks: Vec<_> = (0..count * 2)
        .map(|i| {
            let host = host.clone();
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
                if i % 2 == 0 {
                    stream
                        .write_all(b"POST /graphql HTTP/1.1\r\nHost: amity\r\nContent-")
                        .await?;
                }
                let opened = Instant::now();
                let mut buf = [0u8; 1024];
                let kept = tokio::time::timeout(Duration::from_secs(120), async {
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                })
                .await;
                let code = if kept.is_ok() {
                    "closed by the server"
                } else {
                    "still open after 120 s"
                };
                anyhow::Ok((opened.elapsed(), code))
            })
        })
        .collect();
    let mut seen = Seen::default();
    for task in tasks {
        let (held, code) = task.await.context("a slow client")??;
        seen.latencies.record(held);
        if code != "closed by the server" {
            seen.unexpected.add(code);
        }
        seen.codes.add(code);
    }
    Ok(seen)
}

/// Runs every attack and the password flood.
pub async fn run(args: AttackArgs) -> anyhow::Result<Report> {
    let url = endpoint_url(&args.common.url)?;
    let health = url.join("/healthz")?;
    let started_at = Utc::now();
    let started = Instant::now();
    let mut figures = serde_json::Map::new();
    let mut errors = ErrorTally::default();
    let mut record = |name: &str, attack: &Seen, bystander: &Seen, bystander_label: &str| {
        println!("{name}");
        println!("  answered: {}", attack.latencies.summary());
        println!("  codes: {}", attack.codes);
        println!(
            "  {bystander_label} meanwhile: {}",
            bystander.latencies.summary()
        );
        figures.insert(
            name.to_owned(),
            json!({
                "answered": attack.latencies.summary(),
                "codes": attack.codes,
                bystander_label: bystander.latencies.summary(),
            }),
        );
        errors.merge(&attack.unexpected);
        errors.merge(&bystander.unexpected);
    };

    for attack in attacks() {
        let stop = Arc::new(AtomicBool::new(false));
        let prober = probe(health.clone(), None, stop.clone());
        let seen = flood(
            &url,
            &attack.body,
            attack.expected,
            args.connections,
            args.rounds,
        )
        .await;
        stop.store(true, Ordering::Relaxed);
        let healthz = prober.await.context("the health prober")??;
        record(attack.name, &seen?, &healthz, "healthz");
    }

    // Password guessing: many clients guess one account's password while its owner's friend
    // uses the service.
    let client = GraphqlClient::new(&url)?;
    let prefix = run_prefix();
    let victim = client
        .sign_up(&format!("{prefix}_victim"))
        .await
        .context("signing up the victim (is AMITY_RATE_AUTH_PER_ADDRESS at least 2?)")?;
    let bystander = client
        .sign_up(&format!("{prefix}_bystander"))
        .await
        .context("signing up the bystander")?;
    let guess = json!({
        "query": "mutation($h: String!) { signIn(handle: $h, password: \"not-the-password\") { token } }",
        "variables": { "h": victim.handle },
    })
    .to_string()
    .into_bytes();
    let stop = Arc::new(AtomicBool::new(false));
    let prober = probe(url.clone(), Some(bystander.token.clone()), stop.clone());
    let seen = flood(
        &url,
        &guess,
        &["UNAUTHENTICATED", "RATE_LIMITED"],
        args.guessers,
        args.guess_rounds,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let me = prober.await.context("the bystander")??;
    record("password-guessing", &seen?, &me, "me");

    if args.slow_clients > 0 {
        let stop = Arc::new(AtomicBool::new(false));
        let prober = probe(health.clone(), None, stop.clone());
        let held = slow_clients(&url, args.slow_clients).await;
        stop.store(true, Ordering::Relaxed);
        let healthz = prober.await.context("the health prober")??;
        record("slow-clients", &held?, &healthz, "healthz");
    }

    Report::new(
        "attack",
        &args,
        started_at,
        started.elapsed().as_secs_f64(),
        Value::Object(figures),
        errors,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_by_their_code() {
        assert_eq!(
            answer_code(
                200,
                br#"{"errors":[{"extensions":{"code":"BAD_USER_INPUT"}}]}"#
            ),
            "BAD_USER_INPUT"
        );
        assert_eq!(answer_code(200, br#"{"data":{"a":"Query"}}"#), "data");
        assert_eq!(answer_code(502, b"<html>"), "HTTP 502, not JSON");
        assert_eq!(
            answer_code(200, br#"{"data":null}"#),
            "HTTP 200 without a code"
        );
    }

    #[test]
    fn the_documents_are_the_sizes_reported() {
        for attack in attacks() {
            assert!(
                attack.body.len() <= 256 * 1024,
                "{} is {} bytes",
                attack.name,
                attack.body.len()
            );
        }
    }
}
