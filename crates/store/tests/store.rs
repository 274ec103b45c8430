//! The store's behaviour, the same cases on SQLite and on PostgreSQL (a real server: see testkit).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use libtest_mimic::{Arguments, Failed, Trial};
use store::{ChangeOp, FaceBox, NewCollection, NewFace, Store, StoreError, StoredImage};
use uuid::Uuid;

type Case = fn(Store) -> Pin<Box<dyn Future<Output = Result<(), Failed>>>>;

fn new_collection(id: &str) -> NewCollection {
    NewCollection { collection_id: id.into(), description: Some("test".into()), model: "sface".into(), dimension: 4 }
}

fn new_face(external: &str, template: [f32; 4]) -> NewFace {
    NewFace {
        face_id: Uuid::now_v7(),
        image_id: Uuid::new_v4(),
        external_id: Some(external.into()),
        metadata: Some(serde_json::json!({"dept": "ops", "n": 1})),
        bbox: FaceBox { x: 1.0, y: 2.0, width: 30.0, height: 40.0, image_size: Some([640, 480]) },
        detection_score: 0.9,
        quality: 0.8,
        template: template.to_vec(),
    }
}

async fn collections(store: Store) -> Result<(), Failed> {
    let created = store.create_collection(&new_collection("staff")).await?;
    assert_eq!(created.face_count, 0);
    assert!(matches!(store.create_collection(&new_collection("staff")).await, Err(StoreError::CollectionExists(_))));
    store.create_collection(&new_collection("guests")).await?;
    let all = store.list_collections(None, 10).await?;
    assert_eq!(all.iter().map(|c| c.collection_id.as_str()).collect::<Vec<_>>(), ["guests", "staff"]);
    let page = store.list_collections(Some("guests"), 10).await?;
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].collection_id, "staff");
    let got = store.get_collection("staff").await?.ok_or("staff missing")?;
    assert_eq!((got.model.as_str(), got.dimension, got.description.as_deref()), ("sface", 4, Some("test")));
    assert_eq!(store.delete_collection("staff").await?, 0);
    assert!(store.get_collection("staff").await?.is_none());
    assert!(matches!(store.delete_collection("staff").await, Err(StoreError::CollectionNotFound(_))));
    Ok(())
}

async fn faces_and_images(store: Store) -> Result<(), Failed> {
    store.create_collection(&new_collection("c")).await?;
    let a = new_face("alice", [1.0, 0.0, 0.0, 0.0]);
    let image = StoredImage { image_id: a.image_id, content_type: "image/jpeg".into(), bytes: vec![0xff, 0xd8, 1, 2] };
    let recs = store.add_faces("c", std::slice::from_ref(&a), Some(&image)).await?;
    assert!(recs[0].image_stored);
    let b = new_face("bob", [0.0, 1.0, 0.0, 0.0]);
    store.add_faces("c", std::slice::from_ref(&b), None).await?;
    assert!(matches!(
        store.add_faces("nope", &[new_face("x", [0.0; 4])], None).await,
        Err(StoreError::CollectionNotFound(_))
    ));

    let got = store.get_face("c", a.face_id).await?.ok_or("alice missing")?;
    assert_eq!(got.external_id.as_deref(), Some("alice"));
    assert_eq!(got.metadata, a.metadata);
    assert_eq!(got.bbox, a.bbox);
    assert!(got.image_stored);
    assert!(!store.get_face("c", b.face_id).await?.ok_or("bob missing")?.image_stored);
    assert_eq!(store.face_template("c", b.face_id).await?, Some(b.template.clone()));
    assert_eq!(store.get_image("c", a.image_id).await?.map(|i| i.bytes), Some(image.bytes.clone()));
    assert_eq!(store.get_collection("c").await?.map(|c| c.face_count), Some(2));

    // Pagination in enrolment order, and the external-id filter.
    let first = store.list_faces("c", None, 1, Default::default()).await?;
    assert_eq!(first.iter().map(|f| f.face_id).collect::<Vec<_>>(), [a.face_id]);
    let second = store.list_faces("c", Some(first[0].face_id), 1, Default::default()).await?;
    assert_eq!(second.iter().map(|f| f.face_id).collect::<Vec<_>>(), [b.face_id]);
    assert!(store.list_faces("c", Some(b.face_id), 1, Default::default()).await?.is_empty());
    let bobs = store.list_faces("c", None, 10, store::FaceFilter { external_id: Some("bob"), user_id: None }).await?;
    assert_eq!(bobs.iter().map(|f| f.face_id).collect::<Vec<_>>(), [b.face_id]);
    assert_eq!(store.get_faces("c", &[a.face_id, b.face_id, Uuid::new_v4()]).await?.len(), 2);

    // Deleting a face deletes its image; unknown ids are not reported as deleted.
    let gone = store.delete_faces("c", &[a.face_id, Uuid::new_v4()]).await?;
    assert_eq!(gone, [a.face_id]);
    assert!(store.get_image("c", a.image_id).await?.is_none());
    assert!(store.get_face("c", a.face_id).await?.is_none());

    // Deleting the collection takes the rest.
    assert_eq!(store.delete_collection("c").await?, 1);
    assert!(store.get_face("c", b.face_id).await?.is_none());
    Ok(())
}

