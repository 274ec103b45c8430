//! Measuring one frame for a session: which faces count, and for the one face its signals, box, landmarks,
//! template and passive score. The server's frame route and `facegate eval attacks` both call
//! [`measure_faces`] on the faces the pipeline found, then [`FrameMeasurement::observation`], so what the
//! evaluation measures is what the service decides on.

use antispoof::PassiveLiveness;
use image::RgbImage;
use sha2::{Digest, Sha256};
use vision::{EmbeddingModel, Face, FacePipeline, QualityIssue};

use crate::check::Target;
use crate::replay::SeenFrame;
use crate::scene::ScenePrint;
use crate::session::{FrameError, Observation, ObservedFace, Session};
use crate::signals::Signals;

/// Mesh points of the rigid parts of the face (nose, eye corners, brows, forehead, cheeks, jaw, chin): where a
/// turning head shows depth. Lips and eyelids are left out, since smiles and blinks move them.
pub const RIGID_POINTS: [usize; 20] =
    [1, 4, 6, 168, 10, 152, 33, 133, 263, 362, 234, 454, 127, 356, 172, 397, 58, 288, 70, 300];

/// Measuring a frame failed (a model could not run): a server fault, not the client's.
#[derive(Debug, thiserror::Error)]
pub enum MeasureError {
    #[error("face analysis: {0}")]
    Analysis(vision::VisionError),
    #[error("embedding: {0}")]
    Embedding(vision::VisionError),
    #[error("embedding: no template")]
    NoTemplate,
    #[error("passive liveness: {0}")]
    Passive(antispoof::AntispoofError),
}

/// The one judged face of a frame, before it is compared with the session's baseline.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MeasuredFace {
    pub signals: Signals,
    /// The face box in normalised frame coordinates.
    pub bbox: Target,
    pub size_px: f32,
    pub quality_ok: bool,
    /// [`RIGID_POINTS`] in normalised frame coordinates.
    pub points: Vec<[f32; 2]>,
    /// The identity template (unit length), when taken: a session needs it only on some frames
    /// ([`crate::Session::identity_wanted`]), and [`FrameMeasurement::take_template`] computes it then.
    #[serde(default)]
    pub template: Option<Vec<f32>>,
    pub passive: Option<f32>,
    /// What the session keeps of the frame to judge the next against it (see [`crate::scene`]).
    #[serde(default)]
    pub scene: Option<ScenePrint>,
    /// The aligned face the template is computed from (kept in memory only).
    #[serde(skip)]
    pub aligned: Option<RgbImage>,
}

impl MeasuredFace {
    /// The template, when [`measure_faces`] took it ([`Template::Now`]).
    pub fn template(&self) -> Result<&[f32], MeasureError> {
        self.template.as_deref().ok_or(MeasureError::NoTemplate)
    }

    /// The calibrated similarity (0-100) of this face (its template taken) to the template `other`.
    pub fn similarity_to(&self, model: EmbeddingModel, other: &[f32]) -> Result<f32, MeasureError> {
        Ok(vision::similarity::similarity(model, vision::embed::cosine(other, self.template()?)))
    }
}

/// One frame, measured.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrameMeasurement {
    /// Faces that count (faces under the session's minimum size do not, unless no face is larger).
    pub faces: usize,
    /// The face, when exactly one counts.
    pub face: Option<MeasuredFace>,
    /// SHA-256 of the decoded pixels (hex): the same picture sent again, whatever its encoding's bytes.
    pub content_hash: String,
}

