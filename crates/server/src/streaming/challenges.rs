//! The stream's challenges by Rekognition's names and versions: as the client offers them
//! (`challenge-versions`), as a session prefers them (`ChallengePreferences`) and as
//! `GetFaceLivenessSessionResults` reports them.

use liveness::stream::{StreamChallenge, StreamPlan};
use serde_json::{json, Value};

/// Rekognition's name of a challenge, and the version this server runs it at.
pub fn challenge_name(c: StreamChallenge) -> (&'static str, &'static str) {
    match c {
        StreamChallenge::ApproachAndLight => ("FaceMovementAndLightChallenge", "2.0.0"),
        StreamChallenge::Approach => ("FaceMovementChallenge", "1.0.0"),
    }
}

/// The challenge of a `ChallengePreferences` type, and the version this server runs it at.
pub fn challenge_named(name: &str) -> Option<(StreamChallenge, &'static str)> {
    [StreamChallenge::ApproachAndLight, StreamChallenge::Approach].into_iter().find_map(|c| {
        let (n, v) = challenge_name(c);
        (n == name).then_some((c, v))
    })
}

/// A challenge as the client offers it (`challenge-versions`: `NAME_VERSION`), when it is one this server runs.
pub fn challenge_offered(offer: &str) -> Option<StreamChallenge> {
    let (name, version) = offer.trim().rsplit_once('_')?;
    challenge_named(name).filter(|(_, ours)| *ours == version).map(|(c, _)| c)
}

/// `Type` and `Version` of a session's challenge, as `GetFaceLivenessSessionResults` names it.
pub fn challenge_of(plan: Option<&StreamPlan>) -> Value {
    let (name, version) = challenge_name(plan.map_or(StreamChallenge::Approach, |p| p.challenge));
    json!({"Type": name, "Version": version})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_read_by_name_and_version() {
        assert_eq!(challenge_offered("FaceMovementAndLightChallenge_2.0.0"), Some(StreamChallenge::ApproachAndLight));
        assert_eq!(challenge_offered(" FaceMovementChallenge_1.0.0"), Some(StreamChallenge::Approach));
        assert_eq!(challenge_offered("FaceMovementChallenge_2.0.0"), None);
        assert_eq!(challenge_offered("FaceMovementChallenge"), None);
        assert_eq!(challenge_named("FaceMovementChallenge"), Some((StreamChallenge::Approach, "1.0.0")));
    }
}
