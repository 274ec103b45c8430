//! The use cases as every front door gets them: the real models, a real SQLite store in a temporary directory, real
//! photos from the shared data (`../shared/data/lfw`).

use std::path::Path;

use bytes::Bytes;

use super::analysis::{Depth, Measured};
use super::collections::{self, CollectionRef, IndexOptions, IndexSelection, Page, SearchOptions};
use super::{analysis, faces, keys, login_users};
use crate::config::ServerConfig;
use crate::error::Code;
use crate::state::AppState;

/// LFW photos of `person`, in file order.
fn photos(person: &str) -> Vec<Bytes> {
    let dir = testkit::shared_data(&format!("lfw/images/{person}"));
    let mut paths: Vec<_> = std::fs::read_dir(&dir).expect("the person's photos").flatten().map(|e| e.path()).collect();
    paths.sort();
    paths.into_iter().map(|p| Bytes::from(std::fs::read(p).expect("a photo"))).collect()
}

/// The service on a new SQLite store in `dir`, with the embedded models.
async fn service(dir: &Path) -> AppState {
    let config = ServerConfig { data_dir: dir.to_path_buf(), workers: 2, ..ServerConfig::default() };
    crate::service::open(config, None).await.expect("the service opens")
}

fn options(external_id: &str) -> IndexOptions {
    IndexOptions {
        selection: IndexSelection::Largest,
        quality_filter: true,
        external_id: Some(external_id.into()),
        metadata: None,
        client_request_token: None,
        store_image: false,
        measure: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faces_and_collections() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let app = service(dir.path()).await;
    let (blair, chavez) = (photos("Tony_Blair"), photos("Hugo_Chavez"));

    let same = faces::compare(&app, blair[0].clone(), blair[1].clone(), Default::default()).await.expect("compare");
    let other = faces::compare(&app, blair[0].clone(), chavez[0].clone(), Default::default()).await.expect("compare");
    assert!(same.is_match() && !other.is_match(), "{:?} vs {:?}", same.best(), other.best());
    let err = faces::compare(&app, blair[0].clone(), Bytes::from_static(b"not an image"), Default::default()).await;
    assert!(err.is_err_and(|e| e.code.status() == 400 || e.code.status() == 415));

    let caller = auth::Access::unrestricted("test");
    collections::create(&app, &caller, "staff".into(), None).await.expect("create");
    let staff = CollectionRef::of(&caller, "staff").expect("the caller may use it");
    let dup = collections::create(&app, &caller, "staff".into(), None).await;
    assert_eq!(dup.err().map(|e| e.code), Some(Code::CollectionExists));
    for (photo, id) in [(&blair[0], "blair"), (&chavez[0], "chavez")] {
        let indexed = collections::index_faces(&app, staff, photo.clone(), options(id)).await.expect("index");
        assert_eq!(indexed.records.len(), 1);
    }
    let found = collections::search(&app, staff, blair[2].clone(), SearchOptions::default()).await.expect("search");
    let best = &found.results[0].matches;
    assert_eq!(best.first().and_then(|m| m.external_id.as_deref()), Some("blair"));
    assert!(best.iter().all(|m| m.external_id.as_deref() != Some("chavez")), "an impostor above the threshold");

    let listed =
        collections::list_faces(&app, staff, &Page { limit: Some(1), next_token: None }, Default::default()).await;
    let listed = listed.expect("list faces");
    assert_eq!(listed.items.len(), 1);
    assert!(listed.next_token.is_some());
    let gone = collections::delete_face(&app, staff, &best[0].face_id.to_string()).await.expect("delete");
    assert_eq!(gone.deleted, vec![best[0].face_id]);
    let again = collections::search(&app, staff, blair[2].clone(), SearchOptions::default()).await.expect("search");
    assert!(again.results[0].matches.is_empty());
    let nobody = CollectionRef::of(&caller, "nobody").expect("a collection id");
    let missing = collections::search(&app, nobody, blair[2].clone(), SearchOptions::default()).await;
    assert_eq!(missing.err().map(|e| e.code), Some(Code::CollectionNotFound));
    // A collection reaches the use cases only through its caller's scope.
    let limited = auth::Access { collections: Some(vec!["other".into()]), ..auth::Access::unrestricted("limited") };
    assert_eq!(CollectionRef::of(&limited, "staff").err().map(|e| e.code), Some(Code::CollectionForbidden));
    assert_eq!(CollectionRef::of(&limited, "other").map(|c| c.id()), Ok("other"));
    assert_eq!(CollectionRef::of(&caller, "no/such").err().map(|e| e.code), Some(Code::CollectionNotFound));
    crate::service::close(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detection_with_analysis_of_the_largest_faces() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let app = service(dir.path()).await;
    let read = |rel: &str| Bytes::from(std::fs::read(testkit::shared_data(rel)).expect("a shared image"));
    let two = read("samples/face_recognition/two_people.jpg");

    let found = analysis::detect(&app, two.clone(), 1, Depth::Full).await.expect("detect");
    assert_eq!(found.faces.len(), 2);
    let area = |f: &analysis::DetectedFace| f.face.detection.bbox.area();
    assert!(area(&found.faces[0]) >= area(&found.faces[1]), "largest first");
    let analysed = |f: &analysis::DetectedFace| f.measured.as_ref().is_some_and(|m| m.analysis.is_some());
    assert!(analysed(&found.faces[0]) && found.faces[1].measured.is_none(), "only the largest analysed");
    let plain = analysis::detect(&app, two.clone(), 0, Depth::Full).await.expect("detect");
    assert!(plain.faces.iter().all(|f| f.measured.is_none()) && plain.faces.len() == 2);
    let none = analysis::detect(&app, read("samples/insightface/crop/no_face.png"), 20, Depth::Full)
        .await
        .expect("no face is no error");
    assert!(none.faces.is_empty());

    // The same boxes analysed later give the same measurements, in the order given; the pose alone is the
    // whole analysis's pose.
    let boxes: Vec<vision::BBox> = found.faces.iter().rev().map(|f| f.face.detection.bbox).collect();
    let again = analysis::measure_boxes(&app, two.clone(), boxes.clone(), Depth::Full).await.expect("analyse boxes");
    let (Some(Measured { analysis: Some(first), .. }), Some(Measured { analysis: Some(second), .. })) =
        (&found.faces[0].measured, &again[1])
    else {
        panic!("not analysed")
    };
    assert!(again[0].is_some());
    assert!((first.pose.yaw - second.pose.yaw).abs() < 1e-3 && (first.smile - second.smile).abs() < 1e-4);
    let poses = analysis::measure_boxes(&app, two, boxes, Depth::Pose).await.expect("poses");
    let Some(pose) = &poses[1] else { panic!("no pose") };
    assert!(pose.analysis.is_none() && pose.pose == first.pose, "{:?} against {:?}", pose.pose, first.pose);

    // Indexing tells which detected face each new record is, and measures the faces in the same pass as the
    // analysis of the same image does.
    let caller = auth::Access::unrestricted("test");
    collections::create(&app, &caller, "attributes".into(), None).await.expect("create");
    let attributes = CollectionRef::of(&caller, "attributes").expect("the caller may use it");
    let mut every = options("two");
    every.selection = IndexSelection::All { max: None };
    every.measure = Some(Depth::Full);
    let indexed = collections::index_faces(&app, attributes, read("samples/face_recognition/two_people.jpg"), every)
        .await
        .expect("index");
    assert_eq!(indexed.records.len(), indexed.detected.len());
    for record in &indexed.records {
        let now = indexed.detected.iter().find(|d| d.face_id == record.face_id).expect("detected");
        assert_eq!(now.face.detection.bbox.x, record.bbox.x);
        let Some(Measured { analysis: Some(measured), .. }) = &now.measured else { panic!("not measured") };
        let same_box = found.faces.iter().find(|f| f.face.detection.bbox.x == now.face.detection.bbox.x);
        if let Some(Measured { analysis: Some(a), .. }) = same_box.and_then(|f| f.measured.as_ref()) {
            assert!((a.pose.yaw - measured.pose.yaw).abs() < 1e-3 && (a.smile - measured.smile).abs() < 1e-4);
        }
    }
    assert!(indexed.not_indexed.iter().all(|u| u.measured.is_some()), "faces left out are measured too");
    crate::service::close(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_log_in_with_their_face() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let app = service(dir.path()).await;
    let (blair, chavez) = (photos("Tony_Blair"), photos("Hugo_Chavez"));
    let profile = |id: &str| login_users::Profile { user_id: id.into(), ..Default::default() };

    let admin = auth::Access::unrestricted("test");
    let key = login_users::UsersCaller::Key(&admin);
    let alice = login_users::register(&app, key, profile("alice"), blair[..3].to_vec(), false).await.expect("register");
    assert_eq!(alice.faces.len(), 3);
    // Another account for the same face, or a registration mixing two people, is refused; a caller without a key
    // is not told whose the face is.
    let taken = login_users::register(&app, key, profile("mallory"), vec![blair[3].clone()], false).await;
    let taken = taken.err().expect("refused");
    assert_eq!((taken.code, taken.details.is_some()), (Code::FaceAlreadyRegistered, true));
    let anonymous = login_users::UsersCaller::Anonymous;
    let hidden = login_users::register(&app, anonymous, profile("eve"), vec![blair[3].clone()], false).await;
    let hidden = hidden.err().expect("refused");
    assert_eq!((hidden.code, hidden.details.is_some()), (Code::FaceAlreadyRegistered, false));
    assert!(!hidden.message.contains("alice"), "{}", hidden.message);
    let mixed =
        login_users::register(&app, key, profile("bob"), vec![chavez[0].clone(), blair[4].clone()], false).await;
    assert_eq!(mixed.err().map(|e| e.code), Some(Code::FaceMismatch));
    let bad_id = login_users::register(&app, key, profile("me"), vec![chavez[0].clone()], false).await;
    assert_eq!(bad_id.err().map(|e| e.code), Some(Code::InvalidUserId));

    let attempt = |image: &Bytes| login_users::LoginAttempt {
        image: Some(image.clone()),
        threshold: None,
        liveness_session: None,
    };
    let login = login_users::face_login(&app, attempt(&blair[5])).await.expect("Blair logs in");
    assert_eq!(login.user.user_id, "alice");
    assert!(login.similarity >= app.config.login_threshold);
    let (claims, user) = login_users::token_user(&app, Some(&login.token)).await.expect("the token opens");
    assert_eq!((claims.sub.as_str(), user.user_id.as_str()), ("alice", "alice"));
    let stranger = login_users::face_login(&app, attempt(&chavez[1])).await;
    assert_eq!(stranger.err().map(|e| e.code), Some(Code::NoMatch));

    // A user's token reaches its own user only; a key needs the `users` scope; nobody reaches no one.
    let own = login_users::UsersCaller::User(&user);
    assert_eq!(login_users::get(&app, own, "alice").await.map(|u| u.faces.len()).ok(), Some(3));
    let listed = login_users::list(&app, own, &Page::default()).await.expect("its own user");
    assert_eq!(listed.items.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), vec!["alice"]);
    assert_eq!(login_users::delete(&app, own, "bob").await.err().map(|e| e.code), Some(Code::InsufficientScope));
    let detect_only = auth::Access { scopes: vec![auth::Scope::FacesDetect], ..auth::Access::unrestricted("k") };
    let narrow = login_users::UsersCaller::Key(&detect_only);
    assert_eq!(login_users::get(&app, narrow, "alice").await.err().map(|e| e.code), Some(Code::InsufficientScope));
    assert_eq!(
        login_users::list(&app, anonymous, &Page::default()).await.err().map(|e| e.code),
        Some(Code::Unauthorized)
    );
    login_users::logout(&app, Some(&login.token)).await.expect("logout");
    let after = login_users::token_user(&app, Some(&login.token)).await;
    assert_eq!(after.err().map(|e| e.code), Some(Code::InvalidToken));
    assert_eq!(login_users::delete(&app, key, "alice").await.expect("delete"), 3);
    let gone = login_users::face_login(&app, attempt(&blair[5])).await;
    assert_eq!(gone.err().map(|e| e.code), Some(Code::NoMatch));
    crate::service::close(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_their_usage() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = store::Store::open(&format!("sqlite://{}", dir.path().join("keys.db").display()), 2)
        .await
        .expect("the store opens");
    let new = |scopes: &[&str]| -> crate::error::ApiResult<keys::NewKey> {
        Ok(keys::NewKey {
            name: "ci".into(),
            scopes: keys::parse_scopes(&scopes.iter().map(|s| s.to_string()).collect::<Vec<_>>())?,
            monthly_quota: Some(10),
            ..Default::default()
        })
    };
    assert_eq!(new(&["faces:fly"]).err().map(|e| e.code), Some(Code::InvalidParameter));
    let none = keys::create(&store, new(&[]).expect("no scopes parse")).await;
    assert_eq!(none.err().map(|e| e.code), Some(Code::InvalidParameter));

    let created = keys::create(&store, new(&["faces:detect", "faces:detect"]).expect("scopes")).await.expect("create");
    assert!(created.token.starts_with(&format!("fg_{}_", created.key.key_id)));
    assert_eq!(created.key.scopes, vec!["faces:detect"]);
    let caller = auth::Access {
        key_id: created.key.key_id.clone(),
        scopes: vec![auth::Scope::FacesDetect],
        collections: None,
        buckets: None,
        stored: true,
    };
    let usage = keys::usage(&store, &caller, None).await.expect("usage");
    assert_eq!((usage.requests, usage.remaining()), (0, Some(10)));
    let other = keys::usage(&store, &caller, Some("someone-else".into())).await;
    assert_eq!(other.err().map(|e| e.code), Some(Code::InsufficientScope));

    let revoked = keys::revoke(&store, &created.key.key_id).await.expect("revoke");
    assert!(revoked.revoked_at.is_some());
    let pair = keys::issue_aws_credentials(&store, &created.key.key_id).await;
    assert_eq!(pair.err().map(|e| e.code), Some(Code::InvalidParameter));
    assert_eq!(keys::get(&store, "nope").await.err().map(|e| e.code), Some(Code::KeyNotFound));
    store.close().await;
}
