//! The face pipeline assembled: decode -> detect -> align -> quality -> embed, with the models loaded once
//! and shared by every caller.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::image::RgbImage;
use serde::Serialize;

use crate::align::{align_face, square_view, warp_affine};
use crate::analysis::FaceAnalyzer;
use crate::detect::{BBox, Detection, DetectorConfig, FaceDetector, Point};
use crate::embed::{Embedding, EmbeddingModel, FaceEmbedder};
use crate::error::{Result, VisionError};
use crate::image::{decode, DecodeLimits, DecodedImage, Rotation};
use crate::models::{ModelOrigin, ModelRepository, YUNET};
use crate::quality::{assess, FaceQuality, QualityThresholds};
use crate::runtime::{choose_backend, BackendKind, EngineInfo, InferenceBackend};

/// Everything the pipeline can be configured with.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub models_dir: Option<PathBuf>,
    pub embedding_model: EmbeddingModel,
    pub detector: DetectorConfig,
    pub decode_limits: DecodeLimits,
    pub quality: QualityThresholds,
    /// When no face is found upright, try the image turned by 90, 180 and 270 degrees (phone uploads).
    pub try_rotations: bool,
    /// The inference engine.
    pub backend: BackendKind,
    /// Threads one model run may use (1 suits a server running many requests side by side).
    pub intra_op_threads: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            models_dir: None,
            embedding_model: EmbeddingModel::Sface,
            detector: DetectorConfig::default(),
            decode_limits: DecodeLimits::default(),
            quality: QualityThresholds::default(),
            try_rotations: true,
            backend: BackendKind::Auto,
            intra_op_threads: 1,
        }
    }
}

/// Which faces of an image a caller needs; detection does less work when only the largest matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Every face the detector finds at the detection size: listings, indexing every face, group photos,
    /// identity documents (whose portrait is small).
    Every,
    /// The largest face (a selfie, a login, one side of a comparison, a search by image; not a liveness
    /// frame, whose checks across frames need the steadier full-size boxes): detection runs at
    /// [`DetectorConfig::coarse_side`] first; a largest face too small there for its landmarks to be trusted
    /// ([`COARSE_TRUSTED_FACE_PX`]) is detected again in a square around it, and the full size runs only
    /// when the coarse pass finds no usable face ([`COARSE_MIN_FACE_PX`]) or the second look loses it.
    Largest,
    /// Every face of a camera frame, as [`Wanted::Every`], in the frame as it is: no quarter turn is tried
    /// when no upright face is found (a liveness frame comes from a camera held upright, and a face found in
    /// the frame turned sideways — a head in profile, a pattern — is not the person in front of it).
    EveryUpright,
}

/// The width, in pixels of the coarse detector input, under which the coarse pass's largest face is not
/// trusted at all (detection at the full size follows).
pub const COARSE_MIN_FACE_PX: f32 = 32.0;
/// The width, in pixels of the coarse detector input, from which the coarse pass's landmarks are taken as
/// they are. Between the two, the largest face is detected again in a square around it ([`REFINE_SIDE`]),
/// where it is ~110-130 pixels wide: landmarks as precise as a full-size pass gives for camera photos.
pub const COARSE_TRUSTED_FACE_PX: f32 = 128.0;
/// The side of the refinement pass's input (one planned shape for every image).
pub const REFINE_SIDE: u32 = 256;
/// The refinement pass looks at a square this many times the face box's longer side.
const REFINE_MARGIN: f32 = 1.5;

/// A detection score at which an upright face is taken as is, with no look at other orientations.
const CONFIDENT_UPRIGHT_SCORE: f32 = 0.9;
/// How much better another orientation's best face must score to be preferred.
const ROTATION_MARGIN: f32 = 0.03;

/// One face found in an image.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Face {
    #[serde(flatten)]
    pub detection: Detection,
    pub quality: FaceQuality,
    /// The aligned 112x112 crop the template is computed from.
    #[serde(skip)]
    pub aligned: RgbImage,
}

impl Face {
    /// Whether the face stands upright in the image: eyes above the mouth, eye line within 60 degrees of
    /// level. A face seen upside down or sideways means the photo itself is turned.
    pub fn is_upright(&self) -> bool {
        let [re, le, _, rm, lm] = self.detection.landmarks;
        (re.y + le.y) < (rm.y + lm.y) && self.quality.roll.abs() < 60.0
    }
}

