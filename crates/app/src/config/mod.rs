//! The server's configuration, in one place: defaults < `facegate.toml` < `FACEGATE_*` environment < flags.
//! This struct is the one declaration of every setting: it holds the defaults and reads the file, and
//! [`layers`] lays settings given as text (a variable, a `--set` flag) over it by the fields' own names.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vision::runtime::BackendKind;

mod layers;
pub use layers::{Origin, TextSetting, ENV_PREFIX, SECRET_KEYS};
use vision::{DecodeLimits, EmbeddingModel, PipelineConfig};

/// The default of `liveness_min_depth`, calibrated with `facegate eval attacks` (see the README).
pub const DEFAULT_MIN_DEPTH: f32 = 0.06;

/// A drop-in route that may be opened to callers without a key (`open_routes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenRoute {
    /// Face Lock's `POST /register/`.
    FacelockRegister,
    /// Face login without a key, on every door: `POST /v1/auth/face-login` and Face Lock's `POST /verify/` (once
    /// named `facelock_verify`, still accepted). Closed, both need a key (a backend's).
    #[serde(alias = "facelock_verify")]
    FaceLogin,
    /// The nose challenge's `POST /start` (its web client calls it from the browser).
    NoseChallengeStart,
}

/// How face-login tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenAlgorithm {
    /// Ed25519 keys kept in the store (rotated with the admin API; others check tokens with the JWKS).
    #[default]
    EdDsa,
    /// HMAC-SHA256 with the configured `token_secret`.
    Hs256,
}

impl std::str::FromStr for TokenAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "EdDSA" => Ok(TokenAlgorithm::EdDsa),
            "HS256" => Ok(TokenAlgorithm::Hs256),
            other => Err(format!("unknown token algorithm {other:?} (EdDSA, HS256)")),
        }
    }
}

impl std::fmt::Display for TokenAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenAlgorithm::EdDsa => "EdDSA",
            TokenAlgorithm::Hs256 => "HS256",
        })
    }
}

/// Where stored images go: `database` (rows of the database, the default) or `s3://BUCKET/PREFIX` (an
/// S3-compatible bucket, reached with the `s3_*` settings).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum BlobStore {
    #[default]
    Database,
    S3 {
        bucket: String,
        /// Without leading or trailing `/`; may be empty.
        prefix: String,
    },
}

