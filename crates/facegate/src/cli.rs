//! Command-line arguments. Options shared by every subcommand come first; each has an environment
//! variable, so that `FACEGATE_*` settings and flags agree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use vision::runtime::BackendKind;
use vision::{EmbeddingModel, PipelineConfig};

#[derive(Debug, Parser)]
#[command(name = "facegate", version, about = "Self-hosted face verification and liveness", long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// The command line, with `--set`'s long help listing every setting (from [`ServerConfig::keys`]).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let keys = app::ServerConfig::keys();
    let secrets = app::config::SECRET_KEYS;
    let listed: Vec<String> = keys
        .iter()
        .map(|k| {
            let note = if secrets.contains(k) { " (secret: environment or file only)" } else { "" };
            format!("  {k:<34} {}{note}", app::ServerConfig::env_name(k))
        })
        .collect();
    let help = format!(
        "Any setting by its key, repeatable: --set passive_threshold=0.2 --set open_routes=face_login. Lists \
         are comma-separated. Every key is also read from its FACEGATE_ variable and from the file; order: defaults \
         < file < environment < flags. Secrets are never taken from flags. An unknown key or FACEGATE_ variable \
         stops the start-up. `--print-config` shows every value.\n\nSettings (key, variable):\n{}",
        listed.join("\n")
    );
    let with_help = |c: clap::Command| c.mut_arg("set", |a| a.long_help(help.clone()));
    let mut cli = Cli::command();
    for name in ["serve", "enroll", "search"] {
        cli = cli.mut_subcommand(name, with_help);
    }
    cli
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
    /// ONNX Runtime when its library is found (ORT_DYLIB_PATH, or python3's onnxruntime package), else tract.
    Auto,
    /// Pure-Rust tract (always works).
    Tract,
    /// ONNX Runtime (ORT_DYLIB_PATH, or python3's onnxruntime package); an error when it is not found.
    Onnxruntime,
}

impl From<BackendArg> for BackendKind {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendKind::Auto,
            BackendArg::Tract => BackendKind::Tract,
            BackendArg::Onnxruntime => BackendKind::Onnxruntime,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Directory searched for model files before the embedded copies (optional models live only there).
    #[arg(long, global = true, env = "FACEGATE_MODELS_DIR", value_name = "DIR")]
    pub models_dir: Option<PathBuf>,
    /// Face embedding model [default: sface].
    #[arg(long, global = true, env = "FACEGATE_MODEL", value_enum)]
    pub model: Option<ModelArg>,
    /// Inference engine [default: auto].
    #[arg(long, global = true, env = "FACEGATE_BACKEND", value_enum)]
    pub backend: Option<BackendArg>,
    /// Worker threads (default: all cores; for `serve`, the inference workers).
    #[arg(long, global = true, env = "FACEGATE_THREADS", value_name = "N")]
    pub threads: Option<usize>,
    /// Images are scaled so that their long side is at most this many pixels before detection [default: 640].
    #[arg(long, global = true, env = "FACEGATE_DETECT_MAX_SIDE", value_name = "PIXELS")]
    pub detect_max_side: Option<u32>,
    /// Where only the largest face matters, detect first with the long side at this many pixels, and at the
    /// full size only when that finds no face or a small one; 0 = off [default: 320].
    #[arg(long, global = true, env = "FACEGATE_DETECT_COARSE_SIDE", value_name = "PIXELS")]
    pub detect_coarse_side: Option<u32>,
    /// Minimum detection score, 0..1 [default: 0.6].
    #[arg(long, global = true, env = "FACEGATE_DETECT_SCORE", value_name = "SCORE")]
    pub detect_score: Option<f32>,
}

