//! The operations: AWS shapes in, the use case that does the work, AWS shapes out.
//!
//! Shapes: boxes and landmarks as ratios of the image's width and height; `Confidence` = detection score × 100;
//! `Quality.Brightness` = mean luminance × 100; `Quality.Sharpness` = variance of the Laplacian of the aligned
//! face / 10, capped at 100; `Similarity` = the calibrated similarity (FMR on LFW), capped at 100.

use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Value};
use vision::QualityIssue;

use super::face_details::{self, face_detail, ratio_box, Attributes};
use super::signed::unknown_operation;
use super::{AwsError, SignedRequest};
use app::inference::ImageInfo;
use app::state::AppState;
use app::usecases::buckets;
use app::usecases::collections::{self, CollectionRef, NotIndexedReason};
use app::usecases::faces;
use app::usecases::liveness_sessions::{self, Credential};

/// The bytes of an `Image` parameter: `{"Bytes": base64}`, or `{"S3Object": {"Bucket", "Name", "Version"}}` read
/// through the configured S3-compatible store (in a bucket the caller's key may use).
pub(super) async fn image_bytes(
    app: &AppState,
    caller: &auth::Access,
    request: &Value,
    name: &str,
) -> Result<Bytes, AwsError> {
    let image = request.get(name).ok_or_else(|| AwsError::invalid(format!("{name} is required")))?;
    if let Some(object) = image.get("S3Object") {
        if image.get("Bytes").is_some() {
            return Err(AwsError::invalid(format!("{name}: send either Bytes or S3Object, not both")));
        }
        let field = |field: &str| object.get(field).and_then(Value::as_str).map(String::from);
        let object = buckets::ObjectRef {
            bucket: field("Bucket").ok_or_else(|| AwsError::invalid(format!("{name}.S3Object.Bucket is required")))?,
            key: field("Name").ok_or_else(|| AwsError::invalid(format!("{name}.S3Object.Name is required")))?,
            version: field("Version"),
        };
        return Ok(buckets::read_image(app, caller, &object).await?);
    }
    let b64 = image
        .get("Bytes")
        .and_then(Value::as_str)
        .ok_or_else(|| AwsError::invalid(format!("{name}.Bytes is required")))?;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map(Bytes::from)
        .map_err(|_| AwsError::invalid(format!("{name}.Bytes is not valid base64")))
}

fn stored_box(b: &store::FaceBox, image: &ImageInfo) -> Value {
    ratio_box(&vision::BBox { x: b.x, y: b.y, width: b.width, height: b.height }, image)
}

/// AWS's reason for a face left out of IndexFaces.
fn unindexed_reason(reason: NotIndexedReason) -> &'static str {
    match reason {
        NotIndexedReason::Quality(QualityIssue::TooSmall) => "SMALL_BOUNDING_BOX",
        NotIndexedReason::Quality(QualityIssue::Blurry) => "LOW_SHARPNESS",
        NotIndexedReason::Quality(QualityIssue::TooDark | QualityIssue::TooBright) => "LOW_BRIGHTNESS",
        NotIndexedReason::Quality(QualityIssue::NotFrontal) => "EXTREME_POSE",
        NotIndexedReason::ExceedsMaxFaces => "EXCEEDS_MAX_FACES",
    }
}

/// A stored face as AWS's `Face`: ids, `BoundingBox` (as ratios of its image; left out for faces stored before
/// Facegate kept the image's size), `Confidence`, `UserId` when it has one.
fn stored_face(
    face_id: &uuid::Uuid,
    image_id: &uuid::Uuid,
    external_id: &Option<String>,
    bbox: &store::FaceBox,
    detection_score: f32,
    user_id: &Option<String>,
) -> Value {
    let mut face = json!({
        "FaceId": face_id.to_string(),
        "ImageId": image_id.to_string(),
        "ExternalImageId": external_id,
        "Confidence": detection_score * 100.0,
    });
    if let Some([left, top, width, height]) = bbox.ratios() {
        face["BoundingBox"] = json!({"Width": width, "Height": height, "Left": left, "Top": top});
    }
    if let Some(user) = user_id {
        face["UserId"] = json!(user);
    }
    face
}

fn matched_face(m: &collections::Match) -> Value {
    let face = stored_face(&m.face_id, &m.image_id, &m.external_id, &m.bbox, m.detection_score, &m.user_id);
    json!({"Similarity": m.similarity.clamp(0.0, 100.0), "Face": face})
}

