//! One module per subcommand.

pub mod attack_frames;
pub mod bench;
pub mod compare;
pub mod detect;
pub mod enroll;
pub mod eval;
pub mod eval_attacks;
pub mod eval_expressions;
pub mod eval_liveness;
pub mod eval_stream;
pub mod keys;
pub mod models;
pub mod serve;

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use app::state::AppState;
use vision::FacePipeline;

use crate::cli::{CommonArgs, StoreArgs};

/// The service for a one-off stateless command (`detect`, `compare`): the settings as `serve` reads them (file <
/// environment < flags: the same thresholds and limits), its models and inference workers, on a store held in
/// memory (nothing written), and a runtime to drive its use cases.
pub fn open_stateless(common: &CommonArgs) -> Result<(tokio::runtime::Runtime, AppState)> {
    let config = crate::settings::server_config(common, &StoreArgs::default(), None)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let app = runtime.block_on(app::service::open_in_memory(config)).context("loading the face models")?;
    Ok((runtime, app))
}

/// Loads the models once, with intra-op threads for the lowest single-image latency.
pub fn load_pipeline(common: &CommonArgs) -> Result<Arc<FacePipeline>> {
    FacePipeline::new(common.pipeline_config(common.threads())).context("loading the face models")
}

pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
