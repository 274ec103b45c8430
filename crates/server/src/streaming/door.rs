//! `GET /start-face-liveness-session-websocket`: Rekognition Streaming's `StartFaceLivenessSession`, the
//! WebSocket Amplify's `FaceLivenessDetector` opens.
//!
//! The request is presigned (SigV4 in the query, `host` signed — without its port, as the AWS SDK for JavaScript
//! signs it — service `rekognition`), with the session's id, the challenges the client can run
//! (`challenge-versions`) and its video's size. The pair that signed it must be the admin pair or an API key's
//! pair with the `liveness` scope whose key created the session. The session's stream opens once
//! ([`app::usecases::liveness_stream::open`]): the same URL, or another, cannot open it again.
//!
//! Then, over the socket: the server sends the session's challenge (`ServerSessionInformationEvent`: the oval in
//! video pixels, the colours, the client's thresholds); the client sends signed messages ([`super::eventstream`])
//! — the recording in chunks (`VideoEvent`) and its account of the challenge (`ClientSessionInformationEvent`:
//! when the video started, when each colour was shown) — and an empty chunk at the end. The server then judges
//! the video ([`app::usecases::liveness_stream::finish`]), answers `DisconnectionEvent` and closes. The decision
//! is read with `GetFaceLivenessSessionResults`. Anything wrong on the way is an exception event
//! (`ValidationException`, ...), and the session fails (`stream_incomplete`).

use std::net::IpAddr;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};

use super::challenges::{challenge_name, challenge_offered};
use super::eventstream::{exception, server_event, ClientEvent, SignedStream, StreamError};
use crate::access::ClientAddress;
use crate::rekognition::AwsError;
use crate::routes::table::Routes;
use app::callers::{self, Count};
use app::error::{ApiError, Code};
use app::state::AppState;
use app::usecases::liveness_stream::{self, OpenRequest, Upload, OVAL_HEIGHT_RATIO};
use liveness::stream::{StreamChallenge, StreamPlan};

pub const PATH: &str = "/start-face-liveness-session-websocket";

/// A stream's recording may not grow past this.
const MAX_VIDEO_BYTES: usize = 64 << 20;

/// The query parameter `name`, decoded (its first occurrence).
fn query_value(query: &str, name: &str) -> Option<String> {
    auth::sigv4::query_pairs(query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn refused(kind: &'static str, message: impl Into<String>) -> AwsError {
    AwsError::new(StatusCode::FORBIDDEN, kind, message)
}

fn invalid(message: impl Into<String>) -> AwsError {
    AwsError::new(StatusCode::BAD_REQUEST, "ValidationException", message)
}

/// The presigned request's signer, checked: the signature over the host as signed (the SDK leaves the port
/// out), the expiry, the scope.
async fn signer(app: &AppState, headers: &HeaderMap, path: &str, query: &str) -> Result<SignedBy, AwsError> {
    use auth::sigv4::{Policy, PresignedTarget, SigV4Error};
    let wrong = |e: SigV4Error| match e {
        SigV4Error::Skew(_) => refused("InvalidSignatureException", "the presigned URL has expired"),
        e => refused("InvalidSignatureException", e.to_string()),
    };
    let presigned = auth::sigv4::parse_presigned(query).map_err(|e| match e {
        e if e.is_incomplete() => refused("MissingAuthenticationTokenException", e.to_string()),
        e => wrong(e),
    })?;
    let (identity, secret) =
        callers::aws_signing_secret(app, &presigned.auth.access_key_id).await.map_err(AwsError::from)?.ok_or_else(
            || refused("UnrecognizedClientException", "the security token included in the request is invalid"),
        )?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let bare = host.rsplit_once(':').filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit())).map(|(h, _)| h);
    let policy = Policy { service: "rekognition", regions: &app.config.aws_regions, signed_headers: &[] };
    let now = store::now_millis() / 1000;
    let mut outcome = Err(SigV4Error::Mismatch);
    for host in bare.into_iter().chain([host]) {
        let target = PresignedTarget { method: "GET", path, query, host };
        outcome = auth::sigv4::verify_presigned(&target, &presigned, &secret, now, &policy);
        if !matches!(outcome, Err(SigV4Error::Mismatch)) {
            break;
        }
    }
    outcome.map_err(wrong)?;
    let (access, limits) = crate::rekognition::signer(identity)?;
    let key = auth::sigv4::signing_key(&secret, &presigned.auth.date, &presigned.auth.region, &presigned.auth.service);
    Ok(SignedBy { access, limits, key, scope: presigned.auth.scope(), signature: presigned.auth.signature })
}

