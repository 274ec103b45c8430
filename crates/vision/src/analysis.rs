//! Face analysis beyond identity: a 468-point 3-D face mesh (MediaPipe) and the signals liveness challenges
//! are judged on — head pose, eye openness, mouth openness, the nose tip — plus expression scores (smile =
//! `happy`).
//!
//! Pose comes straight from the mesh's own 3-D points: the cheek-to-cheek line gives yaw (its depth) and
//! roll (its slope in the image), the forehead-to-chin line gives pitch (its depth). No camera model is
//! needed, and the angles are those of the face itself, whatever its position in the frame.

use image::{imageops, RgbImage};

use crate::align::{warp_affine, Affine};
use crate::detect::BBox;
use crate::error::{Result, VisionError};
use crate::models::LoadedModel;
use crate::runtime::{InferenceBackend, PreparedModel, TensorF32};

/// Side of the mesh network's input.
pub const MESH_SIDE: u32 = 192;
/// Side of the expression network's input.
pub const EMOTION_SIDE: u32 = 64;
/// The face box is enlarged this much (and made square) for the mesh.
pub const MESH_CROP_SCALE: f32 = 1.5;

/// Expression classes, in the network's order.
pub const EXPRESSIONS: [&str; 7] = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];

/// Mesh indices (MediaPipe's canonical face mesh).
pub mod points {
    pub const NOSE_TIP: usize = 1;
    pub const FOREHEAD: usize = 10;
    pub const CHIN: usize = 152;
    /// Cheeks at the face outline, image-left and image-right on a frontal face.
    pub const CHEEK_IMAGE_LEFT: usize = 234;
    pub const CHEEK_IMAGE_RIGHT: usize = 454;
    /// The subject's right eye (image-left on a frontal face): corners, then three upper/lower lid pairs.
    pub const RIGHT_EYE_CORNERS: (usize, usize) = (33, 133);
    pub const RIGHT_EYE_LIDS: [(usize, usize); 3] = [(160, 144), (159, 145), (158, 153)];
    pub const LEFT_EYE_CORNERS: (usize, usize) = (362, 263);
    pub const LEFT_EYE_LIDS: [(usize, usize); 3] = [(385, 380), (386, 374), (387, 373)];
    /// Inner lips (upper, lower) and mouth corners.
    pub const LIPS_INNER: (usize, usize) = (13, 14);
    pub const MOUTH_CORNERS: (usize, usize) = (61, 291);
}

/// Head pose in degrees. Yaw > 0: the face turns toward the image's right (the subject's left); pitch > 0:
/// the face looks up; roll > 0: the head tilts clockwise in the image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct HeadPose {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

/// Eye aspect ratios (lid gap over eye width; about 0.25-0.35 open, under 0.15 closed), per eye as the
/// subject sees them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Eyes {
    pub left: f32,
    pub right: f32,
}

/// What the analysis models say about one face.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceAnalysis {
    /// 468 points (x, y in image pixels; z relative depth in pixels, negative toward the camera).
    pub mesh: Vec<[f32; 3]>,
    /// The mesh network's confidence that the crop holds a face, 0..1.
    pub presence: f32,
    pub pose: HeadPose,
    pub eyes: Eyes,
    /// Inner-lip gap over mouth width (about 0 closed, 0.3+ wide open).
    pub mouth_open: f32,
    /// The nose tip in image pixels.
    pub nose_tip: [f32; 2],
    /// Expression probabilities in [`EXPRESSIONS`] order.
    pub expressions: [f32; 7],
}

impl FaceAnalysis {
    /// The probability of a smile (`happy`).
    pub fn smile(&self) -> f32 {
        self.expressions[3]
    }
}

/// The mesh and expression networks, planned for their fixed inputs.
pub struct FaceAnalyzer {
    mesh: std::sync::Arc<dyn PreparedModel>,
    emotion: std::sync::Arc<dyn PreparedModel>,
}

impl std::fmt::Debug for FaceAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceAnalyzer").finish_non_exhaustive()
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Pose from mesh points (see the module notes).
pub fn head_pose(mesh: &[[f32; 3]]) -> HeadPose {
    use points::*;
    let across = sub(mesh[CHEEK_IMAGE_RIGHT], mesh[CHEEK_IMAGE_LEFT]);
    let down = sub(mesh[CHIN], mesh[FOREHEAD]);
    let flat = |v: [f32; 3]| (v[0] * v[0] + v[1] * v[1]).sqrt();
    HeadPose {
        // Turning toward the image's right brings the image-left cheek forward (smaller z).
        yaw: across[2].atan2(flat(across)).to_degrees(),
        // Looking up brings the chin forward and the forehead back.
        pitch: (-down[2]).atan2(flat(down)).to_degrees(),
        roll: across[1].atan2(across[0]).to_degrees(),
    }
}