/// SHA-256 over the image's size and pixels, hex.
pub fn content_hash(img: &RgbImage) -> String {
    let mut h = Sha256::new();
    h.update(img.width().to_le_bytes());
    h.update(img.height().to_le_bytes());
    h.update(img.as_raw());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a face's quality allows judging it: lit well enough (size and pose are the session's own rules;
/// motion blur is common in webcam frames of a moving head and does not stop the mesh or the identity check).
fn quality_ok(issues: &[QualityIssue]) -> bool {
    !issues.iter().any(|i| matches!(i, QualityIssue::TooDark | QualityIssue::TooBright))
}

/// Measures the frame `img` whose faces the pipeline found: faces under `min_face_px` do not count as another
/// face (background people, spurious detections); when every face is that small, the largest is measured (and
/// the session refuses it as too small).
pub fn measure_faces(
    pipeline: &FacePipeline,
    passive: Option<&PassiveLiveness>,
    img: &RgbImage,
    faces: &[Face],
    min_face_px: f32,
    template: Template,
) -> Result<FrameMeasurement, MeasureError> {
    let content_hash = content_hash(img);
    let big: Vec<usize> = (0..faces.len())
        .filter(|&i| faces[i].detection.bbox.width.min(faces[i].detection.bbox.height) >= min_face_px)
        .collect();
    let chosen = match big.len() {
        0 => vision::pipeline::largest_face(faces),
        1 => Some(big[0]),
        _ => None,
    };
    let counted = if big.is_empty() { usize::from(!faces.is_empty()) } else { big.len() };
    let Some(i) = chosen else { return Ok(FrameMeasurement { faces: counted, face: None, content_hash }) };
    let face = &faces[i];
    let bbox = face.detection.bbox;
    let analysis = pipeline.analyzer().analyze(img, &bbox).map_err(MeasureError::Analysis)?;
    let template = match template {
        Template::Now => Some(embed(pipeline, &face.aligned)?),
        Template::WhenWanted => None,
    };
    let passive = match passive {
        Some(model) => Some(model.score(img, &bbox).map_err(MeasureError::Passive)?.real),
        None => None,
    };
    let (w, h) = (img.width().max(1) as f32, img.height().max(1) as f32);
    let points: Vec<[f32; 2]> =
        RIGID_POINTS.iter().filter_map(|&p| analysis.mesh.get(p)).map(|p| [p[0] / w, p[1] / h]).collect();
    let scene = ScenePrint::new(img, [bbox.x, bbox.y, bbox.width, bbox.height], &points);
    Ok(FrameMeasurement {
        faces: counted,
        face: Some(MeasuredFace {
            signals: Signals::new(&analysis, img.width(), img.height()),
            bbox: Target { x: bbox.x / w, y: bbox.y / h, width: bbox.width / w, height: bbox.height / h },
            size_px: bbox.width.min(bbox.height),
            quality_ok: quality_ok(&face.quality.issues),
            points,
            template,
            passive,
            scene: Some(scene),
            aligned: Some(face.aligned.clone()),
        }),
        content_hash,
    })
}

/// Whether [`measure_faces`] computes the face's template at once (an evaluation measuring every frame once
/// for many sessions) or leaves it until a session wants it ([`FrameMeasurement::take_template`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    Now,
    WhenWanted,
}

fn embed(pipeline: &FacePipeline, aligned: &RgbImage) -> Result<Vec<f32>, MeasureError> {
    let mut out = pipeline.embedder().embed(&[aligned]).map_err(MeasureError::Embedding)?;
    Ok(out.pop().ok_or(MeasureError::NoTemplate)?.vector)
}

/// A frame's place in its session: its number, the client's timestamp, the server's clock when it was taken,
/// and the SHA-256 of its bytes (hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameStamp {
    pub sequence: u64,
    pub timestamp_ms: i64,
    pub now_ms: i64,
    pub byte_hash: String,
}

impl FrameMeasurement {
    /// The print the replay memory keeps of the frame's face (see [`crate::replay`]).
    pub fn print(&self) -> Option<crate::replay::FramePrint> {
        self.face.as_ref().and_then(|f| crate::replay::FramePrint::new(&f.points))
    }