async fn client_tokens_make_adds_idempotent(store: Store) -> Result<(), Failed> {
    store.create_collection(&new_collection("once")).await?;
    let first = vec![new_face("a", [1.0, 0.0, 0.0, 0.0]), new_face("a", [0.0, 1.0, 0.0, 0.0])];
    let added = store.add_faces_once("once", Some("tok-1"), &first, None).await?;
    let store::Added::New(records) = added else { return Err("first call must add".into()) };
    // The retry carries new face ids (a retried request computes them afresh): nothing is added.
    let retry = vec![new_face("a", [1.0, 0.0, 0.0, 0.0]), new_face("a", [0.0, 1.0, 0.0, 0.0])];
    let again = store.add_faces_once("once", Some("tok-1"), &retry, None).await?;
    assert_eq!(again, store::Added::Earlier(records.clone()));
    assert_eq!(store.get_collection("once").await?.map(|c| c.face_count), Some(2));
    // Another token adds; the same token in another collection is another key.
    store.add_faces_once("once", Some("tok-2"), &[new_face("b", [0.0, 0.0, 1.0, 0.0])], None).await?;
    store.create_collection(&new_collection("twice")).await?;
    let other = store.add_faces_once("twice", Some("tok-1"), &[new_face("c", [0.0; 4])], None).await?;
    assert!(matches!(other, store::Added::New(_)));
    // Deleting the collection forgets its tokens.
    store.delete_collection("once").await?;
    store.create_collection(&new_collection("once")).await?;
    assert!(matches!(store.add_faces_once("once", Some("tok-1"), &retry, None).await?, store::Added::New(_)));
    Ok(())
}

fn new_key(id: &str, hash: &str) -> store::NewApiKey {
    store::NewApiKey {
        key_id: id.into(),
        key_hash: hash.into(),
        name: format!("key {id}"),
        scopes: vec!["faces:compare".into(), "collections:read".into()],
        collections: Some(vec!["staff".into()]),
        buckets: Some(vec!["faces".into()]),
        rate_per_second: Some(5.0),
        burst: Some(10),
        monthly_quota: Some(1000),
        expires_at: None,
    }
}

async fn api_keys_and_usage(store: Store) -> Result<(), Failed> {
    let created = store.create_api_key(&new_key("k1", "hash-1")).await?;
    store
        .create_api_key(&store::NewApiKey { collections: None, monthly_quota: None, ..new_key("k2", "hash-2") })
        .await?;
    assert!(store.create_api_key(&new_key("k3", "hash-1")).await.is_err(), "two keys cannot share a hash");
    let (found, hash) = store.api_key_credentials("k1").await?.ok_or("k1")?;
    assert_eq!(hash, "hash-1");
    assert_eq!(found, created);
    assert_eq!(found.scopes, ["faces:compare", "collections:read"]);
    assert_eq!(found.collections.as_deref(), Some(&["staff".to_string()][..]));
    assert!(store.api_key_credentials("nope").await?.is_none());
    let k2 = store.get_api_key("k2").await?.ok_or("k2")?;
    assert_eq!((k2.collections, k2.monthly_quota), (None, None));
    assert_eq!(store.list_api_keys().await?.iter().map(|k| k.key_id.as_str()).collect::<Vec<_>>(), ["k1", "k2"]);

    // AWS pairs belong to a key, and a lookup by access key id brings the key (its state and limits) along.
    assert!(store.create_aws_credentials("k1", "FGAKONE", "secret-one").await?);
    assert!(store.create_aws_credentials("k1", "FGAKTWO", "secret-two").await?);
    assert!(!store.create_aws_credentials("missing", "FGAKTHREE", "s").await?, "no pair for a missing key");
    assert!(store.create_aws_credentials("k2", "FGAKONE", "other").await.is_err(), "access key ids are unique");
    let (owner, secret) = store.aws_credentials("FGAKTWO").await?.ok_or("FGAKTWO")?;
    assert_eq!((owner, secret.as_str()), (created.clone(), "secret-two"));
    assert!(store.aws_credentials("FGAKTHREE").await?.is_none());
    assert_eq!(store.aws_access_key_ids("k1").await?, ["FGAKONE", "FGAKTWO"]);
    assert!(store.aws_access_key_ids("k2").await?.is_empty());

    assert!(found.is_active(found.created_at));
    assert!(store.revoke_api_key("k1").await?);
    let (owner, _) = store.aws_credentials("FGAKONE").await?.ok_or("FGAKONE")?;
    assert!(owner.revoked_at.is_some(), "a pair follows its key's revocation");
    assert!(!store.revoke_api_key("missing").await?);
    let revoked = store.get_api_key("k1").await?.ok_or("k1")?;
    assert!(revoked.revoked_at.is_some() && !revoked.is_active(revoked.created_at));
    let expiring = store::ApiKey { expires_at: Some(100), revoked_at: None, ..revoked };
    assert!(expiring.is_active(99) && !expiring.is_active(100));

    // Concurrent counting (as several replicas would): every request counted once.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = 0;
            for _ in 0..10 {
                last = store.count_request("k2", "2026-11", None).await?.ok_or("no quota: always counted")?;
            }
            Ok::<_, Failed>(last)
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    assert_eq!(store.usage("k2", "2026-11").await?, 80);
    assert_eq!(store.usage("k2", "2026-12").await?, 0, "months are counted apart");
    assert_eq!(store.count_request("k2", "2026-12", None).await?, Some(1));

    // A quota of 25 under 40 concurrent requests: exactly 25 are counted, the rest refused.
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.count_request("k1", "2026-11", Some(25)).await }));
    }
    let mut counted = Vec::new();
    for t in tasks {
        if let Some(n) = t.await.map_err(|e| e.to_string())?? {
            counted.push(n);
        }
    }
    counted.sort();
    assert_eq!(counted, (1..=25).collect::<Vec<_>>());
    assert_eq!(store.usage("k1", "2026-11").await?, 25);
    assert_eq!(store.count_request("k1", "2026-11", Some(26)).await?, Some(26), "a raised quota admits more");
    assert_eq!(store.count_request("k1", "2026-11", Some(0)).await?, None);
    Ok(())
}

