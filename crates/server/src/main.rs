//! The `amity` binary.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: a request allocates and frees thousands of small
/// objects (the GraphQL response tree, rows, strings), which glibc's malloc serves slower under
/// concurrency, and mimalloc hands freed pages back to the system so memory falls again once a
/// load has passed.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = amity::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(amity::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Each cause once, even where an error repeats its source in its own message.
            eprintln!("error: {}", amity_domain::error::chain(&*e));
            ExitCode::FAILURE
        }
    }
}
