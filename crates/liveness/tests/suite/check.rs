//! Each challenge kind decided on real photographs: the same person before and after, a turned head against a
//! frontal one, and the cases that must fail (the wrong way, no change from the baseline).

use crate::common;

use common::pipeline;
use liveness::{check, Criteria, Kind, Reason, Signals, Target};

fn signals(rel: &str) -> Signals {
    let path = testkit::shared_data(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let p = pipeline();
    let decoded = p.decode(&bytes).expect("decodes");
    let found = p.find_faces(&decoded.rgb).expect("detection runs");
    let i = vision::pipeline::largest_face(&found.faces).unwrap_or_else(|| panic!("{rel}: no face"));
    let a = p.analyzer().analyze(&found.image, &found.faces[i].detection.bbox).expect("analysis runs");
    Signals::new(&a, found.image.width(), found.image.height())
}

fn yale(subject: u32, condition: &str) -> Signals {
    signals(&format!("yale/images/subject{subject:02}/subject{subject:02}_{condition}.png"))
}

#[test]
fn blink_needs_closed_eyes_and_an_open_baseline() {
    let c = Criteria::default();
    for subject in [1, 4, 9] {
        let (open, closed) = (yale(subject, "normal"), yale(subject, "sleepy"));
        let o = check(Kind::Blink, &c, &closed, Some(&open));
        assert!(o.passed && o.score > 0.5, "subject {subject}: {o:?}");
        let o = check(Kind::Blink, &c, &open, Some(&open));
        assert_eq!((o.passed, o.reasons.as_slice()), (false, &[Reason::EyesOpen][..]), "subject {subject}");
        let o = check(Kind::Blink, &c, &closed, Some(&closed));
        assert!(!o.passed && o.reasons.contains(&Reason::BaselineEyesClosed), "subject {subject}: {o:?}");
    }
}

#[test]
fn smile_must_rise_over_the_baseline() {
    let c = Criteria::default();
    let (neutral, happy) =
        (signals("samples/insightface/emotion/sad.png"), signals("samples/insightface/emotion/happy.png"));
    let alone = check(Kind::Smile, &c, &happy, None);
    assert!(alone.passed, "{alone:?}");
    assert!(!check(Kind::Smile, &c, &neutral, None).passed);
    // A held photo of a smile does not pass against itself.
    let same = check(Kind::Smile, &c, &happy, Some(&happy));
    assert_eq!(same.reasons, [Reason::SmileDidNotRise]);
    // The same person, neutral then smiling.
    let mut passed = 0;
    for subject in 1..=15 {
        let (n, h) = (yale(subject, "normal"), yale(subject, "happy"));
        passed += usize::from(check(Kind::Smile, &c, &h, Some(&n)).passed);
        assert!(!check(Kind::Smile, &c, &n, Some(&h)).passed, "subject {subject}: neutral after a smile passed");
    }
    assert!(passed >= 12, "{passed} of 15 Yale smiles against their neutral baseline");
}

#[test]
fn head_turns_have_a_direction() {
    let c = Criteria::default();
    let frontal = signals("samples/face_recognition/obama.jpg");
    // `left_face.jpeg` looks toward the image's left: the person's own right.
    let to_image_left = signals("samples/insightface/pose/left_face.jpeg");
    let to_image_right = signals("samples/insightface/pose/right_face.png");
    assert!(check(Kind::TurnRight, &c, &to_image_left, Some(&frontal)).passed);
    assert!(check(Kind::TurnLeft, &c, &to_image_right, Some(&frontal)).passed);
    let wrong = check(Kind::TurnLeft, &c, &to_image_left, Some(&frontal));
    assert_eq!(wrong.reasons, [Reason::WrongDirection], "{wrong:?}");
    let not = check(Kind::TurnLeft, &c, &frontal, Some(&frontal));
    assert_eq!(not.reasons, [Reason::NotTurnedEnough]);
    assert!(check(Kind::LookUp, &c, &signals("samples/insightface/pose/rise_face.jpeg"), None).passed);
    assert!(check(Kind::LookDown, &c, &signals("samples/insightface/pose/lower_face.jpeg"), None).passed);
    // Head pose: frontal by default.
    assert!(check(Kind::HeadPose, &c, &frontal, None).passed);
    let turned = check(Kind::HeadPose, &c, &to_image_right, None);
    assert!(!turned.passed && turned.value > 20.0, "{turned:?}");
    let wide = Criteria { yaw_range: [20.0, 90.0], ..c };
    assert!(check(Kind::HeadPose, &wide, &to_image_right, None).passed);
}

#[test]
fn the_nose_must_reach_the_target() {
    let frontal = signals("samples/face_recognition/obama.jpg");
    let [x, y] = frontal.nose;
    let around = Target { x: x - 0.05, y: y - 0.05, width: 0.1, height: 0.1 };
    let c = Criteria { target: Some(around), ..Criteria::default() };
    let o = check(Kind::NoseTarget, &c, &frontal, None);
    assert!(o.passed && o.score > 0.9, "{o:?}");
    let corner = Target { x: 0.0, y: 0.0, width: 0.1, height: 0.1 };
    assert!(corner.is_valid() && !corner.contains(frontal.nose));
    let o = check(Kind::NoseTarget, &Criteria { target: Some(corner), ..c }, &frontal, None);
    assert_eq!(o.reasons, [Reason::NoseOutsideTarget]);
    assert!(o.score < 0.5 && o.value > 0.1, "{o:?}");
    let none = check(Kind::NoseTarget, &Criteria::default(), &frontal, None);
    assert_eq!(none.reasons, [Reason::NoTarget]);
}
