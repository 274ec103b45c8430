//! Face analysis beyond identity: a 468-point 3-D face mesh (MediaPipe) and the signals liveness challenges
//! are judged on — head pose, eye openness, mouth openness, the nose tip — plus expression scores (smile =
//! `happy`).
//!
//! Pose comes straight from the mesh's own 3-D points: the cheek-to-cheek line gives yaw (its depth) and
//! roll (its slope in the image), the forehead-to-chin line gives pitch (its depth). No camera model is
//! needed, and the angles are those of the face itself, whatever its position in the frame.

use image::{imageops, RgbImage};

use crate::align::{square_view, warp_affine, Affine};
use crate::detect::BBox;
use crate::error::{Result, VisionError};
use crate::models::LoadedModel;
use crate::runtime::{InferenceBackend, PreparedModel, TensorF32};

/// Side of the mesh network's input.
pub const MESH_SIDE: u32 = 192;
/// Side of the expression network's input.
pub const EMOTION_SIDE: u32 = 64;
/// The face box is enlarged this much for the expression network: YuNet's box is tight on the chin and brow,
/// and `happy` separates GENKI's smiles better with the margin (accuracy 81.5 % at 1.0, 84.6 % at 1.3).
pub const EMOTION_CROP_SCALE: f32 = 1.3;
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

/// Eye openness per eye as the subject sees them: the eyelids' opening over the eye's width, measured on the
/// attention mesh's refined eye contours in the eye line's frame (about 0.2-0.35 open, under 0.15 closed).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Eyes {
    pub left: f32,
    pub right: f32,
}

/// Below this mean openness both eyes read closed. Chosen on the shared Yale set (`facegate eval blink`):
/// closed eyes measure at most 0.138 there, open ones at least 0.186.
pub const EYES_CLOSED_THRESHOLD: f32 = 0.17;

/// From this inner-lip gap over mouth width on the mouth reads open (closed lips measure about 0; set a priori,
/// measured by `facegate eval expressions` on Yale's surprised and neutral faces).
pub const MOUTH_OPEN_THRESHOLD: f32 = 0.1;

impl Eyes {
    pub fn mean(&self) -> f32 {
        (self.left + self.right) / 2.0
    }

    /// Both eyes closed: the mean openness under `threshold`.
    pub fn closed(&self, threshold: f32) -> bool {
        self.mean() < threshold
    }
}

/// The refined eyelid contours (16 points each: lower lid corner to corner, then the upper lid), in image
/// pixels, per eye as the subject sees them.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct EyeContours {
    pub left: Vec<[f32; 2]>,
    pub right: Vec<[f32; 2]>,
}

/// The iris centres in image pixels, per eye as the subject sees them: the mean of the attention mesh's five
/// iris points (its centre and four around it).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Irises {
    pub left: [f32; 2],
    pub right: [f32; 2],
}

/// Points of each of the two eyes (crop pixels), in the order of the attention mesh's outputs.
pub type EyePoints = [Vec<[f32; 2]>; 2];

/// The mouth-geometry and expression cues the smile score combines, all scale-free.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmileCues {
    /// Log-odds of the expression network's `happy`.
    pub happy_log_odds: f32,
    /// Mouth-corner distance over the outer-eye-corner distance.
    pub mouth_width: f32,
    /// How far the mouth corners sit above the lips' centre, over the eye distance (in the eye line's frame).
    pub corner_lift: f32,
    /// Inner-lip gap over mouth width.
    pub mouth_open: f32,
}

/// Logistic weights over [`SmileCues`] (intercept, happy log-odds, mouth width, corner lift, mouth open),
/// fitted on the shared GENKI set by `scripts/fit_smile.py` from `facegate eval smile --cues` output
/// (5-fold cross-validated accuracy 90.6 %; `happy` alone 84.6 %).
pub const SMILE_WEIGHTS: [f32; 5] = [-12.47, 0.474, 20.2, 26.65, 5.313];

/// A smile at or above this probability counts.
pub const SMILE_THRESHOLD: f32 = 0.5;

impl SmileCues {
    /// The probability of a smile.
    pub fn probability(&self) -> f32 {
        let w = SMILE_WEIGHTS;
        sigmoid(
            w[0] + w[1] * self.happy_log_odds
                + w[2] * self.mouth_width
                + w[3] * self.corner_lift
                + w[4] * self.mouth_open,
        )
    }
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
    pub eye_contours: EyeContours,
    pub irises: Irises,
    /// Inner-lip gap over mouth width (about 0 closed, 0.3+ wide open).
    pub mouth_open: f32,
    /// The nose tip in image pixels.
    pub nose_tip: [f32; 2],
    /// Expression probabilities in [`EXPRESSIONS`] order.
    pub expressions: [f32; 7],
    pub smile_cues: SmileCues,
    /// The probability of a smile, from [`SmileCues`].
    pub smile: f32,
}

