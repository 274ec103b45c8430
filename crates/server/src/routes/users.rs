//! Users of face login: register with one or more face images, list, read, delete, add faces; and
//! `GET /v1/users/me` for the holder of a face-login token.
//!
//! A face belongs to one user: registering (or adding) a face that matches another user's above the match
//! threshold is refused with that user's id. The images of one registration must show one person, and a
//! face added later must match the user's faces — so nobody can add their own face to someone's account.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use store::{FaceBox, NewFace, NewUser, StoredImage, User, USERS_COLLECTION};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dto::{rfc3339, FaceRecordDto};
use crate::error::{ApiError, ApiResult, Code};
use crate::http_error::ErrorBody;
use crate::input::{lenient_string, ImageField, Payload, QueryOptions};
use crate::routes::collections::PageQuery;
use crate::state::{largest, AppState};
use crate::usecases::collections::{catch_up, sniff_content_type, usable_collection};

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

const MAX_IMAGES: usize = 10;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterUserRequest {
    /// 1-128 characters of `A-Z a-z 0-9 _ . - @ +` (not `me`).
    #[serde(default, deserialize_with = "lenient_string")]
    #[schema(value_type = String)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// One face image (base64), or use `images`.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub image: Option<ImageField>,
    /// Several face images of the user (base64), up to 10.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub images: Option<ImageField>,
    /// Keep the source images (default false: only templates are stored).
    #[serde(default)]
    pub store_image: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddUserFacesRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub image: Option<ImageField>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub images: Option<ImageField>,
    #[serde(default)]
    pub store_image: bool,
}

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
    pub(crate) fn new(u: User, faces: Option<Vec<store::FaceRecord>>) -> Self {
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

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserList {
    pub users: Vec<UserDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddedUserFaces {
    pub user_id: String,
    pub faces: Vec<FaceRecordDto>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedUser {
    pub user_id: String,
    pub deleted_faces: u64,
}

/// A face found in one of the request's images, ready to store.
struct Enrolment {
    face: NewFace,
    image: Option<StoredImage>,
    /// The image's position in the request.
    index: usize,
}

fn images_of(payload: &mut Payload) -> ApiResult<Vec<Bytes>> {
    let mut images = payload.take_images("image")?;
    images.extend(payload.take_images("images")?);
    match images.len() {
        0 => Err(ApiError::new(Code::MissingImage, "send the user's face as `image` (or several as `images`)")),
        n if n > MAX_IMAGES => Err(ApiError::invalid_parameter(format!("at most {MAX_IMAGES} images per request"))),
        _ => Ok(images),
    }
}

/// The largest face of each image, embedded (in parallel on the inference workers).
async fn enrolments(app: &AppState, images: Vec<Bytes>, store_image: bool) -> ApiResult<Vec<Enrolment>> {
    let max_side = app.config.detect_max_side;
    let analyses =
        images.iter().map(|bytes| app.analyze(bytes.clone(), max_side, |f| largest(f).into_iter().collect()));
    let analysed = futures_util::future::join_all(analyses).await;
    let mut out = Vec::with_capacity(images.len());
    for (index, (analysed, bytes)) in analysed.into_iter().zip(images).enumerate() {
        let analysed = analysed?;
        let (Some(i), Some(template)) = (largest(&analysed.faces), analysed.templates.first()) else {
            return Err(ApiError::new(Code::NoFace, format!("no face was found in image {index}"))
                .with_details(serde_json::json!({ "image": index })));
        };
        let face = &analysed.faces[i];
        let b = face.detection.bbox;
        let image_id = Uuid::new_v4();
        out.push(Enrolment {
            face: NewFace {
                face_id: Uuid::now_v7(),
                image_id,
                external_id: None,
                metadata: None,
                bbox: FaceBox { x: b.x, y: b.y, width: b.width, height: b.height },
                detection_score: face.detection.score,
                quality: face.quality.score,
                template: template.vector.clone(),
            },
            image: store_image.then(|| StoredImage {
                image_id,
                content_type: sniff_content_type(&bytes).to_string(),
                bytes: bytes.to_vec(),
            }),
            index,
        });
    }
    Ok(out)
}

/// The faces to store, and the source images to keep with them.
fn split(faces: Vec<Enrolment>) -> (Vec<NewFace>, Vec<StoredImage>) {
    let (faces, images): (Vec<NewFace>, Vec<Option<StoredImage>>) =
        faces.into_iter().map(|e| (e.face, e.image)).unzip();
    (faces, images.into_iter().flatten().collect())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Refuses faces that belong to another user (best match above the match threshold).
async fn check_owner(app: &AppState, faces: &[Enrolment], user_id: &str) -> ApiResult<()> {
    let min_cosine = vision::similarity::cosine_for_similarity(app.model, app.config.match_threshold);
    for e in faces {
        let hits = app.indexes.search(USERS_COLLECTION, &e.face.template, 5, min_cosine);
        let ids: Vec<Uuid> = hits.iter().map(|h| h.id).collect();
        let records = app.store.get_faces(USERS_COLLECTION, &ids).await?;
        for hit in &hits {
            let owner = records.iter().find(|r| r.face_id == hit.id).and_then(|r| r.external_id.as_deref());
            if let Some(owner) = owner.filter(|o| *o != user_id) {
                let similarity = app.similarity(hit.score);
                return Err(ApiError::new(
                    Code::FaceAlreadyRegistered,
                    format!("the face in image {} belongs to user {owner:?} (similarity {similarity:.1})", e.index),
                )
                .with_details(serde_json::json!({ "userId": owner, "similarity": similarity, "image": e.index })));
            }
        }
    }
    Ok(())
}

/// Refuses a set of faces that are not all of one person (each must match `reference`).
fn check_same_person(app: &AppState, faces: &[Enrolment], reference: &[&[f32]]) -> ApiResult<()> {
    for e in faces {
        let best = reference.iter().map(|r| cosine(r, &e.face.template)).fold(-1.0f32, f32::max);
        let similarity = app.similarity(best);
        if similarity < app.config.match_threshold {
            return Err(ApiError::new(
                Code::FaceMismatch,
                format!(
                    "the face in image {} does not match the user's other faces (similarity {similarity:.1})",
                    e.index
                ),
            )
            .with_details(serde_json::json!({ "image": e.index, "similarity": similarity })));
        }
    }
    Ok(())
}

fn check_profile(req: &RegisterUserRequest) -> ApiResult<String> {
    let user_id = req.user_id.clone().unwrap_or_default();
    if !store::valid_user_id(&user_id) {
        return Err(ApiError::new(
            Code::InvalidUserId,
            "userId must be 1-128 characters of A-Z a-z 0-9 _ . - @ + (and not `me`)",
        ));
    }
    if req.full_name.as_ref().is_some_and(|n| n.len() > 256) {
        return Err(ApiError::invalid_parameter("fullName is limited to 256 bytes"));
    }
    if req.email.as_ref().is_some_and(|e| e.len() > 254 || !e.contains('@') || e.chars().any(char::is_whitespace)) {
        return Err(ApiError::invalid_parameter("email must be an e-mail address"));
    }
    Ok(user_id)
}

/// Register a user with one or more face images.
#[utoipa::path(post, path = "/v1/users", tag = "users",
    request_body(content = RegisterUserRequest, description = "JSON with base64 `image`/`images`; or multipart with `image` files and the other fields"),
    responses(
        (status = 201, body = UserDto),
        (status = 400, description = "`invalid_user_id`, `missing_image`, ...", body = ErrorBody),
        (status = 409, description = "`user_exists`, or `face_already_registered` (details: the `userId` the face belongs to)", body = ErrorBody),
        (status = 422, description = "`no_face`, or `face_mismatch` (the images show different people)", body = ErrorBody),
    ))]
pub async fn register_user(
    State(app): State<AppState>,
    mut payload: Payload,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let images = images_of(&mut payload)?;
    let req: RegisterUserRequest = payload.options()?;
    let user_id = check_profile(&req)?;
    let _admission = app.pool.admit()?;
    usable_collection(&app, USERS_COLLECTION).await?;
    let faces = enrolments(&app, images, req.store_image).await?;
    let first: Vec<&[f32]> = faces.first().map(|e| e.face.template.as_slice()).into_iter().collect();
    check_same_person(&app, &faces, &first)?;
    check_owner(&app, &faces, &user_id).await?;
    let new = NewUser { user_id, full_name: req.full_name, email: req.email };
    let (new_faces, stored) = split(faces);
    let user = app.store.create_user(&new, &new_faces, &stored).await?;
    catch_up(&app).await;
    let records = app.store.user_faces(&user.user_id).await?;
    tracing::info!(user_id = %user.user_id, faces = user.face_count, "user registered");
    Ok((StatusCode::CREATED, Json(UserDto::new(user, Some(records)))))
}

/// Add faces to a user; each must match the user's faces and belong to nobody else.
#[utoipa::path(post, path = "/v1/users/{userId}/faces", tag = "users",
    params(("userId" = String, Path)),
    request_body = AddUserFacesRequest,
    responses(
        (status = 201, body = AddedUserFaces),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
        (status = 409, description = "`face_already_registered`", body = ErrorBody),
        (status = 422, description = "`no_face`, `face_mismatch`", body = ErrorBody),
    ))]
