//! Request bodies: every endpoint that takes images accepts them
//! - as `multipart/form-data` (file parts are images, other parts are options),
//! - as JSON, each image a base64 string (with or without a `data:image/...;base64,` prefix),
//! - or, for endpoints with one image, as the raw body (`image/*` or `application/octet-stream`) with the
//!   options in the query string.
//!
//! Options from the query string are merged under those of the body, then deserialised into the endpoint's
//! options struct (unknown fields rejected, so a misspelt option is an error rather than silently ignored).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use app::error::{ApiError, Code};

use crate::http_error::HttpError;
use app::state::AppState;

/// The body of a request with images and options, whatever its encoding.
#[derive(Debug, Default)]
pub struct Payload {
    images: HashMap<String, Vec<Bytes>>,
    /// The raw body, when the request was an image itself.
    raw: Option<Bytes>,
    fields: Map<String, Value>,
    /// An image was taken already: a missing one cannot be the raw body (that holds one image).
    took_image: bool,
}

impl Payload {
    /// A payload built in code (the Rekognition API translates its requests into the `/v1` handlers' payloads).
    pub fn from_parts(images: Vec<(&str, Bytes)>, fields: Map<String, Value>) -> Self {
        let mut by_name: HashMap<String, Vec<Bytes>> = HashMap::new();
        for (name, bytes) in images {
            by_name.entry(name.to_string()).or_default().push(bytes);
        }
        Payload { images: by_name, raw: None, fields, took_image: false }
    }

    /// Takes the image called `name`: a multipart file, a base64 JSON string, or the raw body (which stands for
    /// the endpoint's first image).
    pub fn take_image(&mut self, name: &str) -> Result<Bytes, ApiError> {
        let image = self.find_image(name);
        self.took_image |= image.is_ok();
        image
    }

    fn find_image(&mut self, name: &str) -> Result<Bytes, ApiError> {
        if let Some(mut files) = self.images.remove(name) {
            if files.len() > 1 {
                return Err(ApiError::new(Code::InvalidRequest, format!("`{name}` is one image, not several")));
            }
            if let Some(bytes) = files.pop() {
                return Ok(bytes);
            }
        }
        match self.fields.remove(name) {
            Some(Value::String(s)) => return decode_base64(name, &s),
            Some(Value::Null) | None => {}
            Some(_) => {
                return Err(ApiError::new(
                    Code::InvalidRequest,
                    format!("`{name}` must be a base64 string (or a multipart file)"),
                ))
            }
        }
        if let Some(raw) = self.raw.take() {
            return Ok(raw);
        }
        // The raw body is a way to send the only image of a request that sent nothing else.
        let ways = if self.took_image || !self.images.is_empty() || !self.fields.is_empty() {
            "a multipart file or a base64 JSON field"
        } else {
            "a multipart file, base64 JSON or the raw body"
        };
        Err(ApiError::new(Code::MissingImage, format!("the request has no `{name}` image (send it as {ways})")))
    }

    /// Takes every image called `name`: repeated multipart files, or a JSON array of base64 strings (or one
    /// string), or the raw body. Empty when there is none.
    pub fn take_images(&mut self, name: &str) -> Result<Vec<Bytes>, ApiError> {
        let mut out = self.images.remove(name).unwrap_or_default();
        match self.fields.remove(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => out.push(decode_base64(name, &s)?),
            Some(Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(s) => out.push(decode_base64(&format!("{name}[{i}]"), &s)?),
                        _ => {
                            return Err(ApiError::new(
                                Code::InvalidRequest,
                                format!("`{name}[{i}]` must be a base64 string"),
                            ))
                        }
                    }
                }
            }
            Some(_) => {
                return Err(ApiError::new(
                    Code::InvalidRequest,
                    format!("`{name}` must be a list of base64 strings (or multipart files)"),
                ))
            }
        }
        // A raw image body stands for the endpoint's image(s) when nothing else named them.
        if out.is_empty() {
            out.extend(self.raw.take());
        }
        self.took_image |= !out.is_empty();
        Ok(out)
    }

    /// The remaining fields as the endpoint's options.
    pub fn options<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        if let Some(name) = self.images.keys().next() {
            return Err(ApiError::new(Code::InvalidRequest, format!("unexpected image `{name}`")));
        }
        let fields = std::mem::take(&mut self.fields);
        serde_json::from_value(Value::Object(fields))
            .map_err(|e| ApiError::new(Code::InvalidRequest, format!("invalid request: {e}")))
    }
}

