//! Detection and verification on real photos from ../shared/data.

use crate::common;

use std::collections::HashMap;

use vision::similarity::{cosine_for_similarity, DEFAULT_SIMILARITY_THRESHOLD};
use vision::{Embedding, Rotation};

fn faces_in(rel: &str) -> vision::FacesInImage<'static> {
    let pipeline = common::pipeline();
    let decoded = pipeline.decode(&common::read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    pipeline.find_faces(&decoded.rgb).unwrap_or_else(|e| panic!("{rel}: {e}")).into_owned()
}

fn template(rel: &str) -> Embedding {
    let (_, e, _) = common::pipeline().template_of(&common::read(rel), None).unwrap_or_else(|e| panic!("{rel}: {e}"));
    e
}

#[test]
fn one_face_in_single_portraits() {
    for rel in [
        "samples/face_recognition/obama.jpg",
        "samples/face_recognition/biden.jpg",
        "samples/face_recognition/obama-480p.jpg",
        "samples/silent_face/image_T1.jpg",
        "samples/deepface/img1.jpg",
    ] {
        let found = faces_in(rel);
        assert_eq!(found.faces.len(), 1, "{rel}");
        let face = &found.faces[0];
        assert!(face.detection.score > 0.8, "{rel}: score {}", face.detection.score);
        // The five points lie inside the box, eyes above the nose above the mouth.
        let [re, le, nose, rm, lm] = face.detection.landmarks;
        assert!(re.x < le.x && rm.x < lm.x, "{rel}: left/right order");
        assert!(re.y.max(le.y) < nose.y && nose.y < rm.y.min(lm.y), "{rel}: vertical order");
    }
}

#[test]
fn two_faces_in_a_two_person_photo() {
    assert_eq!(faces_in("samples/face_recognition/two_people.jpg").faces.len(), 2);
    assert_eq!(faces_in("samples/deepface/couple.jpg").faces.len(), 2);
}

#[test]
fn several_faces_in_a_group_selfie() {
    // Seven people, five fully in the frame and two cut by its edge.
    let n = faces_in("samples/deepface/selfie-many-people.jpg").faces.len();
    assert!((5..=7).contains(&n), "found {n} faces");
}

#[test]
fn no_face_where_there_is_none() {
    for rel in ["samples/insightface/crop/no_face.png", "samples/insightface/bulk/view.jpg"] {
        let found = faces_in(rel);
        assert!(found.faces.is_empty(), "{rel}: {} faces", found.faces.len());
        assert!(matches!(found.largest(), Err(vision::VisionError::NoFace)));
    }
}

#[test]
fn turned_photos_are_found_by_trying_other_orientations() {
    let upright = faces_in("samples/insightface/rotate/rot_0.jpg");
    assert_eq!(upright.rotation, Rotation::None);
    assert_eq!(upright.faces.len(), 1);
    for rel in [
        "samples/insightface/rotate/rot_90.jpg",
        "samples/insightface/rotate/rot_180.jpg",
        "samples/insightface/rotate/rot_270.jpg",
    ] {
        let found = faces_in(rel);
        assert_ne!(found.rotation, Rotation::None, "{rel}: needs a turn");
        let face = found.largest().unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert!(face.quality.roll.abs() < 30.0, "{rel}: upright after the turn (roll {})", face.quality.roll);
        assert_eq!(found.image.dimensions(), upright.image.dimensions(), "{rel}: turned back to portrait");
    }
}

#[test]
fn same_person_photos_match_and_different_people_do_not() {
    let t = cosine_for_similarity(common::pipeline().embedding_model(), DEFAULT_SIMILARITY_THRESHOLD);
    let obama = template("samples/face_recognition/obama.jpg");
    for other in ["samples/face_recognition/obama2.jpg", "samples/face_recognition/obama-720p.jpg"] {
        let c = obama.cosine(&template(other)).expect("comparable");
        assert!(c >= t, "obama vs {other}: {c} < {t}");
    }
    let biden = template("samples/face_recognition/biden.jpg");
    let c = obama.cosine(&biden).expect("comparable");
    assert!(c < t, "obama vs biden: {c} >= {t}");
}

