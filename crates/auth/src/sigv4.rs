//! AWS Signature Version 4, checked on the server side (what an AWS SDK sends as
//! `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`).
//!
//! The canonical request is rebuilt from the request as received — method, path (each segment URI-encoded again,
//! as for every service but S3), sorted query, the signed headers (lower-cased names, trimmed values with runs of
//! spaces collapsed), the signed header list and the payload's SHA-256 — then hashed into the string to sign under
//! the credential scope, and signed with the key derived from the secret by the HMAC chain
//! `"AWS4" + secret → date → region → service → "aws4_request"`. Signatures are compared in constant time.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::secret::{secrets_equal, to_hex};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Requests signed further than this from the server's clock are refused (AWS uses 15 minutes).
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    #[error("the Authorization header is not an AWS4-HMAC-SHA256 signature: {0}")]
    Malformed(&'static str),
    #[error("the X-Amz-Date header is missing or not of the form YYYYMMDD'T'HHMMSS'Z'")]
    BadDate,
    #[error("the credential scope's date does not match X-Amz-Date")]
    ScopeDate,
    #[error("the credential should be scoped to the service {expected:?}, not {found:?}")]
    WrongService { expected: String, found: String },
    #[error("the credential should be scoped to a valid region, not {0:?}")]
    BadRegion(String),
    #[error("the credential's region {0:?} is not one this server accepts")]
    RegionNotAccepted(String),
    #[error("the request was signed at {0}, too far from the server's time")]
    Skew(String),
    #[error("the signed headers must include {0}")]
    MissingSignedHeader(String),
    #[error("a signed header is missing from the request: {0}")]
    AbsentHeader(String),
    #[error("the request carries the header {0} more than once")]
    DuplicateHeader(String),
    #[error("the header {0} is signed or authenticates the request but its value is not text")]
    HeaderNotText(String),
    #[error("the request signature does not match")]
    Mismatch,
}

impl SigV4Error {
    /// Whether the request is not a complete signature at all (AWS's `IncompleteSignatureException`: a malformed
    /// `Authorization`, a header that must be signed but is not, missing or ambiguous), as opposed to a signature
    /// that is well formed but wrong, expired or scoped elsewhere (`InvalidSignatureException`).
    pub fn is_incomplete(&self) -> bool {
        matches!(
            self,
            SigV4Error::Malformed(_)
                | SigV4Error::BadDate
                | SigV4Error::MissingSignedHeader(_)
                | SigV4Error::AbsentHeader(_)
                | SigV4Error::DuplicateHeader(_)
                | SigV4Error::HeaderNotText(_)
        )
    }
}

/// What a server accepts of a signature beyond its arithmetic: the service it answers for, the regions it serves,
/// and the headers that carry meaning and so must be signed. `host` and `x-amz-date` always must.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// The credential scope's service, e.g. `rekognition`.
    pub service: &'a str,
    /// The regions accepted in the credential scope; empty: any well-formed region (see [`valid_region`]).
    pub regions: &'a [String],
    /// Lower-case names of headers that must be signed, beyond `host` and `x-amz-date` (e.g. `x-amz-target`).
    pub signed_headers: &'a [&'a str],
}

/// Headers every request must sign.
pub const ALWAYS_SIGNED: [&str; 2] = ["host", "x-amz-date"];

impl Policy<'_> {
    /// Whether a request may carry the header `name` at most once: the headers that must be signed, and
    /// `Authorization` (two of one of them leave it ambiguous which one was signed, or which one is acted on).
    pub fn single_valued(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case("authorization")
            || ALWAYS_SIGNED.iter().chain(self.signed_headers).any(|h| h.eq_ignore_ascii_case(name))
    }
}

/// A region name as AWS writes them (`us-east-1`, `eu-central-1`, `us-gov-west-1`): lower-case letters, digits
/// and dashes, starting and ending with a letter or digit, at most 64 characters.
pub fn valid_region(region: &str) -> bool {
    let b = region.as_bytes();
    let inner = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 64
        && b.iter().all(|c| inner(c) || *c == b'-')
        && b.first().is_some_and(inner)
        && b.last().is_some_and(inner)
}

/// The parts of the `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower-case header names, as listed (sorted by the signer).
    pub signed_headers: Vec<String>,
    /// Hex.
    pub signature: String,
}