pub async fn add_user_faces(
    State(app): State<AppState>,
    Path(user_id): Path<String>,
    mut payload: Payload,
) -> ApiResult<(StatusCode, Json<AddedUserFaces>)> {
    let images = images_of(&mut payload)?;
    let req: AddUserFacesRequest = payload.options()?;
    let _admission = app.pool.admit()?;
    usable_collection(&app, USERS_COLLECTION).await?;
    if app.store.get_user(&user_id).await?.is_none() {
        return Err(ApiError::user_not_found(&user_id));
    }
    let existing = app.store.user_faces(&user_id).await?;
    let faces = enrolments(&app, images, req.store_image).await?;
    let templates: Vec<Vec<f32>> =
        existing.iter().filter_map(|r| app.indexes.template(USERS_COLLECTION, &r.face_id)).collect();
    if !templates.is_empty() {
        let reference: Vec<&[f32]> = templates.iter().map(Vec::as_slice).collect();
        check_same_person(&app, &faces, &reference)?;
    }
    check_owner(&app, &faces, &user_id).await?;
    let (new_faces, stored) = split(faces);
    let records = app.store.add_user_faces(&user_id, &new_faces, &stored).await?;
    catch_up(&app).await;
    Ok((StatusCode::CREATED, Json(AddedUserFaces { user_id, faces: records.into_iter().map(Into::into).collect() })))
}