/// `MaxResults`: 1..=4096 as AWS takes it, served in pages of at most 1000.
fn max_results(request: &Value) -> Result<Option<u32>, AwsError> {
    match request.get("MaxResults") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(
            v.as_u64()
                .filter(|n| (1..=4096).contains(n))
                .ok_or_else(|| AwsError::invalid("MaxResults must be an integer from 1 to 4096"))?
                .min(u64::from(collections::MAX_PAGE)) as u32,
        )),
    }
}

/// A similarity threshold parameter: 0..100, AWS's default 80 when absent.
fn threshold_param(request: &Value, name: &str) -> Result<f64, AwsError> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(80.0),
        Some(v) => v
            .as_f64()
            .filter(|t| (0.0..=100.0).contains(t))
            .ok_or_else(|| AwsError::invalid(format!("{name} must lie in 0..100"))),
    }
}

/// A collection's ARN as AWS writes it (`arn:aws:rekognition:REGION:ACCOUNT:collection/ID`), with a
/// twelve-digit account of zeros: SDKs and the AWS CLI parse it.
fn arn(region: &str, collection: &str) -> String {
    format!("arn:aws:rekognition:{region}:000000000000:collection/{collection}")
}

pub(super) fn string_field<'a>(body: &'a Value, name: &str) -> Result<&'a str, AwsError> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| AwsError::invalid(format!("{name} is required")))
}

