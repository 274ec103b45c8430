//! The `/v1` endpoints of a collection's users (over [`app::usecases::collection_users`]): create, list,
//! describe, delete; associate and disassociate faces; search for users by a user, by an enrolled face or by
//! the largest face of an image (a user's score is the best of its faces).
//!
//! These group a collection's faces under your own user ids, as Rekognition's Users do; they are not the users
//! of face login (`/v1/users`).

use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::dto::FaceDto;
use crate::dto::ImageInfo;
use crate::http_error::ApiResult;
use crate::http_error::ErrorBody;
use crate::input::{lenient_string, ImageField, OptionsBody, Payload, QueryOptions};
use crate::routes::collections::PageQuery;
use app::state::AppState;
use app::usecases::collection_users::{
    self, AssociateOptions, Changed, NotSearched, Refusal, SearchBy, User, UserMatch, UserSearchOptions, UserStatus,
};
use app::usecases::collections::CollectionRef;

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCollectionUserRequest {
    /// 1-128 characters of `A-Z a-z 0-9 _ . - :`.
    pub user_id: String,
    /// Idempotency key (1-64 of `A-Z a-z 0-9 _ -`): a retry with the same token returns the first answer.
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_request_token: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserStatusDto {
    /// No face associated yet.
    Created,
    /// At least one face associated.
    Active,
}

impl From<UserStatus> for UserStatusDto {
    fn from(s: UserStatus) -> Self {
        match s {
            UserStatus::Created => UserStatusDto::Created,
            UserStatus::Active => UserStatusDto::Active,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionUserDto {
    pub user_id: String,
    pub status: UserStatusDto,
    pub face_count: u64,
    pub created_at: String,
    /// The user's faces (when one user is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_ids: Option<Vec<Uuid>>,
}

impl CollectionUserDto {
    fn new(u: User, face_ids: Option<Vec<Uuid>>) -> Self {
        CollectionUserDto {
            user_id: u.user_id,
            status: u.status.into(),
            face_count: u.face_count,
            created_at: app::time::rfc3339(u.created_at),
            face_ids,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CollectionUserList {
    pub users: Vec<CollectionUserDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteUserQuery {
    /// Idempotency key: a retry with the same token succeeds again instead of finding no user.
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_request_token: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedCollectionUser {
    pub user_id: String,
    /// Faces that were the user's: they stay in the collection, without a user.
    pub disassociated_faces: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AssociateFacesRequest {
    /// 1-100 face ids of the collection.
    pub face_ids: Vec<String>,
    /// Calibrated similarity 0-100 each face must reach against the user's faces when it has some (default:
    /// the server's match threshold).
    #[serde(default)]
    pub threshold: Option<f32>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_request_token: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DisassociateFacesRequest {
    /// 1-100 face ids of the collection.
    pub face_ids: Vec<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub client_request_token: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalDto {
    FaceNotFound,
    /// The face belongs to another user (`userId`).
    AssociatedToAnotherUser,
    /// The face's `similarity` to the user is under the threshold.
    LowMatch,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefusedFace {
    pub face_id: Uuid,
    pub reason: RefusalDto,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserFacesChanged {
    /// The faces (dis)associated now; faces that already were so are left out.
    pub faces: Vec<Uuid>,
    pub refused_faces: Vec<RefusedFace>,
    pub user_status: UserStatusDto,
    pub face_count: u64,
}

impl From<Changed> for UserFacesChanged {
    fn from(c: Changed) -> Self {
        UserFacesChanged {
            faces: c.faces,
            refused_faces: c
                .refused
                .into_iter()
                .map(|r| RefusedFace {
                    face_id: r.face_id,
                    reason: match r.reason {
                        Refusal::FaceNotFound => RefusalDto::FaceNotFound,
                        Refusal::OtherUser => RefusalDto::AssociatedToAnotherUser,
                        Refusal::LowMatch => RefusalDto::LowMatch,
                    },
                    user_id: r.user_id,
                    similarity: r.similarity,
                })
                .collect(),
            user_status: c.status.into(),
            face_count: c.face_count,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchUsersRequest {
    /// Users to return, 1-500 (default 10).
    #[serde(default)]
    pub max_users: Option<u32>,
    /// Calibrated similarity 0-100 a user's best face must reach (default: the server's match threshold).
    #[serde(default)]
    pub threshold: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserMatchDto {
    pub user_id: String,
    /// Calibrated 0-100, of the user's best face.
    pub similarity: f32,
    pub cosine: f32,
    /// The user's face that scored it.
    pub face_id: Uuid,
}

impl From<UserMatch> for UserMatchDto {
    fn from(m: UserMatch) -> Self {
        UserMatchDto { user_id: m.user_id, similarity: m.similarity, cosine: m.cosine, face_id: m.face_id }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchUsersResponse {
    pub matches: Vec<UserMatchDto>,
    pub threshold: f32,
    pub face_model: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SearchUsersByImageRequest {
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Byte)]
    pub image: Option<ImageField>,
    #[serde(default)]
    pub max_users: Option<u32>,
    #[serde(default)]
    pub threshold: Option<f32>,
    /// `none` (default) searches with the largest face whatever its quality; `auto` only when it clears the
    /// quality bar.
    #[serde(default)]
    pub quality_filter: Option<crate::dto::QualityFilter>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotSearchedFace {
    pub face: FaceDto,
    /// `not_largest`, or the quality issues (`too_small`, `blurry`, ...).
    pub reasons: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchUsersByImageResponse {
    pub image: ImageInfo,
    /// The largest face, when it was searched with (null when the image holds no usable face).
    pub searched_face: Option<FaceDto>,
    pub not_searched_faces: Vec<NotSearchedFace>,
    pub matches: Vec<UserMatchDto>,
    pub threshold: f32,
    pub face_model: String,
}

fn search_options(req: &SearchUsersRequest) -> UserSearchOptions {
    UserSearchOptions { threshold: req.threshold, max_users: req.max_users }
}

/// Create a user in a collection.
#[utoipa::path(post, path = "/v1/collections/{collectionId}/users", tag = "collection users",
    params(("collectionId" = String, Path)),
    request_body = CreateCollectionUserRequest,
    responses(
        (status = 201, body = CollectionUserDto),
        (status = 400, description = "`invalid_user_id`, ...", body = ErrorBody),
        (status = 404, description = "`collection_not_found`", body = ErrorBody),
        (status = 409, description = "`user_exists`, `request_token_reused`", body = ErrorBody),
    ))]
pub async fn create_user(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
    OptionsBody(req): OptionsBody<CreateCollectionUserRequest>,
) -> ApiResult<(StatusCode, Json<CollectionUserDto>)> {
    let user = collection_users::create(
        &app,
        CollectionRef::of(&caller, &id)?,
        &req.user_id,
        req.client_request_token.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(CollectionUserDto::new(user, None))))
}

/// List a collection's users (in id order, paginated).
#[utoipa::path(get, path = "/v1/collections/{collectionId}/users", tag = "collection users",
    params(("collectionId" = String, Path), PageQuery),
    responses((status = 200, body = CollectionUserList), (status = 404, body = ErrorBody)))]
pub async fn list_users(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
    QueryOptions(q): QueryOptions<PageQuery>,
) -> ApiResult<Json<CollectionUserList>> {
    let listed = collection_users::list(&app, CollectionRef::of(&caller, &id)?, &q.page()).await?;
    Ok(Json(CollectionUserList {
        users: listed.items.into_iter().map(|u| CollectionUserDto::new(u, None)).collect(),
        next_token: listed.next_token,
    }))
}

/// Describe a user with its faces.
#[utoipa::path(get, path = "/v1/collections/{collectionId}/users/{userId}", tag = "collection users",
    params(("collectionId" = String, Path), ("userId" = String, Path)),
    responses((status = 200, body = CollectionUserDto), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, user_id)): Path<(String, String)>,
) -> ApiResult<Json<CollectionUserDto>> {
    let found = collection_users::describe(&app, CollectionRef::of(&caller, &id)?, &user_id).await?;
    Ok(Json(CollectionUserDto::new(found.user, Some(found.face_ids))))
}

/// Delete a user; its faces stay in the collection, without a user.
#[utoipa::path(delete, path = "/v1/collections/{collectionId}/users/{userId}", tag = "collection users",
    params(("collectionId" = String, Path), ("userId" = String, Path), DeleteUserQuery),
    responses((status = 200, body = DeletedCollectionUser), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, user_id)): Path<(String, String)>,
    QueryOptions(q): QueryOptions<DeleteUserQuery>,
) -> ApiResult<Json<DeletedCollectionUser>> {
    let faces =
        collection_users::delete(&app, CollectionRef::of(&caller, &id)?, &user_id, q.client_request_token.as_deref())
            .await?;
    Ok(Json(DeletedCollectionUser { user_id, disassociated_faces: faces }))
}

/// Associate faces of the collection with a user.
///
/// When the user has faces, each new face must reach `threshold` against the best of them. A face of another
/// user, or not in the collection, is refused with its reason; a user holds at most 100 faces (`user_face_limit`:
/// nothing changes).
#[utoipa::path(post, path = "/v1/collections/{collectionId}/users/{userId}/associate", tag = "collection users",
    params(("collectionId" = String, Path), ("userId" = String, Path)),
    request_body = AssociateFacesRequest,
    responses(
        (status = 200, body = UserFacesChanged),
        (status = 400, body = ErrorBody),
        (status = 404, description = "`collection_not_found`, `user_not_found`", body = ErrorBody),
        (status = 409, description = "`user_face_limit`, `request_token_reused`", body = ErrorBody),
    ))]
pub async fn associate_faces(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, user_id)): Path<(String, String)>,
    OptionsBody(req): OptionsBody<AssociateFacesRequest>,
) -> ApiResult<Json<UserFacesChanged>> {
    let options = AssociateOptions { threshold: req.threshold, client_request_token: req.client_request_token };
    Ok(Json(
        collection_users::associate(&app, CollectionRef::of(&caller, &id)?, &user_id, &req.face_ids, options)
            .await?
            .into(),
    ))
}

/// Disassociate faces from a user (they stay in the collection).
#[utoipa::path(post, path = "/v1/collections/{collectionId}/users/{userId}/disassociate", tag = "collection users",
    params(("collectionId" = String, Path), ("userId" = String, Path)),
    request_body = DisassociateFacesRequest,
    responses((status = 200, body = UserFacesChanged), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disassociate_faces(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, user_id)): Path<(String, String)>,
    OptionsBody(req): OptionsBody<DisassociateFacesRequest>,
) -> ApiResult<Json<UserFacesChanged>> {
    let token = req.client_request_token.as_deref();
    Ok(Json(
        collection_users::disassociate(&app, CollectionRef::of(&caller, &id)?, &user_id, &req.face_ids, token)
            .await?
            .into(),
    ))
}

fn search_response(found: collection_users::UserSearch) -> SearchUsersResponse {
    SearchUsersResponse {
        matches: found.matches.into_iter().map(Into::into).collect(),
        threshold: found.threshold,
        face_model: found.face_model,
    }
}

/// Search for users similar to a user (by its faces; the user itself is not among the matches).
#[utoipa::path(post, path = "/v1/collections/{collectionId}/users/{userId}/search", tag = "collection users",
    params(("collectionId" = String, Path), ("userId" = String, Path)),
    request_body = SearchUsersRequest,
    responses((status = 200, body = SearchUsersResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn search_by_user(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, user_id)): Path<(String, String)>,
    OptionsBody(req): OptionsBody<SearchUsersRequest>,
) -> ApiResult<Json<SearchUsersResponse>> {
    let found = collection_users::search(
        &app,
        CollectionRef::of(&caller, &id)?,
        &SearchBy::User(user_id),
        search_options(&req),
    )
    .await?;
    Ok(Json(search_response(found)))
}

/// Search for the users an enrolled face is most similar to (the face itself does not count).
#[utoipa::path(post, path = "/v1/collections/{collectionId}/faces/{faceId}/search-users", tag = "collection users",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    request_body = SearchUsersRequest,
    responses((status = 200, body = SearchUsersResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn search_by_face(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, face_id)): Path<(String, String)>,
    OptionsBody(req): OptionsBody<SearchUsersRequest>,
) -> ApiResult<Json<SearchUsersResponse>> {
    let found = collection_users::search(
        &app,
        CollectionRef::of(&caller, &id)?,
        &SearchBy::Face(face_id),
        search_options(&req),
    )
    .await?;
    Ok(Json(search_response(found)))
}

/// Search for users with the largest face of an image.
///
/// An image without a (usable) face is not an error: `searchedFace` is null and `notSearchedFaces` says why.
#[utoipa::path(post, path = "/v1/collections/{collectionId}/search-users", tag = "collection users",
    params(("collectionId" = String, Path)),
    request_body(content = SearchUsersByImageRequest, description = "JSON with base64 `image`; multipart with an `image` file; or a raw image with options in the query"),
    responses(
        (status = 200, body = SearchUsersByImageResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn search_by_image(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
    mut payload: Payload,
) -> ApiResult<Json<SearchUsersByImageResponse>> {
    let image = payload.take_image("image")?;
    let req: SearchUsersByImageRequest = payload.options()?;
    let options = UserSearchOptions { threshold: req.threshold, max_users: req.max_users };
    let quality_filter = req.quality_filter == Some(crate::dto::QualityFilter::Auto);
    let found =
        collection_users::search_by_image(&app, CollectionRef::of(&caller, &id)?, image, options, quality_filter)
            .await?;
    Ok(Json(SearchUsersByImageResponse {
        searched_face: found.searched_face.as_ref().map(FaceDto::from),
        not_searched_faces: found
            .not_searched
            .iter()
            .map(|(face, reasons)| NotSearchedFace {
                face: FaceDto::from(face),
                reasons: reasons
                    .iter()
                    .map(|r| match r {
                        NotSearched::NotLargest => "not_largest".to_string(),
                        NotSearched::Quality(q) => q.code().to_string(),
                    })
                    .collect(),
            })
            .collect(),
        matches: found.matches.into_iter().map(Into::into).collect(),
        image: found.image.into(),
        threshold: found.threshold,
        face_model: found.face_model,
    }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_create_user, _, _>(create_user, CollectionScope(Scope::CollectionsWrite))
        .operation::<__path_list_users, _, _>(list_users, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_get_user, _, _>(get_user, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_delete_user, _, _>(delete_user, CollectionScope(Scope::CollectionsWrite))
        .operation::<__path_associate_faces, _, _>(associate_faces, CollectionScope(Scope::CollectionsWrite))
        .operation::<__path_disassociate_faces, _, _>(disassociate_faces, CollectionScope(Scope::CollectionsWrite))
        .operation::<__path_search_by_user, _, _>(search_by_user, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_search_by_face, _, _>(search_by_face, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_search_by_image, _, _>(search_by_image, CollectionScope(Scope::CollectionsRead))
}
