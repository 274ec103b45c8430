//! What the face networks measure, statelessly: each face's analysis (pose, eyes, smile, mouth, nose,
//! expressions, mesh), one liveness challenge decided on one image (optionally against a baseline of the same
//! person), and passive anti-spoofing of every face.

use bytes::Bytes;
use image::RgbImage;
use liveness::{CheckOutcome, Criteria, Kind, Signals};
use vision::{BBox, Face, FaceAnalysis, FaceAnalyzer, HeadPose, Wanted};

use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult, Code};
use crate::inference::ImageInfo;
use crate::state::AppState;
use crate::turns::TurnProgress;

/// At most this many faces are analysed per image.
pub const MAX_ANALYSED_FACES: u32 = 20;
/// Faces analysed when the caller does not say.
const DEFAULT_ANALYSED_FACES: u32 = 5;

/// One face and what the networks measured on it.
pub struct AnalyzedFace {
    pub face: Face,
    pub analysis: FaceAnalysis,
}

pub struct Analysis {
    pub image: ImageInfo,
    /// Largest first.
    pub faces: Vec<AnalyzedFace>,
    /// Faces found in all (more than `faces` when over the limit).
    pub face_count: usize,
}

/// What a face's analysis says under the server's thresholds: the smile, eyes and mouth verdicts, decided here once
/// for every front door (`/v1`'s analysis, Rekognition's `Smile` / `EyesOpen` / `MouthOpen`, the DeepFace door's
/// checks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdicts {
    /// The smile probability at or above `smile_threshold`.
    pub smiling: bool,
    /// Both eyes closed: their mean openness under `eye_closed_threshold` (a blink).
    pub eyes_closed: bool,
    /// Each eye by its own openness.
    pub left_eye_closed: bool,
    pub right_eye_closed: bool,
    /// The inner lips' gap over the mouth's width at or above [`vision::analysis::MOUTH_OPEN_THRESHOLD`].
    pub mouth_open: bool,
    /// The thresholds applied.
    pub smile_threshold: f32,
    pub eye_closed_threshold: f32,
    pub mouth_open_threshold: f32,
}

impl Verdicts {
    pub fn of(config: &ServerConfig, a: &FaceAnalysis) -> Verdicts {
        let (smile, eyes, mouth) =
            (config.smile_threshold, config.eye_closed_threshold, vision::analysis::MOUTH_OPEN_THRESHOLD);
        Verdicts {
            smiling: a.smile >= smile,
            eyes_closed: a.eyes.closed(eyes),
            left_eye_closed: a.eyes.left < eyes,
            right_eye_closed: a.eyes.right < eyes,
            mouth_open: a.mouth_open >= mouth,
            smile_threshold: smile,
            eye_closed_threshold: eyes,
            mouth_open_threshold: mouth,
        }
    }
}

/// Face order: largest first.
fn largest_first(faces: &[Face]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..faces.len()).collect();
    order.sort_by(|&a, &b| faces[b].detection.bbox.area().total_cmp(&faces[a].detection.bbox.area()));
    order
}

fn no_face(which: &str) -> ApiError {
    ApiError::new(Code::NoFace, format!("no face was found in the {which}"))
}

/// How much of the face analysis runs on the faces measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The head pose alone: the face mesh (the same pose as the whole analysis gives).
    Pose,
    /// Everything [`FaceAnalysis`] holds.
    Full,
}

/// What the networks measured on one face: its head pose always, the rest at [`Depth::Full`].
pub struct Measured {
    pub pose: HeadPose,
    pub analysis: Option<FaceAnalysis>,
}

impl Depth {
    fn measure(self, analyzer: &FaceAnalyzer, img: &RgbImage, bbox: &BBox) -> ApiResult<Measured> {
        let internal = |e| ApiError::internal("face analysis", e);
        Ok(match self {
            Depth::Pose => Measured { pose: analyzer.head_pose(img, bbox).map_err(internal)?, analysis: None },
            Depth::Full => {
                let a = analyzer.analyze(img, bbox).map_err(internal)?;
                Measured { pose: a.pose, analysis: Some(a) }
            }
        })
    }
}

