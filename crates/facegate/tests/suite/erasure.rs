//! Erasure on SQLite: face images stored with `storeImage` (in a collection and with a user) are there in the
//! database files while they are kept, and once their faces, collection and user are deleted no copy is left
//! readable in `facegate.db` or its write-ahead log (the probe found 14 JPEG headers with 0 image rows).

use crate::support::*;
use serde_json::json;

/// JPEG files start with the SOI marker and another marker.
const JPEG_START: &[u8] = &[0xFF, 0xD8, 0xFF];

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

/// JPEG headers in the database and its write-ahead log.
fn jpeg_headers(dir: &std::path::Path) -> usize {
    ["facegate.db", "facegate.db-wal"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).map(|bytes| count(&bytes, JPEG_START)).unwrap_or(0))
        .sum()
}

fn deleted_images_leave_no_copy_in_the_sqlite_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = Served::start(dir.path(), None, &[]);
    let c = client();
    let (status, v) =
        json(c.post(s.url("/v1/collections")).json(&json!({"collectionId": "erase"})).send().expect("create"));
    assert_eq!(status, 201, "{v}");
    let people = ["Tony_Blair", "Hugo_Chavez", "Abel_Pacheco"];
    let mut face_ids = Vec::new();
    for person in people {
        let image = lfw_person(person).swap_remove(0);
        assert!(image.starts_with(JPEG_START), "the LFW images are JPEG files");
        let (status, v) = json(
            c.post(s.url("/v1/collections/erase/faces"))
                .json(&json!({"image": b64(&image), "externalId": person, "storeImage": true}))
                .send()
                .expect("index"),
        );
        assert_eq!(status, 200, "{v}");
        face_ids.push(v["faceRecords"][0]["faceId"].as_str().expect("faceId").to_string());
    }
    let (status, v) = json(
        c.post(s.url("/v1/users"))
            .json(&json!({"userId": "erased", "images": [b64(&lfw_person("Bill_Gates")[0])], "storeImage": true}))
            .send()
            .expect("register"),
    );
    assert_eq!(status, 201, "{v}");
    let kept = jpeg_headers(dir.path());
    assert!(kept > people.len(), "the stored images are in the database files: {kept} JPEG headers");

    // One face by id, the rest with their collection, and the user.
    let resp = c.delete(s.url(&format!("/v1/collections/erase/faces/{}", face_ids[0]))).send().expect("delete face");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = c.delete(s.url("/v1/collections/erase")).send().expect("delete collection");
    assert_eq!(resp.status().as_u16(), 200);
    let resp = c.delete(s.url("/v1/users/erased")).send().expect("delete user");
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(jpeg_headers(dir.path()), 0, "deleted images are overwritten, not left in free pages or the log");
    // The database is whole and serving.
    let (status, v) = json(c.get(s.url("/v1/collections")).send().expect("list"));
    assert_eq!(status, 200, "{v}");
    let (status, _) =
        json(c.post(s.url("/v1/collections")).json(&json!({"collectionId": "after"})).send().expect("create"));
    assert_eq!(status, 201);
}

tests![deleted_images_leave_no_copy_in_the_sqlite_files,];