impl Authorization {
    pub fn scope(&self) -> String {
        format!("{}/{}/{}/aws4_request", self.date, self.region, self.service)
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=AKID/20261122/us-east-1/rekognition/aws4_request, SignedHeaders=a;b,
/// Signature=hex`.
pub fn parse_authorization(value: &str) -> Result<Authorization, SigV4Error> {
    let rest = value.trim().strip_prefix(ALGORITHM).ok_or(SigV4Error::Malformed("another algorithm"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(SigV4Error::Malformed("a part without ="))?;
        match k.trim() {
            "Credential" => credential = Some(v.trim()),
            "SignedHeaders" => signed = Some(v.trim()),
            "Signature" => signature = Some(v.trim()),
            _ => return Err(SigV4Error::Malformed("an unknown part")),
        }
    }
    let credential = credential.ok_or(SigV4Error::Malformed("no Credential"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [key, date, region, service, terminal] = parts[..] else {
        return Err(SigV4Error::Malformed("the Credential is not KEY/DATE/REGION/SERVICE/aws4_request"));
    };
    if terminal != "aws4_request" || key.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::Malformed("the Credential is not KEY/DATE/REGION/SERVICE/aws4_request"));
    }
    let signature = signature.ok_or(SigV4Error::Malformed("no Signature"))?;
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SigV4Error::Malformed("the Signature is not 64 hex digits"));
    }
    let signed_headers: Vec<String> =
        signed.ok_or(SigV4Error::Malformed("no SignedHeaders"))?.split(';').map(|h| h.to_ascii_lowercase()).collect();
    if signed_headers.iter().any(String::is_empty) {
        return Err(SigV4Error::Malformed("an empty signed header name"));
    }
    Ok(Authorization {
        access_key_id: key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// The request as received.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Every header (any case).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

fn uri_encode(s: &[u8], keep_slash: bool) -> String {
    let mut out = String::new();
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(&percent_decode(k), false), uri_encode(&percent_decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    // Every segment encoded again (the path arrives encoded once).
    path.split('/').map(|seg| uri_encode(seg.as_bytes(), false)).collect::<Vec<_>>().join("/")
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
}

fn trim_all(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request (step 1 of signing).
pub fn canonical_request(req: &Request<'_>, signed_headers: &[String]) -> Result<String, SigV4Error> {
    let mut headers = String::new();
    for name in signed_headers {
        let values = header_value(req.headers, name);
        if values.is_empty() {
            return Err(SigV4Error::AbsentHeader(name.clone()));
        }
        let joined = values.iter().map(|v| trim_all(v)).collect::<Vec<_>>().join(",");
        headers.push_str(&format!("{name}:{joined}\n"));
    }
    // The body's hash, always computed here: a client-declared `x-amz-content-sha256` is only a signed header.
    let payload = to_hex(&Sha256::digest(req.body));
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.path),
        canonical_query(req.query),
        headers,
        signed_headers.join(";"),
        payload
    ))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key for a scope.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The signature of a request (hex), as a signer computes it.
pub fn sign(req: &Request<'_>, auth: &Authorization, amz_date: &str, secret: &str) -> Result<String, SigV4Error> {
    let canonical = canonical_request(req, &auth.signed_headers)?;
    let to_sign =
        format!("{ALGORITHM}\n{amz_date}\n{}\n{}", auth.scope(), to_hex(&Sha256::digest(canonical.as_bytes())));
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    Ok(to_hex(&hmac(&key, to_sign.as_bytes())))
}

/// Seconds since the epoch of an `X-Amz-Date` (`20261122T143000Z`).
pub fn parse_amz_date(v: &str) -> Option<i64> {
    let b = v.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| v.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(4..6)?, num(6..8)?, num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y2, m2) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

/// The credential scope against `policy` (its service, a well-formed and accepted region) and the day of
/// `amz_date`; returns that time in seconds since the epoch.
fn check_scope(auth: &Authorization, policy: &Policy<'_>, amz_date: &str) -> Result<i64, SigV4Error> {
    if auth.service != policy.service {
        return Err(SigV4Error::WrongService { expected: policy.service.to_string(), found: auth.service.clone() });
    }
    if !valid_region(&auth.region) {
        return Err(SigV4Error::BadRegion(auth.region.clone()));
    }
    if !policy.regions.is_empty() && !policy.regions.contains(&auth.region) {
        return Err(SigV4Error::RegionNotAccepted(auth.region.clone()));
    }
    let at = parse_amz_date(amz_date).ok_or(SigV4Error::BadDate)?;
    if amz_date.get(..8) != Some(auth.date.as_str()) {
        return Err(SigV4Error::ScopeDate);
    }
    Ok(at)
}

/// Everything about a signed request but the signature itself, at server time `now` (seconds since the epoch):
/// the headers that must be signed are signed and present once each, the credential scope names the policy's
/// service, an accepted region and the day of `X-Amz-Date`, and that time is within [`MAX_SKEW_SECONDS`] of `now`.
/// Needs no secret, so it can run before the access key is looked up. Returns the `X-Amz-Date` value.
pub fn check(req: &Request<'_>, auth: &Authorization, policy: &Policy<'_>, now: i64) -> Result<String, SigV4Error> {
    for name in ["authorization"].iter().chain(&ALWAYS_SIGNED).chain(policy.signed_headers) {
        if header_value(req.headers, name).len() > 1 {
            return Err(SigV4Error::DuplicateHeader(name.to_ascii_lowercase()));
        }
    }
    for required in ALWAYS_SIGNED.iter().chain(policy.signed_headers) {
        if !auth.signed_headers.iter().any(|h| h.eq_ignore_ascii_case(required)) {
            return Err(SigV4Error::MissingSignedHeader(required.to_ascii_lowercase()));
        }
    }
    let amz_date =
        header_value(req.headers, "x-amz-date").first().map(|v| v.trim().to_string()).ok_or(SigV4Error::BadDate)?;
    let at = check_scope(auth, policy, &amz_date)?;
    if (now - at).abs() > MAX_SKEW_SECONDS {
        return Err(SigV4Error::Skew(amz_date));
    }
    Ok(amz_date)
}

/// Verifies a request's signature with `secret`, at server time `now` (seconds since the epoch), after
/// [`check`]ing it against `policy`.
pub fn verify(
    req: &Request<'_>,
    auth: &Authorization,
    secret: &str,
    now: i64,
    policy: &Policy<'_>,
) -> Result<(), SigV4Error> {
    let amz_date = check(req, auth, policy, now)?;
    let expected = sign(req, auth, &amz_date, secret)?;
    if !secrets_equal(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(SigV4Error::Mismatch);
    }
    Ok(())
}

/// The longest life a presigned request may declare (`X-Amz-Expires`), as AWS allows: seven days.
pub const MAX_PRESIGNED_SECONDS: i64 = 7 * 86_400;

/// A presigned request's authentication, from its query string (`X-Amz-Algorithm`, `X-Amz-Credential`,
/// `X-Amz-Date`, `X-Amz-Expires`, `X-Amz-SignedHeaders`, `X-Amz-Signature`, and `X-Amz-Security-Token` when the
/// signer held temporary credentials): what a browser's WebSocket carries, since it cannot set headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub auth: Authorization,
    /// `X-Amz-Date`.
    pub amz_date: String,
    /// `X-Amz-Expires`: seconds from `X-Amz-Date`.
    pub expires: i64,
    pub security_token: Option<String>,
}

/// The query's parameters, decoded, in order.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let text = |s: &str| String::from_utf8_lossy(&percent_decode(s)).into_owned();
            (text(k), text(v))
        })
        .collect()
}

