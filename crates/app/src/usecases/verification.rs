//! Liveness and identity at once: liveness judged from stills captured beforehand (a baseline and one image per
//! challenge), and verification (a finished liveness session or a selfie, against an identity document, a
//! registered user or a collection).

use bytes::Bytes;
use liveness::{CheckOutcome, Criteria, FrameMeasurement, Kind, Target};
use store::USERS_COLLECTION;

use crate::error::{ApiError, ApiResult, Code};
use crate::state::AppState;
use crate::usecases::collections::{usable_collection, CollectionRef};
use crate::usecases::liveness_sessions::measure_frame;
use crate::usecases::liveness_sessions::record::{self, SessionRecord};
use liveness::Template;

/// Challenges per set of stills.
pub const MAX_STILL_CHALLENGES: usize = 6;

/// Why a set of stills did not pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StillsReason {
    NoFace,
    MultipleFaces,
    ChallengeFailed,
    IdentityChanged,
    SpoofDetected,
    /// No passive anti-spoofing, and challenge-only liveness is not allowed.
    PassiveCheckUnavailable,
}

impl StillsReason {
    pub fn code(self) -> &'static str {
        match self {
            StillsReason::NoFace => Code::NoFace.as_str(),
            StillsReason::MultipleFaces => Code::MultipleFaces.as_str(),
            StillsReason::ChallengeFailed => "challenge_failed",
            StillsReason::IdentityChanged => "identity_changed",
            StillsReason::SpoofDetected => "spoof_detected",
            StillsReason::PassiveCheckUnavailable => "passive_check_unavailable",
        }
    }
}

/// One challenge and the image showing it done.
pub struct StillChallenge {
    pub kind: Kind,
    /// `nose_target`: the area the nose must be in.
    pub target: Option<Target>,
    pub image: Bytes,
}

/// How one challenge's image was judged.
pub struct StillVerdict {
    pub kind: Kind,
    /// The challenge's decision, or why the image could not be judged (no face, several faces).
    pub outcome: Result<CheckOutcome, StillsReason>,
    /// Similarity (0-100) of the image's face to the baseline's.
    pub similarity: Option<f32>,
    /// The face is not the baseline's person.
    pub identity_changed: bool,
}

impl StillVerdict {
    pub fn passed(&self) -> bool {
        self.outcome.as_ref().is_ok_and(|o| o.passed) && !self.identity_changed
    }
}

pub struct StillsJudged {
    pub passed: bool,
    /// 0-100: 50 and above if and only if `passed`.
    pub confidence: f32,
    pub reasons: Vec<StillsReason>,
    pub challenges: Vec<StillVerdict>,
    /// The lowest passive score over the images (every image must look real on its own).
    pub passive_score: Option<f32>,
    pub min_similarity: Option<f32>,
}

fn face_reason(m: &FrameMeasurement) -> Option<StillsReason> {
    match m.faces {
        1 => None,
        0 => Some(StillsReason::NoFace),
        _ => Some(StillsReason::MultipleFaces),
    }
}

