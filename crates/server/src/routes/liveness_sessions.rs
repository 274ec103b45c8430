//! Active liveness sessions: create one (random challenges, a session token for the browser), send frames
//! (live feedback per frame), read the status and result, fetch the reference and audit images, delete it.
//! Every rule is enforced here and in the `liveness` crate's state machine; the state lives in the store, so
//! any replica can take the next frame.

use crate::liveness_dto::{AreaDto, ChallengeEvidenceDto, FrameCountsDto, FrameFeedback};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use liveness::{Kind, Session, SessionResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::{credentials, ClientAddress};
use crate::http_error::ErrorBody;
use crate::http_error::{field_name, ApiResult, HttpError};
use crate::input::{decode_base64, ImageField, OptionsBody, Payload};
use app::error::{ApiError, Code};
use app::state::AppState;
use app::time::rfc3339;
use app::usecases::liveness_sessions::token::SESSION_TOKEN_PREFIX;
use app::usecases::liveness_sessions::{self, Credential, Frame};

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;
use axum::http::Method;

/// Frames one request may carry.
pub const MAX_FRAMES_PER_REQUEST: usize = 10;
pub use app::usecases::liveness_sessions::challenges::MAX_FRAMES_PER_SESSION;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateSessionRequest {
    /// The challenges, in order (1-6 of `turn_left`, `turn_right`, `blink`, `smile`, `nose_target`, `look_up`,
    /// `look_down`). Default: `challengeCount` picked at random by the server.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub challenges: Option<Vec<Kind>>,
    /// How many random challenges (1-5, default 2).
    #[serde(default)]
    pub challenge_count: Option<usize>,
    /// Kinds the random choice leaves out.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub exclude: Option<Vec<Kind>>,
    /// Whether the random choice includes a head turn (default true).
    #[serde(default)]
    pub require_head_turn: Option<bool>,
    /// Audit images to keep: frames picked at random from those accepted (0-4, default 0).
    #[serde(default)]
    pub audit_images_limit: Option<u32>,
    /// Makes creation idempotent: the same token from the same key returns the same session (with a fresh
    /// session token).
    #[serde(default, deserialize_with = "crate::input::lenient_string")]
    pub client_request_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChallengeDto {
    pub index: usize,
    #[schema(value_type = String)]
    pub kind: Kind,
    pub title: String,
    pub instruction: String,
    pub timeout_seconds: f64,
    /// `nose_target`: the area (normalised frame coordinates, 0..1 from the left and top) for the nose tip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<AreaDto>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedSession {
    pub session_id: String,
    /// Lets its holder send frames to this session only (and read its status): safe to hand to a browser.
    /// Send it as `Authorization: Bearer TOKEN`.
    pub session_token: String,
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    pub challenges: Vec<ChallengeDto>,
    /// Frames must show one face at least this many pixels on its shorter side.
    pub min_face_px: f32,
    pub audit_images_limit: u32,
}

fn words(kind: Kind) -> (&'static str, &'static str) {
    match kind {
        Kind::TurnLeft => ("Turn left", "Slowly turn your head to your left, then back."),
        Kind::TurnRight => ("Turn right", "Slowly turn your head to your right, then back."),
        Kind::Blink => ("Blink", "Close both eyes for a moment, then open them."),
        Kind::Smile => ("Smile", "Give a big smile."),
        Kind::NoseTarget => ("Nose to the box", "Move your head until your nose is inside the box."),
        Kind::LookUp => ("Look up", "Tilt your head up a little."),
        Kind::LookDown => ("Look down", "Tilt your head down a little."),
        Kind::HeadPose => ("Look at the camera", "Face the camera straight on."),
    }
}

fn challenge_dtos(session: &Session) -> Vec<ChallengeDto> {
    session
        .options
        .challenges
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let (title, instruction) = words(c.kind);
            ChallengeDto {
                index,
                kind: c.kind,
                title: title.into(),
                instruction: instruction.into(),
                timeout_seconds: c.timeout_ms as f64 / 1000.0,
                target: c.target.map(AreaDto::from),
            }
        })
        .collect()
}

/// Creates a liveness session with random (or the listed) challenges.
#[utoipa::path(post, path = "/v1/liveness/sessions", tag = "liveness",
    request_body = CreateSessionRequest,
    responses(
        (status = 201, body = CreatedSession),
        (status = 200, description = "the session created before with the same `clientRequestToken`", body = CreatedSession),
        (status = 400, body = ErrorBody),
    ))]
