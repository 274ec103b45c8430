//! The OpenAPI document: the description, tags and security schemes here; the operations and their schemas from
//! the route table ([`crate::routes::all`]), so that every routed operation is documented and nothing else.

use std::sync::OnceLock;

use utoipa::OpenApi;

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
    tags(
        (name = "faces", description = "Stateless face operations"),
        (name = "collections", description = "1:N collections of enrolled faces"),
        (name = "collection users", description = "Users of a collection: faces grouped under your user ids, searched by user"),
        (name = "liveness", description = "Passive anti-spoofing and liveness checks"),
        (name = "users", description = "Users of face login"),
        (name = "auth", description = "Face login, signed tokens, revocation, the JWKS"),
        (name = "keys", description = "API keys (admin) and usage"),
        (name = "operations", description = "Probes and metrics"),
        (name = "compat: deepface-liveness", description = "Drop-in door for the DeepFace liveness service (`/compat/deepface-liveness`)"),
        (name = "compat: facelock", description = "Drop-in door for Face Lock (`/compat/facelock`)"),
        (name = "compat: id-selfie", description = "Drop-in door for the ID + selfie service (`/compat/id-selfie`)"),
        (name = "compat: liveness-api", description = "Drop-in door for the Liveness API (`/compat/liveness-api`)"),
        (name = "compat: nose-challenge", description = "Drop-in door for the nose challenge (`/compat/nose-challenge`)"),
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

/// The document.
pub fn build() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    crate::routes::all().document(&mut doc);
    doc
}

/// The document as JSON, built once.
pub fn document() -> String {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| build().to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))).clone()
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_two_front_doors_share_a_schema_name() {
        let clashes = crate::routes::all().clashing_schemas();
        assert!(clashes.is_empty(), "schema names defined differently by two routes: {clashes:?}");
    }
}