async fn users_and_their_faces(store: Store) -> Result<(), Failed> {
    let users = NewCollection { collection_id: store::USERS_COLLECTION.into(), ..new_collection("") };
    assert_eq!(store.ensure_collection(&users).await?, "sface");
    assert_eq!(store.ensure_collection(&users).await?, "sface", "ensuring twice is harmless");
    assert!(store.list_collections(None, 10).await?.is_empty(), "the users' collection is internal");

    let alice = store::NewUser { user_id: "alice".into(), full_name: Some("Alice A".into()), email: None };
    let image = StoredImage { image_id: Uuid::new_v4(), content_type: "image/jpeg".into(), bytes: vec![1, 2, 3] };
    let mut face = new_face("ignored", [1.0, 0.0, 0.0, 0.0]);
    face.image_id = image.image_id;
    let created = store.create_user(&alice, std::slice::from_ref(&face), std::slice::from_ref(&image)).await?;
    assert_eq!(created.face_count, 1);
    assert!(matches!(store.create_user(&alice, &[], &[]).await, Err(StoreError::UserExists(_))));
    let faces = store.user_faces("alice").await?;
    assert_eq!(faces.len(), 1);
    assert_eq!(faces[0].external_id.as_deref(), Some("alice"), "a user's faces carry the user id");
    assert!(faces[0].image_stored);

    store.add_user_faces("alice", &[new_face("x", [0.0, 1.0, 0.0, 0.0])], &[]).await?;
    assert!(matches!(
        store.add_user_faces("nobody", &[new_face("x", [0.0, 1.0, 0.0, 0.0])], &[]).await,
        Err(StoreError::UserNotFound(_))
    ));
    let bob = store::NewUser { user_id: "bob".into(), full_name: None, email: Some("bob@example.com".into()) };
    store.create_user(&bob, &[new_face("y", [0.0, 0.0, 1.0, 0.0])], &[]).await?;
    let listed = store.list_users(None, 10).await?;
    assert_eq!(
        listed.iter().map(|u| (u.user_id.as_str(), u.face_count)).collect::<Vec<_>>(),
        [("alice", 2), ("bob", 1)]
    );
    assert_eq!(store.list_users(Some("alice"), 10).await?.len(), 1);
    assert_eq!(store.get_user("bob").await?.ok_or("bob")?.email.as_deref(), Some("bob@example.com"));

    let before = store.latest_change().await?;
    assert_eq!(store.delete_user("alice").await?, Some(2));
    assert_eq!(store.delete_user("alice").await?, None);
    assert!(store.get_user("alice").await?.is_none());
    assert!(store.user_faces("alice").await?.is_empty());
    assert!(store.get_image(store::USERS_COLLECTION, image.image_id).await?.is_none(), "the image went too");
    let changes = store.changes_since(before, 10).await?;
    assert_eq!(changes.iter().filter(|c| c.op == ChangeOp::Delete).count(), 2, "the index hears of both faces");
    Ok(())
}

async fn signing_keys_and_revocations(store: Store) -> Result<(), Failed> {
    let key = |kid: &str| store::StoredSigningKey {
        kid: kid.into(),
        algorithm: "EdDSA".into(),
        private_key: vec![1; 32],
        public_key: vec![2; 32],
        created_at: store::now_millis(),
        retired_at: None,
    };
    let first = store.current_signing_key_or(&key("k1")).await?;
    assert_eq!(first.kid, "k1");
    assert_eq!(store.current_signing_key_or(&key("k2")).await?.kid, "k1", "the current key is kept");
    store.rotate_signing_key(&key("k3")).await?;
    assert_eq!(store.current_signing_key_or(&key("k4")).await?.kid, "k3");
    let all = store.signing_keys(0).await?;
    assert_eq!(
        all.iter().map(|k| (k.kid.as_str(), k.retired_at.is_some())).collect::<Vec<_>>(),
        [("k3", false), ("k1", true)]
    );
    assert_eq!(all[1].private_key, vec![1; 32]);
    let later = store.signing_keys(store::now_millis() + 1).await?;
    assert_eq!(later.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["k3"], "long-retired keys drop out");

    let far = store::now_millis() + 60_000;
    assert!(!store.is_token_revoked("j1").await?);
    assert!(store.revoke_token("j1", far).await?);
    assert!(!store.revoke_token("j1", far).await?);
    assert!(store.is_token_revoked("j1").await?);
    store.revoke_token("old", 1).await?;
    store.revoke_token("j2", far).await?;
    assert!(!store.is_token_revoked("old").await?, "revocations of expired tokens are pruned");
    Ok(())
}

