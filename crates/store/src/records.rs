//! What the store holds, as plain structs.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct NewCollection {
    pub collection_id: String,
    pub description: Option<String>,
    /// The embedding model whose templates the collection holds (templates of two models never mix).
    pub model: String,
    pub dimension: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub collection_id: String,
    pub description: Option<String>,
    pub model: String,
    pub dimension: usize,
    pub face_count: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// Where the face was in its image, in the pixels of the (orientation-corrected) image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    /// The width and height of that image, so that the box can be given as ratios of it (Rekognition's
    /// `BoundingBox`). Absent in faces stored before it was kept, and for synthetic faces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<[u32; 2]>,
}

impl FaceBox {
    /// The box as ratios of its image's width and height (`[left, top, width, height]`), when its size is known.
    pub fn ratios(&self) -> Option<[f32; 4]> {
        let [w, h] = self.image_size.filter(|[w, h]| *w > 0 && *h > 0)?;
        let (w, h) = (w as f32, h as f32);
        Some([self.x / w, self.y / h, self.width / w, self.height / h])
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewFace {
    pub face_id: Uuid,
    pub image_id: Uuid,
    pub external_id: Option<String>,
    /// Caller's JSON metadata, stored verbatim.
    pub metadata: Option<serde_json::Value>,
    pub bbox: FaceBox,
    pub detection_score: f32,
    pub quality: f32,
    pub template: Vec<f32>,
}

/// A source image, stored only when the caller asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredImage {
    pub image_id: Uuid,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaceRecord {
    pub face_id: Uuid,
    pub collection_id: String,
    pub image_id: Uuid,
    pub external_id: Option<String>,
    pub metadata: Option<serde_json::Value>,
    pub bbox: FaceBox,
    pub detection_score: f32,
    pub quality: f32,
    pub image_stored: bool,
    /// The user of the collection the face is associated with.
    pub user_id: Option<String>,
    pub created_at: i64,
}

/// Which faces a listing holds: all, or those with an external id, or those of a user (or both).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaceFilter<'a> {
    pub external_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
}

/// One face's template, as the index loads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateRow {
    pub collection_id: String,
    pub face_id: Uuid,
    pub template: Vec<f32>,
    /// The user of the collection the face is associated with.
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    /// A face was added (its template is attached when it still exists).
    Add,
    /// A face was deleted.
    Delete,
    /// A whole collection was deleted.
    DropCollection,
    /// A face was associated with a user of its collection, or disassociated.
    User,
}

impl ChangeOp {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Add => "add",
            ChangeOp::Delete => "delete",
            ChangeOp::DropCollection => "drop",
            ChangeOp::User => "user",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "add" => Some(ChangeOp::Add),
            "delete" => Some(ChangeOp::Delete),
            "drop" => Some(ChangeOp::DropCollection),
            "user" => Some(ChangeOp::User),
            _ => None,
        }
    }
}

/// An entry of the change log, in commit order.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub seq: i64,
    pub op: ChangeOp,
    pub collection_id: String,
    pub face_id: Option<Uuid>,
    /// For `Add`: the template, or `None` when the face has been deleted since.
    pub template: Option<Vec<f32>>,
    /// For `Add` and `User`: the face's user now (changes are replayed against the present state, so a replay
    /// of any suffix of the log converges on it).
    pub user_id: Option<String>,
}
