//! What every request shares: configuration, the face pipeline and its worker pool, the store, the indexes
//! and the metrics; the thresholds' rule. Running images through the pipeline is [`crate::inference`]'s.

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use store::Store;
use vision::{EmbeddingModel, FacePipeline};

use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult, Field};
use crate::indexes::Indexes;
use crate::login_tokens::Keyring;
use crate::metrics::{Gauges, Metrics};
use crate::pool::InferencePool;
use auth::RateLimiter;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: ServerConfig,
    pub pipeline: Arc<FacePipeline>,
    pub pool: InferencePool,
    pub store: Store,
    pub indexes: Arc<Indexes>,
    pub metrics: Metrics,
    pub model: EmbeddingModel,
    /// Face-login token keys.
    pub keyring: Arc<Keyring>,
    /// Token buckets per API key id, and per client address (unauthenticated and login requests).
    pub key_limiter: RateLimiter<String>,
    pub ip_limiter: RateLimiter<IpAddr>,
    /// Frames per client address to the liveness sessions no key owns (`anonymous_frames_per_second`).
    pub frame_limiter: RateLimiter<IpAddr>,
    /// Passive anti-spoofing, when its weights are in the models directory; else why not.
    pub passive: Result<Arc<antispoof::PassiveLiveness>, String>,
    /// Head turns clients have shown across single-frame calls (this replica's memory).
    pub turns: crate::turns::TurnTracker,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    /// Bytes a request body may have: two images at the limit, base64-encoded, and some room for options.
    pub fn body_limit(&self) -> usize {
        self.config.max_image_bytes.saturating_mul(3).saturating_add(1 << 20)
    }

    /// Time a request body may take to arrive after its headers.
    pub fn body_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.http_body_timeout_seconds)
    }

    /// Time a liveness WebSocket may stay silent.
    pub fn idle_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.config.http_idle_timeout_seconds)
    }

    pub fn face_model(&self) -> String {
        self.model.id().to_string()
    }

    /// Whether passive anti-spoofing runs, and what follows when it does not (for `/ready` and the start-up
    /// log).
    pub fn passive_liveness_status(&self) -> String {
        passive_liveness_status(&self.passive, self.config.liveness_allow_challenge_only)
    }

    pub fn gauges(&self) -> Gauges {
        Gauges {
            queue_depth: self.pool.queued(),
            admitted: self.pool.admitted(),
            busy_workers: self.pool.busy(),
            workers: self.pool.size(),
            queue_capacity: self.pool.capacity(),
            indexed_faces: self.indexes.sizes(),
            engine: self.pipeline.backend(),
            engine_requested: self.pipeline.engine().requested.to_string(),
        }
    }

    /// A threshold from a request (or the default), checked.
    pub fn threshold(&self, requested: Option<f32>) -> ApiResult<f32> {
        let t = requested.unwrap_or(self.config.match_threshold);
        if t.is_finite() && (0.0..=100.0).contains(&t) {
            Ok(t)
        } else {
            Err(ApiError::invalid_field(Field::Threshold, "must be a similarity between 0 and 100"))
        }
    }

    pub fn similarity(&self, cosine: f32) -> f32 {
        vision::similarity::similarity(self.model, cosine)
    }
}

/// `on`, or `off` with why and what follows for liveness sessions.
pub fn passive_liveness_status(
    passive: &Result<Arc<antispoof::PassiveLiveness>, String>,
    challenge_only: bool,
) -> String {
    match (passive, challenge_only) {
        (Ok(_), _) => "on".into(),
        (Err(why), true) => format!(
            "off ({why}); challenge-only liveness is allowed (liveness_allow_challenge_only): sessions can succeed \
             on their challenges alone, which photos and screens can pass"
        ),
        (Err(why), false) => format!(
            "off ({why}); no liveness session can succeed and nothing is reported live until the weights are \
             installed (facegate models fetch) or liveness_allow_challenge_only is set"
        ),
    }
}
