"""The Rekognition-compatible API through boto3, exactly as an application would call AWS.

Usage: rekognition_boto3.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY. Prints "ok" and exits 0 when every check
holds; an assertion or a botocore error otherwise.
"""
import os
import sys

import boto3
import botocore.exceptions

endpoint, key_id, secret = sys.argv[1:4]


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


rk = client()
data = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "data", "samples", "face_recognition")
image = lambda name: open(os.path.join(data, name), "rb").read()

# DetectFaces: boxes and landmarks as ratios, confidence 0-100.
faces = rk.detect_faces(Image={"Bytes": image("obama.jpg")}, Attributes=["DEFAULT"])["FaceDetails"]
assert len(faces) == 1, faces
box = faces[0]["BoundingBox"]
assert 0 < box["Width"] < 1 and 0 < box["Height"] < 1 and 0 <= box["Left"] < 1 and 0 <= box["Top"] < 1, box
assert faces[0]["Confidence"] > 90, faces[0]
assert {l["Type"] for l in faces[0]["Landmarks"]} == {"eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight"}
assert all(0 <= l["X"] <= 1 and 0 <= l["Y"] <= 1 for l in faces[0]["Landmarks"])
assert 0 <= faces[0]["Quality"]["Brightness"] <= 100 and 0 <= faces[0]["Quality"]["Sharpness"] <= 100
assert len(rk.detect_faces(Image={"Bytes": image("two_people.jpg")})["FaceDetails"]) >= 2
assert error_of(rk.detect_faces, Image={"Bytes": b"not an image"}) == "InvalidImageFormatException"
assert error_of(rk.detect_faces, Image={"S3Object": {"Bucket": "faces", "Name": "face.jpg"}}) == "InvalidParameterException"

