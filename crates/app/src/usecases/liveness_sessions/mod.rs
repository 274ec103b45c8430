//! Liveness sessions: create one (random or listed challenges, a session token for the browser), take its frames
//! (checked as a whole, measured, judged by the `liveness` crate's state machine, saved after each), read its
//! status and result, its images, a new token; delete it; and the housekeeping every replica runs. The state
//! lives in the store, so any replica takes the next frame.

pub mod challenges;
pub mod record;
pub mod token;

pub use record::{OutputTarget, SessionRecord, MAX_AUDIT_IMAGES};

use std::net::IpAddr;

use bytes::Bytes;
use liveness::replay::{self, FramePrint, SeenFrame};
use liveness::{Feedback, FrameError, FrameMeasurement, FrameStamp, Kind, Session, SessionResult, Status, Template};
use store::{NewSession, SessionCreated, SessionImage, StoredSession};

use crate::error::{ApiError, ApiResult, Code, Field};
use crate::state::AppState;

/// What the caller presented: a session's own token, an API key, or nothing.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    SessionToken(&'a str),
    Key(&'a auth::Access),
    None,
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

/// Who may act on a session: the key that created it, an admin key, or (where `token_allowed`) its session token.
fn authorize(row: &StoredSession, credential: Credential<'_>, token_allowed: bool) -> ApiResult<()> {
    match credential {
        Credential::SessionToken(token) => {
            if !token_allowed {
                return Err(ApiError::new(
                    Code::InsufficientScope,
                    "a session token may only send frames and read its session's status",
                ));
            }
            token::verify_token(token, &row.session_id, &row.token_hash)?;
            Ok(())
        }
        Credential::Key(a) if a.is_admin() || a.key_id == row.owner_key => Ok(()),
        Credential::Key(_) => Err(session_not_found(&row.session_id)),
        Credential::None => {
            Err(ApiError::new(Code::Unauthorized, "this endpoint needs an API key or the session token"))
        }
    }
}

/// Session `id` and its record, when `credential` (a key: no session token) may act on it.
pub(crate) async fn open_record(
    app: &AppState,
    id: &str,
    credential: Credential<'_>,
) -> ApiResult<(StoredSession, SessionRecord)> {
    let row = open(app, id, credential, false).await?;
    let record = load_record(&row)?;
    Ok((row, record))
}

/// Session `id` and its record, for a caller authorised before (a stream opened by its key).
pub(crate) async fn load_record_of(app: &AppState, id: &str) -> ApiResult<(StoredSession, SessionRecord)> {
    let row = app.store.get_session(id).await?.ok_or_else(|| session_not_found(id))?;
    let record = load_record(&row)?;
    Ok((row, record))
}

/// The session `id`, when `credential` may act on it.
async fn open(app: &AppState, id: &str, credential: Credential<'_>, token_allowed: bool) -> ApiResult<StoredSession> {
    let row = app.store.get_session(id).await?.ok_or_else(|| session_not_found(id))?;
    authorize(&row, credential, token_allowed)?;
    Ok(row)
}

/// Takes a succeeded liveness session for a face login: its baseline template, once (the session is marked
/// used with a versioned write, so two logins racing on one session cannot both win). The session id alone is
/// no secret (it travels in URLs and logs): the caller shows the session's token or the API key that created
/// it (or an admin key). In privacy mode the template goes with the login.
pub async fn take_for_login(app: &AppState, id: &str, credential: Credential<'_>) -> ApiResult<Vec<f32>> {
    let refused = |why: &str| ApiError::new(Code::LivenessRequired, why.to_string());
    let row = app.store.get_session(id).await?.ok_or_else(|| refused("no such liveness session"))?;
    match credential {
        Credential::SessionToken(token) => token::verify_token(token, &row.session_id, &row.token_hash)?,
        Credential::Key(access) if access.is_admin() || access.key_id == row.owner_key => {}
        Credential::Key(_) | Credential::None => {
            return Err(refused(
                "send the liveness session's token, or log in with the API key that created the session",
            ))
        }
    }
    let mut record = load_record(&row)?;
    let s = &record.session;
    if s.status != Status::Succeeded {
        return Err(refused("the liveness session has not succeeded"));
    }
    if record.consumed {
        return Err(refused("the liveness session was used already"));
    }
    if s.finished_ms.is_none_or(|t| store::now_millis() - t > record::LOGIN_WINDOW_MS) {
        return Err(refused("the liveness session finished too long ago"));
    }
    let template = record.template.clone().ok_or_else(|| refused("the liveness session kept no face template"))?;
    record.consumed = true;
    if app.config.liveness_privacy {
        record.template = None;
    }
    if !record::save_record(app, &row, &record, &[]).await? {
        return Err(refused("the liveness session was used at the same time"));
    }
    Ok(template)
}

/// The challenges and limits of a new session.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The challenges in order (1-6); `None`: `challenge_count` drawn at random.
    pub challenges: Option<Vec<Kind>>,
    /// How many random challenges (1-5, default 2).
    pub challenge_count: Option<usize>,
    /// Kinds the random draw leaves out.
    pub exclude: Vec<Kind>,
    /// Whether the random draw includes a head turn.
    pub require_head_turn: bool,
    /// Audit images to keep (0-4).
    pub audit_images: u32,
    /// Makes creation idempotent per owner.
    pub client_request_token: Option<String>,
    /// A bucket that receives the images when the session finishes (the creating key must be allowed it).
    pub output: Option<OutputTarget>,
    /// The area the client draws for the face: the frames before the baseline must show the face in it.
    pub face_area: Option<liveness::FaceArea>,
    /// The challenges a stream of this session may run, preferred first (empty: the default order, see
    /// [`crate::usecases::liveness_stream::DEFAULT_PREFERENCE`]).
    pub stream_challenges: Vec<liveness::stream::StreamChallenge>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            challenges: None,
            challenge_count: None,
            exclude: Vec::new(),
            require_head_turn: true,
            audit_images: 0,
            client_request_token: None,
            output: None,
            face_area: None,
            stream_challenges: Vec::new(),
        }
    }
}