async fn change_log(store: Store) -> Result<(), Failed> {
    let start = store.latest_change().await?;
    store.create_collection(&new_collection("log")).await?;
    let a = new_face("a", [1.0, 0.0, 0.0, 0.0]);
    let b = new_face("b", [0.0, 1.0, 0.0, 0.0]);
    store.add_faces("log", &[a.clone(), b.clone()], None).await?;
    store.delete_faces("log", &[a.face_id]).await?;
    let changes = store.changes_since(start, 100).await?;
    let summary: Vec<_> = changes.iter().map(|c| (c.op, c.face_id, c.template.is_some())).collect();
    // The deleted face's add no longer carries a template; the live one does.
    assert_eq!(
        summary,
        [
            (ChangeOp::Add, Some(a.face_id), false),
            (ChangeOp::Add, Some(b.face_id), true),
            (ChangeOp::Delete, Some(a.face_id), false)
        ]
    );
    assert!(changes.windows(2).all(|w| w[0].seq < w[1].seq));
    assert_eq!(store.latest_change().await?, changes[2].seq);
    assert_eq!(store.changes_since(changes[0].seq, 1).await?.len(), 1);
    store.delete_collection("log").await?;
    let last = store.changes_since(changes[2].seq, 100).await?;
    assert_eq!(last.iter().map(|c| c.op).collect::<Vec<_>>(), [ChangeOp::DropCollection]);

    let mut rows = Vec::new();
    store.create_collection(&new_collection("t")).await?;
    store.add_faces("t", &[new_face("x", [0.5, 0.5, 0.5, 0.5])], None).await?;
    store.for_each_template(None, |r| rows.push(r)).await?;
    assert_eq!(store.for_each_template(Some("t"), |_| {}).await?, 1);
    assert_eq!(store.for_each_template(Some("log"), |_| {}).await?, 0);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].template, [0.5; 4]);
    Ok(())
}

/// Users of a collection: create (once per token), associate with AWS's rules (a face in one user, at most 100
/// per user, all or nothing), disassociate, delete (faces stay), and every association in the change log.
async fn collection_users(store: Store) -> Result<(), Failed> {
    use store::{Once, RequestKey};
    store.create_collection(&new_collection("team")).await?;
    let key = |operation, token, fingerprint: &str| RequestKey { operation, token, fingerprint: fingerprint.into() };
    let created = store.create_collection_user("team", "ann", Some(&key("create", "t1", "ann"))).await?;
    assert!(matches!(&created, Once::First(u) if u.user_id == "ann" && u.face_count == 0));
    // The same token again replays the first answer; another token finds the user there.
    let again = store.create_collection_user("team", "ann", Some(&key("create", "t1", "ann"))).await?;
    assert_eq!(again, Once::Repeated(created.clone().into_inner()));
    assert!(matches!(store.create_collection_user("team", "ann", None).await, Err(StoreError::UserExists(_))));
    assert!(matches!(
        store.create_collection_user("team", "bob", Some(&key("create", "t1", "bob"))).await,
        Err(StoreError::RequestMismatch(_))
    ));
    assert!(matches!(store.create_collection_user("nope", "ann", None).await, Err(StoreError::CollectionNotFound(_))));
    store.create_collection_user("team", "bob", None).await?;

    let faces: Vec<NewFace> = (0..4).map(|i| new_face(&format!("f{i}"), [1.0, i as f32, 0.0, 0.0])).collect();
    store.add_faces("team", &faces, None).await?;
    let ids: Vec<Uuid> = faces.iter().map(|f| f.face_id).collect();
    let start = store.latest_change().await?;
    let missing = Uuid::now_v7();
    let low = vec![(ids[3], 12.5)];
    let done = store
        .associate_faces("team", "ann", &[ids[0], ids[1], ids[0], missing], low.clone(), Some(&key("assoc", "a1", "x")))
        .await?
        .into_inner();
    assert_eq!(done.associated, [ids[0], ids[1]]);
    assert_eq!((done.not_found.as_slice(), done.face_count), ([missing].as_slice(), 2));
    assert_eq!(done.low_confidence, low);
    // A retry replays; ann's faces are not bob's to take.
    let replay = store.associate_faces("team", "ann", &[ids[0]], vec![], Some(&key("assoc", "a1", "x"))).await?;
    assert_eq!(replay, Once::Repeated(done));
    let bob = store.associate_faces("team", "bob", &[ids[0], ids[2]], vec![], None).await?.into_inner();
    assert_eq!(bob.associated, [ids[2]]);
    assert_eq!(bob.other_user, [(ids[0], "ann".to_string())]);
    let ann = store.associate_faces("team", "ann", &[ids[1]], vec![], None).await?.into_inner();
    assert_eq!((ann.already.as_slice(), ann.associated.len()), ([ids[1]].as_slice(), 0));
    assert!(matches!(
        store.associate_faces("team", "carl", &[ids[3]], vec![], None).await,
        Err(StoreError::UserNotFound(_))
    ));

    // The face records, the listing by user and the change log know the users.
    let record = store.get_face("team", ids[0]).await?.ok_or("face")?;
    assert_eq!(record.user_id.as_deref(), Some("ann"));
    let filter = store::FaceFilter { user_id: Some("ann"), external_id: None };
    let listed: Vec<Uuid> = store.list_faces("team", None, 10, filter).await?.iter().map(|f| f.face_id).collect();
    assert_eq!(listed, [ids[0], ids[1]]);
    assert_eq!(store.collection_user_faces("team", "bob").await?, [ids[2]]);
    let changes = store.changes_since(start, 100).await?;
    let users: Vec<_> = changes.iter().map(|c| (c.op, c.face_id, c.user_id.clone())).collect();
    assert_eq!(
        users,
        [
            (ChangeOp::User, Some(ids[0]), Some("ann".to_string())),
            (ChangeOp::User, Some(ids[1]), Some("ann".to_string())),
            (ChangeOp::User, Some(ids[2]), Some("bob".to_string())),
        ]
    );
    let mut rows = Vec::new();
    store.for_each_template(Some("team"), |r| rows.push((r.face_id, r.user_id))).await?;
    assert!(rows.contains(&(ids[2], Some("bob".to_string()))) && rows.contains(&(ids[3], None)));
    let users = store.list_collection_users("team", None, 10).await?;
    assert_eq!(users.iter().map(|u| (u.user_id.as_str(), u.face_count)).collect::<Vec<_>>(), [("ann", 2), ("bob", 1)]);
    assert_eq!(store.list_collection_users("team", Some("ann"), 10).await?.len(), 1);

    // Disassociation: bob's face is not ann's to release; a face without a user is left alone.
    let off = store.disassociate_faces("team", "ann", &[ids[1], ids[2], ids[3], missing], None).await?.into_inner();
    assert_eq!(off.disassociated, [ids[1]]);
    assert_eq!(off.other_user, [(ids[2], "bob".to_string())]);
    assert_eq!((off.not_found.as_slice(), off.face_count), ([missing].as_slice(), 1));

    // At most 100 faces per user, all or nothing.
    let many: Vec<NewFace> = (0..100).map(|i| new_face("many", [0.0, 1.0, i as f32, 0.0])).collect();
    store.add_faces("team", &many, None).await?;
    let many_ids: Vec<Uuid> = many.iter().map(|f| f.face_id).collect();
    assert!(matches!(
        store.associate_faces("team", "ann", &many_ids, vec![], None).await,
        Err(StoreError::UserFaceLimit { has: 1, adding: 100, limit: 100, .. })
    ));
    assert_eq!(store.get_collection_user("team", "ann").await?.ok_or("ann")?.face_count, 1);
    store.associate_faces("team", "ann", &many_ids[..99], vec![], None).await?;
    assert_eq!(store.get_collection_user("team", "ann").await?.ok_or("ann")?.face_count, 100);

    // Deleting a user keeps its faces, without a user; a retry with its token replays.
    let deleted = store.delete_collection_user("team", "ann", Some(&key("delete", "d1", "ann"))).await?;
    assert_eq!(deleted, Once::First(100));
    assert_eq!(
        store.delete_collection_user("team", "ann", Some(&key("delete", "d1", "ann"))).await?,
        Once::Repeated(100)
    );
    assert!(matches!(store.delete_collection_user("team", "ann", None).await, Err(StoreError::UserNotFound(_))));
    assert_eq!(store.get_face("team", ids[0]).await?.ok_or("face")?.user_id, None);
    assert!(store.get_collection_user("team", "ann").await?.is_none());
    // Deleting the collection takes its users and recorded requests with it.
    store.delete_collection("team").await?;
    store.create_collection(&new_collection("team")).await?;
    assert!(store.list_collection_users("team", None, 10).await?.is_empty());
    assert!(matches!(
        store.create_collection_user("team", "ann", Some(&key("create", "t1", "ann"))).await?,
        Once::First(_)
    ));
    Ok(())
}

