//! Measuring one frame for a session: which faces count, and for the one face its signals, box, landmarks,
//! template and passive score. The server's frame route and `facegate eval attacks` both call
//! [`measure_faces`] on the faces the pipeline found, then [`FrameMeasurement::observation`], so what the
//! evaluation measures is what the service decides on.

use antispoof::PassiveLiveness;
use image::RgbImage;
use sha2::{Digest, Sha256};
use vision::{EmbeddingModel, Face, FacePipeline, QualityIssue};

use crate::check::Target;
use crate::session::{Observation, ObservedFace};
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
    /// The identity template (unit length).
    pub template: Vec<f32>,
    pub passive: Option<f32>,
}

impl MeasuredFace {
    /// The calibrated similarity (0-100) of this face to the template `other`.
    pub fn similarity_to(&self, model: EmbeddingModel, other: &[f32]) -> f32 {
        vision::similarity::similarity(model, vision::embed::cosine(other, &self.template))
    }
}

/// One frame, measured.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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
    let template =
        pipeline.embed(&[face]).map_err(MeasureError::Embedding)?.pop().ok_or(MeasureError::NoTemplate)?.vector;
    let passive = match passive {
        Some(model) => Some(model.score(img, &bbox).map_err(MeasureError::Passive)?.real),
        None => None,
    };
    let (w, h) = (img.width().max(1) as f32, img.height().max(1) as f32);
    let points = RIGID_POINTS.iter().filter_map(|&p| analysis.mesh.get(p)).map(|p| [p[0] / w, p[1] / h]).collect();
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
        }),
        content_hash,
    })
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

    /// The observation a session takes: the face compared with the baseline's template (`None` before there
    /// is a baseline), with the frame's place in the session and the server's clock.
    pub fn observation(&self, model: EmbeddingModel, baseline: Option<&[f32]>, frame: FrameStamp) -> Observation {
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
                similarity: baseline.map(|b| f.similarity_to(model, b)),
                passive: f.passive,
                points: f.points.clone(),
            }),
            seen_in: Vec::new(),
        }
    }
}