/// A session as created (or as found again by its client request token).
pub struct Created {
    pub row: StoredSession,
    pub session: Session,
    /// The session token (a fresh one when the session existed: the earlier one stops working).
    pub token: String,
    /// Whether the client request token named a session created before.
    pub existed: bool,
}

/// How long a session no key owns is kept after it ends, at most.
pub const ANONYMOUS_RETENTION_SECONDS: u64 = 15 * 60;

/// Creates a session for `owner`, or finds the one created before with the same client request token.
pub async fn create(app: &AppState, owner: &auth::Access, options: CreateOptions) -> ApiResult<Created> {
    let audit = options.audit_images;
    if audit > MAX_AUDIT_IMAGES {
        return Err(ApiError::invalid_field(Field::AuditImages, format!("must lie in 0..={MAX_AUDIT_IMAGES}")));
    }
    if let Some(t) = &options.client_request_token {
        if !store::valid_client_token(t) {
            return Err(ApiError::invalid_field(
                Field::ClientRequestToken,
                "must be 1-64 characters of A-Z a-z 0-9 _ -",
            ));
        }
    }
    let kinds = match &options.challenges {
        Some(list) => {
            if list.is_empty() || list.len() > 6 {
                return Err(ApiError::invalid_field(Field::Challenges, "must list 1 to 6 kinds"));
            }
            if let Some(k) = list.iter().find(|k| !challenges::RANDOM_KINDS.contains(k)) {
                return Err(ApiError::invalid_parameter(format!("{} is not a session challenge", k.as_str())));
            }
            list.clone()
        }
        None => {
            let count = options.challenge_count.unwrap_or(2);
            if !(1..=5).contains(&count) {
                return Err(ApiError::invalid_field(Field::ChallengeCount, "must lie in 1..=5"));
            }
            let kinds = challenges::pick_kinds(count, &options.exclude, options.require_head_turn);
            if kinds.len() < count {
                return Err(ApiError::invalid_field(Field::ChallengeCount, "is more than the kinds not excluded"));
            }
            kinds
        }
    };
    if let Some(target) = &options.output {
        if target.prefix.len() > 900 || target.prefix.chars().any(char::is_control) {
            return Err(ApiError::invalid_field(Field::OutputPrefix, "must be at most 900 bytes of text"));
        }
        crate::usecases::buckets::check_writable(app, owner, &target.bucket, &target.prefix)?;
    }
    let now = store::now_millis();
    let config = &app.config;
    let lifetime_ms = config.liveness_session_seconds as i64 * 1000;
    let challenges = challenges::specs(&kinds, config.liveness_challenge_seconds as i64 * 1000);
    if let Some(area) = &options.face_area {
        if !(area.area.is_valid() && (0.0..=1.0).contains(&area.min_cover)) {
            return Err(ApiError::invalid_parameter("the face area must lie in the frame and its cover in 0..1"));
        }
    }
    let mut session_options = challenges::session_options(config, challenges, app.passive.is_ok(), audit);
    session_options.face_area = options.face_area;
    let record = SessionRecord {
        session: Session::new(session_options, now),
        template: None,
        audit_candidates: 0,
        audit_filled: 0,
        consumed: false,
        output: options.output.clone(),
        stream_challenges: options.stream_challenges.clone(),
    };
    let session_id = uuid::Uuid::new_v4().to_string();
    let (token, token_hash) = token::new_token(&session_id);
    // Finished sessions past their retention, frame prints past the replay window and templates past their
    // time go on the way (and every minute, see `Server::serve`).
    sweep(app).await?;
    let anonymous = owner.is_anonymous();
    if anonymous
        && app.store.count_sessions_of(auth::scope::ANONYMOUS).await? >= u64::from(config.anonymous_sessions_max)
    {
        return Err(ApiError::new(
            Code::RateLimited,
            "too many liveness sessions without a key are held now: retry in a few minutes",
        )
        .with_retry_after(60));
    }
    // A session no key owns is read once, by its client, right after it ends.
    let retention_s = match anonymous {
        true => config.liveness_retention_seconds.min(ANONYMOUS_RETENTION_SECONDS),
        false => config.liveness_retention_seconds,
    };
    let created = app
        .store
        .create_session(&NewSession {
            session_id: session_id.clone(),
            owner_key: owner.key_id.clone(),
            client_request_token: options.client_request_token.clone(),
            token_hash,
            status: Status::Created.as_str().into(),
            state: state_json(&record)?,
            created_at: now,
            expires_at: now + lifetime_ms,
            purge_at: now + lifetime_ms + retention_s as i64 * 1000,
            biometrics_until: None,
        })
        .await?;
    let (existed, row, token) = match created {
        SessionCreated::New(row) => (false, row, token),
        SessionCreated::Existing(row) => {
            // The first answer was lost: the same session, with a new token (the first one stops working).
            let (token, hash) = token::new_token(&row.session_id);
            app.store.set_session_token(&row.session_id, &hash).await?;
            (true, row, token)
        }
    };
    let record = load_record(&row)?;
    Ok(Created { row, session: record.session, token, existed })
}