/// Writers on several connections at once: every acknowledged face is there, and the change log has exactly
/// one entry per face in a strictly increasing order.
async fn concurrent_writers(store: Store) -> Result<(), Failed> {
    store.create_collection(&new_collection("busy")).await?;
    let start = store.latest_change().await?;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..10 {
                let f = new_face(&format!("w{w}-{i}"), [w as f32, i as f32, 0.0, 1.0]);
                store.add_faces("busy", std::slice::from_ref(&f), None).await?;
                ids.push(f.face_id);
            }
            Ok::<_, StoreError>(ids)
        }));
    }
    let mut written = Vec::new();
    for t in tasks {
        written.extend(t.await.map_err(|e| e.to_string())??);
    }
    let changes = store.changes_since(start, 1000).await?;
    assert_eq!(changes.len(), 80);
    let mut logged: Vec<Uuid> = changes.iter().filter_map(|c| c.face_id).collect();
    logged.sort();
    written.sort();
    assert_eq!(logged, written);
    assert_eq!(store.get_collection("busy").await?.map(|c| c.face_count), Some(80));
    Ok(())
}

async fn liveness_sessions(store: Store) -> Result<(), Failed> {
    use store::{NewSession, SessionCreated, SessionImage, SessionUpdate};
    let update = |session_id, version, status, state, biometrics_until| SessionUpdate {
        session_id,
        version,
        status,
        state,
        biometrics_until,
    };
    let now = store::now_millis();
    let new = |id: &str, token: Option<&str>| NewSession {
        session_id: id.into(),
        owner_key: "key1".into(),
        client_request_token: token.map(String::from),
        token_hash: "h".into(),
        status: "CREATED".into(),
        state: "{}".into(),
        created_at: now,
        expires_at: now + 180_000,
        purge_at: now + 3_600_000,
        biometrics_until: None,
    };
    assert!(matches!(store.create_session(&new("s1", Some("t"))).await?, SessionCreated::New(_)));
    // The same client request token from the same owner: the first session, not a new one.
    match store.create_session(&new("s2", Some("t"))).await? {
        SessionCreated::Existing(s) => assert_eq!(s.session_id, "s1"),
        other => return Err(format!("{other:?}").into()),
    }
    assert!(store.get_session("s2").await?.is_none());
    // Sessions without a token never collide.
    assert!(matches!(store.create_session(&new("s3", None)).await?, SessionCreated::New(_)));
    assert!(matches!(store.create_session(&new("s4", None)).await?, SessionCreated::New(_)));
    // Versioned updates: the second writer with the same version loses and writes nothing.
    let image = SessionImage { name: "reference".into(), content_type: "image/jpeg".into(), bytes: vec![1, 2, 3] };
    assert!(
        store.update_session(&update("s1", 1, "IN_PROGRESS", "{\"a\":1}", None), std::slice::from_ref(&image)).await?
    );
    let stale = SessionImage { bytes: vec![9], ..image.clone() };
    assert!(!store.update_session(&update("s1", 1, "FAILED", "{\"b\":2}", None), &[stale]).await?);
    let s1 = store.get_session("s1").await?.ok_or("s1")?;
    assert_eq!((s1.version, s1.status.as_str(), s1.state.as_str()), (2, "IN_PROGRESS", "{\"a\":1}"));
    assert_eq!(store.session_image("s1", "reference").await?.map(|i| i.bytes), Some(vec![1, 2, 3]));
    assert_eq!(store.session_image_names("s1").await?, ["reference"]);
    // Privacy mode: the sessions whose template must go by a time are found once it has passed, and no more
    // after the template is dropped.
    assert!(store.update_session(&update("s4", 1, "IN_PROGRESS", "{\"t\":1}", Some(now + 1000)), &[]).await?);
    assert!(store.sessions_holding_biometrics(now + 1000, 10).await?.is_empty());
    let due = store.sessions_holding_biometrics(now + 1001, 10).await?;
    assert_eq!(
        due.iter().map(|s| (s.session_id.as_str(), s.biometrics_until)).collect::<Vec<_>>(),
        [("s4", Some(now + 1000))]
    );
    assert!(store.update_session(&update("s4", 2, "EXPIRED", "{}", None), &[]).await?);
    assert!(store.sessions_holding_biometrics(now + 1001, 10).await?.is_empty());
    // Retention: purged with their images; deletion takes the images too.
    assert!(store.update_session(&update("s3", 1, "SUCCEEDED", "{}", None), std::slice::from_ref(&image)).await?);
    assert_eq!(store.purge_sessions(now + 3_600_001).await?, 3);
    assert!(store.get_session("s1").await?.is_none() && store.session_image("s3", "reference").await?.is_none());
    assert!(matches!(store.create_session(&new("s5", None)).await?, SessionCreated::New(_)));
    assert!(store.update_session(&update("s5", 1, "IN_PROGRESS", "{}", None), &[image]).await?);
    assert!(store.delete_session("s5").await?);
    assert!(!store.delete_session("s5").await?);
    assert!(store.session_image_names("s5").await?.is_empty());
    Ok(())
}