/// The mesh, attention-mesh and expression networks, planned for their fixed inputs.
pub struct FaceAnalyzer {
    mesh: std::sync::Arc<dyn PreparedModel>,
    attention: std::sync::Arc<dyn PreparedModel>,
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

fn log_odds(p: f32) -> f32 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
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

/// Lid gap over eye width on the 468-point mesh, averaged over three lid pairs (coarser than
/// [`eye_openness`]: the plain mesh barely closes its lids).
pub fn eye_aspect_ratio(mesh: &[[f32; 3]], corners: (usize, usize), lids: &[(usize, usize); 3]) -> f32 {
    let width = dist(mesh[corners.0], mesh[corners.1]).max(1e-3);
    lids.iter().map(|&(a, b)| dist(mesh[a], mesh[b])).sum::<f32>() / (3.0 * width)
}

/// Points of an eye contour that outline the eyelids.
pub const EYELID_POINTS: usize = 16;

/// The eyelids' opening over the eye's width: the contour's extent across and along the line through its
/// corners (points 0 and 8).
pub fn eye_openness(eyelids: &[[f32; 2]]) -> f32 {
    if eyelids.len() < 9 {
        return 0.0;
    }
    let (a, b) = (eyelids[0], eyelids[8]);
    let angle = (b[1] - a[1]).atan2(b[0] - a[0]);
    let (sin, cos) = angle.sin_cos();
    let (mut lo, mut hi) = ((f32::MAX, f32::MAX), (f32::MIN, f32::MIN));
    for p in eyelids {
        let (u, v) = (cos * p[0] + sin * p[1], -sin * p[0] + cos * p[1]);
        lo = (lo.0.min(u), lo.1.min(v));
        hi = (hi.0.max(u), hi.1.max(v));
    }
    (hi.1 - lo.1) / (hi.0 - lo.0).max(1e-3)
}

/// The smile cues of a mesh (image pixels) and its expression scores.
pub fn smile_cues(mesh: &[[f32; 3]], expressions: &[f32; 7]) -> SmileCues {
    use points::*;
    let (a, b) = (mesh[RIGHT_EYE_CORNERS.0], mesh[LEFT_EYE_CORNERS.1]);
    let eye_distance = dist(a, b).max(1e-3);
    let angle = (b[1] - a[1]).atan2(b[0] - a[0]);
    let (sin, cos) = angle.sin_cos();
    // Vertical position in the eye line's frame (down is positive).
    let v = |p: [f32; 3]| -sin * p[0] + cos * p[1];
    let mouth_width = dist(mesh[MOUTH_CORNERS.0], mesh[MOUTH_CORNERS.1]);
    let lips = (v(mesh[LIPS_INNER.0]) + v(mesh[LIPS_INNER.1])) / 2.0;
    let corners = (v(mesh[MOUTH_CORNERS.0]) + v(mesh[MOUTH_CORNERS.1])) / 2.0;
    SmileCues {
        happy_log_odds: log_odds(expressions[3]),
        mouth_width: mouth_width / eye_distance,
        corner_lift: (lips - corners) / eye_distance,
        mouth_open: dist(mesh[LIPS_INNER.0], mesh[LIPS_INNER.1]) / mouth_width.max(1e-3),
    }
}

/// The mesh on the face's upright crop, in image coordinates, with the view and crop it ran on.
struct Upright {
    view: Affine,
    crop: RgbImage,
    mesh: Vec<[f32; 3]>,
    presence_logit: f32,
}

fn to_image(back: &Affine, x: f32, y: f32) -> [f32; 2] {
    let q = back.apply(crate::detect::Point { x, y });
    [q.x, q.y]
}

impl FaceAnalyzer {
    pub fn new(
        backend: &dyn InferenceBackend,
        mesh: &LoadedModel,
        attention: &LoadedModel,
        emotion: &LoadedModel,
    ) -> Result<Self> {
        let mesh_shape = [1, MESH_SIDE as usize, MESH_SIDE as usize, 3];
        let attention = backend.parse(attention.spec.id, &attention.bytes)?.prepare(&mesh_shape)?;
        let mesh = backend.parse(mesh.spec.id, &mesh.bytes)?.prepare(&mesh_shape)?;
        let emotion = backend.parse(emotion.spec.id, &emotion.bytes)?.prepare(&[
            1,
            EMOTION_SIDE as usize,
            EMOTION_SIDE as usize,
            1,
        ])?;
        Ok(Self { mesh, attention, emotion })
    }

