//! Face detection with YuNet: boxes, five landmarks and a score for every face, in original-image
//! coordinates, at any image size.
//!
//! The image is scaled so that its long side is at most [`DetectorConfig::max_side`], padded at the right and
//! bottom to a multiple of 32 (the network is fully convolutional), and the three strides' outputs are decoded
//! around their grid points, filtered by score and merged by non-maximum suppression.

use std::sync::Arc;

use ::image::RgbImage;
use serde::Serialize;

use crate::error::{Result, VisionError};
use crate::models::LoadedModel;
use crate::runtime::{InferenceBackend, PlanCache, TensorF32};

/// A point in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// An axis-aligned box in image pixels (top-left corner, width, height).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct BBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

impl BBox {
    pub fn area(&self) -> f32 {
        self.width.max(0.0) * self.height.max(0.0)
    }

    pub fn iou(&self, other: &BBox) -> f32 {
        let x1 = self.x.max(other.x);
        let y1 = self.y.max(other.y);
        let x2 = (self.x + self.width).min(other.x + other.width);
        let y2 = (self.y + self.height).min(other.y + other.height);
        let inter = (x2 - x1).max(0.0) * (y2 - y1).max(0.0);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    pub fn center(&self) -> Point {
        Point { x: self.x + self.width / 2.0, y: self.y + self.height / 2.0 }
    }
}

/// The five landmarks, in YuNet's order: right eye, left eye (as seen in the image: smaller x first), nose
/// tip, right mouth corner, left mouth corner.
pub type Landmarks5 = [Point; 5];

/// One detected face.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Detection {
    pub bbox: BBox,
    pub landmarks: Landmarks5,
    pub score: f32,
}

/// Detector settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Faces scoring below this are dropped.
    pub score_threshold: f32,
    /// Boxes overlapping a better one by more than this IoU are dropped.
    pub nms_threshold: f32,
    /// The image is scaled down so that its long side is at most this many pixels.
    pub max_side: u32,
    /// Where only the largest face matters, a first pass runs with the long side at most this many pixels
    /// (see [`crate::pipeline::Wanted::Largest`]); 0 turns the coarse pass off.
    pub coarse_side: u32,
    /// Candidates kept before NMS.
    pub top_k: usize,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self { score_threshold: 0.6, nms_threshold: 0.3, max_side: 640, coarse_side: 320, top_k: 5000 }
    }
}

const STRIDES: [usize; 3] = [8, 16, 32];
/// How many input shapes stay planned at once.
const PLAN_CACHE_SHAPES: usize = 24;

pub struct FaceDetector {
    plans: PlanCache,
    config: DetectorConfig,
}

struct Candidate {
    bbox: BBox,
    landmarks: Landmarks5,
    score: f32,
}

