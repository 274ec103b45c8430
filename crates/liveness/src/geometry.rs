//! Whether the motion of a face between two frames could be that of a flat picture.
//!
//! A photo or a screen moved, turned or tilted in front of a camera maps every point of the face through one
//! homography (a plane seen from two viewpoints). A head turning in three dimensions does not: the nose tip
//! moves against the cheeks and the ears. [`planar_residual`] fits the best homography between the rigid
//! landmarks of two frames and returns what it leaves unexplained, relative to the distance between the eyes.

/// Indices into [`crate::measure::RIGID_POINTS`] of the outer eye corners (mesh points 33 and 263).
const OUTER_EYES: (usize, usize) = (6, 8);

/// Translates and scales points so that their centroid is at the origin and their mean distance from it is
/// sqrt(2) (Hartley's normalisation): returns the points, the centroid and the scale.
fn normalise(points: &[[f32; 2]]) -> (Vec<[f64; 2]>, [f64; 2], f64) {
    let n = points.len().max(1) as f64;
    let cx = points.iter().map(|p| f64::from(p[0])).sum::<f64>() / n;
    let cy = points.iter().map(|p| f64::from(p[1])).sum::<f64>() / n;
    let mean = points.iter().map(|p| (f64::from(p[0]) - cx).hypot(f64::from(p[1]) - cy)).sum::<f64>() / n;
    let s = if mean > 1e-12 { std::f64::consts::SQRT_2 / mean } else { 1.0 };
    let out = points.iter().map(|p| [(f64::from(p[0]) - cx) * s, (f64::from(p[1]) - cy) * s]).collect();
    (out, [cx, cy], s)
}

/// Solves `m x = r` (n x n, row-major) by Gaussian elimination with partial pivoting; `None` when singular.
fn solve(mut m: Vec<f64>, mut r: Vec<f64>, n: usize) -> Option<Vec<f64>> {
    for col in 0..n {
        let pivot = (col..n).max_by(|&a, &b| m[a * n + col].abs().total_cmp(&m[b * n + col].abs()))?;
        if m[pivot * n + col].abs() < 1e-12 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                m.swap(col * n + k, pivot * n + k);
            }
            r.swap(col, pivot);
        }
        for row in col + 1..n {
            let f = m[row * n + col] / m[col * n + col];
            for k in col..n {
                m[row * n + k] -= f * m[col * n + k];
            }
            r[row] -= f * r[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| m[row * n + k] * x[k]).sum();
        x[row] = (r[row] - s) / m[row * n + row];
    }
    Some(x)
}

