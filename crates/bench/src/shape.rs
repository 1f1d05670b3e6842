//! The shapes of generated graphs (shared by `dataset generate` and `nakama setup`).

use serde::Serialize;

/// The shapes of generated graphs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Log-normal degrees around the median (spread 0.8), some users at the friend limit.
    Skewed,
    /// Every user draws the median number of friends (about 100 mutual friends each on 2,000
    /// users: the graph of the Nakama measurement).
    Nakama,
}

impl Shape {
    /// The number of users when `--users` is not given.
    pub fn default_users(self) -> u32 {
        match self {
            Self::Skewed => 100_000,
            Self::Nakama => 2_000,
        }
    }

    /// The spread (sigma) of the log-normal degree distribution.
    pub fn spread(self) -> f64 {
        match self {
            Self::Skewed => 0.8,
            Self::Nakama => 0.0,
        }
    }
}
