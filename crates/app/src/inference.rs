//! Running images through the face pipeline on the inference workers: decoding, detection, embedding and any
//! per-face model, timed into the metrics. Every use case that looks at an image goes through here.

use std::time::Instant;

use bytes::Bytes;
use vision::{Embedding, Face, FacePipeline, StageTimes, Wanted};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use vision::pipeline::largest_face as largest;

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
    /// Time spent in each stage on the inference worker.
    pub times: StageTimes,
}

impl Analyzed {
    /// The template of face `i`, when it was embedded.
    pub fn template_of(&self, i: usize) -> Option<&Embedding> {
        self.embedded.iter().position(|&e| e == i).map(|k| &self.templates[k])
    }
}

impl AppState {
    /// Decodes the image and finds its faces on an inference worker (detecting at `max_side`, looking for the
    /// faces `wanted`), then embeds the faces that `select` picks.
    pub async fn analyze(
        &self,
        bytes: Bytes,
        max_side: u32,
        wanted: Wanted,
        select: impl FnOnce(&[Face]) -> Vec<usize> + Send + 'static,
    ) -> ApiResult<Analyzed> {
        Ok(self.analyze_inspecting(bytes, max_side, wanted, select, |_, _| Ok(())).await?.0)
    }

    /// As [`AppState::analyze`], and runs `inspect` on the same worker, on the upright image and its faces (for
    /// per-face models other than the embedding): one decode and one detection for both.
    pub async fn analyze_inspecting<R: Send + 'static>(
        &self,
        bytes: Bytes,
        max_side: u32,
        wanted: Wanted,
        select: impl FnOnce(&[Face]) -> Vec<usize> + Send + 'static,
        inspect: impl FnOnce(&image::RgbImage, &[Face]) -> Result<R, ApiError> + Send + 'static,
    ) -> ApiResult<(Analyzed, R)> {
        let pipeline = self.pipeline.clone();
        let started = Instant::now();
        let (result, times) = self
            .pool
            .run(move || {
                let mut times = StageTimes::default();
                let result = analyze_on_worker(&pipeline, &bytes, max_side, wanted, select, inspect, &mut times);
                (result, times)
            })
            .await?;
        self.record(&times);
        tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "analysed an image");
        let (analyzed, inspected) = result?;
        Ok((Analyzed { times, ..analyzed }, inspected))
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
}

fn analyze_on_worker<R>(
    pipeline: &FacePipeline,
    bytes: &[u8],
    max_side: u32,
    wanted: Wanted,
    select: impl FnOnce(&[Face]) -> Vec<usize>,
    inspect: impl FnOnce(&image::RgbImage, &[Face]) -> Result<R, ApiError>,
    times: &mut StageTimes,
) -> Result<(Analyzed, R), ApiError> {
    let t = Instant::now();
    let decoded = pipeline.decode(bytes)?;
    times.decode_ms = t.elapsed().as_secs_f64() * 1000.0;
    let found = pipeline.find_faces_timed(&decoded.rgb, max_side, wanted, times)?;
    let image =
        ImageInfo { width: found.image.width(), height: found.image.height(), rotation: found.rotation.degrees() };
    let inspected = inspect(&found.image, &found.faces)?;
    let faces = found.faces;
    let embedded: Vec<usize> = select(&faces).into_iter().filter(|&i| i < faces.len()).collect();
    let t = Instant::now();
    let chosen: Vec<&Face> = embedded.iter().map(|&i| &faces[i]).collect();
    let templates = if chosen.is_empty() { Vec::new() } else { pipeline.embed(&chosen)? };
    times.embed_ms = t.elapsed().as_secs_f64() * 1000.0;
    Ok((Analyzed { image, faces, embedded, templates, times: StageTimes::default() }, inspected))
}
