//! Stateless face use cases: detect, compare (1:1, or one face against every face of an image), and identity
//! document + selfie.

use bytes::Bytes;
use vision::{Face, StageTimes, Wanted};

use crate::error::{ApiError, ApiResult, Code};
use crate::inference::{largest, ImageInfo};
use crate::state::AppState;

/// The faces of an image, best detection score first.
pub struct Detection {
    pub image: ImageInfo,
    pub faces: Vec<Face>,
    /// Decoding and detection times.
    pub times: StageTimes,
}

pub async fn detect(app: &AppState, image: Bytes) -> ApiResult<Detection> {
    let _admission = app.pool.admit()?;
    let analyzed = app.analyze(image, app.config.detect_max_side, Wanted::Every, |_| Vec::new()).await?;
    Ok(Detection { image: analyzed.image, faces: analyzed.faces, times: analyzed.times })
}

/// Options of a comparison.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompareOptions {
    /// A calibrated similarity 0-100; `None`: the server's match threshold.
    pub threshold: Option<f32>,
    /// Compare with every face of the target (else its largest).
    pub all_target_faces: bool,
    /// The source is an identity document: its portrait, a small part of the page, is looked for at the
    /// document resolution (`document_max_side`).
    pub source_is_document: bool,
    /// Compare face N of each image (in detection order: 0 = the best detection score) instead of the source's
    /// largest face against the target's largest (or every) face.
    pub face: Option<usize>,
}

/// A target face and how similar it is to the source.
pub struct ScoredFace {
    pub face: Face,
    /// Calibrated 0-100.
    pub similarity: f32,
    pub cosine: f32,
}

/// The source's largest face against the target's faces.
pub struct Comparison {
    pub source_face: Face,
    pub source_image: ImageInfo,
    pub target_image: ImageInfo,
    /// Target faces at or above the threshold, most similar first.
    pub matches: Vec<ScoredFace>,
    /// The others, most similar first.
    pub unmatched: Vec<ScoredFace>,
    pub threshold: f32,
    pub face_model: String,
    /// Time spent in each stage on each image.
    pub source_times: StageTimes,
    pub target_times: StageTimes,
}

impl Comparison {
    /// The most similar target face's similarity and cosine (0 and -1 without one).
    pub fn best(&self) -> (f32, f32) {
        self.matches.first().or(self.unmatched.first()).map_or((0.0, -1.0), |m| (m.similarity, m.cosine))
    }

    pub fn is_match(&self) -> bool {
        !self.matches.is_empty()
    }
}

