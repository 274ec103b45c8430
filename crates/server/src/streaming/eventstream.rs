//! AWS event-stream messages on the liveness WebSocket, framed by `aws-smithy-eventstream`.
//!
//! Client → server: every binary message is an outer message — headers `:date` (timestamp) and
//! `:chunk-signature` (32 bytes) — around an inner one (`:event-type`, `:message-type = event`, a JSON body). Each
//! outer message is signed ([`auth::sigv4::event_signature`]), chained from the previous one and, for the first,
//! from the presigned URL's `X-Amz-Signature`: a message out of order, replayed, altered or signed with another key
//! breaks the chain. An outer message with an empty body ends the stream.
//!
//! Server → client: plain, unsigned messages, `:message-type = event` (or `exception`) with a JSON body.

use aws_smithy_eventstream::frame::{read_message_from, write_headers_to, write_message_to};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;

/// Why a client's message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("not an event-stream message: {0}")]
    Frame(String),
    #[error("the message lacks the {0} header")]
    MissingHeader(&'static str),
    #[error("the message's signature does not follow the stream's")]
    Signature,
    #[error("an event of type {0:?} is not one this stream takes")]
    UnknownEvent(String),
    #[error("the event's body is not the JSON its type needs: {0}")]
    Body(String),
}

/// What a client sent, once its signature checked out.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    /// A slice of the recording (one continuous WebM or MP4 cut about every second) and the client's clock.
    Video { chunk: Vec<u8>, timestamp_ms: i64 },
    /// The client's account of the challenge (`ClientSessionInformationEvent`'s body).
    SessionInformation(serde_json::Value),
    /// The empty message that ends the stream.
    End,
}

/// The signature chain of one stream: the signing key and scope of its presigned URL, and the last signature.
pub struct SignedStream {
    key: [u8; 32],
    scope: String,
    prior: String,
}

fn header<'a>(message: &'a Message, name: &'static str) -> Result<&'a HeaderValue, StreamError> {
    message
        .headers()
        .iter()
        .find(|h| h.name().as_str() == name)
        .map(Header::value)
        .ok_or(StreamError::MissingHeader(name))
}

fn frame_error(e: impl std::fmt::Display) -> StreamError {
    StreamError::Frame(e.to_string())
}

impl SignedStream {
    /// The chain of a stream whose URL was signed with `key` under `scope` (`DATE/REGION/SERVICE/aws4_request`),
    /// its signature `url_signature` (hex).
    pub fn new(key: [u8; 32], scope: String, url_signature: &str) -> Self {
        SignedStream { key, scope, prior: url_signature.to_ascii_lowercase() }
    }

    /// Checks one binary WebSocket message's place in the chain and reads the event it carries.
    pub fn open(&mut self, frame: &[u8]) -> Result<ClientEvent, StreamError> {
        let outer = read_message_from(frame).map_err(frame_error)?;
        let date = match header(&outer, ":date")? {
            HeaderValue::Timestamp(t) => *t,
            _ => return Err(StreamError::MissingHeader(":date")),
        };
        let signature = match header(&outer, ":chunk-signature")? {
            HeaderValue::ByteArray(b) => auth::secret::to_hex(b),
            _ => return Err(StreamError::MissingHeader(":chunk-signature")),
        };
        let mut encoded_date = Vec::new();
        write_headers_to(&[Header::new(":date", HeaderValue::Timestamp(date))], &mut encoded_date)
            .map_err(frame_error)?;
        let amz_date = auth::sigv4::format_amz_date(date.secs());
        let expected = auth::sigv4::event_signature(
            &self.key,
            &amz_date,
            &self.scope,
            &self.prior,
            &encoded_date,
            outer.payload(),
        );
        if !auth::secret::secrets_equal(expected.as_bytes(), signature.as_bytes()) {
            return Err(StreamError::Signature);
        }
        self.prior = expected;
        if outer.payload().is_empty() {
            return Ok(ClientEvent::End);
        }
        let inner = read_message_from(outer.payload().as_ref()).map_err(frame_error)?;
        let event_type = match header(&inner, ":event-type")? {
            HeaderValue::String(s) => s.as_str().to_string(),
            _ => return Err(StreamError::MissingHeader(":event-type")),
        };
        let body: serde_json::Value =
            serde_json::from_slice(inner.payload()).map_err(|e| StreamError::Body(e.to_string()))?;
        match event_type.as_str() {
            "VideoEvent" => {
                use base64::Engine;
                let chunk = body.get("VideoChunk").and_then(|v| v.as_str()).unwrap_or_default();
                let chunk = base64::engine::general_purpose::STANDARD
                    .decode(chunk)
                    .map_err(|e| StreamError::Body(format!("VideoChunk: {e}")))?;
                let timestamp_ms = body
                    .get("TimestampMillis")
                    .and_then(serde_json::Value::as_i64)
                    .ok_or_else(|| StreamError::Body("VideoEvent needs TimestampMillis".into()))?;
                Ok(ClientEvent::Video { chunk, timestamp_ms })
            }
            "ClientSessionInformationEvent" => Ok(ClientEvent::SessionInformation(body)),
            _ => Err(StreamError::UnknownEvent(event_type)),
        }
    }
}

fn encode(headers: Vec<Header>, body: &serde_json::Value) -> Vec<u8> {
    let message = Message::new_from_parts(headers, Bytes::from(body.to_string()));
    let mut out = Vec::new();
    // Writing a message of text headers and a JSON body to memory cannot fail short of running out of it.
    if let Err(e) = write_message_to(&message, &mut out) {
        tracing::error!(error = %e, "encoding an event-stream message");
    }
    out
}

