//! Liveness and identity in one call: `POST /v1/liveness/validate` (a baseline image and one image per
//! challenge, for clients that capture first and upload later) and `POST /v1/verify` (a finished liveness
//! session or a selfie, against an identity document, an enrolled user or a collection).

use axum::extract::State;

use axum::{Extension, Json};
use liveness::{Kind, Target};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http_error::ErrorBody;
use crate::http_error::{ApiResult, HttpError};
use crate::input::{decode_base64, ImageField, JsonBody, Payload};
use crate::routes::analysis::OutcomeDto;
use app::error::ApiError;
use app::state::AppState;
use app::usecases::verification::{
    self, Claim, StillChallenge, StillVerdict, StillsReason, Subject, VerifyOptions, MAX_STILL_CHALLENGES,
};

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

impl From<StillVerdict> for ChallengeVerdict {
    fn from(v: StillVerdict) -> Self {
        let outcome = match &v.outcome {
            Ok(checked) => {
                let mut outcome = OutcomeDto::new(checked);
                if v.identity_changed {
                    outcome.refuse(StillsReason::IdentityChanged.code());
                }
                outcome
            }
            Err(why) => OutcomeDto {
                kind: v.kind,
                passed: false,
                score: 0.0,
                value: None,
                threshold: 0.0,
                reasons: vec![why.code().to_string()],
            },
        };
        ChallengeVerdict { outcome, similarity: v.similarity }
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
    if req.challenges.is_empty() || req.challenges.len() > MAX_STILL_CHALLENGES {
        return Err(HttpError::from(ApiError::invalid_parameter("challenges must hold 1 to 6 images")));
    }
    for c in &req.challenges {
        if c.kind == Kind::NoseTarget && !c.target.is_some_and(|t| t.is_valid()) {
            return Err(HttpError::from(ApiError::invalid_parameter("a nose_target challenge needs a valid `target`")));
        }
    }
    let baseline = decode_base64("baseline", &req.baseline)?;
    let challenges = req
        .challenges
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let image = decode_base64(&format!("challenges[{i}].image"), &c.image)?;
            Ok(StillChallenge { kind: c.kind, target: c.target, image })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let judged = verification::judge_stills(&app, baseline, challenges).await?;
    Ok(Json(ValidateResponse {
        passed: judged.passed,
        confidence: judged.confidence,
        reasons: judged.reasons.iter().map(|r| r.code().to_string()).collect(),
        challenges: judged.challenges.into_iter().map(Into::into).collect(),
        passive_score: judged.passive_score,
        min_similarity: judged.min_similarity,
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
    let targets = usize::from(!document.is_empty())
        + usize::from(req.user_id.is_some())
        + usize::from(req.collection_id.is_some());
    if targets != 1 || document.len() > 1 {
        return Err(HttpError::from(ApiError::invalid_parameter(
            "name exactly one of `document`, `userId` or `collectionId`",
        )));
    }
    let subject = match (req.session_id, selfie.len()) {
        (Some(id), 0) => Subject::Session(id),
        (None, 1) => Subject::Selfie(selfie.into_iter().next().unwrap_or_default()),
        _ => return Err(HttpError::from(ApiError::invalid_parameter("send exactly one of `sessionId` or `selfie`"))),
    };
    let claim = match (document.into_iter().next(), req.user_id, req.collection_id) {
        (Some(document), _, _) => Claim::Document(document),
        (None, Some(user), _) => Claim::User(user),
        (None, None, Some(collection)) => Claim::Collection(collection),
        (None, None, None) => {
            return Err(HttpError::from(ApiError::invalid_parameter(
                "name exactly one of `document`, `userId` or `collectionId`",
            )))
        }
    };
    let options = VerifyOptions { threshold: req.threshold, passive_threshold: None };
    let v = verification::verify(&app, &caller, subject, claim, options).await?;
    Ok(Json(VerifyResponse {
        verified: v.verified,
        is_live: v.is_live,
        liveness_confidence: v.liveness_confidence,
        faces_match: v.faces_match,
        similarity: v.similarity,
        threshold: v.threshold,
        matched_face_id: v.matched_face_id,
        matched_external_id: v.matched_external_id,
        reasons: v.reasons.iter().map(|r| r.code().to_string()).collect(),
    }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_validate, _, _>(validate, Scope(Scope::Liveness))
        .operation::<__path_verify, _, _>(verify, Scope(Scope::FacesCompare))
}
