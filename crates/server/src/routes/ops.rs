//! Operations: liveness and readiness probes, Prometheus metrics, the OpenAPI document and its docs page
//! (Swagger UI embedded in the binary: no CDN).

use axum::extract::{Extension, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;

use crate::dto::{Health, Readiness};
use crate::http_error::ErrorAnswer;
use app::error::{ApiError, Code};
use app::state::AppState;

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;
use axum::http::Method;

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Models loaded and the store reachable: 200, else 503.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let (ready, store) = match app::service::store_health(&app).await {
        Ok(ok) => (true, ok),
        Err(why) => (false, why),
    };
    let body = Readiness {
        ready,
        store,
        passive_liveness: app.passive_liveness_status(),
        models: app.pipeline.models().iter().map(|m| m.id.to_string()).collect(),
        backend: app.pipeline.backend().to_string(),
        backend_library: app.pipeline.engine().library.clone(),
        backend_fallback: app.pipeline.engine().fallback.clone(),
        face_model: app.face_model(),
    };
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    let body = app.metrics.render(&app.gauges());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// The OpenAPI document as served, built from the route table when the router is (`crate::router` adds it as
/// an extension, so that this module, which the route table holds, does not reach back to the document's builder).
#[derive(Clone)]
pub struct OpenApiJson(pub bytes::Bytes);

pub async fn openapi_json(Extension(OpenApiJson(doc)): Extension<OpenApiJson>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc).into_response()
}

const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:";

pub async fn docs_page() -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, DOCS_CSP), (header::CACHE_CONTROL, "no-cache")],
        Html(include_str!("../../assets/docs.html")),
    )
        .into_response()
}

pub async fn docs_asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &str) = match file.as_str() {
        "swagger-ui-bundle.js" => {
            (include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"), "text/javascript; charset=utf-8")
        }
        "swagger-ui.css" => (include_bytes!("../../assets/swagger-ui/swagger-ui.css"), "text/css; charset=utf-8"),
        "docs.js" => (include_bytes!("../../assets/docs.js"), "text/javascript; charset=utf-8"),
        _ => return ApiError::new(Code::NotFound, "no such file").into_response(),
    };
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=86400")], body).into_response()
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_health, _, _>(health, Public)
        .operation::<__path_ready, _, _>(ready, Public)
        .operation::<__path_metrics, _, _>(metrics, Scope(Scope::Metrics))
        .undocumented(Method::GET, "/openapi.json", openapi_json, Public)
        .undocumented(Method::GET, "/docs", docs_page, Public)
        .undocumented(Method::GET, "/docs/{file}", docs_asset, Public)
}
