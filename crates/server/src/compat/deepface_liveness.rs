//! `/compat/deepface-liveness`: the DeepFace/FasNet liveness microservice (FastAPI). JSON bodies with base64
//! images; its field names (snake_case answers, camelCase requests, `processing_time_ms`); FastAPI's error body
//! `{"detail": ...}`. Scales as that service has them: anti-spoofing scores 0-1, face-match confidences 0-1
//! (Facegate's similarity over 100), smile and emotion scores 0-100.
//!
//! Thresholds: a request's `threshold` / `antispoofThreshold` is on Facegate's passive score (whose calibrated
//! default, `passive_threshold`, applies when none is sent — the service's own 0.3 was for another model);
//! `minConfidence` / `minFaceMatchConfidence` are similarities over 100 (0.6 = Facegate's match threshold).

use std::time::Instant;

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use liveness::{Criteria, Kind};

use crate::access::Requirement::*;
use crate::http_error::{ApiResult, HttpError};
use crate::input::{decode_base64, JsonBody, OptionsBody};
use crate::routes::table::Routes;
use app::error::ApiError;
use app::state::AppState;
use app::usecases::analysis::{self, Verdicts};
use app::usecases::faces;
use app::usecases::liveness_sessions::{self, CreateOptions, Credential};
use app::usecases::verification::{self, Claim, Subject, VerifyOptions};
use auth::Scope;

fn elapsed_ms(started: Instant) -> u64 {
    started.elapsed().as_millis() as u64
}

/// A confidence 0-1 as a similarity threshold 0-100.
fn similarity_threshold(name: &str, confidence: Option<f32>) -> ApiResult<Option<f32>> {
    match confidence {
        Some(c) if !(c.is_finite() && (0.0..=1.0).contains(&c)) => {
            Err(HttpError::from(ApiError::invalid_parameter(format!("{name} must lie in 0..1"))))
        }
        other => Ok(other.map(|c| c * 100.0)),
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeepfaceServiceHealth)]
pub struct ServiceHealth {
    pub status: &'static str,
    pub service: &'static str,
}

/// Service health check.
#[utoipa::path(get, path = "/compat/deepface-liveness/health", tag = "compat: deepface-liveness",
    responses((status = 200, body = ServiceHealth)))]