/// A frame of a request, decoded.
pub struct Frame {
    pub bytes: Bytes,
    pub sequence: u64,
    /// Milliseconds since the session was created, on the client's clock.
    pub timestamp: i64,
    /// SHA-256 of the bytes (hex).
    pub hash: String,
    /// A frame the server numbers and stamps with its own clock when it takes it (binary stream messages).
    pub numbered_by_server: bool,
}

impl Frame {
    /// A frame with the client's sequence number and timestamp.
    pub fn numbered(bytes: Bytes, sequence: u64, timestamp: i64) -> Frame {
        Frame { hash: token::sha256_hex(&bytes), bytes, sequence, timestamp, numbered_by_server: false }
    }

    /// A frame the server numbers and stamps.
    pub fn unnumbered(bytes: Bytes) -> Frame {
        Frame { hash: token::sha256_hex(&bytes), bytes, sequence: 0, timestamp: 0, numbered_by_server: true }
    }
}

/// What the frames of one request did.
pub struct FramesTaken {
    pub status: Status,
    /// One per frame taken.
    pub feedback: Vec<Feedback>,
    /// Once the session has finished.
    pub result: Option<SessionResult>,
    /// Whether the reference image was kept (never in privacy mode).
    pub reference_kept: bool,
}

/// Checks that `credential` may send frames to session `id` (its owner's key, an admin key or its session
/// token): before a request's frames are read, or once for a stream of them.
pub async fn authorize_frames(app: &AppState, id: &str, credential: Credential<'_>) -> ApiResult<()> {
    open(app, id, credential, true).await.map(|_| ())
}

