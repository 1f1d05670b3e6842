//! Progress lines on stderr for the slow parts (sign-ups, opening thousands of websockets), so
//! stdout keeps only the figures.

use std::io::Write;
use std::time::{Duration, Instant};

/// How often a progress line is redrawn.
const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// Counts done items out of a total and redraws one stderr line now and then.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    failed: u64,
    started: Instant,
    drawn_at: Option<Instant>,
}

impl Progress {
    /// Starts counting `total` items of `label`.
    pub fn new(label: impl Into<String>, total: u64) -> Self {
        Self {
            label: label.into(),
            total,
            done: 0,
            failed: 0,
            started: Instant::now(),
            drawn_at: None,
        }
    }

    /// One more item is done (`ok`) or failed.
    pub fn tick(&mut self, ok: bool) {
        self.done += 1;
        if !ok {
            self.failed += 1;
        }
        let due = self.drawn_at.is_none_or(|at| at.elapsed() >= REDRAW_EVERY);
        if due || self.done == self.total {
            self.draw();
        }
    }

    /// Sets how many items are done (all succeeded), for work that reports in batches.
    pub fn set_done(&mut self, done: u64) {
        self.done = done;
        let due = self.drawn_at.is_none_or(|at| at.elapsed() >= REDRAW_EVERY);
        if due || self.done == self.total {
            self.draw();
        }
    }

    /// Ends the line.
    pub fn finish(mut self) {
        self.draw();
        eprintln!();
    }

    fn draw(&mut self) {
        self.drawn_at = Some(Instant::now());
        let failed = if self.failed > 0 {
            format!(", {} failed", self.failed)
        } else {
            String::new()
        };
        eprint!(
            "\r{}: {}/{}{} ({:.1} s)",
            self.label,
            self.done,
            self.total,
            failed,
            self.started.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }
}
