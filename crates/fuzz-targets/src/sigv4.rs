//! AWS Signature V4: the `Authorization` header parser and the verifier over fuzzed requests. Never a panic; a
//! fuzzed signature never verifies; and what this crate signs always does (the canonical form is stable).

use auth::sigv4::{self, Policy, Request};

const AMZ_DATE: &str = "20261118T080000Z";

/// One input: no panic, and the properties above.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(4, '\n');
    let (authorization, path, query) =
        (lines.next().unwrap_or(""), lines.next().unwrap_or("/"), lines.next().unwrap_or(""));
    let body = lines.next().unwrap_or("").as_bytes();
    let Ok(parsed) = sigv4::parse_authorization(authorization) else { return };
    let now = sigv4::parse_amz_date(AMZ_DATE).expect("a valid date") + 60;
    let headers: Vec<(String, String)> = vec![
        ("host".into(), "127.0.0.1:8080".into()),
        ("x-amz-date".into(), AMZ_DATE.into()),
        ("x-amz-target".into(), "RekognitionService.ListCollections".into()),
    ];
    let request = Request { method: "POST", path, query, headers: &headers, body };
    let policy = Policy { service: "rekognition", regions: &[], signed_headers: &["x-amz-target"] };
    assert!(sigv4::verify(&request, &parsed, "the-secret", now, &policy).is_err(), "a fuzzed signature verified");
    let scoped = sigv4::Authorization { date: AMZ_DATE[..8].to_string(), ..parsed };
    if let Ok(signature) = sigv4::sign(&request, &scoped, AMZ_DATE, "the-secret") {
        let signed = sigv4::Authorization { signature, ..scoped };
        // Whatever passes the policy's checks must verify: signing and verifying share one canonical form.
        if sigv4::check(&request, &signed, &policy, now).is_ok() {
            let verified = sigv4::verify(&request, &signed, "the-secret", now, &policy);
            assert!(verified.is_ok(), "our own signature failed: {verified:?}");
        }
    }
}
