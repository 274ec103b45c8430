//! The `facegate` command line: subcommands over the face pipeline.

pub mod cli;
pub mod commands;
pub mod lfw;
pub mod metrics;
pub mod settings;

use anyhow::Result;
use cli::{Cli, Command};

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    let common = &cli.common;
    match &cli.command {
        Command::Serve(args) => commands::serve::run(common, args),
        Command::Enroll(args) => commands::enroll::enroll(common, args),
        Command::Search(args) => commands::enroll::search(common, args),
        Command::BenchFill(args) => commands::enroll::bench_fill(common, args),
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
        Command::Bench { images, runs, json, profile } => commands::bench::run(common, images, *runs, *json, *profile),
        Command::Keys(k) => commands::keys::run(common, k),
        Command::Models { command: None, json } => commands::models::run(common, *json),
        Command::Models { command: Some(cli::ModelsCommand::Fetch(args)), json } => {
            commands::models::fetch(common, args, *json)
        }
    }
}