/// Parses a presigned request's query authentication. Each parameter must come once.
pub fn parse_presigned(query: &str) -> Result<Presigned, SigV4Error> {
    let pairs = query_pairs(query);
    let one = |name: &'static str| -> Result<Option<&str>, SigV4Error> {
        let mut found = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = found.next();
        match found.next() {
            Some(_) => Err(SigV4Error::DuplicateHeader(name.to_ascii_lowercase())),
            None => Ok(first),
        }
    };
    let need = |name: &'static str| one(name)?.ok_or(SigV4Error::Malformed("a presigned query parameter is missing"));
    if need("X-Amz-Algorithm")? != ALGORITHM {
        return Err(SigV4Error::Malformed("another algorithm"));
    }
    let header = format!(
        "{ALGORITHM} Credential={}, SignedHeaders={}, Signature={}",
        need("X-Amz-Credential")?,
        need("X-Amz-SignedHeaders")?,
        need("X-Amz-Signature")?
    );
    let auth = parse_authorization(&header)?;
    let expires = need("X-Amz-Expires")?
        .parse::<i64>()
        .ok()
        .filter(|e| (1..=MAX_PRESIGNED_SECONDS).contains(e))
        .ok_or(SigV4Error::Malformed("X-Amz-Expires is not a number of seconds up to seven days"))?;
    Ok(Presigned {
        auth,
        amz_date: need("X-Amz-Date")?.to_string(),
        expires,
        security_token: one("X-Amz-Security-Token")?.map(str::to_string),
    })
}