impl std::str::FromStr for BlobStore {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "database" {
            return Ok(BlobStore::Database);
        }
        let rest = s.strip_prefix("s3://").ok_or_else(|| format!("{s:?}: use database or s3://BUCKET/PREFIX"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !store::valid_bucket_name(bucket) {
            return Err(format!("{bucket:?} is not an S3 bucket name (3-63 characters of a-z 0-9 . -)"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix.split('/').any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty()))
            || prefix.chars().any(|c| c.is_control())
        {
            return Err(format!("{prefix:?} is not an object key prefix"));
        }
        Ok(BlobStore::S3 { bucket: bucket.to_string(), prefix: prefix.to_string() })
    }
}

impl std::fmt::Display for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobStore::Database => f.write_str("database"),
            BlobStore::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            BlobStore::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// Settings that are names in the file and typed values in the program: parsed once, when the file is read.
mod as_text {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<T: std::fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

/// A liveness stream's oval pinned by the operator: `x,y,width,height`, its bounding box in normalised frame
/// coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamOval(pub liveness::Target);

impl StreamOval {
    pub fn target(&self) -> liveness::Target {
        self.0
    }
}

impl TryFrom<String> for StreamOval {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let v: Vec<f32> = text
            .split(',')
            .map(|p| p.trim().parse::<f32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("{text:?} is not four numbers x,y,width,height"))?;
        let [x, y, width, height] = v[..] else { return Err(format!("{text:?} is not four numbers x,y,width,height")) };
        let t = liveness::Target { x, y, width, height };
        if !t.is_valid() {
            return Err(format!("{text:?} does not lie in the frame (0..1)"));
        }
        Ok(StreamOval(t))
    }
}

impl From<StreamOval> for String {
    fn from(o: StreamOval) -> String {
        let t = o.0;
        format!("{},{},{},{}", t.x, t.y, t.width, t.height)
    }
}

/// A colour of a pinned light sequence: `rrggbb` in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamColour(pub [u8; 3]);

impl TryFrom<String> for StreamColour {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let hex = text.trim().trim_start_matches('#');
        let channel = |i: usize| hex.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (hex.len(), channel(0), channel(2), channel(4)) {
            (6, Some(r), Some(g), Some(b)) => Ok(StreamColour([r, g, b])),
            _ => Err(format!("{text:?} is not a colour rrggbb in hex")),
        }
    }
}

impl From<StreamColour> for String {
    fn from(c: StreamColour) -> String {
        let [r, g, b] = c.0;
        format!("{r:02x}{g:02x}{b:02x}")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "snake_case")]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// HTTPS: the server's certificate chain (PEM). With `tls_key`; unset: plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// HTTPS: the certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Directory for the SQLite database (and later local blobs).
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`; default: SQLite in `data_dir`.
    pub database: Option<String>,
    /// Directory searched for model files before the embedded copies.
    pub models_dir: Option<PathBuf>,
    /// Face embedding model: `sface` or `mobilefacenet`.
    #[serde(with = "as_text")]
    pub model: EmbeddingModel,
    /// Inference engine: `auto` (ONNX Runtime when its library is found, else tract), `tract` or `onnxruntime`.
    #[serde(with = "as_text")]
    pub backend: BackendKind,
    /// Inference worker threads (0 = one per core).
    pub workers: usize,
    /// Requests that may wait for a worker before new ones are refused with 503.
    pub queue: usize,
    /// Long side (pixels) images are scaled to before detection.
    pub detect_max_side: u32,
    /// Long side of the first, coarse detection pass where only the largest face matters (a selfie, a
    /// login, a liveness frame, one side of a comparison); 0 = always detect at `detect_max_side`.
    pub detect_coarse_side: u32,
    /// Long side for identity documents, whose portrait is small.
    pub document_max_side: u32,
    /// Minimum detection score (0..1).
    pub detect_score: f32,
    /// Default match threshold as a calibrated similarity 0-100 (60 = false match rate 1e-3 on LFW).
    pub match_threshold: f32,
    /// Largest image accepted, in bytes (after base64 decoding).
    pub max_image_bytes: usize,
    /// Largest image accepted, in pixels (decompression bombs are refused from the header).
    pub max_image_pixels: u64,
    /// How often (milliseconds) each replica applies the other replicas' writes to its index.
    pub sync_interval_ms: u64,
    /// Database connections in the pool.
    pub db_connections: u32,
    /// Where stored images (collection face images, liveness reference and audit images) go: `database`, or
    /// `s3://BUCKET/PREFIX` for an S3-compatible bucket. With a bucket, Rekognition's `S3Object` inputs and
    /// liveness `OutputConfig` work too (through the same endpoint and credentials).
    #[serde(with = "as_text")]
    pub blob_store: BlobStore,
    /// How long an image upload may take before its object counts as an orphan that the sweep deletes (when the
    /// process died before committing the row that names it), in seconds.
    pub blob_orphan_grace_seconds: u64,
    /// The S3-compatible endpoint (`AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`); none: AWS S3.
    pub s3_endpoint: Option<String>,
    /// The bucket's region (`AWS_REGION`, `AWS_DEFAULT_REGION`); default `us-east-1`.
    pub s3_region: Option<String>,
    /// Credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`); none: the S3 client's
    /// default chain (instance metadata, web identity).
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<Secret>,
    pub s3_session_token: Option<Secret>,
    /// Allow an `http://` endpoint that is not on loopback (loopback endpoints may always use http).
    pub s3_allow_http: bool,
    /// The buckets callers may name (Rekognition's `S3Object` inputs, liveness `OutputConfig`), through the
    /// server's S3 credentials; a key with its own bucket list is limited further to those. `*`: any bucket the
    /// credentials reach. Empty (the default): none. The server's own image store (`blob_store`'s bucket under its
    /// prefix, or the whole bucket without one) is never open to callers, admin keys included.
    pub s3_caller_buckets: Vec<String>,
    /// Passive liveness: a face is real when the MiniFASNet ensemble's score reaches this (0..1). 0.05 keeps
    /// APCER and BPCER under 1 % on webcam print attacks (NUAA); replayed screens need a stricter value (see
    /// the README's table).
    pub passive_threshold: f32,
    /// A smile when the smile probability (expression and mouth geometry combined) reaches this.
    pub smile_threshold: f32,
    /// Eyes closed when their mean openness (eyelid gap over eye width, refined eye contours) is below this.
    pub eye_closed_threshold: f32,
    /// Liveness sessions: lifetime from creation (seconds), and the time allowed per challenge.
    pub liveness_session_seconds: u64,
    pub liveness_challenge_seconds: u64,
    /// How long a finished session (its decision, reference and audit images) is kept, in seconds.
    pub liveness_retention_seconds: u64,
    /// Store no biometrics: no reference or audit images are kept, and a session's face template is dropped
    /// when it finishes; only decisions and scores remain.
    pub liveness_privacy: bool,
    /// Let liveness sessions (and `/v1/liveness/validate`) pass on their challenges alone when passive
    /// anti-spoofing is not installed. Off by default: without the MiniFASNet weights no session succeeds and
    /// nothing is reported live, since challenges alone are passed by photos.
    pub liveness_allow_challenge_only: bool,
    /// Head movements in a session must show depth: the landmarks' motion from the baseline left unexplained
    /// by a flat picture moved or turned, relative to the eye distance (0 turns the check off).
    pub liveness_min_depth: f32,
    /// A challenge completes on this accepted frame after its start at the earliest (3: 0.4 s at 5 frames a
    /// second), so that the movement is seen on its way and two photos cannot pass it.
    pub liveness_min_challenge_frames: u32,
    /// Consecutive frames of a session must be one camera's view of one scene (`liveness::scene`): a cut to
    /// other surroundings or a face jumping fails the session (`scene_cut`), and a face that is the frame
    /// before's picture again counts as a still. Off only where frames are not a camera's (tests driving
    /// sessions with separate photos): a slideshow of photos then goes unnoticed.
    pub liveness_scene_continuity: bool,
    /// How long the replay memory keeps the prints (rigid landmarks, no image) of liveness frames, in seconds:
    /// a frame whose face lies exactly where a frame of another session within this window had it is a
    /// recorded session sent again (0 turns the memory off).
    pub liveness_replay_window_seconds: u64,
    /// The Rekognition-compatible API's admin credentials (AWS SDKs sign with them): the access key id, and the
    /// secret (best from `FACEGATE_AWS_SECRET_ACCESS_KEY`). Without both, `POST /` refuses every request.
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<Secret>,
    /// The regions the Rekognition-compatible API accepts in a signature's credential scope (the SDK's
    /// `region_name`), e.g. `["eu-west-1"]`. Empty (the default): any well-formed region (lower-case letters,
    /// digits and dashes, such as `us-east-1`).
    pub aws_regions: Vec<String>,
    /// The challenges of liveness sessions created through the Rekognition API (`CreateFaceLivenessSession`
    /// has no parameter for them), e.g. `["blink", "turn_left"]`. Empty (the default): two at random, one a
    /// head turn.
    pub aws_liveness_challenges: Vec<liveness::Kind>,
    /// Pins the oval of every liveness stream (`x,y,width,height`, normalised; Rekognition Streaming's
    /// `OvalParameters`): a kiosk whose camera and stand never move, or a test whose recorded approach must end
    /// in it. Unset (the default): drawn at random per session.
    pub liveness_stream_oval: Option<StreamOval>,
    /// Pins the colour sequence of every light challenge (`rrggbb` each, 4 to 16, no colour twice in a row),
    /// for tests whose frames are lit by known colours. Unset (the default): drawn at random per session — a
    /// pinned sequence lets a recording made for it pass the light check.
    pub liveness_stream_colours: Vec<StreamColour>,
    /// Face login only after a liveness session that has just succeeded (`livenessSessionId`).
    pub login_requires_liveness: bool,
    /// Routes of the drop-in front doors that were open in their own systems and are open here only when listed
    /// (limited per client address): `facelock_register`, `face_login`, `nose_challenge_start`.
    pub open_routes: Vec<OpenRoute>,
    /// Liveness sessions started through an open route without a key (the nose challenge's start) that the
    /// store holds at once, running or finished, at most (429 beyond, until some end and are swept: they are kept
    /// at most 15 minutes after they end, and keep no images).
    pub anonymous_sessions_max: u32,
    /// Frames one client address may send per second, in bursts of up to 5 seconds' worth, to the liveness
    /// sessions that no key owns (429 beyond). Sessions a key created are limited by that key instead.
    pub anonymous_frames_per_second: f64,
    /// Frames without one usable face (none, several, too small, too poor) that fail a session.
    pub liveness_max_bad_frames: u32,
    /// The face's box must be at least this many pixels on its shorter side in liveness frames.
    pub liveness_min_face_px: f32,
    /// The admin API key (any string of 16 characters or more; best from `FACEGATE_ADMIN_KEY`): full access,
    /// including managing keys. Without one the server listens only on loopback and every caller is admin.
    pub admin_key: Option<Secret>,
    /// Origins allowed to call the API from a browser (CORS), e.g. `https://app.example.com`; `*` for any.
    /// None by default.
    pub cors_origins: Vec<String>,
    /// A header carrying the client's address, set by a trusted reverse proxy (e.g. `x-forwarded-for`: the
    /// last address in it is used). Unset: the connection's peer address.
    pub client_ip_header: Option<String>,
    /// Serve `/metrics` without a key (for scrapers inside a trusted network). Default: it needs the
    /// `metrics` scope once an admin key is set, since it reveals traffic and collection sizes.
    pub metrics_public: bool,
    /// A request's headers must arrive within this many seconds of the connection opening or of the previous
    /// response (so it is also how long an idle keep-alive connection stays open).
    pub http_header_timeout_seconds: u64,
    /// A request's whole body must arrive within this many seconds of its headers (else 408).
    pub http_body_timeout_seconds: u64,
    /// A client that reads nothing of a response for this many seconds is disconnected, as is a liveness
    /// WebSocket on which it sends nothing for as long.
    pub http_idle_timeout_seconds: u64,
    /// Open connections at most; 0: derived from the file-descriptor limit (three quarters of it, at most
    /// 16384). When full, a new connection replaces the one idle longest; 503 when every one is busy.
    pub max_connections: usize,
    /// Open connections from one address at most (429 beyond); 0: no cap. Not applied behind a reverse proxy
    /// (`client_ip_header` set), where every client shares the proxy's address.
    pub max_connections_per_address: usize,
    /// Per-client-address limit on requests without valid credentials and on the login routes: requests per
    /// second, and the burst above it.
    pub ip_rate_per_second: f64,
    pub ip_burst: u32,
    /// Lowest similarity a face login may be configured or asked for (80 = false match rate 1e-4 per user).
    pub login_threshold: f32,
    /// Lifetime of a face-login token, seconds.
    pub token_ttl_seconds: u64,
    /// `iss` and `aud` of face-login tokens.
    pub token_issuer: String,
    pub token_audience: String,
    /// `EdDSA` (Ed25519, key pair kept in the database, public keys at `/.well-known/jwks.json`) or `HS256`
    /// (with `token_secret`).
    #[serde(with = "as_text")]
    pub token_algorithm: TokenAlgorithm,
    /// The HS256 secret, 32 bytes or more (best from `FACEGATE_TOKEN_SECRET`).
    pub token_secret: Option<Secret>,
}

