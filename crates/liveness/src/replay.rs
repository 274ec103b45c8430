//! Frames seen before, in another session: a recorded session sent again.
//!
//! A camera never catches a moving head twice in the same place: a frame sent again — as it was, re-encoded,
//! or reordered among others — puts every rigid landmark where it was the first time (re-encoding moves them
//! by up to 0.02 of the eye distance), while two takes of a head turn pass through other positions. A
//! [`FramePrint`] is those landmarks (no image, no identity template); the server keeps the prints of recent
//! sessions' frames and looks each new frame up among the prints in the same [`cells`], where
//! [`same_capture`] decides. A person sitting still can come back to almost where they were (0.007 apart in
//! the NUAA frames; 0.014 after moving away and back), so only frames that moved ([`REPLAY_MIN_MOTION`] from
//! the frame before) count, and the session decides on runs: two consecutive frames that match two adjacent
//! frames of one earlier session, or several matching frames in any order (see
//! [`crate::session::MAX_REPLAYED_FRAMES`]). `facegate eval attacks` measures these distances (its "replay
//! memory" figures).

use serde::{Deserialize, Serialize};

use crate::geometry::motion;

/// Two frames whose rigid landmarks lie within this distance of each other (root-mean-square, relative to the
/// distance between the eyes; see [`crate::geometry::motion`]) are one capture sent twice: re-encoding moved
/// them by at most 0.018 on the suite, different moments of a moving head came no closer than 0.034.
pub const REPLAY_DISTANCE: f32 = 0.025;

/// A frame counts as sent again only when its face moved at least this far from the session's frame before
/// (same units): a still face can return to where it was in another session, a moving one does not.
pub const REPLAY_MIN_MOTION: f32 = 0.04;

/// Cells of the lookup grid: the nose tip's position in 1/64 of the frame's width and height, and the eye
/// distance on a logarithmic scale, 16 steps per doubling. A print's neighbours lie in its cell or the next
/// one in each direction, since sending a frame again moves its landmarks far less than a cell.
const GRID: f32 = 64.0;
const SCALE_STEPS: f32 = 16.0;

/// Indices into [`crate::measure::RIGID_POINTS`] of the nose tip and of the outer eye corners.
const NOSE: usize = 0;
const OUTER_EYES: (usize, usize) = (6, 8);

/// A frame of another session whose print a new frame's face matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenFrame {
    pub session: String,
    pub sequence: u64,
}

impl SeenFrame {
    /// Whether `other` is the frame just before or after this one in the same session.
    pub fn next_to(&self, other: &SeenFrame) -> bool {
        self.session == other.session && self.sequence.abs_diff(other.sequence) == 1
    }
}

/// One frame's face, as the replay memory keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct FramePrint {
    /// The lookup cell ([`cells`] gives it and its neighbours).
    pub cell: i64,
    /// The rigid landmarks in normalised frame coordinates.
    pub points: Vec<[f32; 2]>,
}

fn coordinates(points: &[[f32; 2]]) -> Option<[i64; 3]> {
    let (nose, a, b) = (points.get(NOSE)?, points.get(OUTER_EYES.0)?, points.get(OUTER_EYES.1)?);
    let eyes = (a[0] - b[0]).hypot(a[1] - b[1]);
    if !(eyes > 1e-6 && nose[0].is_finite() && nose[1].is_finite()) {
        return None;
    }
    let q = |v: f32| (v * GRID).floor().clamp(-GRID, 2.0 * GRID) as i64;
    let s = (eyes.log2() * SCALE_STEPS).floor().clamp(-1000.0, 1000.0) as i64;
    Some([q(nose[0]), q(nose[1]), s])
}

fn key([x, y, s]: [i64; 3]) -> i64 {
    // x and y in -64..=128, s in -1000..=1000: disjoint ranges of one integer.
    ((s + 1024) * 256 + (y + 64)) * 256 + (x + 64)
}

impl FramePrint {
    /// The print of a face's rigid landmarks; `None` when they are degenerate.
    pub fn new(points: &[[f32; 2]]) -> Option<FramePrint> {
        let c = coordinates(points)?;
        Some(FramePrint { cell: key(c), points: points.to_vec() })
    }

    /// The flat list of coordinates (x, y per point), for storage.
    pub fn flat(&self) -> Vec<f32> {
        self.points.iter().flat_map(|p| [p[0], p[1]]).collect()
    }

    /// The points from a flat list of coordinates.
    pub fn points_from_flat(flat: &[f32]) -> Vec<[f32; 2]> {
        flat.chunks_exact(2).map(|c| [c[0], c[1]]).collect()
    }
}

/// The cells a print sent again may fall in: its own and its 26 neighbours.
pub fn cells(points: &[[f32; 2]]) -> Vec<i64> {
    let Some([x, y, s]) = coordinates(points) else { return Vec::new() };
    let mut out = Vec::with_capacity(27);
    for ds in -1..=1 {
        for dy in -1..=1 {
            for dx in -1..=1 {
                out.push(key([x + dx, y + dy, s + ds]));
            }
        }
    }
    out
}

/// Whether two faces' rigid landmarks are one capture: within [`REPLAY_DISTANCE`] of each other.
pub fn same_capture(a: &[[f32; 2]], b: &[[f32; 2]]) -> bool {
    motion(a, b).is_some_and(|d| d < REPLAY_DISTANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(dx: f32, scale: f32) -> Vec<[f32; 2]> {
        (0..20)
            .map(|i| {
                let a = i as f32 * 0.7;
                let (x, y) = match i {
                    NOSE => (0.0, 0.1),
                    6 => (-0.5, 0.0),
                    8 => (0.5, 0.0),
                    _ => (0.6 * a.cos(), 0.8 * a.sin()),
                };
                [0.5 + dx + 0.1 * scale * x, 0.5 + 0.1 * scale * y]
            })
            .collect()
    }

    #[test]
    fn a_frame_sent_again_is_found_in_its_cells_and_a_moved_face_is_not_the_same_capture() {
        let first = face(0.0, 1.0);
        let print = FramePrint::new(&first).expect("print");
        // Landmarks jittered by re-encoding: a small fraction of the eye distance (0.1 of the frame here).
        let again: Vec<[f32; 2]> = first.iter().map(|p| [p[0] + 0.001, p[1] - 0.001]).collect();
        assert!(cells(&again).contains(&print.cell));
        assert!(same_capture(&print.points, &again));
        // The same face three pixels to the side (at 640 px, eyes 64 px apart): another moment.
        let moved = face(0.005, 1.0);
        assert!(!same_capture(&print.points, &moved));
        let bigger = face(0.0, 1.1);
        assert!(!same_capture(&print.points, &bigger));
        assert_eq!(FramePrint::points_from_flat(&print.flat()), first);
    }

    #[test]
    fn degenerate_landmarks_have_no_print() {
        assert_eq!(FramePrint::new(&[[0.5, 0.5]; 20]), None);
        assert_eq!(FramePrint::new(&[[0.5, 0.5]; 3]), None);
        assert!(cells(&[]).is_empty());
    }
}
