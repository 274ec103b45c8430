//! The inference backend: a small trait so that the pipeline does not depend on one engine, and its default
//! implementation on pure-Rust `tract-onnx` (no system library, builds from crates.io alone).
//!
//! Models are planned for a fixed input shape (tract is several times slower with symbolic dimensions), so a
//! backend hands out one [`PreparedModel`] per shape and callers cache them.

#[cfg(feature = "onnxruntime")]
pub mod onnxruntime;

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::error::{Result, VisionError};

/// A dense float32 tensor in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorF32 {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl TensorF32 {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }
}

/// A model planned for one input shape, ready to run from many threads at once.
pub trait PreparedModel: Send + Sync {
    /// Runs the model; outputs come in the model's declared order, named by [`PreparedModel::output_names`].
    fn run(&self, input: TensorF32) -> Result<Vec<TensorF32>>;
    fn output_names(&self) -> &[String];
}

/// An inference engine able to plan an ONNX model for a given input shape.
pub trait InferenceBackend: Send + Sync {
    fn name(&self) -> &'static str;
    /// Parses a model once; the result is then planned for each input shape needed.
    fn parse(&self, model_name: &str, onnx: &[u8]) -> Result<Arc<dyn ParsedModel>>;
}

/// A parsed model whose input shape is not fixed yet.
pub trait ParsedModel: Send + Sync {
    fn prepare(&self, input_shape: &[usize]) -> Result<Arc<dyn PreparedModel>>;
}

/// Sets how many threads the inference engine may use inside one model run (1 = single-threaded, the best
/// choice when many requests run side by side).
pub fn set_intra_op_threads(threads: usize) {
    let executor = if threads > 1 {
        tract_linalg::multithread::Executor::multithread(threads)
    } else {
        tract_linalg::multithread::Executor::SingleThread
    };
    tract_linalg::multithread::set_default_executor(executor);
}

/// Which inference engine runs the models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// Pure-Rust tract: always available.
    #[default]
    Tract,
    /// ONNX Runtime, loaded at run time (cargo feature `onnxruntime`, library from `ORT_DYLIB_PATH`).
    Onnxruntime,
}

impl std::str::FromStr for BackendKind {
    type Err = VisionError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tract" => Ok(Self::Tract),
            "onnxruntime" | "ort" => Ok(Self::Onnxruntime),
            other => Err(VisionError::Config(format!("unknown backend '{other}' (tract, onnxruntime)"))),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Tract => "tract",
            BackendKind::Onnxruntime => "onnxruntime",
        })
    }
}

/// Makes the backend of `kind`; `intra_op_threads` is how many threads one model run may use.
pub fn make_backend(kind: BackendKind, intra_op_threads: usize) -> Result<Box<dyn InferenceBackend>> {
    match kind {
        BackendKind::Tract => {
            set_intra_op_threads(intra_op_threads);
            Ok(Box::new(TractBackend))
        }
        #[cfg(feature = "onnxruntime")]
        BackendKind::Onnxruntime => Ok(Box::new(onnxruntime::OrtBackend::new(None, intra_op_threads)?)),
        #[cfg(not(feature = "onnxruntime"))]
        BackendKind::Onnxruntime => Err(VisionError::Config(
            "this build has no ONNX Runtime backend: build with `--features onnxruntime`".into(),
        )),
    }
}

/// The pure-Rust default backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct TractBackend;

struct TractParsed {
    name: String,
    model: InferenceModel,
}

struct TractPrepared {
    name: String,
    plan: Arc<TypedRunnableModel>,
    output_names: Vec<String>,
}

fn load_err(name: &str, e: impl std::fmt::Display) -> VisionError {
    VisionError::ModelLoad { name: name.to_string(), message: format!("{e:#}") }
}

impl InferenceBackend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn parse(&self, model_name: &str, onnx: &[u8]) -> Result<Arc<dyn ParsedModel>> {
        let mut reader = onnx;
        let model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_read(&mut reader)
            .map_err(|e| load_err(model_name, e))?;
        Ok(Arc::new(TractParsed { name: model_name.to_string(), model }))
    }
}

impl ParsedModel for TractParsed {
    fn prepare(&self, input_shape: &[usize]) -> Result<Arc<dyn PreparedModel>> {
        let shape: TVec<usize> = input_shape.iter().copied().collect();
        let model = self
            .model
            .clone()
            .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))
            .map_err(|e| load_err(&self.name, e))?;
        let output_names = model
            .output_outlets()
            .map_err(|e| load_err(&self.name, e))?
            .iter()
            .map(|o| model.outlet_label(*o).map(str::to_string).unwrap_or_else(|| model.node(o.node).name.clone()))
            .collect();
        let plan = model.into_optimized().and_then(|m| m.into_runnable()).map_err(|e| load_err(&self.name, e))?;
        Ok(Arc::new(TractPrepared { name: self.name.clone(), plan, output_names }))
    }
}

impl PreparedModel for TractPrepared {
    fn run(&self, input: TensorF32) -> Result<Vec<TensorF32>> {
        let infer_err = |e: TractError| VisionError::Inference { name: self.name.clone(), message: format!("{e:#}") };
        let tensor = Tensor::from_shape(&input.shape, &input.data).map_err(infer_err)?;
        let outputs = self.plan.run(tvec![tensor.into()]).map_err(infer_err)?;
        outputs
            .into_iter()
            .map(|t| {
                let view = t.to_plain_array_view::<f32>().map_err(infer_err)?;
                Ok(TensorF32 { shape: view.shape().to_vec(), data: view.iter().copied().collect() })
            })
            .collect()
    }

    fn output_names(&self) -> &[String] {
        &self.output_names
    }
}

/// A planned model and the input shape it was planned for.
type ShapePlan = (Vec<usize>, Arc<dyn PreparedModel>);

/// The plans of one model, one per input shape, least recently used first out.
pub struct PlanCache {
    parsed: Arc<dyn ParsedModel>,
    capacity: usize,
    plans: std::sync::Mutex<Vec<ShapePlan>>,
}

impl PlanCache {
    pub fn new(parsed: Arc<dyn ParsedModel>, capacity: usize) -> Self {
        Self { parsed, capacity: capacity.max(1), plans: std::sync::Mutex::new(Vec::new()) }
    }

    /// The plan for `shape`, made on first use. Planning holds the lock: two threads needing the same new
    /// shape plan it once.
    pub fn get(&self, shape: &[usize]) -> Result<Arc<dyn PreparedModel>> {
        let mut plans = self.plans.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(pos) = plans.iter().position(|(s, _)| s == shape) {
            let entry = plans.remove(pos);
            let plan = entry.1.clone();
            plans.push(entry);
            return Ok(plan);
        }
        let plan = self.parsed.prepare(shape)?;
        if plans.len() >= self.capacity {
            plans.remove(0);
        }
        plans.push((shape.to_vec(), plan.clone()));
        Ok(plan)
    }

    /// How many shapes are planned now.
    pub fn len(&self) -> usize {
        self.plans.lock().map(|p| p.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
