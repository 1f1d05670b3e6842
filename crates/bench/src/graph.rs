//! `graph recommendations`: latency of `friendRecommendations(first: 20)` on a generated graph,
//! for ordinary users and for users at the friend limit, one request at a time.

use std::time::Instant;

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use crate::cli::RecommendationsArgs;
use crate::client::GraphqlClient;
use crate::dataset::Manifest;
use crate::progress::Progress;
use crate::report::Report;
use crate::stats::{ErrorTally, Latencies};

const QUERY: &str = "{ friendRecommendations(first: 20) { user { id handle } mutualFriendCount mutualFriends(first: 3) { id handle } } }";

/// Runs the benchmark.
pub async fn recommendations(args: RecommendationsArgs) -> anyhow::Result<Report> {
    let manifest = Manifest::read(&args.manifest)?;
    let client = GraphqlClient::for_url(&args.common.url)?;
    let mut errors = ErrorTally::default();
    let mut figures = serde_json::Map::new();
    let started_at = Utc::now();
    let began = Instant::now();
    println!(
        "graph recommendations against {} ({} users, {} friendships)",
        args.common.url, manifest.users, manifest.friendships
    );
    for (group, handles) in [
        ("ordinary", &manifest.ordinary),
        ("at_limit", &manifest.at_limit),
    ] {
        if handles.is_empty() {
            errors.add(format!("no {group} users in the manifest"));
            continue;
        }
        let sample: Vec<&String> = handles.iter().take(args.sample as usize).collect();
        let mut progress = Progress::new(format!("signing in {group} users"), sample.len() as u64);
        let tokens: Vec<String> = futures::stream::iter(sample)
            .map(|handle| client.sign_in(handle, &manifest.password))
            .buffered(args.common.setup_concurrency as usize)
            .inspect(|r| progress.tick(r.is_ok()))
            .try_collect()
            .await?;
        progress.finish();
        // One warm-up request per user, not counted.
        for token in &tokens {
            client.execute(Some(token), QUERY, json!({})).await?;
        }
        let mut latencies = Latencies::new();
        let mut empty = 0u64;
        for i in 0..args.requests as usize {
            let token = &tokens[i % tokens.len()];
            let sent = Instant::now();
            match client.execute(Some(token), QUERY, json!({})).await {
                Ok(data) => {
                    latencies.record(sent.elapsed());
                    if data["friendRecommendations"]
                        .as_array()
                        .is_none_or(Vec::is_empty)
                    {
                        empty += 1;
                    }
                }
                Err(e) => errors.add(e.kind()),
            }
        }
        println!("  {group:9} {}", latencies.summary());
        if empty > 0 {
            println!("  ({empty} answers were empty)");
        }
        figures.insert(group.to_owned(), json!(latencies.summary()));
        figures.insert(format!("{group}_empty_answers"), json!(empty));
    }
    println!("  errors: {errors}");
    Report::new(
        "graph/recommendations",
        &args,
        started_at,
        began.elapsed().as_secs_f64(),
        serde_json::Value::Object(figures),
        errors,
    )
}
