//! The inference backend: a small trait so that the pipeline does not depend on one engine, with two
//! implementations — pure-Rust `tract-onnx` (no system library, builds from crates.io alone, always works) and
//! ONNX Runtime, loaded at run time when its library is found (see [`onnxruntime::find_library`]). Which one
//! runs is chosen when the models load: [`BackendKind::Auto`] takes ONNX Runtime when it is there, else tract.
//!
//! Models are planned for a fixed input shape (tract is several times slower with symbolic dimensions), so a
//! backend hands out one [`PreparedModel`] per shape and callers cache them.

pub mod onnxruntime;
pub mod tract_ops;

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

/// Time spent in one kind of operator during one run of a model, summed over its nodes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OperatorTime {
    pub op: String,
    pub nodes: usize,
    pub ms: f64,
}

/// A model planned for one input shape, ready to run from many threads at once.
pub trait PreparedModel: Send + Sync {
    /// Runs the model; outputs come in the model's declared order, named by [`PreparedModel::output_names`].
    fn run(&self, input: TensorF32) -> Result<Vec<TensorF32>>;
    fn output_names(&self) -> &[String];
    /// Runs the model once timing each kind of operator, slowest first, where the engine lets us look inside
    /// (tract); `None` where it does not (ONNX Runtime).
    fn profile(&self, _input: TensorF32) -> Result<Option<Vec<OperatorTime>>> {
        Ok(None)
    }
}

/// An inference engine able to plan an ONNX model for a given input shape.
pub trait InferenceBackend: Send + Sync {
    fn name(&self) -> &'static str;
    /// Parses a model once; the result is then planned for each input shape needed.
    fn parse(&self, model_name: &str, onnx: &[u8]) -> Result<Arc<dyn ParsedModel>>;
    /// How many inputs (faces) one run should take where a caller has several. tract runs SFace on a batch
    /// of two three times slower than on one face twice (`facegate bench`), so it takes one at a time.
    fn preferred_batch(&self) -> usize {
        1
    }
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
    /// ONNX Runtime when its library is found (`ORT_DYLIB_PATH`, or the `onnxruntime` package of `python3`),
    /// else tract.
    #[default]
    Auto,
    /// Pure-Rust tract: always available.
    Tract,
    /// ONNX Runtime, loaded at run time; an error when its library is not found.
    Onnxruntime,
}

impl std::str::FromStr for BackendKind {
    type Err = VisionError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "tract" => Ok(Self::Tract),
            "onnxruntime" | "ort" => Ok(Self::Onnxruntime),
            other => Err(VisionError::Config(format!("unknown backend '{other}' (auto, tract, onnxruntime)"))),
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BackendKind::Auto => "auto",
            BackendKind::Tract => "tract",
            BackendKind::Onnxruntime => "onnxruntime",
        })
    }
}

/// The engine a backend runs on, and how it was chosen: what `facegate models`, `/ready`, the startup log and
/// the `facegate_inference_engine` metric show.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineInfo {
    /// `tract` or `onnxruntime`.
    pub name: &'static str,
    /// What the configuration asked for.
    pub requested: BackendKind,
    /// The ONNX Runtime library loaded, and where its path came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// Why `auto` runs tract: the ONNX Runtime library was not found or did not load.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl std::fmt::Display for EngineInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.name)?;
        if let Some(library) = &self.library {
            write!(f, " ({library})")?;
        }
        if let Some(why) = &self.fallback {
            write!(f, " (backend auto: {why})")?;
        }
        Ok(())
    }
}

/// Makes the backend of `kind`; `intra_op_threads` is how many threads one model run may use.
pub fn make_backend(kind: BackendKind, intra_op_threads: usize) -> Result<Box<dyn InferenceBackend>> {
    Ok(choose_backend(kind, intra_op_threads)?.0)
}

