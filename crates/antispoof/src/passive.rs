//! Passive liveness from one image: each MiniFASNet looks at the face with its own amount of context (the
//! detector box scaled 2.7x for V2, 4.0x for V1SE). Class 1 is "real"; 0 and 2 are attack types.
//!
//! The ensemble's score averages the networks' log-odds of "real" (a geometric mean of their odds) rather
//! than their probabilities: one network very sure of an attack is not outvoted by another mildly sure of
//! a live face. On the shared sets this separates better than the published sum of softmaxes (replay crops:
//! AUC 0.933 against 0.906; NUAA: 1.000 for both, with a wider margin); the published rule is still reported
//! as the models' own verdict.

use std::path::Path;
use std::sync::Arc;

use image::RgbImage;
use sha2::{Digest, Sha256};
use vision::runtime::{InferenceBackend, PreparedModel, TensorF32};
use vision::BBox;

use crate::error::AntispoofError;
use crate::minifasnet::{self, INPUT_SIDE};
use crate::pth;

/// One of the published checkpoints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpoofModelFile {
    pub file: &'static str,
    /// How much of the scene around the face box the network sees.
    pub scale: f32,
    pub sha256: &'static str,
    /// Where the file is published (for `facegate models fetch` on machines with internet).
    pub url: &'static str,
}

/// Where the official checkpoints are published: GitHub `minivision-ai/Silent-Face-Anti-Spoofing`, folder
/// `resources/anti_spoof_models/`. Each file's [`SpoofModelFile::url`] is this base followed by its name.
pub const OFFICIAL_SOURCE: &str =
    "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing/raw/master/resources/anti_spoof_models/";

pub const SPOOF_MODELS: [SpoofModelFile; 2] = [
    SpoofModelFile {
        file: "2.7_80x80_MiniFASNetV2.pth",
        scale: 2.7,
        sha256: "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0",
        url: "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing/raw/master/resources/anti_spoof_models/2.7_80x80_MiniFASNetV2.pth",
    },
    SpoofModelFile {
        file: "4_0_0_80x80_MiniFASNetV1SE.pth",
        scale: 4.0,
        sha256: "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990",
        url: "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing/raw/master/resources/anti_spoof_models/4_0_0_80x80_MiniFASNetV1SE.pth",
    },
];

/// The verdict on one face.
#[derive(Debug, Clone, PartialEq)]
pub struct PassiveScore {
    /// The ensemble's score that the face is real, 0..1: the sigmoid of the networks' mean log-odds.
    pub real: f32,
    /// Softmax of each network, in [`SPOOF_MODELS`] order: (attack 0, real, attack 2).
    pub per_model: Vec<[f32; 3]>,
    /// Whether "real" wins the summed softmaxes (the published decision rule).
    pub model_verdict_real: bool,
}

struct Net {
    spec: SpoofModelFile,
    model: Arc<dyn PreparedModel>,
}

/// Both networks, planned for their 80x80 input.
pub struct PassiveLiveness {
    nets: Vec<Net>,
}

