//! Opening the service: models, store, indexes, signing keys and passive anti-spoofing loaded into one
//! [`AppState`] — what the HTTP server serves and what the CLI's store commands (`enroll`, `search`, `keys`) run
//! their use cases on.

use std::sync::Arc;
use std::time::Instant;

use crate::config::{ConfigError, ServerConfig};
use crate::indexes::Indexes;
use crate::login_tokens;
use crate::metrics::Metrics;
use crate::pool::InferencePool;
use crate::state::{self, AppState, Shared};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("loading the models: {0}")]
    Models(#[from] vision::VisionError),
    #[error("loading the anti-spoofing models: {0}")]
    Passive(String),
    #[error("opening the store: {0}")]
    Store(#[from] store::StoreError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

/// The anti-spoofing networks from the models directory. Missing weights leave passive liveness unavailable
/// (everything else works); weights that are present but wrong stop the start.
async fn load_passive(config: &ServerConfig) -> Result<Result<Arc<antispoof::PassiveLiveness>, String>, ServerError> {
    let Some(dir) = config.models_dir.clone() else {
        return Ok(Err("passive liveness needs the MiniFASNet weights: set models_dir to a folder holding \
                       2.7_80x80_MiniFASNetV2.pth and 4_0_0_80x80_MiniFASNetV1SE.pth"
            .into()));
    };
    let kind = config.backend;
    let loaded = tokio::task::spawn_blocking(move || {
        let backend = vision::runtime::make_backend(kind, 1)?;
        antispoof::PassiveLiveness::load(&dir, backend.as_ref())
    })
    .await
    .map_err(|e| ServerError::Io {
        context: "loading the anti-spoofing models".into(),
        source: std::io::Error::other(e),
    })?;
    match loaded {
        Ok(p) => {
            tracing::info!("passive liveness models loaded");
            Ok(Ok(Arc::new(p)))
        }
        Err(antispoof::AntispoofError::ModelUnavailable { .. }) => {
            let why = loaded.err().map(|e| e.to_string()).unwrap_or_default();
            Ok(Err(why))
        }
        Err(e) => Err(ServerError::Passive(e.to_string())),
    }
}

/// Loads the models, opens (and migrates) the store, loads the indexes and the signing keys. Nothing follows
/// other replicas' writes yet and nothing listens: the server starts that.
/// `s3` makes the client of an S3-compatible service (`s3::connect`): the program brings it, since the core carries
/// no HTTP client; `None` keeps a configured bucket unreachable (a configuration error).
pub async fn open(config: ServerConfig, s3: Option<store::S3Connector>) -> Result<AppState, ServerError> {
    open_with(config, s3, true).await
}

async fn open_with(
    config: ServerConfig,
    s3: Option<store::S3Connector>,
    with_passive: bool,
) -> Result<AppState, ServerError> {
    config.validate()?;
    let model = config.model;
    if config.database.is_none() {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::Io {
            context: format!("creating the data directory {}", config.data_dir.display()),
            source,
        })?;
    }
    let pipeline_config = config.pipeline_config();
    let started = Instant::now();
    let pipeline = tokio::task::spawn_blocking(move || vision::FacePipeline::new(pipeline_config))
        .await
        .map_err(|e| ServerError::Io { context: "loading the models".into(), source: std::io::Error::other(e) })??;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        engine = %pipeline.engine(),
        requested = %pipeline.engine().requested,
        "models loaded"
    );
    let blobs = config.blobs(s3)?;
    let store = store::Store::open(&config.database_url(), config.db_connections).await?.with_blobs(blobs);
    tracing::info!(store = store.dialect().name(), images = %store.blobs().describe(), "store open");
    // Orphaned uploads of a process that died, and deletions it left unfinished.
    match store.sweep_objects().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(objects = n, "swept pending objects"),
        Err(e) => tracing::warn!(error = %e, "sweeping pending objects failed (retried with the housekeeping)"),
    }
    // The users' faces live in an internal collection of the running model.
    let users_model = store
        .ensure_collection(&store::NewCollection {
            collection_id: store::USERS_COLLECTION.into(),
            description: Some("faces of face-login users".into()),
            model: model.id().into(),
            dimension: model.dimension(),
        })
        .await?;
    if users_model != model.id() {
        tracing::warn!(stored = %users_model, running = model.id(), "users were registered with another model: face login is unavailable");
    }
    let keyring = Arc::new(login_tokens::Keyring::load(store.clone(), &config).await?);
    let passive = if with_passive {
        load_passive(&config).await?
    } else {
        Err("passive liveness is not loaded for this command".to_string())
    };
    if passive.is_err() && with_passive {
        let status = state::passive_liveness_status(&passive, config.liveness_allow_challenge_only);
        tracing::warn!("PASSIVE ANTI-SPOOFING IS OFF: {status}");
    }
    let indexes = Arc::new(Indexes::load(store.clone(), model.dimension()).await?);
    let pool = InferencePool::new(config.worker_count(), config.queue);
    Ok(AppState::new(Shared {
        config,
        pipeline,
        pool,
        store,
        indexes,
        metrics: Metrics::default(),
        model,
        keyring,
        key_limiter: auth::RateLimiter::new(100_000),
        ip_limiter: auth::RateLimiter::new(100_000),
        frame_limiter: auth::RateLimiter::new(100_000),
        passive,
        turns: Default::default(),
    }))
}

/// The service for a one-off command's stateless use cases (detect, compare, analyse), with `config`'s models,
/// engine, thresholds and limits, on a store held in memory that ends with the process: nothing is read from or
/// written to the configured database, data directory or bucket, and no passive anti-spoofing is loaded.
pub async fn open_in_memory(mut config: ServerConfig) -> Result<AppState, ServerError> {
    config.database = Some("sqlite::memory:".into());
    config.db_connections = 1;
    config.blob_store = crate::config::BlobStore::Database;
    open_with(config, None, false).await
}

/// Stops the inference workers (after the work they hold) and closes the store.
pub async fn close(state: AppState) {
    let pool_state = state.clone();
    let _ = tokio::task::spawn_blocking(move || pool_state.pool.shutdown()).await;
    state.store.close().await;
}

/// The store as a readiness probe reports it: `"<dialect> ok"`, or why it is unreachable (a database that does not
/// answer within 2 s is unreachable: a probe must answer quickly).
pub async fn store_health(app: &AppState) -> Result<String, String> {
    let name = app.store.dialect().name();
    match tokio::time::timeout(std::time::Duration::from_secs(2), app.store.ping()).await {
        Ok(Ok(())) => Ok(format!("{name} ok")),
        Ok(Err(e)) => Err(format!("{name} unreachable: {e}")),
        Err(_) => Err(format!("{name} unreachable: no answer within 2 s")),
    }
}

/// One round of each replica's housekeeping: liveness sessions past their retention (with their replay prints and
/// privacy-mode templates), and bucket objects left pending by failed or unfinished writes. Failures are logged
/// and retried on the next round.
pub async fn housekeeping(app: &AppState) {
    match crate::usecases::liveness_sessions::sweep(app).await {
        Ok(0) => {}
        Ok(n) => tracing::debug!(sessions = n, "liveness sessions swept"),
        Err(e) => tracing::warn!(error = %e.message, "sweeping liveness sessions failed"),
    }
    if let Err(e) = app.store.sweep_objects().await {
        tracing::warn!(error = %e, "sweeping pending objects failed");
    }
}
