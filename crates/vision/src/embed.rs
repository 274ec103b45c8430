//! Face embeddings: an aligned 112x112 face in, an L2-normalised template out.
//!
//! SFace (128-d, the default) takes NCHW RGB 0..255; MobileFaceNet (192-d) takes NHWC RGB scaled to
//! (x - 127.5) / 128 with a batch fixed at two, which we fill with the face and its mirror image and sum:
//! the mirrored template is free and a little more accurate.

use ::image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::align::ALIGNED_SIZE;
use crate::error::{Result, VisionError};
use crate::models::{LoadedModel, ModelSpec, MOBILEFACENET, SFACE};
use crate::runtime::{InferenceBackend, PlanCache, TensorF32};

/// Which embedding network to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingModel {
    #[default]
    Sface,
    Mobilefacenet,
}

impl EmbeddingModel {
    pub fn spec(self) -> ModelSpec {
        match self {
            EmbeddingModel::Sface => SFACE,
            EmbeddingModel::Mobilefacenet => MOBILEFACENET,
        }
    }

    pub fn dimension(self) -> usize {
        match self {
            EmbeddingModel::Sface => 128,
            EmbeddingModel::Mobilefacenet => 192,
        }
    }

    pub fn id(self) -> &'static str {
        self.spec().id
    }
}

impl std::str::FromStr for EmbeddingModel {
    type Err = VisionError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sface" => Ok(Self::Sface),
            "mobilefacenet" => Ok(Self::Mobilefacenet),
            other => Err(VisionError::Config(format!("unknown embedding model '{other}' (sface, mobilefacenet)"))),
        }
    }
}

impl std::fmt::Display for EmbeddingModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// An L2-normalised face template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding {
    pub model: EmbeddingModel,
    pub vector: Vec<f32>,
}

impl Embedding {
    /// Normalises `raw` to unit length (a zero vector stays zero).
    pub fn from_raw(model: EmbeddingModel, mut raw: Vec<f32>) -> Self {
        let norm = raw.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 && norm.is_finite() {
            raw.iter_mut().for_each(|v| *v /= norm);
        }
        Self { model, vector: raw }
    }

    /// Cosine similarity in [-1, 1]; templates of different models or sizes are not comparable and give an
    /// error.
    pub fn cosine(&self, other: &Embedding) -> Result<f32> {
        if self.model != other.model || self.vector.len() != other.vector.len() {
            return Err(VisionError::Config(format!(
                "templates of {} ({}-d) and {} ({}-d) cannot be compared",
                self.model,
                self.vector.len(),
                other.model,
                other.vector.len()
            )));
        }
        Ok(cosine(&self.vector, &other.vector))
    }
}

/// Dot product of two normalised vectors, clamped to [-1, 1].
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>().clamp(-1.0, 1.0)
}

/// Largest SFace batch planned at once; bigger requests are split.
const MAX_BATCH: usize = 8;

pub struct FaceEmbedder {
    model: EmbeddingModel,
    plans: PlanCache,
    /// Faces per model run: the engine's preference, at most [`MAX_BATCH`].
    batch: usize,
}

impl FaceEmbedder {
    pub fn new(backend: &dyn InferenceBackend, loaded: &LoadedModel, model: EmbeddingModel) -> Result<Self> {
        if loaded.spec.id != model.id() {
            return Err(VisionError::Config(format!("model file {} is not {}", loaded.spec.file, model)));
        }
        let parsed = backend.parse(model.id(), &loaded.bytes)?;
        let batch = backend.preferred_batch().clamp(1, MAX_BATCH);
        Ok(Self { model, plans: PlanCache::new(parsed, MAX_BATCH), batch })
    }

    pub fn model(&self) -> EmbeddingModel {
        self.model
    }

    /// Embeds aligned 112x112 faces, several at once where the model allows.
    pub fn embed(&self, faces: &[&RgbImage]) -> Result<Vec<Embedding>> {
        for f in faces {
            if f.dimensions() != (ALIGNED_SIZE, ALIGNED_SIZE) {
                return Err(VisionError::Config(format!(
                    "aligned faces must be {ALIGNED_SIZE}x{ALIGNED_SIZE}, got {}x{}",
                    f.width(),
                    f.height()
                )));
            }
        }
        match self.model {
            EmbeddingModel::Sface => {
                let mut out = Vec::with_capacity(faces.len());
                for chunk in faces.chunks(self.batch) {
                    out.extend(self.embed_sface_batch(chunk)?);
                }
                Ok(out)
            }
            EmbeddingModel::Mobilefacenet => faces.iter().map(|f| self.embed_mobilefacenet(f)).collect(),
        }
    }