/// The faces of one image, in the coordinates of `image`: the image itself, borrowed (no copy), or the
/// turned copy when a quarter turn was needed.
#[derive(Debug, Clone)]
pub struct FacesInImage<'a> {
    pub image: Cow<'a, RgbImage>,
    pub rotation: Rotation,
    pub faces: Vec<Face>,
}

impl FacesInImage<'_> {
    /// The same result owning its image.
    pub fn into_owned(self) -> FacesInImage<'static> {
        FacesInImage { image: Cow::Owned(self.image.into_owned()), rotation: self.rotation, faces: self.faces }
    }

    /// The largest face, or `NoFace`.
    pub fn largest(&self) -> Result<&Face> {
        largest_face(&self.faces).map(|i| &self.faces[i]).ok_or(VisionError::NoFace)
    }

    /// Face `index` (in the order returned: best score first).
    pub fn face(&self, index: usize) -> Result<&Face> {
        if self.faces.is_empty() {
            return Err(VisionError::NoFace);
        }
        self.faces.get(index).ok_or(VisionError::FaceIndexOutOfRange { index, count: self.faces.len() })
    }
}

/// Index of the largest face (by box area), or `None` when there is none.
pub fn largest_face(faces: &[Face]) -> Option<usize> {
    faces
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.detection.bbox.area().total_cmp(&b.1.detection.bbox.area()))
        .map(|(i, _)| i)
}

/// Where a model of the pipeline came from.
#[derive(Debug, Clone, Serialize)]
pub struct LoadedModelInfo {
    pub id: &'static str,
    pub file: &'static str,
    pub sha256: &'static str,
    pub bytes: usize,
    pub origin: String,
    pub embedded: bool,
}

/// Time spent in each stage of one image's trip through the pipeline.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StageTimes {
    pub decode_ms: f64,
    pub detect_ms: f64,
    pub align_ms: f64,
    pub embed_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub struct FacePipeline {
    config: PipelineConfig,
    detector: FaceDetector,
    embedder: FaceEmbedder,
    analyzer: FaceAnalyzer,
    models: Vec<LoadedModelInfo>,
    engine: EngineInfo,
}

impl FacePipeline {
    /// Loads and checks the models, on the configured backend (`auto`: ONNX Runtime when its library is
    /// found, else tract).
    pub fn new(config: PipelineConfig) -> Result<Arc<Self>> {
        let (backend, engine) = choose_backend(config.backend, config.intra_op_threads)?;
        Self::with_backend(config, backend.as_ref(), engine)
    }

    pub fn with_backend(
        config: PipelineConfig,
        backend: &dyn InferenceBackend,
        engine: EngineInfo,
    ) -> Result<Arc<Self>> {
        let repo = ModelRepository::new(config.models_dir.clone());
        let det_model = repo.load(&YUNET)?;
        let emb_model = repo.load(&config.embedding_model.spec())?;
        let info = |m: &crate::models::LoadedModel| LoadedModelInfo {
            id: m.spec.id,
            file: m.spec.file,
            sha256: m.spec.sha256,
            bytes: m.bytes.len(),
            origin: m.origin.to_string(),
            embedded: m.origin == ModelOrigin::Embedded,
        };
        let mesh_model = repo.load(&crate::models::FACE_MESH)?;
        let attention_model = repo.load(&crate::models::FACE_MESH_ATTENTION)?;
        let emotion_model = repo.load(&crate::models::EMOTION)?;
        let models =
            vec![info(&det_model), info(&emb_model), info(&mesh_model), info(&attention_model), info(&emotion_model)];
        let detector = FaceDetector::new(backend, &det_model, config.detector)?;
        let embedder = FaceEmbedder::new(backend, &emb_model, config.embedding_model)?;
        let analyzer = FaceAnalyzer::new(backend, &mesh_model, &attention_model, &emotion_model)?;
        Ok(Arc::new(Self { config, detector, embedder, analyzer, models, engine }))
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// The inference engine's name: `tract` or `onnxruntime`.
    pub fn backend(&self) -> &'static str {
        self.engine.name
    }

    /// The inference engine and how it was chosen.
    pub fn engine(&self) -> &EngineInfo {
        &self.engine
    }

    pub fn models(&self) -> &[LoadedModelInfo] {
        &self.models
    }