fn push<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Liveness from stills captured beforehand: each challenge image is judged against the baseline (a change, not
/// a state), every face must be the baseline's person, and passive anti-spoofing runs on all of them.
pub async fn judge_stills(app: &AppState, baseline: Bytes, challenges: Vec<StillChallenge>) -> ApiResult<StillsJudged> {
    if challenges.is_empty() || challenges.len() > MAX_STILL_CHALLENGES {
        return Err(ApiError::invalid_parameter(format!("1 to {MAX_STILL_CHALLENGES} challenges are judged at once")));
    }
    if challenges.iter().any(|c| c.kind == Kind::NoseTarget && !c.target.is_some_and(|t| t.is_valid())) {
        return Err(ApiError::invalid_parameter("a nose_target challenge needs a valid target area"));
    }
    let _admission = app.pool.admit()?;
    let base = measure_frame(app, baseline, Template::Now).await?;
    if let Some(r) = face_reason(&base) {
        let code = if r == StillsReason::NoFace { Code::NoFace } else { Code::MultipleFaces };
        return Err(ApiError::new(code, "the baseline must show exactly one face"));
    }
    let Some(base_face) = &base.face else {
        return Err(ApiError::new(Code::NoFace, "no face was found in the baseline"));
    };
    let criteria = app.config.criteria();
    let mut reasons = Vec::new();
    let mut verdicts = Vec::new();
    let mut passive: Vec<f32> = base_face.passive.into_iter().collect();
    let mut similarities = Vec::new();
    for c in challenges {
        let m = measure_frame(app, c.image, Template::Now).await?;
        let Some(face) = m.face.as_ref().filter(|_| m.faces == 1) else {
            let r = face_reason(&m).unwrap_or(StillsReason::NoFace);
            push(&mut reasons, r);
            verdicts.push(StillVerdict { kind: c.kind, outcome: Err(r), similarity: None, identity_changed: false });
            continue;
        };
        passive.extend(face.passive);
        let checked = liveness::check(
            c.kind,
            &Criteria { target: c.target, ..criteria },
            &face.signals,
            Some(&base_face.signals),
        );
        if !checked.passed {
            push(&mut reasons, StillsReason::ChallengeFailed);
        }
        let s = face
            .similarity_to(app.model, base_face.template().map_err(|e| ApiError::internal("measuring a frame", e))?)
            .map_err(|e| ApiError::internal("measuring a frame", e))?;
        similarities.push(s);
        let identity_changed = s < app.config.match_threshold;
        if identity_changed {
            push(&mut reasons, StillsReason::IdentityChanged);
        }
        verdicts.push(StillVerdict { kind: c.kind, outcome: Ok(checked), similarity: Some(s), identity_changed });
    }
    // Every image must look real on its own: one live image cannot carry a photo.
    let passive_score = passive.iter().copied().reduce(f32::min);
    if app.passive.is_ok() && passive_score.is_some_and(|p| p < app.config.passive_threshold) {
        push(&mut reasons, StillsReason::SpoofDetected);
    }
    if app.passive.is_err() && !app.config.liveness_allow_challenge_only {
        push(&mut reasons, StillsReason::PassiveCheckUnavailable);
    }
    let passed = reasons.is_empty();
    let n = verdicts.len().max(1) as f32;
    let mut q = verdicts
        .iter()
        .map(|v| match &v.outcome {
            Ok(o) if o.passed && !v.identity_changed => o.score.max(0.5),
            _ => 0.0,
        })
        .sum::<f32>()
        / n;
    if let Some(p) = passive_score {
        q *= 0.5 + 0.5 * p;
    }
    Ok(StillsJudged {
        passed,
        confidence: liveness::confidence(passed, q),
        reasons,
        challenges: verdicts,
        passive_score,
        min_similarity: similarities.iter().copied().reduce(f32::min),
    })
}

/// Who is verified.
pub enum Subject {
    /// A finished liveness session of the caller's (its baseline face).
    Session(String),
    /// A selfie: liveness is then passive only.
    Selfie(Bytes),
}

/// Against what.
pub enum Claim {
    /// An identity document's portrait.
    Document(Bytes),
    /// A registered user (face login's users).
    User(String),
    /// The best match in a collection.
    Collection(String),
}

/// Why a verification did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyReason {
    NotLive,
    /// A selfie without the anti-spoofing weights.
    LivenessUnavailable,
    SessionNotSucceeded,
    FacesDoNotMatch,
    /// Nobody in the collection matches.
    NoMatch,
}

impl VerifyReason {
    pub fn code(self) -> &'static str {
        match self {
            VerifyReason::NotLive => "not_live",
            VerifyReason::LivenessUnavailable => "liveness_unavailable",
            VerifyReason::SessionNotSucceeded => "session_not_succeeded",
            VerifyReason::FacesDoNotMatch => "faces_do_not_match",
            VerifyReason::NoMatch => Code::NoMatch.as_str(),
        }
    }
}

