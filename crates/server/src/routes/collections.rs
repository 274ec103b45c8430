//! The `/v1` collection endpoints (over [`app::usecases::collections`]). Collections (1:N): create, list, get, delete; index faces from an image; list, get and delete faces;
//! search by image and by an enrolled face.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::dto::*;
use crate::http_error::ApiResult;
use crate::http_error::ErrorBody;
use crate::input::{lenient_string, OptionsBody, Payload, QueryOptions};
use app::state::AppState;
use app::usecases::collections::{self, CollectionRef};

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

#[derive(Debug, Deserialize, IntoParams, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1-1000 (default 100).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `nextToken` of the previous page.
    #[serde(default, deserialize_with = "lenient_string")]
    pub next_token: Option<String>,
    /// Only faces with this external id (face listing only).
    #[serde(default, deserialize_with = "lenient_string")]
    pub external_id: Option<String>,
    /// Only the faces of this user of the collection (face listing only).
    #[serde(default, deserialize_with = "lenient_string")]
    pub user_id: Option<String>,
}

impl PageQuery {
    /// The page this query asks for.
    pub fn page(&self) -> collections::Page {
        collections::Page { limit: self.limit, next_token: self.next_token.clone() }
    }
}

/// Create a collection.
#[utoipa::path(post, path = "/v1/collections", tag = "collections",
    request_body = CreateCollectionRequest,
    responses(
        (status = 201, body = CollectionDto),
        (status = 400, description = "`invalid_collection_id`, `invalid_json`, ...", body = ErrorBody),
        (status = 409, description = "`collection_exists`", body = ErrorBody),
    ))]
pub async fn create_collection(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    OptionsBody(req): OptionsBody<CreateCollectionRequest>,
) -> ApiResult<(StatusCode, Json<CollectionDto>)> {
    let created = collections::create(&app, &caller, req.collection_id, req.description).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// List collections (in id order, paginated).
#[utoipa::path(get, path = "/v1/collections", tag = "collections", params(PageQuery),
    responses((status = 200, body = CollectionList), (status = 400, body = ErrorBody)))]
pub async fn list_collections(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    QueryOptions(q): QueryOptions<PageQuery>,
) -> ApiResult<Json<CollectionList>> {
    let listed = collections::list(&app, &caller, &q.page()).await?;
    Ok(Json(CollectionList {
        collections: listed.items.into_iter().map(Into::into).collect(),
        next_token: listed.next_token,
    }))
}

/// Describe a collection.
#[utoipa::path(get, path = "/v1/collections/{collectionId}", tag = "collections",
    params(("collectionId" = String, Path)),
    responses((status = 200, body = CollectionDto), (status = 404, body = ErrorBody)))]
pub async fn get_collection(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
) -> ApiResult<Json<CollectionDto>> {
    Ok(Json(collections::describe(&app, CollectionRef::of(&caller, &id)?).await?.into()))
}

/// Delete a collection with all its faces and stored images.
#[utoipa::path(delete, path = "/v1/collections/{collectionId}", tag = "collections",
    params(("collectionId" = String, Path)),
    responses((status = 200, body = DeleteCollectionResponse), (status = 404, body = ErrorBody)))]