/// What a presigned request asks for: its method, its path and raw query as sent, and the host it was signed for.
#[derive(Debug, Clone, Copy)]
pub struct PresignedTarget<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub host: &'a str,
}

/// Verifies a presigned request with `secret` at server time `now` (seconds since the epoch): `host` is signed
/// (with the value `host`), the credential scope names the policy's service, an accepted region and the day of
/// `X-Amz-Date`, the request was signed no later than [`MAX_SKEW_SECONDS`] ahead of `now` and has not expired, and
/// the signature matches the canonical request — the query without `X-Amz-Signature`, the `host` header, and the
/// SHA-256 of an empty payload (what the AWS SDKs presign a WebSocket's request with).
pub fn verify_presigned(
    target: &PresignedTarget<'_>,
    presigned: &Presigned,
    secret: &str,
    now: i64,
    policy: &Policy<'_>,
) -> Result<(), SigV4Error> {
    let PresignedTarget { method, path, query, host } = *target;
    let auth = &presigned.auth;
    for required in std::iter::once(&"host").chain(policy.signed_headers) {
        if !auth.signed_headers.iter().any(|h| h.eq_ignore_ascii_case(required)) {
            return Err(SigV4Error::MissingSignedHeader(required.to_ascii_lowercase()));
        }
    }
    let at = check_scope(auth, policy, &presigned.amz_date)?;
    if at - now > MAX_SKEW_SECONDS || now > at + presigned.expires {
        return Err(SigV4Error::Skew(presigned.amz_date.clone()));
    }
    let unsigned: Vec<&str> =
        query.split('&').filter(|p| !p.is_empty() && p.split('=').next() != Some("X-Amz-Signature")).collect();
    // Only `host` is a header of a presigned request; the other signed names would be query parameters.
    let headers = [("host".to_string(), host.to_string())];
    let request = Request { method, path, query: &unsigned.join("&"), headers: &headers, body: b"" };
    let expected = sign(&request, auth, &presigned.amz_date, secret)?;
    if !secrets_equal(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(SigV4Error::Mismatch);
    }
    Ok(())
}

