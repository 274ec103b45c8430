//! The ONNX Runtime backend (cargo feature `onnxruntime`). The library is loaded at run time from
//! `ORT_DYLIB_PATH` (or a path given in the configuration), so nothing is downloaded at build time.
//!
//! ONNX Runtime enforces the input shapes a model declares, and YuNet declares 640x640: before a model is
//! handed to it, every input dimension is made symbolic and the stored intermediate shapes are dropped, so one
//! session serves every input size (ONNX Runtime handles dynamic shapes without re-planning).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::Tensor;
use prost::Message;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::ModelProto;

use super::{InferenceBackend, ParsedModel, PreparedModel, TensorF32};
use crate::error::{Result, VisionError};

/// ONNX Runtime, loaded once per process.
#[derive(Debug, Clone)]
pub struct OrtBackend {
    intra_threads: usize,
}

static LOADED: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();

impl OrtBackend {
    /// Loads the ONNX Runtime library (`library`, else `ORT_DYLIB_PATH`). Only the first call in a process
    /// loads it; later calls reuse it.
    pub fn new(library: Option<&Path>, intra_threads: usize) -> Result<Self> {
        let loaded = LOADED.get_or_init(|| {
            let path = library
                .map(Path::to_path_buf)
                .or_else(|| std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()).map(PathBuf::from))
                .ok_or_else(|| {
                    "the onnxruntime backend needs ORT_DYLIB_PATH: the path of libonnxruntime.so (pip install onnxruntime ships one)"
                        .to_string()
                })?;
            if !path.is_file() {
                return Err(format!("ONNX Runtime library {} not found", path.display()));
            }
            let builder = ort::init_from(&path).map_err(|e| format!("loading {}: {e}", path.display()))?;
            builder.with_name("facegate").commit();
            Ok(path)
        });
        match loaded {
            Ok(_) => Ok(Self { intra_threads: intra_threads.max(1) }),
            Err(message) => Err(VisionError::ModelLoad { name: "onnxruntime".into(), message: message.clone() }),
        }
    }
}

/// Makes every graph input dimension symbolic and drops stored shapes of outputs and intermediate values.
fn with_symbolic_inputs(name: &str, onnx: &[u8]) -> Result<Vec<u8>> {
    let err = |message: String| VisionError::ModelLoad { name: name.to_string(), message };
    let mut model = ModelProto::decode(onnx).map_err(|e| err(format!("not an ONNX model: {e}")))?;
    let graph = model.graph.as_mut().ok_or_else(|| err("the model has no graph".into()))?;
    for (i, input) in graph.input.iter_mut().enumerate() {
        if let Some(TypeValue::TensorType(t)) = input.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            if let Some(shape) = t.shape.as_mut() {
                for (d, dim) in shape.dim.iter_mut().enumerate() {
                    dim.value = Some(Dim::DimParam(format!("in{i}_d{d}")));
                }
            }
        }
    }
    for output in graph.output.iter_mut() {
        if let Some(TypeValue::TensorType(t)) = output.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            t.shape = None;
        }
    }
    graph.value_info.clear();
    Ok(model.encode_to_vec())
}

struct OrtParsed {
    name: String,
    onnx: Arc<Vec<u8>>,
    intra_threads: usize,
}

/// Sessions of one model and shape. An ONNX Runtime session runs one call at a time, so idle sessions wait
/// in a free list: a caller takes one (making a new one when all are busy) and puts it back afterwards, so
/// there are never more sessions than callers running at once.
struct OrtPrepared {
    name: String,
    onnx: Arc<Vec<u8>>,
    intra_threads: usize,
    input_name: String,
    output_names: Vec<String>,
    idle: Mutex<Vec<Session>>,
}

fn new_session(name: &str, onnx: &[u8], intra_threads: usize) -> Result<Session> {
    let err = |e: ort::Error| VisionError::ModelLoad { name: name.to_string(), message: e.to_string() };
    Session::builder()
        .map_err(err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| err(e.into()))?
        .with_intra_threads(intra_threads)
        .map_err(|e| err(e.into()))?
        .commit_from_memory(onnx)
        .map_err(err)
}

impl InferenceBackend for OrtBackend {
    fn name(&self) -> &'static str {
        "onnxruntime"
    }

    fn parse(&self, model_name: &str, onnx: &[u8]) -> Result<Arc<dyn ParsedModel>> {
        Ok(Arc::new(OrtParsed {
            name: model_name.to_string(),
            onnx: Arc::new(with_symbolic_inputs(model_name, onnx)?),
            intra_threads: self.intra_threads,
        }))
    }
}

impl ParsedModel for OrtParsed {
    /// ONNX Runtime sessions take any input shape; the plan cache still asks once per shape, and each shape
    /// gets its own sessions.
    fn prepare(&self, _input_shape: &[usize]) -> Result<Arc<dyn PreparedModel>> {
        let session = new_session(&self.name, &self.onnx, self.intra_threads)?;
        let input_name = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| VisionError::ModelLoad { name: self.name.clone(), message: "no input".into() })?;
        let output_names = session.outputs().iter().map(|o| o.name().to_string()).collect();
        Ok(Arc::new(OrtPrepared {
            name: self.name.clone(),
            onnx: self.onnx.clone(),
            intra_threads: self.intra_threads,
            input_name,
            output_names,
            idle: Mutex::new(vec![session]),
        }))
    }
}

impl PreparedModel for OrtPrepared {
    fn run(&self, input: TensorF32) -> Result<Vec<TensorF32>> {
        let idle = || self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let taken = idle().pop();
        let mut session = match taken {
            Some(s) => s,
            None => new_session(&self.name, &self.onnx, self.intra_threads)?,
        };
        let result = self.run_on(&mut session, input);
        idle().push(session);
        result
    }

    fn output_names(&self) -> &[String] {
        &self.output_names
    }
}

impl OrtPrepared {
    fn run_on(&self, session: &mut Session, input: TensorF32) -> Result<Vec<TensorF32>> {
        let err = |e: ort::Error| VisionError::Inference { name: self.name.clone(), message: e.to_string() };
        let tensor = Tensor::from_array((input.shape.clone(), input.data)).map_err(err)?;
        let outputs = session.run(ort::inputs![self.input_name.as_str() => tensor]).map_err(err)?;
        self.output_names
            .iter()
            .map(|name| {
                let (shape, data) = outputs[name.as_str()].try_extract_tensor::<f32>().map_err(err)?;
                Ok(TensorF32 {
                    shape: shape.iter().map(|&d| usize::try_from(d).unwrap_or(0)).collect(),
                    data: data.to_vec(),
                })
            })
            .collect()
    }
}
