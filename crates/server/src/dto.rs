//! The API's JSON shapes (camelCase), separate from the vision and store types so that the wire format is
//! a deliberate contract. Each derives its OpenAPI schema.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use vision::Face;

use crate::input::{lenient_string, ImageField};
pub use app::time::rfc3339;

/// A box in the pixels of the image as analysed (after EXIF orientation and any quarter turn, see `image`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoundingBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PointDto {
    pub x: f32,
    pub y: f32,
}

/// The five detector landmarks; left and right are the person's own.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Landmarks {
    pub right_eye: PointDto,
    pub left_eye: PointDto,
    pub nose: PointDto,
    pub mouth_right: PointDto,
    pub mouth_left: PointDto,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QualityDto {
    /// Overall 0..1.
    pub score: f32,
    /// Distance between the eyes, in pixels.
    pub eye_distance: f32,
    /// Variance of the Laplacian of the aligned crop (higher is sharper).
    pub sharpness: f32,
    /// Mean luminance 0..1.
    pub brightness: f32,
    /// 0 (profile) .. 1 (frontal), from the landmarks.
    pub frontalness: f32,
    /// Estimated from the five landmarks, degrees (> 0: the face turns toward the image's right, the person's own
    /// left; the same convention and scale as the analysis's mesh pose).
    pub yaw: f32,
    /// From the eye line, degrees (> 0: tilted clockwise in the image).
    pub roll: f32,
    /// Whether the face clears the quality bar (no issues).
    pub acceptable: bool,
    /// `too_small`, `blurry`, `too_dark`, `too_bright`, `not_frontal`.
    pub issues: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceDto {
    pub bounding_box: BoundingBox,
    pub landmarks: Landmarks,
    /// Detection score 0..1.
    pub confidence: f32,
    pub quality: QualityDto,
}

impl From<&Face> for FaceDto {
    fn from(f: &Face) -> Self {
        let b = f.detection.bbox;
        let p = |i: usize| PointDto { x: f.detection.landmarks[i].x, y: f.detection.landmarks[i].y };
        let q = &f.quality;
        FaceDto {
            bounding_box: BoundingBox { x: b.x, y: b.y, width: b.width, height: b.height },
            landmarks: Landmarks { right_eye: p(0), left_eye: p(1), nose: p(2), mouth_right: p(3), mouth_left: p(4) },
            confidence: f.detection.score,
            quality: QualityDto {
                score: q.score,
                eye_distance: q.eye_distance,
                sharpness: q.sharpness,
                brightness: q.brightness,
                frontalness: q.frontalness,
                yaw: q.yaw,
                roll: q.roll,
                acceptable: q.acceptable(),
                issues: q.issues.iter().map(|i| i.code().to_string()).collect(),
            },
        }
    }
}

/// The analysed image.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    /// Clockwise quarter turn (0, 90, 180, 270) applied because the photo was sideways or upside down;
    /// boxes are in the turned image's pixels.
    pub rotation: u32,
}

impl From<app::inference::ImageInfo> for ImageInfo {
    fn from(i: app::inference::ImageInfo) -> Self {
        ImageInfo { width: i.width, height: i.height, rotation: i.rotation }
    }
}

/// Which faces of an image a request works on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FaceSelection {
    /// The largest face only.
    #[default]
    Largest,
    /// Every face (up to `maxFaces`).
    All,
}

// --- detect ---

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DetectRequest {
    /// The image (base64 in JSON; or a multipart file; or the raw body).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub image: Option<ImageField>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DetectResponse {
    pub image: ImageInfo,
    /// Best detection score first.
    pub faces: Vec<FaceDto>,
}

