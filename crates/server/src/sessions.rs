//! Liveness sessions on the server: what the store keeps for a session (the state machine plus the baseline
//! template), the session token handed to browsers, the random choice of challenges, and the measuring of one
//! frame on an inference worker.

use axum::body::Bytes;
use liveness::{ChallengeSpec, Criteria, FrameMeasurement, Kind, Session, SessionOptions, Target};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;

/// Session tokens: `fls_<session id>_<secret>`.
pub const SESSION_TOKEN_PREFIX: &str = "fls_";
/// Audit images a session may keep.
pub const MAX_AUDIT_IMAGES: u32 = 4;

/// What the store holds for a session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionRecord {
    pub session: Session,
    /// The baseline face's template (normalised), for the identity check of later frames; dropped when the
    /// session finishes in privacy mode.
    #[serde(default)]
    pub template: Option<Vec<f32>>,
    /// Frames that could become audit images so far (reservoir sampling), and the slots filled.
    #[serde(default)]
    pub audit_candidates: u32,
    #[serde(default)]
    pub audit_filled: u32,
    /// Used for a face login (a session logs in once).
    #[serde(default)]
    pub consumed: bool,
}

/// How long after it succeeded a session may still be used to log in.
pub const LOGIN_WINDOW_MS: i64 = 5 * 60 * 1000;

