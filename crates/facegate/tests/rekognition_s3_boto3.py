"""The Rekognition-compatible API with an S3-compatible store, through boto3: `S3Object` inputs, keys limited to
buckets, liveness `OutputConfig`, and stored face images kept in the bucket.

Usage: rekognition_s3_boto3.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY ADMIN_KEY S3_ENDPOINT IMAGES_BUCKET.
The server keeps its images in IMAGES_BUCKET on S3_ENDPOINT (a real S3-compatible server: moto's standalone
mode). Prints "ok" and exits 0 when every check holds.
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.config
import botocore.exceptions

endpoint, key_id, secret, admin_key, s3_endpoint, images_bucket = sys.argv[1:7]


def v1(method, path, body=None, token=admin_key, raw=False):
    request = urllib.request.Request(
        endpoint.rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as r:
            data = r.read()
            return r.status, (data if raw else json.loads(data))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def client(key=key_id, secret_key=secret):
    return boto3.client(
        "rekognition",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret_key,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


def error_of(call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    raise AssertionError("the call should have failed")


def key_with_pair(**fields):
    status, created = v1("POST", "/v1/keys", {"name": "boto-s3", **fields})
    assert status == 201, created
    status, pair = v1("POST", f"/v1/keys/{created['keyId']}/aws-credentials")
    assert status == 201, pair
    return client(key=pair["accessKeyId"], secret_key=pair["secretAccessKey"])


rk = client()
s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing")
data = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "data", "samples", "face_recognition")
image = lambda name: open(os.path.join(data, name), "rb").read()
for bucket in ["inputs", "other-inputs", "liveness-out"]:
    s3.create_bucket(Bucket=bucket)
for name in ["obama.jpg", "obama2.jpg", "biden.jpg"]:
    s3.put_object(Bucket="inputs", Key=f"people/{name}", Body=image(name), ContentType="image/jpeg")
s3.put_object(Bucket="other-inputs", Key="obama.jpg", Body=image("obama.jpg"))
obj = lambda name, bucket="inputs", **kw: {"S3Object": {"Bucket": bucket, "Name": name, **kw}}

# S3Object on every operation that takes an Image, read through the server's S3-compatible store.
faces = rk.detect_faces(Image=obj("people/obama.jpg"))["FaceDetails"]
assert len(faces) == 1 and faces[0]["Confidence"] > 90, faces
same = rk.compare_faces(SourceImage=obj("people/obama.jpg"), TargetImage={"Bytes": image("obama2.jpg")})
assert len(same["FaceMatches"]) == 1 and same["FaceMatches"][0]["Similarity"] > 90, same
other = rk.compare_faces(SourceImage={"Bytes": image("obama.jpg")}, TargetImage=obj("people/biden.jpg"))
assert other["FaceMatches"] == [] and len(other["UnmatchedFaces"]) == 1, other
rk.create_collection(CollectionId="s3-staff")
indexed = rk.index_faces(CollectionId="s3-staff", Image=obj("people/obama.jpg"), ExternalImageId="obama")
assert len(indexed["FaceRecords"]) == 1, indexed
rk.index_faces(CollectionId="s3-staff", Image=obj("people/biden.jpg"), ExternalImageId="biden")
found = rk.search_faces_by_image(CollectionId="s3-staff", Image=obj("people/obama2.jpg"))
assert found["FaceMatches"][0]["Face"]["FaceId"] == indexed["FaceRecords"][0]["Face"]["FaceId"], found
# A version of an object: the bucket keeps Obama, then Biden under one key; each version reads as itself.
s3.put_bucket_versioning(Bucket="inputs", VersioningConfiguration={"Status": "Enabled"})
first = s3.put_object(Bucket="inputs", Key="versioned.jpg", Body=image("obama.jpg"))["VersionId"]
s3.put_object(Bucket="inputs", Key="versioned.jpg", Body=image("biden.jpg"))
old = rk.compare_faces(SourceImage=obj("versioned.jpg", Version=first), TargetImage={"Bytes": image("obama2.jpg")})
assert len(old["FaceMatches"]) == 1, old
new = rk.compare_faces(SourceImage=obj("versioned.jpg"), TargetImage={"Bytes": image("obama2.jpg")})
assert new["FaceMatches"] == [], new
# What AWS answers for objects that cannot be read.
assert error_of(rk.detect_faces, Image=obj("people/nobody.jpg")) == "InvalidS3ObjectException"
assert error_of(rk.detect_faces, Image=obj("x.jpg", bucket="no-such-bucket")) == "InvalidS3ObjectException"
assert error_of(rk.detect_faces, Image=obj("versioned.jpg", Version="not-a-version")) == "InvalidS3ObjectException"
assert error_of(rk.detect_faces, Image=obj("x.jpg", bucket="Not_A_Bucket")) in (
    "InvalidS3ObjectException", "InvalidParameterException")
s3.put_object(Bucket="inputs", Key="not-an-image.txt", Body=b"hello")
assert error_of(rk.detect_faces, Image=obj("not-an-image.txt")) == "InvalidImageFormatException"

# A key limited to buckets reads only those; an admin pair reads any.
limited = key_with_pair(scopes=["faces:detect", "faces:compare", "liveness"], buckets=["other-inputs"])
assert len(limited.detect_faces(Image=obj("obama.jpg", bucket="other-inputs"))["FaceDetails"]) == 1
assert error_of(limited.detect_faces, Image=obj("people/obama.jpg")) == "AccessDeniedException"
assert error_of(limited.compare_faces, SourceImage=obj("obama.jpg", bucket="other-inputs"),
                TargetImage=obj("people/obama2.jpg")) == "AccessDeniedException"
assert error_of(limited.create_face_liveness_session, Settings={"OutputConfig": {"S3Bucket": "liveness-out"}}) == (
    "AccessDeniedException")
status, refused = v1("POST", "/v1/keys", {"name": "bad", "scopes": ["faces:detect"], "buckets": ["Bad_Bucket"]})
assert status == 400, refused

# Stored face images live in the server's bucket: written with the face, read back, deleted with it.
before = {o["Key"] for o in s3.list_objects_v2(Bucket=images_bucket).get("Contents", [])}
status, added = v1("POST", "/v1/collections/s3-staff/faces",
                   {"image": base64.b64encode(image("obama2.jpg")).decode(), "storeImage": True, "externalId": "o2"})
assert status == 200, added
face_id = added["faceRecords"][0]["faceId"]
after = {o["Key"] for o in s3.list_objects_v2(Bucket=images_bucket).get("Contents", [])}
new_objects = after - before
assert len(new_objects) == 1, (before, after)
(stored_key,) = new_objects
assert s3.get_object(Bucket=images_bucket, Key=stored_key)["Body"].read() == image("obama2.jpg")
status, stored = v1("GET", f"/v1/collections/s3-staff/faces/{face_id}/image", raw=True)
assert status == 200 and stored == image("obama2.jpg"), status
# The server's own image store holds every tenant's faces: nobody names it, not a key of another collection (the
# confused deputy: read a stored face, copy it into one's own collection), not even the admin pair.
other_tenant = key_with_pair(scopes=["faces:detect", "collections:write", "liveness"], collections=["mine"])
for caller in (other_tenant, rk):
    assert error_of(caller.detect_faces, Image=obj(stored_key, bucket=images_bucket)) == "AccessDeniedException"
    assert error_of(caller.create_face_liveness_session, Settings={"OutputConfig": {
        "S3Bucket": images_bucket, "S3KeyPrefix": stored_key.split("/")[0] + "/"}}) == "AccessDeniedException"
assert rk.delete_faces(CollectionId="s3-staff", FaceIds=[face_id])["DeletedFaces"] == [face_id]
remaining = {o["Key"] for o in s3.list_objects_v2(Bucket=images_bucket).get("Contents", [])}
assert stored_key not in remaining, "deleting the face deleted its object"

# Liveness OutputConfig: the reference and audit images go to the bucket, and the results name them.
session_id = rk.create_face_liveness_session(
    Settings={"OutputConfig": {"S3Bucket": "liveness-out", "S3KeyPrefix": "audits/"}, "AuditImagesLimit": 2}
)["SessionId"]
status, token = v1("POST", f"/v1/liveness/sessions/{session_id}/token")
assert status == 200, token
yale = os.path.join(data, "..", "..", "yale", "images", "subject01")
sent = [open(os.path.join(yale, f"subject01_{c}.png"), "rb").read() for c in ["normal", "sleepy", "surprised"]]
for i, frame in enumerate(sent):
    status, answer = v1("POST", f"/v1/liveness/sessions/{session_id}/frames",
                        {"image": base64.b64encode(frame).decode(), "sequence": i, "timestamp": 100 * (i + 1)},
                        token=token["sessionToken"])
    assert status == 200, answer
result = rk.get_face_liveness_session_results(SessionId=session_id)
assert result["Status"] == "SUCCEEDED", {k: v for k, v in result.items() if "Image" not in k}
reference = result["ReferenceImage"]
assert "Bytes" not in reference and reference["S3Object"]["Bucket"] == "liveness-out", reference
# The frames were PNGs; the session keeps them re-encoded as JPEG, as AWS does.
assert reference["S3Object"]["Name"] == f"audits/{session_id}/reference.jpg", reference
assert s3.get_object(Bucket="liveness-out", Key=reference["S3Object"]["Name"])["Body"].read()[:3] == b"\xff\xd8\xff"
audits = result["AuditImages"]
assert 1 <= len(audits) <= 2, audits
for a in audits:
    assert a["S3Object"]["Bucket"] == "liveness-out" and a["S3Object"]["Name"].startswith(f"audits/{session_id}/audit_images/"), a
    assert a["S3Object"]["Name"].endswith(".jpg"), a
    assert s3.get_object(Bucket="liveness-out", Key=a["S3Object"]["Name"])["Body"].read()[:3] == b"\xff\xd8\xff"
written = {o["Key"] for o in s3.list_objects_v2(Bucket="liveness-out").get("Contents", [])}
assert written == {reference["S3Object"]["Name"]} | {a["S3Object"]["Name"] for a in audits}, written
print("ok")