# CompareFaces: Obama matches Obama above 90, Biden does not match.
same = rk.compare_faces(SourceImage={"Bytes": image("obama.jpg")}, TargetImage={"Bytes": image("obama2.jpg")})
assert len(same["FaceMatches"]) == 1 and same["FaceMatches"][0]["Similarity"] > 90, same
assert same["SourceImageFace"]["Confidence"] > 90
other = rk.compare_faces(SourceImage={"Bytes": image("obama.jpg")}, TargetImage={"Bytes": image("biden.jpg")})
assert other["FaceMatches"] == [] and len(other["UnmatchedFaces"]) == 1, other
group = rk.compare_faces(
    SourceImage={"Bytes": image("obama.jpg")}, TargetImage={"Bytes": image("two_people.jpg")}, SimilarityThreshold=60
)
assert len(group["FaceMatches"]) + len(group["UnmatchedFaces"]) >= 2, group
no_face = open(os.path.join(data, "..", "insightface", "crop", "no_face.png"), "rb").read()
assert error_of(rk.compare_faces, SourceImage={"Bytes": no_face}, TargetImage={"Bytes": image("obama2.jpg")}) == (
    "InvalidParameterException"
)
created = rk.create_collection(CollectionId="boto-staff")
assert created["StatusCode"] == 200, created
assert created["CollectionArn"].endswith("collection/boto-staff"), created
assert created["FaceModelVersion"], created
assert error_of(rk.create_collection, CollectionId="boto-staff") == "ResourceAlreadyExistsException"
described = rk.describe_collection(CollectionId="boto-staff")
assert described["FaceCount"] == 0 and described["CollectionARN"].endswith("boto-staff"), described
assert described["CreationTimestamp"].year >= 2024, described
# IndexFaces, then SearchFacesByImage finds the right person, and nobody for a stranger.
indexed = rk.index_faces(CollectionId="boto-staff", Image={"Bytes": image("obama.jpg")}, ExternalImageId="obama")
assert len(indexed["FaceRecords"]) == 1 and indexed["FaceRecords"][0]["Face"]["ExternalImageId"] == "obama", indexed
obama_face = indexed["FaceRecords"][0]["Face"]["FaceId"]
assert len(obama_face) == 36 and indexed["FaceModelVersion"], indexed
rk.index_faces(CollectionId="boto-staff", Image={"Bytes": image("biden.jpg")}, ExternalImageId="biden")
assert rk.describe_collection(CollectionId="boto-staff")["FaceCount"] == 2
found = rk.search_faces_by_image(CollectionId="boto-staff", Image={"Bytes": image("obama2.jpg")}, MaxFaces=5)
assert found["FaceMatches"] and found["FaceMatches"][0]["Face"]["FaceId"] == obama_face, found
assert found["FaceMatches"][0]["Similarity"] > 90 and found["SearchedFaceConfidence"] > 90, found
assert all(m["Face"]["ExternalImageId"] == "obama" for m in found["FaceMatches"]), found
stranger = rk.search_faces_by_image(CollectionId="boto-staff", Image={"Bytes": image("lin-manuel-miranda.png")})
assert stranger["FaceMatches"] == [], stranger
assert error_of(rk.index_faces, CollectionId="nope", Image={"Bytes": image("obama.jpg")}) == "ResourceNotFoundException"
# SearchFaces by an enrolled face, ListFaces, DeleteFaces.
more = rk.index_faces(CollectionId="boto-staff", Image={"Bytes": image("obama2.jpg")}, ExternalImageId="obama")
again = rk.search_faces(CollectionId="boto-staff", FaceId=obama_face, MaxFaces=5)
assert again["SearchedFaceId"] == obama_face, again
assert [m["Face"]["FaceId"] for m in again["FaceMatches"]] == [more["FaceRecords"][0]["Face"]["FaceId"]], again
listed_faces = rk.list_faces(CollectionId="boto-staff", MaxResults=2)
assert len(listed_faces["Faces"]) == 2 and "NextToken" in listed_faces, listed_faces
rest_faces = rk.list_faces(CollectionId="boto-staff", NextToken=listed_faces["NextToken"])
assert len(listed_faces["Faces"]) + len(rest_faces["Faces"]) == 3, rest_faces
gone = rk.delete_faces(CollectionId="boto-staff", FaceIds=[more["FaceRecords"][0]["Face"]["FaceId"], "0195a3c1-0000-7000-8000-000000000000"])
assert gone["DeletedFaces"] == [more["FaceRecords"][0]["Face"]["FaceId"]], gone
assert gone["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["FACE_NOT_FOUND"], gone
assert rk.describe_collection(CollectionId="boto-staff")["FaceCount"] == 2
for i in range(3):
    rk.create_collection(CollectionId=f"boto-page-{i}")
page = rk.list_collections(MaxResults=2)
assert len(page["CollectionIds"]) == 2 and "NextToken" in page, page
assert len(page["FaceModelVersions"]) == 2, page
rest = rk.list_collections(NextToken=page["NextToken"], MaxResults=10)
listed = page["CollectionIds"] + rest["CollectionIds"]
assert sorted(listed) == sorted(["boto-staff", "boto-page-0", "boto-page-1", "boto-page-2"]), listed
assert rk.delete_collection(CollectionId="boto-page-0")["StatusCode"] == 200
assert error_of(rk.delete_collection, CollectionId="boto-page-0") == "ResourceNotFoundException"
assert error_of(rk.describe_collection, CollectionId="nope") == "ResourceNotFoundException"
assert error_of(rk.describe_collection, CollectionId="bad/../id") in ("InvalidParameterException", "ResourceNotFoundException")
# Wrong credentials: an unknown key id, and the right id with a wrong secret.
assert error_of(client(key="AKIDUNKNOWN").list_collections) == "UnrecognizedClientException"
assert error_of(client(secret_key="not-the-secret").list_collections) == "InvalidSignatureException"
# Operations not (yet) offered answer a clear error rather than a wrong result.
assert error_of(rk.list_users, CollectionId="boto-staff") == "UnknownOperationException"
print("ok")
