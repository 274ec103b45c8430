//! Liveness sessions completed by a stream: the session's one stream is opened (its challenge chosen and drawn:
//! the oval, the colours), then its video judged when it has arrived — decoded, every frame measured as `/v1`
//! frames are, the approach and the light judged, passive anti-spoofing, identity and the replay memory applied —
//! and the session concluded. The front door (Rekognition Streaming's WebSocket) speaks the protocol; nothing
//! here knows it.

use std::ops::ControlFlow;

use image::RgbImage;
use liveness::approach::{judge_approach, ApproachCriteria, ApproachFace, ApproachFrame};
use liveness::light::{judge_light, LightCriteria, LightFrame, ShownColour};
use liveness::replay::FramePrint;
use liveness::session::StreamRefusal;
use liveness::stream::{count_replayed, ReplayLookup, StreamChallenge, StreamEvidence, StreamPlan};
use liveness::{SessionResult, Status, Target, Template};
use store::SessionImage;

use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;
use crate::usecases::liveness_sessions::{self as sessions, record, Credential, SessionRecord};

/// The largest video side a stream may announce, and the frames it may send.
pub const MAX_SIDE: u32 = 1920;
pub const MAX_FRAMES: u32 = 1800;

/// The challenges in the order a session prefers them when its creator named none (AWS's default first).
pub const DEFAULT_PREFERENCE: [StreamChallenge; 2] = [StreamChallenge::ApproachAndLight, StreamChallenge::Approach];

/// What a client asks when it opens a session's stream.
pub struct OpenRequest<'a> {
    pub session_id: &'a str,
    /// The challenges the client can run.
    pub offered: &'a [StreamChallenge],
    /// The size of the video it will send.
    pub width: u32,
    pub height: u32,
}

impl From<StreamRefusal> for ApiError {
    fn from(e: StreamRefusal) -> Self {
        let code = match e {
            StreamRefusal::AlreadyStarted | StreamRefusal::Finished(_) => Code::SessionFinished,
            StreamRefusal::Expired => Code::SessionExpired,
        };
        ApiError::new(code, e.to_string())
    }
}

/// Opens session `id`'s one stream for `caller` (the key that created it, or an admin key): its challenge is
/// the first of the session's preferences the client offers, its oval and colours drawn now.
pub async fn open(app: &AppState, caller: &auth::Access, request: &OpenRequest<'_>) -> ApiResult<StreamPlan> {
    let (w, h) = (request.width, request.height);
    if !(16..=MAX_SIDE).contains(&w) || !(16..=MAX_SIDE).contains(&h) {
        return Err(ApiError::invalid_parameter(format!("the video's size must lie in 16..={MAX_SIDE} pixels a side")));
    }
    let (row, mut record) = sessions::open_record(app, request.session_id, Credential::Key(caller)).await?;
    let preferred = match record.stream_challenges.is_empty() {
        true => DEFAULT_PREFERENCE.to_vec(),
        false => record.stream_challenges.clone(),
    };
    let challenge = preferred
        .into_iter()
        .find(|c| request.offered.contains(c))
        .ok_or_else(|| ApiError::invalid_parameter("the client offers none of the challenges this session allows"))?;
    let now = store::now_millis();
    let plan = StreamPlan {
        challenge,
        width: w,
        height: h,
        oval: app.config.liveness_stream_oval.map_or_else(|| random_oval(w, h), |o| o.target()),
        colours: match challenge {
            StreamChallenge::Approach => Vec::new(),
            StreamChallenge::ApproachAndLight => match app.config.liveness_stream_colours.as_slice() {
                [] => random_colours(),
                pinned => sequence(pinned.iter().map(|c| c.0)),
            },
        },
        opened_ms: now,
    };
    let opened = record.session.open_stream(plan.clone(), now);
    if !record::save_record(app, &row, &record, &[]).await? {
        return Err(ApiError::new(Code::SessionBusy, "another request opened this session at the same time"));
    }
    opened?;
    Ok(plan)
}

/// The oval's width over the frame's (drawn between these), its height over its width (AWS's ratio), and how
/// far its centre may lie from the frame's (a share of the frame's size).
const OVAL_WIDTH: (f32, f32) = (0.36, 0.44);
pub const OVAL_HEIGHT_RATIO: f32 = 1.618;
const OVAL_SHIFT: f32 = 0.04;

