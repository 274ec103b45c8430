//! Users of a collection: a user id that groups up to 100 of the collection's faces (a face in one user at
//! most) — create, list, describe, delete (its faces stay, without a user); associate and disassociate faces;
//! search for users by an enrolled face, by a user, or by the largest face of an image. A user's score is the
//! best of its faces, ranked by the index in the same single scan as a face search.
//!
//! Not the users of face login ([`super::login_users`]): those live in their own internal collection and log in with
//! their face; these are the grouping of a collection's faces that Rekognition calls Users.

use std::collections::HashMap;

use bytes::Bytes;
use store::{CollectionUser, Once, RequestKey};
use uuid::Uuid;
use vision::{Face, QualityIssue, Wanted};

use super::collections::{catch_up, paged, usable_collection, CollectionRef, Listed, Page};
use crate::error::{ApiError, ApiResult, Code, Field};
use crate::indexes::UserHit;
use crate::inference::{largest, ImageInfo};
use crate::state::AppState;

/// Faces one call associates or disassociates, at most.
pub const MAX_FACES_PER_CALL: usize = 100;
/// Users one search returns, at most.
pub const MAX_USERS_PER_SEARCH: u32 = 500;
const DEFAULT_USERS_PER_SEARCH: u32 = 10;

/// Whether a user holds faces yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Created, no face associated.
    Created,
    /// At least one face associated.
    Active,
}

impl UserStatus {
    fn of(face_count: u64) -> Self {
        if face_count == 0 {
            UserStatus::Created
        } else {
            UserStatus::Active
        }
    }
}

/// A user and its status.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub user_id: String,
    pub face_count: u64,
    pub status: UserStatus,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

impl From<CollectionUser> for User {
    fn from(u: CollectionUser) -> Self {
        User {
            status: UserStatus::of(u.face_count),
            user_id: u.user_id,
            face_count: u.face_count,
            created_at: u.created_at,
        }
    }
}

fn check_user_id(user_id: &str) -> ApiResult<()> {
    if store::valid_collection_user_id(user_id) {
        Ok(())
    } else {
        Err(ApiError::new(Code::InvalidUserId, "userId must be 1-128 characters of A-Z a-z 0-9 _ . - :"))
    }
}

fn check_token(token: Option<&str>) -> ApiResult<()> {
    match token {
        Some(t) if !store::valid_client_token(t) => {
            Err(ApiError::invalid_field(Field::ClientRequestToken, "must be 1-64 characters of A-Z a-z 0-9 _ -"))
        }
        _ => Ok(()),
    }
}

/// The request key of an idempotent call: its operation, token and what it asked.
fn request_key<'a>(operation: &'static str, token: Option<&'a str>, fingerprint: String) -> Option<RequestKey<'a>> {
    token.map(|token| RequestKey { operation, token, fingerprint })
}

fn parse_face_ids(face_ids: &[String]) -> ApiResult<Vec<Uuid>> {
    if face_ids.is_empty() || face_ids.len() > MAX_FACES_PER_CALL {
        return Err(ApiError::invalid_field(Field::FaceIds, format!("must hold 1-{MAX_FACES_PER_CALL} ids")));
    }
    face_ids
        .iter()
        .map(|id| Uuid::parse_str(id).map_err(|_| ApiError::invalid_parameter(format!("{id:?} is not a face id"))))
        .collect()
}

async fn existing_user(app: &AppState, collection: &str, user_id: &str) -> ApiResult<CollectionUser> {
    check_user_id(user_id)?;
    match app.store.get_collection_user(collection, user_id).await? {
        Some(user) => Ok(user),
        None if app.store.collection_model(collection).await?.is_none() => {
            Err(ApiError::collection_not_found(collection))
        }
        None => Err(ApiError::user_not_found(user_id)),
    }
}

/// Creates a user in a collection (idempotent on `token`).
pub async fn create(app: &AppState, reached: CollectionRef<'_>, user_id: &str, token: Option<&str>) -> ApiResult<User> {
    let collection = reached.id();
    check_user_id(user_id)?;
    check_token(token)?;
    let key = request_key("create_user", token, user_id.to_string());
    Ok(app.store.create_collection_user(collection, user_id, key.as_ref()).await?.into_inner().into())
}

/// Deletes a user (idempotent on `token`); its faces stay in the collection, without a user. Returns how many
/// faces it held.
pub async fn delete(app: &AppState, reached: CollectionRef<'_>, user_id: &str, token: Option<&str>) -> ApiResult<u64> {
    let collection = reached.id();
    check_user_id(user_id)?;
    check_token(token)?;
    let key = request_key("delete_user", token, user_id.to_string());
    let deleted = app.store.delete_collection_user(collection, user_id, key.as_ref()).await?;
    if let Once::First(_) = deleted {
        catch_up(app).await;
    }
    Ok(deleted.into_inner())
}