/// List users (in id order, paginated).
#[utoipa::path(get, path = "/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody)))]
pub async fn list_users(
    State(app): State<AppState>,
    QueryOptions(page): QueryOptions<PageQuery>,
) -> ApiResult<Json<UserList>> {
    if page.external_id.is_some() {
        return Err(ApiError::invalid_parameter("externalId does not apply to users"));
    }
    let limit = page.page().size()?;
    let mut users = app.store.list_users(page.next_token.as_deref(), limit + 1).await?;
    let next_token = if users.len() > limit as usize {
        users.truncate(limit as usize);
        users.last().map(|u| u.user_id.clone())
    } else {
        None
    };
    Ok(Json(UserList { users: users.into_iter().map(|u| UserDto::new(u, None)).collect(), next_token }))
}

/// A user with their faces.
#[utoipa::path(get, path = "/v1/users/{userId}", tag = "users", params(("userId" = String, Path)),
    responses((status = 200, body = UserDto), (status = 404, body = ErrorBody)))]
pub async fn get_user(State(app): State<AppState>, Path(user_id): Path<String>) -> ApiResult<Json<UserDto>> {
    let user = app.store.get_user(&user_id).await?.ok_or_else(|| ApiError::user_not_found(&user_id))?;
    let faces = app.store.user_faces(&user_id).await?;
    Ok(Json(UserDto::new(user, Some(faces))))
}

/// Delete a user with their faces and stored images: they can no longer log in.
#[utoipa::path(delete, path = "/v1/users/{userId}", tag = "users", params(("userId" = String, Path)),
    responses((status = 200, body = DeletedUser), (status = 404, body = ErrorBody)))]
pub async fn delete_user(State(app): State<AppState>, Path(user_id): Path<String>) -> ApiResult<Json<DeletedUser>> {
    let deleted_faces = app.store.delete_user(&user_id).await?.ok_or_else(|| ApiError::user_not_found(&user_id))?;
    catch_up(&app).await;
    tracing::info!(user_id = %user_id, deleted_faces, "user deleted");
    Ok(Json(DeletedUser { user_id, deleted_faces }))
}

/// The user a face-login token belongs to (send it as `Authorization: Bearer TOKEN`).
#[utoipa::path(get, path = "/v1/users/me", tag = "users",
    responses((status = 200, body = UserDto), (status = 401, description = "`invalid_token`: missing, malformed, forged, expired or revoked", body = ErrorBody)))]
pub async fn me(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Json<UserDto>> {
    let (_, user) = crate::routes::login::bearer_user(&app, &headers).await?;
    Ok(Json(UserDto::new(user, None)))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_register_user, _, _>(register_user, Scope(Scope::Users))
        .operation::<__path_list_users, _, _>(list_users, Scope(Scope::Users))
        .operation::<__path_get_user, _, _>(get_user, Scope(Scope::Users))
        .operation::<__path_delete_user, _, _>(delete_user, Scope(Scope::Users))
        .operation::<__path_add_user_faces, _, _>(add_user_faces, Scope(Scope::Users))
        .operation::<__path_me, _, _>(me, UserToken)
}