/// Decodes base64 (standard or URL-safe alphabet, padding optional, whitespace ignored), after an optional
/// `data:<type>;base64,` prefix.
pub fn decode_base64(name: &str, s: &str) -> Result<Bytes, ApiError> {
    let body = match s.strip_prefix("data:") {
        Some(rest) => match rest.split_once(',') {
            Some((meta, data)) if meta.ends_with(";base64") => data,
            _ => {
                return Err(ApiError::new(
                    Code::InvalidBase64,
                    format!("`{name}`: a data URL must look like data:image/jpeg;base64,..."),
                ))
            }
        },
        None => s,
    };
    let cleaned: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let cleaned: Vec<u8> =
        cleaned.strip_suffix(b"==").or_else(|| cleaned.strip_suffix(b"=")).unwrap_or(&cleaned).to_vec();
    let engine = if cleaned.iter().any(|&b| b == b'-' || b == b'_') {
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
    } else {
        &base64::engine::general_purpose::STANDARD_NO_PAD
    };
    engine
        .decode(&cleaned)
        .map(Bytes::from)
        .map_err(|e| ApiError::new(Code::InvalidBase64, format!("`{name}` is not valid base64: {e}")))
}

/// A multipart text part or query value as JSON: numbers, booleans and JSON objects/arrays are parsed,
/// anything else is a string.
fn text_value(s: &str) -> Value {
    let t = s.trim();
    let looks_json = t.starts_with('{') || t.starts_with('[') || t == "true" || t == "false" || t == "null";
    let looks_number = t.parse::<f64>().is_ok() && !t.is_empty();
    if looks_json || looks_number {
        if let Ok(v) = serde_json::from_str(t) {
            return v;
        }
    }
    Value::String(s.to_string())
}

/// The query's fields, their text checked and normalised (see [`crate::text_input`]).
fn clean_query(query: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let mut fields = Value::Object(query_fields(query));
    crate::text_input::clean_json("", &mut fields)?;
    match fields {
        Value::Object(map) => Ok(map),
        _ => Ok(Map::new()),
    }
}

fn query_fields(query: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            let s = s.replace('+', " ");
            percent_decode(&s)
        };
        out.insert(decode(k), text_value(&decode(v)));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// After the limit, up to this much more is read and dropped before answering 413, so that the client (still
/// sending) reads the answer instead of a connection reset; beyond it the connection is simply closed.
const DRAIN_AFTER_LIMIT: usize = 32 << 20;

/// The whole body, or 413 when it is over `limit` bytes, or 408 when it has not arrived within `timeout`
/// (slow-body clients; the connection is then closed).
pub(crate) async fn read_body(
    body: axum::body::Body,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(timeout, read_body_within(body, limit)).await {
        Ok(read) => read,
        Err(_) => Err(ApiError::new(
            Code::RequestTimeout,
            format!("the request body did not arrive within {} seconds", timeout.as_secs()),
        )),
    }
}

async fn read_body_within(body: axum::body::Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let mut body = body;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::new(Code::InvalidBody, format!("the request body could not be read: {e}")))?;
        let Ok(data) = frame.into_data() else { continue };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            if seen > limit.saturating_add(DRAIN_AFTER_LIMIT) {
                break;
            }
            buf.clear();
            continue;
        }
        buf.extend_from_slice(&data);
    }
    if seen > limit {
        return Err(body_error_too_large());
    }
    Ok(buf.freeze())
}

/// Reads and drops a body nobody will use — at most `DRAIN_AFTER_LIMIT` bytes within `timeout`; past either the
/// connection is simply closed.
pub(crate) async fn discard_body(body: axum::body::Body, timeout: std::time::Duration) {
    let _ = tokio::time::timeout(timeout, read_body_within(body, 0)).await;
}

impl FromRequest<AppState> for Payload {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Payload::read(req, state, state.body_limit()).await?)
    }
}

/// Bytes a body of options alone (no images) may have: 1 MiB holds the longest list of face ids (4,096) many
/// times over; an anonymous route that reads one must not read the ~46 MB an image route may.
pub const OPTIONS_BODY_LIMIT: usize = 1 << 20;

impl Payload {
    /// The request's fields and images, from a body of at most `limit` bytes.
    async fn read(req: Request, state: &AppState, limit: usize) -> Result<Self, ApiError> {
        let mut payload = Payload { fields: clean_query(req.uri().query())?, ..Payload::default() };
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .unwrap_or_default();
        let (parts, body) = req.into_parts();
        let bytes = read_body(body, limit, state.body_timeout()).await?;
        match content_type.as_str() {
            "multipart/form-data" => {
                let req = Request::from_parts(parts, axum::body::Body::from(bytes));
                let mut multipart = Multipart::from_request(req, state).await.map_err(|e| {
                    ApiError::new(Code::InvalidMultipart, format!("invalid multipart body: {}", e.body_text()))
                })?;
                while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
                    let name = field.name().unwrap_or("").to_string();
                    let is_file = field.file_name().is_some()
                        || field.content_type().is_some_and(|t| !t.starts_with("text/") && t != "application/json");
                    let data = field.bytes().await.map_err(multipart_error)?;
                    if is_file {
                        payload.images.entry(name).or_default().push(data);
                    } else {
                        let text = std::str::from_utf8(&data).map_err(|_| {
                            ApiError::new(Code::InvalidMultipart, format!("part `{name}` is not UTF-8 text"))
                        })?;
                        let mut value = text_value(text);
                        crate::text_input::clean_json(&name, &mut value)?;
                        payload.fields.insert(name, value);
                    }
                }
            }
            "" | "application/json" => {
                if bytes.is_empty() && content_type.is_empty() {
                    return Ok(payload);
                }
                match json_body(&bytes)? {
                    Value::Object(map) => payload.fields.extend(map),
                    _ => return Err(ApiError::new(Code::InvalidJson, "the JSON body must be an object")),
                }
            }
            t if t.starts_with("image/") || t == "application/octet-stream" => {
                payload.raw = Some(bytes);
            }
            other => {
                return Err(ApiError::new(
                    Code::UnsupportedMediaType,
                    format!(
                        "content type {other:?} is not accepted: use application/json, multipart/form-data, \
                         or an image type for a raw image"
                    ),
                ))
            }
        }
        Ok(payload)
    }
}