/// The root-mean-square distance, over the points, between `to` and `from` mapped by the best-fitting
/// homography, divided by the distance between the outer eye corners in `to`. `None` when the point sets do
/// not match in length, are too few, or are degenerate.
pub fn planar_residual(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<f32> {
    if from.len() != to.len() || from.len() < 8 || to.len() <= OUTER_EYES.1 {
        return None;
    }
    let (a, _, _) = normalise(from);
    let (b, _, sb) = normalise(to);
    // Least squares on h (h33 = 1): two rows per correspondence, accumulated as normal equations.
    let mut ata = vec![0.0f64; 64];
    let mut atb = vec![0.0f64; 8];
    for (p, q) in a.iter().zip(&b) {
        let (x, y, u, v) = (p[0], p[1], q[0], q[1]);
        for (row, rhs) in
            [([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y], u), ([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y], v)]
        {
            for i in 0..8 {
                atb[i] += row[i] * rhs;
                for j in 0..8 {
                    ata[i * 8 + j] += row[i] * row[j];
                }
            }
        }
    }
    let h = solve(ata, atb, 8)?;
    let mut sum = 0.0;
    for (p, q) in a.iter().zip(&b) {
        let w = h[6] * p[0] + h[7] * p[1] + 1.0;
        if w.abs() < 1e-9 {
            return None;
        }
        let u = (h[0] * p[0] + h[1] * p[1] + h[2]) / w;
        let v = (h[3] * p[0] + h[4] * p[1] + h[5]) / w;
        sum += (u - q[0]).powi(2) + (v - q[1]).powi(2);
    }
    // Back to `to`'s own units, then relative to its eye distance.
    let rms = (sum / a.len() as f64).sqrt() / sb;
    let eyes = f64::from(to[OUTER_EYES.0][0] - to[OUTER_EYES.1][0])
        .hypot(f64::from(to[OUTER_EYES.0][1] - to[OUTER_EYES.1][1]));
    (eyes > 1e-9).then(|| (rms / eyes) as f32)
}

/// How far the points moved from `from` to `to`: the root-mean-square displacement relative to the distance
/// between the outer eye corners in `to`. `None` when the sets do not match or are degenerate.
pub fn motion(from: &[[f32; 2]], to: &[[f32; 2]]) -> Option<f32> {
    if from.len() != to.len() || to.len() <= OUTER_EYES.1 {
        return None;
    }
    let eyes = (to[OUTER_EYES.0][0] - to[OUTER_EYES.1][0]).hypot(to[OUTER_EYES.0][1] - to[OUTER_EYES.1][1]);
    if eyes <= 1e-9 {
        return None;
    }
    let sum: f32 = from.iter().zip(to).map(|(a, b)| (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sum();
    Some((sum / to.len() as f32).sqrt() / eyes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A face-like set of 20 points in 3-D (x right, y down, z toward the camera), in eye-distance units.
    fn head() -> Vec<[f32; 3]> {
        let mut pts = vec![
            [0.0, 0.3, 0.5],   // nose tip
            [0.0, 0.2, 0.45],  // nose
            [0.0, -0.1, 0.3],  // bridge
            [0.0, -0.2, 0.25], // between the eyes
            [0.0, -0.8, 0.2],  // forehead
            [0.0, 1.0, 0.1],   // chin
            [-0.5, 0.0, 0.0],  // outer eye corner
            [-0.15, 0.0, 0.1], // inner
            [0.5, 0.0, 0.0],   // outer eye corner
            [0.15, 0.0, 0.1],  // inner
        ];
        pts.extend([
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
        ]);
        pts
    }

    /// Rotates about the vertical axis by `deg`, then projects with a pinhole at distance `d`.
    fn view(points: &[[f32; 3]], deg: f32, d: f32, shift: [f32; 2]) -> Vec<[f32; 2]> {
        let (s, c) = deg.to_radians().sin_cos();
        points
            .iter()
            .map(|p| {
                let x = c * p[0] + s * p[2];
                let z = -s * p[0] + c * p[2];
                let k = d / (d - z);
                [x * k * 0.1 + 0.5 + shift[0], p[1] * k * 0.1 + 0.5 + shift[1]]
            })
            .collect()
    }

    #[test]
    fn a_flat_picture_turned_is_explained_and_a_turning_head_is_not() {
        let head = head();
        let flat: Vec<[f32; 3]> = head.iter().map(|p| [p[0], p[1], 0.0]).collect();
        let frontal = view(&flat, 0.0, 6.0, [0.0, 0.0]);
        // The photo turned 30 degrees and moved: one homography explains it.
        let turned_photo = view(&flat, 30.0, 6.0, [0.05, -0.02]);
        let r = planar_residual(&frontal, &turned_photo).expect("fit");
        assert!(r < 1e-3, "flat: {r}");
        // The head turned 25 degrees: the nose moves against the cheeks.
        let r = planar_residual(&view(&head, 0.0, 6.0, [0.0, 0.0]), &view(&head, 25.0, 6.0, [0.0, 0.0])).expect("fit");
        assert!(r > 0.02, "head: {r}");
    }

    #[test]
    fn mismatched_or_degenerate_points_give_no_answer() {
        let p = view(&head(), 0.0, 6.0, [0.0, 0.0]);
        assert_eq!(planar_residual(&p, &p[..10]), None);
        assert_eq!(planar_residual(&[[0.5, 0.5]; 20], &p), None);
    }
}
