//! Head turns each client has shown across single-frame calls, in this replica's memory (for APIs that track
//! turns frame by frame without a session); bounded, and forgotten after ten minutes untouched.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{ApiError, ApiResult};

/// The turns one client has shown so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TurnProgress {
    /// The face turned toward the image's left (yaw at or below minus the threshold) at least once.
    pub toward_image_left: bool,
    /// ...toward the image's right.
    pub toward_image_right: bool,
}

/// Clients whose progress is kept, at most (the least recently seen go first).
const MAX_CLIENTS: usize = 10_000;
/// Progress not touched for this long is forgotten.
const KEPT_FOR: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct TurnTracker {
    clients: Mutex<HashMap<String, (TurnProgress, Instant)>>,
}

impl TurnTracker {
    /// Adds a frame's yaw (degrees, > 0 toward the image's right) to `client`'s progress (started afresh with
    /// `reset`): a turn counts once the yaw reaches `threshold` toward a side.
    pub fn record(&self, client: &str, yaw: f32, reset: bool, threshold: f32) -> ApiResult<TurnProgress> {
        let now = Instant::now();
        let mut clients = self.clients.lock().map_err(|_| ApiError::internal("turn tracker", "poisoned"))?;
        clients.retain(|_, (_, seen)| now.duration_since(*seen) < KEPT_FOR);
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(client) {
            if let Some(oldest) = clients.iter().min_by_key(|(_, (_, seen))| *seen).map(|(k, _)| k.clone()) {
                clients.remove(&oldest);
            }
        }
        let entry = clients.entry(client.to_string()).or_insert((TurnProgress::default(), now));
        if reset {
            entry.0 = TurnProgress::default();
        }
        entry.0.toward_image_left |= yaw <= -threshold;
        entry.0.toward_image_right |= yaw >= threshold;
        entry.1 = now;
        Ok(entry.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_accumulate_per_client_until_reset() {
        let t = TurnTracker::default();
        assert_eq!(
            t.record("a", -25.0, false, 13.5).unwrap(),
            TurnProgress { toward_image_left: true, toward_image_right: false }
        );
        assert_eq!(t.record("b", 5.0, false, 13.5).unwrap(), TurnProgress::default());
        let both = t.record("a", 20.0, false, 13.5).unwrap();
        assert!(both.toward_image_left && both.toward_image_right);
        assert_eq!(t.record("a", 0.0, true, 13.5).unwrap(), TurnProgress::default());
    }
}