impl std::fmt::Debug for PassiveLiveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassiveLiveness").field("models", &self.nets.len()).finish()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl PassiveLiveness {
    /// Loads both checkpoints from `dir` (checked against their published SHA-256), builds the networks and
    /// plans them on `backend`.
    pub fn load(dir: &Path, backend: &dyn InferenceBackend) -> Result<Self, AntispoofError> {
        let missing: Vec<&str> = SPOOF_MODELS.iter().filter(|m| !dir.join(m.file).is_file()).map(|m| m.file).collect();
        if !missing.is_empty() {
            return Err(AntispoofError::ModelUnavailable {
                missing: missing.join(" and "),
                dir: dir.display().to_string(),
            });
        }
        let mut nets = Vec::new();
        for spec in SPOOF_MODELS {
            let path = dir.join(spec.file);
            let bytes = std::fs::read(&path).map_err(|e| AntispoofError::Io(format!("{}: {e}", path.display())))?;
            let actual = sha256_hex(&bytes);
            if actual != spec.sha256 {
                return Err(AntispoofError::Checksum { file: spec.file.into(), expected: spec.sha256.into(), actual });
            }
            nets.push(Net { spec, model: Self::plan(spec.file, &bytes, backend)? });
        }
        Ok(PassiveLiveness { nets })
    }

    /// Builds one network from checkpoint bytes and plans it.
    fn plan(
        file: &str,
        bytes: &[u8],
        backend: &dyn InferenceBackend,
    ) -> Result<Arc<dyn PreparedModel>, AntispoofError> {
        let weights =
            pth::read_state_dict(bytes).map_err(|source| AntispoofError::Checkpoint { file: file.into(), source })?;
        let onnx = minifasnet::to_onnx(&weights)
            .map_err(|message| AntispoofError::Architecture { file: file.into(), message })?;
        let parsed = backend.parse(file, &onnx)?;
        Ok(parsed.prepare(&[1, 3, INPUT_SIDE, INPUT_SIDE])?)
    }

    /// The raw logits of network `index` for an 80x80 BGR input (planar, 0..255).
    pub fn logits(&self, index: usize, input_bgr_planar: Vec<f32>) -> Result<[f32; 3], AntispoofError> {
        let net = self.nets.get(index).ok_or_else(|| AntispoofError::Io(format!("no network {index}")))?;
        let out = net.model.run(TensorF32::new(vec![1, 3, INPUT_SIDE, INPUT_SIDE], input_bgr_planar))?;
        let logits = out.first().map(|t| t.data.as_slice()).unwrap_or_default();
        match logits {
            [a, b, c, ..] => Ok([*a, *b, *c]),
            _ => Err(AntispoofError::Io("the network gave fewer than 3 logits".into())),
        }
    }

    /// Scores the face in `bbox` of `img`.
    pub fn score(&self, img: &RgbImage, bbox: &BBox) -> Result<PassiveScore, AntispoofError> {
        let mut per_model = Vec::with_capacity(self.nets.len());
        for (i, net) in self.nets.iter().enumerate() {
            let crop = crop_for(img, bbox, net.spec.scale);
            per_model.push(softmax(self.logits(i, bgr_planar(&crop))?));
        }
        let n = per_model.len().max(1) as f32;
        let mut sum = [0f32; 3];
        for p in &per_model {
            for (s, v) in sum.iter_mut().zip(p) {
                *s += v;
            }
        }
        let model_verdict_real = sum[1] > sum[0] && sum[1] > sum[2];
        let log_odds = |p: f32| {
            let p = p.clamp(1e-7, 1.0 - 1e-7);
            (p / (1.0 - p)).ln()
        };
        let mean = per_model.iter().map(|p| log_odds(p[1])).sum::<f32>() / n;
        Ok(PassiveScore { real: 1.0 / (1.0 + (-mean).exp()), per_model, model_verdict_real })
    }
}

fn softmax(logits: [f32; 3]) -> [f32; 3] {
    let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e = logits.map(|l| (l - m).exp());
    let s: f32 = e.iter().sum();
    e.map(|v| v / s)
}

/// Planar BGR floats 0..255 of an RGB image.
pub fn bgr_planar(img: &RgbImage) -> Vec<f32> {
    let plane = (img.width() * img.height()) as usize;
    let mut out = vec![0f32; plane * 3];
    for (i, px) in img.pixels().enumerate() {
        out[i] = f32::from(px[2]);
        out[plane + i] = f32::from(px[1]);
        out[2 * plane + i] = f32::from(px[0]);
    }
    out
}

/// The network's view of a face: the box (whole pixels) scaled around its centre by `scale` (less when the
/// image is too small), shifted to stay inside the image, cut out and resized to 80x80 (as the published
/// code does).
pub fn crop_for(img: &RgbImage, bbox: &BBox, scale: f32) -> RgbImage {
    let (src_w, src_h) = (img.width() as f32, img.height() as f32);
    let (x, y) = (bbox.x.trunc(), bbox.y.trunc());
    let (w, h) = (bbox.width.trunc().max(1.0), bbox.height.trunc().max(1.0));
    let scale = scale.min((src_h - 1.0) / h).min((src_w - 1.0) / w).max(0.0);
    let (new_w, new_h) = (w * scale, h * scale);
    let (cx, cy) = (x + w / 2.0, y + h / 2.0);
    let (mut left, mut top) = (cx - new_w / 2.0, cy - new_h / 2.0);
    let (mut right, mut bottom) = (cx + new_w / 2.0, cy + new_h / 2.0);
    if left < 0.0 {
        right -= left;
        left = 0.0;
    }
    if top < 0.0 {
        bottom -= top;
        top = 0.0;
    }
    if right > src_w - 1.0 {
        left -= right - src_w + 1.0;
        right = src_w - 1.0;
    }
    if bottom > src_h - 1.0 {
        top -= bottom - src_h + 1.0;
        bottom = src_h - 1.0;
    }
    let clamp = |v: f32, max: f32| (v.max(0.0) as u32).min(max as u32);
    let (l, t) = (clamp(left, src_w - 1.0), clamp(top, src_h - 1.0));
    let (r, b) = (clamp(right, src_w - 1.0).max(l), clamp(bottom, src_h - 1.0).max(t));
    let cut = image::imageops::crop_imm(img, l, t, r - l + 1, b - t + 1).to_image();
    vision::image::resize_bilinear(&cut, INPUT_SIDE as u32, INPUT_SIDE as u32)
}
