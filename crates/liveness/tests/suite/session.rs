//! The session engine's rules on synthetic observations: passive evidence that a switch cannot dilute, no
//! success without passive anti-spoofing unless allowed, the same picture refused whatever its bytes, head
//! movements that must show depth, the nose target reached by turning, the face in the drawn area before the
//! challenge, and one confidence scale.

use liveness::replay::SeenFrame;
use liveness::session::{FailReason, MAX_FLAT_FRAMES};
use liveness::{
    ChallengeSpec, Criteria, FaceArea, FrameError, FrameVerdict, Kind, Observation, ObservedFace, Session,
    SessionOptions, Signals, Status, Target,
};

/// A face-like set of 20 points in 3-D (x right, y down, z toward the camera), in eye-distance units, in the
/// order of `measure::RIGID_POINTS` (outer eye corners at indices 6 and 8).
fn head() -> Vec<[f32; 3]> {
    vec![
        [0.0, 0.3, 0.5],
        [0.0, 0.2, 0.45],
        [0.0, -0.1, 0.3],
        [0.0, -0.2, 0.25],
        [0.0, -0.8, 0.2],
        [0.0, 1.0, 0.1],
        [-0.5, 0.0, 0.0],
        [-0.15, 0.0, 0.1],
        [0.5, 0.0, 0.0],
        [0.15, 0.0, 0.1],
        [-0.9, 0.2, -0.5],
        [0.9, 0.2, -0.5],
        [-0.85, -0.3, -0.4],
        [0.85, -0.3, -0.4],
        [-0.6, 0.8, -0.3],
        [0.6, 0.8, -0.3],
        [-0.7, 0.6, -0.35],
        [0.7, 0.6, -0.35],
        [-0.4, -0.35, 0.1],
        [0.4, -0.35, 0.1],
    ]
}

/// The points seen by a camera at distance 6 after turning by `yaw` degrees, centred at `at` (frame units).
fn view(points: &[[f32; 3]], yaw: f32, at: [f32; 2]) -> Vec<[f32; 2]> {
    let (s, c) = yaw.to_radians().sin_cos();
    points
        .iter()
        .map(|p| {
            let x = c * p[0] + s * p[2];
            let z = -s * p[0] + c * p[2];
            let k = 6.0 / (6.0 - z);
            [x * k * 0.1 + at[0], p[1] * k * 0.1 + at[1]]
        })
        .collect()
}

fn flat(points: &[[f32; 3]]) -> Vec<[f32; 3]> {
    points.iter().map(|p| [p[0], p[1], 0.0]).collect()
}

fn signals(yaw: f32, nose: [f32; 2]) -> Signals {
    Signals { yaw, pitch: 0.0, roll: 0.0, left_eye: 0.3, right_eye: 0.3, smile: 0.05, mouth_open: 0.0, nose }
}

struct Driver {
    session: Session,
    next: u64,
    /// The similarity to the baseline's face of the face in the frames sent next (90: the same person).
    similarity: f32,
    /// The frames (numbers from 0) the session wanted the identity checked on.
    checked: Vec<u64>,
    /// The face box of the frames sent next.
    bbox: Target,
}

impl Driver {
    fn new(options: SessionOptions) -> Self {
        Driver {
            session: Session::new(options, 0),
            next: 0,
            similarity: 90.0,
            checked: Vec::new(),
            bbox: Target { x: 0.4, y: 0.3, width: 0.2, height: 0.3 },
        }
    }

    /// Sends a frame; the face sways a little from frame to frame, as a live one does in front of a camera.
    fn send(&mut self, signals: Signals, points: Vec<[f32; 2]>, passive: Option<f32>) -> Result<(), FrameError> {
        let sway = 0.003 * (self.next % 2) as f32;
        self.send_exact(signals, points.iter().map(|p| [p[0] + sway, p[1]]).collect(), passive)
    }

    fn send_exact(&mut self, signals: Signals, points: Vec<[f32; 2]>, passive: Option<f32>) -> Result<(), FrameError> {
        self.send_seen(signals, points, passive, Vec::new())
    }