fn replay_window_ms(app: &AppState) -> i64 {
    i64::try_from(app.config.liveness_replay_window_seconds.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The frames of other sessions within the replay window whose faces lay where this one's does (see
/// `liveness::replay`).
pub(crate) async fn seen_in(app: &AppState, id: &str, print: &FramePrint, now_ms: i64) -> ApiResult<Vec<SeenFrame>> {
    let near = app.store.frame_prints_near(&replay::cells(&print.points), now_ms - replay_window_ms(app), id).await?;
    Ok(near
        .into_iter()
        .filter(|row| replay::same_capture(&FramePrint::points_from_flat(&row.points), &print.points))
        .map(|row| SeenFrame { session: row.session_id, sequence: u64::try_from(row.sequence).unwrap_or(0) })
        .collect())
}

/// Checks, measures and judges frames for session `id` (the caller is authorised: [`authorize_frames`]),
/// saving after each.
pub async fn send_frames(app: &AppState, id: &str, mut frames: Vec<Frame>, from: IpAddr) -> ApiResult<FramesTaken> {
    let row = app.store.get_session(id).await?.ok_or_else(|| session_not_found(id))?;
    // A session no key owns (an open route's) is limited per address, and keeps no images: nobody could read
    // them but an administrator, and nobody asked for them.
    let anonymous = row.owner_key == auth::scope::ANONYMOUS;
    if anonymous {
        limit_anonymous_frames(app, from, frames.len())?;
    }
    let keeps_images = !app.config.liveness_privacy && !anonymous;
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
        return Err(ApiError::from(&FrameError::Expired));
    }
    // The whole request is checked before anything is measured or written.
    let plan: Vec<(u64, i64, &str)> = frames.iter().map(|f| (f.sequence, f.timestamp, f.hash.as_str())).collect();
    record.session.check_frames(&plan, now).map_err(|e| ApiError::from(&e))?;
    let _admission = app.pool.admit()?;
    let mut feedback = Vec::new();
    for frame in frames {
        let started = std::time::Instant::now();
        let mut measured = measure_frame(app, frame.bytes.clone(), Template::WhenWanted).await?;
        let now_ms = store::now_millis();
        let stamp = FrameStamp {
            sequence: frame.sequence,
            timestamp_ms: frame.timestamp,
            now_ms,
            byte_hash: frame.hash.clone(),
        };
        let print = measured.print().filter(|_| app.config.liveness_replay_window_seconds > 0);
        let seen = match &print {
            Some(p) => seen_in(app, id, p, now_ms).await?,
            None => Vec::new(),
        };
        // The session's two steps (as `facegate eval attacks` takes them): the template only where the session
        // wants the identity checked, and for its baseline.
        let prepared = record.session.prepare(&measured, stamp, seen, record.template.is_some());
        let template = match prepared.wants_template() {
            true => take_template(app, &mut measured).await?,
            false => None,
        };
        let identity = template.as_deref().zip(record.template.as_deref());
        let taken = record.session.take(prepared, identity, app.model).map_err(|e| ApiError::from(&e))?;
        let fb = taken.feedback;
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
        if taken.new_baseline {
            record.template = take_template(app, &mut measured).await?;
        }
        let mut images = Vec::new();
        if keeps_images && fb.verdict == liveness::FrameVerdict::Accepted {
            let limit = record.session.options.audit_images;
            let audit = record::audit_slot(&mut record, limit);
            let names = fb.best_frontal.then(|| "reference".to_string()).into_iter();
            let names: Vec<String> = names.chain(audit.map(|slot| format!("audit-{slot}"))).collect();
            if let Some((first, rest)) = names.split_first() {
                let kept = record::kept_image(app, first.clone(), frame.bytes.clone()).await?;
                images.extend(rest.iter().map(|name| SessionImage { name: name.clone(), ..kept.clone() }));
                images.insert(0, kept);
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
    if let (true, Some(target)) = (status.is_final(), &record.output) {
        // Written as the session finishes; GetFaceLivenessSessionResults writes them again if this failed.
        if let Err(e) = export_images(app, id, target).await {
            tracing::warn!(session = %id, error = %e.message, "writing a session's images to its output bucket failed");
        }
    }
    Ok(FramesTaken {
        status,
        feedback,
        result: status.is_final().then(|| record.session.result()),
        reference_kept: keeps_images,
    })
}

/// Spends `frames` of the address's budget for frames to sessions no key owns (`anonymous_frames_per_second`,
/// bursts of 5 seconds' worth), or 429.
fn limit_anonymous_frames(app: &AppState, from: IpAddr, frames: usize) -> ApiResult<()> {
    let rate = app.config.anonymous_frames_per_second;
    let burst = (rate * 5.0).ceil().max(1.0) as u32;
    for _ in 0..frames {
        app.frame_limiter.acquire(&from, rate, burst, std::time::Instant::now()).map_err(|wait| {
            ApiError::new(Code::RateLimited, "too many frames from this address")
                .with_retry_after(auth::limiter::retry_after_secs(wait))
        })?;
    }
    Ok(())
}

/// A session's state as of now (expired when due).
pub struct SessionStatus {
    pub row: StoredSession,
    pub session: Session,
    /// Names of the kept images (`reference`, `audit-0`...).
    pub image_names: Vec<String>,
    /// Where its images go when it finishes.
    pub output: Option<OutputTarget>,
}

/// A session image written to its output bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// `reference`, `audit-0`...
    pub name: String,
    pub bucket: String,
    pub key: String,
}

/// The object key of a session image in its output bucket: `PREFIX SESSION/reference.jpg` and
/// `PREFIX SESSION/audit_images/N.jpg` (N from 1), the extension after the image's format.
fn output_key(target: &OutputTarget, session_id: &str, name: &str, content_type: &str) -> String {
    let ext = match content_type {
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/bmp" => "bmp",
        _ => "jpg",
    };
    let file = match name.strip_prefix("audit-").and_then(|n| n.parse::<u32>().ok()) {
        Some(n) => format!("audit_images/{}.{ext}", n + 1),
        None => format!("{name}.{ext}"),
    };
    format!("{}{session_id}/{file}", target.prefix)
}

/// Writes a session's kept images to its output bucket (again, if they were written before: the same keys).
pub async fn export_images(app: &AppState, id: &str, target: &OutputTarget) -> ApiResult<Vec<Exported>> {
    let mut out = Vec::new();
    for name in app.store.session_image_names(id).await? {
        let Some(image) = app.store.session_image(id, &name).await? else { continue };
        let key = output_key(target, id, &name, &image.content_type);
        let bytes = Bytes::from(image.bytes);
        crate::usecases::buckets::write(app, &target.bucket, &key, bytes, &image.content_type).await?;
        out.push(Exported { name, bucket: target.bucket.clone(), key });
    }
    Ok(out)
}

/// A session's status and, once finished, its result (its owner's key, an admin key, or its session token).
pub async fn status(app: &AppState, id: &str, credential: Credential<'_>) -> ApiResult<SessionStatus> {
    let row = open(app, id, credential, true).await?;
    let mut record = load_record(&row)?;
    if record.session.expire_if_due(store::now_millis()) {
        finish_record(app, &mut record);
        // A concurrent frame may win the race; then its state is the one to show next time.
        let _ = save(app, id, row.version, &record, &[]).await;
    }
    let image_names = app.store.session_image_names(id).await?;
    Ok(SessionStatus { row, session: record.session, image_names, output: record.output })
}

/// A session's reference or audit image (its owner's key or an admin key).
pub async fn image(app: &AppState, id: &str, name: &str, credential: Credential<'_>) -> ApiResult<SessionImage> {
    open(app, id, credential, false).await?;
    app.store
        .session_image(id, name)
        .await?
        .ok_or_else(|| ApiError::new(Code::ImageNotFound, format!("this session has no image {name:?}")))
}

/// A session's kept images by name (`reference`, then `audit-N`), for its owner's key or an admin key; none in
/// privacy mode or for a session no key owns.
pub async fn images(app: &AppState, id: &str, credential: Credential<'_>) -> ApiResult<Vec<SessionImage>> {
    open(app, id, credential, false).await?;
    let mut out = Vec::new();
    for name in app.store.session_image_names(id).await? {
        // One deleted in the meantime (the session expired) is left out.
        if let Some(image) = app.store.session_image(id, &name).await? {
            out.push(image);
        }
    }
    Ok(out)
}

/// A new session token (the previous one stops working).
pub async fn new_token(app: &AppState, id: &str, credential: Credential<'_>) -> ApiResult<String> {
    open(app, id, credential, false).await?;
    let (token, hash) = token::new_token(id);
    app.store.set_session_token(id, &hash).await?;
    Ok(token)
}

/// Deletes a session with its images and its frames' landmarks in the replay memory.
pub async fn delete(app: &AppState, id: &str, credential: Credential<'_>) -> ApiResult<bool> {
    open(app, id, credential, false).await?;
    Ok(app.store.delete_session(id).await?)
}

/// What finishing changes beyond the state machine: in privacy mode the template goes, unless the session
/// succeeded (then it stays for one use — a face login or a verification — within the login window).
pub(crate) fn finish_record(app: &AppState, record: &mut SessionRecord) {
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
    if !record::save_at(app, id, version, record, images).await? {
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
        if record::save_record(app, &row, &record, &[]).await? {
            swept += 1;
        }
    }
    Ok(swept)
}

/// Detects, analyses, (with [`Template::Now`]) embeds and (when the model is there) scores the frame's face on
/// an inference worker, as [`liveness::measure_faces`] does for every caller. Frames are detected at the full
/// size, never coarse to fine: the still-picture and motion checks compare faces across frames, and the coarse
/// pass's less steady boxes let still pictures pass for moving faces (`facegate eval attacks`: slideshow APCER
/// 8.7 %, switch 5.3 % with it, 0 % without). And in the frame as the camera gave it: no quarter turns
/// ([`vision::Wanted::EveryUpright`]; a head in profile was found turned sideways as someone else).
pub async fn measure_frame(app: &AppState, bytes: Bytes, template: Template) -> ApiResult<FrameMeasurement> {
    let pipeline = app.pipeline.clone();
    let passive = app.passive.clone().ok();
    let min_px = app.config.liveness_min_face_px;
    let (_, _, measured) = app
        .inspect(bytes, app.config.detect_max_side, vision::Wanted::EveryUpright, move |img, faces| {
            liveness::measure_faces(&pipeline, passive.as_deref(), img, faces, min_px, template)
                .map_err(|e| ApiError::internal("measuring a frame", e))
        })
        .await?;
    Ok(measured)
}

/// The template of a measured frame's face, computed on an inference worker when not taken yet.
async fn take_template(app: &AppState, measured: &mut FrameMeasurement) -> ApiResult<Option<Vec<f32>>> {
    if let Some(t) = measured.face.as_ref().and_then(|f| f.template.clone()) {
        return Ok(Some(t));
    }
    let pipeline = app.pipeline.clone();
    let owned = std::mem::take(measured);
    let started = std::time::Instant::now();
    let (owned, template) = app
        .pool
        .run(move || {
            let mut owned = owned;
            let template = owned.take_template(&pipeline);
            (owned, template)
        })
        .await?;
    *measured = owned;
    app.metrics.observe_inference(app.model.id(), started.elapsed().as_secs_f64());
    template.map_err(|e| ApiError::internal("measuring a frame", e))
}

/// One session of a listing: its row and its state as of now (expired when due; nothing is saved).
pub struct ListedSession {
    pub row: StoredSession,
    pub session: Session,
}

/// The token of the page after `row`: its creation time and id.
fn session_page_token(row: &StoredSession) -> String {
    format!("{}.{}", row.created_at, row.session_id)
}

/// The sessions `caller` may read, newest first: its own (an admin key's: everyone's).
pub async fn list(
    app: &AppState,
    caller: &auth::Access,
    page: &crate::usecases::collections::Page,
) -> ApiResult<crate::usecases::collections::Listed<ListedSession>> {
    let limit = page.size()?;
    let before = match page.next_token.as_deref() {
        None => None,
        Some(token) => {
            let parsed = token.split_once('.').and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)));
            Some(parsed.ok_or_else(|| ApiError::invalid_field(Field::NextToken, "is not one this listing gave"))?)
        }
    };
    let owner = (!caller.is_admin()).then_some(caller.key_id.as_str());
    let rows = app.store.list_sessions(owner, before, limit + 1).await?;
    let now = store::now_millis();
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let mut record = load_record(&row)?;
        record.session.expire_if_due(now);
        items.push(ListedSession { row, session: record.session });
    }
    Ok(crate::usecases::collections::paged(items, limit, |s| session_page_token(&s.row)))
}