    fn crop_tensor(crop: &RgbImage) -> Result<TensorF32> {
        if crop.dimensions() != (MESH_SIDE, MESH_SIDE) {
            return Err(VisionError::Config(format!("the mesh takes {MESH_SIDE}x{MESH_SIDE} crops")));
        }
        let data: Vec<f32> = crop.as_raw().iter().map(|&v| f32::from(v) / 255.0).collect();
        Ok(TensorF32::new(vec![1, MESH_SIDE as usize, MESH_SIDE as usize, 3], data))
    }

    /// The mesh network on a 192x192 RGB crop: points in crop pixels and the presence logit.
    pub fn mesh_of_crop(&self, crop: &RgbImage) -> Result<(Vec<[f32; 3]>, f32)> {
        let out = self.mesh.run(Self::crop_tensor(crop)?)?;
        let bad = |m: &str| VisionError::ModelOutput { name: "face_mesh".into(), message: m.into() };
        let points = out.iter().find(|t| t.data.len() == 468 * 3).ok_or_else(|| bad("no 1404-value output"))?;
        let presence = out.iter().find(|t| t.data.len() == 1).ok_or_else(|| bad("no presence output"))?;
        Ok((points.data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(), presence.data[0]))
    }

    /// The attention mesh's two 71-point eye contours on a 192x192 RGB crop, in crop pixels, in the order
    /// of its outputs.
    pub fn eye_contours_of_crop(&self, crop: &RgbImage) -> Result<[Vec<[f32; 2]>; 2]> {
        Ok(self.attention_of_crop(crop)?.0)
    }