    /// Sends a frame as measured, with the frames of other sessions the replay memory matched it to.
    fn send_seen(
        &mut self,
        signals: Signals,
        points: Vec<[f32; 2]>,
        passive: Option<f32>,
        seen_in: Vec<SeenFrame>,
    ) -> Result<(), FrameError> {
        let n = self.next;
        let mut obs = Observation {
            sequence: self.session.next_sequence,
            timestamp_ms: 200 * (n as i64 + 1),
            now_ms: 200 * (n as i64 + 1),
            hash: format!("bytes-{n}"),
            content_hash: format!("pixels-{n}"),
            faces: 1,
            face: Some(ObservedFace {
                signals,
                bbox: self.bbox,
                size_px: 150.0,
                quality_ok: true,
                similarity: None,
                passive,
                points,
            }),
            seen_in,
            scene: None,
        };
        self.next += 1;
        // As the frame route does: the template (here, the similarity) only where the session wants it.
        if self.session.identity_wanted(&obs) {
            self.checked.push(n);
            if let Some(f) = obs.face.as_mut() {
                f.similarity = Some(self.similarity);
            }
        }
        self.session.observe(obs).map(|_| ())
    }
}

fn options(kinds: &[ChallengeSpec], passive: Option<f32>, challenge_only: bool) -> SessionOptions {
    SessionOptions {
        challenges: kinds.to_vec(),
        criteria: Criteria::default(),
        lifetime_ms: 180_000,
        max_bad_frames: 15,
        max_frames: 600,
        min_face_px: 64.0,
        min_similarity: 60.0,
        passive_threshold: passive,
        challenge_only,
        min_depth: Some(0.02),
        min_challenge_frames: liveness::session::MIN_CHALLENGE_FRAMES,
        scene_continuity: true,
        audit_images: 0,
        face_area: None,
    }
}

fn turn_left() -> ChallengeSpec {
    ChallengeSpec { kind: Kind::TurnLeft, target: None, timeout_ms: 30_000 }
}

/// A head turning left in `steps` frames from frontal to 30 degrees.
fn turning(d: &mut Driver, steps: usize, passive: impl Fn(usize) -> Option<f32>, model: &[[f32; 3]]) {
    for i in 0..steps {
        let yaw = 30.0 * i as f32 / (steps - 1) as f32;
        if d.session.status.is_final() {
            return;
        }
        d.send(signals(yaw, [0.5, 0.5]), view(model, yaw, [0.5, 0.5]), passive(i)).expect("frame taken");
    }
}

#[test]
fn a_live_head_turn_succeeds_with_a_confidence_of_fifty_or_more() {
    let mut d = Driver::new(options(&[turn_left()], Some(0.05), false));
    turning(&mut d, 6, |_| Some(0.9), &head());
    let r = d.session.result();
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    assert!(r.confidence >= 50.0 && r.passive_checked, "{r:?}");
    assert!(r.challenges[0].depth.is_some_and(|x| x > 0.02), "{r:?}");
}

#[test]
fn live_frames_do_not_dilute_a_photo_shown_for_three_frames() {
    // Ten live frames, then three spoof frames, then the turn: the session mean would be 0.7, but the
    // photo's window fails it at once.
    let mut d = Driver::new(options(&[turn_left()], Some(0.05), false));
    for _ in 0..10 {
        d.send(signals(0.0, [0.5, 0.5]), view(&head(), 0.0, [0.5, 0.5]), Some(0.95)).expect("live frame");
    }
    for _ in 0..3 {
        d.send(signals(0.0, [0.5, 0.5]), view(&head(), 0.0, [0.5, 0.5]), Some(0.01)).expect("spoof frame");
    }
    let r = d.session.result();
    assert_eq!((r.status, r.reasons.clone()), (Status::Failed, vec!["spoof_detected"]), "{r:?}");
    assert!(r.passive_score.is_some_and(|p| p < 0.05), "{r:?}");
    assert!(r.confidence < 50.0);
    // Live frames around a single low frame pass.
    let mut d = Driver::new(options(&[turn_left()], Some(0.05), false));
    turning(&mut d, 7, |i| Some(if i == 3 { 0.01 } else { 0.9 }), &head());
    assert_eq!(d.session.result().status, Status::Succeeded);
}

#[test]
fn without_passive_anti_spoofing_no_session_succeeds_unless_allowed() {
    let mut d = Driver::new(options(&[turn_left()], None, false));
    turning(&mut d, 6, |_| None, &head());
    let r = d.session.result();
    assert_eq!((r.status, r.reasons.clone()), (Status::Failed, vec![FailReason::PassiveCheckUnavailable.code()]));
    assert!(r.confidence < 50.0 && !r.passive_checked);
    let mut d = Driver::new(options(&[turn_left()], None, true));
    turning(&mut d, 6, |_| None, &head());
    let r = d.session.result();
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    assert!(!r.passive_checked && r.passive_score.is_none());
}