pub async fn health() -> Json<ServiceHealth> {
    Json(ServiceHealth { status: "healthy", service: "liveness" })
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ImageRequest {
    /// Base64 (or a data URL).
    pub image: String,
    /// `/liveness` and `/antispoof`: the passive score needed (0-1).
    #[serde(default)]
    pub threshold: Option<f32>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Box2d {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
}

impl From<&vision::Face> for Box2d {
    fn from(f: &vision::Face) -> Self {
        let b = f.detection.bbox;
        Box2d {
            x: b.x.round() as i64,
            y: b.y.round() as i64,
            width: b.width.round() as i64,
            height: b.height.round() as i64,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Detected {
    pub face_count: usize,
    pub faces: Vec<Box2d>,
    pub processing_time_ms: u64,
}

/// Detect faces in an image (boxes in pixels, best detection first).
#[utoipa::path(post, path = "/compat/deepface-liveness/detect", tag = "compat: deepface-liveness",
    request_body = ImageRequest, responses((status = 200, body = Detected), (status = 400, description = "`{\"detail\": ...}`")))]
pub async fn detect(State(app): State<AppState>, JsonBody(req): JsonBody<ImageRequest>) -> ApiResult<Json<Detected>> {
    let started = Instant::now();
    let found = faces::detect(&app, decode_base64("image", &req.image)?).await?;
    let faces: Vec<Box2d> = found.faces.iter().map(Box2d::from).collect();
    Ok(Json(Detected { face_count: faces.len(), faces, processing_time_ms: elapsed_ms(started) }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LivenessChecked {
    pub is_real: bool,
    pub antispoof_score: f32,
    pub face_count: usize,
    pub bounding_box: Box2d,
    pub processing_time_ms: u64,
}

async fn passive(app: &AppState, req: ImageRequest) -> ApiResult<LivenessChecked> {
    let started = Instant::now();
    let checked = analysis::passive(app, decode_base64("image", &req.image)?, req.threshold).await?;
    let face_count = checked.faces.len();
    let largest = checked.faces.first().ok_or_else(|| ApiError::internal("anti-spoofing", "no face scored"))?;
    Ok(LivenessChecked {
        is_real: largest.is_real,
        antispoof_score: largest.score.real,
        face_count,
        bounding_box: Box2d::from(&largest.face),
        processing_time_ms: elapsed_ms(started),
    })
}

/// Full liveness check (detection + anti-spoofing) of the largest face.
#[utoipa::path(post, path = "/compat/deepface-liveness/liveness", tag = "compat: deepface-liveness",
    request_body = ImageRequest,
    responses((status = 200, body = LivenessChecked), (status = 422, description = "`{\"detail\": ...}`: no face"),
        (status = 501, description = "`{\"detail\": ...}`: the anti-spoofing weights are not installed")))]
pub async fn liveness(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ImageRequest>,
) -> ApiResult<Json<LivenessChecked>> {
    Ok(Json(passive(&app, req).await?))
}

/// Anti-spoofing check only (the same answer as `/liveness`).
#[utoipa::path(post, path = "/compat/deepface-liveness/antispoof", tag = "compat: deepface-liveness",
    request_body = ImageRequest, responses((status = 200, body = LivenessChecked)))]
pub async fn antispoof(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ImageRequest>,
) -> ApiResult<Json<LivenessChecked>> {
    Ok(Json(passive(&app, req).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceMatchRequest {
    pub id_image: String,
    pub selfie_image: String,
    /// 0-1 (default 0.6, Facegate's match threshold).
    #[serde(default)]
    pub min_confidence: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FaceMatched {
    pub matched: bool,
    /// The similarity over 100.
    pub confidence: f32,
    pub processing_time_ms: u64,
    pub id_face_extracted: bool,
}

/// Compare the ID document's portrait with the selfie.
#[utoipa::path(post, path = "/compat/deepface-liveness/face-match", tag = "compat: deepface-liveness",
    request_body = FaceMatchRequest,
    responses((status = 200, body = FaceMatched), (status = 422, description = "`{\"detail\": ...}`: no face")))]
pub async fn face_match(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<FaceMatchRequest>,
) -> ApiResult<Json<FaceMatched>> {
    let started = Instant::now();
    let threshold = similarity_threshold("minConfidence", req.min_confidence)?;
    let (id, selfie) = (decode_base64("idImage", &req.id_image)?, decode_base64("selfieImage", &req.selfie_image)?);
    let verified = faces::verify_id(&app, id, selfie, threshold).await?;
    Ok(Json(FaceMatched {
        matched: verified.is_match,
        confidence: verified.similarity / 100.0,
        processing_time_ms: elapsed_ms(started),
        id_face_extracted: true,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SmileChecked {
    pub is_smiling: bool,
    /// Facegate's smile probability x 100 (expression and mouth shape).
    pub smile_score: f32,
    /// The expression network's `happy` x 100.
    pub happy_score: f32,
    pub dominant_emotion: String,
    pub face_detected: bool,
    pub processing_time_ms: u64,
}

/// Single-frame smile detection (the largest face).
#[utoipa::path(post, path = "/compat/deepface-liveness/smile-check", tag = "compat: deepface-liveness",
    request_body = ImageRequest, responses((status = 200, body = SmileChecked)))]
pub async fn smile_check(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ImageRequest>,
) -> ApiResult<Json<SmileChecked>> {
    let started = Instant::now();
    let analysed = analysis::analyze(&app, decode_base64("image", &req.image)?, Some(1)).await?;
    let face = analysed.faces.first().ok_or_else(|| ApiError::internal("analysis", "no face analysed"))?;
    let a = &face.analysis;
    let names = vision::analysis::EXPRESSIONS;
    let dominant = a.expressions.iter().zip(names).max_by(|x, y| x.0.total_cmp(y.0)).map(|(_, n)| n.to_string());
    let happy = names.iter().position(|n| *n == "happy").and_then(|i| a.expressions.get(i)).copied().unwrap_or(0.0);
    Ok(Json(SmileChecked {
        is_smiling: Verdicts::of(&app.config, a).smiling,
        smile_score: a.smile * 100.0,
        happy_score: happy * 100.0,
        dominant_emotion: dominant.unwrap_or_default(),
        face_detected: true,
        processing_time_ms: elapsed_ms(started),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlinkChecked {
    /// Both eyes closed in this frame.
    pub is_blinking: bool,
    /// Mean eye openness (eyelid gap over eye width, Facegate's refined contours: the EAR's role).
    pub ear: f32,
    pub left_ear: f32,
    pub right_ear: f32,
    pub threshold: f32,
    pub face_detected: bool,
    pub processing_time_ms: u64,
}

/// Eye blink (closed eyes) detection on one frame.
#[utoipa::path(post, path = "/compat/deepface-liveness/blink-check", tag = "compat: deepface-liveness",
    request_body = ImageRequest, responses((status = 200, body = BlinkChecked)))]
pub async fn blink_check(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ImageRequest>,
) -> ApiResult<Json<BlinkChecked>> {
    let started = Instant::now();
    let analysed = analysis::analyze(&app, decode_base64("image", &req.image)?, Some(1)).await?;
    let face = analysed.faces.first().ok_or_else(|| ApiError::internal("analysis", "no face analysed"))?;
    let eyes = &face.analysis.eyes;
    let verdicts = Verdicts::of(&app.config, &face.analysis);
    Ok(Json(BlinkChecked {
        is_blinking: verdicts.eyes_closed,
        ear: eyes.mean(),
        left_ear: eyes.left,
        right_ear: eyes.right,
        threshold: verdicts.eye_closed_threshold,
        face_detected: true,
        processing_time_ms: elapsed_ms(started),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = DeepfaceVerifyRequest)]
pub struct VerifyRequest {
    pub id_image: String,
    pub selfie_image: String,
    /// The passive score the selfie needs (0-1; default Facegate's `passive_threshold`).
    #[serde(default)]
    pub antispoof_threshold: Option<f32>,
    /// 0-1 (default 0.6, Facegate's match threshold).
    #[serde(default)]
    pub min_face_match_confidence: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeepfaceVerified)]
pub struct Verified {
    pub verified: bool,
    pub is_live: bool,
    pub antispoof_score: Option<f32>,
    pub faces_match: bool,
    pub face_match_confidence: f32,
    pub processing_time_ms: u64,
}

/// Complete identity verification: the selfie is live (passive anti-spoofing) and matches the ID's portrait.
#[utoipa::path(post, path = "/compat/deepface-liveness/verify", tag = "compat: deepface-liveness",
    request_body = VerifyRequest, responses((status = 200, body = Verified), (status = 422, description = "`{\"detail\": ...}`")))]
pub async fn verify(
    State(app): State<AppState>,
    axum::Extension(caller): axum::Extension<auth::Access>,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> ApiResult<Json<Verified>> {
    let started = Instant::now();
    let options = VerifyOptions {
        threshold: similarity_threshold("minFaceMatchConfidence", req.min_face_match_confidence)?,
        passive_threshold: req.antispoof_threshold,
    };
    let (id, selfie) = (decode_base64("idImage", &req.id_image)?, decode_base64("selfieImage", &req.selfie_image)?);
    let v = verification::verify(&app, &caller, Subject::Selfie(selfie), Claim::Document(id), options).await?;
    Ok(Json(Verified {
        verified: v.verified,
        is_live: v.is_live == Some(true),
        antispoof_score: v.passive_score,
        faces_match: v.faces_match,
        face_match_confidence: v.similarity / 100.0,
        processing_time_ms: elapsed_ms(started),
    }))
}

/// That service's yaw: a fraction of a quarter turn (Facegate's degrees over 90), > 0 toward the image's right.
fn service_yaw(degrees: f32) -> f32 {
    degrees / 90.0
}

/// That service's head-turn side — the side of the image the nose moves to — as the person's own turn on an
/// unmirrored camera frame: its "left" is the person's own right (Facegate's `turn_right`), its "right" their
/// own left.
fn kind_of(challenge: &str) -> ApiResult<Kind> {
    Ok(match challenge {
        "smile" => Kind::Smile,
        "blink" => Kind::Blink,
        "turn_left" => Kind::TurnRight,
        "turn_right" => Kind::TurnLeft,
        "look_up" | "nod_up" => Kind::LookUp,
        "look_down" | "nod_down" => Kind::LookDown,
        other => {
            return Err(HttpError::from(ApiError::invalid_parameter(format!(
                "unknown challenge {other:?} (smile, blink, turn_left, turn_right, look_up, look_down)"
            ))))
        }
    })
}

/// A challenge's measured value in that service's units: smile 0-100, turns as its yaw, eyes as openness.
fn service_score(kind: Kind, checked: &analysis::Checked) -> f32 {
    let s = &checked.image.signals;
    match kind {
        Kind::Smile => s.smile * 100.0,
        Kind::TurnLeft | Kind::TurnRight => service_yaw(s.yaw),
        Kind::Blink => (s.left_eye + s.right_eye) / 2.0,
        _ => s.pitch / 90.0,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadPoseRequest {
    pub image: String,
    /// Start the caller's turn tracking afresh.
    #[serde(default)]
    pub reset_session: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadPose {
    /// Facegate's yaw over 90 degrees; > 0: the nose toward the image's right.
    pub yaw: f32,
    pub pitch: f32,
    /// `left`, `right` (the side of the image) or `center`.
    pub direction: String,
    pub is_turning_left: bool,
    pub is_turning_right: bool,
    /// Per calling key, since its last `resetSession`.
    pub left_turn_completed: bool,
    pub right_turn_completed: bool,
    pub face_detected: bool,
    pub processing_time_ms: u64,
}

/// That service's turn threshold (0.15 of a quarter turn).
const TURN_THRESHOLD: f32 = 0.15;

/// Head orientation, and the left/right turns this caller has completed since its last reset.
#[utoipa::path(post, path = "/compat/deepface-liveness/head-pose", tag = "compat: deepface-liveness",
    request_body = HeadPoseRequest, responses((status = 200, body = HeadPose)))]
pub async fn head_pose(
    State(app): State<AppState>,
    axum::Extension(caller): axum::Extension<auth::Access>,
    JsonBody(req): JsonBody<HeadPoseRequest>,
) -> ApiResult<Json<HeadPose>> {
    let started = Instant::now();
    let image = decode_base64("image", &req.image)?;
    let tracked =
        analysis::track_head_turn(&app, &caller.key_id, image, req.reset_session, TURN_THRESHOLD * 90.0).await?;
    let yaw = service_yaw(tracked.yaw);
    let direction = if yaw >= TURN_THRESHOLD {
        "right"
    } else if yaw <= -TURN_THRESHOLD {
        "left"
    } else {
        "center"
    };
    Ok(Json(HeadPose {
        yaw,
        pitch: tracked.pitch / 90.0,
        direction: direction.into(),
        is_turning_left: direction == "left",
        is_turning_right: direction == "right",
        left_turn_completed: tracked.progress.toward_image_left,
        right_turn_completed: tracked.progress.toward_image_right,
        face_detected: true,
        processing_time_ms: elapsed_ms(started),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct HeadTurnRequest {
    pub image: String,
    /// `left` or `right` (the side of the image the nose moves to).
    pub direction: String,
    /// That service's yaw needed (default 0.15).
    #[serde(default)]
    pub threshold: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeadTurnChecked {
    pub turned: bool,
    pub direction: String,
    pub yaw: f32,
    pub threshold: f32,
    pub face_detected: bool,
    pub processing_time_ms: u64,
}

/// Whether the head is turned toward `direction` by at least `threshold`.
#[utoipa::path(post, path = "/compat/deepface-liveness/head-turn-check", tag = "compat: deepface-liveness",
    request_body = HeadTurnRequest, responses((status = 200, body = HeadTurnChecked)))]
pub async fn head_turn_check(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<HeadTurnRequest>,
) -> ApiResult<Json<HeadTurnChecked>> {
    let started = Instant::now();
    let threshold = req.threshold.unwrap_or(TURN_THRESHOLD);
    if !(threshold.is_finite() && threshold > 0.0 && threshold <= 1.0) {
        return Err(HttpError::from(ApiError::invalid_parameter("threshold must lie in (0, 1]")));
    }
    let kind = match req.direction.as_str() {
        "left" => kind_of("turn_left")?,
        "right" => kind_of("turn_right")?,
        other => {
            return Err(HttpError::from(ApiError::invalid_parameter(format!("direction {other:?} is left or right"))))
        }
    };
    let criteria = Criteria { turn_degrees: threshold * 90.0, ..app.config.criteria() };
    let checked = analysis::check(&app, kind, &criteria, decode_base64("image", &req.image)?, None).await?;
    Ok(Json(HeadTurnChecked {
        turned: checked.passed(),
        direction: req.direction,
        yaw: service_yaw(checked.image.signals.yaw),
        threshold,
        face_detected: true,
        processing_time_ms: elapsed_ms(started),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeValidateRequest {
    pub baseline_image: String,
    pub challenge_image: String,
    /// `smile`, `blink`, `turn_left`, `turn_right`, `look_up`, `look_down`.
    pub challenge_type: String,
    /// `smile`: the rise needed over the baseline, in points of 0-100 (default 30).
    #[serde(default)]
    pub min_emotion_change: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeValidated {
    pub passed: bool,
    pub challenge_type: String,
    /// The measured value in that service's units (smile 0-100, yaw, eye openness).
    pub score: f32,
    /// Why not, when it did not pass (Facegate's reasons: `not_smiling`, `smile_did_not_rise`, `eyes_open`,
    /// `not_turned_enough`, `wrong_direction`, `multiple_faces`...).
    pub reasons: Vec<String>,
    pub processing_time_ms: u64,
}

fn reasons_of(checked: &analysis::Checked) -> Vec<String> {
    let mut reasons: Vec<String> = checked.outcome.reasons.iter().map(|r| r.code().to_string()).collect();
    if checked.multiple_faces {
        reasons.push(app::error::Code::MultipleFaces.as_str().to_string());
    }
    reasons
}

/// One challenge: the challenge image against the baseline (a change, not a state).
#[utoipa::path(post, path = "/compat/deepface-liveness/challenge/validate", tag = "compat: deepface-liveness",
    request_body = ChallengeValidateRequest, responses((status = 200, body = ChallengeValidated)))]
pub async fn challenge_validate(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ChallengeValidateRequest>,
) -> ApiResult<Json<ChallengeValidated>> {
    let started = Instant::now();
    let kind = kind_of(&req.challenge_type)?;
    let smile_rise = match req.min_emotion_change {
        Some(c) if !(c.is_finite() && (0.0..=100.0).contains(&c)) => {
            return Err(HttpError::from(ApiError::invalid_parameter("minEmotionChange must lie in 0..100")))
        }
        Some(c) => c / 100.0,
        None => app.config.criteria().smile_rise,
    };
    let criteria = Criteria { smile_rise, ..app.config.criteria() };
    let baseline = decode_base64("baselineImage", &req.baseline_image)?;
    let image = decode_base64("challengeImage", &req.challenge_image)?;
    let checked = analysis::check(&app, kind, &criteria, image, Some(baseline)).await?;
    Ok(Json(ChallengeValidated {
        passed: checked.passed(),
        challenge_type: req.challenge_type,
        score: service_score(kind, &checked),
        reasons: reasons_of(&checked),
        processing_time_ms: elapsed_ms(started),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChallengeResult {
    pub challenge_type: String,
    pub image: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidateMultiRequest {
    pub baseline_image: String,
    /// 1-6 challenges, each with its image.
    pub challenge_results: Vec<ChallengeResult>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultiResult {
    pub index: usize,
    pub challenge_type: String,
    pub passed: bool,
    pub score: f32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultiValidated {
    pub all_passed: bool,
    pub total_challenges: usize,
    pub passed_count: usize,
    pub results: Vec<MultiResult>,
    pub processing_time_ms: u64,
}

/// Several challenges at once, each image against the baseline.
#[utoipa::path(post, path = "/compat/deepface-liveness/challenge/validate-multi", tag = "compat: deepface-liveness",
    request_body = ValidateMultiRequest, responses((status = 200, body = MultiValidated)))]
pub async fn challenge_validate_multi(
    State(app): State<AppState>,
    JsonBody(req): JsonBody<ValidateMultiRequest>,
) -> ApiResult<Json<MultiValidated>> {
    let started = Instant::now();
    if req.challenge_results.is_empty() || req.challenge_results.len() > 6 {
        return Err(HttpError::from(ApiError::invalid_parameter("challengeResults must hold 1 to 6 challenges")));
    }
    let baseline = decode_base64("baselineImage", &req.baseline_image)?;
    let criteria = app.config.criteria();
    let mut results = Vec::with_capacity(req.challenge_results.len());
    for (index, c) in req.challenge_results.into_iter().enumerate() {
        let kind = kind_of(&c.challenge_type)?;
        let image = decode_base64(&format!("challengeResults[{index}].image"), &c.image)?;
        let checked = analysis::check(&app, kind, &criteria, image, Some(baseline.clone())).await?;
        results.push(MultiResult {
            index,
            passed: checked.passed(),
            score: service_score(kind, &checked),
            challenge_type: c.challenge_type,
        });
    }
    let passed_count = results.iter().filter(|r| r.passed).count();
    Ok(Json(MultiValidated {
        all_passed: passed_count == results.len(),
        total_challenges: results.len(),
        passed_count,
        results,
        processing_time_ms: elapsed_ms(started),
    }))
}

/// A Facegate challenge under that service's name (see [`kind_of`] for the sides).
fn service_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Smile => "smile",
        Kind::Blink => "blink",
        Kind::TurnLeft => "turn_right",
        Kind::TurnRight => "turn_left",
        Kind::LookUp => "look_up",
        Kind::LookDown => "look_down",
        Kind::NoseTarget => "nose_target",
        Kind::HeadPose => "head_pose",
    }
}

fn card(kind: Kind, index: usize, total: usize, timeout_ms: i64) -> CurrentChallenge {
    let (title, instruction, icon) = match service_name(kind) {
        "smile" => ("Smile", "Give a big smile", "smile"),
        "blink" => ("Blink", "Close both eyes for a moment, then open them", "eye"),
        "turn_left" => ("Turn Left", "Turn your head to the left", "arrow-left"),
        "turn_right" => ("Turn Right", "Turn your head to the right", "arrow-right"),
        "look_up" => ("Look Up", "Tilt your head up a little", "arrow-up"),
        _ => ("Look Down", "Tilt your head down a little", "arrow-down"),
    };
    CurrentChallenge {
        challenge_type: service_name(kind).into(),
        index,
        total,
        title: title.into(),
        instruction: instruction.into(),
        icon: icon.into(),
        timeout_seconds: timeout_ms as f64 / 1000.0,
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeSessionRequest {
    /// 1-4 (default 2).
    #[serde(default)]
    pub num_challenges: Option<usize>,
    #[serde(default)]
    pub exclude_challenges: Vec<String>,
    #[serde(default)]
    pub require_head_turn: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentChallenge {
    pub challenge_type: String,
    pub index: usize,
    pub total: usize,
    pub title: String,
    pub instruction: String,
    pub icon: String,
    pub timeout_seconds: f64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeSession {
    pub session_id: String,
    pub challenges: Vec<String>,
    pub current_index: usize,
    pub is_complete: bool,
    pub current_challenge: Option<CurrentChallenge>,
    /// Not in the original: the session token that sends frames to `/v1/liveness/sessions/{id}/frames` (only the
    /// server's own evidence from those frames verifies a challenge).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Not in the original: the challenges the server saw evidence for in the session's frames.
    pub server_verified: Vec<bool>,
    /// Not in the original: the whole session succeeded on the server's evidence (passive anti-spoofing
    /// included).
    pub verified: bool,
    /// Not in the original: `CREATED`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `EXPIRED`.
    pub status: String,
}

fn session_view(
    session: &liveness::Session,
    session_id: String,
    current_index: usize,
    token: Option<String>,
) -> ChallengeSession {
    let specs = &session.options.challenges;
    let total = specs.len();
    let current = specs.get(current_index).map(|c| card(c.kind, current_index, total, c.timeout_ms));
    let result = session.result();
    ChallengeSession {
        session_id,
        challenges: specs.iter().map(|c| service_name(c.kind).to_string()).collect(),
        current_index,
        is_complete: current_index >= total,
        current_challenge: current,
        session_token: token,
        server_verified: (0..total).map(|i| session.evidence.get(i).is_some_and(|e| e.passed)).collect(),
        verified: result.status == liveness::Status::Succeeded,
        status: result.status.as_str().to_string(),
    }
}

/// Create a multi-challenge session with randomized challenges (smile, blink and head turns).
#[utoipa::path(post, path = "/compat/deepface-liveness/challenge/session", tag = "compat: deepface-liveness",
    request_body = ChallengeSessionRequest, responses((status = 200, body = ChallengeSession)))]
pub async fn challenge_session(
    State(app): State<AppState>,
    axum::Extension(caller): axum::Extension<auth::Access>,
    OptionsBody(req): OptionsBody<ChallengeSessionRequest>,
) -> ApiResult<Json<ChallengeSession>> {
    // That service draws from smile, blink and the two turns.
    let mut exclude = vec![Kind::NoseTarget, Kind::LookUp, Kind::LookDown];
    for name in &req.exclude_challenges {
        exclude.push(kind_of(name)?);
    }
    let options = CreateOptions {
        challenges: None,
        challenge_count: Some(req.num_challenges.unwrap_or(2)),
        exclude,
        require_head_turn: req.require_head_turn.unwrap_or(true),
        audit_images: 0,
        client_request_token: None,
        output: None,
        face_area: None,
        stream_challenges: Vec::new(),
    };
    let created = liveness_sessions::create(&app, &caller, options).await?;
    Ok(Json(session_view(&created.session, created.row.session_id, 0, Some(created.token))))
}

/// A session's state: `currentIndex` is the first challenge the server has not seen done.
#[utoipa::path(get, path = "/compat/deepface-liveness/challenge/session/{session_id}", tag = "compat: deepface-liveness",
    params(("session_id" = String, Path)),
    responses((status = 200, body = ChallengeSession), (status = 404, description = "`{\"detail\": ...}`")))]
pub async fn challenge_session_state(
    State(app): State<AppState>,
    axum::Extension(caller): axum::Extension<auth::Access>,
    Path(session_id): Path<String>,
) -> ApiResult<Json<ChallengeSession>> {
    let status = liveness_sessions::status(&app, &session_id, Credential::Key(&caller)).await?;
    let seen = status.session.evidence.iter().take_while(|e| e.passed).count();
    Ok(Json(session_view(&status.session, session_id, seen, None)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRequest {
    pub session_id: String,
    pub challenge_type: String,
    /// The client's own verdict: echoed, never taken as the server's.
    #[serde(default)]
    pub passed: bool,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

/// Move on from a challenge the client says it completed; the answer names the next one. What the server
/// verified is in `serverVerified` / `verified` (from the session's frames), never the client's `passed`.
#[utoipa::path(post, path = "/compat/deepface-liveness/challenge/complete", tag = "compat: deepface-liveness",
    request_body = CompleteRequest, responses((status = 200, body = ChallengeSession)))]
pub async fn challenge_complete(
    State(app): State<AppState>,
    axum::Extension(caller): axum::Extension<auth::Access>,
    OptionsBody(req): OptionsBody<CompleteRequest>,
) -> ApiResult<Json<ChallengeSession>> {
    let status = liveness_sessions::status(&app, &req.session_id, Credential::Key(&caller)).await?;
    let names: Vec<&str> = status.session.options.challenges.iter().map(|c| service_name(c.kind)).collect();
    let at = names.iter().position(|n| *n == req.challenge_type).ok_or_else(|| {
        ApiError::invalid_parameter(format!("{:?} is not a challenge of this session", req.challenge_type))
    })?;
    Ok(Json(session_view(&status.session, req.session_id, at + 1, None)))
}

/// The routes of this front door, answering errors as FastAPI does.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_health, _, _>(health, Public)
        .operation::<__path_detect, _, _>(detect, Scope(Scope::FacesDetect))
        .operation::<__path_liveness, _, _>(liveness, Scope(Scope::Liveness))
        .operation::<__path_antispoof, _, _>(antispoof, Scope(Scope::Liveness))
        .operation::<__path_face_match, _, _>(face_match, Scope(Scope::FacesCompare))
        .operation::<__path_smile_check, _, _>(smile_check, Scope(Scope::FacesDetect))
        .operation::<__path_blink_check, _, _>(blink_check, Scope(Scope::FacesDetect))
        .operation::<__path_verify, _, _>(verify, Scope(Scope::FacesCompare))
        .operation::<__path_head_pose, _, _>(head_pose, Scope(Scope::Liveness))
        .operation::<__path_head_turn_check, _, _>(head_turn_check, Scope(Scope::Liveness))
        .operation::<__path_challenge_validate, _, _>(challenge_validate, Scope(Scope::Liveness))
        .operation::<__path_challenge_validate_multi, _, _>(challenge_validate_multi, Scope(Scope::Liveness))
        .operation::<__path_challenge_session, _, _>(challenge_session, Scope(Scope::Liveness))
        .operation::<__path_challenge_session_state, _, _>(challenge_session_state, Scope(Scope::Liveness))
        .operation::<__path_challenge_complete, _, _>(challenge_complete, Scope(Scope::Liveness))
        .errors_as(super::fastapi_error)
}
