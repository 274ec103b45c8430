//! Hostile input, named case by case, against a real `facegate serve`: decompression bombs, absurd dimensions,
//! odd pixel formats, broken encodings, wrong content types, huge and deeply nested JSON, invalid UTF-8,
//! base64 variants, out-of-range numbers, path traversal and SQL-looking ids, unicode ids, replayed liveness
//! frames and stolen session tokens. Every case must get its typed answer — never a 500, never a panic — and the
//! server's peak memory must stay bounded through the bombs.

use std::io::Cursor;

use crate::support::*;
use image::{DynamicImage, ImageFormat};
use reqwest::blocking::RequestBuilder;
use serde_json::{json, Value};

struct Case {
    name: &'static str,
    /// The expected status and error code (`""` for a success with no error body).
    want: (u16, &'static str),
    send: Box<dyn Fn(&Ctx) -> RequestBuilder>,
    /// Bodies far over the limit: the server answers 413 after reading a bounded excess, then closes the
    /// connection, so a client still uploading may see the close instead of the answer (the server stays up).
    may_close: bool,
}

impl Case {
    fn or_connection_closed(self) -> Self {
        Case { may_close: true, ..self }
    }
}

struct Ctx {
    s: Served,
    session: Value,
    other_session: Value,
}

fn case(name: &'static str, want: (u16, &'static str), send: impl Fn(&Ctx) -> RequestBuilder + 'static) -> Case {
    Case { name, want, send: Box::new(send), may_close: false }
}

fn post_json(ctx: &Ctx, path: &str, body: Value) -> RequestBuilder {
    client().post(ctx.s.url(path)).json(&body)
}

fn post_raw(ctx: &Ctx, path: &str, content_type: &str, body: Vec<u8>) -> RequestBuilder {
    client().post(ctx.s.url(path)).header("content-type", content_type).body(body)
}

fn detect(image: Vec<u8>) -> impl Fn(&Ctx) -> RequestBuilder {
    move |ctx| post_json(ctx, "/v1/detect", json!({"image": b64(&image)}))
}

fn face() -> Vec<u8> {
    lfw("Abel_Pacheco", 1)
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A real JPEG with its frame header rewritten to claim `width` x `height`.
fn jpeg_claiming(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = face();
    let sof = bytes.windows(2).position(|w| w[0] == 0xff && (w[1] == 0xc0 || w[1] == 0xc2)).expect("a frame header");
    bytes[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    bytes
}

/// An animated GIF: the face, then a black frame.
fn animated_gif() -> Vec<u8> {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame};
    let rgba = image::load_from_memory(&face()).expect("face").to_rgba8();
    let black = image::RgbaImage::new(rgba.width(), rgba.height());
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        let delay = Delay::from_numer_denom_ms(100, 1);
        encoder
            .encode_frames(vec![Frame::from_parts(rgba, 0, 0, delay), Frame::from_parts(black, 0, 0, delay)])
            .expect("gif");
    }
    out
}

