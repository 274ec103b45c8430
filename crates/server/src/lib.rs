//! The Facegate HTTP API (axum): face endpoints, collections, probes, metrics and the OpenAPI docs.
//!
//! `run` loads the models, opens the store, loads the indexes, and serves until the shutdown future
//! resolves; then in-flight requests finish before it returns.

pub mod config;
pub mod dto;
pub mod error;
pub mod indexes;
pub mod input;
pub mod metrics;
pub mod openapi;
pub mod pool;
pub mod routes;
pub mod state;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

pub use config::{ConfigError, ServerConfig};
use error::ApiError;
use indexes::Indexes;
use metrics::Metrics;
use pool::InferencePool;
use routes::{collections, faces, ops};
use state::{AppState, Shared};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("loading the models: {0}")]
    Models(#[from] vision::VisionError),
    #[error("opening the store: {0}")]
    Store(#[from] store::StoreError),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The routes with their middleware.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/detect", post(faces::detect))
        .route("/v1/compare", post(faces::compare))
        .route("/v1/verify-id", post(faces::verify_id))
        .route("/v1/collections", post(collections::create_collection).get(collections::list_collections))
        .route("/v1/collections/{id}", get(collections::get_collection).delete(collections::delete_collection))
        .route("/v1/collections/{id}/faces", post(collections::index_faces).get(collections::list_faces))
        .route("/v1/collections/{id}/faces/delete", post(collections::delete_faces))
        .route("/v1/collections/{id}/faces/{face}", get(collections::get_face).delete(collections::delete_face))
        .route("/v1/collections/{id}/faces/{face}/image", get(collections::get_face_image))
        .route("/v1/collections/{id}/faces/{face}/search", post(collections::search_by_face))
        .route("/v1/collections/{id}/search", post(collections::search))
        .route("/health", get(ops::health))
        .route("/ready", get(ops::ready))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi_json))
        .route("/docs", get(ops::docs_page))
        .route("/docs/{file}", get(ops::docs_asset))
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .fallback(|| async { ApiError::not_found("not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        // Bodies are read (with the configured limit) by the extractors in `input`.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("handler panicked", "see the log").into_response()
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Counts and times every request per route, and logs it with its request id.
async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |m| m.as_str()).to_string();
    let method = request.method().clone();
    let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    app.metrics.observe_request(&route, method.as_str(), status, elapsed.as_secs_f64());
    tracing::info!(
        request_id,
        method = %method,
        route,
        status,
        ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    response
}

/// A server whose models, store and indexes are loaded, bound to its address.
pub struct Server {
    pub state: AppState,
    listener: tokio::net::TcpListener,
    follower: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Loads everything and binds the listener (port 0 picks a free port: see `local_addr`).
    pub async fn start(config: ServerConfig) -> Result<Self, ServerError> {
        config.validate()?;
        let model = config.embedding_model()?;
        if config.database.is_none() {
            std::fs::create_dir_all(&config.data_dir).map_err(|source| ServerError::Io {
                context: format!("creating the data directory {}", config.data_dir.display()),
                source,
            })?;
        }
        let pipeline_config = config.pipeline_config()?;
        let started = Instant::now();
        let pipeline =
            tokio::task::spawn_blocking(move || vision::FacePipeline::new(pipeline_config)).await.map_err(|e| {
                ServerError::Io { context: "loading the models".into(), source: std::io::Error::other(e) }
            })??;
        tracing::info!(ms = started.elapsed().as_millis() as u64, backend = pipeline.backend(), "models loaded");
        let store = store::Store::open(&config.database_url(), config.db_connections).await?;
        tracing::info!(store = store.dialect().name(), "store open");
        let indexes = Arc::new(Indexes::load(store.clone(), model.dimension()).await?);
        let follower = indexes.follow(Duration::from_millis(config.sync_interval_ms));
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Io { context: format!("listening on {}", config.listen), source })?;
        let pool = InferencePool::new(config.worker_count(), config.queue);
        // Plan the common input shapes on every worker's models in the background: the first requests then run
        // at steady-state speed.
        let warm = pipeline.clone();
        tokio::task::spawn_blocking(move || match warm.warm_up() {
            Ok(took) => tracing::info!(ms = took.as_millis() as u64, "models warmed up"),
            Err(e) => tracing::warn!(error = %e, "warm-up failed (requests will plan their own shapes)"),
        });
        let state =
            AppState::new(Shared { config, pipeline, pool, store, indexes, metrics: Metrics::default(), model });
        Ok(Server { state, listener, follower })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then stops the workers.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let Server { state, listener, follower } = self;
        let app = router(state.clone());
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
        follower.abort();
        let pool_state = state.clone();
        let _ = tokio::task::spawn_blocking(move || pool_state.pool.shutdown()).await;
        state.store.close().await;
        tracing::info!("stopped");
        served.map_err(|source| ServerError::Io { context: "serving".into(), source })
    }
}