/// Lid gap over eye width, averaged over three lid pairs.
pub fn eye_aspect_ratio(mesh: &[[f32; 3]], corners: (usize, usize), lids: &[(usize, usize); 3]) -> f32 {
    let width = dist(mesh[corners.0], mesh[corners.1]).max(1e-3);
    lids.iter().map(|&(a, b)| dist(mesh[a], mesh[b])).sum::<f32>() / (3.0 * width)
}

impl FaceAnalyzer {
    pub fn new(backend: &dyn InferenceBackend, mesh: &LoadedModel, emotion: &LoadedModel) -> Result<Self> {
        let mesh =
            backend.parse(mesh.spec.id, &mesh.bytes)?.prepare(&[1, MESH_SIDE as usize, MESH_SIDE as usize, 3])?;
        let emotion = backend.parse(emotion.spec.id, &emotion.bytes)?.prepare(&[
            1,
            EMOTION_SIDE as usize,
            EMOTION_SIDE as usize,
            1,
        ])?;
        Ok(Self { mesh, emotion })
    }

    /// The mesh network on a 192x192 RGB crop: points in crop pixels and the presence logit.
    pub fn mesh_of_crop(&self, crop: &RgbImage) -> Result<(Vec<[f32; 3]>, f32)> {
        if crop.dimensions() != (MESH_SIDE, MESH_SIDE) {
            return Err(VisionError::Config(format!("the mesh takes {MESH_SIDE}x{MESH_SIDE} crops")));
        }
        let data: Vec<f32> = crop.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        let out = self.mesh.run(TensorF32::new(vec![1, MESH_SIDE as usize, MESH_SIDE as usize, 3], data))?;
        let bad = |m: &str| VisionError::ModelOutput { name: "face_mesh".into(), message: m.into() };
        let points = out.iter().find(|t| t.data.len() == 468 * 3).ok_or_else(|| bad("no 1404-value output"))?;
        let presence = out.iter().find(|t| t.data.len() == 1).ok_or_else(|| bad("no presence output"))?;
        Ok((points.data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(), presence.data[0]))
    }

    /// Expression probabilities from a 64x64 greyscale crop (0..255 as luma).
    pub fn expressions_of_crop(&self, grey: &image::GrayImage) -> Result<[f32; 7]> {
        if grey.dimensions() != (EMOTION_SIDE, EMOTION_SIDE) {
            return Err(VisionError::Config(format!(
                "the expression network takes {EMOTION_SIDE}x{EMOTION_SIDE} crops"
            )));
        }
        let data: Vec<f32> = grey.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        let out = self.emotion.run(TensorF32::new(vec![1, EMOTION_SIDE as usize, EMOTION_SIDE as usize, 1], data))?;
        let scores = out.first().map(|t| t.data.as_slice()).unwrap_or_default();
        let mut e = [0f32; 7];
        if scores.len() != 7 {
            return Err(VisionError::ModelOutput {
                name: "emotion".into(),
                message: format!("{} scores", scores.len()),
            });
        }
        e.copy_from_slice(scores);
        Ok(e)
    }

    /// The mesh of the face in `crop_transform`'s view, in image coordinates, and the presence logit.
    fn mesh_in_image(&self, img: &RgbImage, to_crop: &Affine) -> Result<(Vec<[f32; 3]>, f32)> {
        let crop = warp_affine(img, to_crop, MESH_SIDE, MESH_SIDE);
        let (points, presence_logit) = self.mesh_of_crop(&crop)?;
        let back = to_crop.inverse().ok_or_else(|| VisionError::Config("degenerate face box".into()))?;
        let scale = to_crop.scale().max(1e-6);
        let mesh = points
            .iter()
            .map(|p| {
                let q = back.apply(crate::detect::Point { x: p[0], y: p[1] });
                [q.x, q.y, p[2] / scale]
            })
            .collect();
        Ok((mesh, presence_logit))
    }

