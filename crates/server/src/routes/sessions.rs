//! Active liveness sessions: create one (random challenges, a session token for the browser), send frames
//! (live feedback per frame), read the status and result, fetch the reference and audit images, delete it.
//! Every rule is enforced here and in the `liveness` crate's state machine; the state lives in the store, so
//! any replica can take the next frame.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use liveness::replay::{self, FramePrint, SeenFrame};
use liveness::{ChallengeEvidence, Feedback, FrameError, FrameStamp, Kind, Session, SessionResult, Status, Target};
use serde::{Deserialize, Serialize};
use store::{NewSession, SessionCreated, SessionImage, StoredSession};
use utoipa::ToSchema;

use crate::access::credentials;
use crate::error::{ApiError, ApiResult, Code};
use crate::http_error::ErrorBody;
use crate::input::{decode_base64, ImageField, JsonBody, Payload};
use crate::sessions::{self, SessionRecord, MAX_AUDIT_IMAGES, SESSION_TOKEN_PREFIX};
use crate::state::AppState;
use crate::time::rfc3339;

/// Frames one request may carry.
pub const MAX_FRAMES_PER_REQUEST: usize = 10;
pub use crate::sessions::MAX_FRAMES_PER_SESSION;

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
    #[schema(value_type = Option<Object>)]
    pub target: Option<Target>,
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
                target: c.target,
            }
        })
        .collect()
}

fn session_not_found(id: &str) -> ApiError {
    ApiError::new(Code::SessionNotFound, format!("liveness session {id:?} does not exist"))
}

fn load_record(row: &StoredSession) -> ApiResult<SessionRecord> {
    serde_json::from_str(&row.state).map_err(|e| ApiError::internal("liveness session state", e))
}

fn state_json(record: &SessionRecord) -> ApiResult<String> {
    serde_json::to_string(record).map_err(|e| ApiError::internal("liveness session state", e))
}

/// Who may act on a session: the key that created it, an admin key, or (where allowed) its session token.
enum Caller {
    Key,
    SessionToken,
}

fn authorize(
    row: &StoredSession,
    access: Option<&auth::Access>,
    headers: &HeaderMap,
    token_allowed: bool,
) -> ApiResult<Caller> {
    if let Some(Ok(token)) = credentials(headers) {
        if token.starts_with(SESSION_TOKEN_PREFIX) {
            if !token_allowed {
                return Err(ApiError::new(
                    Code::InsufficientScope,
                    "a session token may only send frames and read its session's status",
                ));
            }
            sessions::verify_token(token, &row.session_id, &row.token_hash)?;
            return Ok(Caller::SessionToken);
        }
    }
    match access {
        Some(a) if a.is_admin() || a.key_id == row.owner_key => Ok(Caller::Key),
        Some(_) => Err(session_not_found(&row.session_id)),
        None => Err(ApiError::new(Code::Unauthorized, "this endpoint needs an API key or the session token")),
    }
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
    JsonBody(req): JsonBody<CreateSessionRequest>,
) -> ApiResult<Response> {
    let (status, body) = new_session(&app, &caller, req).await?;
    Ok((status, Json(body)).into_response())
}

