//! `FaceDetail`: what Rekognition says about a face, from what Facegate measures on it, and the `Attributes`
//! (`DetectFaces`) / `DetectionAttributes` (`IndexFaces`) that choose it.
//!
//! `DEFAULT` (or no list): `BoundingBox`, `Confidence`, `Landmarks` (the detector's five points), `Pose`, `Quality`.
//! `Pose` is the face mesh's, from its 3-D points, in every attribute set (degrees; `Yaw` > 0: the face turns
//! toward the image's right, the person's own left; `Pitch` > 0: looking up; `Roll` > 0: tilted clockwise in the
//! image), on the 20 largest faces; on the others (and in `CompareFaces` and `SearchUsersByImage`, which run no
//! mesh) `Yaw` and `Roll` come from the five points, on the same scale ([`vision::quality`]), and `Pitch` is left out.
//! Beyond `DEFAULT` the whole face analysis runs (the face mesh, the attention mesh's eyes and irises, the
//! expression network: see [`app::usecases::analysis`]) on the 20 largest faces:
//! - `Smile`: the smile probability ≥ the server's `smile_threshold`, `Confidence` = 100 × the probability of
//!   the value given (`max(p, 1 - p)`);
//! - `EyesOpen`: the eyes' mean openness ≥ `eye_closed_threshold`; `MouthOpen`: the inner lips' gap over the
//!   mouth's width ≥ [`vision::analysis::MOUTH_OPEN_THRESHOLD`]; their `Confidence` grows with the distance from the threshold
//!   ([`margin_confidence`]);
//! - `Emotions`: the expression network's seven classes, most likely first, `Confidence` = 100 × probability
//!   (neutral is `CALM`; AWS's `CONFUSED` has no class and is not listed);
//! - with `ALL`, the 30 landmarks AWS documents: the detector's five, 23 mesh points and the two iris centres.
//!
//! "Left" and "right" are the image's, as in AWS's own examples (`eyeLeft` has the smaller `X`): `eyeLeft` is the
//! person's right eye in a frontal photo.
//!
//! Age, gender, glasses, sunglasses, beard, moustache, occlusion and eye direction are accepted in a list but never
//! returned: Facegate has no measured model for them, and a guess would be an invented answer.

use bytes::Bytes;
use serde_json::{json, Value};
use vision::{Face, HeadPose};

use super::AwsError;
use app::config::ServerConfig;
use app::inference::ImageInfo;
use app::state::AppState;
use app::usecases::analysis::{self, Depth, Measured, Verdicts, MAX_ANALYSED_FACES};
use app::usecases::collections::Indexed;

/// Openness this far from its threshold is read with full confidence.
const EYES_FULL_MARGIN: f32 = 0.05;
const MOUTH_FULL_MARGIN: f32 = 0.1;

/// What a list of attributes asks for beyond the default set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Attributes {
    all: bool,
    smile: bool,
    eyes_open: bool,
    mouth_open: bool,
    emotions: bool,
}

/// AWS's attribute names that Facegate accepts but cannot measure (left out of every answer).
const UNMEASURED: [&str; 8] =
    ["AGE_RANGE", "GENDER", "EYEGLASSES", "SUNGLASSES", "BEARD", "MUSTACHE", "FACE_OCCLUDED", "EYE_DIRECTION"];

