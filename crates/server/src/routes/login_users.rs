//! Users of face login: register with one or more face images, list, read, delete, add faces; and
//! `GET /v1/users/me` for the holder of a face-login token.
//!
//! A face belongs to one user: registering (or adding) a face that matches another user's above the match
//! threshold is refused with that user's id. The images of one registration must show one person, and a
//! face added later must match the user's faces — so nobody can add their own face to someone's account.

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::access::bearer_token;
use crate::dto::FaceRecordDto;
use crate::dto::UserDto;
use crate::http_error::ErrorBody;
use crate::http_error::{ApiResult, HttpError};
use crate::input::{lenient_string, ImageField, Payload, QueryOptions};
use crate::routes::collections::PageQuery;
use app::error::{ApiError, Code};
use app::state::AppState;
use app::usecases::login_users::{self, Profile, UsersCaller};

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

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

fn images_of(payload: &mut Payload) -> ApiResult<Vec<Bytes>> {
    let mut images = payload.take_images("image")?;
    images.extend(payload.take_images("images")?);
    if images.is_empty() {
        return Err(HttpError::from(ApiError::new(
            Code::MissingImage,
            "send the user's face as `image` (or several as `images`)",
        )));
    }
    Ok(images)
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
    Extension(caller): Extension<auth::Access>,
    mut payload: Payload,
) -> ApiResult<(StatusCode, Json<UserDto>)> {
    let images = images_of(&mut payload)?;
    let req: RegisterUserRequest = payload.options()?;
    let profile = Profile { user_id: req.user_id.unwrap_or_default(), full_name: req.full_name, email: req.email };
    let registered = login_users::register(&app, UsersCaller::Key(&caller), profile, images, req.store_image).await?;
    Ok((StatusCode::CREATED, Json(UserDto::new(registered.user, Some(registered.faces)))))
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
    Extension(caller): Extension<auth::Access>,
    Path(user_id): Path<String>,
    mut payload: Payload,
) -> ApiResult<(StatusCode, Json<AddedUserFaces>)> {
    let images = images_of(&mut payload)?;
    let req: AddUserFacesRequest = payload.options()?;
    let records = login_users::add_faces(&app, UsersCaller::Key(&caller), &user_id, images, req.store_image).await?;
    Ok((StatusCode::CREATED, Json(AddedUserFaces { user_id, faces: records.into_iter().map(Into::into).collect() })))
}

/// List users (in id order, paginated).
#[utoipa::path(get, path = "/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = UserList), (status = 400, body = ErrorBody)))]
pub async fn list_users(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    QueryOptions(page): QueryOptions<PageQuery>,
) -> ApiResult<Json<UserList>> {
    if page.external_id.is_some() {
        return Err(HttpError::from(ApiError::invalid_parameter("externalId does not apply to users")));
    }
    let listed = login_users::list(&app, UsersCaller::Key(&caller), &page.page()).await?;
    let users = listed.items.into_iter().map(|u| UserDto::new(u, None)).collect();
    Ok(Json(UserList { users, next_token: listed.next_token }))
}

/// A user with their faces.
#[utoipa::path(get, path = "/v1/users/{userId}", tag = "users", params(("userId" = String, Path)),
    responses((status = 200, body = UserDto), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(user_id): Path<String>,
) -> ApiResult<Json<UserDto>> {
    let found = login_users::get(&app, UsersCaller::Key(&caller), &user_id).await?;
    Ok(Json(UserDto::new(found.user, Some(found.faces))))
}

/// Delete a user with their faces and stored images: they can no longer log in.
#[utoipa::path(delete, path = "/v1/users/{userId}", tag = "users", params(("userId" = String, Path)),
    responses((status = 200, body = DeletedUser), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(user_id): Path<String>,
) -> ApiResult<Json<DeletedUser>> {
    let deleted_faces = login_users::delete(&app, UsersCaller::Key(&caller), &user_id).await?;
    Ok(Json(DeletedUser { user_id, deleted_faces }))
}

/// The user a face-login token belongs to (send it as `Authorization: Bearer TOKEN`).
#[utoipa::path(get, path = "/v1/users/me", tag = "users",
    responses((status = 200, body = UserDto), (status = 401, description = "`invalid_token`: missing, malformed, forged, expired or revoked", body = ErrorBody)))]
pub async fn me(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Json<UserDto>> {
    let (_, user) = login_users::token_user(&app, bearer_token(&headers)).await?;
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