/// `YYYYMMDD'T'HHMMSS'Z'` of a time in seconds since the epoch (the inverse of [`parse_amz_date`]).
pub fn format_amz_date(seconds: i64) -> String {
    let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // The civil date of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The signature (hex) of one message of a signed event stream, chained from the `prior` one (the first from the
/// request's own signature): `AWS4-HMAC-SHA256-PAYLOAD`, the message's date, the credential scope, the prior
/// signature, the SHA-256 of its encoded headers (the `:date` header) and of its payload, signed with the
/// request's signing key.
pub fn event_signature(
    key: &[u8; 32],
    amz_date: &str,
    scope: &str,
    prior: &str,
    encoded_headers: &[u8],
    payload: &[u8],
) -> String {
    let to_sign = format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prior}\n{}\n{}",
        to_hex(&Sha256::digest(encoded_headers)),
        to_hex(&Sha256::digest(payload))
    );
    to_hex(&hmac(key, to_sign.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    // 2026-11-22T14:30:00Z
    const NOW: i64 = 1_795_357_800;
    /// What the Rekognition-compatible endpoint asks of signatures.
    const REKOGNITION: Policy<'static> =
        Policy { service: "rekognition", regions: &[], signed_headers: &["x-amz-target"] };
    /// Only `host` and `x-amz-date` signed (the GET request below has no target).
    const ANY_OPERATION: Policy<'static> = Policy { service: "rekognition", regions: &[], signed_headers: &[] };

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Signatures made by botocore (the AWS SDK for Python) for these exact requests, with the clock fixed at
    /// 2026-11-22T14:30:00Z: an independent implementation to agree with.
    fn botocore_post() -> (Vec<(String, String)>, &'static [u8], &'static str) {
        (
            headers(&[
                ("Host", "127.0.0.1:8080"),
                ("Content-Type", "application/x-amz-json-1.1"),
                ("X-Amz-Target", "RekognitionService.CreateCollection"),
                ("X-Amz-Date", "20261122T143000Z"),
                ("Content-Length", "24"),
            ]),
            br#"{"CollectionId":"staff"}"#,
            "AWS4-HMAC-SHA256 Credential=AKIDFACEGATETEST/20261122/eu-west-1/rekognition/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
             Signature=c36d39b978695ef69d7dc90f2f02c60c698e94e84f7d2691cfc7c27f76f7b777",
        )
    }

    #[test]
    fn agrees_with_botocore() {
        assert_eq!(parse_amz_date("20261122T143000Z"), Some(NOW));
        let (h, body, authz) = botocore_post();
        let auth = parse_authorization(authz).unwrap();
        assert_eq!(
            (auth.access_key_id.as_str(), auth.region.as_str(), auth.service.as_str()),
            ("AKIDFACEGATETEST", "eu-west-1", "rekognition")
        );
        let req = Request { method: "POST", path: "/", query: "", headers: &h, body };
        verify(&req, &auth, SECRET, NOW, &REKOGNITION).unwrap();
        // A path with an encoded space and a query with repeated, unsorted and encoded parameters.
        let h = headers(&[("Host", "localhost:9000"), ("X-Amz-Date", "20261122T143000Z")]);
        let auth = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIDFACEGATETEST/20261122/eu-west-1/rekognition/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=cc4e7d48455bd15288e8c72841b26d40742a1a26d2bc396520aafd5e74d4e954",
        )
        .unwrap();
        let req =
            Request { method: "GET", path: "/some%20path/x", query: "b=2&a=1&a=0&sp=a%20b", headers: &h, body: b"" };
        verify(&req, &auth, SECRET, NOW, &ANY_OPERATION).unwrap();
    }

    #[test]
    fn refuses_what_was_not_signed() {
        let (h, body, authz) = botocore_post();
        let auth = parse_authorization(authz).unwrap();
        let ok = Request { method: "POST", path: "/", query: "", headers: &h, body };
        assert_eq!(verify(&ok, &auth, "another secret", NOW, &REKOGNITION), Err(SigV4Error::Mismatch));
        let tampered = Request { body: br#"{"CollectionId":"other"}"#, ..ok.clone() };
        assert_eq!(verify(&tampered, &auth, SECRET, NOW, &REKOGNITION), Err(SigV4Error::Mismatch));
        let retargeted = headers(&[
            ("Host", "127.0.0.1:8080"),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "RekognitionService.DeleteCollection"),
            ("X-Amz-Date", "20261122T143000Z"),
        ]);
        assert_eq!(
            verify(&Request { headers: &retargeted, ..ok.clone() }, &auth, SECRET, NOW, &REKOGNITION),
            Err(SigV4Error::Mismatch)
        );
        assert!(matches!(
            verify(&ok, &auth, SECRET, NOW + MAX_SKEW_SECONDS + 1, &REKOGNITION),
            Err(SigV4Error::Skew(_))
        ));
        assert!(matches!(
            verify(&ok, &auth, SECRET, NOW - MAX_SKEW_SECONDS - 1, &REKOGNITION),
            Err(SigV4Error::Skew(_))
        ));
        let no_date: Vec<(String, String)> = h.iter().filter(|(k, _)| k != "X-Amz-Date").cloned().collect();
        assert_eq!(
            verify(&Request { headers: &no_date, ..ok }, &auth, SECRET, NOW, &REKOGNITION),
            Err(SigV4Error::BadDate)
        );
        let mut other_day = auth.clone();
        other_day.date = "20261121".into();
        assert_eq!(verify(&ok, &other_day, SECRET, NOW, &REKOGNITION), Err(SigV4Error::ScopeDate));
    }

    /// An `Authorization` for `h`/`body` signed correctly with SECRET over `signed` in the scope
    /// `date/region/service`: what a captured request's header holds.
    fn signed_auth(h: &[(String, String)], body: &[u8], signed: &str, scope: (&str, &str, &str)) -> Authorization {
        let (date, region, service) = scope;
        let mut auth = Authorization {
            access_key_id: "AKIDFACEGATETEST".into(),
            date: date.into(),
            region: region.into(),
            service: service.into(),
            signed_headers: signed.split(';').map(str::to_string).collect(),
            signature: String::new(),
        };
        let req = Request { method: "POST", path: "/", query: "", headers: h, body };
        auth.signature = sign(&req, &auth, "20261122T143000Z", SECRET).unwrap();
        auth
    }

    const TODAY: (&str, &str, &str) = ("20261122", "eu-west-1", "rekognition");

    #[test]
    fn host_date_and_target_must_be_signed() {
        let (h, body, _) = botocore_post();
        let req = Request { method: "POST", path: "/", query: "", headers: &h, body };
        // Correct signatures over too few headers: the arithmetic holds, the policy refuses them.
        for (signed, missing) in [
            ("content-type;host;x-amz-date", "x-amz-target"),
            ("content-type;x-amz-date;x-amz-target", "host"),
            ("content-type;host;x-amz-target", "x-amz-date"),
        ] {
            let auth = signed_auth(&h, body, signed, TODAY);
            assert_eq!(
                verify(&req, &auth, SECRET, NOW, &REKOGNITION),
                Err(SigV4Error::MissingSignedHeader(missing.into())),
                "{signed}"
            );
            assert!(SigV4Error::MissingSignedHeader(missing.into()).is_incomplete());
        }
        // The captured request without its target signed cannot be retargeted: it is refused before and after.
        let untargeted = signed_auth(&h, body, "content-type;host;x-amz-date", TODAY);
        let mut ignoring_target = ANY_OPERATION;
        verify(&req, &untargeted, SECRET, NOW, &ignoring_target).unwrap();
        let retargeted: Vec<(String, String)> = h
            .iter()
            .map(|(k, v)| match k.as_str() {
                "X-Amz-Target" => (k.clone(), "RekognitionService.DeleteCollection".to_string()),
                _ => (k.clone(), v.clone()),
            })
            .collect();
        let retargeted = Request { headers: &retargeted, ..req.clone() };
        assert_eq!(
            verify(&retargeted, &untargeted, SECRET, NOW, &REKOGNITION),
            Err(SigV4Error::MissingSignedHeader("x-amz-target".into()))
        );
        // Listed but absent from the request.
        let no_target: Vec<(String, String)> = h.iter().filter(|(k, _)| k != "X-Amz-Target").cloned().collect();
        let auth = signed_auth(&h, body, "content-type;host;x-amz-date;x-amz-target", TODAY);
        assert_eq!(
            verify(&Request { headers: &no_target, ..req.clone() }, &auth, SECRET, NOW, &REKOGNITION),
            Err(SigV4Error::AbsentHeader("x-amz-target".into()))
        );
        // Header names compare in any case.
        ignoring_target.signed_headers = &["X-Amz-Target"];
        verify(&req, &auth, SECRET, NOW, &ignoring_target).unwrap();
    }

    #[test]
    fn the_scope_names_this_service_an_accepted_region_and_the_day() {
        let (h, body, _) = botocore_post();
        let req = Request { method: "POST", path: "/", query: "", headers: &h, body };
        let all = "content-type;host;x-amz-date;x-amz-target";
        let s3 = signed_auth(&h, body, all, ("20261122", "eu-west-1", "s3"));
        assert_eq!(
            verify(&req, &s3, SECRET, NOW, &REKOGNITION),
            Err(SigV4Error::WrongService { expected: "rekognition".into(), found: "s3".into() })
        );
        // The day before, signed as such but sent with today's X-Amz-Date.
        let yesterday = signed_auth(&h, body, all, ("20261121", "eu-west-1", "rekognition"));
        assert_eq!(verify(&req, &yesterday, SECRET, NOW, &REKOGNITION), Err(SigV4Error::ScopeDate));
        for region in ["", "EU-WEST-1", "eu_west_1", "-eu-west-1", "eu-west-1-", "eu west 1"] {
            let auth = signed_auth(&h, body, all, ("20261122", region, "rekognition"));
            assert_eq!(
                verify(&req, &auth, SECRET, NOW, &REKOGNITION),
                Err(SigV4Error::BadRegion(region.into())),
                "{region:?}"
            );
        }
        // Any well-formed region by default; only the listed ones when the server lists some.
        let us = signed_auth(&h, body, all, ("20261122", "us-east-1", "rekognition"));
        verify(&req, &us, SECRET, NOW, &REKOGNITION).unwrap();
        let regions = ["eu-west-1".to_string(), "eu-central-1".to_string()];
        let listed = Policy { regions: &regions, ..REKOGNITION };
        assert_eq!(verify(&req, &us, SECRET, NOW, &listed), Err(SigV4Error::RegionNotAccepted("us-east-1".into())));
        verify(&req, &signed_auth(&h, body, all, TODAY), SECRET, NOW, &listed).unwrap();
        for e in [
            SigV4Error::WrongService { expected: "rekognition".into(), found: "s3".into() },
            SigV4Error::BadRegion(String::new()),
            SigV4Error::RegionNotAccepted("us-east-1".into()),
            SigV4Error::ScopeDate,
            SigV4Error::Mismatch,
        ] {
            assert!(!e.is_incomplete(), "{e}");
        }
    }

    #[test]
    fn headers_that_must_be_signed_come_once() {
        let (mut h, body, authz) = botocore_post();
        h.push(("Authorization".into(), authz.into()));
        let all = "content-type;host;x-amz-date;x-amz-target";
        for (name, value) in [
            ("x-amz-target", "RekognitionService.DeleteCollection"),
            ("X-AMZ-TARGET", "RekognitionService.CreateCollection"),
            ("host", "127.0.0.1:8080"),
            ("x-amz-date", "20261122T143000Z"),
            ("authorization", authz),
        ] {
            let mut twice = h.clone();
            twice.push((name.to_string(), value.to_string()));
            // Signed over both values (as the canonical request joins them), and still refused.
            let auth = signed_auth(&twice, body, all, TODAY);
            let req = Request { method: "POST", path: "/", query: "", headers: &twice, body };
            assert_eq!(
                verify(&req, &auth, SECRET, NOW, &REKOGNITION),
                Err(SigV4Error::DuplicateHeader(name.to_ascii_lowercase())),
                "{name}"
            );
            assert!(REKOGNITION.single_valued(name));
        }
        assert!(!REKOGNITION.single_valued("content-type"));
        // Other headers may repeat.
        let mut twice = h.clone();
        twice.push(("Content-Type".into(), "application/json".into()));
        let auth = signed_auth(&twice, body, all, TODAY);
        verify(
            &Request { method: "POST", path: "/", query: "", headers: &twice, body },
            &auth,
            SECRET,
            NOW,
            &REKOGNITION,
        )
        .unwrap();
    }

    #[test]
    fn regions_are_lowercase_letters_digits_and_dashes() {
        for ok in ["us-east-1", "eu-central-1", "us-gov-west-1", "ap-southeast-4", "auto", "local"] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in ["", "Us-east-1", "us_east_1", "us-east-1-", "-us", "us east", "eu-west-1\n", "é", &"a".repeat(65)]
        {
            assert!(!valid_region(bad), "{bad:?}");
        }
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "Bearer abc",
            "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/rekognition, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKID/2026112/eu-west-1/rekognition/aws4_request, SignedHeaders=host, Signature=\
             c36d39b978695ef69d7dc90f2f02c60c698e94e84f7d2691cfc7c27f76f7b777",
            "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/rekognition/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/rekognition/aws4_request, SignedHeaders=host;;x, \
             Signature=c36d39b978695ef69d7dc90f2f02c60c698e94e84f7d2691cfc7c27f76f7b777",
            "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/rekognition/aws4_request, SignedHeaders=host, \
             Signature=zz6d39b978695ef69d7dc90f2f02c60c698e94e84f7d2691cfc7c27f76f7b777",
        ] {
            assert!(parse_authorization(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_amz_date("2026-11-22T14:30:00Z"), None);
        assert_eq!(parse_amz_date("20261322T143000Z"), None);
        assert_eq!(percent_decode("%4"), b"%4".to_vec());
        assert_eq!(percent_decode("a%é"), "a%é".as_bytes().to_vec());
    }

    /// A presigned WebSocket request made by the AWS SDK for JavaScript's own signer (`@smithy/signature-v4`
    /// 5, `presign` with `body: ""` and only `host` signed, as `@aws-sdk/middleware-websocket` does), clock fixed
    /// at 2026-12-07T14:30:00Z, for `wss://localhost:8443`: an independent implementation to agree with.
    const JS_PRESIGNED: &str = "session-id=3a1f6a2e-8e1b-4a7e-9f55-2f0b7b7c1d11&challenge-versions=\
        FaceMovementAndLightChallenge_2.0.0%2CFaceMovementChallenge_1.0.0&video-width=640&video-height=480&\
        X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFACEGATETEST%2F20261207%2Fus-east-1%2Frekognition%2F\
        aws4_request&X-Amz-Date=20261207T143000Z&X-Amz-Expires=299&X-Amz-SignedHeaders=host&X-Amz-Signature=\
        c5ed8a3e92ac2a70ae731c105957d0da3ea0b163fcd82b67f521eb05e13651d8";
    const LIVENESS_PATH: &str = "/start-face-liveness-session-websocket";
    // 2026-12-07T14:30:00Z
    const SIGNED_AT: i64 = 1_796_653_800;

    #[test]
    fn presigned_requests_agree_with_the_javascript_sdk() {
        let p = parse_presigned(JS_PRESIGNED).unwrap();
        assert_eq!(
            (p.auth.access_key_id.as_str(), p.expires, p.auth.signed_headers.clone()),
            ("AKIDFACEGATETEST", 299, vec!["host".to_string()])
        );
        assert_eq!(format_amz_date(SIGNED_AT), "20261207T143000Z");
        let verify = |query: &str, host: &str, secret: &str, now: i64| {
            let target = PresignedTarget { method: "GET", path: LIVENESS_PATH, query, host };
            verify_presigned(&target, &parse_presigned(query)?, secret, now, &ANY_OPERATION)
        };
        verify(JS_PRESIGNED, "localhost", SECRET, SIGNED_AT + 10).unwrap();
        // The signed host has no port; another host, secret, path parameter or session is another request.
        assert_eq!(verify(JS_PRESIGNED, "localhost:8443", SECRET, SIGNED_AT), Err(SigV4Error::Mismatch));
        assert_eq!(verify(JS_PRESIGNED, "localhost", "another secret", SIGNED_AT), Err(SigV4Error::Mismatch));
        let other_session = JS_PRESIGNED.replace("2f0b7b7c1d11", "2f0b7b7c1d12");
        assert_eq!(verify(&other_session, "localhost", SECRET, SIGNED_AT), Err(SigV4Error::Mismatch));
        // Expired after its 299 seconds; not before it was signed (beyond the skew allowed).
        assert!(matches!(verify(JS_PRESIGNED, "localhost", SECRET, SIGNED_AT + 300), Err(SigV4Error::Skew(_))));
        verify(JS_PRESIGNED, "localhost", SECRET, SIGNED_AT + 299).unwrap();
        assert!(matches!(
            verify(JS_PRESIGNED, "localhost", SECRET, SIGNED_AT - MAX_SKEW_SECONDS - 1),
            Err(SigV4Error::Skew(_))
        ));
        // Parameters that must come once, and a life of at most seven days.
        let twice = format!("{JS_PRESIGNED}&X-Amz-Date=20261207T143000Z");
        assert!(matches!(parse_presigned(&twice), Err(SigV4Error::DuplicateHeader(_))));
        let forever = JS_PRESIGNED.replace("X-Amz-Expires=299", "X-Amz-Expires=999999999");
        assert!(matches!(parse_presigned(&forever), Err(SigV4Error::Malformed(_))));
        let longer = JS_PRESIGNED.replace("X-Amz-Expires=299", "X-Amz-Expires=300");
        assert_eq!(verify(&longer, "localhost", SECRET, SIGNED_AT), Err(SigV4Error::Mismatch));
    }

    #[test]
    fn amz_dates_round_trip() {
        for t in [0, 951_782_400, SIGNED_AT, 4_102_444_799, NOW] {
            assert_eq!(parse_amz_date(&format_amz_date(t)), Some(t), "{t}");
        }
        assert_eq!(format_amz_date(951_782_400), "20000229T000000Z");
    }
}
