//! Users of face login: register with face images, add faces, list, read, delete; log in with a face (after a
//! liveness session where the server requires one); the user behind a token; logout, revocation, and the
//! signing keys that let other services check tokens alone.
//!
//! A face belongs to one user: registering (or adding) a face that matches another user's above the match
//! threshold is refused with that user's id. The images of one registration must show one person, and a
//! face added later must match the user's faces — so nobody can add their own face to someone's account.

use bytes::Bytes;
use store::{FaceRecord, NewFace, NewUser, StoredImage, User, USERS_COLLECTION};
use uuid::Uuid;
use vision::Wanted;

use crate::error::{ApiError, ApiResult, Code};
use crate::inference::largest;
use crate::state::AppState;
use crate::usecases::collections::{catch_up, paged, sniff_content_type, usable_collection, Listed, Page};
use crate::usecases::liveness_sessions::{self, Credential};

/// Face images per registration or addition.
pub const MAX_IMAGES: usize = 10;

/// Who the user is (the faces come separately).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// 1-128 characters of `A-Z a-z 0-9 _ . - @ +` (not `me`).
    pub user_id: String,
    pub full_name: Option<String>,
    pub email: Option<String>,
}

/// A user with their faces.
pub struct UserFaces {
    pub user: User,
    pub faces: Vec<FaceRecord>,
}

/// A face found in one of the images, ready to store.
struct Enrolment {
    face: NewFace,
    image: Option<StoredImage>,
    /// The image's position among the images.
    index: usize,
}

fn check_image_count(images: &[Bytes]) -> ApiResult<()> {
    match images.len() {
        0 => Err(ApiError::new(Code::MissingImage, "a user needs at least one face image")),
        n if n > MAX_IMAGES => Err(ApiError::invalid_parameter(format!("at most {MAX_IMAGES} images per request"))),
        _ => Ok(()),
    }
}