    /// The face's template: the one taken, else computed now from the aligned face (on the caller's thread:
    /// the server calls it on an inference worker). `None` without a face.
    pub fn take_template(&mut self, pipeline: &FacePipeline) -> Result<Option<Vec<f32>>, MeasureError> {
        let Some(face) = self.face.as_mut() else { return Ok(None) };
        if face.template.is_none() {
            let aligned = face.aligned.as_ref().ok_or(MeasureError::NoTemplate)?;
            face.template = Some(embed(pipeline, aligned)?);
        }
        Ok(face.template.clone())
    }

    /// The observation a session takes, the face not yet compared with the baseline (see
    /// [`Observation::compare_identity`]), with the frame's place in the session and the server's clock.
    pub fn observation(&self, frame: FrameStamp) -> Observation {
        Observation {
            sequence: frame.sequence,
            timestamp_ms: frame.timestamp_ms,
            now_ms: frame.now_ms,
            hash: frame.byte_hash,
            content_hash: self.content_hash.clone(),
            faces: self.faces,
            face: self.face.as_ref().map(|f| ObservedFace {
                signals: f.signals,
                bbox: f.bbox,
                size_px: f.size_px,
                quality_ok: f.quality_ok,
                similarity: None,
                passive: f.passive,
                points: f.points.clone(),
            }),
            seen_in: Vec::new(),
            scene: self.face.as_ref().and_then(|f| f.scene.clone()),
        }
    }
}

/// A measured frame on its way into a session: its observation, and whether judging it needs the face's template
/// (see [`Session::prepare`]).
#[derive(Debug, Clone)]
pub struct PreparedFrame {
    observation: Observation,
    wants_template: bool,
}

impl PreparedFrame {
    /// Whether [`Session::take`] should be given the face's template: the session wants the identity checked on
    /// this frame (see [`Session::identity_wanted`]). Computing it is the costliest part of a frame.
    pub fn wants_template(&self) -> bool {
        self.wants_template
    }
}

/// What a session made of a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenFrame {
    pub feedback: crate::session::Feedback,
    /// The frame became the session's baseline: its face's template is the one later frames are compared with.
    pub new_baseline: bool,
}

impl Session {
    /// The first of the two steps every caller takes a measured frame through (the service's frame route and
    /// `facegate eval attacks` alike): its observation at `stamp`, with the frames of other sessions its face was
    /// seen in (the replay memory), and whether the identity check needs its template (only with a baseline's
    /// template to compare with).
    pub fn prepare(
        &self,
        measured: &FrameMeasurement,
        stamp: FrameStamp,
        seen_in: Vec<SeenFrame>,
        has_baseline_template: bool,
    ) -> PreparedFrame {
        let mut observation = measured.observation(stamp);
        observation.seen_in = seen_in;
        let wants_template = has_baseline_template && self.identity_wanted(&observation);
        PreparedFrame { observation, wants_template }
    }

    /// The second step: judges the frame, its face compared with the baseline's template when the first step
    /// asked for it (`identity`: the face's template and the baseline's). An `Err` refuses the frame (see
    /// [`Session::observe`]).
    pub fn take(
        &mut self,
        frame: PreparedFrame,
        identity: Option<(&[f32], &[f32])>,
        model: EmbeddingModel,
    ) -> Result<TakenFrame, FrameError> {
        let PreparedFrame { mut observation, wants_template } = frame;
        if let (true, Some((template, baseline))) = (wants_template, identity) {
            observation.compare_identity(model, template, baseline);
        }
        let had_baseline = self.baseline.is_some();
        let feedback = self.observe(observation)?;
        Ok(TakenFrame { feedback, new_baseline: !had_baseline && self.baseline.is_some() })
    }
}

impl Observation {
    /// Compares the face with the baseline's: its calibrated similarity (0-100) from the two templates.
    pub fn compare_identity(&mut self, model: EmbeddingModel, template: &[f32], baseline: &[f32]) {
        if let Some(f) = self.face.as_mut() {
            f.similarity = Some(vision::similarity::similarity(model, vision::embed::cosine(baseline, template)));
        }
    }
}