impl FaceDetector {
    pub fn new(backend: &dyn InferenceBackend, model: &LoadedModel, config: DetectorConfig) -> Result<Self> {
        if !(0.0..=1.0).contains(&config.score_threshold) || !(0.0..=1.0).contains(&config.nms_threshold) {
            return Err(VisionError::Config("detector thresholds must lie in [0, 1]".into()));
        }
        if config.max_side < 32 {
            return Err(VisionError::Config("detector max side must be at least 32 pixels".into()));
        }
        let parsed = backend.parse(model.spec.id, &model.bytes)?;
        Ok(Self { plans: PlanCache::new(parsed, PLAN_CACHE_SHAPES), config })
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    /// Detects faces with the configured maximum side.
    pub fn detect(&self, img: &RgbImage) -> Result<Vec<Detection>> {
        self.detect_with_max_side(img, self.config.max_side)
    }

    /// Detects faces, scaling the image so that its long side is at most `max_side` (a larger value finds
    /// smaller faces, such as the portrait on an identity document, at a higher cost).
    pub fn detect_with_max_side(&self, img: &RgbImage, max_side: u32) -> Result<Vec<Detection>> {
        let (tensor, scale) = input_tensor(img, max_side)?;
        let (ph, pw) = (tensor.shape[2], tensor.shape[3]);
        let plan = self.plans.get(&tensor.shape)?;
        let outputs = plan.run(tensor)?;
        let names = plan.output_names();
        let find = |name: &str| -> Result<&TensorF32> {
            names.iter().position(|n| n == name).and_then(|i| outputs.get(i)).ok_or_else(|| VisionError::ModelOutput {
                name: "yunet".into(),
                message: format!("missing output {name}"),
            })
        };

        let mut candidates = Vec::new();
        for stride in STRIDES {
            let cols = pw / stride;
            let rows = ph / stride;
            let cells = rows * cols;
            let cls = find(&format!("cls_{stride}"))?;
            let obj = find(&format!("obj_{stride}"))?;
            let bbox = find(&format!("bbox_{stride}"))?;
            let kps = find(&format!("kps_{stride}"))?;
            if cls.data.len() < cells
                || obj.data.len() < cells
                || bbox.data.len() < cells * 4
                || kps.data.len() < cells * 10
            {
                return Err(VisionError::ModelOutput {
                    name: "yunet".into(),
                    message: format!("stride {stride}: outputs smaller than the {rows}x{cols} grid"),
                });
            }
            let s = stride as f32;
            for r in 0..rows {
                for c in 0..cols {
                    let i = r * cols + c;
                    let score = (cls.data[i].clamp(0.0, 1.0) * obj.data[i].clamp(0.0, 1.0)).sqrt();
                    if score < self.config.score_threshold {
                        continue;
                    }
                    let b = &bbox.data[i * 4..i * 4 + 4];
                    let cx = (c as f32 + b[0]) * s;
                    let cy = (r as f32 + b[1]) * s;
                    let bw = b[2].exp() * s;
                    let bh = b[3].exp() * s;
                    let k = &kps.data[i * 10..i * 10 + 10];
                    let mut landmarks = [Point::default(); 5];
                    for (n, p) in landmarks.iter_mut().enumerate() {
                        p.x = (k[2 * n] + c as f32) * s / scale;
                        p.y = (k[2 * n + 1] + r as f32) * s / scale;
                    }
                    candidates.push(Candidate {
                        bbox: BBox {
                            x: (cx - bw / 2.0) / scale,
                            y: (cy - bh / 2.0) / scale,
                            width: bw / scale,
                            height: bh / scale,
                        },
                        landmarks,
                        score,
                    });
                }
            }
        }
        Ok(non_max_suppression(candidates, self.config.nms_threshold, self.config.top_k))
    }

    /// Runs the detector once on `img` at `max_side`, timing each kind of operator (where the engine can).
    pub fn profile(&self, img: &RgbImage, max_side: u32) -> Result<Option<Vec<crate::runtime::OperatorTime>>> {
        let (tensor, _) = input_tensor(img, max_side)?;
        self.plans.get(&tensor.shape)?.profile(tensor)
    }

    /// How many input shapes are planned now (each new image size plans once).
    pub fn planned_shapes(&self) -> usize {
        self.plans.len()
    }
}

fn non_max_suppression(mut candidates: Vec<Candidate>, iou_threshold: f32, top_k: usize) -> Vec<Detection> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    candidates.truncate(top_k);
    let mut kept: Vec<Detection> = Vec::new();
    for c in candidates {
        if kept.iter().all(|k| k.bbox.iou(&c.bbox) <= iou_threshold) {
            kept.push(Detection { bbox: c.bbox, landmarks: c.landmarks, score: c.score });
        }
    }
    kept
}

/// The detector's input for `img` scaled to at most `max_side` (and padded to multiples of 32), with the scale.
fn input_tensor(img: &RgbImage, max_side: u32) -> Result<(TensorF32, f32)> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        return Err(VisionError::ImageTooSmall { width: w, height: h, min: 1 });
    }
    let long = w.max(h).max(1);
    let scale = if long > max_side.max(32) { max_side.max(32) as f32 / long as f32 } else { 1.0 };
    let resized;
    let input_img = if scale < 1.0 {
        let nw = ((w as f32 * scale).round() as u32).max(1);
        let nh = ((h as f32 * scale).round() as u32).max(1);
        resized = crate::image::resize_bilinear(img, nw, nh);
        &resized
    } else {
        img
    };
    let (iw, ih) = input_img.dimensions();
    let pw = (iw as usize).div_ceil(32) * 32;
    let ph = (ih as usize).div_ceil(32) * 32;
    Ok((bgr_planar_padded(input_img, pw, ph), scale))
}

/// NCHW float32 BGR 0..255, zero-padded to `pw` x `ph`.
fn bgr_planar_padded(img: &RgbImage, pw: usize, ph: usize) -> TensorF32 {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let plane = pw * ph;
    let mut data = vec![0f32; 3 * plane];
    let raw = img.as_raw();
    for y in 0..h {
        let row = &raw[y * w * 3..(y + 1) * w * 3];
        for x in 0..w {
            let px = &row[x * 3..x * 3 + 3];
            let o = y * pw + x;
            data[o] = f32::from(px[2]);
            data[plane + o] = f32::from(px[1]);
            data[2 * plane + o] = f32::from(px[0]);
        }
    }
    TensorF32::new(vec![1, 3, ph, pw], data)
}

// The detector is shared by all requests.
const _: fn() = || {
    fn is<T: Send + Sync>() {}
    is::<Arc<FaceDetector>>();
};