/// The users of a collection in id order.
pub async fn list(app: &AppState, reached: CollectionRef<'_>, page: &Page) -> ApiResult<Listed<User>> {
    let collection = reached.id();
    let limit = page.size()?;
    if app.store.collection_model(collection).await?.is_none() {
        return Err(ApiError::collection_not_found(collection));
    }
    let users = app.store.list_collection_users(collection, page.next_token.as_deref(), limit + 1).await?;
    Ok(paged(users.into_iter().map(User::from).collect(), limit, |u| u.user_id.clone()))
}

/// A user with the ids of its faces.
pub struct UserFaces {
    pub user: User,
    pub face_ids: Vec<Uuid>,
}

pub async fn describe(app: &AppState, reached: CollectionRef<'_>, user_id: &str) -> ApiResult<UserFaces> {
    let collection = reached.id();
    let user = existing_user(app, collection, user_id).await?;
    let face_ids = app.store.collection_user_faces(collection, user_id).await?;
    Ok(UserFaces { user: user.into(), face_ids })
}

/// Why a face was not associated (or disassociated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    FaceNotFound,
    /// The face belongs to another user.
    OtherUser,
    /// The face is not similar enough to the user's faces.
    LowMatch,
}

/// A face left as it was, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused {
    pub face_id: Uuid,
    pub reason: Refusal,
    /// For [`Refusal::OtherUser`]: that user.
    pub user_id: Option<String>,
    /// For [`Refusal::LowMatch`]: the face's calibrated similarity to the user (its best face).
    pub similarity: Option<f32>,
}

/// What an association or disassociation did.
#[derive(Debug, Clone, PartialEq)]
pub struct Changed {
    /// The faces (dis)associated now (faces that were already so are left out).
    pub faces: Vec<Uuid>,
    pub refused: Vec<Refused>,
    pub status: UserStatus,
    pub face_count: u64,
}

/// How to associate.
#[derive(Debug, Clone, Default)]
pub struct AssociateOptions {
    /// The calibrated similarity (0-100) a face must reach against the user's faces, when it has some; `None`:
    /// the server's match threshold.
    pub threshold: Option<f32>,
    pub client_request_token: Option<String>,
}

/// The template of a face of the collection (from the index, else the store).
async fn template_of(app: &AppState, collection: &str, face: Uuid) -> ApiResult<Option<Vec<f32>>> {
    match app.indexes.template(collection, &face) {
        Some(t) => Ok(Some(t)),
        None => Ok(app.store.face_template(collection, face).await?),
    }
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / n).collect()
}

/// The faces the store left as they were: not in the collection, or another user's.
fn refusals(not_found: &[Uuid], other_user: &[(Uuid, String)]) -> Vec<Refused> {
    let missing = not_found.iter().map(|&face_id| Refused {
        face_id,
        reason: Refusal::FaceNotFound,
        user_id: None,
        similarity: None,
    });
    let taken = other_user.iter().map(|(face_id, user)| Refused {
        face_id: *face_id,
        reason: Refusal::OtherUser,
        user_id: Some(user.clone()),
        similarity: None,
    });
    missing.chain(taken).collect()
}

