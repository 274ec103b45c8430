//! The OpenAPI document, generated from the handlers' annotations and the DTOs' schemas.

use std::sync::OnceLock;

use utoipa::OpenApi;

use crate::routes::{collections, faces, ops};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Facegate",
        description = "Self-hosted face verification: detection, 1:1 comparison, identity document + selfie, and 1:N \
                       collections. Images go in as multipart files, base64 JSON (with or without a data: prefix) or \
                       a raw body. Errors are always {\"error\": {\"code\", \"message\"}}.",
        license(name = "Apache-2.0")
    ),
    paths(
        faces::detect,
        faces::compare,
        faces::verify_id,
        collections::create_collection,
        collections::list_collections,
        collections::get_collection,
        collections::delete_collection,
        collections::index_faces,
        collections::list_faces,
        collections::get_face,
        collections::get_face_image,
        collections::delete_face,
        collections::delete_faces,
        collections::search,
        collections::search_by_face,
        ops::health,
        ops::ready,
        ops::metrics,
    ),
    tags(
        (name = "faces", description = "Stateless face operations"),
        (name = "collections", description = "1:N collections of enrolled faces"),
        (name = "operations", description = "Probes and metrics"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn document() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))).clone()
}
