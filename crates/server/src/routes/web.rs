//! The browser client, embedded in the binary: the demo page (`/`), the complete liveness page (`/liveness`),
//! the embeddable module (`/sdk/facegate-liveness.js` and its stylesheet) and the pages' own scripts. Pages carry
//! a Content-Security-Policy that allows only this server's scripts, styles, camera blobs and API.

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::access::Requirement::Public;
use crate::http_error::ErrorAnswer;
use crate::routes::table::Routes;
use app::error::{ApiError, Code};
use axum::http::Method;

/// Scripts and styles from this origin only, no inline code; the camera's media stream; the API (and its
/// WebSocket) on this origin; images from the API as blobs.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; \
                            media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; \
                            form-action 'self'; frame-ancestors 'none'";

pub(crate) const JS: &str = "text/javascript; charset=utf-8";
pub(crate) const CSS: &str = "text/css; charset=utf-8";

pub(crate) fn page(html: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::CACHE_CONTROL, "no-cache"),
            (header::HeaderName::from_static("permissions-policy"), "camera=(self), microphone=()"),
        ],
        html,
    )
        .into_response()
}

pub(crate) fn asset(body: &'static str, content_type: &'static str, shared: bool) -> Response {
    let mut response =
        ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response();
    if shared {
        // The SDK may be imported by pages of other origins (module scripts are fetched with CORS).
        response.headers_mut().insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, header::HeaderValue::from_static("*"));
    }
    response
}

pub async fn demo_page() -> Response {
    page(include_str!("../../../../web/index.html"))
}

pub async fn liveness_page() -> Response {
    page(include_str!("../../../../web/liveness.html"))
}

pub async fn sdk(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "facegate-liveness.js" => asset(include_str!("../../../../web/facegate-liveness.js"), JS, true),
        "facegate-liveness.css" => asset(include_str!("../../../../web/facegate-liveness.css"), CSS, true),
        _ => ApiError::new(Code::NotFound, "no such file").into_response(),
    }
}

pub async fn page_asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "liveness-page.js" => asset(include_str!("../../../../web/liveness-page.js"), JS, false),
        "demo.js" => asset(include_str!("../../../../web/demo.js"), JS, false),
        "page.css" => asset(include_str!("../../../../web/page.css"), CSS, false),
        _ => ApiError::new(Code::NotFound, "no such file").into_response(),
    }
}

/// The pages and their assets: public, left out of the OpenAPI document.
pub fn routes() -> Routes {
    Routes::new()
        .undocumented(Method::GET, "/", demo_page, Public)
        .undocumented(Method::GET, "/liveness", liveness_page, Public)
        .undocumented(Method::GET, "/sdk/{file}", sdk, Public)
        .undocumented(Method::GET, "/web/{file}", page_asset, Public)
}