/// Detects the faces of `image` and measures up to `max` of them to `depth`, largest first.
async fn analyse_image(
    app: &AppState,
    image: Bytes,
    max: usize,
    depth: Depth,
) -> ApiResult<(ImageInfo, Vec<Face>, Vec<(usize, Measured)>)> {
    let pipeline = app.pipeline.clone();
    let started = std::time::Instant::now();
    let out = app
        .inspect(image, app.config.detect_max_side, Wanted::Every, move |img, faces| {
            largest_first(faces)
                .into_iter()
                .take(max)
                .map(|i| Ok((i, depth.measure(pipeline.analyzer(), img, &faces[i].detection.bbox)?)))
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    if max > 0 {
        app.metrics.observe_inference("analysis", started.elapsed().as_secs_f64());
    }
    Ok(out)
}

/// The whole analyses of `measured` (measured at [`Depth::Full`]).
fn full(measured: Vec<(usize, Measured)>) -> impl Iterator<Item = (usize, FaceAnalysis)> {
    measured.into_iter().filter_map(|(i, m)| Some((i, m.analysis?)))
}

/// Analyses up to `max_faces` faces (1..=20, default 5), largest first.
pub async fn analyze(app: &AppState, image: Bytes, max_faces: Option<u32>) -> ApiResult<Analysis> {
    let max = max_faces.unwrap_or(DEFAULT_ANALYSED_FACES);
    if !(1..=MAX_ANALYSED_FACES).contains(&max) {
        return Err(ApiError::invalid_parameter(format!("at most 1..={MAX_ANALYSED_FACES} faces are analysed")));
    }
    let _admission = app.pool.admit()?;
    let (image, faces, analyses) = analyse_image(app, image, max as usize, Depth::Full).await?;
    if faces.is_empty() {
        return Err(no_face("image"));
    }
    let face_count = faces.len();
    let mut slots: Vec<Option<Face>> = faces.into_iter().map(Some).collect();
    let faces = full(analyses)
        .filter_map(|(i, analysis)| Some(AnalyzedFace { face: slots.get_mut(i)?.take()?, analysis }))
        .collect();
    Ok(Analysis { image, faces, face_count })
}

/// A face found in an image, and what the networks measured on it when it was measured.
pub struct DetectedFace {
    pub face: Face,
    pub measured: Option<Measured>,
}

/// Every face of an image, largest first.
pub struct Detected {
    pub image: ImageInfo,
    pub faces: Vec<DetectedFace>,
}

/// Finds every face of `image` (none is no error) and measures the largest `measured` of them to `depth` (at most
/// [`MAX_ANALYSED_FACES`]; 0: none, detection alone).
pub async fn detect(app: &AppState, image: Bytes, measured: u32, depth: Depth) -> ApiResult<Detected> {
    let max = measured.min(MAX_ANALYSED_FACES) as usize;
    let _admission = app.pool.admit()?;
    let (image, faces, found) = analyse_image(app, image, max, depth).await?;
    let mut measures: Vec<Option<Measured>> = faces.iter().map(|_| None).collect();
    for (i, m) in found {
        if let Some(slot) = measures.get_mut(i) {
            *slot = Some(m);
        }
    }
    let order = largest_first(&faces);
    let mut slots: Vec<Option<Face>> = faces.into_iter().map(Some).collect();
    let faces = order
        .into_iter()
        .filter_map(|i| Some(DetectedFace { face: slots.get_mut(i)?.take()?, measured: measures.get_mut(i)?.take() }))
        .collect();
    Ok(Detected { image, faces })
}

/// Measures the faces in `boxes` to `depth`, found earlier in the same image (in its upright frame, as detection
/// gives them): the largest [`MAX_ANALYSED_FACES`] of them; the others (and none where the image holds no face)
/// get `None`. One answer per box, in the order given.
pub async fn measure_boxes(
    app: &AppState,
    image: Bytes,
    boxes: Vec<vision::BBox>,
    depth: Depth,
) -> ApiResult<Vec<Option<Measured>>> {
    let _admission = app.pool.admit()?;
    let pipeline = app.pipeline.clone();
    let started = std::time::Instant::now();
    let (_, _, measured) = app
        .inspect(image, app.config.detect_max_side, Wanted::Every, move |img, _| {
            measure_largest(pipeline.analyzer(), img, &boxes, depth)
        })
        .await?;
    app.metrics.observe_inference("analysis", started.elapsed().as_secs_f64());
    Ok(measured)
}

/// Measures the faces at `boxes` of `img` to `depth`, the [`MAX_ANALYSED_FACES`] largest (`None` for the rest),
/// in the boxes' order.
pub(crate) fn measure_largest(
    analyzer: &FaceAnalyzer,
    img: &RgbImage,
    boxes: &[BBox],
    depth: Depth,
) -> ApiResult<Vec<Option<Measured>>> {
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| boxes[b].area().total_cmp(&boxes[a].area()));
    order.truncate(MAX_ANALYSED_FACES as usize);
    let mut out: Vec<Option<Measured>> = (0..boxes.len()).map(|_| None).collect();
    for i in order {
        out[i] = Some(depth.measure(analyzer, img, &boxes[i])?);
    }
    Ok(out)
}

/// The largest face of an image and its liveness signals.
pub struct MeasuredFace {
    pub signals: Signals,
    pub face: Face,
    /// Faces in the image (the largest is judged).
    pub face_count: usize,
}

/// A challenge decided on an image.
pub struct Checked {
    /// The challenge's own decision; see [`Checked::passed`].
    pub outcome: CheckOutcome,
    /// The image or the baseline shows more than one face: the check does not pass.
    pub multiple_faces: bool,
    pub image: MeasuredFace,
    pub baseline: Option<MeasuredFace>,
}

impl Checked {
    pub fn passed(&self) -> bool {
        self.outcome.passed && !self.multiple_faces
    }
}

async fn measure(app: &AppState, image: Bytes, which: &str) -> ApiResult<MeasuredFace> {
    let (info, mut faces, measured) = analyse_image(app, image, 1, Depth::Full).await?;
    let analyses: Vec<(usize, FaceAnalysis)> = full(measured).collect();
    let (i, a) = analyses.first().ok_or_else(|| no_face(which))?;
    let face_count = faces.len();
    Ok(MeasuredFace { signals: Signals::new(a, info.width, info.height), face: faces.swap_remove(*i), face_count })
}

/// One liveness challenge on one image (and, where it makes sense, against a baseline image of the same person):
/// smile, blink, head turns, head pose, nose in a target area. The largest face is judged; several faces never
/// pass.
pub async fn check(
    app: &AppState,
    kind: Kind,
    criteria: &Criteria,
    image: Bytes,
    baseline: Option<Bytes>,
) -> ApiResult<Checked> {
    if kind == Kind::NoseTarget && criteria.target.is_none() {
        return Err(ApiError::invalid_parameter("a nose_target check needs a target area"));
    }
    if criteria.target.is_some_and(|t| !t.is_valid()) {
        return Err(ApiError::invalid_parameter("the target must be an area of positive size inside 0..1"));
    }
    let _admission = app.pool.admit()?;
    let (image, baseline) = match baseline {
        Some(b) => {
            let (i, b) = tokio::try_join!(measure(app, image, "image"), measure(app, b, "baseline"))?;
            (i, Some(b))
        }
        None => (measure(app, image, "image").await?, None),
    };
    let outcome = liveness::check(kind, criteria, &image.signals, baseline.as_ref().map(|b| &b.signals));
    let multiple_faces = image.face_count > 1 || baseline.as_ref().is_some_and(|b| b.face_count > 1);
    Ok(Checked { outcome, multiple_faces, image, baseline })
}

/// One face's passive anti-spoofing score.
pub struct PassiveFace {
    pub face: Face,
    pub score: antispoof::PassiveScore,
    /// The score reaches the threshold.
    pub is_real: bool,
}

pub struct PassiveCheck {
    pub image: ImageInfo,
    /// Largest first.
    pub faces: Vec<PassiveFace>,
    pub threshold: f32,
}

/// Passive liveness: is each face a live person, or a photo or screen held to the camera? Needs the MiniFASNet
/// weights (`model_unavailable` without them).
pub async fn passive(app: &AppState, image: Bytes, threshold: Option<f32>) -> ApiResult<PassiveCheck> {
    let threshold = threshold.unwrap_or(app.config.passive_threshold);
    if !(threshold.is_finite() && (0.0..=1.0).contains(&threshold)) {
        return Err(ApiError::invalid_parameter("a passive threshold lies in 0..1"));
    }
    let model = app.passive.clone().map_err(|why| ApiError::new(Code::ModelUnavailable, why))?;
    let _admission = app.pool.admit()?;
    let started = std::time::Instant::now();
    let (image, faces, scores) = app
        .inspect(image, app.config.detect_max_side, Wanted::Every, move |img, faces| {
            largest_first(faces)
                .into_iter()
                .map(|i| {
                    let s = model
                        .score(img, &faces[i].detection.bbox)
                        .map_err(|e| ApiError::internal("passive liveness", e))?;
                    Ok((i, s))
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    if faces.is_empty() {
        return Err(no_face("image"));
    }
    app.metrics.observe_inference("minifasnet", started.elapsed().as_secs_f64());
    let mut slots: Vec<Option<Face>> = faces.into_iter().map(Some).collect();
    let faces = scores
        .into_iter()
        .filter_map(|(i, score)| {
            Some(PassiveFace { face: slots.get_mut(i)?.take()?, is_real: score.real >= threshold, score })
        })
        .collect();
    Ok(PassiveCheck { image, faces, threshold })
}

/// How a frame's head pose moved a client's turn progress.
pub struct TrackedTurn {
    /// Degrees; > 0: toward the image's right (the person's own left).
    pub yaw: f32,
    pub pitch: f32,
    pub progress: TurnProgress,
}

/// The largest face's head pose in `image`, and `client`'s turn progress with it (started afresh with `reset`):
/// a turn counts once the yaw reaches `threshold_degrees` toward a side.
pub async fn track_head_turn(
    app: &AppState,
    client: &str,
    image: Bytes,
    reset: bool,
    threshold_degrees: f32,
) -> ApiResult<TrackedTurn> {
    if !(threshold_degrees.is_finite() && threshold_degrees > 0.0 && threshold_degrees <= 90.0) {
        return Err(ApiError::invalid_parameter("a turn threshold lies in (0, 90] degrees"));
    }
    let analysed = analyze(app, image, Some(1)).await?;
    let face = analysed.faces.first().ok_or_else(|| no_face("image"))?;
    let pose = face.analysis.pose;
    let progress = app.turns.record(client, pose.yaw, reset, threshold_degrees)?;
    Ok(TrackedTurn { yaw: pose.yaw, pitch: pose.pitch, progress })
}
