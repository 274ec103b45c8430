//! The `/v1` face endpoints (over [`app::usecases::faces`]): detect, compare (1:1, or one face against every face of an image), and
//! identity document + selfie.

use axum::extract::State;
use axum::Json;

use crate::dto::*;
use crate::http_error::ApiResult;
use crate::http_error::ErrorBody;
use crate::input::Payload;
use app::state::AppState;
use app::usecases::faces;

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

/// Find every face in an image: box, five landmarks, detection score and quality.
///
/// The image may be a multipart file `image`, base64 JSON `{"image": "..."}`, or the raw body.
#[utoipa::path(post, path = "/v1/detect", tag = "faces",
    request_body(content = DetectRequest, description = "JSON with base64 `image`; or multipart with an `image` file; or a raw image body"),
    responses(
        (status = 200, body = DetectResponse),
        (status = 400, description = "Bad input (`invalid_json`, `invalid_base64`, `missing_image`, `invalid_image`, ...)", body = ErrorBody),
        (status = 413, description = "Image over the byte or pixel limit", body = ErrorBody),
        (status = 415, description = "Not an image format we read", body = ErrorBody),
        (status = 503, description = "Overloaded: retry after `Retry-After` seconds", body = ErrorBody),
    ))]
pub async fn detect(State(app): State<AppState>, mut payload: Payload) -> ApiResult<Json<DetectResponse>> {
    let image = payload.take_image("image")?;
    let _: DetectRequest = payload.options()?;
    let found = faces::detect(&app, image).await?;
    Ok(Json(DetectResponse { image: found.image.into(), faces: found.faces.iter().map(FaceDto::from).collect() }))
}

/// Compare the largest face of `source` with the largest face of `target` (or with each of its faces).
///
/// Like Rekognition's CompareFaces: target faces at or above the threshold are `faceMatches`, the others
/// `unmatchedFaces`; `match` and `similarity` describe the best one.
#[utoipa::path(post, path = "/v1/compare", tag = "faces",
    request_body(content = CompareRequest, description = "JSON with base64 `source` and `target`; or multipart with `source` and `target` files"),
    responses(
        (status = 200, body = CompareResponse),
        (status = 400, body = ErrorBody),
        (status = 422, description = "`no_face` in the source or the target", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn compare(State(app): State<AppState>, mut payload: Payload) -> ApiResult<Json<CompareResponse>> {
    let source = payload.take_image("source")?;
    let target = payload.take_image("target")?;
    let req: CompareRequest = payload.options()?;
    let options = faces::CompareOptions {
        threshold: req.threshold,
        all_target_faces: req.target_faces == FaceSelection::All,
        ..Default::default()
    };
    let c = faces::compare(&app, source, target, options).await?;
    let (similarity, cosine) = c.best();
    let dto =
        |m: &faces::ScoredFace| FaceMatch { similarity: m.similarity, cosine: m.cosine, face: FaceDto::from(&m.face) };
    Ok(Json(CompareResponse {
        is_match: c.is_match(),
        similarity,
        cosine,
        threshold: c.threshold,
        source_face: FaceDto::from(&c.source_face),
        face_matches: c.matches.iter().map(dto).collect(),
        unmatched_faces: c.unmatched.iter().map(dto).collect(),
        source_image: c.source_image.into(),
        target_image: c.target_image.into(),
        face_model: c.face_model,
    }))
}

/// Identity document + selfie: find the portrait on the document (detected at a higher resolution, since it
/// is small), check that the selfie shows exactly one face, and compare the two.
#[utoipa::path(post, path = "/v1/verify-id", tag = "faces",
    request_body(content = VerifyIdRequest, description = "JSON with base64 `document` and `selfie`; or multipart with `document` and `selfie` files"),
    responses(
        (status = 200, body = VerifyIdResponse),
        (status = 400, body = ErrorBody),
        (status = 422, description = "`no_face` on the document or the selfie; `multiple_faces` in the selfie", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn verify_id(State(app): State<AppState>, mut payload: Payload) -> ApiResult<Json<VerifyIdResponse>> {
    let document = payload.take_image("document")?;
    let selfie = payload.take_image("selfie")?;
    let req: VerifyIdRequest = payload.options()?;
    let v = faces::verify_id(&app, document, selfie, req.threshold).await?;
    Ok(Json(VerifyIdResponse {
        is_match: v.is_match,
        similarity: v.similarity,
        cosine: v.cosine,
        threshold: v.threshold,
        document_face: FaceDto::from(&v.document_face),
        selfie_face: FaceDto::from(&v.selfie_face),
        document_image: v.document_image.into(),
        selfie_image: v.selfie_image.into(),
        face_model: v.face_model,
    }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_detect, _, _>(detect, Scope(Scope::FacesDetect))
        .operation::<__path_compare, _, _>(compare, Scope(Scope::FacesCompare))
        .operation::<__path_verify_id, _, _>(verify_id, Scope(Scope::FacesCompare))
}