impl Attributes {
    /// The list in `request[name]`: absent or `[]` is `DEFAULT`; an unknown name is an `InvalidParameterException`.
    pub(super) fn parse(request: &Value, name: &str) -> Result<Self, AwsError> {
        let mut wanted = Attributes::default();
        let list = match request.get(name) {
            None | Some(Value::Null) => return Ok(wanted),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(AwsError::invalid(format!("{name} must be a list of attribute names"))),
        };
        for item in list {
            let attribute = item.as_str().ok_or_else(|| AwsError::invalid(format!("{name} must hold strings")))?;
            match attribute {
                "DEFAULT" => {}
                "ALL" => wanted.all = true,
                "SMILE" => wanted.smile = true,
                "EYES_OPEN" => wanted.eyes_open = true,
                "MOUTH_OPEN" => wanted.mouth_open = true,
                "EMOTIONS" => wanted.emotions = true,
                other if UNMEASURED.contains(&other) => {}
                other => {
                    let mut shown: String = other.chars().take(40).collect();
                    shown.retain(|c| !c.is_control());
                    return Err(AwsError::invalid(format!(
                        "{name} holds an unknown attribute {shown:?}: DEFAULT, ALL, SMILE, EYES_OPEN, MOUTH_OPEN, \
                         EMOTIONS, {}",
                        UNMEASURED.join(", ")
                    )));
                }
            }
        }
        Ok(wanted)
    }

    /// Whether anything asked for needs the face analysis (the default set does not).
    pub(super) fn need_analysis(&self) -> bool {
        self.all || self.smile || self.eyes_open || self.mouth_open || self.emotions
    }
}

/// A box as ratios of the image's width and height.
pub(super) fn ratio_box(b: &vision::BBox, image: &ImageInfo) -> Value {
    let (w, h) = (image.width.max(1) as f32, image.height.max(1) as f32);
    json!({"Width": b.width / w, "Height": b.height / h, "Left": b.x / w, "Top": b.y / h})
}

/// The default `FaceDetail`: box, the detector's five landmarks, the mesh's `pose` (or, without it, yaw and roll
/// from the five points), quality, confidence.
pub(super) fn face_detail(f: &Face, pose: Option<&HeadPose>, image: &ImageInfo) -> Value {
    let (w, h) = (image.width.max(1) as f32, image.height.max(1) as f32);
    // The detector's five points: the person's right eye, left eye, nose, right and left mouth corners — on the
    // image's left, right, ..., as AWS names them (`eyeLeft` is the eye on the image's left).
    let p = &f.detection.landmarks;
    let point = |kind: &str, i: usize| json!({"Type": kind, "X": p[i].x / w, "Y": p[i].y / h});
    let q = &f.quality;
    json!({
        "BoundingBox": ratio_box(&f.detection.bbox, image),
        "Landmarks": [
            point("eyeLeft", 0),
            point("eyeRight", 1),
            point("nose", 2),
            point("mouthLeft", 3),
            point("mouthRight", 4),
        ],
        "Pose": match pose {
            Some(p) => json!({"Roll": p.roll, "Yaw": p.yaw, "Pitch": p.pitch}),
            None => json!({"Roll": q.roll, "Yaw": q.yaw}),
        },
        "Quality": {"Brightness": q.brightness * 100.0, "Sharpness": (q.sharpness / 10.0).min(100.0)},
        "Confidence": f.detection.score * 100.0,
    })
}

/// AWS's emotion type of each expression class ([`vision::analysis::EXPRESSIONS`] order).
const EMOTIONS: [&str; 7] = ["ANGRY", "DISGUSTED", "FEAR", "HAPPY", "SAD", "SURPRISED", "CALM"];

