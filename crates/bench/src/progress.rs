//! Progress lines on stderr for the slow parts (sign-ups, opening thousands of websockets), so
//! stdout keeps only the figures.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often a progress line is redrawn on a terminal.
const REDRAW_EVERY: Duration = Duration::from_millis(250);
/// How often a progress line is written when stderr is a file or a pipe (one line each).
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Counts done items out of a total and redraws one stderr line now and then.
#[derive(Debug)]
pub struct Progress {
    label: String,
    total: u64,
    done: u64,
    failed: u64,
    started: Instant,
    drawn_at: Option<Instant>,
    terminal: bool,
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
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// One more item is done (`ok`) or failed.
    pub fn tick(&mut self, ok: bool) {
        self.done += 1;
        if !ok {
            self.failed += 1;
        }
        self.maybe_draw();
    }

    /// Sets how many items are done (all succeeded), for work that reports in batches.
    pub fn set_done(&mut self, done: u64) {
        self.done = done;
        self.maybe_draw();
    }

    fn maybe_draw(&mut self) {
        let every = if self.terminal {
            REDRAW_EVERY
        } else {
            LOG_EVERY
        };
        let due = self.drawn_at.is_none_or(|at| at.elapsed() >= every);
        if due || self.done == self.total {
            self.draw();
        }
    }

    /// Ends the line.
    pub fn finish(mut self) {
        if self.terminal || self.done != self.total {
            self.draw();
        }
        if self.terminal {
            eprintln!();
        }
    }

    fn draw(&mut self) {
        self.drawn_at = Some(Instant::now());
        let failed = if self.failed > 0 {
            format!(", {} failed", self.failed)
        } else {
            String::new()
        };
        let line = format!(
            "{}: {}/{}{} ({:.1} s)",
            self.label,
            self.done,
            self.total,
            failed,
            self.started.elapsed().as_secs_f64()
        );
        if self.terminal {
            eprint!("\r{line}");
        } else {
            eprintln!("{line}");
        }
        let _ = std::io::stderr().flush();
    }
}