async fn session_listing(store: Store) -> Result<(), Failed> {
    use store::NewSession;
    // Seven sessions of two keys; two of them created in the same millisecond (the id breaks the tie).
    let made = [
        ("a", "k1", 10),
        ("b", "k2", 20),
        ("c", "k1", 30),
        ("d", "k1", 30),
        ("e", "k2", 40),
        ("f", "k1", 50),
        ("g", "k1", 60),
    ];
    for (id, owner, at) in made {
        store
            .create_session(&NewSession {
                session_id: id.into(),
                owner_key: owner.into(),
                client_request_token: None,
                token_hash: "h".into(),
                status: "CREATED".into(),
                state: "{}".into(),
                created_at: at,
                expires_at: at + 180_000,
                purge_at: at + 3_600_000,
                biometrics_until: None,
            })
            .await?;
    }
    // Pages of two, each from the cursor (creation time, id) of the last one before, until none is left.
    let pages = |owner: Option<&'static str>| {
        let store = store.clone();
        async move {
            let mut ids = Vec::new();
            let mut cursor: Option<(i64, String)> = None;
            loop {
                let page = store.list_sessions(owner, cursor.as_ref().map(|(at, id)| (*at, id.as_str())), 2).await?;
                if page.is_empty() {
                    return Ok::<_, Failed>(ids);
                }
                assert!(page.len() <= 2);
                let last = page.last().ok_or("a row")?;
                cursor = Some((last.created_at, last.session_id.clone()));
                ids.extend(page.into_iter().map(|s| s.session_id));
            }
        }
    };
    assert_eq!(pages(None).await?, ["g", "f", "e", "d", "c", "b", "a"], "every session, newest first");
    assert_eq!(pages(Some("k1")).await?, ["g", "f", "d", "c", "a"], "one key's");
    assert!(store.list_sessions(Some("k3"), None, 10).await?.is_empty());
    Ok(())
}

async fn frame_prints(store: Store) -> Result<(), Failed> {
    use store::NewFramePrint;
    let now = store::now_millis();
    let points: Vec<f32> = (0..40).map(|i| 0.3 + i as f32 * 0.01).collect();
    let print =
        |session_id, cell, created_at| NewFramePrint { session_id, sequence: 7, cell, points: &points, created_at };
    store.add_frame_print(&print("s1", 10, now - 5_000)).await?;
    store.add_frame_print(&print("s1", 11, now)).await?;
    store.add_frame_print(&print("s2", 11, now)).await?;
    store.add_frame_print(&print("s3", 12, now - 100_000)).await?;
    // Found by cell, not in the session asking, and not older than asked.
    let found = store.frame_prints_near(&[10, 11], now - 10_000, "s2").await?;
    assert_eq!(found.iter().map(|r| (r.session_id.as_str(), r.sequence)).collect::<Vec<_>>(), [("s1", 7), ("s1", 7)]);
    assert!(found.iter().all(|r| r.points == points));
    let found = store.frame_prints_near(&[11], now - 10_000, "s1").await?;
    assert_eq!(found.iter().map(|r| r.session_id.as_str()).collect::<Vec<_>>(), ["s2"]);
    assert!(store.frame_prints_near(&[12], now - 10_000, "s1").await?.is_empty());
    assert!(store.frame_prints_near(&[], 0, "s1").await?.is_empty());
    // The window moves on: older prints are forgotten.
    assert_eq!(store.purge_frame_prints(now - 1_000).await?, 2);
    assert_eq!(store.frame_prints_near(&[10, 11, 12], 0, "x").await?.len(), 2);
    // Deleting a session deletes its prints (whether or not the session row is still there).
    assert!(!store.delete_session("s2").await?);
    let left = store.frame_prints_near(&[10, 11, 12], 0, "x").await?;
    assert_eq!(left.iter().map(|r| r.session_id.as_str()).collect::<Vec<_>>(), ["s1"]);
    Ok(())
}