/// A JSON body, its text checked and normalised (see [`crate::text_input`]).
fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    let mut value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(Code::InvalidJson, format!("the body is not valid JSON: {e}")))?;
    crate::text_input::clean_json("", &mut value)?;
    Ok(value)
}

fn body_error_too_large() -> ApiError {
    ApiError::new(Code::PayloadTooLarge, "the request body is over the size limit")
}

fn multipart_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        body_error_too_large()
    } else {
        ApiError::new(Code::InvalidMultipart, format!("invalid multipart body: {}", e.body_text()))
    }
}

/// A JSON body whose fields carry images (base64), as the compat doors take them, with the same error shape.
pub struct JsonBody<T>(pub T);

/// A body of options alone, no images (collection creation and the like): at most [`OPTIONS_BODY_LIMIT`] bytes,
/// JSON or form fields.
pub struct OptionsBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionsBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut payload = Payload::read(req, state, OPTIONS_BODY_LIMIT).await?;
        if payload.raw.is_some() || !payload.images.is_empty() {
            return Err(ApiError::new(Code::UnsupportedMediaType, "this endpoint takes a JSON body of options").into());
        }
        Ok(payload.options().map(OptionsBody)?)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let mut payload = Payload::read(req, state, state.body_limit()).await?;
        if payload.raw.is_some() {
            return Err(ApiError::new(Code::UnsupportedMediaType, "this endpoint takes a JSON body").into());
        }
        Ok(payload.options().map(JsonBody)?)
    }
}

/// Options from the query string alone (GET and DELETE endpoints), with the API's error shape.
pub struct QueryOptions<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for QueryOptions<T> {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let fields = clean_query(parts.uri.query())?;
        serde_json::from_value(Value::Object(fields))
            .map(QueryOptions)
            .map_err(|e| ApiError::new(Code::InvalidRequest, format!("invalid query: {e}")).into())
    }
}

/// An image field as documented in the API: base64 in JSON. (The value itself is taken out of the request
/// before the options are read; this type only gives it a place in the schema.)
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageField;

impl<'de> Deserialize<'de> for ImageField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| ImageField)
    }
}

/// Accepts a string or a number (multipart and query values such as an external id `1234`).
pub fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(serde::de::Error::custom("expected a string")),
    }
}

/// Any JSON value as the body (an object, or the JSON string some clients send holding one), read under the body
/// limit and timeout, its text checked like every other input.
pub struct AnyJson(pub Value);

impl FromRequest<AppState> for AnyJson {
    type Rejection = HttpError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req.into_body(), state.body_limit(), state.body_timeout()).await?;
        Ok(AnyJson(json_body(&bytes)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_variants() {
        let want = b"\xff\xd8\xff\xe0 hello?>";
        let std = base64::engine::general_purpose::STANDARD.encode(want);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(want);
        assert_eq!(&decode_base64("i", &std).unwrap()[..], want);
        assert_eq!(&decode_base64("i", &url).unwrap()[..], want);
        assert_eq!(&decode_base64("i", &format!("data:image/jpeg;base64,{std}")).unwrap()[..], want);
        let wrapped: String =
            std.chars().enumerate().flat_map(|(i, c)| if i % 4 == 3 { vec![c, '\n'] } else { vec![c] }).collect();
        assert_eq!(&decode_base64("i", &wrapped).unwrap()[..], want);
        assert_eq!(decode_base64("i", "not base64!").unwrap_err().code, app::error::Code::InvalidBase64);
        assert_eq!(decode_base64("i", "data:image/jpeg,abc").unwrap_err().code, app::error::Code::InvalidBase64);
    }

    #[test]
    fn text_values_and_queries() {
        assert_eq!(text_value("12"), Value::from(12));
        assert_eq!(text_value("true"), Value::Bool(true));
        assert_eq!(text_value("{\"a\":1}"), serde_json::json!({"a": 1}));
        assert_eq!(text_value("bob"), Value::from("bob"));
        assert_eq!(text_value("{oops"), Value::from("{oops"));
        let q = query_fields(Some("externalId=J%C3%BCrgen+K&maxFaces=3&flag"));
        assert_eq!(q["externalId"], Value::from("Jürgen K"));
        assert_eq!(q["maxFaces"], Value::from(3));
        assert_eq!(q["flag"], Value::from(""));
        assert_eq!(percent_decode("100%"), "100%");
    }
}
