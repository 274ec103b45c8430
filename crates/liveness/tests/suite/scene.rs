//! Scene continuity on real frames: a webcam's consecutive captures of a live person continue one scene and are
//! never the same picture; a photo sent again re-encoded is the same picture, and rescaled no cut; a cut from
//! one photo of a person to another is a cut; and a session fed a slideshow fails on its cuts or its stills.

use crate::common;

use common::pipeline;
use image::{Rgb, RgbImage};
use liveness::scene::{compare, ScenePrint};
use liveness::session::FailReason;
use liveness::{FrameMeasurement, FrameStamp, Kind, Session, SessionOptions, Status};

fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality).encode_image(img).expect("encodes");
    out
}

/// The frame measured as the service measures a session's frame (no passive model here).
fn measure(bytes: &[u8]) -> FrameMeasurement {
    let p = pipeline();
    let decoded = p.decode(bytes).expect("decodes");
    let found = p
        .find_faces_timed(&decoded.rgb, 1280, vision::Wanted::EveryUpright, &mut Default::default())
        .expect("detection runs");
    liveness::measure_faces(&p, None, &found.image, &found.faces, 80.0, liveness::Template::Now).expect("measures")
}

fn print<'a>(m: &'a FrameMeasurement, what: &str) -> &'a ScenePrint {
    m.face.as_ref().and_then(|f| f.scene.as_ref()).unwrap_or_else(|| panic!("{what}: one face and its scene"))
}

fn shared(rel: &str) -> RgbImage {
    let path = testkit::shared_data(rel);
    image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

/// `img` scaled by `scale` on a grey 640x480 canvas, centred.
fn on_canvas(img: &RgbImage, scale: f32) -> RgbImage {
    let (w, h) = ((img.width() as f32 * scale) as u32, (img.height() as f32 * scale) as u32);
    let scaled = image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle);
    let mut frame = RgbImage::from_pixel(640, 480, Rgb([118, 118, 118]));
    image::imageops::overlay(&mut frame, &scaled, (640 - i64::from(w)) / 2, (480 - i64::from(h)) / 2);
    frame
}

/// NUAA live captures of three subjects: consecutive webcam frames of a person sitting in front of it.
fn nuaa_live(subject: u32) -> Vec<Vec<u8>> {
    let dir = testkit::shared_data(&format!("nuaa/ClientRaw/{subject:04}"));
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("NUAA folder").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    // Names end in `_<frame number>.jpg` after the capture's session.
    files.sort_by_key(|p| {
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let (head, n) = stem.rsplit_once('_').unwrap_or((&stem, "0"));
        (head.to_string(), n.parse::<u32>().unwrap_or(0))
    });
    files.iter().take(6).map(|p| std::fs::read(p).expect("reads")).collect()
}

#[test]
fn a_live_webcam_continues_its_scene_and_never_repeats_a_picture() {
    for subject in [1, 4, 9] {
        let frames: Vec<FrameMeasurement> = nuaa_live(subject).iter().map(|b| measure(b)).collect();
        for pair in frames.windows(2) {
            let c = compare(print(&pair[0], "NUAA"), print(&pair[1], "NUAA"), 1000).expect("comparable");
            assert!(!c.is_cut() && !c.is_same_picture(), "subject {subject}: {c:?}");
        }
    }
}

/// A photo sent again re-encoded at another JPEG quality is the same picture, smooth (Yale) or textured (LFW);
/// rescaled as well it is one scene still: no cut, so a slideshow cuts only where the photo changes.
#[test]
fn a_photo_sent_again_is_the_same_picture_and_no_cut() {
    for subject in [1, 4, 9] {
        let photo = shared(&format!("yale/images/subject{subject:02}/subject{subject:02}_normal.png"));
        let framed = on_canvas(&photo, 300.0 / photo.height() as f32);
        let frames: Vec<FrameMeasurement> = (0..4).map(|i| measure(&jpeg(&framed, 90 - 3 * i))).collect();
        for (i, pair) in frames.windows(2).enumerate() {
            let c = compare(print(&pair[0], "Yale"), print(&pair[1], "Yale"), 200).expect("comparable");
            assert!(c.is_same_picture() && !c.is_cut(), "Yale {subject}, frame {i}: {c:?}");
        }
    }
    for name in ["Tony_Blair", "David_Beckham", "Andre_Agassi"] {
        let (photo, _) = two_photos(name);
        let a = measure(&jpeg(&on_canvas(&photo, 1.8), 93));
        for quality in [88, 84] {
            let b = measure(&jpeg(&on_canvas(&photo, 1.8), quality));
            let c = compare(print(&a, name), print(&b, name), 130).expect("comparable");
            assert!(c.is_same_picture() && !c.is_cut(), "{name} at quality {quality}: {c:?}");
        }
        for (scale, quality) in [(1.8, 84), (1.75, 88), (1.85, 84)] {
            let b = measure(&jpeg(&on_canvas(&photo, scale), quality));
            let c = compare(print(&a, name), print(&b, name), 130).expect("comparable");
            assert!(!c.is_cut(), "{name} at {scale}, quality {quality}: {c:?}");
        }
    }
}