/// The deepface sample pairs (`master.csv`): same-person pairs above the threshold, different-person pairs
/// below it. A few of its pairs are hard (profile views, decades apart): we require 95 %.
#[test]
fn deepface_pairs_are_decided_correctly() {
    let pipeline = common::pipeline();
    let t = cosine_for_similarity(pipeline.embedding_model(), DEFAULT_SIMILARITY_THRESHOLD);
    let csv = String::from_utf8(common::read("samples/deepface/master.csv")).expect("utf-8");
    let mut cache: HashMap<String, Embedding> = HashMap::new();
    let (mut right, mut total, mut wrong) = (0, 0, Vec::new());
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.trim().split(',').collect();
        let [a, b, decision] = f.as_slice() else { continue };
        for name in [a, b] {
            if !cache.contains_key(*name) {
                cache.insert(name.to_string(), template(&format!("samples/deepface/{name}")));
            }
        }
        let c = cache[*a].cosine(&cache[*b]).expect("comparable");
        let same = *decision == "Yes";
        total += 1;
        if (c >= t) == same {
            right += 1;
        } else {
            wrong.push(format!("{a}-{b} same={same} cosine={c:.3}"));
        }
    }
    assert!(total >= 250, "read {total} pairs");
    let accuracy = right as f64 / total as f64;
    assert!(accuracy >= 0.95, "accuracy {accuracy:.3}; wrong: {wrong:?}");
}

/// The first 80 same-person and 80 different-person pairs of the shared LFW pairs file: ordered by cosine,
/// their similarities strictly increase (no two tie, none reads 100 below cosine 1, none 0 above -1), so a
/// ranking by similarity is the ranking by cosine; and the default threshold still splits them as the cosine
/// threshold does.
#[test]
fn lfw_pair_similarities_rank_as_their_cosines() {
    let pipeline = common::pipeline();
    let model = pipeline.embedding_model();
    let pairs = String::from_utf8(common::read("lfw/pairs.txt")).expect("utf-8");
    let lines: Vec<Vec<&str>> = pairs.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    let image = |name: &str, n: &str| format!("lfw/images/{name}/{name}_{:04}.jpg", n.parse::<u32>().expect("n"));
    let same = lines.iter().filter(|f| f.len() == 3).take(80).map(|f| (image(f[0], f[1]), image(f[0], f[2])));
    let different = lines.iter().filter(|f| f.len() == 4).take(80).map(|f| (image(f[0], f[1]), image(f[2], f[3])));
    let mut cache: HashMap<String, Embedding> = HashMap::new();
    let mut scored = Vec::new();
    for (a, b) in same.chain(different) {
        for rel in [&a, &b] {
            if !cache.contains_key(rel) {
                cache.insert(rel.clone(), template(rel));
            }
        }
        let c = cache[&a].cosine(&cache[&b]).expect("comparable");
        scored.push((c, vision::similarity::similarity(model, c), format!("{a} ~ {b}")));
    }
    assert_eq!(scored.len(), 160);
    scored.sort_by(|x, y| x.0.total_cmp(&y.0));
    for w in scored.windows(2) {
        let ((c0, s0, p0), (c1, s1, p1)) = (&w[0], &w[1]);
        if c1 > c0 {
            assert!(s1 > s0, "cosine {c0} -> {s0} ({p0}) and {c1} -> {s1} ({p1}): not strictly increasing");
        }
    }
    for (c, s, p) in &scored {
        assert!(*s > 0.0 && *s < 100.0, "{p}: cosine {c} reads {s}");
        let threshold = cosine_for_similarity(model, DEFAULT_SIMILARITY_THRESHOLD);
        assert_eq!(*s >= DEFAULT_SIMILARITY_THRESHOLD, *c >= threshold, "{p}: cosine {c}, similarity {s}");
    }
}

/// The face_recognition k-NN samples: each test photo's nearest training photo is of the same person.
#[test]
fn knn_samples_identify_their_person() {
    let root = common::data("samples/face_recognition/knn");
    let mut gallery: Vec<(String, Embedding)> = Vec::new();
    for person in std::fs::read_dir(root.join("train")).expect("train dir").flatten() {
        let name = person.file_name().to_string_lossy().into_owned();
        for photo in std::fs::read_dir(person.path()).expect("person dir").flatten() {
            let rel = format!("samples/face_recognition/knn/train/{name}/{}", photo.file_name().to_string_lossy());
            gallery.push((name.clone(), template(&rel)));
        }
    }
    assert!(gallery.len() >= 5);
    let names: std::collections::BTreeSet<String> = gallery.iter().map(|g| g.0.clone()).collect();
    let mut checked = 0;
    for photo in std::fs::read_dir(root.join("test")).expect("test dir").flatten() {
        let file = photo.file_name().to_string_lossy().into_owned();
        // Test photos named after exactly one person (others show several people or use a nickname).
        let named: Vec<&String> = names.iter().filter(|n| file.to_lowercase().contains(n.as_str())).collect();
        let [expected] = named.as_slice() else { continue };
        let Ok((_, probe, _)) = common::pipeline().template_of(&std::fs::read(photo.path()).expect("read"), None)
        else {
            continue;
        };
        let best = gallery
            .iter()
            .max_by(|a, b| probe.cosine(&a.1).unwrap_or(-1.0).total_cmp(&probe.cosine(&b.1).unwrap_or(-1.0)))
            .expect("gallery");
        assert_eq!(&best.0, *expected, "{file}");
        checked += 1;
    }
    assert!(checked >= 2, "checked {checked} test photos");
}