/// An oval drawn at random for a frame of `w` x `h` pixels (normalised bounding box).
fn random_oval(w: u32, h: u32) -> Target {
    let r = |lo: f32, hi: f32| lo + (hi - lo) * sessions::challenges::random_unit();
    let width = r(OVAL_WIDTH.0, OVAL_WIDTH.1);
    let height = (width * w as f32 * OVAL_HEIGHT_RATIO / h as f32).min(0.92);
    let cx = 0.5 + r(-OVAL_SHIFT, OVAL_SHIFT);
    let cy = (0.5 + r(-OVAL_SHIFT, OVAL_SHIFT)).clamp(height / 2.0, 1.0 - height / 2.0);
    Target { x: cx - width / 2.0, y: cy - height / 2.0, width, height }
}

/// The colours a light challenge may show: each differs from the one before in every channel it moves by 255.
const PALETTE: [[u8; 3]; 8] =
    [[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]];

/// Colours a sequence holds, and how each is shown (milliseconds).
const COLOURS: usize = 8;
const DOWNSCROLL_MS: u32 = 300;
const FLAT_MS: u32 = 400;

/// A sequence drawn at random: white first (the face lit evenly for the reference), then no colour twice in a row.
fn random_colours() -> Vec<ShownColour> {
    let mut picked = vec![PALETTE[0]];
    while picked.len() < COLOURS {
        let pick = PALETTE[sessions::challenges::random_below(PALETTE.len())];
        if picked.last() != Some(&pick) {
            picked.push(pick);
        }
    }
    sequence(picked)
}

/// Colours as shown: the first flat from the start, each next one sweeping down over the one before.
fn sequence(colours: impl IntoIterator<Item = [u8; 3]>) -> Vec<ShownColour> {
    colours
        .into_iter()
        .enumerate()
        .map(|(i, rgb)| ShownColour { rgb, downscroll_ms: if i == 0 { 0 } else { DOWNSCROLL_MS }, flat_ms: FLAT_MS })
        .collect()
}

/// A stream's video and the client's account of it, on the video's clock.
pub struct Upload {
    /// The recording (WebM: VP8 or VP9).
    pub video: Vec<u8>,
    /// The colours the client says it showed and when each began (video milliseconds), first reports only.
    pub colours_shown: Vec<([u8; 3], i64)>,
}

/// One decoded frame, measured.
pub struct MeasuredFrame {
    pub approach: ApproachFrame,
    /// The face's passive score, mean colour and replay print (with exactly one face).
    pub passive: Option<f32>,
    pub colour: Option<[f32; 3]>,
    pub print: Option<FramePrint>,
    /// The frame as a JPEG (the reference and audit images, and the depth's second look).
    pub jpeg: Vec<u8>,
    pub measurement: liveness::FrameMeasurement,
}

/// A stream's video, decoded and measured.
pub struct MeasuredVideo {
    pub frames: Vec<MeasuredFrame>,
    pub width: u32,
    pub height: u32,
}

/// Why a video could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum MeasureVideoError {
    #[error(transparent)]
    Video(#[from] video::VideoError),
    #[error("measuring a frame: {0}")]
    Measure(#[from] liveness::MeasureError),
    #[error("finding faces: {0}")]
    Vision(#[from] vision::VisionError),
}

impl From<MeasureVideoError> for ApiError {
    fn from(e: MeasureVideoError) -> Self {
        match e {
            MeasureVideoError::Video(v) if v.is_client_error() => ApiError::new(Code::InvalidVideo, v.to_string()),
            e => ApiError::internal("measuring a stream's video", e),
        }
    }
}

/// The inner part of the face box (cheeks, nose, forehead): the light falls there on skin, not on hair.
fn face_colour(img: &RgbImage, bbox: &Target) -> Option<[f32; 3]> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x0 = ((bbox.x + bbox.width * 0.25) * w).max(0.0) as u32;
    let x1 = (((bbox.x + bbox.width * 0.75) * w) as u32).min(img.width());
    let y0 = ((bbox.y + bbox.height * 0.2) * h).max(0.0) as u32;
    let y1 = (((bbox.y + bbox.height * 0.8) * h) as u32).min(img.height());
    let mut sum = [0.0f64; 3];
    let mut n = 0u32;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y).0;
            for k in 0..3 {
                sum[k] += f64::from(p[k]);
            }
            n += 1;
        }
    }
    (n > 0).then(|| sum.map(|s| (s / f64::from(n)) as f32))
}