pub async fn delete_collection(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeleteCollectionResponse>> {
    let deleted_faces = collections::delete(&app, CollectionRef::of(&caller, &id)?).await?;
    Ok(Json(DeleteCollectionResponse { collection_id: id, deleted_faces }))
}

/// Index the faces of an image into a collection.
///
/// The largest face (or all faces, up to `maxFaces`) is checked against the quality bar, embedded and stored
/// with `externalId` and `metadata`; faces below the bar come back in `unindexedFaces` with the reasons.
/// The image itself is stored only with `storeImage: true`.
#[utoipa::path(post, path = "/v1/collections/{collectionId}/faces", tag = "collections",
    params(("collectionId" = String, Path)),
    request_body(content = IndexFacesRequest, description = "JSON with base64 `image`; multipart with an `image` file; or a raw image with options in the query"),
    responses(
        (status = 200, body = IndexFacesResponse),
        (status = 400, body = ErrorBody),
        (status = 404, description = "`collection_not_found`", body = ErrorBody),
        (status = 422, description = "`no_face`", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn index_faces(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
    mut payload: Payload,
) -> ApiResult<Json<IndexFacesResponse>> {
    let image = payload.take_image("image")?;
    let req: IndexFacesRequest = payload.options()?;
    let options = collections::IndexOptions {
        selection: match req.faces {
            FaceSelection::Largest => collections::IndexSelection::Largest,
            FaceSelection::All => collections::IndexSelection::All { max: req.max_faces },
        },
        quality_filter: req.quality_filter == QualityFilter::Auto,
        external_id: req.external_id,
        metadata: req.metadata,
        client_request_token: req.client_request_token,
        store_image: req.store_image,
        measure: None,
    };
    let indexed = collections::index_faces(&app, CollectionRef::of(&caller, &id)?, image, options).await?;
    Ok(Json(IndexFacesResponse {
        face_records: indexed.records.into_iter().map(Into::into).collect(),
        unindexed_faces: indexed
            .not_indexed
            .iter()
            .map(|n| UnindexedFace {
                face: FaceDto::from(&n.face),
                reasons: n.reasons.iter().map(|r| r.code().to_string()).collect(),
            })
            .collect(),
        image: indexed.image.into(),
        face_model: indexed.face_model,
    }))
}

/// List the faces of a collection in enrolment order (paginated; optionally only one external id).
#[utoipa::path(get, path = "/v1/collections/{collectionId}/faces", tag = "collections",
    params(("collectionId" = String, Path), PageQuery),
    responses((status = 200, body = FaceList), (status = 404, body = ErrorBody)))]
pub async fn list_faces(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
    QueryOptions(q): QueryOptions<PageQuery>,
) -> ApiResult<Json<FaceList>> {
    let listed = collections::list_faces(
        &app,
        CollectionRef::of(&caller, &id)?,
        &q.page(),
        store::FaceFilter { external_id: q.external_id.as_deref(), user_id: q.user_id.as_deref() },
    )
    .await?;
    Ok(Json(FaceList { faces: listed.items.into_iter().map(Into::into).collect(), next_token: listed.next_token }))
}

/// Describe one face.
#[utoipa::path(get, path = "/v1/collections/{collectionId}/faces/{faceId}", tag = "collections",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    responses((status = 200, body = FaceRecordDto), (status = 404, body = ErrorBody)))]
pub async fn get_face(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, face_id)): Path<(String, String)>,
) -> ApiResult<Json<FaceRecordDto>> {
    Ok(Json(collections::describe_face(&app, CollectionRef::of(&caller, &id)?, &face_id).await?.into()))
}

/// The image a face was indexed from, when it was stored (`storeImage: true`).
#[utoipa::path(get, path = "/v1/collections/{collectionId}/faces/{faceId}/image", tag = "collections",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    responses((status = 200, description = "The image bytes", content_type = "image/jpeg"), (status = 404, body = ErrorBody)))]
pub async fn get_face_image(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, face_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let image = collections::face_image(&app, CollectionRef::of(&caller, &id)?, &face_id).await?;
    Ok(([(header::CONTENT_TYPE, image.content_type)], Body::from(image.bytes)).into_response())
}

/// Delete one face (and its stored image).
#[utoipa::path(delete, path = "/v1/collections/{collectionId}/faces/{faceId}", tag = "collections",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    responses((status = 200, body = DeleteFacesResponse), (status = 404, body = ErrorBody)))]
pub async fn delete_face(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, face_id)): Path<(String, String)>,
) -> ApiResult<Json<DeleteFacesResponse>> {
    Ok(Json(collections::delete_face(&app, CollectionRef::of(&caller, &id)?, &face_id).await?.into()))
}