    fn embed_sface_batch(&self, faces: &[&RgbImage]) -> Result<Vec<Embedding>> {
        if faces.is_empty() {
            return Ok(Vec::new());
        }
        let out = self.run_sface(faces)?;
        self.split_rows(out, faces.len())
    }

    /// Runs the embedding model once on `faces` as one batch, timing each kind of operator (where the engine
    /// can; SFace only).
    pub fn profile(&self, faces: &[&RgbImage]) -> Result<Option<Vec<crate::runtime::OperatorTime>>> {
        if self.model != EmbeddingModel::Sface {
            return Ok(None);
        }
        let input = sface_input(faces);
        self.plans.get(&input.shape)?.profile(input)
    }

    /// Runs SFace on a batch.
    fn run_sface(&self, faces: &[&RgbImage]) -> Result<Vec<TensorF32>> {
        let input = sface_input(faces);
        self.plans.get(&input.shape)?.run(input)
    }

    fn embed_mobilefacenet(&self, face: &RgbImage) -> Result<Embedding> {
        let side = ALIGNED_SIZE as usize;
        let mut data = vec![0f32; 2 * side * side * 3];
        let (first, mirror) = data.split_at_mut(side * side * 3);
        for (x, y, px) in face.enumerate_pixels() {
            let (x, y) = (x as usize, y as usize);
            let o = (y * side + x) * 3;
            let m = (y * side + (side - 1 - x)) * 3;
            for c in 0..3 {
                let v = (f32::from(px[c]) - 127.5) / 128.0;
                first[o + c] = v;
                mirror[m + c] = v;
            }
        }
        let plan = self.plans.get(&[2, side, side, 3])?;
        let out = plan.run(TensorF32::new(vec![2, side, side, 3], data))?;
        let mut rows = self.split_rows(out, 2)?.into_iter();
        match (rows.next(), rows.next()) {
            (Some(a), Some(b)) => {
                let sum = a.vector.iter().zip(&b.vector).map(|(x, y)| x + y).collect();
                Ok(Embedding::from_raw(self.model, sum))
            }
            _ => Err(self.shape_error("expected two rows")),
        }
    }

    /// Splits the first output into `n` normalised rows of the model's dimension.
    fn split_rows(&self, outputs: Vec<TensorF32>, n: usize) -> Result<Vec<Embedding>> {
        let dim = self.model.dimension();
        let first = outputs.into_iter().next().ok_or_else(|| self.shape_error("no output"))?;
        if first.data.len() != n * dim {
            return Err(self.shape_error(&format!("got shape {:?}, expected {n}x{dim}", first.shape)));
        }
        Ok(first.data.chunks(dim).map(|row| Embedding::from_raw(self.model, row.to_vec())).collect())
    }

    fn shape_error(&self, message: &str) -> VisionError {
        VisionError::ModelOutput { name: self.model.id().to_string(), message: message.to_string() }
    }
}

/// SFace's input for a batch of aligned faces: NCHW RGB 0..255.
fn sface_input(faces: &[&RgbImage]) -> TensorF32 {
    let n = faces.len();
    let side = ALIGNED_SIZE as usize;
    let plane = side * side;
    let mut data = vec![0f32; n * 3 * plane];
    for (face, chunk) in faces.iter().zip(data.chunks_mut(3 * plane)) {
        for (j, px) in face.pixels().enumerate().take(plane) {
            chunk[j] = f32::from(px[0]);
            chunk[plane + j] = f32::from(px[1]);
            chunk[2 * plane + j] = f32::from(px[2]);
        }
    }
    TensorF32::new(vec![n, 3, side, side], data)
}

/// Raw (unnormalised) SFace output for a stored crop: used to check numeric agreement with a reference.
impl FaceEmbedder {
    pub fn embed_raw(&self, face: &RgbImage) -> Result<Vec<f32>> {
        if self.model != EmbeddingModel::Sface {
            return Err(VisionError::Config("raw output is only offered for SFace".into()));
        }
        let out = self.run_sface(&[face])?;
        out.into_iter().next().map(|t| t.data).ok_or_else(|| self.shape_error("no output"))
    }
}
