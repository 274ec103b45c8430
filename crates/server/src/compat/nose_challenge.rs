//! `/compat/nose-challenge`: the nose-to-target liveness challenge (API Gateway + Lambda + Rekognition) and its
//! web client (`RemoteStarter` / `RemoteVerifier`, whose `API_URL` ends in `/challenge/`: both `/start` and
//! `/challenge/start` are served). `POST /start {userId, imageWidth, imageHeight}` → the session's id, token and
//! geometry in the pixels of the declared image size; `PUT /{id}/frames {timestamp, frameBase64, token}` →
//! `{"message": "Frame saved successfully"}`; `POST /{id}/verify {token}` → `{"success"}`.
//!
//! It runs on a Facegate liveness session with one `nose_target` challenge, so every rule of those sessions
//! holds: one face in every frame, the nose reaching the target box **with the head rotating toward it** (a photo
//! slid across the camera does not rotate), passive anti-spoofing, replay and still-picture checks. Frames are
//! judged as they arrive rather than at `/verify`; the client sees the same answers either way.

use axum::extract::{Extension, Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{ClientAddress, OpenRoute, Requirement::*};
use crate::http_error::{ApiResult, HttpError};
use crate::input::{decode_base64, JsonBody, OptionsBody};
use crate::routes::table::Routes;
use app::error::{ApiError, Code};
use app::state::AppState;
use app::usecases::liveness_sessions::{self, CreateOptions, Credential, Frame};
use auth::Scope;
use liveness::{Kind, Status};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StartRequest {
    /// The application's user (kept with the session as its `clientRequestToken`-free label: not stored).
    #[serde(default, deserialize_with = "crate::input::lenient_string")]
    #[schema(value_type = Option<String>)]
    pub user_id: Option<String>,
    /// The size of the frames the client will send, in pixels.
    pub image_width: u32,
    pub image_height: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    pub id: String,
    /// The session token: send it in the body of each frame and of `/verify`.
    pub token: String,
    pub image_width: u32,
    pub image_height: u32,
    pub area_left: u32,
    pub area_top: u32,
    pub area_width: u32,
    pub area_height: u32,
    /// The face must cover at least this share of the area (from Facegate's `liveness_min_face_px`). The frames
    /// before the session's baseline must show the face in the area, at least this large.
    pub min_face_area_percent: u32,
    pub nose_left: u32,
    pub nose_top: u32,
    pub nose_width: u32,
    pub nose_height: u32,
}

fn px(fraction: f32, side: u32) -> u32 {
    (fraction * side as f32).round().max(0.0) as u32
}

/// Start a challenge: the area for the face and the nose target box, in the pixels of the declared size. Needs
/// a key with the `liveness` scope unless `open_routes` lists `nose_challenge_start` (the sample's browser client
/// calls it directly).
#[utoipa::path(post, path = "/compat/nose-challenge/start", tag = "compat: nose-challenge",
    request_body = StartRequest,
    responses((status = 200, body = Started), (status = 400, description = "`{\"message\": ...}`")))]