/// Runs the operation of an admitted request.
pub(super) async fn handle(
    app: AppState,
    caller: auth::Access,
    region: &str,
    SignedRequest { operation, request }: SignedRequest,
) -> Result<Value, AwsError> {
    match operation.as_str() {
        "DetectFaces" => {
            let wanted = Attributes::parse(&request, "Attributes")?;
            face_details::detect_faces(&app, image_bytes(&app, &caller, &request, "Image").await?, &wanted).await
        }
        "CompareFaces" => {
            let source = image_bytes(&app, &caller, &request, "SourceImage").await?;
            let target = image_bytes(&app, &caller, &request, "TargetImage").await?;
            let threshold = threshold_param(&request, "SimilarityThreshold")? as f32;
            let options =
                faces::CompareOptions { threshold: Some(threshold), all_target_faces: true, ..Default::default() };
            let c = faces::compare(&app, source, target, options).await?;
            Ok(json!({
                "SourceImageFace": {
                    "BoundingBox": ratio_box(&c.source_face.detection.bbox, &c.source_image),
                    "Confidence": c.source_face.detection.score * 100.0,
                },
                "FaceMatches": c.matches.iter().map(|m| json!({
                    "Similarity": m.similarity.clamp(0.0, 100.0),
                    "Face": face_detail(&m.face, None, &c.target_image),
                })).collect::<Vec<_>>(),
                "UnmatchedFaces": c.unmatched.iter().map(|m| face_detail(&m.face, None, &c.target_image)).collect::<Vec<_>>(),
            }))
        }
        "IndexFaces" => {
            let id = string_field(&request, "CollectionId")?.to_string();
            let image = image_bytes(&app, &caller, &request, "Image").await?;
            let wanted = Attributes::parse(&request, "DetectionAttributes")?;
            // Rekognition indexes every face by default (MaxFaces caps it, largest first).
            let max = request.get("MaxFaces").and_then(Value::as_u64).map(|n| n.min(100) as u32);
            let options = collections::IndexOptions {
                selection: collections::IndexSelection::All { max },
                quality_filter: request.get("QualityFilter").and_then(Value::as_str) != Some("NONE"),
                external_id: request.get("ExternalImageId").and_then(Value::as_str).map(String::from),
                metadata: None,
                client_request_token: None,
                store_image: false,
                measure: Some(face_details::index_options_depth(&wanted)),
            };
            let r = collections::index_faces(&app, CollectionRef::of(&caller, &id)?, image, options).await?;
            let (indexed, unindexed) = face_details::index_faces_details(&app.config, &r, &wanted);
            let records: Vec<Value> = r
                .records
                .iter()
                .zip(indexed)
                .map(|(f, detail)| {
                    let mut record = json!({
                        "Face": {
                            "FaceId": f.face_id.to_string(),
                            "ImageId": f.image_id.to_string(),
                            "ExternalImageId": f.external_id,
                            "BoundingBox": stored_box(&f.bbox, &r.image),
                            "Confidence": f.detection_score * 100.0,
                        }
                    });
                    if let Some(detail) = detail {
                        record["FaceDetail"] = detail;
                    }
                    record
                })
                .collect();
            let unindexed: Vec<Value> = r
                .not_indexed
                .iter()
                .zip(unindexed)
                .map(|(u, detail)| {
                    let reasons: Vec<&str> = u.reasons.iter().map(|r| unindexed_reason(*r)).collect();
                    json!({"Reasons": reasons, "FaceDetail": detail})
                })
                .collect();
            Ok(json!({"FaceRecords": records, "UnindexedFaces": unindexed, "FaceModelVersion": r.face_model}))
        }
        "SearchFacesByImage" => {
            let id = string_field(&request, "CollectionId")?.to_string();
            let image = image_bytes(&app, &caller, &request, "Image").await?;
            let options = collections::SearchOptions {
                threshold: Some(threshold_param(&request, "FaceMatchThreshold")? as f32),
                max_results: request.get("MaxFaces").and_then(Value::as_u64).map(|n| n.clamp(1, 1000) as u32),
                all_faces: false,
            };
            let r = collections::search(&app, CollectionRef::of(&caller, &id)?, image, options).await?;
            let Some(result) = r.results.first() else {
                return Err(AwsError::invalid("There are no faces in the image"));
            };
            Ok(json!({
                "SearchedFaceBoundingBox": ratio_box(&result.searched_face.detection.bbox, &r.image),
                "SearchedFaceConfidence": result.searched_face.detection.score * 100.0,
                "FaceMatches": result.matches.iter().map(matched_face).collect::<Vec<_>>(),
                "FaceModelVersion": r.face_model,
            }))
        }
        "ListFaces" => {
            let id = string_field(&request, "CollectionId")?.to_string();
            let user = match request.get("UserId") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_str().ok_or_else(|| AwsError::invalid("UserId must be a string"))?.to_string()),
            };
            let (faces, next_token) = match request.get("FaceIds").and_then(Value::as_array) {
                // Only the faces named (and of the user, when one is named too): one answer, no pages.
                Some(ids) => {
                    let ids: Vec<String> = ids.iter().filter_map(Value::as_str).map(String::from).collect();
                    let mut faces = collections::faces_among(&app, CollectionRef::of(&caller, &id)?, &ids).await?;
                    faces.retain(|f| user.is_none() || f.user_id == user);
                    (faces, None)
                }
                None => {
                    let page = collections::Page {
                        limit: request.get("MaxResults").and_then(Value::as_u64).map(|n| n.clamp(1, 1000) as u32),
                        next_token: request.get("NextToken").and_then(Value::as_str).map(String::from),
                    };
                    let filter = store::FaceFilter { external_id: None, user_id: user.as_deref() };
                    let list = collections::list_faces(&app, CollectionRef::of(&caller, &id)?, &page, filter).await?;
                    (list.items, list.next_token)
                }
            };
            let mut out = json!({
                "Faces": faces
                    .iter()
                    .map(|f| stored_face(&f.face_id, &f.image_id, &f.external_id, &f.bbox, f.detection_score, &f.user_id))
                    .collect::<Vec<_>>(),
                "FaceModelVersion": app.face_model(),
            });
            if let Some(token) = next_token {
                out["NextToken"] = json!(token);
            }
            Ok(out)
        }
        "DeleteFaces" => {
            let id = string_field(&request, "CollectionId")?.to_string();
            let face_ids: Vec<String> = request
                .get("FaceIds")
                .and_then(Value::as_array)
                .ok_or_else(|| AwsError::invalid("FaceIds is required"))?
                .iter()
                .map(|v| v.as_str().map(String::from).ok_or_else(|| AwsError::invalid("FaceIds must be strings")))
                .collect::<Result<_, _>>()?;
            let r = collections::delete_faces(&app, CollectionRef::of(&caller, &id)?, face_ids).await?;
            Ok(json!({
                "DeletedFaces": r.deleted.iter().map(|f| f.to_string()).collect::<Vec<_>>(),
                "UnsuccessfulFaceDeletions": r.not_found.iter().map(|f| json!({"FaceId": f, "Reasons": ["FACE_NOT_FOUND"]})).collect::<Vec<_>>(),
            }))
        }
        "SearchFaces" => {
            let id = string_field(&request, "CollectionId")?.to_string();
            let face = string_field(&request, "FaceId")?.to_string();
            let threshold = threshold_param(&request, "FaceMatchThreshold")? as f32;
            let max_results = request.get("MaxFaces").and_then(Value::as_u64).map(|n| n.clamp(1, 1000) as u32);
            let r = collections::search_by_face(
                &app,
                CollectionRef::of(&caller, &id)?,
                &face,
                Some(threshold),
                max_results,
            )
            .await?;
            Ok(json!({
                "SearchedFaceId": face,
                "FaceMatches": r.matches.iter().map(matched_face).collect::<Vec<_>>(),
                "FaceModelVersion": r.face_model,
            }))
        }
        "CreateCollection" => {
            let id = string_field(&request, "CollectionId")?.to_string();
            let c = collections::create(&app, &caller, id.clone(), None).await?;
            Ok(json!({"StatusCode": 200, "CollectionArn": arn(region, &id), "FaceModelVersion": c.model}))
        }
        "DescribeCollection" => {
            let id = string_field(&request, "CollectionId")?.to_string();
            let c = collections::describe(&app, CollectionRef::of(&caller, &id)?).await?;
            Ok(json!({
                "FaceCount": c.face_count,
                "FaceModelVersion": c.model,
                "CollectionARN": arn(region, &id),
                "CreationTimestamp": c.created_at as f64 / 1000.0,
            }))
        }
        "ListCollections" => {
            let page = collections::Page {
                limit: max_results(&request)?,
                next_token: request.get("NextToken").and_then(Value::as_str).map(String::from),
            };
            let list = collections::list(&app, &caller, &page).await?;
            let mut out = json!({
                "CollectionIds": list.items.iter().map(|c| c.collection_id.clone()).collect::<Vec<_>>(),
                "FaceModelVersions": list.items.iter().map(|c| c.model.clone()).collect::<Vec<_>>(),
            });
            if let Some(token) = list.next_token {
                out["NextToken"] = json!(token);
            }
            Ok(out)
        }
        "DeleteCollection" => {
            let id = string_field(&request, "CollectionId")?.to_string();
            if !store::valid_collection_id(&id) {
                return Err(AwsError::invalid("CollectionId must be 1-255 characters of A-Z a-z 0-9 _ . -"));
            }
            collections::delete(&app, CollectionRef::of(&caller, &id)?).await?;
            Ok(json!({"StatusCode": 200}))
        }
        "CreateFaceLivenessSession" => create_liveness_session(&app, &caller, &request).await,
        "GetFaceLivenessSessionResults" => liveness_session_results(&app, &caller, &request).await,
        other => Err(unknown_operation(other)),
    }
}