/// Creates a session for `caller` (201), or finds the one created before with the same client request token
/// (200, with a fresh session token).
pub async fn new_session(
    app: &AppState,
    caller: &auth::Access,
    req: CreateSessionRequest,
) -> ApiResult<(StatusCode, CreatedSession)> {
    let audit = req.audit_images_limit.unwrap_or(0);
    if audit > MAX_AUDIT_IMAGES {
        return Err(ApiError::invalid_parameter(format!("auditImagesLimit must lie in 0..={MAX_AUDIT_IMAGES}")));
    }
    if let Some(t) = &req.client_request_token {
        if !store::valid_client_token(t) {
            return Err(ApiError::invalid_parameter("clientRequestToken must be 1-64 characters of A-Z a-z 0-9 _ -"));
        }
    }
    let kinds = match &req.challenges {
        Some(list) => {
            if list.is_empty() || list.len() > 6 {
                return Err(ApiError::invalid_parameter("challenges must list 1 to 6 kinds"));
            }
            if let Some(k) = list.iter().find(|k| !sessions::RANDOM_KINDS.contains(k)) {
                return Err(ApiError::invalid_parameter(format!("{} is not a session challenge", k.as_str())));
            }
            list.clone()
        }
        None => {
            let count = req.challenge_count.unwrap_or(2);
            if !(1..=5).contains(&count) {
                return Err(ApiError::invalid_parameter("challengeCount must lie in 1..=5"));
            }
            let exclude = req.exclude.clone().unwrap_or_default();
            let kinds = sessions::pick_kinds(count, &exclude, req.require_head_turn.unwrap_or(true));
            if kinds.len() < count {
                return Err(ApiError::invalid_parameter("too many kinds are excluded for challengeCount"));
            }
            kinds
        }
    };
    let now = store::now_millis();
    let config = &app.config;
    let lifetime_ms = config.liveness_session_seconds as i64 * 1000;
    let challenges = sessions::specs(&kinds, config.liveness_challenge_seconds as i64 * 1000);
    let options = sessions::session_options(config, challenges, app.passive.is_ok(), audit);
    let record = SessionRecord {
        session: Session::new(options, now),
        template: None,
        audit_candidates: 0,
        audit_filled: 0,
        consumed: false,
    };
    let session_id = uuid::Uuid::new_v4().to_string();
    let (token, token_hash) = sessions::new_token(&session_id);
    // Finished sessions past their retention, frame prints past the replay window and templates past their
    // time go on the way (and every minute, see `Server::serve`).
    sweep(app).await?;
    let created = app
        .store
        .create_session(&NewSession {
            session_id: session_id.clone(),
            owner_key: caller.key_id.clone(),
            client_request_token: req.client_request_token.clone(),
            token_hash,
            status: Status::Created.as_str().into(),
            state: state_json(&record)?,
            created_at: now,
            expires_at: now + lifetime_ms,
            purge_at: now + lifetime_ms + config.liveness_retention_seconds as i64 * 1000,
            biometrics_until: None,
        })
        .await?;
    let (status, row, token) = match created {
        SessionCreated::New(row) => (StatusCode::CREATED, row, token),
        SessionCreated::Existing(row) => {
            // The first answer was lost: the same session, with a new token (the first one stops working).
            let (token, hash) = sessions::new_token(&row.session_id);
            app.store.set_session_token(&row.session_id, &hash).await?;
            (StatusCode::OK, row, token)
        }
    };
    let record = load_record(&row)?;
    let body = CreatedSession {
        session_id: row.session_id.clone(),
        session_token: token,
        status: row.status.clone(),
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        challenges: challenge_dtos(&record.session),
        min_face_px: record.session.options.min_face_px,
        audit_images_limit: record.session.options.audit_images,
    };
    Ok((status, body))
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
    /// One per frame: verdict (`accepted`, `no_face`, `multiple_faces`, `face_too_small`, `low_quality`,
    /// `not_baseline`, `identity_changed`, `spoof_suspected`: only `accepted` frames count), current challenge,
    /// progress, guidance codes, the face box.
    #[schema(value_type = Vec<Object>)]
    pub feedback: Vec<Feedback>,
    /// When the session has finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<SessionResultDto>,
}

fn frame_error(e: &FrameError) -> ApiError {
    ApiError::from(e)
}

/// Frames of a request, decoded.
struct FrameBytes {
    bytes: axum::body::Bytes,
    sequence: u64,
    timestamp: i64,
    hash: String,
    /// A binary stream message: the server numbers it and stamps it with its own clock when it takes it.
    numbered_by_server: bool,
}

fn read_frames(mut payload: Payload) -> ApiResult<Vec<FrameBytes>> {
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
                return Err(ApiError::invalid_parameter("a frame needs `sequence` and `timestamp`"));
            };
            out.extend(single.into_iter().map(|b| (b, sequence, timestamp)));
        }
        (None, 0) => {
            return Err(ApiError::new(Code::MissingImage, "send `frames` or one `image` with sequence and timestamp"))
        }
        _ => return Err(ApiError::new(Code::InvalidRequest, "send either `frames` or one `image`, not both")),
    }
    if out.is_empty() || out.len() > MAX_FRAMES_PER_REQUEST {
        return Err(ApiError::invalid_parameter(format!("send 1 to {MAX_FRAMES_PER_REQUEST} frames per request")));
    }
    Ok(out
        .into_iter()
        .map(|(bytes, sequence, timestamp)| FrameBytes {
            numbered_by_server: false,
            hash: sessions::sha256_hex(&bytes),
            bytes,
            sequence,
            timestamp,
        })
        .collect())
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
    request: axum::extract::Request,
) -> ApiResult<Json<FramesResponse>> {
    let headers = request.headers().clone();
    let row = app.store.get_session(&id).await?.ok_or_else(|| session_not_found(&id))?;
    authorize(&row, access.as_ref().map(|a| &a.0), &headers, true)?;
    let frames = read_frames(frames_payload(&app, request).await?)?;
    take_frames(&app, &id, frames).await.map(Json)
}

