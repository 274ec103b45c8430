//! Face analysis (`POST /v1/analyze`) and the stateless liveness checks (`POST /v1/liveness/check`): what the
//! mesh, eye-contour and expression networks measure on each face, and one challenge decided on one image,
//! optionally against a baseline image of the same person.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use liveness::{CheckOutcome, Criteria, Kind, Signals, Target};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vision::{Face, FaceAnalysis};

use crate::dto::{FaceDto, ImageInfo, PointDto};
use crate::http_error::ErrorBody;
use crate::http_error::{ApiResult, HttpError};
use crate::input::{ImageField, Payload};
use app::error::{ApiError, Code};
use app::state::AppState;
use app::usecases::analysis::{self, Verdicts, MAX_ANALYSED_FACES};

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalyzeRequest {
    #[serde(default)]
    #[schema(value_type = String, format = Byte)]
    pub image: Option<ImageField>,
    /// Include the 468 mesh points and the eyelid contours (default false: they are large).
    #[serde(default)]
    pub landmarks: bool,
    /// Analyse at most this many faces, largest first (1..=20, default 5).
    #[serde(default)]
    pub max_faces: Option<u32>,
}

/// Head pose in degrees. Yaw > 0: the face turns toward the image's right (the person's own left); pitch > 0:
/// looking up; roll > 0: the head tilts clockwise in the image.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PoseDto {
    pub yaw: f32,
    pub pitch: f32,
    pub roll: f32,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct EyeDto {
    /// Eyelid gap over eye width (about 0.2-0.35 open, under 0.15 closed).
    pub openness: f32,
    pub closed: bool,
}