fn multipart(boundary: &str, parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in parts {
        out.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f\"\r\n\r\n")
                .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

fn frame(ctx: &Ctx, session: &Value, token_of: &Value, image: &[u8], sequence: u64) -> RequestBuilder {
    let id = session["sessionId"].as_str().unwrap_or_default();
    client()
        .post(ctx.s.url(&format!("/v1/liveness/sessions/{id}/frames")))
        .bearer_auth(token_of["sessionToken"].as_str().unwrap_or_default())
        .json(&json!({"image": b64(image), "sequence": sequence, "timestamp": 100 * (sequence + 1)}))
}

fn yale(subject: u32, condition: &str) -> Vec<u8> {
    read(&format!("yale/images/subject{subject:02}/subject{subject:02}_{condition}.png"))
}

fn cases() -> Vec<Case> {
    let photo = || image::load_from_memory(&face()).expect("face");
    vec![
        // Images: sizes and bombs.
        case("zero_byte_image", (400, "empty_image"), detect(Vec::new())),
        case(
            "one_by_one_png",
            (400, "image_too_small"),
            detect(encode(&DynamicImage::new_rgb8(1, 1), ImageFormat::Png)),
        ),
        case(
            "png_header_claims_60000x60000",
            (413, "image_too_many_pixels"),
            detect(testkit::png_claiming(60_000, 60_000)),
        ),
        case(
            "png_header_claims_2_billion_wide",
            (400, "invalid_image"),
            detect(testkit::png_claiming(u32::MAX / 2, 1)),
        ),
        case("png_header_zero_width", (400, "invalid_image"), detect(testkit::png_claiming(0, 100))),
        case("jpeg_header_claims_65000x65000", (413, "image_too_many_pixels"), detect(jpeg_claiming(65_000, 65_000))),
        case(
            "gif_screen_65535x65535",
            (413, "image_too_many_pixels"),
            detect({
                let mut g = b"GIF89a\xff\xff\xff\xff\x00\x00\x00".to_vec();
                g.extend_from_slice(b",\x00\x00\x00\x00\xff\xff\xff\xff\x00\x02\x02D\x01\x00;");
                g
            }),
        ),
        case(
            "png_bomb_6000x6000_zeros_within_limits",
            (200, ""),
            detect(encode(&DynamicImage::new_luma8(6000, 6000), ImageFormat::Png)),
        ),
        case("image_over_the_byte_limit", (413, "payload_too_large"), detect(vec![0xff; 40 << 20])),
        // Images: pixel formats and containers that decode to the same face.
        case(
            "greyscale_png",
            (200, ""),
            detect(encode(&DynamicImage::ImageLuma8(photo().to_luma8()), ImageFormat::Png)),
        ),
        case(
            "greyscale_alpha_png",
            (200, ""),
            detect(encode(&DynamicImage::ImageLumaA8(photo().to_luma_alpha8()), ImageFormat::Png)),
        ),
        case("rgba_png", (200, ""), detect(encode(&DynamicImage::ImageRgba8(photo().to_rgba8()), ImageFormat::Png))),
        case(
            "rgb_16_bit_png",
            (200, ""),
            detect(encode(&DynamicImage::ImageRgb16(photo().to_rgb16()), ImageFormat::Png)),
        ),
        case("bmp", (200, ""), detect(encode(&photo(), ImageFormat::Bmp))),
        case("animated_gif_first_frame", (200, ""), detect(animated_gif())),
        // Images: broken or not images.
        case(
            "truncated_jpeg",
            (400, "invalid_image"),
            detect({
                let f = face();
                f[..f.len() / 2].to_vec()
            }),
        ),
        case(
            "jpeg_scan_filled_with_ff_decodes_as_noise",
            (200, ""),
            detect({
                let mut f = face();
                let n = f.len();
                f[n / 3..n - 2].fill(0xff);
                f
            }),
        ),
        case(
            "random_bytes",
            (415, "unsupported_image_format"),
            detect((0..4096u32).map(|i| (i * 7919 % 251) as u8).collect()),
        ),
        case(
            "svg_text",
            (415, "unsupported_image_format"),
            detect(b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()),
        ),
        case(
            "tiff_not_accepted",
            (415, "unsupported_image_format"),
            detect([b"II*\x00\x08\x00\x00\x00".as_slice(), &[0u8; 64]].concat()),
        ),
        case("png_signature_only", (400, "invalid_image"), detect(b"\x89PNG\r\n\x1a\n".to_vec())),
        // Content types and bodies.
        case("text_plain_body", (415, "unsupported_media_type"), |c| {
            post_raw(c, "/v1/detect", "text/plain", b"hello".to_vec())
        }),
        case("xml_body", (415, "unsupported_media_type"), |c| {
            post_raw(c, "/v1/detect", "application/xml", b"<a/>".to_vec())
        }),
        case("raw_png_labelled_jpeg", (200, ""), |c| {
            post_raw(
                c,
                "/v1/detect",
                "image/jpeg",
                encode(&image::load_from_memory(&face()).expect("face"), ImageFormat::Png),
            )
        }),
        case("multipart_without_boundary", (400, "invalid_multipart"), |c| {
            post_raw(c, "/v1/detect", "multipart/form-data", b"--x\r\n".to_vec())
        }),
        case("multipart_truncated", (400, "invalid_multipart"), |c| {
            let mut body = multipart("B0UND", &[("image", &face())]);
            body.truncate(body.len() / 2);
            post_raw(c, "/v1/detect", "multipart/form-data; boundary=B0UND", body)
        }),
        case("multipart_two_images_for_one", (400, "invalid_request"), |c| {
            post_raw(
                c,
                "/v1/detect",
                "multipart/form-data; boundary=B0UND",
                multipart("B0UND", &[("image", &face()), ("image", &face())]),
            )
        }),
        case("empty_json_body", (400, "invalid_json"), |c| post_raw(c, "/v1/detect", "application/json", Vec::new())),
        case("json_array_not_object", (400, "invalid_json"), |c| {
            post_raw(c, "/v1/detect", "application/json", b"[1,2]".to_vec())
        }),
        case("json_nested_100000_deep", (400, "invalid_json"), |c| {
            post_raw(
                c,
                "/v1/detect",
                "application/json",
                format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
            )
        }),
        case("json_100_mb", (413, "payload_too_large"), |c| {
            let mut body = b"{\"image\": \"".to_vec();
            body.resize(100 << 20, b'A');
            body.extend_from_slice(b"\"}");
            post_raw(c, "/v1/detect", "application/json", body)
        })
        .or_connection_closed(),
        case("json_invalid_utf8", (400, "invalid_json"), |c| {
            post_raw(c, "/v1/detect", "application/json", b"{\"image\": \"\xff\xfe\"}".to_vec())
        }),
        case("json_unknown_field", (400, "invalid_request"), |c| {
            post_json(c, "/v1/detect", json!({"image": b64(&face()), "imagee": 1}))
        }),
        case("json_image_is_a_number", (400, "invalid_request"), |c| post_json(c, "/v1/detect", json!({"image": 12}))),
        case("json_image_missing", (400, "missing_image"), |c| post_json(c, "/v1/detect", json!({}))),
        // Base64.
        case("base64_with_newlines_and_spaces", (200, ""), |c| {
            let text: String =
                b64(&face()).as_bytes().chunks(76).map(|l| format!("{}\r\n ", String::from_utf8_lossy(l))).collect();
            post_json(c, "/v1/detect", json!({"image": text}))
        }),
        case("base64_url_alphabet_no_padding", (200, ""), |c| {
            use base64::Engine;
            post_json(
                c,
                "/v1/detect",
                json!({"image": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(face())}),
            )
        }),
        case("base64_data_url", (200, ""), |c| {
            post_json(c, "/v1/detect", json!({"image": format!("data:image/jpeg;base64,{}", b64(&face()))}))
        }),
        case("base64_wrong_padding", (400, "invalid_base64"), |c| {
            post_json(c, "/v1/detect", json!({"image": "QUJD==="}))
        }),
        case("base64_bad_characters", (400, "invalid_base64"), |c| {
            post_json(c, "/v1/detect", json!({"image": "not*base64!"}))
        }),
        case("base64_data_url_not_base64", (400, "invalid_base64"), |c| {
            post_json(c, "/v1/detect", json!({"image": "data:image/png,abc"}))
        }),
        // Numbers out of range.
        case("negative_threshold", (400, "invalid_parameter"), |c| {
            post_json(c, "/v1/compare", json!({"source": b64(&face()), "target": b64(&face()), "threshold": -5}))
        }),
        case("threshold_over_100", (400, "invalid_parameter"), |c| {
            post_json(c, "/v1/compare", json!({"source": b64(&face()), "target": b64(&face()), "threshold": 1e300}))
        }),
        case("threshold_nan_as_text", (400, "invalid_request"), |c| {
            post_json(c, "/v1/compare", json!({"source": b64(&face()), "target": b64(&face()), "threshold": "NaN"}))
        }),
        case("threshold_nan_in_query", (400, "invalid_request"), |c| {
            post_raw(c, "/v1/collections/hostile/search?threshold=NaN", "image/jpeg", face())
        }),
        case("max_results_absurd", (400, "invalid_request"), |c| {
            post_json(
                c,
                "/v1/collections/hostile/search",
                json!({"image": b64(&face()), "maxResults": 1_000_000_000_000u64}),
            )
        }),
        case("max_results_negative", (400, "invalid_request"), |c| {
            post_json(c, "/v1/collections/hostile/search", json!({"image": b64(&face()), "maxResults": -1}))
        }),
        case("page_limit_zero", (400, "invalid_parameter"), |c| {
            client().get(c.s.url("/v1/collections/hostile/faces?limit=0"))
        }),
        case("page_limit_huge", (400, "invalid_request"), |c| {
            client().get(c.s.url("/v1/collections/hostile/faces?limit=99999999999"))
        }),
        case("page_token_garbage", (400, "invalid_parameter"), |c| {
            client().get(c.s.url("/v1/collections/hostile/faces?nextToken=%C3%A9'--%20OR%201"))
        }),
        case("page_token_with_nul", (400, "invalid_text"), |c| {
            client().get(c.s.url("/v1/collections/hostile/faces?nextToken=%00%FF'--"))
        }),
        // Identifiers.
        case("path_traversal_collection", (404, "collection_not_found"), |c| {
            client().get(c.s.url("/v1/collections/..%2F..%2Fetc%2Fpasswd"))
        }),
        case("path_traversal_image_name", (404, "image_not_found"), |c| {
            let id = c.session["sessionId"].as_str().unwrap_or_default().to_string();
            client().get(c.s.url(&format!("/v1/liveness/sessions/{id}/images/..%2F..%2Fdb")))
        }),
        case("sql_looking_collection_id", (400, "invalid_collection_id"), |c| {
            post_json(c, "/v1/collections", json!({"collectionId": "x' OR '1'='1"}))
        }),
        case("sql_looking_face_id", (404, "face_not_found"), |c| {
            client().get(c.s.url("/v1/collections/hostile/faces/1%20OR%201=1"))
        }),
        case("collection_id_300_chars", (400, "invalid_collection_id"), |c| {
            post_json(c, "/v1/collections", json!({"collectionId": "a".repeat(300)}))
        }),
        case("internal_users_collection", (404, "collection_not_found"), |c| {
            client().get(c.s.url("/v1/collections/@users/faces"))
        }),
        case("unicode_external_id_round_trips", (200, ""), |c| {
            post_json(c, "/v1/collections/hostile/faces", json!({"image": b64(&face()), "externalId": "Zoë-李-🙂"}))
        }),
        case("control_characters_in_user_id", (400, "invalid_text"), |c| {
            post_json(c, "/v1/users", json!({"userId": "a\u{0}b\nc", "images": [b64(&face())]}))
        }),
        case("newline_in_user_id", (400, "invalid_user_id"), |c| {
            post_json(c, "/v1/users", json!({"userId": "a\nb", "images": [b64(&face())]}))
        }),
        // Liveness sessions.
        case("replayed_liveness_frame", (409, "frame_replayed"), |c| {
            frame(c, &c.session, &c.session, &yale(2, "normal"), 1)
        }),
        case("frame_out_of_sequence", (409, "frame_out_of_sequence"), |c| {
            frame(c, &c.session, &c.session, &yale(2, "glasses"), 7)
        }),
        case("session_token_on_another_session", (403, "session_token_mismatch"), |c| {
            frame(c, &c.other_session, &c.session, &yale(2, "sad"), 0)
        }),
        case("eleven_frames_in_one_request", (400, "invalid_parameter"), |c| {
            let id = c.session["sessionId"].as_str().unwrap_or_default().to_string();
            let frames: Vec<Value> =
                (1..12).map(|i| json!({"image": b64(&[i as u8; 8]), "sequence": i, "timestamp": 100 * i})).collect();
            client()
                .post(c.s.url(&format!("/v1/liveness/sessions/{id}/frames")))
                .bearer_auth(c.session["sessionToken"].as_str().unwrap_or_default())
                .json(&json!({"frames": frames}))
        }),
        case("frames_for_unknown_session", (404, "session_not_found"), |c| {
            post_json(
                c,
                "/v1/liveness/sessions/0195a3c1-0000-4000-8000-000000000000/frames",
                json!({"image": b64(&face()), "sequence": 0, "timestamp": 1}),
            )
        }),
        case("face_login_with_a_raw_image_body", (401, "no_match"), |c| {
            post_raw(c, "/v1/auth/face-login", "image/jpeg", face())
        }),
        case("status_read_with_a_key_and_a_query_token", (400, "ambiguous_credentials"), |c| {
            let id = c.session["sessionId"].as_str().unwrap_or_default();
            let token = c.session["sessionToken"].as_str().unwrap_or_default();
            client()
                .get(c.s.url(&format!("/v1/liveness/sessions/{id}?token={token}")))
                .bearer_auth("fg_aaaaaaaaaaaa_some-api-key")
        }),
        // Credentials and routing.
        case("bearer_token_10_kb", (401, "invalid_token"), |c| {
            client().get(c.s.url("/v1/users/me")).bearer_auth("x".repeat(10_000))
        }),
        case("jwt_alg_none", (401, "invalid_token"), |c| {
            client().get(c.s.url("/v1/users/me")).bearer_auth("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
        }),
        case("unknown_route", (404, "not_found"), |c| client().get(c.s.url("/v1/nothing-here"))),
        case("wrong_method", (405, "method_not_allowed"), |c| client().put(c.s.url("/v1/detect"))),
        case("rekognition_unsigned_100_mb", (400, "ImageTooLargeException"), |c| {
            post_raw(c, "/", "application/x-amz-json-1.1", vec![b' '; 100 << 20])
        })
        .or_connection_closed(),
    ]
}

/// The server's peak resident memory so far (VmHWM), in MiB.
fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn hostile_input_gets_typed_errors_and_bounded_memory() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let s = Served::start(&tmp.path().join("data"), None, &[]);
    let (status, _) =
        json(client().post(s.url("/v1/collections")).json(&json!({"collectionId": "hostile"})).send().expect("create"));
    assert_eq!(status, 201);
    let create = || {
        let (status, v) = json(
            client()
                .post(s.url("/v1/liveness/sessions"))
                .json(&json!({"challenges": ["smile"]}))
                .send()
                .expect("session"),
        );
        assert_eq!(status, 201, "{v}");
        v
    };
    let (session, other_session) = (create(), create());
    let ctx = Ctx { s, session, other_session };
    // The session's first frame, so that sending it again is a replay.
    let (status, v) = json(frame(&ctx, &ctx.session, &ctx.session, &yale(2, "normal"), 0).send().expect("frame"));
    assert_eq!(status, 200, "{v}");
    let before = peak_rss_mb(ctx.s.pid());

    let all = cases();
    let mut failures = Vec::new();
    for c in &all {
        let answer = (c.send)(&ctx).send();
        let got = match answer {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body: Value = resp.json().unwrap_or(Value::Null);
                let code = body["error"]["code"].as_str().or_else(|| body["__type"].as_str()).unwrap_or("").to_string();
                (status, code)
            }
            Err(_) if c.may_close && client().get(ctx.s.url("/health")).send().is_ok_and(|r| r.status() == 200) => {
                (c.want.0, c.want.1.to_string())
            }
            Err(e) => (0, format!("no answer: {e}")),
        };
        if got != (c.want.0, c.want.1.to_string()) {
            failures.push(format!("{}: want {:?}, got {:?}", c.name, c.want, got));
        }
    }
    // The unicode external id came back as it went in.
    let (_, listed) = json(client().get(ctx.s.url("/v1/collections/hostile/faces")).send().expect("list"));
    assert_eq!(listed["faces"][0]["externalId"], "Zoë-李-🙂", "{listed}");
    let peak = peak_rss_mb(ctx.s.pid());
    eprintln!(
        "hostile input: {}/{} cases as expected; server peak RSS {before:.0} MiB before, {peak:.0} MiB after",
        all.len() - failures.len(),
        all.len()
    );
    assert!(all.len() >= 50, "at least 50 cases");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}\n{}",
        failures.len(),
        all.len(),
        failures.join("\n"),
        ctx.s.log_text()
    );
    // Bombs are refused on their headers; the one inside the limits (36 Mpx) costs its pixels once.
    assert!(peak < 1500.0, "peak RSS {peak:.0} MiB");
    let (status, _) = json(client().get(ctx.s.url("/health")).send().expect("health"));
    assert_eq!(status, 200, "still serving");
}

tests![hostile_input_gets_typed_errors_and_bounded_memory,];