/// A secret setting: never printed (`Debug` and serialisation show `<redacted>`).
#[derive(Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let limits = DecodeLimits::default();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            data_dir: PathBuf::from("facegate-data"),
            database: None,
            models_dir: None,
            model: EmbeddingModel::default(),
            backend: BackendKind::Auto,
            workers: 0,
            queue: 64,
            detect_max_side: vision::DetectorConfig::default().max_side,
            detect_coarse_side: vision::DetectorConfig::default().coarse_side,
            document_max_side: 1600,
            detect_score: vision::DetectorConfig::default().score_threshold,
            match_threshold: vision::similarity::DEFAULT_SIMILARITY_THRESHOLD,
            max_image_bytes: limits.max_bytes,
            max_image_pixels: limits.max_pixels,
            sync_interval_ms: 250,
            db_connections: 8,
            blob_store: BlobStore::Database,
            blob_orphan_grace_seconds: 900,
            s3_endpoint: None,
            s3_region: None,
            s3_access_key_id: None,
            s3_secret_access_key: None,
            s3_session_token: None,
            s3_allow_http: false,
            s3_caller_buckets: Vec::new(),
            passive_threshold: 0.05,
            smile_threshold: vision::analysis::SMILE_THRESHOLD,
            eye_closed_threshold: vision::analysis::EYES_CLOSED_THRESHOLD,
            liveness_session_seconds: 180,
            liveness_challenge_seconds: 30,
            liveness_retention_seconds: 86_400,
            liveness_privacy: false,
            liveness_allow_challenge_only: false,
            liveness_min_depth: DEFAULT_MIN_DEPTH,
            liveness_min_challenge_frames: liveness::session::MIN_CHALLENGE_FRAMES,
            liveness_scene_continuity: true,
            liveness_replay_window_seconds: 86_400,
            aws_access_key_id: None,
            aws_secret_access_key: None,
            aws_regions: Vec::new(),
            aws_liveness_challenges: Vec::new(),
            liveness_stream_oval: None,
            liveness_stream_colours: Vec::new(),
            login_requires_liveness: false,
            open_routes: Vec::new(),
            anonymous_sessions_max: 1000,
            anonymous_frames_per_second: 10.0,
            liveness_max_bad_frames: 15,
            liveness_min_face_px: 64.0,
            admin_key: None,
            cors_origins: Vec::new(),
            metrics_public: false,
            http_header_timeout_seconds: 15,
            http_body_timeout_seconds: 60,
            http_idle_timeout_seconds: 60,
            max_connections: 0,
            max_connections_per_address: 100,
            client_ip_header: None,
            ip_rate_per_second: 2.0,
            ip_burst: 30,
            login_threshold: 80.0,
            token_ttl_seconds: 1800,
            token_issuer: "facegate".into(),
            token_audience: "facegate".into(),
            token_algorithm: TokenAlgorithm::EdDsa,
            token_secret: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
    /// A setting given as text (`origin`: the variable, or `--set`) that is not a value of its setting.
    #[error("{origin}: {message}")]
    Text { origin: String, message: String },
}