async fn reopen_keeps_data(url: &str) -> Result<(), Failed> {
    let store = Store::open(url, 2).await?;
    store.create_collection(&new_collection("kept")).await?;
    store.add_faces("kept", &[new_face("k", [1.0, 2.0, 3.0, 4.0])], None).await?;
    store.close().await;
    // Opening again runs the migrations again: they must be a no-op on an up-to-date schema.
    let again = Store::open(url, 2).await?;
    assert_eq!(again.get_collection("kept").await?.map(|c| c.face_count), Some(1));
    Ok(())
}

/// A store whose images go to `bucket` on the test S3 server, under a prefix of its own.
fn with_bucket(store: Store, s3: &testkit::S3Server, bucket: &str, grace: std::time::Duration) -> Store {
    let settings = store::S3Settings {
        endpoint: Some(s3.endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        session_token: None,
        allow_http: true,
    };
    let prefix = format!("t-{}", Uuid::new_v4().simple());
    store.with_blobs(store::Blobs::s3(s3::connect(settings), bucket, &prefix, grace).expect("blobs"))
}

/// The objects under this store's prefix.
async fn objects(store: &Store) -> Result<Vec<String>, Failed> {
    let store::Blobs::S3 { s3, bucket, prefix, .. } = store.blobs() else { return Err("not in a bucket".into()) };
    Ok(s3.list(bucket, prefix).await?)
}

/// With a bucket: an image goes to an object that its row names, reads back through the store, and goes with the
/// last face that refers to it, with the collection, with a session; writes that fail leave no object behind;
/// the bucket and the database agree after each step.
async fn images_in_a_bucket(store: Store) -> Result<(), Failed> {
    let agree = |store: Store| async move {
        let (named, pending) = store.object_inventory().await?;
        let mut listed = objects(&store).await?;
        listed.sort();
        let mut named = named;
        named.sort();
        assert_eq!(listed, named, "every object is named by a row and every named object exists");
        assert!(pending.is_empty(), "nothing is left pending: {pending:?}");
        Ok::<_, Failed>(())
    };
    store.create_collection(&new_collection("c")).await?;
    let a = new_face("alice", [1.0, 0.0, 0.0, 0.0]);
    let image = StoredImage { image_id: a.image_id, content_type: "image/jpeg".into(), bytes: vec![0xff, 0xd8, 7, 7] };
    let recs = store.add_faces("c", std::slice::from_ref(&a), Some(&image)).await?;
    assert!(recs[0].image_stored);
    assert_eq!(objects(&store).await?.len(), 1, "the image went to the bucket");
    assert_eq!(store.get_image("c", a.image_id).await?.map(|i| i.bytes), Some(image.bytes.clone()));
    agree(store.clone()).await?;
    // A write that fails after the upload (no such collection) deletes its object at once.
    let lost = new_face("x", [0.0; 4]);
    let lost_image = StoredImage { image_id: lost.image_id, ..image.clone() };
    assert!(matches!(
        store.add_faces("nope", &[lost], Some(&lost_image)).await,
        Err(StoreError::CollectionNotFound(_))
    ));
    agree(store.clone()).await?;
    // Deleting the face deletes the object.
    assert_eq!(store.delete_faces("c", &[a.face_id]).await?, vec![a.face_id]);
    assert!(objects(&store).await?.is_empty(), "the object went with the face");
    assert!(store.get_image("c", a.image_id).await?.is_none());
    // A collection's images go with it.
    let b = new_face("bob", [0.0, 1.0, 0.0, 0.0]);
    store
        .add_faces("c", std::slice::from_ref(&b), Some(&StoredImage { image_id: b.image_id, ..image.clone() }))
        .await?;
    assert_eq!(objects(&store).await?.len(), 1);
    store.delete_collection("c").await?;
    agree(store.clone()).await?;
    assert!(objects(&store).await?.is_empty());
    // Liveness session images: written, replaced (the old object goes), deleted with the session.
    let now = store::now_millis();
    let session = store::NewSession {
        session_id: "s1".into(),
        owner_key: "k".into(),
        client_request_token: None,
        token_hash: "h".into(),
        status: "CREATED".into(),
        state: "{}".into(),
        created_at: now,
        expires_at: now + 60_000,
        purge_at: now + 120_000,
        biometrics_until: None,
    };
    store.create_session(&session).await?;
    let shot =
        |b: u8| store::SessionImage { name: "reference".into(), content_type: "image/png".into(), bytes: vec![b; 8] };
    let update = |version| store::SessionUpdate {
        session_id: "s1",
        version,
        status: "IN_PROGRESS",
        state: "{}",
        biometrics_until: None,
    };
    assert!(store.update_session(&update(1), &[shot(1)]).await?);
    assert!(store.update_session(&update(2), &[shot(2)]).await?);
    // A write that loses the version race leaves no object.
    assert!(!store.update_session(&update(1), &[shot(3)]).await?);
    assert_eq!(store.session_image("s1", "reference").await?.map(|i| i.bytes), Some(vec![2; 8]));
    assert_eq!(objects(&store).await?.len(), 1, "the replaced and the unwritten images left no object");
    agree(store.clone()).await?;
    assert!(store.delete_session("s1").await?);
    assert!(objects(&store).await?.is_empty());
    agree(store.clone()).await?;
    Ok(())
}

/// An upload that outlasts its grace period (here: none) may already be the sweep's: the write is refused and
/// leaves no object, rather than a row naming an object the sweep deletes.
async fn slow_uploads_are_refused(store: Store) -> Result<(), Failed> {
    store.create_collection(&new_collection("c")).await?;
    let a = new_face("alice", [1.0, 0.0, 0.0, 0.0]);
    let image = StoredImage { image_id: a.image_id, content_type: "image/jpeg".into(), bytes: vec![1, 2, 3] };
    let refused = store.add_faces("c", std::slice::from_ref(&a), Some(&image)).await;
    assert!(refused.as_ref().is_err_and(StoreError::is_unavailable), "{refused:?}");
    assert!(store.get_face("c", a.face_id).await?.is_none());
    assert!(objects(&store).await?.is_empty(), "the refused upload's object was deleted");
    let (named, pending) = store.object_inventory().await?;
    assert!(named.is_empty() && pending.is_empty(), "{named:?} {pending:?}");
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let runtime = Arc::new(tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap());
    let postgres = Arc::new(testkit::Postgres::for_tests().expect("PostgreSQL for the store tests"));
    let tmp = Arc::new(tempfile::tempdir().unwrap());
    let s3 = match testkit::S3Server::for_tests() {
        Ok(s3) => Some(Arc::new(s3)),
        Err(why) => {
            testkit::skip_unless_ci(&format!("an S3-compatible server for the bucket cases ({why})"));
            None
        }
    };
    if let Some(s3) = &s3 {
        s3.create_bucket("store-tests").expect("a bucket");
    }
    let cases: [(&str, Case); 12] = [
        ("session_listing", |s| Box::pin(session_listing(s))),
        ("collection_users", |s| Box::pin(collection_users(s))),
        ("liveness_sessions", |s| Box::pin(liveness_sessions(s))),
        ("frame_prints", |s| Box::pin(frame_prints(s))),
        ("users_and_their_faces", |s| Box::pin(users_and_their_faces(s))),
        ("signing_keys_and_revocations", |s| Box::pin(signing_keys_and_revocations(s))),
        ("api_keys_and_usage", |s| Box::pin(api_keys_and_usage(s))),
        ("client_tokens_make_adds_idempotent", |s| Box::pin(client_tokens_make_adds_idempotent(s))),
        ("collections", |s| Box::pin(collections(s))),
        ("faces_and_images", |s| Box::pin(faces_and_images(s))),
        ("change_log", |s| Box::pin(change_log(s))),
        ("concurrent_writers", |s| Box::pin(concurrent_writers(s))),
    ];
    let mut trials = Vec::new();
    for backend in ["sqlite", "postgres"] {
        for (name, case) in cases {
            let (runtime, postgres, tmp) = (runtime.clone(), postgres.clone(), tmp.clone());
            trials.push(Trial::test(format!("{backend}::{name}"), move || {
                let url = match backend {
                    "sqlite" => format!("sqlite://{}", tmp.path().join(format!("{name}.db")).display()),
                    _ => postgres.create_database("store")?,
                };
                runtime.block_on(async move { case(Store::open(&url, 4).await?).await })
            }));
        }
        let bucket_cases: [(&str, Case, u64); 5] = [
            ("images_in_a_bucket", |s| Box::pin(images_in_a_bucket(s)), 600),
            ("slow_uploads_are_refused", |s| Box::pin(slow_uploads_are_refused(s)), 0),
            ("faces_and_images", |s| Box::pin(faces_and_images(s)), 600),
            ("users_and_their_faces", |s| Box::pin(users_and_their_faces(s)), 600),
            ("liveness_sessions", |s| Box::pin(liveness_sessions(s)), 600),
        ];
        for (name, case, grace) in bucket_cases.into_iter().filter(|_| s3.is_some()) {
            let (runtime, postgres, tmp, s3) = (runtime.clone(), postgres.clone(), tmp.clone(), s3.clone());
            trials.push(Trial::test(format!("{backend}::s3::{name}"), move || {
                let s3 = s3.ok_or("no S3 server")?;
                let url = match backend {
                    "sqlite" => format!("sqlite://{}", tmp.path().join(format!("s3-{name}.db")).display()),
                    _ => postgres.create_database("store")?,
                };
                runtime.block_on(async move {
                    let grace = std::time::Duration::from_secs(grace);
                    case(with_bucket(Store::open(&url, 4).await?, &s3, "store-tests", grace)).await
                })
            }));
        }
        let (runtime, postgres, tmp) = (runtime.clone(), postgres.clone(), tmp.clone());
        trials.push(Trial::test(format!("{backend}::reopen_keeps_data"), move || {
            let url = match backend {
                "sqlite" => format!("sqlite://{}", tmp.path().join("reopen.db").display()),
                _ => postgres.create_database("store")?,
            };
            runtime.block_on(reopen_keeps_data(&url))
        }));
    }
    let conclusion = libtest_mimic::run(&args, trials);
    drop(postgres);
    drop(s3);
    conclusion.exit();
}
