//! What the throughput benchmarks (`load ...` against the server, `baseline ...` against the
//! database alone) share: connections sending requests back to back until a deadline, their
//! tallies, a progress line, and the printed and reported figures.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::client::RequestError;
use crate::report::Report;
use crate::server_process::Server;
use crate::stats::{ErrorTally, Latencies};

/// A failed request, counted by a short label.
pub(crate) trait Failure {
    /// The label errors are counted by.
    fn kind(&self) -> String;
}

impl Failure for RequestError {
    fn kind(&self) -> String {
        RequestError::kind(self)
    }
}

impl Failure for amity_domain::DomainError {
    fn kind(&self) -> String {
        self.to_string()
    }
}

/// What one connection did.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    latencies: Latencies,
    pub(crate) errors: ErrorTally,
    /// Units of work done (requests, friendships or invites, as the benchmark counts).
    pub(crate) units: u64,
    /// Answers that succeeded but were empty (a friends page or recommendation list).
    pub(crate) empty: u64,
}

impl Tally {
    fn merge(&mut self, other: &Self) {
        self.latencies.merge(&other.latencies);
        self.errors.merge(&other.errors);
        self.units += other.units;
        self.empty += other.empty;
    }

    /// Times one request, recording it as a latency or an error; returns its data on success.
    pub(crate) async fn time<T, E: Failure>(
        &mut self,
        request: impl Future<Output = Result<T, E>>,
    ) -> Option<T> {
        let sent = Instant::now();
        match request.await {
            Ok(data) => {
                self.latencies.record(sent.elapsed());
                Some(data)
            }
            Err(e) => {
                self.errors.add(e.kind());
                None
            }
        }
    }

    /// Sends `request()` until the clock stops, each success one unit; `Ok(true)` is an empty
    /// answer.
    pub(crate) async fn repeat<E: Failure, Fut>(
        mut self,
        clock: &Clock,
        mut request: impl FnMut() -> Fut,
    ) -> Self
    where
        Fut: Future<Output = Result<bool, E>>,
    {
        while clock.running() {
            if let Some(empty) = self.time(request()).await {
                self.units += 1;
                self.empty += u64::from(empty);
            }
            clock.tick();
        }
        self
    }
}

/// When a run stops, and a shared count of finished requests for the progress line.
#[derive(Clone)]
pub(crate) struct Clock {
    deadline: Instant,
    requests: Arc<AtomicU64>,
}

impl Clock {
    /// Whether the run goes on.
    pub(crate) fn running(&self) -> bool {
        Instant::now() < self.deadline
    }

    /// Counts one finished request.
    pub(crate) fn tick(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }
}

/// Runs `worker(i, clock)` for each of `connections` connections, in parallel tasks, for
/// `duration`; returns the merged tallies and the seconds from start to the last worker's end.
async fn drive<F, Fut>(
    connections: u32,
    duration: Duration,
    label: &str,
    worker: &F,
) -> (Tally, f64)
where
    F: Fn(usize, Clock) -> Fut,
    Fut: Future<Output = Tally> + Send + 'static,
{
    let clock = Clock {
        deadline: Instant::now() + duration,
        requests: Arc::new(AtomicU64::new(0)),
    };
    let began = Instant::now();
    let ticker = {
        let (clock, label) = (clock.clone(), label.to_owned());
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_secs(5));
            interval.tick().await;
            loop {
                interval.tick().await;
                eprintln!(
                    "  {label}: {} requests after {:.0} s",
                    clock.requests.load(Ordering::Relaxed),
                    began.elapsed().as_secs_f64()
                );
            }
        })
    };
    let tasks: Vec<_> = (0..connections as usize)
        .map(|i| tokio::spawn(worker(i, clock.clone())))
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        match task.await {
            Ok(tally) => total.merge(&tally),
            Err(e) => total.errors.add(format!("worker failed: {e}")),
        }
    }
    ticker.abort();
    (total, began.elapsed().as_secs_f64())
}

/// One throughput run: its name and unit, when it began, and what it measured.
pub(crate) struct Run {
    name: &'static str,
    unit: &'static str,
    started_at: DateTime<Utc>,
    began: Instant,
}

/// A measured phase: the merged tallies and how long it took.
pub(crate) struct Measured {
    tally: Tally,
    secs: f64,
}

impl Run {
    /// A run named `name` (the report's benchmark) counting `unit`s, beginning now.
    pub(crate) fn start(name: &'static str, unit: &'static str) -> Self {
        Self {
            name,
            unit,
            started_at: Utc::now(),
            began: Instant::now(),
        }
    }

    /// `warmup` seconds of `worker` on `connections` connections, not counted, then
    /// `duration` seconds counted.
    pub(crate) async fn measure<F, Fut>(
        &self,
        connections: u32,
        warmup: u32,
        duration: u32,
        worker: F,
    ) -> Measured
    where
        F: Fn(usize, Clock) -> Fut,
        Fut: Future<Output = Tally> + Send + 'static,
    {
        if warmup > 0 {
            eprintln!("warming up for {warmup} s...");
            drive(connections, seconds(warmup), "warm-up", &worker).await;
        }
        let (tally, secs) = drive(connections, seconds(duration), "measuring", &worker).await;
        Measured { tally, secs }
    }

    /// Prints the throughput of the run's unit, the latencies and the errors, reads the
    /// server's memory once it has been idle `idle_secs` (when `server_pid` is given), and
    /// makes the report: those figures and `extra` ones.
    pub(crate) async fn finish(
        self,
        parameters: &impl serde::Serialize,
        measured: Measured,
        extra: Map<String, Value>,
        server_pid: Option<u32>,
        idle_secs: u64,
    ) -> anyhow::Result<Report> {
        let Measured { tally, secs } = measured;
        let summary = tally.latencies.summary();
        let throughput = tally.units as f64 / secs.max(f64::MIN_POSITIVE);
        println!(
            "  {throughput:.0} {}/s ({} in {secs:.1} s)",
            self.unit, tally.units
        );
        println!("  latency {summary}");
        if tally.empty > 0 {
            println!("  ({} answers were empty)", tally.empty);
        }
        println!("  errors: {}", tally.errors);
        let mut figures = json!({
            "unit": self.unit,
            "throughput_per_sec": throughput,
            "units": tally.units,
            "requests": summary.count,
            "seconds": secs,
            "latency": summary,
            "empty_answers": tally.empty,
        });
        if let Some(pid) = server_pid {
            let server = Server::new(pid);
            tokio::time::sleep(Duration::from_secs(idle_secs)).await;
            let idle = server.resident_bytes()?;
            let peak = server.peak_resident_bytes()?;
            let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
            println!(
                "  server RSS idle after load: {:.1} MiB (peak {:.1} MiB)",
                mib(idle),
                mib(peak)
            );
            figures["server_rss_idle_bytes"] = json!(idle);
            figures["server_rss_peak_bytes"] = json!(peak);
        }
        if let Value::Object(figures) = &mut figures {
            figures.extend(extra);
        }
        Report::new(
            self.name,
            parameters,
            self.started_at,
            self.began.elapsed().as_secs_f64(),
            figures,
            tally.errors,
        )
    }
}

fn seconds(secs: u32) -> Duration {
    Duration::from_secs(u64::from(secs))
}
