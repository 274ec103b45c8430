//! Command-line arguments. Options shared by every subcommand come first; each has an environment
//! variable, so that `FACEGATE_*` settings and flags agree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vision::runtime::BackendKind;
use vision::{DetectorConfig, EmbeddingModel, PipelineConfig};

#[derive(Debug, Parser)]
#[command(name = "facegate", version, about = "Self-hosted face verification and liveness", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    Sface,
    Mobilefacenet,
}

impl From<ModelArg> for EmbeddingModel {
    fn from(m: ModelArg) -> Self {
        match m {
            ModelArg::Sface => EmbeddingModel::Sface,
            ModelArg::Mobilefacenet => EmbeddingModel::Mobilefacenet,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// Pure-Rust tract (always built in).
    Tract,
    /// ONNX Runtime, loaded from ORT_DYLIB_PATH (builds with the `onnxruntime` feature).
    Onnxruntime,
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Directory searched for model files before the embedded copies (optional models live only there).
    #[arg(long, global = true, env = "FACEGATE_MODELS_DIR", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Face embedding model.
    #[arg(long, global = true, env = "FACEGATE_MODEL", value_enum, default_value_t = ModelArg::Sface)]
    pub model: ModelArg,
    /// Inference engine.
    #[arg(long, global = true, env = "FACEGATE_BACKEND", value_enum, default_value_t = BackendArg::Tract)]
    pub backend: BackendArg,
    /// Worker threads (default: all cores).
    #[arg(long, global = true, env = "FACEGATE_THREADS", value_name = "N")]
    pub threads: Option<usize>,
    /// Images are scaled so that their long side is at most this many pixels before detection.
    #[arg(long, global = true, env = "FACEGATE_DETECT_MAX_SIDE", default_value_t = DetectorConfig::default().max_side)]
    pub detect_max_side: u32,
    /// Minimum detection score (0..1).
    #[arg(long, global = true, env = "FACEGATE_DETECT_SCORE", default_value_t = DetectorConfig::default().score_threshold)]
    pub detect_score: f32,
}

impl CommonArgs {
    pub fn threads(&self) -> usize {
        self.threads.filter(|&t| t > 0).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The pipeline configuration; `intra_op_threads` is how many threads one model run may use.
    pub fn pipeline_config(&self, intra_op_threads: usize) -> PipelineConfig {
        let mut config = PipelineConfig {
            models_dir: self.models_dir.clone(),
            embedding_model: self.model.into(),
            backend: match self.backend {
                BackendArg::Tract => BackendKind::Tract,
                BackendArg::Onnxruntime => BackendKind::Onnxruntime,
            },
            intra_op_threads,
            ..PipelineConfig::default()
        };
        config.detector.max_side = self.detect_max_side;
        config.detector.score_threshold = self.detect_score;
        config
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Find the faces in an image: box, landmarks, score and quality of each.
    Detect {
        image: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Compare the faces of two images: cosine, calibrated similarity 0-100, match or not.
    Compare {
        a: PathBuf,
        b: PathBuf,
        #[arg(long)]
        json: bool,
        /// Match threshold as a calibrated similarity 0-100 (60 = false match rate 1e-3 on LFW).
        #[arg(long, value_name = "T", conflicts_with = "cosine_threshold")]
        threshold: Option<f32>,
        /// Match threshold as a raw cosine instead.
        #[arg(long, value_name = "COS")]
        cosine_threshold: Option<f32>,
        /// Use face N of each image (0 = best detection score) instead of the largest.
        #[arg(long, value_name = "N")]
        face: Option<usize>,
    },
    /// Measure accuracy on a labelled data set.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Time each stage of the pipeline and the throughput of whole comparisons.
    Bench {
        /// Images to time (default: the shared sample photos when present).
        images: Vec<PathBuf>,
        /// Timed runs per stage.
        #[arg(long, default_value_t = 30)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// The models, their SHA-256 and where they load from.
    Models {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// The LFW View-2 protocol on a pairs file: cross-validated accuracy, AUC, TAR at FAR.
    Lfw {
        #[command(flatten)]
        data: LfwData,
        #[arg(long)]
        json: bool,
    },
    /// Score every impostor pair among the images a pairs file names and print the cosine -> false match
    /// rate table behind the calibrated similarity.
    Calibrate {
        #[command(flatten)]
        data: LfwData,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct LfwData {
    /// The pairs file (LFW View-2 format, any number of folds).
    #[arg(long)]
    pub pairs: PathBuf,
    /// The folder holding `<Name>/<Name>_NNNN.jpg`.
    #[arg(long)]
    pub images: PathBuf,
}