/// The first two photos of `name` in LFW that show one face on the canvas.
fn two_photos(name: &str) -> (RgbImage, RgbImage) {
    let dir = testkit::shared_data(&format!("lfw/images/{name}"));
    let mut files: Vec<_> =
        std::fs::read_dir(&dir).expect("LFW folder").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    let mut one_face = files.iter().map(|p| image::open(p).expect("photo").to_rgb8()).filter(|photo| {
        let m = measure(&jpeg(&on_canvas(photo, 1.8), 93));
        m.faces == 1 && m.face.is_some()
    });
    let a = one_face.next().expect("a photo with one face");
    (a, one_face.next().expect("a second photo with one face"))
}

#[test]
fn two_photos_of_one_person_are_a_cut() {
    for name in ["Tony_Blair", "David_Beckham", "Andre_Agassi"] {
        let (p, q) = two_photos(name);
        let a = measure(&jpeg(&on_canvas(&p, 1.8), 90));
        let b = measure(&jpeg(&on_canvas(&q, 1.8), 90));
        let c = compare(print(&a, name), print(&b, name), 130).expect("comparable");
        assert!(c.is_cut(), "{name}: {c:?}");
    }
}

#[test]
fn a_session_fed_a_slideshow_fails_on_its_continuity() {
    let (neutral, smiling) =
        (shared("yale/images/subject01/subject01_normal.png"), shared("yale/images/subject01/subject01_happy.png"));
    let lfw = two_photos("Tony_Blair");
    let shows: [(&str, Vec<Vec<u8>>, FailReason); 2] = [
        (
            "Yale neutral then smiling, each re-sent",
            [(&neutral, 93, 1.8), (&neutral, 88, 1.8), (&neutral, 84, 1.8), (&smiling, 93, 1.8), (&smiling, 88, 1.8)]
                .iter()
                .map(|(img, q, s)| jpeg(&on_canvas(img, *s), *q))
                .collect(),
            FailReason::StillPicture,
        ),
        (
            "LFW one photo then another, each once",
            [(&lfw.0, 93, 1.8), (&lfw.1, 88, 1.8), (&lfw.0, 84, 1.8)]
                .iter()
                .map(|(img, q, s)| jpeg(&on_canvas(img, *s), *q))
                .collect(),
            FailReason::SceneCut,
        ),
    ];
    for (what, frames, reason) in shows {
        let options = SessionOptions {
            challenges: vec![liveness::ChallengeSpec { kind: Kind::Smile, target: None, timeout_ms: 10_000 }],
            criteria: liveness::Criteria::default(),
            lifetime_ms: 60_000,
            max_bad_frames: 10,
            max_frames: 50,
            min_face_px: 80.0,
            min_similarity: 0.0,
            passive_threshold: None,
            challenge_only: true,
            min_depth: None,
            min_challenge_frames: 1,
            scene_continuity: true,
            audit_images: 0,
            face_area: None,
        };
        let mut session = Session::new(options, 0);
        for (i, bytes) in frames.iter().enumerate() {
            let t = 130 * (i as i64 + 1);
            let stamp = FrameStamp { sequence: i as u64, timestamp_ms: t, now_ms: t, byte_hash: format!("{i}") };
            session.observe(measure(bytes).observation(stamp)).expect("frame taken");
            if session.status.is_final() {
                break;
            }
        }
        assert_eq!((session.status, session.reasons.clone()), (Status::Failed, vec![reason]), "{what}");
    }
}