/// What proves that the caller of a face login ran the liveness session it names: the session id alone is
/// no secret (it travels in URLs and logs), so either the session's token or an API key that may read it.
pub enum SessionProof<'a> {
    Token(&'a str),
    Key(&'a auth::Access),
    Nothing,
}

/// Takes a succeeded liveness session for a face login: its baseline template, once (the session is marked
/// used with a versioned write, so two logins racing on one session cannot both win). In privacy mode the
/// template goes with it.
pub async fn consume_for_login(app: &AppState, session_id: &str, proof: SessionProof<'_>) -> ApiResult<Vec<f32>> {
    let refused = |why: &str| ApiError::new(Code::LivenessRequired, why.to_string());
    let row = app.store.get_session(session_id).await?.ok_or_else(|| refused("no such liveness session"))?;
    match proof {
        SessionProof::Token(token) => verify_token(token, &row.session_id, &row.token_hash)?,
        SessionProof::Key(access) if access.is_admin() || access.key_id == row.owner_key => {}
        SessionProof::Key(_) | SessionProof::Nothing => {
            return Err(refused(
                "send the liveness session's token (`livenessSessionToken`), or log in with the API key that \
                 created the session",
            ))
        }
    }
    let mut record: SessionRecord =
        serde_json::from_str(&row.state).map_err(|e| ApiError::internal("liveness session state", e))?;
    let s = &record.session;
    if s.status != liveness::Status::Succeeded {
        return Err(refused("the liveness session has not succeeded"));
    }
    if record.consumed {
        return Err(refused("the liveness session was used already"));
    }
    if s.finished_ms.is_none_or(|t| store::now_millis() - t > LOGIN_WINDOW_MS) {
        return Err(refused("the liveness session finished too long ago"));
    }
    let template = record.template.clone().ok_or_else(|| refused("the liveness session kept no face template"))?;
    record.consumed = true;
    if app.config.liveness_privacy {
        record.template = None;
    }
    if !save_record(app, &row, &record, &[]).await? {
        return Err(refused("the liveness session was used at the same time"));
    }
    Ok(template)
}

/// When the template a session holds must be dropped: in privacy mode, a running session's at its expiry,
/// a succeeded one's when its login window closes (or at once once used). `None` when nothing is to drop.
pub fn biometrics_until(app: &AppState, record: &SessionRecord) -> Option<i64> {
    if !app.config.liveness_privacy || record.template.is_none() {
        return None;
    }
    let s = &record.session;
    Some(match s.finished_ms {
        None => s.expires_ms(),
        Some(t) if s.status == liveness::Status::Succeeded && !record.consumed => t + LOGIN_WINDOW_MS,
        Some(t) => t,
    })
}

/// Writes a session's record if the stored row is still at `row.version`; `false` when another writer won.
pub async fn save_record(
    app: &AppState,
    row: &store::StoredSession,
    record: &SessionRecord,
    images: &[store::SessionImage],
) -> ApiResult<bool> {
    save_at(app, &row.session_id, row.version, record, images).await
}

/// As [`save_record`], by id and version.
pub async fn save_at(
    app: &AppState,
    session_id: &str,
    version: i64,
    record: &SessionRecord,
    images: &[store::SessionImage],
) -> ApiResult<bool> {
    let state = serde_json::to_string(record).map_err(|e| ApiError::internal("liveness session state", e))?;
    let update = store::SessionUpdate {
        session_id,
        version,
        status: record.session.status.as_str(),
        state: &state,
        biometrics_until: biometrics_until(app, record),
    };
    Ok(app.store.update_session(&update, images).await?)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    auth::secret::to_hex(&Sha256::digest(bytes))
}

/// A new session token for `session_id`, and the hash the store keeps.
pub fn new_token(session_id: &str) -> (String, String) {
    let secret = auth::secret::to_hex(&auth::secret::random_bytes::<24>());
    let token = format!("{SESSION_TOKEN_PREFIX}{session_id}_{secret}");
    let hash = sha256_hex(token.as_bytes());
    (token, hash)
}

/// Checks a presented session token against the session's stored hash.
pub fn verify_token(token: &str, session_id: &str, stored_hash: &str) -> ApiResult<()> {
    let named = token.strip_prefix(SESSION_TOKEN_PREFIX).and_then(|rest| rest.rsplit_once('_')).map(|(id, _)| id);
    if named.is_some_and(|id| id != session_id) {
        return Err(ApiError::new(Code::SessionTokenMismatch, "this session token belongs to another session"));
    }
    let presented = sha256_hex(token.as_bytes());
    if named.is_none() || !auth::secret::secrets_equal(presented.as_bytes(), stored_hash.as_bytes()) {
        return Err(ApiError::new(Code::InvalidSessionToken, "the session token is not valid"));
    }
    Ok(())
}

fn random_below(n: usize) -> usize {
    let r = u64::from_le_bytes(auth::secret::random_bytes::<8>());
    (r % n.max(1) as u64) as usize
}

fn random_unit() -> f32 {
    (u32::from_le_bytes(auth::secret::random_bytes::<4>()) >> 8) as f32 / (1u32 << 24) as f32
}

/// A random target area for the nose: a square of 0.16 of the frame whose centre lies 0.18-0.28 of the frame
/// away from the middle, in a random direction — far enough that a still head does not start inside it.
pub fn random_target() -> Target {
    let side = 0.16;
    let angle = random_unit() * std::f32::consts::TAU;
    let distance = 0.18 + 0.10 * random_unit();
    let cx = (0.5 + distance * angle.cos()).clamp(side / 2.0 + 0.05, 1.0 - side / 2.0 - 0.05);
    let cy = (0.5 + distance * angle.sin()).clamp(side / 2.0 + 0.05, 1.0 - side / 2.0 - 0.05);
    Target { x: cx - side / 2.0, y: cy - side / 2.0, width: side, height: side }
}

/// Kinds a server picks from.
pub const RANDOM_KINDS: [Kind; 7] =
    [Kind::TurnLeft, Kind::TurnRight, Kind::Blink, Kind::Smile, Kind::NoseTarget, Kind::LookUp, Kind::LookDown];

/// Picks `count` distinct challenges with the OS's CSPRNG from the kinds not excluded; with `require_turn`,
/// one of them is a head turn (when a turn is allowed at all).
pub fn pick_kinds(count: usize, exclude: &[Kind], require_turn: bool) -> Vec<Kind> {
    let mut pool: Vec<Kind> = RANDOM_KINDS.iter().copied().filter(|k| !exclude.contains(k)).collect();
    let mut out = Vec::new();
    let turns: Vec<Kind> = pool.iter().copied().filter(|k| matches!(k, Kind::TurnLeft | Kind::TurnRight)).collect();
    if require_turn && !turns.is_empty() && count > 0 {
        let t = turns[random_below(turns.len())];
        out.push(t);
        // One turn per session: the other direction is left out.
        pool.retain(|k| !matches!(k, Kind::TurnLeft | Kind::TurnRight));
    }
    while out.len() < count && !pool.is_empty() {
        out.push(pool.remove(random_below(pool.len())));
    }
    // The turn's place in the order is random too.
    if out.len() > 1 {
        let i = random_below(out.len());
        out.swap(0, i);
    }
    out
}

/// The challenge list for `kinds`, with a random target for each `nose_target`.
pub fn specs(kinds: &[Kind], timeout_ms: i64) -> Vec<ChallengeSpec> {
    kinds
        .iter()
        .map(|&kind| ChallengeSpec { kind, target: (kind == Kind::NoseTarget).then(random_target), timeout_ms })
        .collect()
}

/// Frames a session takes at most.
pub const MAX_FRAMES_PER_SESSION: u32 = 600;

/// The rules of a new session under `config`: its challenges, the criteria, limits and thresholds, passive
/// anti-spoofing when the model is loaded (`passive_available`), and the audit images to keep. The frame
/// route and `facegate eval attacks` build sessions with this one function.
pub fn session_options(
    config: &crate::config::ServerConfig,
    challenges: Vec<ChallengeSpec>,
    passive_available: bool,
    audit_images: u32,
) -> SessionOptions {
    SessionOptions {
        challenges,
        criteria: Criteria {
            smile_threshold: config.smile_threshold,
            eyes_closed_threshold: config.eye_closed_threshold,
            ..Criteria::default()
        },
        lifetime_ms: config.liveness_session_seconds as i64 * 1000,
        max_bad_frames: config.liveness_max_bad_frames,
        max_frames: MAX_FRAMES_PER_SESSION,
        min_face_px: config.liveness_min_face_px,
        min_similarity: config.match_threshold,
        passive_threshold: passive_available.then_some(config.passive_threshold),
        challenge_only: config.liveness_allow_challenge_only,
        min_depth: (config.liveness_min_depth > 0.0).then_some(config.liveness_min_depth),
        min_challenge_frames: config.liveness_min_challenge_frames,
        audit_images,
    }
}

/// Detects, analyses, embeds and (when the model is there) scores the frame's face on an inference worker,
/// as [`liveness::measure_faces`] does for every caller.
pub async fn measure_frame(app: &AppState, bytes: Bytes) -> ApiResult<FrameMeasurement> {
    let pipeline = app.pipeline.clone();
    let passive = app.passive.clone().ok();
    let min_px = app.config.liveness_min_face_px;
    let (_, _, measured) = app
        .inspect(bytes, app.config.detect_max_side, move |img, faces| {
            liveness::measure_faces(&pipeline, passive.as_deref(), img, faces, min_px)
                .map_err(|e| ApiError::internal("measuring a frame", e))
        })
        .await?;
    Ok(measured)
}

/// Whether a frame should replace one of the audit images (reservoir sampling over accepted frames): the slot
/// to write, if any.
pub fn audit_slot(record: &mut SessionRecord, limit: u32) -> Option<u32> {
    if limit == 0 {
        return None;
    }
    record.audit_candidates += 1;
    if record.audit_filled < limit {
        record.audit_filled += 1;
        return Some(record.audit_filled - 1);
    }
    let r = random_below(record.audit_candidates as usize) as u32;
    (r < limit).then_some(r)
}

/// The content type of an image's bytes, from its signature.
pub fn image_content_type(bytes: &[u8]) -> &'static str {
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::WebP) => "image/webp",
        Ok(image::ImageFormat::Gif) => "image/gif",
        Ok(image::ImageFormat::Bmp) => "image/bmp",
        _ => "image/jpeg",
    }
}