impl CommonArgs {
    pub fn threads(&self) -> usize {
        self.threads.filter(|&t| t > 0).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// The pipeline configuration; `intra_op_threads` is how many threads one model run may use.
    pub fn pipeline_config(&self, intra_op_threads: usize) -> PipelineConfig {
        let mut config = PipelineConfig {
            models_dir: self.models_dir.clone(),
            embedding_model: self.model.map(Into::into).unwrap_or_default(),
            backend: self.backend.map(BackendKind::from).unwrap_or_default(),
            intra_op_threads,
            ..PipelineConfig::default()
        };
        if let Some(side) = self.detect_max_side {
            config.detector.max_side = side;
        }
        if let Some(side) = self.detect_coarse_side {
            config.detector.coarse_side = side;
        }
        if let Some(score) = self.detect_score {
            config.detector.score_threshold = score;
        }
        config
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service. Settings: defaults < facegate.toml (or --config) < FACEGATE_* environment < flags.
    Serve(ServeArgs),
    /// Enroll the faces of images into a collection (created if missing), on the service's own store.
    Enroll(EnrollArgs),
    /// Search a collection with the largest face of each image, on the service's own store.
    Search(SearchArgs),
    /// Fill a collection with random synthetic templates, for search benchmarks at scale.
    BenchFill(BenchFillArgs),
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
        /// Also time each kind of operator inside the detector and the embedding model (tract only).
        #[arg(long)]
        profile: bool,
    },
    /// Manage API keys in the service's store (create shows the secret once; list; revoke).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The models, their SHA-256 and where they load from (`models fetch` downloads the anti-spoofing weights).
    Models {
        #[command(subcommand)]
        command: Option<ModelsCommand>,
        #[arg(long, global = true)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download the passive anti-spoofing weights (MiniFASNet .pth, never embedded) into the models directory,
    /// each checked against its published SHA-256 before it is written. Files already there with the right hash
    /// are kept.
    Fetch(FetchArgs),
}

#[derive(Debug, Clone, Args)]
pub struct FetchArgs {
    /// Base URL the files are downloaded from (each file's name is appended), or a folder holding them (a path
    /// or a file:// URL: an offline machine's mirror) [default: the official repository,
    /// github.com/minivision-ai/Silent-Face-Anti-Spoofing, resources/anti_spoof_models/].
    #[arg(long, value_name = "BASE_URL|FOLDER")]
    pub from: Option<String>,
    /// Replace a file that is present with the wrong SHA-256 (refused otherwise).
    #[arg(long)]
    pub force: bool,
}

/// Where the service keeps its data; shared by `serve`, `enroll` and `search`.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Configuration file (TOML) [default: ./facegate.toml when present].
    #[arg(long, env = "FACEGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory; the SQLite database lives here unless --database says otherwise [default: ./facegate-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB [default: SQLite in the data directory].
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,
    /// Where stored images go: database, or s3://BUCKET/PREFIX (endpoint, region and credentials from the usual
    /// AWS variables: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY) [default: database].
    #[arg(long, value_name = "URL")]
    pub blob_store: Option<app::config::BlobStore>,
    /// Any setting by its key, repeatable (secrets excepted: they come from the environment or the file). Every
    /// key is also read from FACEGATE_<KEY>; --help lists them.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Requests that may wait for an inference worker; more are refused with 503 + Retry-After [default: 64].
    #[arg(long, value_name = "N")]
    pub queue: Option<usize>,
    /// Default match threshold, a calibrated similarity 0-100 [default: 60 = false match rate 1e-3 on LFW].
    #[arg(long, value_name = "T")]
    pub match_threshold: Option<f32>,
    /// Long side (pixels) identity documents are scaled to before detection [default: 1600].
    #[arg(long, value_name = "PIXELS")]
    pub document_max_side: Option<u32>,
    /// Largest image accepted, bytes [default: 15728640].
    #[arg(long, value_name = "BYTES")]
    pub max_image_bytes: Option<usize>,
    /// Largest image accepted, pixels [default: 40000000].
    #[arg(long, value_name = "PIXELS")]
    pub max_image_pixels: Option<u64>,
    /// How often each replica applies other replicas' writes to its index, ms [default: 250].
    #[arg(long, value_name = "MS")]
    pub sync_interval_ms: Option<u64>,
    /// Database connections [default: 8].
    #[arg(long, value_name = "N")]
    pub db_connections: Option<u32>,
    /// Origin allowed to call the API from a browser (CORS), repeatable; `*` for any [default: none].
    #[arg(long = "cors-origin", value_delimiter = ',', value_name = "ORIGIN")]
    pub cors_origins: Option<Vec<String>>,
    /// Lowest similarity for a face login [default: 80 = false match rate 1e-4 per user].
    #[arg(long, value_name = "T")]
    pub login_threshold: Option<f32>,
    /// Lifetime of face-login tokens, seconds [default: 1800].
    #[arg(long, value_name = "SECONDS")]
    pub token_ttl_seconds: Option<u64>,
    /// Let liveness sessions succeed on their challenges alone when passive anti-spoofing (the MiniFASNet
    /// weights) is not installed. Photos pass challenges: leave this off outside development [default: false].
    #[arg(long, value_name = "BOOL")]
    pub liveness_allow_challenge_only: Option<bool>,
    /// Print the effective configuration (TOML, secrets redacted) and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Shut down when standard input closes (for supervisors and test harnesses).
    #[arg(long, hide = true)]
    pub exit_on_stdin_close: bool,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (the secret is shown this once).
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// Who or what uses the key.
        #[arg(long)]
        name: String,
        /// A scope, repeatable: admin, faces:detect, faces:compare, collections:read, collections:write, users,
        /// liveness, metrics.
        #[arg(long = "scope", required = true, value_name = "SCOPE")]
        scopes: Vec<String>,
        /// Limit the key to a collection, repeatable [default: all collections].
        #[arg(long = "collection", value_name = "ID")]
        collections: Vec<String>,
        /// Limit the key to an S3 bucket (`S3Object` inputs, liveness output), repeatable [default: all buckets].
        #[arg(long = "bucket", value_name = "NAME")]
        buckets: Vec<String>,
        /// The key expires this many days from now.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u64>,
        /// Requests per second (token bucket) [default: unlimited].
        #[arg(long, value_name = "N")]
        rate: Option<f64>,
        /// Burst above the rate [default: the rate rounded up].
        #[arg(long, value_name = "N")]
        burst: Option<u32>,
        /// Requests per calendar month (UTC) [default: unlimited].
        #[arg(long, value_name = "N")]
        monthly_quota: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// List keys (never their secrets).
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it stops working at once.
    Revoke {
        #[command(flatten)]
        store: StoreArgs,
        key_id: String,
    },
    /// Issue an AWS access key pair for a key (for the Rekognition-compatible API); the secret is shown once.
    AwsCredentials {
        #[command(flatten)]
        store: StoreArgs,
        key_id: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExternalIdFrom {
    /// The file name without its extension.
    Stem,
    /// The name of the folder holding the file (e.g. LFW's `<Name>/<Name>_0001.jpg`).
    Dir,
}

#[derive(Debug, Clone, Args)]
pub struct EnrollArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The collection (created when missing).
    #[arg(long)]
    pub collection: String,
    /// Images, or a file listing image paths one per line with `--list`.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// Read image paths from these files (one per line) instead.
    #[arg(long)]
    pub list: bool,
    /// The external id of every face enrolled.
    #[arg(long, conflicts_with = "external_id_from")]
    pub external_id: Option<String>,
    /// Derive each face's external id from its path.
    #[arg(long, value_enum)]
    pub external_id_from: Option<ExternalIdFrom>,
    /// Enroll faces below the quality bar too.
    #[arg(long)]
    pub no_quality_filter: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BenchFillArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The collection (created when missing).
    #[arg(long)]
    pub collection: String,
    /// Templates to add.
    #[arg(long)]
    pub count: usize,
    /// Seed of the random templates.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[arg(long)]
    pub collection: String,
    /// Probe images (or files listing them with `--list`).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[arg(long)]
    pub list: bool,
    /// Matches per probe.
    #[arg(long, default_value_t = 5)]
    pub max_results: usize,
    /// Calibrated similarity 0-100 a match must reach [default: the configured match threshold].
    #[arg(long)]
    pub threshold: Option<f32>,
    /// One JSON object per probe, one per line.
    #[arg(long)]
    pub json: bool,
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
    /// 1:N identification: enroll one image of each identity with two or more images in the pairs file,
    /// search with another image of each, report rank-1 / rank-5.
    Identify {
        #[command(flatten)]
        data: LfwData,
        #[arg(long)]
        json: bool,
    },
    /// Passive anti-spoofing on labelled images (`path,label[,...]` with label `live` or `spoof`): APCER,
    /// BPCER, ACER at the threshold, AUC, BPCER at APCER 1 % and 5 %. Needs the MiniFASNet weights in
    /// --models-dir.
    Pad {
        /// The labels CSV (NUAA or replay format).
        #[arg(long)]
        labels: PathBuf,
        /// The folder the CSV's paths are relative to [default: the CSV's folder].
        #[arg(long)]
        root: Option<PathBuf>,
        /// The images are face crops already: score the whole image instead of a detected face.
        #[arg(long)]
        crops: bool,
        /// Real when the ensemble's real probability reaches this [default: the service's default].
        #[arg(long)]
        threshold: Option<f32>,
        /// Also write each image's score to this CSV (`path,label,score`), e.g. to calibrate a threshold.
        #[arg(long, value_name = "FILE")]
        scores: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Smile detection on labelled images (GENKI format: `file,smile,...` with smile 1/0): accuracy, AUC.
    Smile {
        #[arg(long)]
        labels: PathBuf,
        #[arg(long)]
        root: Option<PathBuf>,
        /// Smiling when the smile probability reaches this [default: the service's].
        #[arg(long)]
        threshold: Option<f32>,
        /// Write each image's smile probability to this CSV.
        #[arg(long, value_name = "FILE")]
        scores: Option<PathBuf>,
        /// Write each image's smile cues (what the smile probability combines) to this CSV, the input of
        /// `scripts/fit_smile.py`.
        #[arg(long, value_name = "FILE")]
        cues: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Eyes closed vs open on labelled images (Yale format: `path,subject,condition`; closed = `sleepy`, open
    /// = `normal`, `happy`, `glasses`, `noglasses`; `wink` reported apart): accuracy, AUC.
    Blink {
        #[arg(long)]
        labels: PathBuf,
        #[arg(long)]
        root: Option<PathBuf>,
        /// Closed when the eyes' mean aspect ratio is below this [default: the service's].
        #[arg(long)]
        threshold: Option<f32>,
        #[arg(long, value_name = "FILE")]
        scores: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Mouth open and expressions on Yale's posed faces (`path,subject,condition`): mouth open = `surprised`,
    /// closed = `normal` (accuracy, AUC); the expression network's most likely class per condition (`normal`:
    /// neutral, `happy`, `sad`, `surprised`).
    Expressions {
        #[arg(long)]
        labels: PathBuf,
        #[arg(long)]
        root: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Head pose: the signs of yaw, pitch and roll on the insightface pose samples, and the yaw, pitch and roll
    /// errors on GENKI's labels.
    Pose {
        /// The folder of `left_face`, `right_face`, `rise_face`, `lower_face`, `*_wryneck` images.
        #[arg(long)]
        samples: PathBuf,
        /// GENKI labels (`file,smile,yaw_rad,pitch_rad,roll_rad`) for the angle errors.
        #[arg(long)]
        genki: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Presentation attacks per type (printed photos, screen replays, stills, slideshows, slid and turned
    /// photos, replayed and reordered sessions, switches, splices) and genuine sessions from the shared data,
    /// through the service's session engine: APCER per type, BPCER, non-response, confidence — with the
    /// passive model (from --models-dir) and without it; and the liveness stream's attacks (`eval stream`).
    /// Reads the videos with `ffmpeg`.
    Attacks {
        /// The shared data folder (`replay/`, `nuaa/`, `yale/`, `lfw/`).
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// Include every session's outcome in the JSON.
        #[arg(long)]
        sessions: bool,
        /// Exit non-zero when a figure is worse than the project's ceilings (what CI runs): APCER per attack
        /// type and BPCER with the passive model, no success without it, no confidence overlap.
        #[arg(long)]
        check: bool,
        /// Keep the frames' measurements in FILE and reuse them while the frames are the same (for iterating
        /// on the session rules; delete the file after changing how frames are measured).
        #[arg(long, value_name = "FILE")]
        measurements: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The liveness stream's approach challenge (Amplify's FaceMovementChallenge) on the shared genuine
    /// approach clips and the stream's attacks (zoomed and turned stills, a screen replay, frames out of
    /// order), each encoded as a browser records it (VP8 WebM, with `ffmpeg`) and decoded by the server's
    /// decoder: APCER per attack type and BPCER.
    Stream {
        /// The shared data folder (`approach/`).
        #[arg(long, default_value = "../shared/data")]
        data: PathBuf,
        /// Exit non-zero when an attack type is accepted at all or BPCER exceeds 5 %.
        #[arg(long)]
        check: bool,
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
    /// Scale every image so that its long side is this many pixels and detect as a comparison of photos
    /// does (the largest face, coarse to fine): LFW's 250x250 crops as camera-sized photos.
    #[arg(long, value_name = "PIXELS")]
    pub photo_size: Option<u32>,
}