struct SignedBy {
    access: auth::Access,
    limits: callers::Limits,
    key: [u8; 32],
    scope: String,
    signature: String,
}

/// The WebSocket's request: signed, admitted (the `liveness` scope, the key's limits), the session's stream
/// opened; then the socket runs [`run`].
async fn start(
    State(app): State<AppState>,
    Extension(ClientAddress(ip)): Extension<ClientAddress>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    match admit(&app, ip, uri.path(), uri.query().unwrap_or_default(), &headers).await {
        Ok((plan, signed, id)) => upgrade.on_upgrade(move |socket| run(app, id, plan, signed, socket)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn admit(
    app: &AppState,
    ip: IpAddr,
    path: &str,
    query: &str,
    headers: &HeaderMap,
) -> Result<(StreamPlan, SignedStream, String), AwsError> {
    let signed = match signer(app, headers, path, query).await {
        Ok(s) => s,
        Err(e) => {
            callers::limit_address(app, ip)?;
            return Err(e);
        }
    };
    let access =
        callers::admit(app, signed.access, signed.limits, Some(auth::Scope::Liveness), None, Count::Yes).await?;
    let id = query_value(query, "session-id").ok_or_else(|| invalid("session-id is required"))?;
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(invalid("session-id must be a UUID"));
    }
    let versions = query_value(query, "challenge-versions").unwrap_or_default();
    let offered: Vec<StreamChallenge> = versions.split(',').filter_map(challenge_offered).collect();
    let side = |name: &str| -> Result<u32, AwsError> {
        query_value(query, name)
            .and_then(|v| v.parse::<f32>().ok())
            .filter(|v| v.is_finite() && *v >= 1.0)
            .map(|v| v.round() as u32)
            .ok_or_else(|| invalid(format!("{name} must be the video's size in pixels")))
    };
    let request =
        OpenRequest { session_id: &id, offered: &offered, width: side("video-width")?, height: side("video-height")? };
    let plan = liveness_stream::open(app, &access, &request).await?;
    Ok((plan, SignedStream::new(signed.key, signed.scope, &signed.signature), id))
}

/// The session's challenge as the client draws it.
fn session_information(plan: &StreamPlan) -> Value {
    let (w, h) = (plan.width as f32, plan.height as f32);
    let [cx, cy] = plan.oval.centre();
    let oval = json!({
        "Width": plan.oval.width * w,
        "Height": plan.oval.height * h,
        "CenterX": cx * w,
        "CenterY": cy * h,
    });
    // The client's own face-fit thresholds (it refuses zeros); the server decides on its own measurements.
    let config = json!({
        "BlazeFaceDetectionThreshold": 0.75,
        "FaceDistanceThreshold": 0.4,
        "FaceDistanceThresholdMax": 0,
        "FaceDistanceThresholdMin": 0.4,
        "FaceIouHeightThreshold": 0.15,
        "FaceIouWidthThreshold": 0.15,
        "OvalHeightWidthRatio": OVAL_HEIGHT_RATIO,
        "OvalIouHeightThreshold": 0.25,
        "OvalIouThreshold": liveness_stream::OVAL_IOU,
        "OvalIouWidthThreshold": 0.25,
        "OvalFitTimeout": liveness_stream::approach_criteria().timeout_ms,
    });
    let (name, _) = challenge_name(plan.challenge);
    let challenge = match plan.challenge {
        StreamChallenge::Approach => json!({"OvalParameters": oval, "ChallengeConfig": config}),
        StreamChallenge::ApproachAndLight => json!({
            "OvalParameters": oval,
            "ChallengeConfig": config,
            "LightChallengeType": "SEQUENTIAL",
            "ColorSequences": plan.colours.iter().map(|c| json!({
                "FreshnessColor": {"RGB": c.rgb},
                "DownscrollDuration": c.downscroll_ms,
                "FlatDisplayDuration": c.flat_ms,
            })).collect::<Vec<_>>(),
        }),
    };
    json!({"SessionInformation": {"Challenge": {name: challenge}}})
}

/// What the client reported of its challenge: when its video started, and the colours it showed (each
/// sequence number's first report).
#[derive(Default)]
struct ClientAccount {
    video_start_ms: Option<i64>,
    colours: Vec<(u64, [u8; 3], i64)>,
}

impl ClientAccount {
    fn take(&mut self, body: &Value) {
        let Some(challenge) = body.get("Challenge").and_then(Value::as_object).and_then(|o| o.values().next()) else {
            return;
        };
        if let Some(t) = challenge.get("VideoStartTimestamp").and_then(Value::as_i64) {
            self.video_start_ms.get_or_insert(t);
        }
        let Some(shown) = challenge.get("ColorDisplayed") else { return };
        let rgb = shown.pointer("/CurrentColor/RGB").and_then(Value::as_array).and_then(|a| {
            let c: Vec<u8> = a.iter().filter_map(|v| v.as_u64().and_then(|v| u8::try_from(v).ok())).collect();
            <[u8; 3]>::try_from(c.as_slice()).ok()
        });
        let (Some(rgb), Some(seq), Some(at)) = (
            rgb,
            shown.get("SequenceNumber").and_then(Value::as_u64),
            shown.get("CurrentColorStartTimestamp").and_then(Value::as_i64),
        ) else {
            return;
        };
        if !self.colours.iter().any(|(s, _, _)| *s == seq) && self.colours.len() < 64 {
            self.colours.push((seq, rgb, at));
        }
    }

    /// The colours on the video's clock, in sequence order.
    fn colours_shown(&self) -> Vec<([u8; 3], i64)> {
        let Some(start) = self.video_start_ms else { return Vec::new() };
        let mut c = self.colours.clone();
        c.sort_by_key(|(s, _, _)| *s);
        c.into_iter().map(|(_, rgb, at)| (rgb, at - start)).collect()
    }
}

fn stream_exception(e: &StreamError) -> Vec<u8> {
    exception("ValidationException", &e.to_string())
}

fn api_exception(e: &ApiError) -> Vec<u8> {
    let kind = match e.code {
        Code::RateLimited | Code::Overloaded => "ThrottlingException",
        c if crate::http_error::status_of(c).is_server_error() => "InternalServerException",
        _ => "ValidationException",
    };
    exception(kind, &e.message)
}

/// The socket: the challenge out, the signed messages in, the judgement, `DisconnectionEvent`.
async fn run(app: AppState, id: String, plan: StreamPlan, mut signed: SignedStream, mut socket: WebSocket) {
    let info = server_event("ServerSessionInformationEvent", &session_information(&plan));
    if socket.send(Message::Binary(info.into())).await.is_err() {
        abandon(&app, &id).await;
        return;
    }
    let idle = app.idle_timeout();
    let mut video = Vec::new();
    let mut account = ClientAccount::default();
    let failure = loop {
        let message = match tokio::time::timeout(idle, socket.recv()).await {
            Ok(Some(Ok(m))) => m,
            // Gone quiet, closed or broken before the end of the video.
            _ => break None,
        };
        let bytes = match message {
            Message::Binary(b) => b,
            Message::Close(_) => break None,
            Message::Text(_) => break Some(exception("ValidationException", "messages are binary event-stream")),
            _ => continue,
        };
        match signed.open(&bytes) {
            Ok(ClientEvent::Video { chunk, .. }) if chunk.is_empty() => {
                let upload = Upload { video: std::mem::take(&mut video), colours_shown: account.colours_shown() };
                tracing::debug!(session = %id, planned = ?plan.colours, shown = ?upload.colours_shown, "light sequence");
                match liveness_stream::finish(&app, &id, upload).await {
                    Ok(result) => {
                        let e = result.stream_evidence.as_ref();
                        tracing::info!(
                            session = %id,
                            status = result.status.as_str(),
                            reasons = ?result.reasons,
                            frames = e.map(|e| e.frames),
                            approach = ?e.map(|e| (e.approach.failure, e.approach.far, e.approach.near, e.approach.scale, e.approach.depth)),
                            light = ?e.and_then(|e| e.light.as_ref()).map(|l| (l.failure, l.agreement)),
                            similarities = ?e.map(|e| &e.similarities),
                            passive = ?result.passive_score,
                            "liveness stream judged"
                        );
                        let done = json!({"TimestampMillis": store::now_millis()});
                        let _ = socket.send(Message::Binary(server_event("DisconnectionEvent", &done).into())).await;
                        close(&mut socket).await;
                        return;
                    }
                    Err(e) => break Some(api_exception(&e)),
                }
            }
            Ok(ClientEvent::Video { chunk, .. }) => {
                if video.len() + chunk.len() > MAX_VIDEO_BYTES {
                    break Some(exception("ValidationException", "the video is larger than this server takes"));
                }
                video.extend_from_slice(&chunk);
            }
            Ok(ClientEvent::SessionInformation(body)) => account.take(&body),
            Ok(ClientEvent::End) => break None,
            Err(e) => break Some(stream_exception(&e)),
        }
    };
    if let Some(message) = failure {
        let _ = socket.send(Message::Binary(message.into())).await;
    }
    abandon(&app, &id).await;
    close(&mut socket).await;
}

/// Closes the socket normally (1000): the client takes a close without a code for a server that failed.
async fn close(socket: &mut WebSocket) {
    let frame = axum::extract::ws::CloseFrame { code: axum::extract::ws::close_code::NORMAL, reason: "".into() };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn abandon(app: &AppState, id: &str) {
    if let Err(e) = liveness_stream::abandon(app, id).await {
        tracing::warn!(session = %id, error = %e.message, "failing a broken liveness stream's session");
    }
}

/// The route: signed by its query, admitted by [`start`] itself.
pub fn routes() -> Routes {
    Routes::new().undocumented(axum::http::Method::GET, PATH, start, crate::access::Requirement::AwsSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_decode() {
        let q = "session-id=abc&challenge-versions=FaceMovementAndLightChallenge_2.0.0%2CFaceMovementChallenge_1.0.0";
        assert_eq!(query_value(q, "session-id").as_deref(), Some("abc"));
        assert_eq!(
            query_value(q, "challenge-versions").as_deref(),
            Some("FaceMovementAndLightChallenge_2.0.0,FaceMovementChallenge_1.0.0")
        );
        assert_eq!(query_value(q, "video-width"), None);
    }

    #[test]
    fn the_clients_colours_go_on_the_videos_clock_once_each() {
        let mut a = ClientAccount::default();
        let colour = |seq: u64, rgb: [u8; 3], at: i64| {
            json!({"Challenge": {"FaceMovementAndLightChallenge": {"ColorDisplayed": {
                "CurrentColor": {"RGB": rgb}, "SequenceNumber": seq, "CurrentColorStartTimestamp": at}}}})
        };
        a.take(&colour(0, [255, 255, 255], 1_000_500));
        assert!(a.colours_shown().is_empty(), "no start yet");
        a.take(&json!({"Challenge": {"FaceMovementAndLightChallenge": {"VideoStartTimestamp": 1_000_000}}}));
        a.take(&colour(1, [255, 0, 0], 1_000_900));
        a.take(&colour(1, [255, 0, 0], 1_001_000));
        assert_eq!(a.colours_shown(), vec![([255, 255, 255], 500), ([255, 0, 0], 900)]);
    }
}