fn text(value: &str) -> HeaderValue {
    HeaderValue::String(value.to_string().into())
}

/// A server event (`ServerSessionInformationEvent`, `DisconnectionEvent`, ...) with its JSON body.
pub fn server_event(event_type: &str, body: &serde_json::Value) -> Vec<u8> {
    encode(
        vec![
            Header::new(":message-type", text("event")),
            Header::new(":event-type", text(event_type)),
            Header::new(":content-type", text("application/json")),
        ],
        body,
    )
}

/// An exception (`ValidationException`, `InternalServerException`, ...): the client raises it as an error.
pub fn exception(kind: &str, message: &str) -> Vec<u8> {
    encode(
        vec![
            Header::new(":message-type", text("exception")),
            Header::new(":exception-type", text(kind)),
            Header::new(":content-type", text("application/json")),
        ],
        &serde_json::json!({ "Message": message, "Code": kind }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// Two messages signed by the AWS SDK for JavaScript's own signer and codec (`@smithy/signature-v4` 5,
    /// `@smithy/eventstream-codec` 4, as `@aws-sdk/middleware-websocket` chains them), at 14:30:01 and 14:30:02 on
    /// 2026-12-07, after the presigned URL of `auth::sigv4`'s test: a `VideoEvent` (chunk `AAEC`), then the
    /// empty end message.
    const JS_VIDEO: &str = "AAAA6AAAAEOSU0NdBTpkYXRlCAAAAaJQ6V4oEDpjaHVuay1zaWduYXR1cmUGACA7gcltXc+xrhMPfL1YCwkDQmRAjgh\
        qY6Y6D6owKwRmdwAAAJUAAABQF68m/Qs6ZXZlbnQtdHlwZQcAClZpZGVvRXZlbnQNOm1lc3NhZ2UtdHlwZQcABWV2ZW50DTpjb250ZW50LXR5c\
        GUHABBhcHBsaWNhdGlvbi9qc29ueyJWaWRlb0NodW5rIjoiQUFFQyIsIlRpbWVzdGFtcE1pbGxpcyI6MTc5NjY1MzgwMDAwMH18ewx+h/viBA==";
    const JS_END: &str = "AAAAUwAAAEP1RHpYBTpkYXRlCAAAAaJQ6WIQEDpjaHVuay1zaWduYXR1cmUGACADnFXDlOf3wz3Flafhx8pWdg7pVKU\
        L/rpOWz+bttGP7CBW1/M=";
    const URL_SIGNATURE: &str = "c5ed8a3e92ac2a70ae731c105957d0da3ea0b163fcd82b67f521eb05e13651d8";

    fn bytes(b64: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(b64).expect("base64")
    }

    fn stream() -> SignedStream {
        let key = auth::sigv4::signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20261207",
            "us-east-1",
            "rekognition",
        );
        SignedStream::new(key, "20261207/us-east-1/rekognition/aws4_request".into(), URL_SIGNATURE)
    }

    #[test]
    fn the_javascript_clients_chain_checks_out() {
        let mut s = stream();
        assert_eq!(
            s.open(&bytes(JS_VIDEO)),
            Ok(ClientEvent::Video { chunk: vec![0, 1, 2], timestamp_ms: 1_796_653_800_000 })
        );
        assert_eq!(s.open(&bytes(JS_END)), Ok(ClientEvent::End));
    }

    #[test]
    fn a_message_out_of_its_place_is_refused() {
        // The end message first: its signature follows the video's, not the URL's.
        assert_eq!(stream().open(&bytes(JS_END)), Err(StreamError::Signature));
        // The same message twice.
        let mut s = stream();
        s.open(&bytes(JS_VIDEO)).expect("first");
        assert_eq!(s.open(&bytes(JS_VIDEO)), Err(StreamError::Signature));
        // Another key, or a URL signed otherwise.
        let other = auth::sigv4::signing_key("another secret", "20261207", "us-east-1", "rekognition");
        let mut s = SignedStream::new(other, "20261207/us-east-1/rekognition/aws4_request".into(), URL_SIGNATURE);
        assert_eq!(s.open(&bytes(JS_VIDEO)), Err(StreamError::Signature));
        // A byte of the video changed: the frame's checksum or the signature refuses it.
        let mut altered = bytes(JS_VIDEO);
        let at = altered.len() - 20;
        altered[at] ^= 1;
        assert!(stream().open(&altered).is_err());
        assert!(matches!(stream().open(b"not a frame"), Err(StreamError::Frame(_))));
    }

    #[test]
    fn server_events_and_exceptions_read_back() {
        let body = serde_json::json!({"TimestampMillis": 1});
        let message = read_message_from(server_event("DisconnectionEvent", &body).as_slice()).expect("a message");
        assert_eq!(header(&message, ":event-type").ok(), Some(&text("DisconnectionEvent")));
        assert_eq!(header(&message, ":message-type").ok(), Some(&text("event")));
        assert_eq!(serde_json::from_slice::<serde_json::Value>(message.payload()).ok(), Some(body));
        let message = read_message_from(exception("ValidationException", "no").as_slice()).expect("a message");
        assert_eq!(header(&message, ":exception-type").ok(), Some(&text("ValidationException")));
        let body: serde_json::Value = serde_json::from_slice(message.payload()).expect("JSON");
        assert_eq!((body["Message"].as_str(), body["Code"].as_str()), (Some("no"), Some("ValidationException")));
    }
}