    /// Analyses the face in `bbox`. The mesh runs twice, as MediaPipe tracks: first on the detector's box,
    /// then on a square around those landmarks turned upright by their roll — so a tilted head (which the
    /// detector boxes loosely) is meshed upright.
    pub fn analyze(&self, img: &RgbImage, bbox: &BBox) -> Result<FaceAnalysis> {
        let (first, _) = self.mesh_in_image(img, &box_view(bbox))?;
        let (mesh, presence_logit) = self.mesh_in_image(img, &upright_view(&first))?;
        let expressions = self.expressions_of_crop(&emotion_crop(img, bbox))?;
        use points::*;
        let eyes = Eyes {
            left: eye_aspect_ratio(&mesh, LEFT_EYE_CORNERS, &LEFT_EYE_LIDS),
            right: eye_aspect_ratio(&mesh, RIGHT_EYE_CORNERS, &RIGHT_EYE_LIDS),
        };
        let mouth_open =
            dist(mesh[LIPS_INNER.0], mesh[LIPS_INNER.1]) / dist(mesh[MOUTH_CORNERS.0], mesh[MOUTH_CORNERS.1]).max(1e-3);
        Ok(FaceAnalysis {
            pose: head_pose(&mesh),
            eyes,
            mouth_open,
            nose_tip: [mesh[NOSE_TIP][0], mesh[NOSE_TIP][1]],
            presence: sigmoid(presence_logit),
            expressions,
            mesh,
        })
    }
}

/// A square view around mesh points, rotated so that their eye line is level, scaled to the mesh input.
fn upright_view(mesh: &[[f32; 3]]) -> Affine {
    let (a, b) = (mesh[points::RIGHT_EYE_CORNERS.0], mesh[points::LEFT_EYE_CORNERS.1]);
    let angle = (b[1] - a[1]).atan2(b[0] - a[0]);
    let (sin, cos) = angle.sin_cos();
    // The points' extent in the rotated frame.
    let rotated = |p: &[f32; 3]| (cos * p[0] + sin * p[1], -sin * p[0] + cos * p[1]);
    let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
    for p in mesh {
        let (u, v) = rotated(p);
        lo = (lo.0.min(u), lo.1.min(v));
        hi = (hi.0.max(u), hi.1.max(v));
    }
    let side = (hi.0 - lo.0).max(hi.1 - lo.1).max(1.0) * MESH_CROP_SCALE;
    let (cu, cv) = ((lo.0 + hi.0) / 2.0, (lo.1 + hi.1) / 2.0);
    let k = MESH_SIDE as f32 / side;
    let half = MESH_SIDE as f32 / 2.0;
    // crop = k * (rotated(p) - centre) + half
    Affine { m: [[k * cos, k * sin, half - k * cu], [-k * sin, k * cos, half - k * cv]] }
}

/// The mesh network's view: the face box made square (its long side x1.5) around its centre, resized to
/// 192x192 (black beyond the image); and the transform from image to crop pixels.
pub fn mesh_crop(img: &RgbImage, bbox: &BBox) -> (RgbImage, Affine) {
    let t = box_view(bbox);
    (warp_affine(img, &t, MESH_SIDE, MESH_SIDE), t)
}

fn box_view(bbox: &BBox) -> Affine {
    let side = bbox.width.max(bbox.height).max(1.0) * MESH_CROP_SCALE;
    let (cx, cy) = (bbox.x + bbox.width / 2.0, bbox.y + bbox.height / 2.0);
    let k = MESH_SIDE as f32 / side;
    let (left, top) = (cx - side / 2.0, cy - side / 2.0);
    Affine { m: [[k, 0.0, -k * left], [0.0, k, -k * top]] }
}

/// The expression network's view: the face box, greyscale (ITU-R BT.601 luma), resized to 64x64.
pub fn emotion_crop(img: &RgbImage, bbox: &BBox) -> image::GrayImage {
    let (w, h) = (img.width(), img.height());
    let x0 = (bbox.x.max(0.0) as u32).min(w.saturating_sub(1));
    let y0 = (bbox.y.max(0.0) as u32).min(h.saturating_sub(1));
    let x1 = ((bbox.x + bbox.width).ceil().max(0.0) as u32).clamp(x0 + 1, w.max(x0 + 1));
    let y1 = ((bbox.y + bbox.height).ceil().max(0.0) as u32).clamp(y0 + 1, h.max(y0 + 1));
    let cut = imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
    let resized = crate::image::resize_bilinear(&cut, EMOTION_SIDE, EMOTION_SIDE);
    image::GrayImage::from_fn(EMOTION_SIDE, EMOTION_SIDE, |x, y| {
        let p = resized.get_pixel(x, y);
        let luma = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
        image::Luma([luma.round().clamp(0.0, 255.0) as u8])
    })
}
