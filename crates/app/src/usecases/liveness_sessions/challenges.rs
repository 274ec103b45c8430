//! The challenges of a new session, drawn with the OS's CSPRNG (kinds, order, nose targets), and the rules a
//! session runs under.

use liveness::{ChallengeSpec, FaceArea, Kind, SessionOptions, Target};

pub(crate) fn random_below(n: usize) -> usize {
    let r = u64::from_le_bytes(auth::secret::random_bytes::<8>());
    (r % n.max(1) as u64) as usize
}

pub(crate) fn random_unit() -> f32 {
    (u32::from_le_bytes(auth::secret::random_bytes::<4>()) >> 8) as f32 / (1u32 << 24) as f32
}

/// A random target area for the nose: a square of 0.16 of the frame whose centre lies 0.18-0.28 of the frame
/// away from the middle, in a random direction — far enough that a still head does not start inside it.
pub fn random_target() -> Target {
    let side = 0.16;
    let angle = random_unit() * std::f32::consts::TAU;
    let distance = 0.18 + 0.10 * random_unit();
    let cx = (0.5 + distance * angle.cos()).clamp(side / 2.0 + 0.05, 1.0 - side / 2.0 - 0.05);
    let cy = (0.5 + distance * angle.sin()).clamp(side / 2.0 + 0.05, 1.0 - side / 2.0 - 0.05);
    Target { x: cx - side / 2.0, y: cy - side / 2.0, width: side, height: side }
}

pub use liveness::SESSION_KINDS as RANDOM_KINDS;

/// Picks `count` distinct challenges with the OS's CSPRNG from the kinds not excluded; with `require_turn`,
/// one of them is a head turn (when a turn is allowed at all).
pub fn pick_kinds(count: usize, exclude: &[Kind], require_turn: bool) -> Vec<Kind> {
    let mut pool: Vec<Kind> = RANDOM_KINDS.iter().copied().filter(|k| !exclude.contains(k)).collect();
    let mut out = Vec::new();
    let turns: Vec<Kind> = pool.iter().copied().filter(|k| matches!(k, Kind::TurnLeft | Kind::TurnRight)).collect();
    if require_turn && !turns.is_empty() && count > 0 {
        let t = turns[random_below(turns.len())];
        out.push(t);
        // One turn per session: the other direction is left out.
        pool.retain(|k| !matches!(k, Kind::TurnLeft | Kind::TurnRight));
    }
    while out.len() < count && !pool.is_empty() {
        out.push(pool.remove(random_below(pool.len())));
    }
    // The turn's place in the order is random too.
    if out.len() > 1 {
        let i = random_below(out.len());
        out.swap(0, i);
    }
    out
}

/// The challenge list for `kinds`, with a random target for each `nose_target`.
pub fn specs(kinds: &[Kind], timeout_ms: i64) -> Vec<ChallengeSpec> {
    kinds
        .iter()
        .map(|&kind| ChallengeSpec { kind, target: (kind == Kind::NoseTarget).then(random_target), timeout_ms })
        .collect()
}

/// Frames a session takes at most.
pub const MAX_FRAMES_PER_SESSION: u32 = 600;

/// The rules of a new session under `config`: its challenges, the criteria, limits and thresholds, passive
/// anti-spoofing when the model is loaded (`passive_available`), and the audit images to keep. The frame
/// route and `facegate eval attacks` build sessions with this one function.
pub fn session_options(
    config: &crate::config::ServerConfig,
    challenges: Vec<ChallengeSpec>,
    passive_available: bool,
    audit_images: u32,
) -> SessionOptions {
    SessionOptions {
        challenges,
        criteria: config.criteria(),
        lifetime_ms: config.liveness_session_seconds as i64 * 1000,
        max_bad_frames: config.liveness_max_bad_frames,
        max_frames: MAX_FRAMES_PER_SESSION,
        min_face_px: config.liveness_min_face_px,
        min_similarity: config.match_threshold,
        passive_threshold: passive_available.then_some(config.passive_threshold),
        challenge_only: config.liveness_allow_challenge_only,
        min_depth: (config.liveness_min_depth > 0.0).then_some(config.liveness_min_depth),
        min_challenge_frames: config.liveness_min_challenge_frames,
        scene_continuity: config.liveness_scene_continuity,
        audit_images,
        face_area: None,
    }
}

/// The share of the frame on each side outside the nose challenge's area.
const NOSE_AREA_MARGIN: f32 = 0.1;

/// The area the nose challenge's client draws for the face in frames of `width` x `height` pixels: the frame less
/// a tenth on each side, to be covered at least as much as a face of the smallest size a session takes
/// (`liveness_min_face_px` square).
pub fn nose_challenge_area(config: &crate::config::ServerConfig, width: u32, height: u32) -> FaceArea {
    let side = 1.0 - 2.0 * NOSE_AREA_MARGIN;
    let area_px = (side * width as f32) * (side * height as f32);
    let min_face = config.liveness_min_face_px;
    FaceArea {
        area: Target { x: NOSE_AREA_MARGIN, y: NOSE_AREA_MARGIN, width: side, height: side },
        min_cover: (min_face * min_face / area_px.max(1.0)).clamp(0.0, 1.0),
    }
}