pub async fn compare(app: &AppState, source: Bytes, target: Bytes, options: CompareOptions) -> ApiResult<Comparison> {
    let _admission = app.pool.admit()?;
    let threshold = app.threshold(options.threshold)?;
    let max_side = app.config.detect_max_side;
    let source_side = if options.source_is_document { app.config.document_max_side.max(max_side) } else { max_side };
    let (all, nth) = (options.all_target_faces, options.face);
    let every = |all: bool| if all || nth.is_some() { Wanted::Every } else { Wanted::Largest };
    // The face to compare: face N when asked for, else the largest (or, in the target, every face when asked).
    let pick = move |all: bool| {
        move |faces: &[Face]| match nth {
            Some(n) => vec![n],
            None if all => (0..faces.len()).collect(),
            None => largest(faces).into_iter().collect(),
        }
    };
    let (source, target) = tokio::join!(
        app.analyze(source, source_side, every(options.source_is_document), pick(false)),
        app.analyze(target, max_side, every(all), pick(all)),
    );
    let (mut source, mut target) = (source?, target?);
    if source.faces.is_empty() {
        return Err(ApiError::new(Code::NoFace, "no face was found in the source image"));
    }
    if target.faces.is_empty() {
        return Err(ApiError::new(Code::NoFace, "no face was found in the target image"));
    }
    if let Some(n) = nth {
        for (side, found) in [("source", source.faces.len()), ("target", target.faces.len())] {
            if n >= found {
                return Err(ApiError::invalid_parameter(format!(
                    "face {n} is out of range: the {side} image has {found} face(s), numbered from 0"
                )));
            }
        }
    }
    let source_index = nth.or_else(|| largest(&source.faces)).unwrap_or(0);
    let source_template =
        source.template_of(source_index).ok_or_else(|| ApiError::internal("compare", "no template"))?;
    let mut scored = Vec::new();
    for &i in &target.embedded {
        let template = target.template_of(i).ok_or_else(|| ApiError::internal("compare", "no template"))?;
        let cosine = source_template.cosine(template).map_err(ApiError::from)?;
        scored.push((i, app.similarity(cosine), cosine));
    }
    scored.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut faces: Vec<Option<Face>> = std::mem::take(&mut target.faces).into_iter().map(Some).collect();
    let (mut matches, mut unmatched) = (Vec::new(), Vec::new());
    for (i, similarity, cosine) in scored {
        let Some(face) = faces.get_mut(i).and_then(Option::take) else { continue };
        let scored = ScoredFace { face, similarity, cosine };
        if similarity >= threshold {
            matches.push(scored);
        } else {
            unmatched.push(scored);
        }
    }
    Ok(Comparison {
        source_face: source.faces.swap_remove(source_index),
        source_image: source.image,
        target_image: target.image,
        matches,
        unmatched,
        threshold,
        face_model: app.face_model(),
        source_times: source.times,
        target_times: target.times,
    })
}

/// An identity document's portrait against a selfie.
pub struct IdVerification {
    pub is_match: bool,
    pub similarity: f32,
    pub cosine: f32,
    pub threshold: f32,
    pub document_face: Face,
    pub selfie_face: Face,
    pub document_image: ImageInfo,
    pub selfie_image: ImageInfo,
    pub face_model: String,
}

/// Finds the portrait on the document (detected at a higher resolution, since it is small), checks that the
/// selfie shows exactly one face, and compares the two.
pub async fn verify_id(
    app: &AppState,
    document: Bytes,
    selfie: Bytes,
    threshold: Option<f32>,
) -> ApiResult<IdVerification> {
    let _admission = app.pool.admit()?;
    let threshold = app.threshold(threshold)?;
    let document_side = app.config.document_max_side.max(app.config.detect_max_side);
    let pick_largest = |faces: &[Face]| largest(faces).into_iter().collect::<Vec<_>>();
    let (document, selfie) = tokio::join!(
        app.analyze(document, document_side, Wanted::Every, pick_largest),
        app.analyze(selfie, app.config.detect_max_side, Wanted::Largest, pick_largest),
    );
    let (mut document, mut selfie) = (document?, selfie?);
    let doc_index = largest(&document.faces)
        .ok_or_else(|| ApiError::new(Code::NoFace, "no portrait was found on the identity document"))?;
    let selfie_index =
        largest(&selfie.faces).ok_or_else(|| ApiError::new(Code::NoFace, "no face was found in the selfie"))?;
    if selfie.faces.len() > 1 {
        return Err(ApiError::new(
            Code::MultipleFaces,
            format!("the selfie must show one person; {} faces were found", selfie.faces.len()),
        ));
    }
    let (Some(a), Some(b)) = (document.template_of(doc_index), selfie.template_of(selfie_index)) else {
        return Err(ApiError::internal("verify-id", "no template"));
    };
    let cosine = a.cosine(b).map_err(ApiError::from)?;
    let similarity = app.similarity(cosine);
    Ok(IdVerification {
        is_match: similarity >= threshold,
        similarity,
        cosine,
        threshold,
        document_face: document.faces.swap_remove(doc_index),
        selfie_face: selfie.faces.swap_remove(selfie_index),
        document_image: document.image,
        selfie_image: selfie.image,
        face_model: app.face_model(),
    })
}