pub struct Verification {
    /// Live and the same person.
    pub verified: bool,
    /// A selfie's passive anti-spoofing score (0-1), when the model ran.
    pub passive_score: Option<f32>,
    /// `None` when liveness could not be judged.
    pub is_live: Option<bool>,
    /// The session's confidence, or the selfie's passive score x 100.
    pub liveness_confidence: Option<f32>,
    pub faces_match: bool,
    pub similarity: f32,
    pub threshold: f32,
    pub matched_face_id: Option<String>,
    pub matched_external_id: Option<String>,
    pub reasons: Vec<VerifyReason>,
}

/// How strict a verification is.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions {
    /// A calibrated similarity 0-100 the faces must reach; `None`: the server's match threshold.
    pub threshold: Option<f32>,
    /// The passive score (0-1) a selfie must reach; `None`: the server's `passive_threshold`.
    pub passive_threshold: Option<f32>,
}

/// Is this a live person, and are they who they claim? `caller` must be allowed to read the user or the
/// collection named.
pub async fn verify(
    app: &AppState,
    caller: &auth::Access,
    subject: Subject,
    claim: Claim,
    options: VerifyOptions,
) -> ApiResult<Verification> {
    let threshold = app.threshold(options.threshold)?;
    let passive_threshold = options.passive_threshold.unwrap_or(app.config.passive_threshold);
    if !(passive_threshold.is_finite() && (0.0..=1.0).contains(&passive_threshold)) {
        return Err(ApiError::invalid_parameter("a passive threshold lies in 0..1"));
    }
    let mut passive_score = None;
    // Reading users or a collection needs their scopes as well.
    let needs = match &claim {
        Claim::User(_) => Some(auth::Scope::Users),
        Claim::Collection(_) => Some(auth::Scope::CollectionsRead),
        Claim::Document(_) => None,
    };
    if let Some(scope) = needs.filter(|s| !caller.allows(*s)) {
        return Err(ApiError::new(Code::InsufficientScope, format!("this key lacks the `{scope}` scope")));
    }
    if let Claim::Collection(collection) = &claim {
        CollectionRef::of(caller, collection)?;
    }
    let mut reasons = Vec::new();
    let _admission = app.pool.admit()?;
    let unverified = |reasons, is_live, liveness_confidence| Verification {
        verified: false,
        passive_score: None,
        is_live,
        liveness_confidence,
        faces_match: false,
        similarity: 0.0,
        threshold,
        matched_face_id: None,
        matched_external_id: None,
        reasons,
    };
    // Who is verified, and how live.
    let (template, is_live, liveness_confidence) = match subject {
        Subject::Session(id) => {
            let row = app.store.get_session(&id).await?.filter(|r| caller.is_admin() || r.owner_key == caller.key_id);
            let row = row.ok_or_else(|| {
                ApiError::new(Code::SessionNotFound, format!("liveness session {id:?} does not exist"))
            })?;
            let mut record: SessionRecord =
                serde_json::from_str(&row.state).map_err(|e| ApiError::internal("liveness session state", e))?;
            let result = record.session.result();
            let live = result.status == liveness::Status::Succeeded;
            if !live {
                reasons.push(VerifyReason::SessionNotSucceeded);
                if record.template.is_none() {
                    // Nothing to compare: the session never took its baseline.
                    return Ok(unverified(reasons, Some(false), Some(result.confidence)));
                }
            }
            let template = record.template.take().ok_or_else(|| {
                ApiError::new(
                    Code::SessionTemplateDiscarded,
                    "this session kept no face template (privacy mode after its one use or its login window, or \
                     no baseline was taken)",
                )
            })?;
            // In privacy mode a succeeded session's template serves once: it goes now.
            if app.config.liveness_privacy && live && !record::save_record(app, &row, &record, &[]).await? {
                return Err(ApiError::new(Code::SessionBusy, "another request used this session at the same time"));
            }
            (template, Some(live), Some(result.confidence))
        }
        Subject::Selfie(bytes) => {
            let m = measure_frame(app, bytes, Template::Now).await?;
            match face_reason(&m) {
                Some(StillsReason::MultipleFaces) => {
                    return Err(ApiError::new(Code::MultipleFaces, "the selfie must show exactly one face"))
                }
                Some(_) => return Err(ApiError::new(Code::NoFace, "the selfie must show exactly one face")),
                None => {}
            }
            let Some(face) = m.face else {
                return Err(ApiError::new(Code::NoFace, "no face was found in the selfie"));
            };
            match face.passive {
                Some(p) => {
                    passive_score = Some(p);
                    let live = p >= passive_threshold;
                    if !live {
                        reasons.push(VerifyReason::NotLive);
                    }
                    (selfie_template(&face)?, Some(live), Some((p * 1000.0).round() / 10.0))
                }
                None => {
                    reasons.push(VerifyReason::LivenessUnavailable);
                    (selfie_template(&face)?, None, None)
                }
            }
        }
    };
    // Against what.
    let in_collection = matches!(claim, Claim::Collection(_));
    let (similarity, matched_face_id, matched_external_id) = match claim {
        Claim::Document(doc) => {
            let analysed = app
                .analyze(doc, app.config.document_max_side, vision::Wanted::Every, |f| {
                    crate::inference::largest(f).into_iter().collect()
                })
                .await?;
            let doc_template = analysed
                .templates
                .first()
                .ok_or_else(|| ApiError::new(Code::NoFace, "no face was found on the document"))?;
            (app.similarity(vision::embed::cosine(&template, &doc_template.vector)), None, None)
        }
        Claim::User(user_id) => {
            let faces = app.store.user_faces(&user_id).await?;
            if app.store.get_user(&user_id).await?.is_none() {
                return Err(ApiError::user_not_found(&user_id));
            }
            let ids: std::collections::HashSet<_> = faces.iter().map(|f| f.face_id).collect();
            let best =
                app.indexes.search(USERS_COLLECTION, &template, 1000, -1.0).into_iter().find(|h| ids.contains(&h.id));
            match best {
                Some(h) => (app.similarity(h.score), Some(h.id.to_string()), Some(user_id)),
                None => (0.0, None, None),
            }
        }
        Claim::Collection(collection) => {
            usable_collection(app, &collection).await?;
            let min_cosine = vision::similarity::cosine_for_similarity(app.model, threshold);
            match app.indexes.search(&collection, &template, 1, min_cosine).into_iter().next() {
                Some(h) => {
                    let record = app.store.get_faces(&collection, &[h.id]).await?.into_iter().next();
                    (app.similarity(h.score), Some(h.id.to_string()), record.and_then(|r| r.external_id))
                }
                None => {
                    reasons.push(VerifyReason::NoMatch);
                    (0.0, None, None)
                }
            }
        }
    };
    let faces_match = similarity >= threshold && (!in_collection || matched_face_id.is_some());
    if !faces_match && !reasons.contains(&VerifyReason::NoMatch) {
        reasons.push(VerifyReason::FacesDoNotMatch);
    }
    Ok(Verification {
        verified: faces_match && is_live == Some(true),
        passive_score,
        is_live,
        liveness_confidence,
        faces_match,
        similarity,
        threshold,
        matched_face_id,
        matched_external_id,
        reasons,
    })
}

/// The template measured with the selfie ([`Template::Now`]).
fn selfie_template(face: &liveness::MeasuredFace) -> ApiResult<Vec<f32>> {
    face.template().map(<[f32]>::to_vec).map_err(|e| ApiError::internal("measuring a frame", e))
}
