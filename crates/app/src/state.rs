//! What every request shares: configuration, the face pipeline and its worker pool, the store, the indexes
//! and the metrics.

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use store::Store;
use vision::{Embedding, EmbeddingModel, Face, FacePipeline, StageTimes, VisionError, Wanted};

use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult};
use crate::indexes::Indexes;
use crate::metrics::{Gauges, Metrics};
use crate::pool::InferencePool;
use crate::tokens::Keyring;
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

/// The analysed image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    /// Clockwise quarter turn (0, 90, 180, 270) applied because the photo was sideways or upside down;
    /// boxes are in the turned image's pixels.
    pub rotation: u32,
}

impl ImageInfo {
    /// A face's box in this image, as the store keeps it (with the image's size).
    pub fn face_box(&self, b: &vision::BBox) -> store::FaceBox {
        store::FaceBox { x: b.x, y: b.y, width: b.width, height: b.height, image_size: Some([self.width, self.height]) }
    }
}

/// The faces of one image, with templates for those asked for.
pub struct Analyzed {
    pub image: ImageInfo,
    pub faces: Vec<Face>,
    /// `templates[i]` is the template of `faces[embedded[i]]`.
    pub embedded: Vec<usize>,
    pub templates: Vec<Embedding>,
}

impl Analyzed {
    /// The template of face `i`, when it was embedded.
    pub fn template_of(&self, i: usize) -> Option<&Embedding> {
        self.embedded.iter().position(|&e| e == i).map(|k| &self.templates[k])
    }
}

pub use vision::pipeline::largest_face as largest;

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

    /// Decodes the image and finds its faces on an inference worker (detecting at `max_side`, looking for the
    /// faces `wanted`), then embeds the faces that `select` picks.
    pub async fn analyze(
        &self,
        bytes: Bytes,
        max_side: u32,
        wanted: Wanted,
        select: impl FnOnce(&[Face]) -> Vec<usize> + Send + 'static,
    ) -> ApiResult<Analyzed> {
        let pipeline = self.pipeline.clone();
        let started = Instant::now();
        let (result, times) = self
            .pool
            .run(move || {
                let mut times = StageTimes::default();
                let result = analyze_on_worker(&pipeline, &bytes, max_side, wanted, select, &mut times);
                (result, times)
            })
            .await?;
        self.record(&times);
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "analysed an image");
        Ok(result?)
    }

    /// Decodes the image and finds its faces on an inference worker, then runs `inspect` there on the upright
    /// image and its faces (for per-face models other than the embedding).
    pub async fn inspect<R: Send + 'static>(
        &self,
        bytes: Bytes,
        max_side: u32,
        wanted: Wanted,
        inspect: impl FnOnce(&image::RgbImage, &[Face]) -> Result<R, ApiError> + Send + 'static,
    ) -> ApiResult<(ImageInfo, Vec<Face>, R)> {
        let pipeline = self.pipeline.clone();
        let (result, times) = self
            .pool
            .run(move || {
                let mut times = StageTimes::default();
                let t = Instant::now();
                let result = (|| {
                    let decoded = pipeline.decode(&bytes)?;
                    times.decode_ms = t.elapsed().as_secs_f64() * 1000.0;
                    let found = pipeline.find_faces_timed(&decoded.rgb, max_side, wanted, &mut times)?;
                    let info = ImageInfo {
                        width: found.image.width(),
                        height: found.image.height(),
                        rotation: found.rotation.degrees(),
                    };
                    // `found.image` borrows the decoded image (or owns a rotated copy): no copy here.
                    let r = inspect(&found.image, &found.faces)?;
                    Ok::<_, ApiError>((info, found.faces, r))
                })();
                (result, times)
            })
            .await?;
        self.record(&times);
        result
    }

    fn record(&self, t: &StageTimes) {
        let m = &self.metrics;
        m.observe_inference("decode", t.decode_ms / 1000.0);
        if t.detect_ms > 0.0 {
            m.observe_inference(vision::models::YUNET.id, t.detect_ms / 1000.0);
            m.observe_inference("align", t.align_ms / 1000.0);
        }
        if t.embed_ms > 0.0 {
            m.observe_inference(self.model.id(), t.embed_ms / 1000.0);
        }
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
            Err(ApiError::invalid_parameter("threshold must be a similarity between 0 and 100"))
        }
    }

    pub fn similarity(&self, cosine: f32) -> f32 {
        vision::similarity::similarity(self.model, cosine)
    }
}

fn analyze_on_worker(
    pipeline: &FacePipeline,
    bytes: &[u8],
    max_side: u32,
    wanted: Wanted,
    select: impl FnOnce(&[Face]) -> Vec<usize>,
    times: &mut StageTimes,
) -> Result<Analyzed, VisionError> {
    let t = Instant::now();
    let decoded = pipeline.decode(bytes)?;
    times.decode_ms = t.elapsed().as_secs_f64() * 1000.0;
    let found = pipeline.find_faces_timed(&decoded.rgb, max_side, wanted, times)?;
    let image =
        ImageInfo { width: found.image.width(), height: found.image.height(), rotation: found.rotation.degrees() };
    let faces = found.faces;
    let embedded: Vec<usize> = select(&faces).into_iter().filter(|&i| i < faces.len()).collect();
    let t = Instant::now();
    let chosen: Vec<&Face> = embedded.iter().map(|&i| &faces[i]).collect();
    let templates = if chosen.is_empty() { Vec::new() } else { pipeline.embed(&chosen)? };
    times.embed_ms = t.elapsed().as_secs_f64() * 1000.0;
    Ok(Analyzed { image, faces, embedded, templates })
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