#[test]
fn the_same_picture_is_refused_whatever_its_bytes() {
    let mut d = Driver::new(options(&[turn_left()], None, true));
    d.send(signals(0.0, [0.5, 0.5]), view(&head(), 0.0, [0.5, 0.5]), None).expect("first");
    let obs = Observation {
        sequence: 1,
        timestamp_ms: 400,
        now_ms: 400,
        hash: "other bytes".into(),
        content_hash: "pixels-0".into(),
        faces: 1,
        face: None,
        seen_in: Vec::new(),
        scene: None,
    };
    assert_eq!(d.session.observe(obs), Err(FrameError::Replayed));
    assert_eq!(d.session.counts.received, 1);
}

#[test]
fn a_picture_sent_again_fails_as_a_still_and_a_challenge_needs_frames_to_be_seen() {
    // A slideshow: neutral (three times, re-encoded: other pixels, the same landmarks), then smiling.
    let smile = ChallengeSpec { kind: Kind::Smile, target: None, timeout_ms: 30_000 };
    let mut d = Driver::new(options(&[smile], None, true));
    let still = view(&head(), 0.0, [0.5, 0.5]);
    for _ in 0..3 {
        if d.session.status.is_final() {
            break;
        }
        d.send_exact(signals(0.0, [0.5, 0.5]), still.clone(), None).expect("frame");
    }
    let r = d.session.result();
    assert_eq!((r.status, r.reasons.clone()), (Status::Failed, vec!["still_picture"]), "{r:?}");
    // Two pictures, each sent once: the smile on the first frame after the baseline does not count yet.
    let mut d = Driver::new(options(&[smile], None, true));
    d.send(signals(0.0, [0.5, 0.5]), still.clone(), None).expect("neutral");
    let smiling = Signals { smile: 0.95, ..signals(0.0, [0.5, 0.5]) };
    d.send(smiling, still.clone(), None).expect("smiling");
    assert_eq!(d.session.status, Status::InProgress);
    d.send(smiling, still.clone(), None).expect("smiling, again");
    d.send(smiling, still.clone(), None).expect("smiling, a third time");
    assert_eq!(d.session.result().status, Status::Succeeded, "a live smile held for three frames passes");
}

#[test]
fn a_photo_turned_in_front_of_the_camera_fails_a_head_turn() {
    // The pose network says 30 degrees, but the landmarks move as a flat picture turned does.
    let mut d = Driver::new(options(&[turn_left()], None, true));
    turning(&mut d, 6 + MAX_FLAT_FRAMES as usize, |_| None, &flat(&head()));
    let r = d.session.result();
    assert_eq!((r.status, r.reasons.clone()), (Status::Failed, vec!["flat_motion"]), "{r:?}");
    assert!(r.confidence < 50.0);
}

#[test]
fn the_nose_target_needs_the_head_to_turn_toward_it() {
    let target = Target { x: 0.65, y: 0.42, width: 0.16, height: 0.16 };
    let spec = ChallengeSpec { kind: Kind::NoseTarget, target: Some(target), timeout_ms: 30_000 };
    // Slid: the face moves to the target without turning.
    let mut d = Driver::new(options(&[spec], None, true));
    for i in 0..8 {
        let x = 0.5 + 0.23 * (i as f32 / 4.0).min(1.0);
        if d.session.status.is_final() {
            break;
        }
        d.send(signals(0.0, [x, 0.5]), view(&head(), 0.0, [x, 0.5]), None).expect("slid frame");
    }
    let r = d.session.result();
    assert_eq!((r.status, r.reasons.clone()), (Status::Failed, vec!["flat_motion"]), "{r:?}");
    // Turned: the head rotates toward the target as the nose moves there.
    let mut d = Driver::new(options(&[spec], None, true));
    for i in 0..6 {
        let f = (i as f32 / 4.0).min(1.0);
        let x = 0.5 + 0.23 * f;
        if d.session.status.is_final() {
            break;
        }
        d.send(signals(25.0 * f, [x, 0.5]), view(&head(), 25.0 * f, [0.5 + 0.18 * f, 0.5]), None).expect("frame");
    }
    assert_eq!(d.session.result().status, Status::Succeeded, "{:?}", d.session.result());
}