pub async fn create_session(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    OptionsBody(req): OptionsBody<CreateSessionRequest>,
) -> ApiResult<Response> {
    let options = liveness_sessions::CreateOptions {
        challenges: req.challenges,
        challenge_count: req.challenge_count,
        exclude: req.exclude.unwrap_or_default(),
        require_head_turn: req.require_head_turn.unwrap_or(true),
        audit_images: req.audit_images_limit.unwrap_or(0),
        client_request_token: req.client_request_token,
        output: None,
        face_area: None,
        stream_challenges: Vec::new(),
    };
    let created = liveness_sessions::create(&app, &caller, options).await?;
    let status = if created.existed { StatusCode::OK } else { StatusCode::CREATED };
    Ok((status, Json(created_dto(created))).into_response())
}

/// The answer to a creation.
pub fn created_dto(created: liveness_sessions::Created) -> CreatedSession {
    let liveness_sessions::Created { row, session, token, .. } = created;
    CreatedSession {
        session_id: row.session_id,
        session_token: token,
        status: row.status,
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        challenges: challenge_dtos(&session),
        min_face_px: session.options.min_face_px,
        audit_images_limit: session.options.audit_images,
    }
}

/// The credential a request presents for a session: its session token (from the `Authorization` header), else
/// the API key the access layer admitted.
fn credential<'a>(headers: &'a HeaderMap, access: &'a Option<Extension<auth::Access>>) -> Credential<'a> {
    match credentials(headers) {
        Some(Ok(token)) if token.starts_with(SESSION_TOKEN_PREFIX) => Credential::SessionToken(token),
        _ => access.as_ref().map_or(Credential::None, |a| Credential::Key(&a.0)),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FrameIn {
    /// The frame (base64 JPEG or PNG).
    pub image: String,
    /// 0, 1, 2, ... with no gaps.
    pub sequence: u64,
    /// Milliseconds since the session's creation by the client's clock; must increase.
    pub timestamp: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FramesRequest {
    /// Several frames in order (at most 10).
    #[serde(default)]
    pub frames: Option<Vec<FrameIn>>,
    /// One frame: the image (base64, multipart file or raw body) with its sequence and timestamp.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub image: Option<ImageField>,
    #[serde(default)]
    pub sequence: Option<u64>,
    #[serde(default)]
    pub timestamp: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FramesResponse {
    pub session_id: String,
    pub status: String,
    /// One per frame: verdict (`accepted`, `no_face`, `multiple_faces`, `face_too_small`, `face_outside_area`,
    /// `low_quality`, `not_baseline`, `identity_changed`, `spoof_suspected`: only `accepted` frames count),
    /// current challenge, progress, guidance codes, the face box.
    pub feedback: Vec<FrameFeedback>,
    /// When the session has finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<SessionResultDto>,
}

fn read_frames(mut payload: Payload) -> ApiResult<Vec<Frame>> {
    let single = payload.take_images("image")?;
    let req: FramesRequest = payload.options()?;
    let mut out = Vec::new();
    match (req.frames, single.len()) {
        (Some(frames), 0) => {
            for (i, f) in frames.into_iter().enumerate() {
                let bytes = decode_base64(&format!("frames[{i}].image"), &f.image)?;
                out.push((bytes, f.sequence, f.timestamp));
            }
        }
        (None, 1) => {
            let (Some(sequence), Some(timestamp)) = (req.sequence, req.timestamp) else {
                return Err(HttpError::from(ApiError::invalid_parameter("a frame needs `sequence` and `timestamp`")));
            };
            out.extend(single.into_iter().map(|b| (b, sequence, timestamp)));
        }
        (None, 0) => {
            return Err(HttpError::from(ApiError::new(
                Code::MissingImage,
                "send `frames` or one `image` with sequence and timestamp",
            )))
        }
        _ => {
            return Err(HttpError::from(ApiError::new(
                Code::InvalidRequest,
                "send either `frames` or one `image`, not both",
            )))
        }
    }
    if out.is_empty() || out.len() > MAX_FRAMES_PER_REQUEST {
        return Err(HttpError::from(ApiError::invalid_parameter(format!(
            "send 1 to {MAX_FRAMES_PER_REQUEST} frames per request"
        ))));
    }
    Ok(out.into_iter().map(|(bytes, sequence, timestamp)| Frame::numbered(bytes, sequence, timestamp)).collect())
}

async fn frames_payload(app: &AppState, request: axum::extract::Request) -> ApiResult<Payload> {
    use axum::extract::FromRequest;
    Payload::from_request(request, app).await
}

/// Sends frames to a session (with an API key of its owner, or its session token). Frames are checked as a
/// whole first (sequence, timestamps, repeats), then measured and judged one by one.
#[utoipa::path(post, path = "/v1/liveness/sessions/{sessionId}/frames", tag = "liveness",
    params(("sessionId" = String, Path, description = "session id")),
    request_body(content = FramesRequest, description = "JSON `frames` (or one `image` with `sequence` and `timestamp`); multipart; or a raw image body with `?sequence=&timestamp=`"),
    responses(
        (status = 200, body = FramesResponse),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`frame_out_of_sequence`, `frame_timestamp_not_increasing`, `frame_timestamp_out_of_range`, `frame_replayed`, `session_finished`, `session_busy`", body = ErrorBody),
        (status = 410, description = "`session_expired`", body = ErrorBody),
    ))]
pub async fn post_frames(
    State(app): State<AppState>,
    Path(id): Path<String>,
    access: Option<Extension<auth::Access>>,
    Extension(ClientAddress(from)): Extension<ClientAddress>,
    request: axum::extract::Request,
) -> ApiResult<Json<FramesResponse>> {
    let headers = request.headers().clone();
    liveness_sessions::authorize_frames(&app, &id, credential(&headers, &access)).await?;
    let frames = read_frames(frames_payload(&app, request).await?)?;
    let taken = liveness_sessions::send_frames(&app, &id, frames, from).await?;
    Ok(Json(frames_dto(&id, taken)))
}

fn frames_dto(id: &str, taken: liveness_sessions::FramesTaken) -> FramesResponse {
    FramesResponse {
        session_id: id.to_string(),
        status: taken.status.as_str().into(),
        feedback: taken.feedback.iter().map(FrameFeedback::from).collect(),
        result: taken.result.map(|r| result_dto(id, &r, taken.reference_kept)),
    }
}

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// The session token (browsers cannot set headers on a WebSocket).
    #[serde(default)]
    pub token: Option<String>,
}

/// A frame sent over the stream as text.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct StreamFrame {
    image: String,
    #[serde(default)]
    sequence: Option<u64>,
    #[serde(default)]
    timestamp: Option<i64>,
}

