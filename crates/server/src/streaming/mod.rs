//! The Rekognition Streaming front door (AWS's `StartFaceLivenessSession` over a presigned WebSocket, what
//! Amplify's `FaceLivenessDetector` speaks): built in steps. Here so far: the event-stream messages both ways,
//! with the signature chain of the client's messages checked ([`eventstream`]).

pub mod eventstream;
