//! Shared by the liveness crate's tests on real images.

use std::sync::{Arc, OnceLock};

use vision::{FacePipeline, PipelineConfig};

/// The pipeline with the embedded models, on the engine `FACEGATE_BACKEND` names, loaded once per test binary.
pub fn pipeline() -> Arc<FacePipeline> {
    static P: OnceLock<Arc<FacePipeline>> = OnceLock::new();
    P.get_or_init(|| {
        let backend = testkit::backend_name().parse().expect("FACEGATE_BACKEND names an engine");
        FacePipeline::new(PipelineConfig { backend, ..PipelineConfig::default() }).expect("the embedded models load")
    })
    .clone()
}