/// The same frames and feedback as `POST .../frames` over a WebSocket: each message is one frame — text
/// `{"image": base64, "sequence", "timestamp"}`, or binary image bytes (then the server numbers it and stamps
/// it with its own clock) — and each answer is the frames response, or `{"error": {...}}`. The server closes
/// the socket once the session has finished. Authenticate with `?token=SESSION_TOKEN` (or the usual header).
pub async fn stream(
    State(app): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<StreamQuery>,
    access: Option<Extension<auth::Access>>,
    Extension(ClientAddress(from)): Extension<ClientAddress>,
    headers: HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> ApiResult<Response> {
    let presented = match &query.token {
        Some(token) => Credential::SessionToken(token),
        None => credential(&headers, &access),
    };
    liveness_sessions::authorize_frames(&app, &id, presented).await?;
    let max = app.body_limit();
    Ok(upgrade.max_message_size(max).on_upgrade(move |socket| run_stream(app, id, from, socket)))
}

async fn run_stream(app: AppState, id: String, from: std::net::IpAddr, mut socket: axum::extract::ws::WebSocket) {
    use axum::extract::ws::Message;
    let idle = app.idle_timeout();
    while let Ok(Some(Ok(message))) = tokio::time::timeout(idle, socket.recv()).await {
        let frame = match message {
            Message::Text(text) => parse_stream_text(&text),
            Message::Binary(bytes) => Ok(stream_binary(bytes)),
            Message::Close(_) => break,
            _ => continue,
        };
        let answer = match frame {
            Ok(frame) => liveness_sessions::send_frames(&app, &id, vec![frame], from).await.map(|t| frames_dto(&id, t)),
            Err(HttpError(e)) => Err(e),
        };
        let (text, done) = match answer {
            Ok(r) => {
                let done = r.result.is_some();
                (serde_json::to_string(&r).unwrap_or_default(), done)
            }
            Err(e) => {
                let done = matches!(e.code, Code::SessionFinished | Code::SessionExpired | Code::SessionNotFound);
                (
                    serde_json::json!({"error": {"code": e.code.as_str(), "message": e.worded(field_name)}})
                        .to_string(),
                    done,
                )
            }
        };
        if socket.send(Message::Text(text.into())).await.is_err() || done {
            break;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

fn parse_stream_text(text: &str) -> ApiResult<Frame> {
    let f: StreamFrame = serde_json::from_str(text)
        .map_err(|e| ApiError::new(Code::InvalidRequest, format!("invalid frame message: {e}")))?;
    let (Some(sequence), Some(timestamp)) = (f.sequence, f.timestamp) else {
        return Err(HttpError::from(ApiError::invalid_parameter("a frame needs `sequence` and `timestamp`")));
    };
    let bytes = decode_base64("image", &f.image)?;
    Ok(Frame::numbered(bytes, sequence, timestamp))
}

/// A binary message: numbered and stamped when it is taken, from the session loaded anyway.
fn stream_binary(bytes: axum::body::Bytes) -> Frame {
    Frame::unnumbered(bytes)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResultDto {
    /// `SUCCEEDED`, `FAILED` or `EXPIRED` (or `CREATED` / `IN_PROGRESS` while running).
    pub status: String,
    /// 0-100: 50 and above if and only if the session succeeded.
    pub confidence: f32,
    /// `identity_changed`, `spoof_detected`, `flat_motion`, `still_picture`, `scene_cut`, `replayed_frames`,
    /// `too_many_bad_frames`, `challenge_timeout`, `too_many_frames`, `passive_check_unavailable`; for a session
    /// completed by Amplify's component: `approach_not_shown`, `light_not_reflected`, `stream_incomplete`.
    pub reasons: Vec<String>,
    pub challenges: Vec<ChallengeEvidenceDto>,
    pub frames: FrameCountsDto,
    /// The lowest mean passive score over 3 consecutive frames.
    pub passive_score: Option<f32>,
    /// Whether passive anti-spoofing judged the frames; a success without it rests on the challenges alone
    /// (`liveness_allow_challenge_only`).
    pub passive_checked: bool,
    pub min_similarity: Option<f32>,
    /// The best frontal frame's sequence number; its image is at `referenceImage` (unless privacy mode).
    pub reference_frame: Option<u64>,
    pub reference_image: Option<String>,
    /// For a session completed by Amplify's component over the streaming door: its challenge and what its video
    /// showed (its `challenges` above were never run).
    pub stream: Option<StreamResultDto>,
}

/// A streamed session's challenge and what the server measured on its video.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamResultDto {
    /// `approach` (Rekognition's `FaceMovementChallenge`) or `approach_and_light`
    /// (`FaceMovementAndLightChallenge`).
    pub challenge: String,
    /// The oval drawn for the session: x, y, width, height of its box, normalised.
    pub oval: Vec<f32>,
    /// Frames decoded, and those without exactly one usable face (none until the video was judged).
    pub frames: Option<u32>,
    pub bad_frames: Option<u32>,
    /// The approach: the near face's width over the far face's, the 3-D evidence (eye distances), and why it
    /// failed (`frames_out_of_order`, `too_many_bad_frames`, `not_continuous`, `never_in_oval`,
    /// `too_little_approach`, `flat_approach`).
    pub scale: Option<f32>,
    pub depth: Option<f32>,
    pub approach_failure: Option<String>,
    /// The light: colour changes judged, the share the face followed, and why it failed (`sequence_mismatch`,
    /// `too_few_changes`, `not_reflected`).
    pub light_changes: Option<usize>,
    pub light_agreement: Option<f32>,
    pub light_failure: Option<String>,
}

fn stream_dto(r: &SessionResult) -> Option<StreamResultDto> {
    let plan = r.stream.as_ref()?;
    let e = r.stream_evidence.as_ref();
    let light = e.and_then(|e| e.light.as_ref());
    Some(StreamResultDto {
        challenge: plan.challenge.as_str().into(),
        oval: vec![plan.oval.x, plan.oval.y, plan.oval.width, plan.oval.height],
        frames: e.map(|e| e.frames),
        bad_frames: e.map(|e| e.bad_frames),
        scale: e.map(|e| e.approach.scale),
        depth: e.map(|e| e.approach.depth),
        approach_failure: e.and_then(|e| e.approach.failure).map(|f| f.code().into()),
        light_changes: light.map(|l| l.changes),
        light_agreement: light.map(|l| l.agreement),
        light_failure: light.and_then(|l| l.failure).map(|f| f.code().into()),
    })
}

/// The result as the API shows it; `reference_kept`: whether the reference image was stored (never in privacy
/// mode), so that no URL is named that would answer 404.
fn result_dto(id: &str, r: &SessionResult, reference_kept: bool) -> SessionResultDto {
    SessionResultDto {
        status: r.status.as_str().into(),
        confidence: r.confidence,
        reasons: r.reasons.iter().map(|s| s.to_string()).collect(),
        challenges: r.challenges.iter().map(ChallengeEvidenceDto::from).collect(),
        frames: FrameCountsDto::from(&r.frames),
        passive_score: r.passive_score,
        passive_checked: r.passive_checked,
        min_similarity: r.min_similarity,
        reference_frame: r.reference_frame,
        reference_image: r
            .reference_frame
            .filter(|_| reference_kept)
            .map(|_| format!("/v1/liveness/sessions/{id}/images/reference")),
        stream: stream_dto(r),
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub session_id: String,
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    pub challenges: Vec<ChallengeDto>,
    /// The challenge now expected (while running, after the baseline).
    pub current_challenge: Option<usize>,
    pub result: SessionResultDto,
    /// Paths of the kept images (`reference`, `audit-0`...).
    pub images: Vec<String>,
}

/// A session's status and, once finished, its result (with an API key of its owner, or its session token).
#[utoipa::path(get, path = "/v1/liveness/sessions/{sessionId}", tag = "liveness",
    params(("sessionId" = String, Path, description = "session id")),
    responses((status = 200, body = SessionView), (status = 404, body = ErrorBody)))]
pub async fn get_session(
    State(app): State<AppState>,
    Path(id): Path<String>,
    access: Option<Extension<auth::Access>>,
    headers: HeaderMap,
) -> ApiResult<Json<SessionView>> {
    let found = liveness_sessions::status(&app, &id, credential(&headers, &access)).await?;
    let (row, s, names) = (&found.row, &found.session, &found.image_names);
    let result = result_dto(&id, &s.result(), names.iter().any(|n| n == "reference"));
    Ok(Json(SessionView {
        session_id: id.clone(),
        status: s.status.as_str().into(),
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        challenges: challenge_dtos(s),
        current_challenge: (s.baseline.is_some() && !s.status.is_final()).then_some(s.current),
        result,
        images: names.iter().map(|n| format!("/v1/liveness/sessions/{id}/images/{n}")).collect(),
    }))
}

/// A session's reference or audit image (API key of its owner).
#[utoipa::path(get, path = "/v1/liveness/sessions/{sessionId}/images/{name}", tag = "liveness",
    params(("sessionId" = String, Path, description = "session id"), ("name" = String, Path, description = "`reference` or `audit-N`")),
    responses((status = 200, description = "the image", content_type = "image/jpeg"), (status = 404, body = ErrorBody)))]
pub async fn get_session_image(
    State(app): State<AppState>,
    Path((id, name)): Path<(String, String)>,
    access: Option<Extension<auth::Access>>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let image = liveness_sessions::image(&app, &id, &name, credential(&headers, &access)).await?;
    Ok((
        [(header::CONTENT_TYPE, image.content_type), (header::CACHE_CONTROL, "no-store".into())],
        Body::from(image.bytes),
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionTokenDto {
    pub session_id: String,
    /// Send it as `Authorization: Bearer TOKEN`; the session's previous token stops working.
    pub session_token: String,
}

/// A new session token for a session (API key of its owner), e.g. for a session created through the
/// Rekognition API, whose answer carries no token: the browser that runs the challenges gets this one.
#[utoipa::path(post, path = "/v1/liveness/sessions/{sessionId}/token", tag = "liveness",
    params(("sessionId" = String, Path, description = "session id")),
    responses((status = 200, body = SessionTokenDto), (status = 404, body = ErrorBody)))]
pub async fn new_session_token(
    State(app): State<AppState>,
    Path(id): Path<String>,
    access: Option<Extension<auth::Access>>,
    headers: HeaderMap,
) -> ApiResult<Json<SessionTokenDto>> {
    let token = liveness_sessions::new_token(&app, &id, credential(&headers, &access)).await?;
    Ok(Json(SessionTokenDto { session_id: id, session_token: token }))
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedSession {
    pub session_id: String,
    pub deleted: bool,
}

/// Deletes a session with its images and its frames' landmarks in the replay memory (API key of its owner).
#[utoipa::path(delete, path = "/v1/liveness/sessions/{sessionId}", tag = "liveness",
    params(("sessionId" = String, Path, description = "session id")),
    responses((status = 200, body = DeletedSession), (status = 404, body = ErrorBody)))]
pub async fn delete_session(
    State(app): State<AppState>,
    Path(id): Path<String>,
    access: Option<Extension<auth::Access>>,
    headers: HeaderMap,
) -> ApiResult<Json<DeletedSession>> {
    let deleted = liveness_sessions::delete(&app, &id, credential(&headers, &access)).await?;
    Ok(Json(DeletedSession { session_id: id, deleted }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_create_session, _, _>(create_session, Scope(Scope::Liveness))
        .operation::<__path_get_session, _, _>(get_session, SessionTokenOr(Scope::Liveness))
        .operation::<__path_post_frames, _, _>(post_frames, SessionTokenOr(Scope::Liveness))
        .operation::<__path_get_session_image, _, _>(get_session_image, Scope(Scope::Liveness))
        .operation::<__path_delete_session, _, _>(delete_session, Scope(Scope::Liveness))
        .operation::<__path_new_session_token, _, _>(new_session_token, Scope(Scope::Liveness))
        .operation::<__path_list_sessions, _, _>(list_sessions, Scope(Scope::Liveness))
        // The WebSocket of live feedback: not an OpenAPI operation.
        .undocumented(Method::GET, "/v1/liveness/sessions/{sessionId}/stream", stream, SessionTokenOr(Scope::Liveness))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionPageQuery {
    /// Page size, 1-1000 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `nextToken` of the previous page.
    #[serde(default, deserialize_with = "crate::input::lenient_string")]
    pub next_token: Option<String>,
}

/// A session in a listing: what it asked for and how it ended (the evidence is in the session's own view).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub session_id: String,
    pub status: String,
    pub created_at: String,
    pub expires_at: String,
    /// The challenge kinds, in order.
    pub challenges: Vec<String>,
    /// 0-100 once finished (50 and above if and only if it succeeded).
    pub confidence: Option<f32>,
    /// Why it failed, once finished.
    pub reasons: Vec<String>,
    /// Frames received so far.
    pub frames_received: u32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionList {
    pub sessions: Vec<SessionSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Recent liveness sessions, newest first: the calling key's own (an admin key's: every session), paginated.
#[utoipa::path(get, path = "/v1/liveness/sessions", tag = "liveness", params(SessionPageQuery),
    responses((status = 200, body = SessionList), (status = 400, body = ErrorBody)))]
pub async fn list_sessions(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    crate::input::QueryOptions(q): crate::input::QueryOptions<SessionPageQuery>,
) -> ApiResult<Json<SessionList>> {
    let page = app::usecases::collections::Page { limit: q.limit, next_token: q.next_token };
    let listed = liveness_sessions::list(&app, &caller, &page).await?;
    let sessions = listed
        .items
        .into_iter()
        .map(|item| {
            let s = &item.session;
            let finished = s.status.is_final().then(|| s.result());
            SessionSummary {
                session_id: item.row.session_id.clone(),
                status: s.status.as_str().into(),
                created_at: rfc3339(item.row.created_at),
                expires_at: rfc3339(item.row.expires_at),
                challenges: s.options.challenges.iter().map(|c| c.kind.as_str().to_string()).collect(),
                confidence: finished.as_ref().map(|r| r.confidence),
                reasons: finished.map(|r| r.reasons.iter().map(|x| x.to_string()).collect()).unwrap_or_default(),
                frames_received: s.counts.received,
            }
        })
        .collect();
    Ok(Json(SessionList { sessions, next_token: listed.next_token }))
}