/// Per eye as the person sees them (the left eye is on the image's right in a photo).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EyesDto {
    pub left: EyeDto,
    pub right: EyeDto,
    /// Both closed: the mean openness under `threshold`.
    pub closed: bool,
    pub threshold: f32,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SmileDto {
    /// 0..1, from the expression network's `happy` combined with the mouth's shape.
    pub probability: f32,
    pub smiling: bool,
    pub threshold: f32,
    /// What the probability combines: `happy` log-odds, mouth width and corner lift (over the eye distance),
    /// mouth openness.
    #[schema(value_type = Object)]
    pub cues: vision::SmileCues,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct MouthDto {
    /// Inner-lip gap over mouth width (about 0 closed, 0.3 and more wide open).
    pub openness: f32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeshLandmarks {
    /// 468 points `[x, y, z]` in image pixels (z: relative depth, negative toward the camera), MediaPipe's
    /// canonical face-mesh order.
    pub mesh: Vec<[f32; 3]>,
    /// The eyelid contours (16 points each: the lower lid from corner to corner, then the upper lid).
    pub left_eyelids: Vec<[f32; 2]>,
    pub right_eyelids: Vec<[f32; 2]>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceAnalysisDto {
    /// The detection: box, five landmarks, confidence and quality (sharpness, brightness, size, issues).
    pub face: FaceDto,
    pub pose: PoseDto,
    pub eyes: EyesDto,
    pub smile: SmileDto,
    pub mouth: MouthDto,
    /// The nose tip in image pixels.
    pub nose_tip: PointDto,
    /// Expression probabilities: angry, disgust, fear, happy, sad, surprise, neutral.
    pub expressions: BTreeMap<String, f32>,
    /// The mesh network's confidence that its crop holds a face, 0..1.
    pub mesh_confidence: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub landmarks: Option<MeshLandmarks>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyzeResponse {
    pub image: ImageInfo,
    /// The faces analysed, largest first.
    pub faces: Vec<FaceAnalysisDto>,
    /// Faces found in all (more than `faces` when over `maxFaces`).
    pub face_count: usize,
}

fn analysis_dto(app: &AppState, face: &Face, a: &FaceAnalysis, landmarks: bool) -> FaceAnalysisDto {
    let v = Verdicts::of(&app.config, a);
    FaceAnalysisDto {
        face: FaceDto::from(face),
        pose: PoseDto { yaw: a.pose.yaw, pitch: a.pose.pitch, roll: a.pose.roll },
        eyes: EyesDto {
            left: EyeDto { openness: a.eyes.left, closed: v.left_eye_closed },
            right: EyeDto { openness: a.eyes.right, closed: v.right_eye_closed },
            closed: v.eyes_closed,
            threshold: v.eye_closed_threshold,
        },
        smile: SmileDto { probability: a.smile, smiling: v.smiling, threshold: v.smile_threshold, cues: a.smile_cues },
        mouth: MouthDto { openness: a.mouth_open },
        nose_tip: PointDto { x: a.nose_tip[0], y: a.nose_tip[1] },
        expressions: vision::analysis::EXPRESSIONS.iter().map(|n| n.to_string()).zip(a.expressions).collect(),
        mesh_confidence: a.presence,
        landmarks: landmarks.then(|| MeshLandmarks {
            mesh: a.mesh.clone(),
            left_eyelids: a.eye_contours.left.clone(),
            right_eyelids: a.eye_contours.right.clone(),
        }),
    }
}

/// Analyses each face: head pose, eye openness, smile, mouth, nose tip, expressions, and (on request) the
/// 468-point mesh and eyelid contours.
#[utoipa::path(post, path = "/v1/analyze", tag = "faces",
    request_body(content = AnalyzeRequest, description = "JSON with base64 `image`; or multipart; or a raw image body"),
    responses(
        (status = 200, body = AnalyzeResponse),
        (status = 400, body = ErrorBody),
        (status = 422, description = "`no_face`", body = ErrorBody),
    ))]
pub async fn analyze(State(app): State<AppState>, mut payload: Payload) -> ApiResult<Json<AnalyzeResponse>> {
    let image = payload.take_image("image")?;
    let req: AnalyzeRequest = payload.options()?;
    if req.max_faces.is_some_and(|n| !(1..=MAX_ANALYSED_FACES).contains(&n)) {
        return Err(HttpError::from(ApiError::invalid_parameter(format!(
            "maxFaces must lie in 1..={MAX_ANALYSED_FACES}"
        ))));
    }
    let analysed = analysis::analyze(&app, image, req.max_faces).await?;
    let faces = analysed.faces.iter().map(|f| analysis_dto(&app, &f.face, &f.analysis, req.landmarks)).collect();
    Ok(Json(AnalyzeResponse { image: analysed.image.into(), faces, face_count: analysed.face_count }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CheckRequest {
    /// The challenge: `smile`, `blink`, `turn_left`, `turn_right`, `look_up`, `look_down`, `head_pose`,
    /// `nose_target`. Directions are the person's own.
    #[schema(value_type = String)]
    pub kind: Kind,
    #[serde(default)]
    #[schema(value_type = String, format = Byte)]
    pub image: Option<ImageField>,
    /// Optional: the same person before the challenge (neutral, eyes open, facing the camera). With it, the
    /// image must show a change from it (a smile that rises, open eyes that close, a turn from its yaw).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub baseline: Option<ImageField>,
    /// `nose_target`: the area the nose tip must be in, in normalised image coordinates (0..1).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub target: Option<Target>,
    /// `smile`: the probability needed (default: the server's `smile_threshold`).
    #[serde(default)]
    pub smile_threshold: Option<f32>,
    /// `smile` with a baseline: the rise needed over it (default 0.3).
    #[serde(default)]
    pub min_smile_rise: Option<f32>,
    /// `blink`: eyes closed under this openness (default: the server's `eye_closed_threshold`).
    #[serde(default)]
    pub eye_closed_threshold: Option<f32>,
    /// Head turns / looking up or down: degrees needed (defaults 20 and 12).
    #[serde(default)]
    pub min_degrees: Option<f32>,
    /// `head_pose`: allowed ranges `[min, max]` in degrees (defaults ±15, ±15, ±20).
    #[serde(default)]
    pub yaw_range: Option<[f32; 2]>,
    #[serde(default)]
    pub pitch_range: Option<[f32; 2]>,
    #[serde(default)]
    pub roll_range: Option<[f32; 2]>,
}

/// What was measured on one image (of the largest face).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Measured {
    #[schema(value_type = Object)]
    pub signals: Signals,
    pub face: FaceDto,
    /// Faces in the image (the largest is judged).
    pub face_count: usize,
}

/// The decision on one challenge.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeDto {
    #[schema(value_type = String)]
    pub kind: Kind,
    pub passed: bool,
    /// 0..1: 0.5 at the pass mark, 1 well beyond it.
    pub score: f32,
    /// The quantity decided on (smile probability, eye openness, degrees turned, the pose's largest excess in
    /// degrees, the nose's distance to the target) and its pass mark.
    pub value: Option<f32>,
    pub threshold: f32,
    /// Why it did not pass: `not_smiling`, `smile_did_not_rise`, `eyes_open`, `baseline_eyes_closed`,
    /// `not_turned_enough`, `wrong_direction`, `pose_out_of_range`, `nose_outside_target`, and where the
    /// endpoint checks them `multiple_faces`, `identity_changed`.
    pub reasons: Vec<String>,
}

impl OutcomeDto {
    pub fn new(o: &CheckOutcome) -> Self {
        OutcomeDto {
            kind: o.kind,
            passed: o.passed,
            score: o.score,
            value: o.value.is_finite().then_some(o.value),
            threshold: o.threshold,
            reasons: o.reasons.iter().map(|r| r.code().to_string()).collect(),
        }
    }

    /// Fails the outcome for `reason` (a rule beyond the challenge's own).
    pub fn refuse(&mut self, reason: &str) {
        self.passed = false;
        self.reasons.push(reason.to_string());
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckResponse {
    #[serde(flatten)]
    pub outcome: OutcomeDto,
    pub image: Measured,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<Measured>,
}

fn in_unit(name: &str, v: Option<f32>) -> ApiResult<Option<f32>> {
    match v {
        Some(x) if !(x.is_finite() && (0.0..=1.0).contains(&x)) => {
            Err(HttpError::from(ApiError::invalid_parameter(format!("{name} must lie in 0..1"))))
        }
        _ => Ok(v),
    }
}

fn range(name: &str, v: Option<[f32; 2]>, default: [f32; 2]) -> ApiResult<[f32; 2]> {
    let r = v.unwrap_or(default);
    if !(r[0].is_finite() && r[1].is_finite() && r[0] <= r[1] && r[0] >= -180.0 && r[1] <= 180.0) {
        return Err(HttpError::from(ApiError::invalid_parameter(format!(
            "{name} must be [min, max] degrees with min <= max"
        ))));
    }
    Ok(r)
}

fn criteria(app: &AppState, req: &CheckRequest) -> ApiResult<Criteria> {
    let d = app.config.criteria();
    let degrees = match req.min_degrees {
        Some(x) if !(x.is_finite() && x > 0.0 && x <= 90.0) => {
            return Err(HttpError::from(ApiError::invalid_parameter("minDegrees must lie in (0, 90]")))
        }
        other => other,
    };
    let target = match (req.kind, req.target) {
        (Kind::NoseTarget, None) => {
            return Err(HttpError::from(ApiError::invalid_parameter(
                "a nose_target check needs `target` {x, y, width, height}",
            )))
        }
        (_, Some(t)) if !t.is_valid() => {
            return Err(HttpError::from(ApiError::invalid_parameter(
                "target must be an area of positive size inside 0..1",
            )))
        }
        (_, t) => t,
    };
    Ok(Criteria {
        smile_threshold: in_unit("smileThreshold", req.smile_threshold)?.unwrap_or(d.smile_threshold),
        smile_rise: in_unit("minSmileRise", req.min_smile_rise)?.unwrap_or(d.smile_rise),
        eyes_closed_threshold: in_unit("eyeClosedThreshold", req.eye_closed_threshold)?
            .unwrap_or(d.eyes_closed_threshold),
        turn_degrees: degrees.unwrap_or(d.turn_degrees),
        pitch_degrees: degrees.unwrap_or(d.pitch_degrees),
        yaw_range: range("yawRange", req.yaw_range, d.yaw_range)?,
        pitch_range: range("pitchRange", req.pitch_range, d.pitch_range)?,
        roll_range: range("rollRange", req.roll_range, d.roll_range)?,
        target,
    })
}

impl From<analysis::MeasuredFace> for Measured {
    fn from(m: analysis::MeasuredFace) -> Self {
        Measured { signals: m.signals, face: FaceDto::from(&m.face), face_count: m.face_count }
    }
}

/// One liveness challenge decided on one image (and, where it makes sense, against a baseline image of the
/// same person): smile, blink, head turns, head pose, nose in a target area. The largest face is judged; an
/// image with several faces does not pass (`multiple_faces`).
#[utoipa::path(post, path = "/v1/liveness/check", tag = "liveness",
    request_body(content = CheckRequest, description = "JSON with base64 `image` (and `baseline`); or multipart"),
    responses(
        (status = 200, body = CheckResponse),
        (status = 400, body = ErrorBody),
        (status = 422, description = "`no_face` (in the image or the baseline)", body = ErrorBody),
    ))]
pub async fn check(State(app): State<AppState>, mut payload: Payload) -> ApiResult<Json<CheckResponse>> {
    let image = payload.take_image("image")?;
    let mut baselines = payload.take_images("baseline")?;
    if baselines.len() > 1 {
        return Err(HttpError::from(ApiError::new(Code::InvalidRequest, "`baseline` is one image, not several")));
    }
    let req: CheckRequest = payload.options()?;
    let criteria = criteria(&app, &req)?;
    let checked = analysis::check(&app, req.kind, &criteria, image, baselines.pop()).await?;
    let mut outcome = OutcomeDto::new(&checked.outcome);
    if checked.multiple_faces {
        outcome.refuse(Code::MultipleFaces.as_str());
    }
    Ok(Json(CheckResponse { outcome, image: checked.image.into(), baseline: checked.baseline.map(Into::into) }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_analyze, _, _>(analyze, Scope(Scope::FacesDetect))
        .operation::<__path_check, _, _>(check, Scope(Scope::Liveness))
}