/// Finds the faces of `img` and measures them as the service measures a frame.
fn measure_image(
    pipeline: &vision::FacePipeline,
    passive: Option<&antispoof::PassiveLiveness>,
    img: &RgbImage,
    min_face_px: f32,
    detect_max_side: u32,
) -> Result<liveness::FrameMeasurement, MeasureVideoError> {
    let found =
        pipeline.find_faces_timed(img, detect_max_side, vision::Wanted::EveryUpright, &mut Default::default())?;
    Ok(liveness::measure_faces(pipeline, passive, &found.image, &found.faces, min_face_px, Template::WhenWanted)?)
}

/// Decodes `webm` and measures every frame as a `/v1` session's frames are measured (on the caller's thread:
/// the server calls it on an inference worker; `facegate eval stream` directly).
pub fn measure_video(
    pipeline: &vision::FacePipeline,
    passive: Option<&antispoof::PassiveLiveness>,
    webm: &[u8],
    min_face_px: f32,
    detect_max_side: u32,
) -> Result<MeasuredVideo, MeasureVideoError> {
    let limits = video::Limits { max_width: MAX_SIDE, max_height: MAX_SIDE, max_frames: MAX_FRAMES };
    let mut frames = Vec::new();
    let mut failed = None;
    let info = video::decode_webm(webm, &limits, |f| {
        let measured = (|| {
            let m = measure_image(pipeline, passive, &f.image, min_face_px, detect_max_side)?;
            let face = m.face.as_ref();
            Ok::<_, MeasureVideoError>(MeasuredFrame {
                approach: ApproachFrame {
                    timestamp_ms: f.timestamp_ms,
                    faces: m.faces,
                    face: face.map(|face| ApproachFace { bbox: face.bbox, points: face.points.clone() }),
                },
                passive: face.and_then(|face| face.passive),
                colour: face.and_then(|face| face_colour(&f.image, &face.bbox)),
                print: m.print(),
                // At full size (the decoder's limit): the depth measures it again.
                jpeg: vision::image::encode_jpeg_within(&f.image, MAX_SIDE, record::KEPT_IMAGE_QUALITY)?,
                measurement: m,
            })
        })();
        match measured {
            Ok(frame) => {
                frames.push(frame);
                ControlFlow::Continue(())
            }
            Err(e) => {
                failed = Some(e);
                ControlFlow::Break(())
            }
        }
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    Ok(MeasuredVideo { frames, width: info.width, height: info.height })
}

/// The rigid points of the one face in `jpeg` scaled by `scale` (the approach's depth at one resolution).
pub fn points_at_scale(
    pipeline: &vision::FacePipeline,
    jpeg: &[u8],
    scale: f32,
    min_face_px: f32,
    detect_max_side: u32,
) -> Option<Vec<[f32; 2]>> {
    let img = image::load_from_memory(jpeg).ok()?.to_rgb8();
    let (w, h) = img.dimensions();
    let (sw, sh) = (((w as f32 * scale).round() as u32).max(1), ((h as f32 * scale).round() as u32).max(1));
    let small = image::imageops::resize(&img, sw, sh, image::imageops::FilterType::Triangle);
    measure_image(pipeline, None, &small, min_face_px * scale, detect_max_side).ok()?.face.map(|f| f.points)
}

/// The box of the face the detector finds in `oval` once the face fills it as the client judges it (Amplify's
/// component fits a box from its own landmarks to the oval): 1.1 of the oval's width, as tall as the detector's
/// boxes are (1.27-1.61 of their width on the shared approach clips: 1.4), its centre 0.05 of the oval's height
/// above the oval's. Measured on three recordings of the component in Chromium at the moment it reported the
/// face in the oval: the detector's box was 1.03-1.24 of the oval's width, 0.75-0.95 of its height, its centre
/// 0.06-0.07 of the oval's height above the oval's (one 0.01 below).
pub fn face_box_in_oval(oval: &Target, width: u32, height: u32) -> Target {
    let face_w = oval.width * FACE_IN_OVAL_WIDTH;
    let face_h = face_w * width as f32 / height as f32 * FACE_BOX_ASPECT;
    let [cx, cy] = oval.centre();
    let cy = cy - FACE_ABOVE_CENTRE * oval.height;
    Target { x: cx - face_w / 2.0, y: cy - face_h / 2.0, width: face_w, height: face_h }
}

/// The oval a face of box `face` fills (the inverse of [`face_box_in_oval`]).
pub fn oval_around(face: &Target, width: u32, height: u32) -> Target {
    let oval_w = face.width / FACE_IN_OVAL_WIDTH;
    let oval_h = oval_w * width as f32 / height as f32 * OVAL_HEIGHT_RATIO;
    let [cx, cy] = face.centre();
    let cy = cy + FACE_ABOVE_CENTRE * oval_h;
    Target { x: cx - oval_w / 2.0, y: cy - oval_h / 2.0, width: oval_w, height: oval_h }
}

/// See [`face_box_in_oval`].
const FACE_IN_OVAL_WIDTH: f32 = 1.1;
const FACE_BOX_ASPECT: f32 = 1.4;
const FACE_ABOVE_CENTRE: f32 = 0.05;

/// The approach's criteria for the stream (the oval compared through [`face_box_in_oval`]).
pub fn approach_criteria() -> ApproachCriteria {
    ApproachCriteria { oval_iou: OVAL_IOU, min_depth: MIN_DEPTH, ..ApproachCriteria::default() }
}

/// The 3-D evidence an approach must show (eye distances): the genuine approach clips measured 0.029-0.127
/// (`facegate eval stream`), AWS's component running a recorded approach 0.166-0.182; photos zoomed or warped
/// toward the camera 0.003-0.021, one zoomed through the component 0.016.
pub const MIN_DEPTH: f32 = 0.025;

/// The overlap the face must reach with the oval's face box: what the client itself asks (`OvalIouThreshold`).
pub const OVAL_IOU: f32 = 0.7;

/// What judges a stream's video: the models and the sizes the service measures frames with.
pub struct VideoJudge {
    pub pipeline: std::sync::Arc<vision::FacePipeline>,
    pub passive: Option<std::sync::Arc<antispoof::PassiveLiveness>>,
    pub model: vision::EmbeddingModel,
    pub min_face_px: f32,
    pub detect_max_side: u32,
}

/// A video judged: its frames, the evidence (replay memory aside: it needs the store) and the near face's
/// template.
pub struct Judged {
    pub measured: MeasuredVideo,
    pub evidence: StreamEvidence,
    pub near_template: Option<Vec<f32>>,
}

impl VideoJudge {
    /// Decodes, measures and judges `webm` against `plan` (on the caller's thread), with the identity of the
    /// approach's faces against the near one.
    pub fn judge(
        &self,
        webm: &[u8],
        plan: &StreamPlan,
        colours_shown: &[([u8; 3], i64)],
    ) -> Result<Judged, MeasureVideoError> {
        let measured = self.measure(webm)?;
        self.judge_measured(measured, plan, colours_shown)
    }

    /// Decodes and measures `webm`.
    pub fn measure(&self, webm: &[u8]) -> Result<MeasuredVideo, MeasureVideoError> {
        measure_video(&self.pipeline, self.passive.as_deref(), webm, self.min_face_px, self.detect_max_side)
    }

    /// Judges a measured video (see [`VideoJudge::judge`]).
    pub fn judge_measured(
        &self,
        mut measured: MeasuredVideo,
        plan: &StreamPlan,
        colours_shown: &[([u8; 3], i64)],
    ) -> Result<Judged, MeasureVideoError> {
        let (pipeline, min_px, max_side) = (&*self.pipeline, self.min_face_px, self.detect_max_side);
        let mut evidence = judge_video(pipeline, &measured, plan, colours_shown, min_px, max_side);
        let mut templates = Vec::new();
        for i in identity_frames(&measured, &evidence, min_px) {
            if let Some(f) = measured.frames.get_mut(i) {
                templates.push(f.measurement.take_template(pipeline)?);
            }
        }
        let faces: Vec<&Vec<f32>> = templates.iter().flatten().collect();
        evidence.similarities = faces
            .windows(2)
            .map(|w| vision::similarity::similarity(self.model, vision::embed::cosine(w[0], w[1])))
            .collect();
        // The near face's template is the last one taken.
        let near_template = templates.pop().flatten();
        Ok(Judged { measured, evidence, near_template })
    }
}

/// Judges a measured video against `plan`: the approach, the light (for the light challenge), the passive
/// scores; identity and replay are the caller's (they need the templates and the store).
pub fn judge_video(
    pipeline: &vision::FacePipeline,
    measured: &MeasuredVideo,
    plan: &StreamPlan,
    colours_shown: &[([u8; 3], i64)],
    min_face_px: f32,
    detect_max_side: u32,
) -> StreamEvidence {
    let frames: Vec<ApproachFrame> = measured.frames.iter().map(|f| f.approach.clone()).collect();
    let oval = face_box_in_oval(&plan.oval, measured.width, measured.height);
    let approach = judge_approach(&frames, &oval, &approach_criteria(), |i, s| {
        points_at_scale(pipeline, &measured.frames.get(i)?.jpeg, s, min_face_px, detect_max_side)
    });
    let light = (plan.challenge == StreamChallenge::ApproachAndLight).then(|| {
        let light_frames: Vec<LightFrame> = measured
            .frames
            .iter()
            .map(|f| LightFrame { timestamp_ms: f.approach.timestamp_ms, face_rgb: f.colour })
            .collect();
        judge_light(&light_frames, &plan.colours, colours_shown, &LightCriteria::default())
    });
    let bad = frames.iter().filter(|f| f.face.is_none()).count();
    StreamEvidence {
        frames: u32::try_from(frames.len()).unwrap_or(u32::MAX),
        bad_frames: u32::try_from(bad).unwrap_or(u32::MAX),
        reference_frame: approach.near.map(|n| n as u64),
        reference_box: approach.near.and_then(|n| frames.get(n)?.face.as_ref().map(|f| f.bbox)),
        approach,
        light,
        passive_scores: measured.frames.iter().filter_map(|f| Some((f.approach.timestamp_ms, f.passive?))).collect(),
        similarities: Vec::new(),
        replayed_frames: 0,
        replayed_runs: 0,
    }
}

/// The frames whose faces are compared one with the next: every frame of the approach whose face is at least
/// the size a session measures (`liveness_min_face_px`), at most [`IDENTITY_FRAMES`] of them evenly spread, the
/// near frame last.
fn identity_frames(measured: &MeasuredVideo, evidence: &StreamEvidence, min_face_px: f32) -> Vec<usize> {
    let (Some(far), Some(near)) = (evidence.approach.far, evidence.approach.near) else { return Vec::new() };
    let big_enough = |i: &usize| {
        measured.frames[*i].approach.face.as_ref().is_some_and(|f| f.bbox.width * measured.width as f32 >= min_face_px)
    };
    let frames: Vec<usize> = (far..near).filter(big_enough).collect();
    let step = frames.len().div_ceil(IDENTITY_FRAMES).max(1);
    let mut picked: Vec<usize> = frames.into_iter().step_by(step).collect();
    picked.push(near);
    picked
}

/// Faces compared at most in one approach (about 4 seconds at 15 frames a second).
const IDENTITY_FRAMES: usize = 60;

/// Judges session `id`'s video (its stream is open: [`open`]) and concludes the session.
pub async fn finish(app: &AppState, id: &str, upload: Upload) -> ApiResult<SessionResult> {
    let (row, mut record) = sessions::load_record_of(app, id).await?;
    let now = store::now_millis();
    if record.session.expire_if_due(now) {
        record::save_record(app, &row, &record, &[]).await?;
        return Err(ApiError::from(&liveness::FrameError::Expired));
    }
    let plan = match (&record.session.stream, record.session.status) {
        (Some(plan), Status::InProgress) => plan.clone(),
        _ => return Err(ApiError::new(Code::NotApplicable, "the session's stream is not open")),
    };
    let _admission = app.pool.admit()?;
    let started = std::time::Instant::now();
    let judge = VideoJudge {
        pipeline: app.pipeline.clone(),
        passive: app.passive.clone().ok(),
        model: app.model,
        min_face_px: app.config.liveness_min_face_px,
        detect_max_side: app.config.detect_max_side,
    };
    let job_plan = plan.clone();
    let judged = app
        .pool
        .run(move || judge.judge(&upload.video, &job_plan, &upload.colours_shown))
        .await?
        .map_err(ApiError::from)?;
    app.metrics.observe_inference("liveness_stream", started.elapsed().as_secs_f64());
    let Judged { measured, mut evidence, near_template: near } = judged;
    // The replay memory: this video's faces where another recent session saw them, then its own prints.
    let remember = app.config.liveness_replay_window_seconds > 0;
    let mut lookups = Vec::new();
    let mut last_points: Option<&Vec<[f32; 2]>> = None;
    for (i, f) in measured.frames.iter().enumerate() {
        let Some(print) = f.print.as_ref().filter(|_| remember) else { continue };
        let moved = last_points.and_then(|prev| liveness::geometry::motion(prev, &print.points));
        last_points = Some(&print.points);
        let seen_in = sessions::seen_in(app, id, print, store::now_millis()).await?;
        lookups.push(ReplayLookup { moved, seen_in });
        app.store
            .add_frame_print(&store::NewFramePrint {
                session_id: id,
                sequence: i as i64,
                cell: print.cell,
                points: &print.flat(),
                created_at: store::now_millis(),
            })
            .await?;
    }
    (evidence.replayed_frames, evidence.replayed_runs) = count_replayed(&lookups);
    let reference = evidence.reference_frame;
    record.session.conclude_stream(evidence, store::now_millis());
    // The near face's template, for a face login after the session (as a `/v1` session keeps its baseline's).
    if let Some(near) = near.filter(|_| reference.is_some()) {
        record.template = Some(near);
    }
    let images = kept_images(app, &row, &mut record, &measured, reference).await?;
    if record.session.status.is_final() {
        sessions::finish_record(app, &mut record);
    }
    if !record::save_record(app, &row, &record, &images).await? {
        return Err(ApiError::new(Code::SessionBusy, "another request changed this session at the same time"));
    }
    if let Some(target) = &record.output {
        if let Err(e) = sessions::export_images(app, id, target).await {
            tracing::warn!(session = %id, error = %e.message, "writing a session's images to its output bucket failed");
        }
    }
    Ok(record.session.result())
}

/// The reference image (the first frame in the oval) and audit images (frames with a face, drawn at random), as
/// `/v1` sessions keep them: never in privacy mode, nor for a session no key owns.
async fn kept_images(
    app: &AppState,
    row: &store::StoredSession,
    record: &mut SessionRecord,
    measured: &MeasuredVideo,
    reference: Option<u64>,
) -> ApiResult<Vec<SessionImage>> {
    if app.config.liveness_privacy || row.owner_key == auth::scope::ANONYMOUS {
        return Ok(Vec::new());
    }
    // The audit frames drawn first (reservoir sampling, as `/v1` sessions draw theirs), each kept once.
    let limit = record.session.options.audit_images;
    let mut audit: Vec<Option<&MeasuredFrame>> = vec![None; limit as usize];
    for f in measured.frames.iter().filter(|f| f.approach.face.is_some()) {
        if let Some(slot) = record::audit_slot(record, limit) {
            audit[slot as usize] = Some(f);
        }
    }
    let reference = reference.and_then(|r| measured.frames.get(r as usize));
    let named = reference.map(|f| ("reference".to_string(), f)).into_iter();
    let named = named.chain(audit.into_iter().enumerate().filter_map(|(i, f)| Some((format!("audit-{i}"), f?))));
    let mut images = Vec::new();
    for (name, f) in named {
        images.push(record::kept_image(app, name, f.jpeg.clone().into()).await?);
    }
    Ok(images)
}

/// Fails session `id`'s open stream that broke off before its video was complete.
pub async fn abandon(app: &AppState, id: &str) -> ApiResult<()> {
    let (row, mut record) = sessions::load_record_of(app, id).await?;
    if record.session.stream.is_some() && !record.session.status.is_final() {
        record.session.abandon_stream(store::now_millis());
        sessions::finish_record(app, &mut record);
        record::save_record(app, &row, &record, &[]).await?;
    }
    Ok(())
}
