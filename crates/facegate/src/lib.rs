//! The `facegate` command line: subcommands over the face pipeline.

pub mod cli;
pub mod commands;
pub mod lfw;
pub mod metrics;

use anyhow::Result;
use cli::{Cli, Command};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let common = &cli.common;
    match &cli.command {
        Command::Detect { image, json } => commands::detect::run(common, image, *json),
        Command::Compare { a, b, json, threshold, cosine_threshold, face } => commands::compare::run(
            common,
            commands::compare::CompareArgs {
                a,
                b,
                json: *json,
                threshold: *threshold,
                cosine_threshold: *cosine_threshold,
                face: *face,
            },
        ),
        Command::Eval(e) => commands::eval::run(common, e),
        Command::Bench { images, runs, json } => commands::bench::run(common, images, *runs, *json),
        Command::Models { json } => commands::models::run(common, *json),
    }
}