/// With an area drawn for the face (the nose challenge's), the person gets into position first: until the
/// baseline, a face outside the area or too small for it is a bad frame; after it, the challenge may move the face.
#[test]
fn the_face_gets_into_the_drawn_area_before_the_challenge() {
    let target = Target { x: 0.65, y: 0.42, width: 0.16, height: 0.16 };
    let spec = ChallengeSpec { kind: Kind::NoseTarget, target: Some(target), timeout_ms: 30_000 };
    let area = FaceArea { area: Target { x: 0.1, y: 0.1, width: 0.8, height: 0.8 }, min_cover: 0.05 };
    let mut d = Driver::new(SessionOptions { face_area: Some(area), ..options(&[spec], None, true) });
    let frontal = || (signals(0.0, [0.5, 0.5]), view(&head(), 0.0, [0.5, 0.5]));
    // Half out of the area on the left, then too small for it (3 % of its surface): neither sets the baseline.
    for (bbox, verdict) in [
        (Target { x: 0.0, y: 0.3, width: 0.2, height: 0.3 }, FrameVerdict::FaceOutsideArea),
        (Target { x: 0.45, y: 0.4, width: 0.11, height: 0.17 }, FrameVerdict::FaceTooSmall),
    ] {
        d.bbox = bbox;
        let (s, p) = frontal();
        d.send(s, p, None).expect("taken");
        assert!(d.session.baseline.is_none(), "{verdict:?}: a baseline out of position");
    }
    assert_eq!((d.session.counts.outside_area, d.session.counts.too_small), (1, 1), "{:?}", d.session.counts);
    // In the area (a box standing out by less than the tolerance): the baseline.
    d.bbox = Target { x: 0.08, y: 0.3, width: 0.3, height: 0.4 };
    let (s, p) = frontal();
    d.send(s, p, None).expect("taken");
    assert!(d.session.baseline.is_some());
    // The head turns toward the target; the face may leave the area now and the challenge completes.
    for i in 1..6 {
        let f = (i as f32 / 4.0).min(1.0);
        d.bbox = Target { x: 0.45 + 0.3 * f, y: 0.3, width: 0.3, height: 0.4 };
        if d.session.status.is_final() {
            break;
        }
        d.send(signals(25.0 * f, [0.5 + 0.23 * f, 0.5]), view(&head(), 25.0 * f, [0.5 + 0.18 * f, 0.5]), None)
            .expect("frame");
    }
    assert_eq!(d.session.result().status, Status::Succeeded, "{:?}", d.session.result());
    assert_eq!(d.session.counts.outside_area, 1);
    // Without an area, the same first frame is a baseline.
    let mut free = Driver::new(options(&[spec], None, true));
    free.bbox = Target { x: 0.0, y: 0.3, width: 0.2, height: 0.3 };
    let (s, p) = frontal();
    free.send(s, p, None).expect("taken");
    assert!(free.session.baseline.is_some());
}

#[test]
fn every_pass_scores_above_every_failure() {
    for q in 0..=100 {
        let q = q as f32 / 100.0;
        assert!(liveness::confidence(true, q) >= 50.0);
        assert!(liveness::confidence(false, q) < 50.0);
    }
    assert!(liveness::confidence(false, f32::NAN) < 50.0 && liveness::confidence(true, 2.0) <= 100.0);
}

fn seen(session: &str, sequence: u64) -> Vec<SeenFrame> {
    vec![SeenFrame { session: session.into(), sequence }]
}