/// `CreateFaceLivenessSession`: a `/v1` liveness session with the configured challenges
/// (`aws_liveness_challenges`, else two at random). Frames go to `/v1/liveness/sessions/{SessionId}/frames`
/// (with the creating key, or a session token from `POST /v1/liveness/sessions/{SessionId}/token`).
async fn create_liveness_session(app: &AppState, caller: &auth::Access, request: &Value) -> Result<Value, AwsError> {
    let settings = request.get("Settings").cloned().unwrap_or(json!({}));
    let output = match settings.get("OutputConfig") {
        None | Some(Value::Null) => None,
        Some(config) => Some(liveness_sessions::OutputTarget {
            bucket: string_field(config, "S3Bucket")
                .map_err(|_| AwsError::invalid("Settings.OutputConfig.S3Bucket is required"))?
                .to_string(),
            prefix: config.get("S3KeyPrefix").and_then(Value::as_str).unwrap_or_default().to_string(),
        }),
    };
    let audit = match settings.get("AuditImagesLimit") {
        None | Some(Value::Null) => 0,
        // Its range is the use case's rule (worded here as `Settings.AuditImagesLimit`).
        Some(v) => v
            .as_u64()
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
            .ok_or_else(|| AwsError::invalid("Settings.AuditImagesLimit must be a whole number"))?,
    };
    let configured = &app.config.aws_liveness_challenges;
    let stream_challenges = match settings.get("ChallengePreferences") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => challenge_preferences(list)?,
    };
    let options = liveness_sessions::CreateOptions {
        stream_challenges,
        challenges: (!configured.is_empty()).then(|| configured.clone()),
        audit_images: audit,
        client_request_token: request.get("ClientRequestToken").and_then(Value::as_str).map(String::from),
        output,
        ..Default::default()
    };
    let created = liveness_sessions::create(app, caller, options).await?;
    Ok(json!({"SessionId": created.row.session_id}))
}