/// Mesh points of AWS's landmarks (MediaPipe's canonical face mesh; left and right as the image shows them), each the
/// mean of the indices listed.
const MESH_LANDMARKS: [(&str, &[usize]); 23] = [
    // Eyebrows: the ends (upper and lower contour) and the top of the upper contour.
    ("rightEyeBrowRight", &[300, 276]),
    ("rightEyeBrowLeft", &[336, 285]),
    ("rightEyeBrowUp", &[334]),
    ("leftEyeBrowRight", &[107, 55]),
    ("leftEyeBrowLeft", &[70, 46]),
    ("leftEyeBrowUp", &[105]),
    // Eyes: the corners and the middle of each lid.
    ("rightEyeRight", &[263]),
    ("rightEyeLeft", &[362]),
    ("rightEyeUp", &[386]),
    ("rightEyeDown", &[374]),
    ("leftEyeRight", &[133]),
    ("leftEyeLeft", &[33]),
    ("leftEyeUp", &[159]),
    ("leftEyeDown", &[145]),
    // The nostrils' outer edges.
    ("noseRight", &[327]),
    ("noseLeft", &[98]),
    // The outer edge of the upper and the lower lip at the middle.
    ("mouthUp", &[0]),
    ("mouthDown", &[17]),
    // The face outline at the ears, at the jaw's angle, and the chin.
    ("upperJawlineRight", &[454]),
    ("midJawlineRight", &[397]),
    ("chinBottom", &[152]),
    ("midJawlineLeft", &[172]),
    ("upperJawlineLeft", &[234]),
];

/// `Confidence` of a reading `value` against `threshold`: 50 at the threshold, growing linearly to 100 at
/// `full` from it.
pub fn margin_confidence(value: f32, threshold: f32, full: f32) -> f32 {
    50.0 + 50.0 * ((value - threshold).abs() / full.max(1e-6)).min(1.0)
}

fn yes_no(value: bool, confidence: f32) -> Value {
    json!({"Value": value, "Confidence": confidence.clamp(0.0, 100.0)})
}

/// The `FaceDetail` that `wanted` asks for: the default set, and what the networks (when they ran) measured.
pub(super) fn detail(
    config: &ServerConfig,
    f: &Face,
    measured: Option<&Measured>,
    image: &ImageInfo,
    wanted: &Attributes,
) -> Value {
    let mut out = face_detail(f, measured.map(|m| &m.pose), image);
    let Some(a) = measured.and_then(|m| m.analysis.as_ref()).filter(|_| wanted.need_analysis()) else { return out };
    let v = Verdicts::of(config, a);
    if wanted.all || wanted.smile {
        let p = a.smile.clamp(0.0, 1.0);
        out["Smile"] = yes_no(v.smiling, 100.0 * p.max(1.0 - p));
    }
    if wanted.all || wanted.eyes_open {
        let confidence = margin_confidence(a.eyes.mean(), v.eye_closed_threshold, EYES_FULL_MARGIN);
        out["EyesOpen"] = yes_no(!v.eyes_closed, confidence);
    }
    if wanted.all || wanted.mouth_open {
        let confidence = margin_confidence(a.mouth_open, v.mouth_open_threshold, MOUTH_FULL_MARGIN);
        out["MouthOpen"] = yes_no(v.mouth_open, confidence);
    }
    if wanted.all || wanted.emotions {
        let mut emotions: Vec<(&str, f32)> = EMOTIONS.iter().copied().zip(a.expressions).collect();
        emotions.sort_by(|x, y| y.1.total_cmp(&x.1));
        out["Emotions"] = emotions
            .into_iter()
            .map(|(kind, p)| json!({"Type": kind, "Confidence": (p * 100.0).clamp(0.0, 100.0)}))
            .collect();
    }
    if wanted.all {
        let (w, h) = (image.width.max(1) as f32, image.height.max(1) as f32);
        let at = |kind: &str, [x, y]: [f32; 2]| json!({"Type": kind, "X": x / w, "Y": y / h});
        let mut landmarks = out["Landmarks"].as_array().cloned().unwrap_or_default();
        for (kind, indices) in MESH_LANDMARKS {
            let n = indices.len() as f32;
            let (x, y) = indices
                .iter()
                .filter_map(|&i| a.mesh.get(i))
                .fold((0.0, 0.0), |(x, y), p| (x + p[0] / n, y + p[1] / n));
            landmarks.push(at(kind, [x, y]));
        }
        // The person's right iris is on the image's left.
        landmarks.push(at("leftPupil", a.irises.right));
        landmarks.push(at("rightPupil", a.irises.left));
        out["Landmarks"] = Value::Array(landmarks);
    }
    out
}

