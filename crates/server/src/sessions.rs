//! Liveness sessions on the server: what the store keeps for a session (the state machine plus the baseline
//! template), the session token handed to browsers, the random choice of challenges, and the measuring of one
//! frame on an inference worker.

use axum::body::Bytes;
use liveness::{ChallengeSpec, Kind, ObservedFace, Session, Signals, Target};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vision::QualityIssue;

use crate::error::{ApiError, ApiResult};
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

/// Takes a succeeded liveness session for a face login: its baseline template, once (the session is marked
/// used with a versioned write, so two logins racing on one session cannot both win).
pub async fn consume_for_login(app: &AppState, session_id: &str) -> ApiResult<Vec<f32>> {
    let refused = |why: &str| crate::access::unauthorized("liveness_required", why.to_string());
    let row = app.store.get_session(session_id).await?.ok_or_else(|| refused("no such liveness session"))?;
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
    let state = serde_json::to_string(&record).map_err(|e| ApiError::internal("liveness session state", e))?;
    if !app.store.update_session(session_id, row.version, s.status.as_str(), &state, &[]).await? {
        return Err(refused("the liveness session was used at the same time"));
    }
    Ok(template)
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
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "session_token_mismatch",
            "this session token belongs to another session",
        ));
    }
    let presented = sha256_hex(token.as_bytes());
    if named.is_none() || !auth::secret::secrets_equal(presented.as_bytes(), stored_hash.as_bytes()) {
        return Err(crate::access::unauthorized("invalid_session_token", "the session token is not valid"));
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

/// One frame as measured on a worker: how many faces, and the one face (when there is exactly one).
pub struct MeasuredFrame {
    pub faces: usize,
    pub face: Option<ObservedFace>,
    pub template: Option<Vec<f32>>,
}

/// Whether a face's quality allows judging it: lit well enough (size and pose are the session's own rules;
/// motion blur is common in webcam frames of a moving head and does not stop the mesh or the identity check).
fn quality_ok(issues: &[QualityIssue]) -> bool {
    !issues.iter().any(|i| matches!(i, QualityIssue::TooDark | QualityIssue::TooBright))
}

/// Detects, analyses, embeds and (when the model is there) scores the frame's face on an inference worker,
/// and its similarity to `baseline` when given.
pub async fn measure_frame(app: &AppState, bytes: Bytes, baseline: Option<Vec<f32>>) -> ApiResult<MeasuredFrame> {
    let pipeline = app.pipeline.clone();
    let passive = app.passive.clone().ok();
    let model = app.model;
    let min_px = app.config.liveness_min_face_px;
    let (info, _, (faces, measured)) = app
        .inspect(bytes, app.config.detect_max_side, move |img, faces| {
            // Faces too small to be judged (background people, spurious detections) do not count as another
            // face; when every face is that small, the largest is measured (and refused as too small).
            let big: Vec<usize> = (0..faces.len())
                .filter(|&i| faces[i].detection.bbox.width.min(faces[i].detection.bbox.height) >= min_px)
                .collect();
            let chosen = match big.len() {
                0 => crate::state::largest(faces),
                1 => Some(big[0]),
                _ => None,
            };
            let counted = if big.is_empty() { usize::from(!faces.is_empty()) } else { big.len() };
            let Some(i) = chosen else { return Ok((counted, None)) };
            let face = &faces[i];
            let bbox = face.detection.bbox;
            let analysis =
                pipeline.analyzer().analyze(img, &bbox).map_err(|e| ApiError::internal("face analysis", e))?;
            let template = pipeline
                .embed(&[face])
                .map_err(|e| ApiError::internal("embedding", e))?
                .pop()
                .ok_or_else(|| ApiError::internal("embedding", "no template"))?;
            let passive = match &passive {
                Some(model) => {
                    Some(model.score(img, &bbox).map_err(|e| ApiError::internal("passive liveness", e))?.real)
                }
                None => None,
            };
            let similarity = baseline
                .as_deref()
                .map(|b| vision::similarity::similarity(model, vision::embed::cosine(b, &template.vector)));
            Ok((
                counted,
                Some((analysis, template.vector, passive, similarity, quality_ok(&face.quality.issues), bbox)),
            ))
        })
        .await?;
    let Some((analysis, template, passive, similarity, quality_ok, bbox)) = measured else {
        return Ok(MeasuredFrame { faces, face: None, template: None });
    };
    let (w, h) = (info.width.max(1) as f32, info.height.max(1) as f32);
    Ok(MeasuredFrame {
        faces,
        face: Some(ObservedFace {
            signals: Signals::new(&analysis, info.width, info.height),
            bbox: Target { x: bbox.x / w, y: bbox.y / h, width: bbox.width / w, height: bbox.height / h },
            size_px: bbox.width.min(bbox.height),
            quality_ok,
            similarity,
            passive,
        }),
        template: Some(template),
    })
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