impl ServerConfig {
    /// The liveness criteria under this configuration (its smile and eye thresholds; the rest at the liveness
    /// crate's defaults): the one place they are built, for sessions, stills, one-image checks and every door.
    pub fn criteria(&self) -> liveness::Criteria {
        liveness::Criteria {
            smile_threshold: self.smile_threshold,
            eyes_closed_threshold: self.eye_closed_threshold,
            ..liveness::Criteria::default()
        }
    }

    /// Defaults overlaid with the TOML file at `path`.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })
    }

    /// The database URL: the configured one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        self.database.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("facegate.db").display()))
    }

    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            self.workers
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }

    /// Checks every value, so that a bad setting stops the start-up with its name.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| Err(ConfigError::Invalid { key, message: message.into() });
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid("tls_cert", "give both the certificate (tls_cert) and its key (tls_key), or neither");
        }
        if !(0.0..=100.0).contains(&self.match_threshold) {
            return invalid("match_threshold", "must lie in 0..100");
        }
        if !(0.0..=1.0).contains(&self.detect_score) {
            return invalid("detect_score", "must lie in 0..1");
        }
        if self.detect_max_side < 64 || self.document_max_side < 64 {
            return invalid("detect_max_side", "must be at least 64");
        }
        if self.detect_coarse_side != 0 && self.detect_coarse_side < 64 {
            return invalid("detect_coarse_side", "must be 0 (off) or at least 64");
        }
        if self.queue == 0 {
            return invalid("queue", "must be at least 1");
        }
        if self.max_image_bytes < 1024 || self.max_image_pixels < 4096 {
            return invalid("max_image_bytes", "limits are too small to hold a face");
        }
        if self.sync_interval_ms == 0 {
            return invalid("sync_interval_ms", "must be at least 1");
        }
        if let Some(key) = &self.admin_key {
            if key.expose().len() < 16 {
                return invalid("admin_key", "must be at least 16 characters");
            }
        } else if !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                key: "admin_key",
                message: format!(
                    "listening on {} (beyond this machine) needs an admin key: set FACEGATE_ADMIN_KEY or admin_key",
                    self.listen
                ),
            });
        }
        if !(1..=50).contains(&self.liveness_min_challenge_frames) {
            return invalid("liveness_min_challenge_frames", "must lie in 1..=50");
        }
        if self.liveness_replay_window_seconds > 90 * 86_400 {
            return invalid("liveness_replay_window_seconds", "must be at most 90 days");
        }
        if !(0.0..=0.5).contains(&self.liveness_min_depth) {
            return invalid("liveness_min_depth", "must lie in 0..0.5");
        }
        if !(0.0..=1.0).contains(&self.passive_threshold) {
            return invalid("passive_threshold", "must lie in 0..1");
        }
        if !(10..=3600).contains(&self.liveness_session_seconds) {
            return invalid("liveness_session_seconds", "must lie between 10 seconds and an hour");
        }
        if !(1..=self.liveness_session_seconds).contains(&self.liveness_challenge_seconds) {
            return invalid("liveness_challenge_seconds", "must lie between 1 and the session's lifetime");
        }
        if self.liveness_retention_seconds < 60 {
            return invalid("liveness_retention_seconds", "must be at least 60 seconds");
        }
        if !(self.liveness_min_face_px.is_finite() && self.liveness_min_face_px >= 16.0) {
            return invalid("liveness_min_face_px", "must be at least 16 pixels");
        }
        for (key, value) in [
            ("http_header_timeout_seconds", self.http_header_timeout_seconds),
            ("http_body_timeout_seconds", self.http_body_timeout_seconds),
            ("http_idle_timeout_seconds", self.http_idle_timeout_seconds),
        ] {
            if !(1..=3600).contains(&value) {
                return invalid(key, "must lie between 1 second and an hour");
            }
        }
        if !(0.0..=100.0).contains(&self.login_threshold) {
            return invalid("login_threshold", "must lie in 0..100");
        }
        if !(self.ip_rate_per_second.is_finite() && self.ip_rate_per_second > 0.0) || self.ip_burst == 0 {
            return invalid("ip_rate_per_second", "the per-address limit must be positive");
        }
        if !(self.anonymous_frames_per_second.is_finite() && self.anonymous_frames_per_second >= 0.2) {
            return invalid("anonymous_frames_per_second", "must be 0.2 or more");
        }
        if self.anonymous_sessions_max == 0 {
            return invalid("anonymous_sessions_max", "must be 1 or more (close the open route instead)");
        }
        if !(60..=30 * 86_400).contains(&self.token_ttl_seconds) {
            return invalid("token_ttl_seconds", "must lie between 60 seconds and 30 days");
        }
        if self.token_algorithm == TokenAlgorithm::Hs256
            && self.token_secret.as_ref().is_none_or(|s| s.expose().len() < 32)
        {
            return invalid("token_secret", "HS256 needs a token_secret of at least 32 bytes");
        }
        if self.aws_liveness_challenges.len() > 6
            || self.aws_liveness_challenges.iter().any(|k| !liveness::SESSION_KINDS.contains(k))
        {
            return invalid(
                "aws_liveness_challenges",
                "at most 6 of turn_left, turn_right, blink, smile, nose_target, look_up, look_down",
            );
        }
        let colours = &self.liveness_stream_colours;
        if !colours.is_empty() && (!(4..=16).contains(&colours.len()) || colours.windows(2).any(|w| w[0] == w[1])) {
            return invalid("liveness_stream_colours", "4 to 16 colours, no colour twice in a row");
        }
        if self.aws_regions.iter().any(|r| !auth::sigv4::valid_region(r)) {
            return invalid(
                "aws_regions",
                "a region is lower-case letters, digits and dashes (at most 64), such as eu-west-1",
            );
        }
        for origin in &self.cors_origins {
            if origin != "*" && http::HeaderValue::from_str(origin).is_err() {
                return invalid(
                    "cors_origins",
                    "an origin must be a valid header value such as https://app.example.com",
                );
            }
        }
        store::Dialect::of_url(&self.database_url())
            .map_err(|e| ConfigError::Invalid { key: "database", message: e.to_string() })?;
        if self.s3_caller_buckets.iter().any(|b| b != "*" && !store::valid_bucket_name(b)) {
            return invalid("s3_caller_buckets", "a bucket name is 3-63 characters of a-z 0-9 . - (or * for any)");
        }
        if !(1..=7 * 86_400).contains(&self.blob_orphan_grace_seconds) {
            return invalid("blob_orphan_grace_seconds", "must lie between 1 second and 7 days");
        }
        // The S3 settings matter (and are checked) only with a bucket: AWS variables set for other tools must not
        // stop a server that keeps its images in the database.
        if self.blob_store != BlobStore::Database {
            self.s3_settings()?;
        }
        Ok(())
    }

    /// The S3-compatible service's endpoint and credentials.
    pub fn s3_settings(&self) -> Result<store::S3Settings, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid { key: "s3_endpoint", message };
        let mut allow_http = self.s3_allow_http;
        if let Some(endpoint) = &self.s3_endpoint {
            let url: http::Uri = endpoint.parse().map_err(|_| invalid(format!("{endpoint:?} is not a URL")))?;
            let host = url.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
            let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            match url.scheme_str() {
                Some("https") => {}
                Some("http") if loopback || allow_http => allow_http = true,
                Some("http") => {
                    return Err(invalid(format!(
                        "{endpoint} is plain http beyond this machine: use https, or set s3_allow_http"
                    )))
                }
                _ => return Err(invalid(format!("{endpoint:?}: the endpoint must be an http(s) URL"))),
            }
        }
        if let Some(region) = &self.s3_region {
            if !auth::sigv4::valid_region(region) {
                return Err(ConfigError::Invalid {
                    key: "s3_region",
                    message: "a region is lower-case letters, digits and dashes, such as eu-west-1".into(),
                });
            }
        }
        if self.s3_access_key_id.is_some() != self.s3_secret_access_key.is_some() {
            return Err(ConfigError::Invalid {
                key: "s3_access_key_id",
                message: "give both the access key id and the secret access key, or neither".into(),
            });
        }
        Ok(store::S3Settings {
            endpoint: self.s3_endpoint.clone(),
            region: self.s3_region.clone().unwrap_or_else(|| "us-east-1".into()),
            access_key_id: self.s3_access_key_id.clone(),
            secret_access_key: self.s3_secret_access_key.as_ref().map(|s| s.expose().to_string()),
            session_token: self.s3_session_token.as_ref().map(|s| s.expose().to_string()),
            allow_http,
        })
    }

    /// Where the store keeps images, as these settings say; a bucket is reached through the S3 client `connect`
    /// makes (the program's adapter, `s3::connect`).
    pub fn blobs(&self, connect: Option<store::S3Connector>) -> Result<store::Blobs, ConfigError> {
        match &self.blob_store {
            BlobStore::Database => Ok(store::Blobs::Database),
            BlobStore::S3 { bucket, prefix } => {
                let connect = connect.ok_or_else(|| ConfigError::Invalid {
                    key: "blob_store",
                    message: "this program was built without an S3 client: keep the images in the database".into(),
                })?;
                store::Blobs::s3(
                    connect(self.s3_settings()?),
                    bucket,
                    prefix,
                    std::time::Duration::from_secs(self.blob_orphan_grace_seconds),
                )
                .map_err(|e| ConfigError::Invalid { key: "blob_store", message: e.to_string() })
            }
        }
    }

    /// The face pipeline these settings describe; inference runs one thread per worker.
    pub fn pipeline_config(&self) -> PipelineConfig {
        let mut config = PipelineConfig {
            models_dir: self.models_dir.clone(),
            embedding_model: self.model,
            backend: self.backend,
            intra_op_threads: 1,
            ..PipelineConfig::default()
        };
        config.detector.max_side = self.detect_max_side;
        config.detector.coarse_side = self.detect_coarse_side;
        config.detector.score_threshold = self.detect_score;
        config.decode_limits.max_bytes = self.max_image_bytes;
        config.decode_limits.max_pixels = self.max_image_pixels;
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_rejects_unknown_keys() {
        let dir = std::env::temp_dir().join(format!("facegate-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("facegate.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\nworkers = 3\nmatch_threshold = 70.0\nadmin_key = \"from-the-file-0123456789\"\n",
        )
        .unwrap();
        let c = ServerConfig::from_file(&path).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.workers, 3);
        assert_eq!(c.match_threshold, 70.0);
        assert_eq!(c.queue, ServerConfig::default().queue);
        assert_eq!(c.admin_key.as_ref().map(Secret::expose), Some("from-the-file-0123456789"));
        c.validate().unwrap();

        std::fs::write(&path, "listne = \"0.0.0.0:9000\"\n").unwrap();
        assert!(matches!(ServerConfig::from_file(&path), Err(ConfigError::Parse { .. })));
        // Names are parsed into their typed values once, when the file is read: a bad one stops there, named.
        std::fs::write(&path, "model = \"mobilefacenet\"\nbackend = \"onnxruntime\"\ntoken_algorithm = \"HS256\"\n")
            .unwrap();
        let c = ServerConfig::from_file(&path).unwrap();
        assert_eq!(
            (c.model, c.backend, c.token_algorithm),
            (EmbeddingModel::Mobilefacenet, BackendKind::Onnxruntime, TokenAlgorithm::Hs256)
        );
        let printed = toml::to_string(&c).unwrap();
        assert!(
            printed.contains("model = \"mobilefacenet\"") && printed.contains("token_algorithm = \"HS256\""),
            "{printed}"
        );
        for (key, bad) in [("model", "facenet"), ("backend", "cuda"), ("token_algorithm", "RS256")] {
            std::fs::write(&path, format!("{key} = \"{bad}\"\n")).unwrap();
            match ServerConfig::from_file(&path) {
                Err(ConfigError::Parse { message, .. }) => assert!(message.contains(bad), "{message}"),
                other => panic!("{key} = {bad}: {other:?}"),
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn validation_names_the_bad_setting() {
        let bad = ServerConfig { match_threshold: 120.0, ..ServerConfig::default() };
        assert!(matches!(bad.validate(), Err(ConfigError::Invalid { key: "match_threshold", .. })));
        let bad = ServerConfig { database: Some("mysql://x".into()), ..ServerConfig::default() };
        assert!(matches!(bad.validate(), Err(ConfigError::Invalid { key: "database", .. })));
        let open = ServerConfig { listen: "0.0.0.0:8080".parse().unwrap(), ..ServerConfig::default() };
        assert!(matches!(open.validate(), Err(ConfigError::Invalid { key: "admin_key", .. })));
        let keyed = ServerConfig { admin_key: Some(Secret::new("a-long-enough-admin-key")), ..open };
        keyed.validate().unwrap();
        let weak = ServerConfig { admin_key: Some(Secret::new("short")), ..keyed.clone() };
        assert!(matches!(weak.validate(), Err(ConfigError::Invalid { key: "admin_key", .. })));
        let regions = ServerConfig { aws_regions: vec!["eu-west-1".into(), "us-gov-west-1".into()], ..keyed.clone() };
        regions.validate().unwrap();
        for bad in ["", "EU-WEST-1", "eu west 1"] {
            let bad = ServerConfig { aws_regions: vec!["eu-west-1".into(), bad.into()], ..keyed.clone() };
            assert!(matches!(bad.validate(), Err(ConfigError::Invalid { key: "aws_regions", .. })));
        }
        let hs = ServerConfig { token_algorithm: TokenAlgorithm::Hs256, ..keyed };
        assert!(matches!(hs.validate(), Err(ConfigError::Invalid { key: "token_secret", .. })));
    }

    #[test]
    fn blob_stores_and_s3_endpoints() {
        assert_eq!("database".parse::<BlobStore>(), Ok(BlobStore::Database));
        let s3: BlobStore = "s3://faces/fg/prod/".parse().unwrap();
        assert_eq!(s3, BlobStore::S3 { bucket: "faces".into(), prefix: "fg/prod".into() });
        assert_eq!(s3.to_string(), "s3://faces/fg/prod");
        assert_eq!("s3://faces".parse::<BlobStore>().unwrap().to_string(), "s3://faces");
        for bad in ["s3://Faces/x", "file:///tmp", "s3://faces/a//b", "s3://faces/../x", "s3://ab"] {
            assert!(bad.parse::<BlobStore>().is_err(), "{bad}");
        }
        let local = ServerConfig { s3_endpoint: Some("http://127.0.0.1:9000".into()), ..ServerConfig::default() };
        assert!(local.s3_settings().unwrap().allow_http);
        let remote = ServerConfig { s3_endpoint: Some("http://minio.internal:9000".into()), ..ServerConfig::default() };
        assert!(matches!(remote.s3_settings(), Err(ConfigError::Invalid { key: "s3_endpoint", .. })));
        let allowed = ServerConfig { s3_allow_http: true, ..remote };
        assert!(allowed.s3_settings().unwrap().allow_http);
        let half = ServerConfig { s3_access_key_id: Some("AKID".into()), ..ServerConfig::default() };
        half.validate().expect("S3 settings do not matter without a bucket");
        let half = ServerConfig { blob_store: s3.clone(), ..half };
        assert!(matches!(half.validate(), Err(ConfigError::Invalid { key: "s3_access_key_id", .. })));
        let secret = ServerConfig {
            s3_access_key_id: Some("AKID".into()),
            s3_secret_access_key: Some(Secret::new("s3-very-secret")),
            blob_store: s3,
            ..ServerConfig::default()
        };
        assert!(!format!("{secret:?}").contains("s3-very-secret"));
        assert!(!format!("{:?}", secret.s3_settings().unwrap()).contains("s3-very-secret"));
        // A bucket needs the program's S3 client (the core has none of its own).
        assert!(matches!(secret.blobs(None), Err(ConfigError::Invalid { key: "blob_store", .. })));
        assert!(matches!(ServerConfig::default().blobs(None), Ok(store::Blobs::Database)));
    }

    #[test]
    fn secrets_are_never_printed() {
        let c = ServerConfig { admin_key: Some(Secret::new("super-secret-admin-key")), ..ServerConfig::default() };
        assert!(!format!("{c:?}").contains("super-secret"));
        let text = toml::to_string(&c).unwrap();
        assert!(!text.contains("super-secret") && text.contains("<redacted>"));
    }
}