#[test]
fn frames_another_session_saw_fail_the_session_as_a_replay() {
    let model = head();
    // A head turning (and moving across the view) whose frames match, one after the other, adjacent frames of
    // an earlier session: a run of a recording.
    let mut d = Driver::new(options(&[turn_left()], Some(0.5), false));
    for (i, yaw) in [0.0f32, 4.0].into_iter().enumerate() {
        let at = [0.5 + 0.01 * i as f32, 0.5];
        d.send_seen(signals(yaw, at), view(&model, yaw, at), Some(0.9), seen("earlier", 10 - i as u64)).expect("frame");
    }
    assert_eq!((d.session.status, d.session.replayed_runs), (Status::Failed, 1));
    assert_eq!(d.session.result().reasons, vec!["replayed_frames"]);
    // Matches out of order: four moving frames fail the session, three do not.
    let mut d = Driver::new(options(&[turn_left()], Some(0.5), false));
    for (i, yaw) in [0.0f32, 2.0, 4.0, 6.0, 8.0].into_iter().enumerate() {
        let at = [0.5 + 0.01 * i as f32, 0.5];
        d.send_seen(signals(yaw, at), view(&model, yaw, at), Some(0.9), seen("earlier", 3 * i as u64)).expect("frame");
        let expected = if i < 4 { Status::InProgress } else { Status::Failed };
        assert_eq!(d.session.status, expected, "frame {i}");
    }
    // A face that holds still may come back to where another session saw it: not a replay.
    let mut d = Driver::new(options(&[turn_left()], Some(0.5), false));
    for i in 0..4 {
        let at = [0.5 + 0.003 * (i % 2) as f32, 0.5];
        d.send_seen(signals(0.0, at), view(&model, 0.0, at), Some(0.9), seen("earlier", i)).expect("frame");
    }
    assert_eq!((d.session.status, d.session.replayed_frames), (Status::InProgress, 0));
    // A moving frame that matches once is a coincidence: the live turn goes on to succeed.
    let mut d = Driver::new(options(&[turn_left()], Some(0.5), false));
    d.send(signals(0.0, [0.5, 0.5]), view(&model, 0.0, [0.5, 0.5]), Some(0.9)).expect("frame");
    d.send_seen(signals(0.0, [0.52, 0.5]), view(&model, 0.0, [0.52, 0.5]), Some(0.9), seen("earlier", 0))
        .expect("frame");
    turning(&mut d, 8, |_| Some(0.9), &model);
    assert_eq!(d.session.status, Status::Succeeded, "{:?}", d.session.result().reasons);
}

#[test]
fn identity_is_checked_on_every_frame_that_counts_and_on_every_third_in_between() {
    let mut d = Driver::new(options(&[turn_left()], Some(0.05), false));
    // The baseline, eight frames looking ahead, then the turn.
    for _ in 0..9 {
        d.send(signals(0.0, [0.5, 0.5]), view(&head(), 0.0, [0.5, 0.5]), Some(0.9)).expect("frame taken");
    }
    let waiting = d.checked.clone();
    turning(&mut d, 8, |_| Some(0.9), &head());
    let r = d.session.result();
    assert_eq!(r.status, Status::Succeeded, "{r:?}");
    // Looking ahead counts for nothing: every third frame after the baseline (frame 0) is checked.
    assert_eq!(waiting, [3, 6], "frames checked while waiting");
    // Every frame that passed the turn's check, and the one that completed it, was checked.
    let passed = r.challenges[0].frames.clone();
    assert!(!passed.is_empty());
    for s in &passed {
        assert!(d.checked.contains(s), "frame {s} passed the turn unchecked: checked {:?}", d.checked);
    }
    assert_eq!(r.frames.identity_checked as usize, d.checked.len());
    assert!(d.checked.len() < d.next as usize - 1, "not every frame needs the template: {:?}", d.checked);
    for pair in d.checked.windows(2) {
        assert!(pair[1] - pair[0] <= 3, "more than two frames in a row unchecked: {:?}", d.checked);
    }
}

#[test]
fn someone_else_never_completes_a_challenge_and_a_switch_between_checks_fails_the_session() {
    // The person of the baseline looks ahead; someone else does the turn.
    let mut d = Driver::new(options(&[turn_left()], Some(0.05), false));
    d.send(signals(0.0, [0.5, 0.5]), view(&head(), 0.0, [0.5, 0.5]), Some(0.9)).expect("baseline");
    d.similarity = 20.0;
    turning(&mut d, 8, |_| Some(0.9), &head());
    let r = d.session.result();
    assert_ne!(r.status, Status::Succeeded, "{r:?}");
    assert!(d.session.reasons.contains(&FailReason::IdentityChanged), "{r:?}");
    assert!(r.challenges[0].frames.is_empty(), "someone else's frames counted: {r:?}");

    // Someone else steps in while nothing is asked: seen at the next sampled frame, then checked on every
    // frame, the session fails on the second.
    let mut d = Driver::new(options(&[turn_left()], Some(0.05), false));
    d.send(signals(0.0, [0.5, 0.5]), view(&head(), 0.0, [0.5, 0.5]), Some(0.9)).expect("baseline");
    d.similarity = 20.0;
    for _ in 0..6 {
        if d.session.status.is_final() {
            break;
        }
        d.send(signals(0.0, [0.5, 0.5]), view(&head(), 0.0, [0.5, 0.5]), Some(0.9)).expect("frame taken");
    }
    assert_eq!(d.session.status, Status::Failed);
    assert_eq!(d.session.reasons, [FailReason::IdentityChanged]);
    assert_eq!(d.checked, [3, 4], "frames checked");
}
