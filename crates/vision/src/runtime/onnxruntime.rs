//! The ONNX Runtime backend. Built in every binary with `ort`'s `load-dynamic`: nothing is downloaded or linked
//! at build time, and the library is found at run time by [`find_library`] — `ORT_DYLIB_PATH`, else the
//! library inside the `onnxruntime` package of `python3` (`pip install onnxruntime`).
//!
//! ONNX Runtime enforces the input shapes a model declares, and YuNet declares 640x640: before a model is
//! handed to it, every input dimension is made symbolic and the stored intermediate shapes are dropped, so one
//! session serves every input size (ONNX Runtime handles dynamic shapes without re-planning).

use std::path::PathBuf;
use std::process::{Command, Stdio};
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
    library: &'static str,
}

/// Where an ONNX Runtime library was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundLibrary {
    pub path: PathBuf,
    /// `ORT_DYLIB_PATH` or `python3 onnxruntime`.
    pub source: &'static str,
}

/// The library's file names inside the `onnxruntime` wheel, by platform.
const WHEEL_LIBRARY_PREFIXES: [&str; 3] = ["libonnxruntime.so", "libonnxruntime.", "onnxruntime.dll"];

/// Finds the ONNX Runtime library: `ORT_DYLIB_PATH` when set (it must then name a file), else the one in the
/// `onnxruntime` package that `python3` imports (looked up without importing it, so in milliseconds). The error
/// says what was looked at.
pub fn find_library() -> std::result::Result<FoundLibrary, String> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(format!("ORT_DYLIB_PATH names {}, which is not a file", path.display()));
        }
        return Ok(FoundLibrary { path, source: "ORT_DYLIB_PATH" });
    }
    let not_found = "no ONNX Runtime library: ORT_DYLIB_PATH is not set and python3 has no onnxruntime package \
                     (pip install onnxruntime)";
    let package_dir = python_package_dir("onnxruntime").ok_or_else(|| not_found.to_string())?;
    let capi = package_dir.join("capi");
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(&capi)
        .map_err(|_| not_found.to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let is_library =
                name.ends_with(".so") || name.contains(".so.") || name.ends_with(".dylib") || name.ends_with(".dll");
            is_library
                && WHEEL_LIBRARY_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
                && !name.contains("providers")
        })
        .collect();
    candidates.sort();
    candidates
        .into_iter()
        .next()
        .map(|path| FoundLibrary { path, source: "python3 onnxruntime" })
        .ok_or_else(|| format!("python3's onnxruntime package at {} holds no library", package_dir.display()))
}

/// The directory of a Python package as `python3` would import it, or `None` (no python3, no package).
fn python_package_dir(package: &str) -> Option<PathBuf> {
    let script = format!(
        "import importlib.util as u\ns = u.find_spec('{package}')\nprint(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')"
    );
    let out =
        Command::new("python3").args(["-I", "-c", &script]).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

static LOADED: OnceLock<std::result::Result<String, String>> = OnceLock::new();

impl OrtBackend {
    /// Finds and loads the ONNX Runtime library ([`find_library`]). Only the first call in a process loads
    /// it; later calls reuse it (or its error).
    pub fn new(intra_threads: usize) -> Result<Self> {
        let loaded = LOADED.get_or_init(|| {
            let found = find_library()?;
            let path = &found.path;
            let builder = ort::init_from(path).map_err(|e| format!("loading {}: {e}", path.display()))?;
            builder.with_name("facegate").commit();
            Ok(format!("{}, from {}", path.display(), found.source))
        });
        match loaded {
            Ok(library) => Ok(Self { intra_threads: intra_threads.max(1), library: library.as_str() }),
            Err(message) => Err(VisionError::EngineUnavailable(message.clone())),
        }
    }

    /// The library loaded and where its path came from.
    pub fn library(&self) -> &'static str {
        self.library
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
    /// Sessions take any input shape: every shape shares these.
    prepared: Mutex<Option<Arc<OrtPrepared>>>,
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

    /// A batch of two faces costs ONNX Runtime 3 % less than two runs (`facegate bench`).
    fn preferred_batch(&self) -> usize {
        8
    }

    fn parse(&self, model_name: &str, onnx: &[u8]) -> Result<Arc<dyn ParsedModel>> {
        Ok(Arc::new(OrtParsed {
            name: model_name.to_string(),
            onnx: Arc::new(with_symbolic_inputs(model_name, onnx)?),
            intra_threads: self.intra_threads,
            prepared: Mutex::new(None),
        }))
    }
}

impl ParsedModel for OrtParsed {
    /// ONNX Runtime sessions take any input shape: the plan cache asks once per shape, and every shape gets
    /// the same sessions.
    fn prepare(&self, _input_shape: &[usize]) -> Result<Arc<dyn PreparedModel>> {
        let mut prepared = self.prepared.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(p) = prepared.as_ref() {
            return Ok(p.clone());
        }
        let session = new_session(&self.name, &self.onnx, self.intra_threads)?;
        let input_name = session
            .inputs()
            .first()
            .map(|i| i.name().to_string())
            .ok_or_else(|| VisionError::ModelLoad { name: self.name.clone(), message: "no input".into() })?;
        let output_names = session.outputs().iter().map(|o| o.name().to_string()).collect();
        let p = Arc::new(OrtPrepared {
            name: self.name.clone(),
            onnx: self.onnx.clone(),
            intra_threads: self.intra_threads,
            input_name,
            output_names,
            idle: Mutex::new(vec![session]),
        });
        *prepared = Some(p.clone());
        Ok(p)
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
