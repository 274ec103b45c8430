//! The Facegate HTTP API (axum): face endpoints, collections, probes, metrics and the OpenAPI docs.
//!
//! `run` loads the models, opens the store, loads the indexes, and serves until the shutdown future
//! resolves; then in-flight requests finish before it returns.

pub mod access;
pub mod compat;
pub mod connections;
pub mod dto;
pub mod http_error;
pub mod input;
pub mod liveness_dto;
pub mod openapi;
pub mod rekognition;
pub mod routes;
pub mod streaming;
pub mod text_input;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderName;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::http_error::ErrorAnswer;
use app::error::{ApiError, Code};
use app::state::AppState;
pub use app::{ConfigError, ServerConfig, ServerError};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The routes with their middleware.
pub fn router(state: AppState) -> Router {
    // Each route carries its own access layer (see `routes::table`); `observe` wraps them all.
    let all = routes::all();
    // Answers no route gave (no such path or method, a path refused before routing) under a front door come in
    // that door's error shape, as its routes' own errors do.
    let doors = all.door_shapes();
    let document = routes::ops::OpenApiJson(openapi::document().into());
    let router = all
        .into_router(&state)
        .layer(axum::Extension(document))
        // A route layer runs after routing: `observe` sees every routed answer, access control's too.
        .route_layer(middleware::from_fn_with_state(state.clone(), observe))
        .fallback(|| async { http_error::HttpError(ApiError::new(Code::NotFound, "no such endpoint")) })
        .method_not_allowed_fallback(|| async {
            http_error::HttpError(ApiError::new(Code::MethodNotAllowed, "this endpoint does not take that method"))
        })
        // Bodies are read (with the configured limit) by the extractors in `input`, which check their text;
        // the path's text is checked by each route, after its access control (`routes::table`).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let doors = doors.clone();
            async move {
                let path = request.uri().path().to_string();
                doors.dress(&path, next.run(request).await)
            }
        }))
        .layer(CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::internal("handler panicked", "see the log").into_response()
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    let router = security_headers(router);
    let router = match cors(&state.config.cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router.with_state(state)
}

/// Headers every response carries unless its handler set its own (the docs page sets its own CSP): no
/// sniffing, no framing, no referrer, and no caching of answers that may hold biometric data.
fn security_headers(router: Router<AppState>) -> Router<AppState> {
    use axum::http::{header, HeaderValue};
    use tower_http::set_header::SetResponseHeaderLayer;
    let set = |name: HeaderName, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "no-referrer"))
        .layer(set(header::CACHE_CONTROL, "no-store"))
        .layer(set(header::CONTENT_SECURITY_POLICY, "default-src 'none'; frame-ancestors 'none'"))
        .layer(set(HeaderName::from_static("cross-origin-opener-policy"), "same-origin"))
}

/// CORS for the configured origins; none configured: no CORS headers (browsers then refuse cross-origin calls).
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{header, HeaderValue, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            // Every method a route answers: the nose challenge's browser client PUTs its frames.
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("x-api-key"),
                REQUEST_ID,
            ])
            .expose_headers([REQUEST_ID, header::RETRY_AFTER])
            .max_age(Duration::from_secs(600)),
    )
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

/// How often each replica sweeps liveness sessions (retention, replay prints, privacy-mode templates).
const SESSION_SWEEP_INTERVAL: Duration = Duration::from_secs(30);

async fn sweep_sessions(state: AppState) {
    let mut every = tokio::time::interval(SESSION_SWEEP_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        app::service::housekeeping(&state).await;
    }
}

/// A server whose models, store and indexes are loaded, bound to its address.
pub struct Server {
    pub state: AppState,
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    follower: tokio::task::JoinHandle<()>,
    key_follower: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Loads everything and binds the listener (port 0 picks a free port: see `local_addr`).
    pub async fn start(config: ServerConfig) -> Result<Self, ServerError> {
        // The certificate first: a bad one stops the start before the models load.
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).map_err(|e| ServerError::Io {
                context: "setting up HTTPS".into(),
                source: std::io::Error::other(e),
            })?),
            _ => None,
        };
        let state = app::service::open(config, Some(s3::connect)).await?;
        let config = &state.config;
        if config.admin_key.is_none() {
            tracing::warn!(listen = %config.listen, "no admin key: every caller is admin (loopback only); set FACEGATE_ADMIN_KEY to require keys");
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Io { context: format!("listening on {}", config.listen), source })?;
        let key_follower = state.keyring.follow();
        let follower = state.indexes.follow(Duration::from_millis(config.sync_interval_ms));
        // Plan the common input shapes on every worker's models in the background: the first requests then run
        // at steady-state speed.
        let warm = state.pipeline.clone();
        tokio::task::spawn_blocking(move || match warm.warm_up() {
            Ok(took) => tracing::info!(ms = took.as_millis() as u64, "models warmed up"),
            Err(e) => tracing::warn!(error = %e, "warm-up failed (requests will plan their own shapes)"),
        });
        Ok(Server { state, listener, tls, follower, key_follower })
    }

    /// The routes over this server's state, for calling in process (the fuzzer drives requests through it).
    pub fn app(&self) -> Router {
        router(self.state.clone())
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// `https` with a certificate (`tls_cert`), else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then stops the workers.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let Server { state, listener, tls, follower, key_follower } = self;
        let housekeeping = tokio::spawn(sweep_sessions(state.clone()));
        let limits = connections::ConnectionLimits::from_config(&state.config);
        let served = connections::serve(listener, router(state.clone()), limits, tls, shutdown).await;
        follower.abort();
        key_follower.abort();
        housekeeping.abort();
        app::service::close(state).await;
        tracing::info!("stopped");
        served.map_err(|source| ServerError::Io { context: "serving".into(), source })
    }
}