// --- compare ---

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CompareRequest {
    /// The reference face (its largest face is used).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub source: Option<ImageField>,
    /// The image to look for it in.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub target: Option<ImageField>,
    /// Match threshold as a calibrated similarity 0-100 (default: the server's, 60 = FMR 1e-3 on LFW).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// `largest` (default) compares with the target's largest face; `all` with each of its faces.
    #[serde(default)]
    pub target_faces: FaceSelection,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceMatch {
    /// Calibrated 0-100: 20*log10(1/FMR) on LFW impostor pairs (40 = FMR 1e-2, 60 = 1e-3, 80 = 1e-4).
    pub similarity: f32,
    /// Raw cosine of the two templates.
    pub cosine: f32,
    pub face: FaceDto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompareResponse {
    /// Whether the best target face matches the source at the threshold.
    #[serde(rename = "match")]
    pub is_match: bool,
    /// Similarity of the best target face.
    pub similarity: f32,
    pub cosine: f32,
    pub threshold: f32,
    pub source_face: FaceDto,
    /// Target faces at or above the threshold, most similar first.
    pub face_matches: Vec<FaceMatch>,
    /// Target faces below it.
    pub unmatched_faces: Vec<FaceMatch>,
    pub source_image: ImageInfo,
    pub target_image: ImageInfo,
    pub face_model: String,
}

// --- verify-id ---

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyIdRequest {
    /// A photo or scan of the identity document.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub document: Option<ImageField>,
    /// The selfie: exactly one face.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub selfie: Option<ImageField>,
    #[serde(default)]
    pub threshold: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifyIdResponse {
    #[serde(rename = "match")]
    pub is_match: bool,
    pub similarity: f32,
    pub cosine: f32,
    pub threshold: f32,
    /// The portrait found on the document (its largest face).
    pub document_face: FaceDto,
    pub selfie_face: FaceDto,
    pub document_image: ImageInfo,
    pub selfie_image: ImageInfo,
    pub face_model: String,
}

// --- collections ---

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCollectionRequest {
    /// 1-255 characters of `A-Z a-z 0-9 _ . -`.
    pub collection_id: String,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionDto {
    pub collection_id: String,
    pub description: Option<String>,
    /// The embedding model of the collection's templates.
    pub face_model: String,
    pub face_count: u64,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<store::Collection> for CollectionDto {
    fn from(c: store::Collection) -> Self {
        CollectionDto {
            collection_id: c.collection_id,
            description: c.description,
            face_model: c.model,
            face_count: c.face_count,
            created_at: rfc3339(c.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionList {
    pub collections: Vec<CollectionDto>,
    /// Pass as `nextToken` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteCollectionResponse {
    pub collection_id: String,
    pub deleted_faces: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexFacesRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub image: Option<ImageField>,
    /// Your id for the person or record (stored with each face, returned by searches).
    #[serde(default, deserialize_with = "lenient_string")]
    pub external_id: Option<String>,
    /// Any JSON object, stored with each face and returned by searches (at most 16 KiB).
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
    /// `largest` (default) or `all`.
    #[serde(default)]
    pub faces: FaceSelection,
    /// With `faces: all`, index at most this many (largest first); 1-100, default 20.
    #[serde(default)]
    pub max_faces: Option<u32>,
    /// `auto` (default) refuses faces below the quality bar and says why; `none` indexes every face found.
    #[serde(default)]
    pub quality_filter: QualityFilter,
    /// Keep the image (retrievable at `/v1/collections/{id}/faces/{faceId}/image`; deleted with the face).
    #[serde(default)]
    pub store_image: bool,
    /// Idempotency key (1-64 of `A-Z a-z 0-9 _ -`): a retry with the same token adds nothing and returns the
    /// faces the first request added.
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_request_token: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum QualityFilter {
    None,
    #[default]
    Auto,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceRecordDto {
    pub face_id: Uuid,
    pub image_id: Uuid,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub bounding_box: BoundingBox,
    pub confidence: f32,
    pub quality: f32,
    pub image_stored: bool,
    /// The user of the collection the face is associated with (null: none).
    pub user_id: Option<String>,
    pub created_at: String,
}

impl From<store::FaceRecord> for FaceRecordDto {
    fn from(r: store::FaceRecord) -> Self {
        FaceRecordDto {
            face_id: r.face_id,
            image_id: r.image_id,
            external_id: r.external_id,
            metadata: r.metadata,
            bounding_box: BoundingBox { x: r.bbox.x, y: r.bbox.y, width: r.bbox.width, height: r.bbox.height },
            confidence: r.detection_score,
            quality: r.quality,
            image_stored: r.image_stored,
            user_id: r.user_id,
            created_at: rfc3339(r.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnindexedFace {
    pub face: FaceDto,
    /// Why it was not indexed: quality issues (`too_small`, `blurry`, ...) or `exceeds_max_faces`.
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexFacesResponse {
    pub face_records: Vec<FaceRecordDto>,
    pub unindexed_faces: Vec<UnindexedFace>,
    pub image: ImageInfo,
    pub face_model: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FaceList {
    pub faces: Vec<FaceRecordDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeleteFacesRequest {
    /// 1-1000 face ids.
    pub face_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteFacesResponse {
    pub deleted_faces: Vec<Uuid>,
    /// Ids that are not (or no longer) in the collection.
    pub not_found: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub image: Option<ImageField>,
    /// Matches per searched face, 1-1000 (default 10).
    #[serde(default)]
    pub max_results: Option<u32>,
    /// Calibrated similarity 0-100 a match must reach (default: the server's match threshold).
    #[serde(default)]
    pub threshold: Option<f32>,
    /// Search with the probe's `largest` face (default) or with `all` of them.
    #[serde(default)]
    pub faces: FaceSelection,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchByFaceRequest {
    #[serde(default)]
    pub max_results: Option<u32>,
    #[serde(default)]
    pub threshold: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchDto {
    pub face_id: Uuid,
    pub image_id: Uuid,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    /// The user of the collection the face is associated with (null: none).
    pub user_id: Option<String>,
    pub similarity: f32,
    pub cosine: f32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    pub searched_face: FaceDto,
    /// Most similar first.
    pub matches: Vec<MatchDto>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse {
    /// The probe image (boxes are in its pixels).
    pub image: ImageInfo,
    /// One entry per searched face (one with `faces: largest`).
    pub results: Vec<SearchResult>,
    pub threshold: f32,
    pub face_model: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchByFaceResponse {
    pub face_id: Uuid,
    pub matches: Vec<MatchDto>,
    pub threshold: f32,
    pub face_model: String,
}

// --- operations ---

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    pub ready: bool,
    pub store: String,
    /// `on`; or `off`, with why and what follows: without passive anti-spoofing no liveness session succeeds
    /// unless `liveness_allow_challenge_only` is set.
    pub passive_liveness: String,
    pub models: Vec<String>,
    /// The inference engine running the models: `tract` or `onnxruntime`.
    pub backend: String,
    /// The ONNX Runtime library in use, and where its path came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_library: Option<String>,
    /// Why `backend = "auto"` runs tract (no ONNX Runtime library found, or it did not load).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_fallback: Option<String>,
    pub face_model: String,
}

impl From<app::usecases::collections::Deleted> for DeleteFacesResponse {
    fn from(d: app::usecases::collections::Deleted) -> Self {
        DeleteFacesResponse { deleted_faces: d.deleted, not_found: d.not_found }
    }
}

impl From<app::usecases::collections::Match> for MatchDto {
    fn from(m: app::usecases::collections::Match) -> Self {
        MatchDto {
            face_id: m.face_id,
            image_id: m.image_id,
            external_id: m.external_id,
            metadata: m.metadata,
            user_id: m.user_id,
            similarity: m.similarity,
            cosine: m.cosine,
        }
    }
}

// --- users ---

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserDto {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub face_count: u64,
    pub created_at: String,
    /// The user's faces (on single-user answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<FaceRecordDto>>,
}

impl UserDto {
    pub(crate) fn new(u: store::User, faces: Option<Vec<store::FaceRecord>>) -> Self {
        UserDto {
            user_id: u.user_id,
            full_name: u.full_name,
            email: u.email,
            face_count: u.face_count,
            created_at: rfc3339(u.created_at),
            faces: faces.map(|f| f.into_iter().map(Into::into).collect()),
        }
    }
}