/// Associates faces of the collection with a user. When the user holds faces already, each new face must
/// reach `threshold` against the best of them (as AWS's `UserMatchThreshold`); a user without faces is founded
/// by the first face of the call, which the others must match. A face of another user, or not in
/// the collection, is refused with its reason. At most 100 faces per user: a call that would pass it changes
/// nothing. Idempotent on the client request token.
pub async fn associate(
    app: &AppState,
    reached: CollectionRef<'_>,
    user_id: &str,
    face_ids: &[String],
    options: AssociateOptions,
) -> ApiResult<Changed> {
    let collection = reached.id();
    check_user_id(user_id)?;
    check_token(options.client_request_token.as_deref())?;
    let threshold = app.threshold(options.threshold)?;
    let faces = parse_face_ids(face_ids)?;
    usable_collection(app, collection).await?;
    existing_user(app, collection, user_id).await?;
    let mut sorted: Vec<String> = faces.iter().map(Uuid::to_string).collect();
    sorted.sort();
    let fingerprint = format!("{user_id}|{}|{threshold}", sorted.join(","));
    let key = request_key("associate_faces", options.client_request_token.as_deref(), fingerprint);

    // The user's faces now: each new face is compared with the best of them.
    let mut theirs = Vec::new();
    for face in app.store.collection_user_faces(collection, user_id).await? {
        if let Some(t) = template_of(app, collection, face).await? {
            theirs.push(normalised(&t));
        }
    }
    let mut candidates = Vec::new();
    let mut low = Vec::new();
    for &face in &faces {
        match template_of(app, collection, face).await? {
            // Not in the collection: the store reports it.
            None => candidates.push(face),
            // A user without faces: the first face found founds it, and the others must match it.
            Some(t) if theirs.is_empty() => {
                theirs.push(normalised(&t));
                candidates.push(face);
            }
            Some(t) => {
                let t = normalised(&t);
                let best = theirs.iter().map(|u| index::dot(u, &t)).fold(-1.0f32, f32::max);
                let similarity = app.similarity(best);
                if similarity >= threshold {
                    candidates.push(face);
                } else {
                    low.push((face, similarity));
                }
            }
        }
    }
    let done = app.store.associate_faces(collection, user_id, &candidates, low, key.as_ref()).await?;
    let first = matches!(done, Once::First(_));
    let done = done.into_inner();
    if first && !done.associated.is_empty() {
        catch_up(app).await;
    }
    let mut refused = refusals(&done.not_found, &done.other_user);
    refused.extend(done.low_confidence.iter().map(|&(face_id, similarity)| Refused {
        face_id,
        reason: Refusal::LowMatch,
        user_id: Some(user_id.to_string()),
        similarity: Some(similarity),
    }));
    Ok(Changed {
        faces: done.associated,
        refused,
        status: UserStatus::of(done.face_count),
        face_count: done.face_count,
    })
}

/// Disassociates faces from a user: faces of another user, or not in the collection, are refused with their
/// reason; faces without a user are left alone. Idempotent on the client request token.
pub async fn disassociate(
    app: &AppState,
    reached: CollectionRef<'_>,
    user_id: &str,
    face_ids: &[String],
    token: Option<&str>,
) -> ApiResult<Changed> {
    let collection = reached.id();
    check_user_id(user_id)?;
    check_token(token)?;
    let faces = parse_face_ids(face_ids)?;
    existing_user(app, collection, user_id).await?;
    let mut sorted: Vec<String> = faces.iter().map(Uuid::to_string).collect();
    sorted.sort();
    let key = request_key("disassociate_faces", token, format!("{user_id}|{}", sorted.join(",")));
    let done = app.store.disassociate_faces(collection, user_id, &faces, key.as_ref()).await?;
    let first = matches!(done, Once::First(_));
    let done = done.into_inner();
    if first && !done.disassociated.is_empty() {
        catch_up(app).await;
    }
    let refused = refusals(&done.not_found, &done.other_user);
    Ok(Changed {
        faces: done.disassociated,
        refused,
        status: UserStatus::of(done.face_count),
        face_count: done.face_count,
    })
}

/// A user that matched.
#[derive(Debug, Clone, PartialEq)]
pub struct UserMatch {
    pub user_id: String,
    /// Calibrated 0-100: of the user's best face.
    pub similarity: f32,
    pub cosine: f32,
    /// The user's face that scored it.
    pub face_id: Uuid,
}

/// How to search for users.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserSearchOptions {
    /// A calibrated similarity 0-100 a user's best face must reach; `None`: the server's match threshold.
    pub threshold: Option<f32>,
    /// Users to return, 1-500 (default 10).
    pub max_users: Option<u32>,
}

/// What a search by face or by user looked for.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchBy {
    /// An enrolled face (it is not counted for its own user).
    Face(String),
    /// A user: its faces are the probes; the user itself is not among the matches.
    User(String),
}

pub struct UserSearch {
    /// Best first.
    pub matches: Vec<UserMatch>,
    pub threshold: f32,
    pub face_model: String,
}

fn max_users(requested: Option<u32>) -> ApiResult<usize> {
    match requested.unwrap_or(DEFAULT_USERS_PER_SEARCH) {
        n @ 1..=MAX_USERS_PER_SEARCH => Ok(n as usize),
        _ => Err(ApiError::invalid_field(Field::MaxUsers, format!("must lie in 1..{MAX_USERS_PER_SEARCH}"))),
    }
}