/// The largest face of each image, embedded (in parallel on the inference workers).
async fn enrolments(app: &AppState, images: Vec<Bytes>, store_image: bool) -> ApiResult<Vec<Enrolment>> {
    let max_side = app.config.detect_max_side;
    let analyses = images
        .iter()
        .map(|bytes| app.analyze(bytes.clone(), max_side, Wanted::Largest, |f| largest(f).into_iter().collect()));
    let analysed = futures_util::future::join_all(analyses).await;
    let mut out = Vec::with_capacity(images.len());
    for (index, (analysed, bytes)) in analysed.into_iter().zip(images).enumerate() {
        let analysed = analysed?;
        let (Some(i), Some(template)) = (largest(&analysed.faces), analysed.templates.first()) else {
            return Err(ApiError::new(Code::NoFace, format!("no face was found in image {index}"))
                .with_details(details(&[("image", index.into())])));
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
                bbox: analysed.image.face_box(&b),
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

/// `details` of an error: a small JSON object.
fn details(pairs: &[(&str, serde_json::Value)]) -> serde_json::Value {
    serde_json::Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

/// Who acts on the users of face login: the caller goes into every use case below, which decides what it may do.
#[derive(Debug, Clone, Copy)]
pub enum UsersCaller<'a> {
    /// A key: with the `users` scope, it reaches every user and is told whose a registered face is.
    Key(&'a auth::Access),
    /// A face-login token's user (checked by [`token_user`]): its own user only.
    User(&'a User),
    /// Nobody, on an open route: it may register, and a refusal names no other user (else registering anyone's
    /// photo would name its owner and score: an oracle).
    Anonymous,
}

impl UsersCaller<'_> {
    /// Whether this caller may read and change every user: a key with the `users` scope.
    fn reaches_all(&self) -> ApiResult<()> {
        match self {
            UsersCaller::Key(access) if access.allows(auth::Scope::Users) => Ok(()),
            UsersCaller::Key(_) => Err(ApiError::new(Code::InsufficientScope, "this key lacks the `users` scope")),
            UsersCaller::User(_) => Err(ApiError::new(Code::InsufficientScope, "a token reaches its own user only")),
            UsersCaller::Anonymous => Err(ApiError::new(Code::Unauthorized, "this needs a key with the `users` scope")),
        }
    }

    /// Whether this caller may read and change user `user_id`: a key with the `users` scope, or its own token.
    fn reaches(&self, user_id: &str) -> ApiResult<()> {
        match self {
            UsersCaller::User(user) if user.user_id == user_id => Ok(()),
            _ => self.reaches_all(),
        }
    }

    /// Whether a refusal may name the user a face belongs to (a key with the `users` scope), or only say that it is
    /// taken.
    fn told_owners(&self) -> bool {
        matches!(self, UsersCaller::Key(access) if access.allows(auth::Scope::Users))
    }
}

/// Refuses faces that belong to another user: similar enough to log in as that user (`login_threshold`; a lower
/// bar turned away look-alikes who could never log in as each other).
async fn check_owner(app: &AppState, faces: &[Enrolment], user_id: &str, caller: UsersCaller<'_>) -> ApiResult<()> {
    let min_cosine = vision::similarity::cosine_for_similarity(app.model, app.config.login_threshold);
    for e in faces {
        let hits = app.indexes.search(USERS_COLLECTION, &e.face.template, 5, min_cosine);
        let ids: Vec<Uuid> = hits.iter().map(|h| h.id).collect();
        let records = app.store.get_faces(USERS_COLLECTION, &ids).await?;
        for hit in &hits {
            let owner = records.iter().find(|r| r.face_id == hit.id).and_then(|r| r.external_id.as_deref());
            if let Some(owner) = owner.filter(|o| *o != user_id) {
                if !caller.told_owners() {
                    return Err(ApiError::new(
                        Code::FaceAlreadyRegistered,
                        format!("the face in image {} is already registered to another user", e.index),
                    ));
                }
                let similarity = app.similarity(hit.score);
                return Err(ApiError::new(
                    Code::FaceAlreadyRegistered,
                    format!("the face in image {} belongs to user {owner:?} (similarity {similarity:.1})", e.index),
                )
                .with_details(details(&[
                    ("userId", owner.into()),
                    ("similarity", similarity.into()),
                    ("image", e.index.into()),
                ])));
            }
        }
    }
    Ok(())
}

/// Refuses a set of faces that are not all of one person (each must match `reference`).
fn check_same_person(app: &AppState, faces: &[Enrolment], reference: &[&[f32]]) -> ApiResult<()> {
    for e in faces {
        let best = reference.iter().map(|r| vision::embed::cosine(r, &e.face.template)).fold(-1.0f32, f32::max);
        let similarity = app.similarity(best);
        if similarity < app.config.match_threshold {
            return Err(ApiError::new(
                Code::FaceMismatch,
                format!(
                    "the face in image {} does not match the user's other faces (similarity {similarity:.1})",
                    e.index
                ),
            )
            .with_details(details(&[("image", e.index.into()), ("similarity", similarity.into())])));
        }
    }
    Ok(())
}

fn check_profile(profile: &Profile) -> ApiResult<()> {
    if !store::valid_user_id(&profile.user_id) {
        return Err(ApiError::new(
            Code::InvalidUserId,
            "a user id is 1-128 characters of A-Z a-z 0-9 _ . - @ + (and not `me`)",
        ));
    }
    if profile.full_name.as_ref().is_some_and(|n| n.len() > 256) {
        return Err(ApiError::invalid_parameter("the full name is limited to 256 bytes"));
    }
    if profile.email.as_ref().is_some_and(|e| e.len() > 254 || !e.contains('@') || e.chars().any(char::is_whitespace)) {
        return Err(ApiError::invalid_parameter("the e-mail must be an e-mail address"));
    }
    Ok(())
}

/// Registers a user with the largest face of each image (1-10 images of one person, nobody else's face).
pub async fn register(
    app: &AppState,
    caller: UsersCaller<'_>,
    profile: Profile,
    images: Vec<Bytes>,
    store_image: bool,
) -> ApiResult<UserFaces> {
    // A key registers with the `users` scope, anyone on an open route; a user's token never.
    if !matches!(caller, UsersCaller::Anonymous) {
        caller.reaches_all()?;
    }
    check_profile(&profile)?;
    check_image_count(&images)?;
    let _admission = app.pool.admit()?;
    usable_collection(app, USERS_COLLECTION).await?;
    let faces = enrolments(app, images, store_image).await?;
    let first: Vec<&[f32]> = faces.first().map(|e| e.face.template.as_slice()).into_iter().collect();
    check_same_person(app, &faces, &first)?;
    check_owner(app, &faces, &profile.user_id, caller).await?;
    let new = NewUser { user_id: profile.user_id, full_name: profile.full_name, email: profile.email };
    let (new_faces, stored) = split(faces);
    let user = app.store.create_user(&new, &new_faces, &stored).await?;
    catch_up(app).await;
    let faces = app.store.user_faces(&user.user_id).await?;
    tracing::info!(user_id = %user.user_id, faces = user.face_count, "user registered");
    Ok(UserFaces { user, faces })
}

/// Adds faces to a user: each must match the user's faces and belong to nobody else.
pub async fn add_faces(
    app: &AppState,
    caller: UsersCaller<'_>,
    user_id: &str,
    images: Vec<Bytes>,
    store_image: bool,
) -> ApiResult<Vec<FaceRecord>> {
    caller.reaches(user_id)?;
    check_image_count(&images)?;
    let _admission = app.pool.admit()?;
    usable_collection(app, USERS_COLLECTION).await?;
    if app.store.get_user(user_id).await?.is_none() {
        return Err(ApiError::user_not_found(user_id));
    }
    let existing = app.store.user_faces(user_id).await?;
    let faces = enrolments(app, images, store_image).await?;
    let templates: Vec<Vec<f32>> =
        existing.iter().filter_map(|r| app.indexes.template(USERS_COLLECTION, &r.face_id)).collect();
    if !templates.is_empty() {
        let reference: Vec<&[f32]> = templates.iter().map(Vec::as_slice).collect();
        check_same_person(app, &faces, &reference)?;
    }
    check_owner(app, &faces, user_id, caller).await?;
    let (new_faces, stored) = split(faces);
    let records = app.store.add_user_faces(user_id, &new_faces, &stored).await?;
    catch_up(app).await;
    Ok(records)
}

/// Users in id order: every user for a key with the `users` scope, its own for a user's token.
pub async fn list(app: &AppState, caller: UsersCaller<'_>, page: &Page) -> ApiResult<Listed<User>> {
    let limit = page.size()?;
    if let UsersCaller::User(user) = caller {
        let mine = page.next_token.as_deref().is_none_or(|after| user.user_id.as_str() > after);
        return Ok(Listed { items: mine.then(|| user.clone()).into_iter().collect(), next_token: None });
    }
    caller.reaches_all()?;
    let users = app.store.list_users(page.next_token.as_deref(), limit + 1).await?;
    Ok(paged(users, limit, |u| u.user_id.clone()))
}

pub async fn get(app: &AppState, caller: UsersCaller<'_>, user_id: &str) -> ApiResult<UserFaces> {
    caller.reaches(user_id)?;
    let user = app.store.get_user(user_id).await?.ok_or_else(|| ApiError::user_not_found(user_id))?;
    let faces = app.store.user_faces(user_id).await?;
    Ok(UserFaces { user, faces })
}

/// Deletes a user with their faces and stored images (they can no longer log in); returns how many faces went.
pub async fn delete(app: &AppState, caller: UsersCaller<'_>, user_id: &str) -> ApiResult<u64> {
    caller.reaches(user_id)?;
    let deleted_faces = app.store.delete_user(user_id).await?.ok_or_else(|| ApiError::user_not_found(user_id))?;
    catch_up(app).await;
    tracing::info!(user_id = %user_id, deleted_faces, "user deleted");
    Ok(deleted_faces)
}

/// A face login's input.
pub struct LoginAttempt<'a> {
    /// The face (optional with a liveness session: its face logs in).
    pub image: Option<Bytes>,
    /// Similarity needed, at least the server's `login_threshold` (its default).
    pub threshold: Option<f32>,
    /// A liveness session that has just succeeded, and what proves the caller ran it.
    pub liveness_session: Option<(&'a str, Credential<'a>)>,
}

/// A signed token for the user whose registered face matched.
pub struct LoggedIn {
    pub token: String,
    pub claims: auth::Claims,
    pub user: User,
    pub similarity: f32,
}

/// A face this close to the largest one's height makes a login image ambiguous: which of two people of about
/// the same size "the largest face" is then comes down to the detector's box by a few pixels. Measured with the
/// project's detector: no frame of the genuine videos in `people/` (320 frames of 9 people at 3 frames a second)
/// holds a second face at all; of 140 LFW press photos, 29 do, 9 of them at 0.8 or more of the largest's height.
pub const RIVAL_FACE_RATIO: f32 = 0.8;

/// Refuses a login image with a second face nearly as large as the largest (see [`RIVAL_FACE_RATIO`]).
fn check_one_person(faces: &[vision::Face]) -> ApiResult<()> {
    let mut heights: Vec<f32> = faces.iter().map(|f| f.detection.bbox.height).collect();
    heights.sort_by(|a, b| b.total_cmp(a));
    match heights.as_slice() {
        [largest, second, ..] if *second >= RIVAL_FACE_RATIO * largest => Err(ApiError::new(
            Code::MultipleFaces,
            "the image shows several faces of about the same size: log in one person at a time",
        )),
        _ => Ok(()),
    }
}

/// Logs in with a face: the user whose registered face matches best (at or above the threshold) gets a signed
/// token. With a liveness session its face logs in (an image, when given as well, must be the same person) and
/// the session is used up.
pub async fn face_login(app: &AppState, attempt: LoginAttempt<'_>) -> ApiResult<LoggedIn> {
    let floor = app.config.login_threshold;
    let threshold = match attempt.threshold {
        None => floor,
        Some(t) if t.is_finite() && (floor..=100.0).contains(&t) => t,
        Some(_) => {
            return Err(ApiError::invalid_parameter(format!(
                "threshold must lie between the configured floor {floor} and 100"
            )))
        }
    };
    let _admission = app.pool.admit()?;
    usable_collection(app, USERS_COLLECTION).await?;
    let live = match attempt.liveness_session {
        Some((id, credential)) => Some(liveness_sessions::take_for_login(app, id, credential).await?),
        None if app.config.login_requires_liveness => {
            return Err(ApiError::new(
                Code::LivenessRequired,
                "this server logs in only after a liveness session: name the session",
            ))
        }
        None => None,
    };
    let mut amr = vec!["face".to_string()];
    if live.is_some() {
        amr.push("liveness".into());
    }
    let probe = match attempt.image {
        Some(image) => {
            let analysed = app
                .analyze(image, app.config.detect_max_side, Wanted::Largest, |f| largest(f).into_iter().collect())
                .await?;
            let Some(template) = analysed.templates.first() else {
                return Err(ApiError::new(Code::NoFace, "no face was found in the image"));
            };
            check_one_person(&analysed.faces)?;
            if let Some(session_template) = &live {
                if app.similarity(vision::embed::cosine(session_template, &template.vector)) < threshold {
                    return Err(ApiError::new(
                        Code::LivenessMismatch,
                        "the image is not the liveness session's person",
                    ));
                }
            }
            template.vector.clone()
        }
        None => live.ok_or_else(|| ApiError::new(Code::MissingImage, "send a face image (or a liveness session)"))?,
    };
    let no_match = || ApiError::new(Code::NoMatch, "no registered user matches this face");
    let min_cosine = vision::similarity::cosine_for_similarity(app.model, threshold);
    let hit = app.indexes.search(USERS_COLLECTION, &probe, 1, min_cosine).into_iter().next();
    let Some(hit) = hit else {
        tracing::info!("face login: no match");
        return Err(no_match());
    };
    let record = app.store.get_faces(USERS_COLLECTION, &[hit.id]).await?.into_iter().next();
    let user_id = record.and_then(|r| r.external_id).ok_or_else(no_match)?;
    // Deleted (perhaps through another replica) since the index saw the face: no login.
    let user = app.store.get_user(&user_id).await?.ok_or_else(no_match)?;
    let similarity = app.similarity(hit.score);
    let issued = app
        .keyring
        .issue(&user.user_id, user.created_at, similarity, amr)
        .map_err(|e| ApiError::internal("signing a token", e))?;
    tracing::info!(user_id = %user.user_id, jti = %issued.claims.jti, similarity, "face login");
    Ok(LoggedIn { token: issued.token, claims: issued.claims, user, similarity })
}

/// A face-login token and its user, checked: signature, dates, issuer, audience, not revoked, and issued to the
/// user record that holds its user id now (a user deleted and registered again under the same id, perhaps with
/// another person's face, is another record: the old tokens no longer open it).
pub async fn token_user(app: &AppState, token: Option<&str>) -> ApiResult<(auth::Claims, User)> {
    let token = token.ok_or_else(|| ApiError::new(Code::InvalidToken, "a face-login token is needed"))?;
    let claims = app.keyring.verify(token).await.map_err(|e| ApiError::new(Code::InvalidToken, e.to_string()))?;
    if app.keyring.is_revoked(&claims.jti).await? {
        return Err(ApiError::new(Code::InvalidToken, "the token has been revoked"));
    }
    let user = app
        .store
        .get_user(&claims.sub)
        .await?
        .ok_or_else(|| ApiError::new(Code::InvalidToken, "the token's user no longer exists"))?;
    if claims.user_created_at != Some(user.created_at) {
        return Err(ApiError::new(Code::InvalidToken, "the token was issued to an earlier user of this id"));
    }
    Ok((claims, user))
}

/// Revokes the token itself (after checking it as [`token_user`] does).
pub async fn logout(app: &AppState, token: Option<&str>) -> ApiResult<()> {
    let (claims, _) = token_user(app, token).await?;
    app.keyring.revoke(&claims.jti, Some(claims.exp)).await?;
    Ok(())
}

/// Which token to revoke.
pub enum Revocation {
    /// A token of this service (its signature and issuer must hold).
    Token(String),
    /// A token's `jti`.
    Jti(String),
}

/// Revokes a token for every replica; returns its `jti` and false when it was revoked already.
pub async fn revoke(app: &AppState, which: Revocation) -> ApiResult<(String, bool)> {
    let (jti, exp) = match which {
        Revocation::Token(token) => match app.keyring.verify(&token).await {
            Ok(c) => (c.jti, Some(c.exp)),
            Err(auth::TokenError::Expired) => {
                return Err(ApiError::invalid_parameter("the token has expired already"));
            }
            Err(e) => return Err(ApiError::invalid_parameter(format!("not a token of this service: {e}"))),
        },
        Revocation::Jti(jti) if !jti.is_empty() && jti.len() <= 128 => (jti, None),
        Revocation::Jti(_) => return Err(ApiError::invalid_parameter("a jti is 1-128 characters")),
    };
    let revoked = app.keyring.revoke(&jti, exp).await?;
    tracing::info!(jti = %jti, "token revoked");
    Ok((jti, revoked))
}

/// The public keys that check tokens: the current signing key and those retired while their tokens may live.
pub fn signing_keys(app: &AppState) -> Vec<auth::Jwk> {
    app.keyring.jwks()
}

/// Starts signing with a new key; returns its id. The previous key stays published until its tokens expire.
pub async fn rotate_signing_key(app: &AppState) -> ApiResult<String> {
    match app.keyring.rotate().await? {
        Some(kid) => {
            tracing::info!(kid = %kid, "signing key rotated");
            Ok(kid)
        }
        None => Err(ApiError::new(
            Code::NotApplicable,
            "tokens are signed with the configured HS256 secret: change token_secret to rotate",
        )),
    }
}
