//! Liveness and identity in one call: `POST /v1/liveness/validate` (a baseline image and one image per
//! challenge, for clients that capture first and upload later) and `POST /v1/verify` (a finished liveness
//! session or a selfie, against an identity document, an enrolled user or a collection).

use axum::extract::State;

use axum::{Extension, Json};
use liveness::{Criteria, Kind, Target};
use serde::{Deserialize, Serialize};
use store::USERS_COLLECTION;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, Code};
use crate::http_error::ErrorBody;
use crate::input::{decode_base64, ImageField, JsonBody, Payload};
use crate::routes::analysis::OutcomeDto;
use crate::sessions::{self, SessionRecord};
use crate::state::AppState;
use liveness::FrameMeasurement;

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChallengeImage {
    #[schema(value_type = String)]
    pub kind: Kind,
    /// The image showing the challenge done (base64).
    pub image: String,
    /// `nose_target`: the area the nose must be in (normalised coordinates).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub target: Option<Target>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateRequest {
    /// The person facing the camera, neutral, eyes open (base64).
    pub baseline: String,
    /// 1-6 challenges, each with its image.
    pub challenges: Vec<ChallengeImage>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeVerdict {
    #[serde(flatten)]
    pub outcome: OutcomeDto,
    /// Similarity (0-100) of this image's face to the baseline's.
    pub similarity: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidateResponse {
    pub passed: bool,
    /// 0-100: 50 and above if and only if `passed`.
    pub confidence: f32,
    /// `identity_changed`, `spoof_detected`, `no_face`, `multiple_faces`, `challenge_failed`,
    /// `passive_check_unavailable` (no passive anti-spoofing, and challenge-only liveness not allowed).
    pub reasons: Vec<String>,
    pub challenges: Vec<ChallengeVerdict>,
    /// The lowest passive score over the images (every image must look real on its own).
    pub passive_score: Option<f32>,
    pub min_similarity: Option<f32>,
}

fn push(reasons: &mut Vec<String>, r: &str) {
    if !reasons.iter().any(|x| x == r) {
        reasons.push(r.to_string());
    }
}

fn face_reason(m: &FrameMeasurement) -> Option<Code> {
    match m.faces {
        1 => None,
        0 => Some(Code::NoFace),
        _ => Some(Code::MultipleFaces),
    }
}

/// Liveness from stills captured beforehand: each challenge image is judged against the baseline (a change,
/// not a state), every face must be the baseline's person, and passive anti-spoofing runs on all of them.
#[utoipa::path(post, path = "/v1/liveness/validate", tag = "liveness",
    request_body = ValidateRequest,
    responses((status = 200, body = ValidateResponse), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn validate(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ValidateRequest>,
) -> ApiResult<Json<ValidateResponse>> {
    if req.challenges.is_empty() || req.challenges.len() > 6 {
        return Err(ApiError::invalid_parameter("challenges must hold 1 to 6 images"));
    }
    for c in &req.challenges {
        if c.kind == Kind::NoseTarget && !c.target.is_some_and(|t| t.is_valid()) {
            return Err(ApiError::invalid_parameter("a nose_target challenge needs a valid `target`"));
        }
    }
    let baseline_bytes = decode_base64("baseline", &req.baseline)?;
    let images = req
        .challenges
        .iter()
        .enumerate()
        .map(|(i, c)| decode_base64(&format!("challenges[{i}].image"), &c.image))
        .collect::<ApiResult<Vec<_>>>()?;
    let _admission = app.pool.admit()?;
    let base = sessions::measure_frame(&app, baseline_bytes).await?;
    if let Some(r) = face_reason(&base) {
        return Err(ApiError::new(r, "the baseline must show exactly one face"));
    }
    let Some(base_face) = &base.face else {
        return Err(ApiError::new(Code::NoFace, "no face was found in the baseline"));
    };
    let criteria = Criteria {
        smile_threshold: app.config.smile_threshold,
        eyes_closed_threshold: app.config.eye_closed_threshold,
        ..Criteria::default()
    };
    let mut reasons = Vec::new();
    let mut verdicts = Vec::new();
    let mut passive: Vec<f32> = base_face.passive.into_iter().collect();
    let mut similarities = Vec::new();
    for (c, bytes) in req.challenges.iter().zip(images) {
        let m = sessions::measure_frame(&app, bytes).await?;
        let Some(face) = m.face.as_ref().filter(|_| m.faces == 1) else {
            let r = face_reason(&m).unwrap_or(Code::NoFace).as_str();
            push(&mut reasons, r);
            let outcome = OutcomeDto {
                kind: c.kind,
                passed: false,
                score: 0.0,
                value: None,
                threshold: 0.0,
                reasons: vec![r.into()],
            };
            verdicts.push(ChallengeVerdict { outcome, similarity: None });
            continue;
        };
        passive.extend(face.passive);
        let checked = liveness::check(
            c.kind,
            &Criteria { target: c.target, ..criteria },
            &face.signals,
            Some(&base_face.signals),
        );
        if !checked.passed {
            push(&mut reasons, "challenge_failed");
        }
        let mut outcome = OutcomeDto::new(&checked);
        let s = face.similarity_to(app.model, &base_face.template);
        similarities.push(s);
        if s < app.config.match_threshold {
            outcome.refuse("identity_changed");
            push(&mut reasons, "identity_changed");
        }
        verdicts.push(ChallengeVerdict { outcome, similarity: Some(s) });
    }
    // Every image must look real on its own: one live image cannot carry a photo.
    let passive_score = passive.iter().copied().reduce(f32::min);
    if app.passive.is_ok() && passive_score.is_some_and(|p| p < app.config.passive_threshold) {
        push(&mut reasons, "spoof_detected");
    }
    if app.passive.is_err() && !app.config.liveness_allow_challenge_only {
        push(&mut reasons, "passive_check_unavailable");
    }
    let passed = reasons.is_empty();
    let n = verdicts.len().max(1) as f32;
    let mut q = verdicts.iter().map(|v| if v.outcome.passed { v.outcome.score.max(0.5) } else { 0.0 }).sum::<f32>() / n;
    if let Some(p) = passive_score {
        q *= 0.5 + 0.5 * p;
    }
    Ok(Json(ValidateResponse {
        passed,
        confidence: liveness::confidence(passed, q),
        reasons,
        challenges: verdicts,
        passive_score,
        min_similarity: similarities.iter().copied().reduce(f32::min),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyRequest {
    /// A finished liveness session of the caller's (its baseline face is the one verified).
    #[serde(default)]
    pub session_id: Option<String>,
    /// Or a selfie: then liveness is passive only.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub selfie: Option<ImageField>,
    /// Against: an identity document's portrait,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub document: Option<ImageField>,
    /// or a registered user (face login's users),
    #[serde(default)]
    pub user_id: Option<String>,
    /// or the best match in a collection.
    #[serde(default)]
    pub collection_id: Option<String>,
    /// Match threshold as a similarity 0-100 (default: the server's).
    #[serde(default)]
    pub threshold: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Live and the same person.
    pub verified: bool,
    /// `None` when liveness could not be judged (a selfie without the anti-spoofing weights).
    pub is_live: Option<bool>,
    /// The session's confidence, or the selfie's passive score x 100.
    pub liveness_confidence: Option<f32>,
    pub faces_match: bool,
    pub similarity: f32,
    pub threshold: f32,
    /// The matched face in the collection, or the user's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_face_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_external_id: Option<String>,
    /// `not_live`, `liveness_unavailable`, `session_not_succeeded`, `faces_do_not_match`, `no_match`.
    pub reasons: Vec<String>,
}

/// Full verification: is this a live person, and are they who they claim (an ID document, a registered
/// user, or someone in a collection)?
#[utoipa::path(post, path = "/v1/verify", tag = "liveness",
    request_body(content = VerifyRequest, description = "JSON (images base64) or multipart"),
    responses(
        (status = 200, body = VerifyResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`session_template_discarded` (privacy mode)", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn verify(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    mut payload: Payload,
) -> ApiResult<Json<VerifyResponse>> {
    let selfie = payload.take_images("selfie")?;
    let document = payload.take_images("document")?;
    let req: VerifyRequest = payload.options()?;
    let threshold = app.threshold(req.threshold)?;
    let targets = usize::from(!document.is_empty())
        + usize::from(req.user_id.is_some())
        + usize::from(req.collection_id.is_some());
    if targets != 1 || document.len() > 1 {
        return Err(ApiError::invalid_parameter("name exactly one of `document`, `userId` or `collectionId`"));
    }
    if usize::from(req.session_id.is_some()) + selfie.len() != 1 {
        return Err(ApiError::invalid_parameter("send exactly one of `sessionId` or `selfie`"));
    }
    // Reading users or a collection needs their scopes as well.
    let needs =
        [(req.user_id.is_some(), auth::Scope::Users), (req.collection_id.is_some(), auth::Scope::CollectionsRead)];
    if let Some((_, scope)) = needs.iter().find(|(needed, scope)| *needed && !caller.allows(*scope)) {
        return Err(ApiError::new(Code::InsufficientScope, format!("this key lacks the `{scope}` scope")));
    }
    let mut reasons = Vec::new();
    let _admission = app.pool.admit()?;
    // Who is verified, and how live.
    let (template, is_live, liveness_confidence) = match (&req.session_id, selfie.into_iter().next()) {
        (Some(id), _) => {
            let row = app.store.get_session(id).await?.filter(|r| caller.is_admin() || r.owner_key == caller.key_id);
            let row = row.ok_or_else(|| {
                ApiError::new(Code::SessionNotFound, format!("liveness session {id:?} does not exist"))
            })?;
            let mut record: SessionRecord =
                serde_json::from_str(&row.state).map_err(|e| ApiError::internal("liveness session state", e))?;
            let result = record.session.result();
            let live = result.status == liveness::Status::Succeeded;
            if !live {
                reasons.push("session_not_succeeded".to_string());
                if record.template.is_none() {
                    // Nothing to compare: the session never took its baseline.
                    return Ok(Json(VerifyResponse {
                        verified: false,
                        is_live: Some(false),
                        liveness_confidence: Some(result.confidence),
                        faces_match: false,
                        similarity: 0.0,
                        threshold,
                        matched_face_id: None,
                        matched_external_id: None,
                        reasons,
                    }));
                }
            }
            let template = record.template.take().ok_or_else(|| {
                ApiError::new(
                    Code::SessionTemplateDiscarded,
                    "this session kept no face template (privacy mode after its one use or its login window, or \
                     no baseline was taken)",
                )
            })?;
            // In privacy mode a succeeded session's template serves once: it goes now.
            if app.config.liveness_privacy && live && !sessions::save_record(&app, &row, &record, &[]).await? {
                return Err(ApiError::new(Code::SessionBusy, "another request used this session at the same time"));
            }
            (template, Some(live), Some(result.confidence))
        }
        (None, Some(bytes)) => {
            let m = sessions::measure_frame(&app, bytes).await?;
            if let Some(r) = face_reason(&m) {
                return Err(ApiError::new(r, "the selfie must show exactly one face"));
            }
            let Some(face) = m.face else {
                return Err(ApiError::new(Code::NoFace, "no face was found in the selfie"));
            };
            let template = face.template;
            match face.passive {
                Some(p) => {
                    let live = p >= app.config.passive_threshold;
                    if !live {
                        reasons.push("not_live".to_string());
                    }
                    (template, Some(live), Some((p * 1000.0).round() / 10.0))
                }
                None => {
                    reasons.push("liveness_unavailable".to_string());
                    (template, None, None)
                }
            }
        }
        (None, None) => return Err(ApiError::invalid_parameter("send exactly one of `sessionId` or `selfie`")),
    };
    // Against what.
    let min_cosine = vision::similarity::cosine_for_similarity(app.model, threshold);
    let (similarity, matched_face_id, matched_external_id) = if let Some(doc) = document.into_iter().next() {
        let analysed =
            app.analyze(doc, app.config.document_max_side, |f| crate::state::largest(f).into_iter().collect()).await?;
        let doc_template = analysed
            .templates
            .first()
            .ok_or_else(|| ApiError::new(Code::NoFace, "no face was found on the document"))?;
        (app.similarity(vision::embed::cosine(&template, &doc_template.vector)), None, None)
    } else if let Some(user_id) = &req.user_id {
        let faces = app.store.user_faces(user_id).await?;
        if app.store.get_user(user_id).await?.is_none() {
            return Err(ApiError::new(Code::UserNotFound, format!("user {user_id:?} does not exist")));
        }
        let ids: std::collections::HashSet<_> = faces.iter().map(|f| f.face_id).collect();
        let best =
            app.indexes.search(USERS_COLLECTION, &template, 1000, -1.0).into_iter().find(|h| ids.contains(&h.id));
        match best {
            Some(h) => (app.similarity(h.score), Some(h.id.to_string()), Some(user_id.clone())),
            None => (0.0, None, None),
        }
    } else if let Some(collection) = &req.collection_id {
        if !caller.may_use_collection(collection) {
            return Err(ApiError::new(
                Code::CollectionForbidden,
                format!("this key may not use collection {collection:?}"),
            ));
        }
        crate::usecases::collections::usable_collection(&app, collection).await?;
        match app.indexes.search(collection, &template, 1, min_cosine).into_iter().next() {
            Some(h) => {
                let record = app.store.get_faces(collection, &[h.id]).await?.into_iter().next();
                (app.similarity(h.score), Some(h.id.to_string()), record.and_then(|r| r.external_id))
            }
            None => {
                reasons.push(Code::NoMatch.as_str().to_string());
                (0.0, None, None)
            }
        }
    } else {
        return Err(ApiError::invalid_parameter("name exactly one of `document`, `userId` or `collectionId`"));
    };
    let faces_match = similarity >= threshold && (req.collection_id.is_none() || matched_face_id.is_some());
    if !faces_match && !reasons.iter().any(|r| r == Code::NoMatch.as_str()) {
        reasons.push("faces_do_not_match".to_string());
    }
    Ok(Json(VerifyResponse {
        verified: faces_match && is_live == Some(true),
        is_live,
        liveness_confidence,
        faces_match,
        similarity,
        threshold,
        matched_face_id,
        matched_external_id,
        reasons,
    }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_validate, _, _>(validate, Scope(Scope::Liveness))
        .operation::<__path_verify, _, _>(verify, Scope(Scope::FacesCompare))
}
