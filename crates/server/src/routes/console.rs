//! The console (`/console`): a browser view of what Facegate sees — comparisons and analyses drawn over the
//! photos, collections, users of face login, liveness sessions with their evidence, keys, usage and metrics.
//! Plain ES modules and a stylesheet from web/console/, embedded in the binary, under the pages' strict CSP; it
//! calls only the public API, with a key the page keeps in memory (or none on an open loopback server).

use axum::extract::Path;
use axum::http::Method;
use axum::response::Response;

use crate::access::Requirement::Public;
use crate::http_error::ErrorAnswer;
use crate::routes::table::Routes;
use crate::routes::web::{asset, page, CSS, JS};
use app::error::{ApiError, Code};

pub async fn console_page() -> Response {
    page(include_str!("../../../../web/console/index.html"))
}

/// The console's scripts and stylesheet, by file name.
pub async fn console_asset(Path(file): Path<String>) -> Response {
    let body = match file.as_str() {
        "console.css" => return asset(include_str!("../../../../web/console/console.css"), CSS, false),
        "console.js" => include_str!("../../../../web/console/console.js"),
        "api.js" => include_str!("../../../../web/console/api.js"),
        "draw.js" => include_str!("../../../../web/console/draw.js"),
        "ui.js" => include_str!("../../../../web/console/ui.js"),
        "compare.js" => include_str!("../../../../web/console/compare.js"),
        "collections.js" => include_str!("../../../../web/console/collections.js"),
        "users.js" => include_str!("../../../../web/console/users.js"),
        "sessions.js" => include_str!("../../../../web/console/sessions.js"),
        "keys.js" => include_str!("../../../../web/console/keys.js"),
        _ => return ApiError::new(Code::NotFound, "no such file").into_response(),
    };
    asset(body, JS, false)
}

/// The page and its assets: public (the API calls they make are not), left out of the OpenAPI document.
pub fn routes() -> Routes {
    Routes::new().undocumented(Method::GET, "/console", console_page, Public).undocumented(
        Method::GET,
        "/console/{file}",
        console_asset,
        Public,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_the_page_with_its_policy_and_each_module_it_imports() {
        let page = console_page().await;
        let csp = page.headers().get(axum::http::header::CONTENT_SECURITY_POLICY).cloned();
        assert_eq!(csp.as_ref().and_then(|v| v.to_str().ok()), Some(crate::routes::web::PAGE_CSP));
        // Every module named by an import in the console's scripts is served.
        let sources = [
            include_str!("../../../../web/console/console.js"),
            include_str!("../../../../web/console/compare.js"),
            include_str!("../../../../web/console/collections.js"),
            include_str!("../../../../web/console/users.js"),
            include_str!("../../../../web/console/sessions.js"),
            include_str!("../../../../web/console/keys.js"),
            include_str!("../../../../web/console/ui.js"),
            include_str!("../../../../web/console/draw.js"),
        ];
        for source in sources {
            for name in source.lines().filter_map(|l| l.split("from \"./").nth(1)).filter_map(|r| r.split('"').next()) {
                let response = console_asset(Path(name.to_string())).await;
                assert_eq!(response.status(), 200, "{name}");
            }
        }
        assert_eq!(console_asset(Path("../Cargo.toml".into())).await.status(), 404);
    }
}