    /// The attention mesh on a 192x192 RGB crop, in crop pixels: its two 71-point eye contours
    /// (`Identity_1:0`, `Identity_5:0`) and its two 5-point irises (`Identity_2:0`, `Identity_6:0`), each
    /// pair in the order of its outputs.
    pub fn attention_of_crop(&self, crop: &RgbImage) -> Result<(EyePoints, EyePoints)> {
        let out = self.attention.run(Self::crop_tensor(crop)?)?;
        let names = self.attention.output_names();
        let points = |name: &str, values: usize| -> Result<Vec<[f32; 2]>> {
            let t = names.iter().position(|n| n == name).and_then(|i| out.get(i)).filter(|t| t.data.len() == values);
            let t = t.ok_or_else(|| VisionError::ModelOutput {
                name: "face_mesh_attention".into(),
                message: format!("no {values}-value output {name}"),
            })?;
            Ok(t.data.chunks_exact(2).map(|c| [c[0], c[1]]).collect())
        };
        Ok((
            [points("Identity_1:0", 142)?, points("Identity_5:0", 142)?],
            [points("Identity_2:0", 10)?, points("Identity_6:0", 10)?],
        ))
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

    /// The mesh of `crop` (taken by `to_crop`) in image coordinates, and the presence logit.
    fn mesh_in_image(&self, crop: &RgbImage, to_crop: &Affine) -> Result<(Vec<[f32; 3]>, f32)> {
        let (points, presence_logit) = self.mesh_of_crop(crop)?;
        let back = to_crop.inverse().ok_or_else(|| VisionError::Config("degenerate face box".into()))?;
        let scale = to_crop.scale().max(1e-6);
        let mesh = points
            .iter()
            .map(|p| {
                let [x, y] = to_image(&back, p[0], p[1]);
                [x, y, p[2] / scale]
            })
            .collect();
        Ok((mesh, presence_logit))
    }

    /// The mesh of the face in `bbox`, run twice as [`FaceAnalyzer::analyze`] says.
    fn upright_mesh(&self, img: &RgbImage, bbox: &BBox) -> Result<Upright> {
        let first_view = box_view(bbox);
        let (first, _) = self.mesh_in_image(&warp_affine(img, &first_view, MESH_SIDE, MESH_SIDE), &first_view)?;
        let view = upright_view(&first);
        let crop = warp_affine(img, &view, MESH_SIDE, MESH_SIDE);
        let (mesh, presence_logit) = self.mesh_in_image(&crop, &view)?;
        Ok(Upright { view, crop, mesh, presence_logit })
    }

    /// The head pose of the face in `bbox` alone: the mesh as [`FaceAnalyzer::analyze`] runs it, without the
    /// attention mesh and the expression network (the same pose as the whole analysis gives).
    pub fn head_pose(&self, img: &RgbImage, bbox: &BBox) -> Result<HeadPose> {
        Ok(head_pose(&self.upright_mesh(img, bbox)?.mesh))
    }

    /// Analyses the face in `bbox`. The mesh runs twice, as MediaPipe tracks: first on the detector's box,
    /// then on a square around those landmarks turned upright by their roll — so a tilted head (which the
    /// detector boxes loosely) is meshed upright; the attention mesh reads the eyelids on that upright crop.
    pub fn analyze(&self, img: &RgbImage, bbox: &BBox) -> Result<FaceAnalysis> {
        let Upright { view, crop, mesh, presence_logit } = self.upright_mesh(img, bbox)?;
        let back = view.inverse().ok_or_else(|| VisionError::Config("degenerate face box".into()))?;
        let ([a, b], [iris_a, iris_b]) = self.attention_of_crop(&crop)?;
        let lids = |c: &[[f32; 2]]| -> Vec<[f32; 2]> {
            c.iter().take(EYELID_POINTS).map(|p| to_image(&back, p[0], p[1])).collect()
        };
        let (a, b) = (lids(&a), lids(&b));
        let (iris_a, iris_b) = (centre(&iris_a, &back), centre(&iris_b, &back));
        // Each iris belongs to the eyelid contour it lies nearer to.
        let gap = |iris: [f32; 2], lids: &[[f32; 2]]| {
            let c = mean_point(lids);
            (iris[0] - c[0]).powi(2) + (iris[1] - c[1]).powi(2)
        };
        let (iris_a, iris_b) = if gap(iris_a, &a) + gap(iris_b, &b) <= gap(iris_b, &a) + gap(iris_a, &b) {
            (iris_a, iris_b)
        } else {
            (iris_b, iris_a)
        };
        // Which contour is which eye: the one nearer the mesh's right-eye corner is the subject's right.
        use points::*;
        let near = |c: &[[f32; 2]], i: usize| {
            c.first().map_or(f32::MAX, |p| (p[0] - mesh[i][0]).powi(2) + (p[1] - mesh[i][1]).powi(2))
        };
        let ((right, right_iris), (left, left_iris)) = if near(&a, RIGHT_EYE_CORNERS.0) + near(&b, LEFT_EYE_CORNERS.1)
            <= near(&b, RIGHT_EYE_CORNERS.0) + near(&a, LEFT_EYE_CORNERS.1)
        {
            ((a, iris_a), (b, iris_b))
        } else {
            ((b, iris_b), (a, iris_a))
        };
        let eyes = Eyes { left: eye_openness(&left), right: eye_openness(&right) };
        let expressions = self.expressions_of_crop(&emotion_crop(img, bbox))?;
        let smile_cues = smile_cues(&mesh, &expressions);
        Ok(FaceAnalysis {
            pose: head_pose(&mesh),
            eyes,
            eye_contours: EyeContours { left, right },
            irises: Irises { left: left_iris, right: right_iris },
            mouth_open: smile_cues.mouth_open,
            nose_tip: [mesh[NOSE_TIP][0], mesh[NOSE_TIP][1]],
            presence: sigmoid(presence_logit),
            expressions,
            smile: smile_cues.probability(),
            smile_cues,
            mesh,
        })
    }
}

/// The mean of points.
fn mean_point(points: &[[f32; 2]]) -> [f32; 2] {
    let n = points.len().max(1) as f32;
    let (x, y) = points.iter().fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
    [x / n, y / n]
}

/// The centre of crop points, in image pixels.
fn centre(points: &[[f32; 2]], back: &Affine) -> [f32; 2] {
    let [x, y] = mean_point(points);
    to_image(back, x, y)
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

/// The mesh network's first view: the face box made square (its long side x1.5) around its centre, scaled to
/// 192x192 (black beyond the image).
fn box_view(bbox: &BBox) -> Affine {
    square_view(bbox, MESH_CROP_SCALE, MESH_SIDE)
}

/// The expression network's view: the face box enlarged by [`EMOTION_CROP_SCALE`] (cut at the image's edges),
/// greyscale (ITU-R BT.601 luma), resized to 64x64.
pub fn emotion_crop(img: &RgbImage, bbox: &BBox) -> image::GrayImage {
    let k = EMOTION_CROP_SCALE;
    let bbox = &BBox {
        x: bbox.x - bbox.width * (k - 1.0) / 2.0,
        y: bbox.y - bbox.height * (k - 1.0) / 2.0,
        width: bbox.width * k,
        height: bbox.height * k,
    };
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