/// Delete several faces at once; ids not in the collection are listed in `notFound`.
#[utoipa::path(post, path = "/v1/collections/{collectionId}/faces/delete", tag = "collections",
    params(("collectionId" = String, Path)),
    request_body = DeleteFacesRequest,
    responses((status = 200, body = DeleteFacesResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_faces(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
    OptionsBody(req): OptionsBody<DeleteFacesRequest>,
) -> ApiResult<Json<DeleteFacesResponse>> {
    Ok(Json(collections::delete_faces(&app, CollectionRef::of(&caller, &id)?, req.face_ids).await?.into()))
}

/// Search a collection with the faces of an image (the largest, or all), top `maxResults` above the threshold.
#[utoipa::path(post, path = "/v1/collections/{collectionId}/search", tag = "collections",
    params(("collectionId" = String, Path)),
    request_body(content = SearchRequest, description = "JSON with base64 `image`; multipart with an `image` file; or a raw image with options in the query"),
    responses(
        (status = 200, body = SearchResponse),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "`no_face` in the probe", body = ErrorBody),
        (status = 503, body = ErrorBody),
    ))]
pub async fn search(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path(id): Path<String>,
    mut payload: Payload,
) -> ApiResult<Json<SearchResponse>> {
    let image = payload.take_image("image")?;
    let req: SearchRequest = payload.options()?;
    let options = collections::SearchOptions {
        threshold: req.threshold,
        max_results: req.max_results,
        all_faces: req.faces == FaceSelection::All,
    };
    let found = collections::search(&app, CollectionRef::of(&caller, &id)?, image, options).await?;
    Ok(Json(SearchResponse {
        image: found.image.into(),
        results: found
            .results
            .into_iter()
            .map(|r| SearchResult {
                searched_face: FaceDto::from(&r.searched_face),
                matches: r.matches.into_iter().map(Into::into).collect(),
            })
            .collect(),
        threshold: found.threshold,
        face_model: found.face_model,
    }))
}

/// Search a collection with a face already in it (the face itself is not among the matches).
#[utoipa::path(post, path = "/v1/collections/{collectionId}/faces/{faceId}/search", tag = "collections",
    params(("collectionId" = String, Path), ("faceId" = String, Path)),
    request_body = SearchByFaceRequest,
    responses((status = 200, body = SearchByFaceResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn search_by_face(
    State(app): State<AppState>,
    Extension(caller): Extension<auth::Access>,
    Path((id, face_id)): Path<(String, String)>,
    OptionsBody(req): OptionsBody<SearchByFaceRequest>,
) -> ApiResult<Json<SearchByFaceResponse>> {
    let found =
        collections::search_by_face(&app, CollectionRef::of(&caller, &id)?, &face_id, req.threshold, req.max_results)
            .await?;
    Ok(Json(SearchByFaceResponse {
        face_id: found.face_id,
        matches: found.matches.into_iter().map(Into::into).collect(),
        threshold: found.threshold,
        face_model: found.face_model,
    }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_create_collection, _, _>(create_collection, Scope(Scope::CollectionsWrite))
        .operation::<__path_list_collections, _, _>(list_collections, Scope(Scope::CollectionsRead))
        .operation::<__path_get_collection, _, _>(get_collection, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_delete_collection, _, _>(delete_collection, CollectionScope(Scope::CollectionsWrite))
        .operation::<__path_index_faces, _, _>(index_faces, CollectionScope(Scope::CollectionsWrite))
        .operation::<__path_list_faces, _, _>(list_faces, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_get_face, _, _>(get_face, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_get_face_image, _, _>(get_face_image, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_delete_face, _, _>(delete_face, CollectionScope(Scope::CollectionsWrite))
        .operation::<__path_delete_faces, _, _>(delete_faces, CollectionScope(Scope::CollectionsWrite))
        .operation::<__path_search, _, _>(search, CollectionScope(Scope::CollectionsRead))
        .operation::<__path_search_by_face, _, _>(search_by_face, CollectionScope(Scope::CollectionsRead))
}
