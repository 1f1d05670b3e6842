//! `amity-bench`: Amity's benchmark tool; see the crate's README and [`amity_bench`].

use anyhow::Context;
use clap::Parser;

use amity_bench::cli::Cli;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (report, output) = amity_bench::run(cli.command).await?;
    report
        .write(&output)
        .with_context(|| format!("writing the result file {}", output.display()))?;
    println!("result written to {}", output.display());
    if report.errors > 0 {
        anyhow::bail!(
            "the run finished with {} error(s); see the figures above and {}",
            report.errors,
            output.display()
        );
    }
    Ok(())
}
