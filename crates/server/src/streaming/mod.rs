//! The Rekognition Streaming front door: AWS's `StartFaceLivenessSession` over a presigned WebSocket, what
//! Amplify's `FaceLivenessDetector` speaks. [`eventstream`] frames the messages both ways and checks the
//! signature chain of the client's; [`challenges`] names the challenges as AWS does; [`door`] is the WebSocket itself, over the liveness stream's use cases.

pub mod challenges;
pub mod door;
pub mod eventstream;
