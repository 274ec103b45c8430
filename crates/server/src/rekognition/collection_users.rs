//! The Users operations: CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces, SearchUsers and
//! SearchUsersByImage — AWS shapes in, [`app::usecases::collection_users`] does the work, AWS shapes out.

use serde_json::{json, Value};

use super::face_details::{face_detail, ratio_box};
use super::operations::{image_bytes, string_field};
use super::AwsError;
use app::state::AppState;
use app::usecases::collection_users::{
    self, AssociateOptions, Changed, NotSearched, Refusal, SearchBy, UserMatch, UserSearchOptions, UserStatus,
};
use app::usecases::collections::{CollectionRef, Page};

/// The operations of this module.
pub(super) const OPERATIONS: &[&str] = &[
    "CreateUser",
    "DeleteUser",
    "ListUsers",
    "AssociateFaces",
    "DisassociateFaces",
    "SearchUsers",
    "SearchUsersByImage",
];

fn status(s: UserStatus) -> &'static str {
    match s {
        UserStatus::Created => "CREATED",
        UserStatus::Active => "ACTIVE",
    }
}

fn optional_str<'a>(request: &'a Value, name: &str) -> Result<Option<&'a str>, AwsError> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(AwsError::invalid(format!("{name} must be a string"))),
    }
}

/// A `Percent` parameter (0..100), `default` when absent.
fn percent(request: &Value, name: &str, default: f32) -> Result<f32, AwsError> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|t| (0.0..=100.0).contains(t))
            .map(|t| t as f32)
            .ok_or_else(|| AwsError::invalid(format!("{name} must lie in 0..100"))),
    }
}

/// `MaxUsers` / `MaxResults` of the Users operations: 1..500.
fn max_users(request: &Value, name: &str) -> Result<Option<u32>, AwsError> {
    match request.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(
            v.as_u64()
                .filter(|n| (1..=u64::from(collection_users::MAX_USERS_PER_SEARCH)).contains(n))
                .ok_or_else(|| AwsError::invalid(format!("{name} must be an integer from 1 to 500")))?
                as u32,
        )),
    }
}

fn face_ids(request: &Value) -> Result<Vec<String>, AwsError> {
    request
        .get("FaceIds")
        .and_then(Value::as_array)
        .ok_or_else(|| AwsError::invalid("FaceIds is required"))?
        .iter()
        .map(|v| v.as_str().map(String::from).ok_or_else(|| AwsError::invalid("FaceIds must be strings")))
        .collect()
}

fn user_matches(matches: &[UserMatch]) -> Vec<Value> {
    matches
        .iter()
        .map(|m| {
            json!({
                "Similarity": m.similarity.clamp(0.0, 100.0),
                "User": {"UserId": m.user_id, "UserStatus": status(UserStatus::Active)},
            })
        })
        .collect()
}

fn reason(r: Refusal) -> &'static str {
    match r {
        Refusal::FaceNotFound => "FACE_NOT_FOUND",
        Refusal::OtherUser => "ASSOCIATED_TO_A_DIFFERENT_USER",
        Refusal::LowMatch => "LOW_MATCH_CONFIDENCE",
    }
}

fn not_searched_reason(r: NotSearched) -> &'static str {
    use vision::QualityIssue::*;
    match r {
        NotSearched::NotLargest => "FACE_NOT_LARGEST",
        NotSearched::Quality(TooSmall) => "SMALL_BOUNDING_BOX",
        NotSearched::Quality(Blurry) => "LOW_SHARPNESS",
        NotSearched::Quality(TooDark | TooBright) => "LOW_BRIGHTNESS",
        NotSearched::Quality(NotFrontal) => "EXTREME_POSE",
    }
}

/// The refused faces of a (dis)association, as AWS lists them.
fn unsuccessful(changed: &Changed, with_confidence: bool) -> Vec<Value> {
    changed
        .refused
        .iter()
        .map(|r| {
            let mut v = json!({"FaceId": r.face_id.to_string(), "Reasons": [reason(r.reason)]});
            if let Some(user) = &r.user_id {
                v["UserId"] = json!(user);
            }
            if let (true, Some(s)) = (with_confidence, r.similarity) {
                v["Confidence"] = json!(s.clamp(0.0, 100.0));
            }
            v
        })
        .collect()
}