#[test]
fn several_faces_embed_as_one_batch_like_one_at_a_time() {
    let pipeline = common::pipeline();
    let found = faces_in("samples/deepface/selfie-many-people.jpg");
    let refs: Vec<&vision::Face> = found.faces.iter().collect();
    let batch = pipeline.embed(&refs).expect("batch");
    assert_eq!(batch.len(), refs.len());
    for (face, b) in refs.iter().zip(&batch) {
        let single = pipeline.embed(&[face]).expect("single").remove(0);
        assert!(single.cosine(b).expect("comparable") > 0.9999);
    }
    // Different people in the batch stay different.
    assert!(batch[0].cosine(&batch[1]).expect("comparable") < 0.5);
}

#[test]
fn warm_up_plans_the_common_shapes() {
    // A pipeline of its own: the shared one may already have planned shapes for other tests.
    let config = vision::PipelineConfig { backend: common::backend(), ..vision::PipelineConfig::default() };
    let p = vision::FacePipeline::new(config).expect("models load");
    assert_eq!(p.detector().planned_shapes(), 0);
    p.warm_up().expect("warm-up runs");
    // Six aspect ratios at 640 (each padded to a multiple of 32), five distinct ones at the coarse 320
    // (240x320 and 256x320 pad alike), and 250x250 photos.
    assert_eq!(p.detector().planned_shapes(), 12, "twelve distinct padded detector shapes");
    // A photo of one of those shapes needs no new plan, at either size.
    let before = p.detector().planned_shapes();
    let photo = image::RgbImage::new(640, 480);
    p.detector().detect(&photo).expect("detects");
    p.detector().detect_with_max_side(&photo, 320).expect("detects");
    assert_eq!(p.detector().planned_shapes(), before);
}

#[test]
fn the_largest_face_coarse_to_fine_is_as_faithful_as_the_full_size_pass() {
    // Photos larger than the coarse pass, their largest face at sizes that take each path: kept from the
    // coarse pass, looked at again around the face (webcam frames, a 2280-pixel couple), or found at the
    // full size. Each path's landmarks and template are set against detection at the photo's full resolution:
    // coarse to fine may not stray much further from it than the full-size (640) pass does.
    let p = common::pipeline();
    let max_side = p.config().detector.max_side;
    let mut images: Vec<String> = [
        "samples/face_recognition/obama.jpg",
        "samples/face_recognition/biden.jpg",
        "samples/deepface/couple.jpg",
        "samples/silent_face/image_F1.jpg",
    ]
    .map(String::from)
    .to_vec();
    for person in ["0001", "0003", "0005", "0007", "0009"] {
        let dir = testkit::shared_data(&format!("nuaa/ClientRaw/{person}"));
        let mut frames: Vec<_> = std::fs::read_dir(&dir).expect("NUAA frames").filter_map(|e| e.ok()).collect();
        frames.sort_by_key(|e| e.file_name());
        let first = frames.first().expect("a frame").file_name();
        images.push(format!("nuaa/ClientRaw/{person}/{}", first.to_string_lossy()));
    }
    for rel in &images {
        let decoded = p.decode(&common::read(rel)).expect("decodes");
        let mut times = vision::StageTimes::default();
        let mut largest = |side: u32, wanted: vision::Wanted| {
            let found = p.find_faces_timed(&decoded.rgb, side, wanted, &mut times).expect("detects");
            found.largest().expect("a face").clone()
        };
        let sharp = largest(4096, vision::Wanted::Every);
        let full = largest(max_side, vision::Wanted::Every);
        let fast = largest(max_side, vision::Wanted::Largest);
        assert!(fast.detection.bbox.iou(&full.detection.bbox) > 0.5, "{rel}: the same largest face");
        let strays = |f: &vision::Face| {
            f.detection
                .landmarks
                .iter()
                .zip(&sharp.detection.landmarks)
                .map(|(p, q)| ((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt() / sharp.quality.eye_distance)
                .fold(0.0, f32::max)
        };
        let t = p.embed(&[&sharp, &full, &fast]).expect("embeds");
        let (cos_full, cos_fast) = (t[1].cosine(&t[0]).expect("cosine"), t[2].cosine(&t[0]).expect("cosine"));
        eprintln!(
            "{rel}: against full resolution, full-size pass landmarks {:.1} % of the eye distance, cosine {cos_full:.3}; \
             coarse to fine {:.1} %, cosine {cos_fast:.3}",
            100.0 * strays(&full),
            100.0 * strays(&fast)
        );
        assert!(strays(&fast) <= strays(&full) + 0.15, "{rel}: coarse-to-fine landmarks stray");
        assert!(cos_fast >= cos_full - 0.08, "{rel}: coarse-to-fine template cosine {cos_fast} vs {cos_full}");
    }
}