/// Ranks users for each probe in one scan of the index and keeps each user's best.
async fn find_users(
    app: &AppState,
    collection: &str,
    probes: Vec<Vec<f32>>,
    k: usize,
    threshold: f32,
    exclude_face: Option<Uuid>,
    exclude_user: Option<String>,
) -> ApiResult<Vec<UserMatch>> {
    let min_cosine = vision::similarity::cosine_for_similarity(app.model, threshold);
    let indexes = app.indexes.clone();
    let collection = collection.to_string();
    let want = k + usize::from(exclude_user.is_some());
    let hits = tokio::task::spawn_blocking(move || {
        let mut best: HashMap<String, UserHit> = HashMap::new();
        for probe in &probes {
            for hit in indexes.search_users(&collection, probe, want, min_cosine, exclude_face.as_ref()) {
                if Some(&hit.user_id) == exclude_user.as_ref() {
                    continue;
                }
                match best.get(&hit.user_id) {
                    Some(kept) if kept.score >= hit.score => {}
                    _ => {
                        best.insert(hit.user_id.clone(), hit);
                    }
                }
            }
        }
        let mut hits: Vec<UserHit> = best.into_values().collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.user_id.cmp(&b.user_id)));
        hits.truncate(k);
        hits
    })
    .await
    .map_err(|e| ApiError::internal("user search", e))?;
    Ok(hits
        .into_iter()
        .map(|h| UserMatch {
            user_id: h.user_id,
            similarity: app.similarity(h.score),
            cosine: h.score,
            face_id: h.face_id,
        })
        .collect())
}

/// Searches a collection's users with an enrolled face or with a user's faces.
pub async fn search(
    app: &AppState,
    reached: CollectionRef<'_>,
    by: &SearchBy,
    options: UserSearchOptions,
) -> ApiResult<UserSearch> {
    let collection = reached.id();
    let threshold = app.threshold(options.threshold)?;
    let k = max_users(options.max_users)?;
    usable_collection(app, collection).await?;
    let matches = match by {
        SearchBy::Face(face) => {
            let face_id = Uuid::parse_str(face)
                .map_err(|_| ApiError::new(Code::FaceNotFound, format!("no face {face:?} in the collection")))?;
            let template = template_of(app, collection, face_id).await?.ok_or_else(|| {
                ApiError::new(Code::FaceNotFound, format!("no face {face_id} in collection {collection:?}"))
            })?;
            find_users(app, collection, vec![template], k, threshold, Some(face_id), None).await?
        }
        SearchBy::User(user_id) => {
            existing_user(app, collection, user_id).await?;
            let mut probes = Vec::new();
            for face in app.store.collection_user_faces(collection, user_id).await? {
                probes.extend(template_of(app, collection, face).await?);
            }
            find_users(app, collection, probes, k, threshold, None, Some(user_id.clone())).await?
        }
    };
    Ok(UserSearch { matches, threshold, face_model: app.face_model() })
}

/// Why a face of the probe image was not searched with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotSearched {
    /// Only the largest face is searched with.
    NotLargest,
    /// The largest face is under the quality bar (with the quality filter on).
    Quality(QualityIssue),
}

pub struct ImageUserSearch {
    pub image: ImageInfo,
    /// The largest face, when it was searched with (none when the image holds no usable face).
    pub searched_face: Option<Face>,
    pub not_searched: Vec<(Face, Vec<NotSearched>)>,
    /// Best first.
    pub matches: Vec<UserMatch>,
    pub threshold: f32,
    pub face_model: String,
}

/// Searches a collection's users with the largest face of an image. An image without a (usable) face is not an
/// error: the answer has no searched face and no matches, and says why of each face.
pub async fn search_by_image(
    app: &AppState,
    reached: CollectionRef<'_>,
    image: Bytes,
    options: UserSearchOptions,
    quality_filter: bool,
) -> ApiResult<ImageUserSearch> {
    let collection = reached.id();
    let _admission = app.pool.admit()?;
    let threshold = app.threshold(options.threshold)?;
    let k = max_users(options.max_users)?;
    usable_collection(app, collection).await?;
    let analyzed = app
        .analyze(image, app.config.detect_max_side, Wanted::Every, move |faces| {
            largest(faces).into_iter().filter(|&i| !quality_filter || faces[i].quality.acceptable()).collect()
        })
        .await?;
    let biggest = largest(&analyzed.faces);
    let mut not_searched = Vec::new();
    for (i, face) in analyzed.faces.iter().enumerate() {
        if Some(i) != biggest {
            not_searched.push((face.clone(), vec![NotSearched::NotLargest]));
        } else if analyzed.template_of(i).is_none() {
            not_searched.push((face.clone(), face.quality.issues.iter().map(|q| NotSearched::Quality(*q)).collect()));
        }
    }
    let searched = biggest.and_then(|i| analyzed.template_of(i).map(|t| (i, t.vector.clone())));
    let (searched_face, matches) = match searched {
        Some((i, template)) => (
            Some(analyzed.faces[i].clone()),
            find_users(app, collection, vec![template], k, threshold, None, None).await?,
        ),
        None => (None, Vec::new()),
    };
    Ok(ImageUserSearch {
        image: analyzed.image,
        searched_face,
        not_searched,
        matches,
        threshold,
        face_model: app.face_model(),
    })
}