/// Runs one of the [`OPERATIONS`].
pub(super) async fn handle(
    app: &AppState,
    caller: &auth::Access,
    operation: &str,
    request: &Value,
) -> Result<Value, AwsError> {
    let collection = CollectionRef::of(caller, string_field(request, "CollectionId")?)?;
    let token = optional_str(request, "ClientRequestToken")?;
    match operation {
        "CreateUser" => {
            collection_users::create(app, collection, string_field(request, "UserId")?, token).await?;
            Ok(json!({}))
        }
        "DeleteUser" => {
            collection_users::delete(app, collection, string_field(request, "UserId")?, token).await?;
            Ok(json!({}))
        }
        "ListUsers" => {
            let page = Page {
                limit: max_users(request, "MaxResults")?,
                next_token: optional_str(request, "NextToken")?.map(String::from),
            };
            let listed = collection_users::list(app, collection, &page).await?;
            let mut out = json!({
                "Users": listed.items.iter().map(|u| json!({"UserId": u.user_id, "UserStatus": status(u.status)})).collect::<Vec<_>>(),
            });
            if let Some(next) = listed.next_token {
                out["NextToken"] = json!(next);
            }
            Ok(out)
        }
        "AssociateFaces" => {
            let options = AssociateOptions {
                threshold: Some(percent(request, "UserMatchThreshold", 75.0)?),
                client_request_token: token.map(String::from),
            };
            let user = string_field(request, "UserId")?;
            let changed = collection_users::associate(app, collection, user, &face_ids(request)?, options).await?;
            Ok(json!({
                "AssociatedFaces": changed.faces.iter().map(|f| json!({"FaceId": f.to_string()})).collect::<Vec<_>>(),
                "UnsuccessfulFaceAssociations": unsuccessful(&changed, true),
                "UserStatus": status(changed.status),
            }))
        }
        "DisassociateFaces" => {
            let user = string_field(request, "UserId")?;
            let changed = collection_users::disassociate(app, collection, user, &face_ids(request)?, token).await?;
            Ok(json!({
                "DisassociatedFaces": changed.faces.iter().map(|f| json!({"FaceId": f.to_string()})).collect::<Vec<_>>(),
                "UnsuccessfulFaceDisassociations": unsuccessful(&changed, false),
                "UserStatus": status(changed.status),
            }))
        }
        "SearchUsers" => {
            let by = match (optional_str(request, "UserId")?, optional_str(request, "FaceId")?) {
                (Some(user), None) => SearchBy::User(user.to_string()),
                (None, Some(face)) => SearchBy::Face(face.to_string()),
                _ => return Err(AwsError::invalid("SearchUsers takes either a UserId or a FaceId")),
            };
            let options = UserSearchOptions {
                threshold: Some(percent(request, "UserMatchThreshold", 80.0)?),
                max_users: max_users(request, "MaxUsers")?,
            };
            let found = collection_users::search(app, collection, &by, options).await?;
            let mut out = json!({"UserMatches": user_matches(&found.matches), "FaceModelVersion": found.face_model});
            match by {
                SearchBy::Face(face) => out["SearchedFace"] = json!({"FaceId": face}),
                SearchBy::User(user) => out["SearchedUser"] = json!({"UserId": user}),
            }
            Ok(out)
        }
        "SearchUsersByImage" => {
            let quality_filter = match optional_str(request, "QualityFilter")? {
                None | Some("NONE") => false,
                Some("AUTO" | "LOW" | "MEDIUM" | "HIGH") => true,
                Some(_) => return Err(AwsError::invalid("QualityFilter must be NONE, AUTO, LOW, MEDIUM or HIGH")),
            };
            let options = UserSearchOptions {
                threshold: Some(percent(request, "UserMatchThreshold", 80.0)?),
                max_users: max_users(request, "MaxUsers")?,
            };
            let image = image_bytes(app, caller, request, "Image").await?;
            let found = collection_users::search_by_image(app, collection, image, options, quality_filter).await?;
            let mut out = json!({
                "UserMatches": user_matches(&found.matches),
                "FaceModelVersion": found.face_model,
                "UnsearchedFaces": found.not_searched.iter().map(|(face, reasons)| json!({
                    "FaceDetails": face_detail(face, None, &found.image),
                    "Reasons": reasons.iter().map(|r| not_searched_reason(*r)).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            if let Some(face) = &found.searched_face {
                out["SearchedFace"] = json!({"FaceDetail": {
                    "BoundingBox": ratio_box(&face.detection.bbox, &found.image),
                    "Confidence": face.detection.score * 100.0,
                }});
            }
            Ok(out)
        }
        other => Err(super::signed::unknown_operation(other)),
    }
}