pub async fn start(
    State(app): State<AppState>,
    caller: Option<Extension<auth::Access>>,
    OptionsBody(req): OptionsBody<StartRequest>,
) -> ApiResult<Json<Started>> {
    // Opened by `open_routes`, a caller without a key owns its session as `anonymous` (only its token reaches it).
    let caller = caller.map(|c| c.0).unwrap_or_else(|| auth::Access::anonymous(vec![Scope::Liveness]));
    let (w, h) = (req.image_width, req.image_height);
    if !(64..=8192).contains(&w) || !(64..=8192).contains(&h) {
        return Err(HttpError::from(ApiError::invalid_parameter(
            "imageWidth and imageHeight must lie in 64..8192 pixels",
        )));
    }
    // The area the client draws is the session's: the frames before the baseline must show the face in it.
    let face_area = liveness_sessions::challenges::nose_challenge_area(&app.config, w, h);
    let options = CreateOptions {
        challenges: Some(vec![Kind::NoseTarget]),
        challenge_count: None,
        exclude: Vec::new(),
        require_head_turn: false,
        audit_images: 0,
        client_request_token: None,
        output: None,
        face_area: Some(face_area),
        stream_challenges: Vec::new(),
    };
    let created = liveness_sessions::create(&app, &caller, options).await?;
    let target = created
        .session
        .options
        .challenges
        .first()
        .and_then(|c| c.target)
        .ok_or_else(|| ApiError::internal("nose challenge", "the session has no target"))?;
    let area = face_area.area;
    Ok(Json(Started {
        id: created.row.session_id,
        token: created.token,
        image_width: w,
        image_height: h,
        area_left: px(area.x, w),
        area_top: px(area.y, h),
        area_width: px(area.width, w),
        area_height: px(area.height, h),
        min_face_area_percent: (face_area.min_cover * 100.0).ceil().clamp(1.0, 100.0) as u32,
        nose_left: px(target.x, w),
        nose_top: px(target.y, h),
        nose_width: px(target.width, w),
        nose_height: px(target.height, h),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FrameRequest {
    /// The client's clock, milliseconds (the server stamps frames with its own clock).
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// A JPEG (or PNG), base64.
    pub frame_base64: String,
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FrameSaved {
    pub message: String,
}

/// Send one frame. Judged on arrival; frames after the session has decided change nothing.
#[utoipa::path(put, path = "/compat/nose-challenge/{id}/frames", tag = "compat: nose-challenge",
    params(("id" = String, Path)), request_body = FrameRequest,
    responses((status = 200, body = FrameSaved), (status = 401, description = "`{\"message\": ...}`: a wrong token")))]
pub async fn put_frame(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Extension(ClientAddress(from)): Extension<ClientAddress>,
    JsonBody(req): JsonBody<FrameRequest>,
) -> ApiResult<Json<FrameSaved>> {
    let image = decode_base64("frameBase64", &req.frame_base64)?;
    liveness_sessions::authorize_frames(&app, &id, Credential::SessionToken(&req.token)).await?;
    match liveness_sessions::send_frames(&app, &id, vec![Frame::unnumbered(image)], from).await {
        // The session's own verdict on the frame (accepted, refused, the session decided) is for `/verify`.
        Ok(_) => {}
        Err(e) if matches!(e.code.status(), 409 | 410 | 422) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Json(FrameSaved { message: "Frame saved successfully".into() }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = NoseChallengeVerifyRequest)]
pub struct VerifyRequest {
    pub token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyAnswer {
    pub success: bool,
}

/// Whether the challenge was done: one face throughout, the nose in the box, the head rotated toward it, and
/// every other rule of Facegate's sessions.
#[utoipa::path(post, path = "/compat/nose-challenge/{id}/verify", tag = "compat: nose-challenge",
    params(("id" = String, Path)), request_body = VerifyRequest,
    responses((status = 200, body = VerifyAnswer), (status = 401, description = "`{\"message\": ...}`: a wrong token")))]
pub async fn verify(
    State(app): State<AppState>,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> ApiResult<Json<VerifyAnswer>> {
    let status = liveness_sessions::status(&app, &id, Credential::SessionToken(&req.token)).await?;
    Ok(Json(VerifyAnswer { success: status.session.result().status == Status::Succeeded }))
}

/// A wrong token is a 401 in that system's words; a missing session a 404.
fn error_shape(e: &ApiError) -> (u16, serde_json::Value) {
    let (status, body) = super::gateway_error(e);
    match e.code {
        Code::SessionTokenMismatch => (401, body),
        _ => (status, body),
    }
}

/// The routes of this front door (also under `/challenge/`, where the sample's `API_URL` points), answering
/// errors as API Gateway does.
pub fn routes() -> Routes {
    use axum::http::Method;
    Routes::new()
        .operation::<__path_start, _, _>(start, OpenIf(OpenRoute::NoseChallengeStart, Scope::Liveness))
        .operation::<__path_put_frame, _, _>(put_frame, TokenInBody)
        .operation::<__path_verify, _, _>(verify, TokenInBody)
        .undocumented(
            Method::POST,
            "/compat/nose-challenge/challenge/start",
            start,
            OpenIf(OpenRoute::NoseChallengeStart, Scope::Liveness),
        )
        .undocumented(Method::PUT, "/compat/nose-challenge/challenge/{id}/frames", put_frame, TokenInBody)
        .undocumented(Method::POST, "/compat/nose-challenge/challenge/{id}/verify", verify, TokenInBody)
        .errors_as(error_shape)
}