fn replay_window_ms(app: &AppState) -> i64 {
    i64::try_from(app.config.liveness_replay_window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The frames of other sessions within the replay window whose faces lay where this one's does (see
/// `liveness::replay`).
async fn seen_in(app: &AppState, id: &str, print: &FramePrint, now_ms: i64) -> ApiResult<Vec<SeenFrame>> {
    let near = app.store.frame_prints_near(&replay::cells(&print.points), now_ms - replay_window_ms(app), id).await?;
    Ok(near
        .into_iter()
        .filter(|row| replay::same_capture(&FramePrint::points_from_flat(&row.points), &print.points))
        .map(|row| SeenFrame { session: row.session_id, sequence: u64::try_from(row.sequence).unwrap_or(0) })
        .collect())
}

/// Checks, measures and judges frames for session `id` (the caller is authorised), saving after each.
async fn take_frames(app: &AppState, id: &str, mut frames: Vec<FrameBytes>) -> ApiResult<FramesResponse> {
    let row = app.store.get_session(id).await?.ok_or_else(|| session_not_found(id))?;
    let mut record = load_record(&row)?;
    let mut version = row.version;
    let now = store::now_millis();
    // Server-numbered frames (binary stream messages): the next sequence, and the server's time since creation.
    let (mut next, mut last) = (record.session.next_sequence, record.session.last_timestamp_ms);
    for f in frames.iter_mut().filter(|f| f.numbered_by_server) {
        let elapsed = (now - record.session.created_ms).max(0);
        f.sequence = next;
        f.timestamp = last.map_or(elapsed, |l| elapsed.max(l + 1));
        (next, last) = (next + 1, Some(f.timestamp));
    }
    if record.session.expire_if_due(now) {
        finish_record(app, &mut record);
        save(app, id, version, &record, &[]).await?;
        return Err(frame_error(&FrameError::Expired));
    }
    // The whole request is checked before anything is measured or written.
    let plan: Vec<(u64, i64, &str)> = frames.iter().map(|f| (f.sequence, f.timestamp, f.hash.as_str())).collect();
    record.session.check_frames(&plan, now).map_err(|e| frame_error(&e))?;
    let _admission = app.pool.admit()?;
    let mut feedback = Vec::new();
    for frame in frames {
        let started = std::time::Instant::now();
        let measured = sessions::measure_frame(app, frame.bytes.clone()).await?;
        let had_baseline = record.session.baseline.is_some();
        let now_ms = store::now_millis();
        let stamp = FrameStamp {
            sequence: frame.sequence,
            timestamp_ms: frame.timestamp,
            now_ms,
            byte_hash: frame.hash.clone(),
        };
        let print = measured.print().filter(|_| app.config.liveness_replay_window_seconds > 0);
        let mut observation = measured.observation(app.model, record.template.as_deref(), stamp);
        if let Some(p) = &print {
            observation.seen_in = seen_in(app, id, p, now_ms).await?;
        }
        let fb = record.session.observe(observation).map_err(|e| frame_error(&e))?;
        if let Some(p) = &print {
            app.store
                .add_frame_print(&store::NewFramePrint {
                    session_id: id,
                    sequence: i64::try_from(frame.sequence).unwrap_or(i64::MAX),
                    cell: p.cell,
                    points: &p.flat(),
                    created_at: now_ms,
                })
                .await?;
        }
        if !had_baseline && record.session.baseline.is_some() {
            record.template = measured.face.map(|f| f.template);
        }
        let mut images = Vec::new();
        if !app.config.liveness_privacy && fb.verdict == liveness::FrameVerdict::Accepted {
            let content_type = sessions::image_content_type(&frame.bytes).to_string();
            if fb.best_frontal {
                images.push(SessionImage {
                    name: "reference".into(),
                    content_type: content_type.clone(),
                    bytes: frame.bytes.to_vec(),
                });
            }
            let limit = record.session.options.audit_images;
            if let Some(slot) = sessions::audit_slot(&mut record, limit) {
                images.push(SessionImage { name: format!("audit-{slot}"), content_type, bytes: frame.bytes.to_vec() });
            }
        }
        if record.session.status.is_final() {
            finish_record(app, &mut record);
        }
        save(app, id, version, &record, &images).await?;
        version += 1;
        app.metrics.observe_inference("liveness_frame", started.elapsed().as_secs_f64());
        feedback.push(fb);
        if record.session.status.is_final() {
            break;
        }
    }
    let status = record.session.status;
    Ok(FramesResponse {
        session_id: id.to_string(),
        status: status.as_str().into(),
        feedback,
        result: status.is_final().then(|| result_dto(id, &record.session.result(), !app.config.liveness_privacy)),
    })
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
    headers: HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> ApiResult<Response> {
    let row = app.store.get_session(&id).await?.ok_or_else(|| session_not_found(&id))?;
    match &query.token {
        Some(token) => sessions::verify_token(token, &row.session_id, &row.token_hash)?,
        None => {
            authorize(&row, access.as_ref().map(|a| &a.0), &headers, true)?;
        }
    }
    let max = app.body_limit();
    Ok(upgrade.max_message_size(max).on_upgrade(move |socket| run_stream(app, id, socket)))
}

async fn run_stream(app: AppState, id: String, mut socket: axum::extract::ws::WebSocket) {
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
            Ok(frame) => take_frames(&app, &id, vec![frame]).await,
            Err(e) => Err(e),
        };
        let (text, done) = match answer {
            Ok(r) => {
                let done = r.result.is_some();
                (serde_json::to_string(&r).unwrap_or_default(), done)
            }
            Err(e) => {
                let done = matches!(e.code, Code::SessionFinished | Code::SessionExpired | Code::SessionNotFound);
                (serde_json::json!({"error": {"code": e.code.as_str(), "message": e.message}}).to_string(), done)
            }
        };
        if socket.send(Message::Text(text.into())).await.is_err() || done {
            break;
        }
    }
    let _ = socket.send(Message::Close(None)).await;
}

fn parse_stream_text(text: &str) -> ApiResult<FrameBytes> {
    let f: StreamFrame = serde_json::from_str(text)
        .map_err(|e| ApiError::new(Code::InvalidRequest, format!("invalid frame message: {e}")))?;
    let (Some(sequence), Some(timestamp)) = (f.sequence, f.timestamp) else {
        return Err(ApiError::invalid_parameter("a frame needs `sequence` and `timestamp`"));
    };
    let bytes = decode_base64("image", &f.image)?;
    Ok(FrameBytes { hash: sessions::sha256_hex(&bytes), bytes, sequence, timestamp, numbered_by_server: false })
}

/// A binary message: numbered and stamped in `take_frames`, from the session it loads anyway.
fn stream_binary(bytes: axum::body::Bytes) -> FrameBytes {
    FrameBytes { hash: sessions::sha256_hex(&bytes), bytes, sequence: 0, timestamp: 0, numbered_by_server: true }
}

/// What finishing changes beyond the state machine: in privacy mode the template goes, unless the session
/// succeeded (then it stays for one use — a face login or a verification — within the login window).
fn finish_record(app: &AppState, record: &mut SessionRecord) {
    if app.config.liveness_privacy && record.session.status != Status::Succeeded {
        record.template = None;
    }
}

async fn save(
    app: &AppState,
    id: &str,
    version: i64,
    record: &SessionRecord,
    images: &[SessionImage],
) -> ApiResult<()> {
    if !sessions::save_at(app, id, version, record, images).await? {
        return Err(ApiError::new(
            Code::SessionBusy,
            "another request changed this session at the same time: send the frame again",
        ));
    }
    Ok(())
}

/// Sessions swept at most per round.
const SWEEP_BATCH: i64 = 500;

/// The housekeeping of sessions, run on every replica now and then: sessions past their retention go (with
/// their images and replay prints), and in privacy mode every face template past its time — of sessions
/// abandoned while running, and of succeeded ones whose login window closed unused — is dropped.
pub async fn sweep(app: &AppState) -> ApiResult<u64> {
    let now = store::now_millis();
    let mut swept = app.store.purge_sessions(now).await?;
    app.store.purge_frame_prints(now - replay_window_ms(app)).await?;
    for row in app.store.sessions_holding_biometrics(now, SWEEP_BATCH).await? {
        let mut record = load_record(&row)?;
        if record.session.expire_if_due(now) {
            finish_record(app, &mut record);
        }
        record.template = None;
        // A request that changed the session meanwhile wins; the next round sees it again.
        if sessions::save_record(app, &row, &record, &[]).await? {
            swept += 1;
        }
    }
    Ok(swept)
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionResultDto {
    /// `SUCCEEDED`, `FAILED` or `EXPIRED` (or `CREATED` / `IN_PROGRESS` while running).
    pub status: String,
    /// 0-100: 50 and above if and only if the session succeeded.
    pub confidence: f32,
    /// `identity_changed`, `spoof_detected`, `flat_motion`, `still_picture`, `replayed_frames`,
    /// `too_many_bad_frames`, `challenge_timeout`, `too_many_frames`, `passive_check_unavailable`.
    pub reasons: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub challenges: Vec<ChallengeEvidence>,
    #[schema(value_type = Object)]
    pub frames: liveness::session::FrameCounts,
    /// The lowest mean passive score over 3 consecutive frames.
    pub passive_score: Option<f32>,
    /// Whether passive anti-spoofing judged the frames; a success without it rests on the challenges alone
    /// (`liveness_allow_challenge_only`).
    pub passive_checked: bool,
    pub min_similarity: Option<f32>,
    /// The best frontal frame's sequence number; its image is at `referenceImage` (unless privacy mode).
    pub reference_frame: Option<u64>,
    pub reference_image: Option<String>,
}

/// The result as the API shows it; `reference_kept`: whether the reference image was stored (never in privacy
/// mode), so that no URL is named that would answer 404.
fn result_dto(id: &str, r: &SessionResult, reference_kept: bool) -> SessionResultDto {
    SessionResultDto {
        status: r.status.as_str().into(),
        confidence: r.confidence,
        reasons: r.reasons.iter().map(|s| s.to_string()).collect(),
        challenges: r.challenges.clone(),
        frames: r.frames.clone(),
        passive_score: r.passive_score,
        passive_checked: r.passive_checked,
        min_similarity: r.min_similarity,
        reference_frame: r.reference_frame,
        reference_image: r
            .reference_frame
            .filter(|_| reference_kept)
            .map(|_| format!("/v1/liveness/sessions/{id}/images/reference")),
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
    let row = app.store.get_session(&id).await?.ok_or_else(|| session_not_found(&id))?;
    authorize(&row, access.as_ref().map(|a| &a.0), &headers, true)?;
    let mut record = load_record(&row)?;
    if record.session.expire_if_due(store::now_millis()) {
        finish_record(&app, &mut record);
        // A concurrent frame may win the race; then its state is the one to show next time.
        let _ = save(&app, &id, row.version, &record, &[]).await;
    }
    let s = &record.session;
    let names = app.store.session_image_names(&id).await?;
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
    let row = app.store.get_session(&id).await?.ok_or_else(|| session_not_found(&id))?;
    authorize(&row, access.as_ref().map(|a| &a.0), &headers, false)?;
    let image = app
        .store
        .session_image(&id, &name)
        .await?
        .ok_or_else(|| ApiError::new(Code::ImageNotFound, format!("this session has no image {name:?}")))?;
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
    let row = app.store.get_session(&id).await?.ok_or_else(|| session_not_found(&id))?;
    authorize(&row, access.as_ref().map(|a| &a.0), &headers, false)?;
    let (token, hash) = sessions::new_token(&id);
    app.store.set_session_token(&id, &hash).await?;
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
    let row = app.store.get_session(&id).await?.ok_or_else(|| session_not_found(&id))?;
    authorize(&row, access.as_ref().map(|a| &a.0), &headers, false)?;
    let deleted = app.store.delete_session(&id).await?;
    Ok(Json(DeletedSession { session_id: id, deleted }))
}
