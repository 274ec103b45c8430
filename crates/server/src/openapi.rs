//! The OpenAPI document, generated from the handlers' annotations and the DTOs' schemas.

use std::sync::OnceLock;

use utoipa::OpenApi;

use crate::routes::{analysis, collections, faces, keys, liveness, login, ops, sessions, users, verify};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Facegate",
        description = "Self-hosted face verification: detection, 1:1 comparison, identity document + selfie, and 1:N \
                       collections, users with face login and signed tokens. Images go in as multipart files, base64 JSON \
                       (with or without a data: prefix) or a raw body. Errors are always {\"error\": {\"code\", \
                       \"message\"}}. Send an API key as `Authorization: Bearer KEY` or `x-api-key: KEY`.",
        license(name = "Apache-2.0")
    ),
    paths(
        faces::detect,
        faces::compare,
        faces::verify_id,
        analysis::analyze,
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
        liveness::passive,
        analysis::check,
        sessions::create_session,
        sessions::get_session,
        sessions::post_frames,
        sessions::get_session_image,
        sessions::delete_session,
        sessions::new_session_token,
        verify::validate,
        verify::verify,
        users::register_user,
        users::list_users,
        users::get_user,
        users::delete_user,
        users::add_user_faces,
        users::me,
        login::face_login,
        login::logout,
        login::revoke,
        login::jwks,
        login::rotate_signing_key,
        keys::create,
        keys::list,
        keys::get,
        keys::revoke,
        keys::aws_credentials,
        keys::usage,
        ops::health,
        ops::ready,
        ops::metrics,
    ),
    tags(
        (name = "faces", description = "Stateless face operations"),
        (name = "collections", description = "1:N collections of enrolled faces"),
        (name = "liveness", description = "Passive anti-spoofing and liveness checks"),
        (name = "users", description = "Users of face login"),
        (name = "auth", description = "Face login, signed tokens, revocation, the JWKS"),
        (name = "keys", description = "API keys (admin) and usage"),
        (name = "operations", description = "Probes and metrics"),
    ),
    modifiers(&SecuritySchemes),
    security(("bearer" = []), ("apiKey" = []))
)]
pub struct ApiDoc;

/// API keys go in `Authorization: Bearer KEY` or `x-api-key: KEY`.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        components.add_security_scheme("apiKey", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-api-key"))));
    }
}

/// The document as JSON, built once.
pub fn document() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| ApiDoc::openapi().to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))).clone()
}
