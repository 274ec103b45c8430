//! What the store keeps for a liveness session: the state machine with the baseline template and the audit
//! sampling, saved with a versioned write; when its biometrics must go; which frames become audit images.

use liveness::Session;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::usecases::liveness_sessions::challenges::random_below;

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
    /// Where the session's images go when it finishes (Rekognition's `OutputConfig`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputTarget>,
    /// The challenges a stream of this session may run, preferred first (Rekognition's `ChallengePreferences`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_challenges: Vec<liveness::stream::StreamChallenge>,
}

/// A bucket (and key prefix) that receives a finished session's reference and audit images.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputTarget {
    pub bucket: String,
    /// Prepended to the object keys as given (`audits/` puts them under `audits/`).
    pub prefix: String,
}

/// How long after it succeeded a session may still be used to log in.
pub const LOGIN_WINDOW_MS: i64 = 5 * 60 * 1000;

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

/// The longest side of a kept session image, in pixels (a 720p camera's frames are kept whole).
pub const KEPT_IMAGE_MAX_SIDE: u32 = 1280;

/// The JPEG quality of kept session images.
pub const KEPT_IMAGE_QUALITY: u8 = 90;

/// A frame as a session keeps it (its reference or an audit image): decoded and re-encoded as a JPEG of at most
/// [`KEPT_IMAGE_MAX_SIDE`] pixels a side, so that what a session holds (a few hundred kB at most) does not depend
/// on the bytes a client sent, and nothing of them but the picture (no metadata, no trailing bytes) is kept.
pub async fn kept_image(app: &AppState, name: String, frame: bytes::Bytes) -> ApiResult<store::SessionImage> {
    let pipeline = app.pipeline.clone();
    let encoded = app
        .pool
        .run(move || {
            let decoded = pipeline.decode(&frame)?;
            vision::image::encode_jpeg_within(&decoded.rgb, KEPT_IMAGE_MAX_SIDE, KEPT_IMAGE_QUALITY)
        })
        .await??;
    Ok(store::SessionImage { name, content_type: "image/jpeg".into(), bytes: encoded })
}