    pub fn detector(&self) -> &FaceDetector {
        &self.detector
    }

    pub fn embedder(&self) -> &FaceEmbedder {
        &self.embedder
    }

    /// Mesh, pose, eyes, mouth and expression of faces.
    pub fn analyzer(&self) -> &FaceAnalyzer {
        &self.analyzer
    }

    pub fn embedding_model(&self) -> EmbeddingModel {
        self.embedder.model()
    }

    /// Decodes bytes with the configured limits.
    pub fn decode(&self, bytes: &[u8]) -> Result<DecodedImage> {
        decode(bytes, &self.config.decode_limits)
    }

    /// Detects, aligns and assesses every face of an upright image, trying quarter turns when no confident
    /// upright face is found and the configuration allows.
    pub fn find_faces<'a>(&self, img: &'a RgbImage) -> Result<FacesInImage<'a>> {
        self.find_faces_timed(img, self.config.detector.max_side, Wanted::Every, &mut StageTimes::default())
    }

    /// As [`FacePipeline::find_faces`], detecting at a chosen resolution (a larger `max_side` finds smaller
    /// faces), looking for the faces `wanted`, and adding the time spent detecting and aligning to `times`.
    pub fn find_faces_timed<'a>(
        &self,
        img: &'a RgbImage,
        max_side: u32,
        wanted: Wanted,
        times: &mut StageTimes,
    ) -> Result<FacesInImage<'a>> {
        let faces = self.faces_of(img, max_side, wanted, times)?;
        let best =
            |faces: &[Face]| faces.iter().filter(|f| f.is_upright()).map(|f| f.detection.score).fold(0.0, f32::max);
        let upright_best = best(&faces);
        if !self.config.try_rotations || wanted == Wanted::EveryUpright || upright_best >= CONFIDENT_UPRIGHT_SCORE {
            return Ok(FacesInImage { image: Cow::Borrowed(img), rotation: Rotation::None, faces });
        }
        // No confident upright face: none at all, or only weak ones, as YuNet gives for a face seen upside
        // down or sideways. Try the quarter turns and keep the orientation whose best upright face is clearly
        // better.
        let mut chosen = FacesInImage { image: Cow::Borrowed(img), rotation: Rotation::None, faces };
        let mut chosen_best = upright_best;
        for rotation in [Rotation::Cw90, Rotation::Cw270, Rotation::Cw180] {
            let turned = rotation.apply(img);
            let turned_faces = self.faces_of(&turned, max_side, wanted, times)?;
            let score = best(&turned_faces);
            if score > chosen_best + ROTATION_MARGIN {
                chosen = FacesInImage { image: Cow::Owned(turned), rotation, faces: turned_faces };
                chosen_best = score;
                if score >= CONFIDENT_UPRIGHT_SCORE {
                    break;
                }
            }
        }
        Ok(chosen)
    }

    fn faces_of(&self, img: &RgbImage, max_side: u32, wanted: Wanted, times: &mut StageTimes) -> Result<Vec<Face>> {
        let t = Instant::now();
        let detections = self.detect(img, max_side, wanted)?;
        times.detect_ms += ms(t.elapsed());
        let t = Instant::now();
        let faces = detections
            .into_iter()
            .map(|detection| {
                let aligned = align_face(img, &detection.landmarks);
                let quality = assess(&detection, &aligned, &self.config.quality);
                Face { detection, quality, aligned }
            })
            .collect();
        times.align_ms += ms(t.elapsed());
        Ok(faces)
    }

    /// Detection coarse to fine: for the largest face only, a pass at the coarse size first, kept when its
    /// largest face is big enough; else (and for every face) the pass at `max_side`.
    fn detect(&self, img: &RgbImage, max_side: u32, wanted: Wanted) -> Result<Vec<Detection>> {
        let coarse = self.config.detector.coarse_side;
        let long = img.width().max(img.height());
        if wanted == Wanted::Largest && coarse >= 32 && coarse < max_side.min(long) {
            let mut found = self.detector.detect_with_max_side(img, coarse)?;
            let scale = coarse as f32 / long as f32;
            let largest = found.iter().enumerate().max_by(|a, b| a.1.bbox.area().total_cmp(&b.1.bbox.area()));
            if let Some((i, face)) = largest {
                let width = face.bbox.width * scale;
                if width >= COARSE_TRUSTED_FACE_PX {
                    return Ok(found);
                }
                if width >= COARSE_MIN_FACE_PX {
                    if let Some(refined) = self.refine(img, face)? {
                        found[i] = refined;
                        return Ok(found);
                    }
                }
            }
        }
        self.detector.detect_with_max_side(img, max_side)
    }

    /// The face detected again in a square twice its size around it, or `None` when that pass does not find
    /// it (the full-size pass follows).
    fn refine(&self, img: &RgbImage, face: &Detection) -> Result<Option<Detection>> {
        // The face's square view, as the mesh takes one (black beyond the image): one planned shape.
        let view = square_view(&face.bbox, REFINE_MARGIN, REFINE_SIDE);
        let Some(back) = view.inverse() else { return Ok(None) };
        let input = warp_affine(img, &view, REFINE_SIDE, REFINE_SIDE);
        let mut found = self.detector.detect_with_max_side(&input, REFINE_SIDE)?;
        for d in &mut found {
            let corner = back.apply(Point { x: d.bbox.x, y: d.bbox.y });
            let k = back.scale();
            d.bbox = BBox { x: corner.x, y: corner.y, width: d.bbox.width * k, height: d.bbox.height * k };
            for p in &mut d.landmarks {
                *p = back.apply(*p);
            }
        }
        Ok(found.into_iter().filter(|d| d.bbox.iou(&face.bbox) > 0.5).max_by(|a, b| a.score.total_cmp(&b.score)))
    }

    /// Prepares the models for the input shapes most requests will have (the backend plans each shape once,
    /// ~150 ms with tract), so that the first requests don't pay for it: detection of images whose long side
    /// is at `max_side` or at the coarse size in the common aspect ratios, and of small 250x250 photos;
    /// embedding batches of 1 and 2. Returns how long it took.
    pub fn warm_up(&self) -> Result<Duration> {
        let started = Instant::now();
        let detector = &self.config.detector;
        let sides = [detector.max_side, detector.coarse_side].into_iter().filter(|&s| s >= 32);
        for side in sides {
            // 4:3 and 16:9 both ways, 4:5 portrait, square: cameras, phones and ID photos.
            let shapes = [
                (side, side * 3 / 4),
                (side * 3 / 4, side),
                (side, side * 9 / 16),
                (side * 9 / 16, side),
                (side * 4 / 5, side),
                (side, side),
            ];
            for (w, h) in shapes {
                self.detector.detect_with_max_side(&RgbImage::new(w.max(32), h.max(32)), side)?;
            }
        }
        self.detector.detect(&RgbImage::new(250, 250))?;
        if detector.coarse_side >= 32 {
            self.detector.detect_with_max_side(&RgbImage::new(REFINE_SIDE, REFINE_SIDE), REFINE_SIDE)?;
        }
        let crop = RgbImage::new(112, 112);
        for batch in 1..=2 {
            let crops: Vec<&RgbImage> = (0..batch).map(|_| &crop).collect();
            self.embedder.embed(&crops)?;
        }
        Ok(started.elapsed())
    }

    /// Templates of the given faces, computed as one batch.
    pub fn embed(&self, faces: &[&Face]) -> Result<Vec<Embedding>> {
        let crops: Vec<&RgbImage> = faces.iter().map(|f| &f.aligned).collect();
        self.embedder.embed(&crops)
    }

    /// Decodes an image, finds its faces and embeds the one chosen (`face_index`, or the largest), timing
    /// each stage.
    pub fn template_of(&self, bytes: &[u8], face_index: Option<usize>) -> Result<(Face, Embedding, StageTimes)> {
        let mut times = StageTimes::default();
        let t = Instant::now();
        let decoded = self.decode(bytes)?;
        times.decode_ms = ms(t.elapsed());
        let wanted = if face_index.is_some() { Wanted::Every } else { Wanted::Largest };
        let detections = self.find_faces_timed(&decoded.rgb, self.config.detector.max_side, wanted, &mut times)?;
        let face = match face_index {
            Some(i) => detections.face(i)?,
            None => detections.largest()?,
        }
        .clone();
        let t = Instant::now();
        let embedding = self.embed(&[&face])?.into_iter().next().ok_or(VisionError::NoFace)?;
        times.embed_ms = ms(t.elapsed());
        Ok((face, embedding, times))
    }
}
