//! The stream's challenges by Rekognition's names and versions: as the client offers them
//! (`challenge-versions`), as a session prefers them (`ChallengePreferences`) and as
//! `GetFaceLivenessSessionResults` reports them.

use liveness::stream::{StreamChallenge, StreamPlan};
use serde_json::{json, Value};

/// The challenges by the names and versions the client offers them.
pub const CHALLENGES: [(&str, StreamChallenge); 2] = [
    ("FaceMovementAndLightChallenge_2.0.0", StreamChallenge::ApproachAndLight),
    ("FaceMovementChallenge_1.0.0", StreamChallenge::Approach),
];

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

/// `Type` and `Version` of a session's challenge, as `GetFaceLivenessSessionResults` names it.
pub fn challenge_of(plan: Option<&StreamPlan>) -> Value {
    let (name, version) = challenge_name(plan.map_or(StreamChallenge::Approach, |p| p.challenge));
    json!({"Type": name, "Version": version})
}