/// `Settings.ChallengePreferences`: `[{Type, Versions: {Minimum, Maximum}}]`, preferred first; each type the stream
/// runs, at a version within the bounds given.
fn challenge_preferences(list: &Value) -> Result<Vec<liveness::stream::StreamChallenge>, AwsError> {
    let items = list
        .as_array()
        .filter(|a| !a.is_empty() && a.len() <= 10)
        .ok_or_else(|| AwsError::invalid("Settings.ChallengePreferences must be a list of 1 to 10 challenges"))?;
    let version = |v: &str| -> Option<Vec<u32>> { v.split('.').map(|p| p.parse().ok()).collect() };
    let mut out = Vec::new();
    for item in items {
        let name = item.get("Type").and_then(Value::as_str).unwrap_or_default();
        let (challenge, ours) = crate::streaming::challenges::challenge_named(name).ok_or_else(|| {
            AwsError::invalid(format!(
                "Settings.ChallengePreferences: {name:?} is not FaceMovementAndLightChallenge or FaceMovementChallenge"
            ))
        })?;
        let bound = |key: &str| -> Result<Option<Vec<u32>>, AwsError> {
            match item.pointer(&format!("/Versions/{key}")).and_then(Value::as_str) {
                None => Ok(None),
                Some(v) => version(v).map(Some).ok_or_else(|| {
                    AwsError::invalid(format!("Settings.ChallengePreferences: {v:?} is not a version such as 1.0.0"))
                }),
            }
        };
        let ours = version(ours).unwrap_or_default();
        let fits = bound("Minimum")?.is_none_or(|min| ours >= min) && bound("Maximum")?.is_none_or(|max| ours <= max);
        if !fits {
            return Err(AwsError::invalid(format!(
                "Settings.ChallengePreferences: this server runs {name} at version {}",
                ours.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
            )));
        }
        if !out.contains(&challenge) {
            out.push(challenge);
        }
    }
    Ok(out)
}

/// `GetFaceLivenessSessionResults`: status, confidence (once finished), and the reference and audit images (none
/// in privacy mode): as bytes, or — for a session created with `OutputConfig` — as the `S3Object`s they were
/// written to.
async fn liveness_session_results(app: &AppState, caller: &auth::Access, request: &Value) -> Result<Value, AwsError> {
    let id = string_field(request, "SessionId")?.to_string();
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(AwsError::invalid("SessionId must be a UUID"));
    }
    let found = liveness_sessions::status(app, &id, Credential::Key(caller)).await?;
    let status = found.session.status;
    let mut out = json!({
        "SessionId": id,
        "Status": status.as_str(),
    });
    // A session completed by its stream ran the challenge its stream was given; one completed through `/v1`
    // frames ran none of Rekognition's (the approach is what comes closest).
    out["Challenge"] = crate::streaming::challenges::challenge_of(found.session.stream.as_ref());
    if status.is_final() {
        out["Confidence"] = json!(found.session.result().confidence);
    }
    if let (true, Some(target)) = (status.is_final(), &found.output) {
        let written = liveness_sessions::export_images(app, &id, target).await?;
        let object = |e: &liveness_sessions::Exported| json!({"S3Object": {"Bucket": e.bucket, "Name": e.key}});
        if let Some(reference) = written.iter().find(|e| e.name == "reference") {
            out["ReferenceImage"] = object(reference);
        }
        out["AuditImages"] = written.iter().filter(|e| e.name.starts_with("audit-")).map(object).collect();
        with_reference_box(&mut out, &found.session);
        return Ok(out);
    }
    let mut audit = Vec::new();
    if !found.image_names.is_empty() {
        for image in liveness_sessions::images(app, &id, Credential::Key(caller)).await? {
            // As AWS's `{"Bytes": ...}`.
            let bytes = json!({"Bytes": base64::engine::general_purpose::STANDARD.encode(&image.bytes)});
            if image.name == "reference" {
                out["ReferenceImage"] = bytes;
            } else if image.name.starts_with("audit-") {
                audit.push(bytes);
            }
        }
    }
    out["AuditImages"] = json!(audit);
    with_reference_box(&mut out, &found.session);
    Ok(out)
}

/// The reference image's face box, for a session completed by its stream (`BoundingBox` as ratios, as AWS gives it).
fn with_reference_box(out: &mut Value, session: &liveness::Session) {
    let found = session.stream_evidence.as_ref().and_then(|e| e.reference_box);
    if let (Some(b), Some(reference)) = (found, out.get_mut("ReferenceImage").and_then(Value::as_object_mut)) {
        reference.insert("BoundingBox".into(), json!({"Width": b.width, "Height": b.height, "Left": b.x, "Top": b.y}));
    }
}