/// Makes the backend of `kind` and says which engine it runs on. `Auto` falls back to tract, with the reason,
/// when ONNX Runtime cannot be loaded; `Onnxruntime` fails instead.
pub fn choose_backend(kind: BackendKind, intra_op_threads: usize) -> Result<(Box<dyn InferenceBackend>, EngineInfo)> {
    let tract = |fallback: Option<String>| -> (Box<dyn InferenceBackend>, EngineInfo) {
        set_intra_op_threads(intra_op_threads);
        (Box::new(TractBackend), EngineInfo { name: "tract", requested: kind, library: None, fallback })
    };
    match kind {
        BackendKind::Tract => Ok(tract(None)),
        BackendKind::Onnxruntime | BackendKind::Auto => match onnxruntime::OrtBackend::new(intra_op_threads) {
            Ok(ort) => {
                let library = Some(ort.library().to_string());
                Ok((Box::new(ort), EngineInfo { name: "onnxruntime", requested: kind, library, fallback: None }))
            }
            Err(VisionError::EngineUnavailable(why)) if kind == BackendKind::Auto => Ok(tract(Some(why))),
            Err(e) => Err(e),
        },
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
    /// Run states kept between runs (their buffers and operator states are made once), one per caller
    /// running at the same time.
    idle: std::sync::Mutex<Vec<TypedSimpleState>>,
}

fn load_err(name: &str, e: impl std::fmt::Display) -> VisionError {
    VisionError::ModelLoad { name: name.to_string(), message: format!("{e:#}") }
}

impl InferenceBackend for TractBackend {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn parse(&self, model_name: &str, onnx: &[u8]) -> Result<Arc<dyn ParsedModel>> {
        let model = tract_ops::onnx().model_for_read(&mut &*onnx).map_err(|e| load_err(model_name, e))?;
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
        let plan = tract_ops::into_runnable(model).map_err(|e| load_err(&self.name, e))?;
        Ok(Arc::new(TractPrepared {
            name: self.name.clone(),
            plan,
            output_names,
            idle: std::sync::Mutex::new(Vec::new()),
        }))
    }
}

impl PreparedModel for TractPrepared {
    fn run(&self, input: TensorF32) -> Result<Vec<TensorF32>> {
        let infer_err = |e: TractError| VisionError::Inference { name: self.name.clone(), message: format!("{e:#}") };
        // The input's buffer moves into the tensor: no copy.
        let tensor = tract_ndarray::ArrayD::from_shape_vec(input.shape, input.data)
            .map_err(|e| infer_err(e.into()))?
            .into_tensor();
        let idle = || self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let taken = idle().pop();
        let mut state = match taken {
            Some(state) => state,
            None => TypedSimpleState::new(&self.plan).map_err(infer_err)?,
        };
        // A state that failed mid-run is dropped rather than reused.
        let outputs = state.run(tvec![tensor.into()]).map_err(infer_err)?;
        idle().push(state);
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

    fn profile(&self, input: TensorF32) -> Result<Option<Vec<OperatorTime>>> {
        let infer_err = |e: TractError| VisionError::Inference { name: self.name.clone(), message: format!("{e:#}") };
        let tensor = Tensor::from_shape(&input.shape, &input.data).map_err(infer_err)?;
        let mut state = TypedSimpleState::new(&self.plan).map_err(infer_err)?;
        let mut by_op: std::collections::HashMap<String, (usize, std::time::Duration)> = Default::default();
        state
            .run_plan_with_eval(tvec![tensor.into()], |ctx, op_state, node, inputs| {
                let started = std::time::Instant::now();
                let out = tract_onnx::tract_core::plan::eval(ctx, op_state, node, inputs);
                let entry = by_op.entry(node.op().name().to_string()).or_default();
                entry.0 += 1;
                entry.1 += started.elapsed();
                out
            })
            .map_err(infer_err)?;
        let mut times: Vec<OperatorTime> = by_op
            .into_iter()
            .map(|(op, (nodes, time))| OperatorTime { op, nodes, ms: time.as_secs_f64() * 1000.0 })
            .collect();
        times.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(Some(times))
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