/// How deep the analysis runs for `wanted`: the whole analysis when it needs it, else the mesh for the pose.
fn depth(wanted: &Attributes) -> Depth {
    if wanted.need_analysis() {
        Depth::Full
    } else {
        Depth::Pose
    }
}

/// `DetectFaces`: every face, with the attributes `Attributes` asks for (the whole analysis runs only when they
/// need it; the mesh for the pose always).
pub(super) async fn detect_faces(app: &AppState, image: Bytes, wanted: &Attributes) -> Result<Value, AwsError> {
    let found = analysis::detect(app, image, MAX_ANALYSED_FACES, depth(wanted)).await?;
    let details: Vec<Value> =
        found.faces.iter().map(|f| detail(&app.config, &f.face, f.measured.as_ref(), &found.image, wanted)).collect();
    Ok(json!({"FaceDetails": details}))
}

/// `IndexFaces`: the `FaceDetail` of each record indexed (`None` for a retry's earlier records, whose faces were
/// not detected now) and of each face left out, with what `DetectionAttributes` asks for (measured by the
/// indexing itself: [`index_options_depth`]).
pub(super) fn index_faces_details(
    config: &ServerConfig,
    indexed: &Indexed,
    wanted: &Attributes,
) -> (Vec<Option<Value>>, Vec<Value>) {
    let detail_of =
        |face: &Face, measured: &Option<Measured>| detail(config, face, measured.as_ref(), &indexed.image, wanted);
    let records = indexed
        .records
        .iter()
        .map(|record| {
            let now = indexed.detected.iter().find(|d| d.face_id == record.face_id)?;
            Some(detail_of(&now.face, &now.measured))
        })
        .collect();
    let left_out = indexed.not_indexed.iter().map(|u| detail_of(&u.face, &u.measured)).collect();
    (records, left_out)
}

/// How far `IndexFaces` measures its faces for the attributes asked for.
pub(super) fn index_options_depth(wanted: &Attributes) -> Depth {
    depth(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(list: Value) -> Result<Attributes, AwsError> {
        Attributes::parse(&json!({"Attributes": list}), "Attributes")
    }

    #[test]
    fn attribute_lists() {
        assert_eq!(Attributes::parse(&json!({}), "Attributes").ok(), Some(Attributes::default()));
        assert!(!parse(json!(["DEFAULT"])).map(|a| a.need_analysis()).unwrap_or(true));
        // Only what cannot be measured: nothing to analyse.
        assert!(!parse(json!(["AGE_RANGE", "GENDER", "FACE_OCCLUDED"])).map(|a| a.need_analysis()).unwrap_or(true));
        let smile = parse(json!(["SMILE"])).ok();
        assert_eq!(smile, Some(Attributes { smile: true, ..Default::default() }));
        assert!(parse(json!(["ALL", "DEFAULT"])).is_ok_and(|a| a.all && a.need_analysis()));
        for bad in [json!(["SMILES"]), json!(["smile"]), json!("ALL"), json!([1])] {
            assert!(parse(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn confidence_grows_with_the_margin() {
        assert_eq!(margin_confidence(0.17, 0.17, 0.05), 50.0);
        assert!((margin_confidence(0.195, 0.17, 0.05) - 75.0).abs() < 1e-3);
        assert_eq!(margin_confidence(0.5, 0.17, 0.05), 100.0);
        assert_eq!(margin_confidence(0.0, 0.17, 0.05), 100.0);
    }

    #[test]
    fn every_aws_landmark_type_once() {
        let mut kinds: Vec<&str> = MESH_LANDMARKS.iter().map(|(k, _)| *k).collect();
        kinds.extend(["eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight", "leftPupil", "rightPupil"]);
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), 30);
        assert!(MESH_LANDMARKS.iter().all(|(_, i)| !i.is_empty() && i.iter().all(|&i| i < 468)));
    }
}
