//! Stateless face endpoints: detect, compare (1:1, or one face against every face of an image), and
//! identity document + selfie.

use axum::extract::State;
use axum::Json;

use crate::dto::*;
use crate::error::{ApiError, ApiResult, Code};
use crate::http_error::ErrorBody;
use crate::input::Payload;
use crate::state::{largest, AppState};

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
    let _admission = app.pool.admit()?;
    let analyzed = app.analyze(image, app.config.detect_max_side, |_| Vec::new()).await?;
    Ok(Json(DetectResponse { image: analyzed.image, faces: analyzed.faces.iter().map(FaceDto::from).collect() }))
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
    let options: CompareRequest = payload.options()?;
    let _admission = app.pool.admit()?;
    let threshold = app.threshold(options.threshold)?;
    let max_side = app.config.detect_max_side;
    let all = options.target_faces == FaceSelection::All;
    let (source, target) = tokio::join!(
        app.analyze(source, max_side, |faces| largest(faces).into_iter().collect()),
        app.analyze(target, max_side, move |faces| {
            if all {
                (0..faces.len()).collect()
            } else {
                largest(faces).into_iter().collect()
            }
        }),
    );
    let (source, target) = (source?, target?);
    let Some(source_index) = largest(&source.faces) else {
        return Err(ApiError::new(Code::NoFace, "no face was found in the source image"));
    };
    if target.faces.is_empty() {
        return Err(ApiError::new(Code::NoFace, "no face was found in the target image"));
    }
    let source_template =
        source.template_of(source_index).ok_or_else(|| ApiError::internal("compare", "no template"))?;
    let mut scored = Vec::new();
    for &i in &target.embedded {
        let template = target.template_of(i).ok_or_else(|| ApiError::internal("compare", "no template"))?;
        let cosine = source_template.cosine(template).map_err(ApiError::from)?;
        scored.push(FaceMatch { similarity: app.similarity(cosine), cosine, face: FaceDto::from(&target.faces[i]) });
    }
    scored.sort_by(|a, b| b.cosine.total_cmp(&a.cosine));
    let (best_similarity, best_cosine) = scored.first().map_or((0.0, -1.0), |m| (m.similarity, m.cosine));
    let (face_matches, unmatched_faces): (Vec<_>, Vec<_>) = scored.into_iter().partition(|m| m.similarity >= threshold);
    Ok(Json(CompareResponse {
        is_match: !face_matches.is_empty(),
        similarity: best_similarity,
        cosine: best_cosine,
        threshold,
        source_face: FaceDto::from(&source.faces[source_index]),
        face_matches,
        unmatched_faces,
        source_image: source.image,
        target_image: target.image,
        face_model: app.face_model(),
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
    let options: VerifyIdRequest = payload.options()?;
    let _admission = app.pool.admit()?;
    let threshold = app.threshold(options.threshold)?;
    let document_side = app.config.document_max_side.max(app.config.detect_max_side);
    let pick_largest = |faces: &[vision::Face]| largest(faces).into_iter().collect::<Vec<_>>();
    let (document, selfie) = tokio::join!(
        app.analyze(document, document_side, pick_largest),
        app.analyze(selfie, app.config.detect_max_side, pick_largest),
    );
    let (document, selfie) = (document?, selfie?);
    let doc_index = largest(&document.faces)
        .ok_or_else(|| ApiError::new(Code::NoFace, "no portrait was found on the identity document"))?;
    let selfie_index =
        largest(&selfie.faces).ok_or_else(|| ApiError::new(Code::NoFace, "no face was found in the selfie"))?;
    if selfie.faces.len() > 1 {
        return Err(ApiError::new(
            Code::MultipleFaces,
            format!("the selfie must show one person; {} faces were found", selfie.faces.len()),
        ));
    }
    let (Some(a), Some(b)) = (document.template_of(doc_index), selfie.template_of(selfie_index)) else {
        return Err(ApiError::internal("verify-id", "no template"));
    };
    let cosine = a.cosine(b).map_err(ApiError::from)?;
    let similarity = app.similarity(cosine);
    Ok(Json(VerifyIdResponse {
        is_match: similarity >= threshold,
        similarity,
        cosine,
        threshold,
        document_face: FaceDto::from(&document.faces[doc_index]),
        selfie_face: FaceDto::from(&selfie.faces[selfie_index]),
        document_image: document.image,
        selfie_image: selfie.image,
        face_model: app.face_model(),
    }))
}
