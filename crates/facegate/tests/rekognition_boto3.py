"""The Rekognition-compatible API through boto3, exactly as an application would call AWS.

Usage: rekognition_boto3.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY ADMIN_KEY. Prints "ok" and exits 0 when
every check holds; an assertion or a botocore error otherwise. The admin key (for `/v1`) creates API keys and
their AWS pairs, and sends liveness frames, as an application's backend would.
"""
import base64
import json
import os
import sys
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.exceptions
import botocore.utils

endpoint, key_id, secret, admin_key = sys.argv[1:5]


def v1(method, path, body=None, token=admin_key):
    """A `/v1` call; returns (status, JSON answer)."""
    request = urllib.request.Request(
        endpoint.rstrip("/") + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as r:
            return r.status, json.loads(r.read())
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
assert "Smile" not in faces[0] and "Emotions" not in faces[0], "DEFAULT runs no analysis"

# Face attributes: Attributes=["ALL"] returns what Facegate measures, and nothing it does not.
AWS_EMOTIONS = {"HAPPY", "SAD", "ANGRY", "CONFUSED", "DISGUSTED", "SURPRISED", "CALM", "FEAR"}
NEVER = ["AgeRange", "Gender", "Eyeglasses", "Sunglasses", "Beard", "Mustache", "FaceOccluded", "EyeDirection"]
LANDMARKS = [
    "eyeLeft", "eyeRight", "nose", "mouthLeft", "mouthRight", "leftEyeBrowLeft", "leftEyeBrowRight", "leftEyeBrowUp",
    "rightEyeBrowLeft", "rightEyeBrowRight", "rightEyeBrowUp", "leftEyeLeft", "leftEyeRight", "leftEyeUp",
    "leftEyeDown", "rightEyeLeft", "rightEyeRight", "rightEyeUp", "rightEyeDown", "noseLeft", "noseRight", "mouthUp",
    "mouthDown", "leftPupil", "rightPupil", "upperJawlineLeft", "midJawlineLeft", "chinBottom", "midJawlineRight",
    "upperJawlineRight",
]


def yes_no(detail, name):
    v = detail[name]
    assert isinstance(v["Value"], bool) and 0 <= v["Confidence"] <= 100, (name, v)
    return v["Value"]


def check_all(detail):
    """A FaceDetail of Attributes=["ALL"] on a frontal face, eyes open: every measured field, AWS's shapes."""
    assert not [k for k in NEVER if k in detail], "unmeasured attributes are left out"
    pose = detail["Pose"]
    assert all(-180 <= pose[k] <= 180 for k in ("Roll", "Yaw", "Pitch")), pose
    assert abs(pose["Yaw"]) < 20 and abs(pose["Pitch"]) < 25 and abs(pose["Roll"]) < 15, pose
    assert yes_no(detail, "EyesOpen") is True
    yes_no(detail, "Smile"), yes_no(detail, "MouthOpen")
    emotions = detail["Emotions"]
    assert {e["Type"] for e in emotions} <= AWS_EMOTIONS and len(emotions) == 7, emotions
    confidences = [e["Confidence"] for e in emotions]
    assert confidences == sorted(confidences, reverse=True) and all(0 <= c <= 100 for c in confidences), emotions
    assert 99 <= sum(confidences) <= 101, "the expression network's probabilities, x 100"
    points = {l["Type"]: (l["X"], l["Y"]) for l in detail["Landmarks"]}
    assert sorted(points) == sorted(LANDMARKS) and len(detail["Landmarks"]) == 30, sorted(points)
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in points.values()), points
    x = {k: p[0] for k, p in points.items()}
    y = {k: p[1] for k, p in points.items()}
    box = detail["BoundingBox"]
    slack = 0.2 * box["Width"]
    assert all(box["Left"] - slack <= v <= box["Left"] + box["Width"] + slack for v in x.values()), (box, x)
    # "Left" is the image's left, as in AWS's own examples (eyeLeft has the smaller X).
    for left, right in [("eyeLeft", "eyeRight"), ("mouthLeft", "mouthRight"), ("leftPupil", "rightPupil"),
                        ("leftEyeLeft", "leftEyeRight"), ("rightEyeLeft", "rightEyeRight"),
                        ("leftEyeBrowLeft", "leftEyeBrowRight"), ("rightEyeBrowLeft", "rightEyeBrowRight"),
                        ("noseLeft", "noseRight"), ("midJawlineLeft", "midJawlineRight"),
                        ("upperJawlineLeft", "upperJawlineRight"), ("leftEyeRight", "rightEyeLeft")]:
        assert x[left] < x[right], (left, right, x[left], x[right])
    for side in ("left", "right"):
        eye = side + "Eye"
        assert y[eye + "BrowUp"] < y[eye + "Up"] < y[side + "Pupil"] < y[eye + "Down"], (side, y)
        assert x[eye + "Left"] < x[side + "Pupil"] < x[eye + "Right"], (side, x)
    assert y["noseLeft"] < y["mouthUp"] < y["mouthDown"] < y["chinBottom"], y
    assert y["upperJawlineLeft"] < y["midJawlineLeft"] < y["chinBottom"], y
    assert x["midJawlineLeft"] < x["chinBottom"] < x["midJawlineRight"], x


everything = rk.detect_faces(Image={"Bytes": image("obama.jpg")}, Attributes=["ALL"])["FaceDetails"]
assert len(everything) == 1, everything
check_all(everything[0])
assert everything[0]["BoundingBox"] == faces[0]["BoundingBox"], "the same face as with DEFAULT"
# An explicit list: the default set plus what it names; names Facegate cannot measure are accepted, not answered.
only_smile = rk.detect_faces(Image={"Bytes": image("obama.jpg")}, Attributes=["SMILE", "AGE_RANGE"])["FaceDetails"][0]
assert "Smile" in only_smile and "Pitch" in only_smile["Pose"], only_smile
assert not [k for k in ["Emotions", "EyesOpen", "MouthOpen"] + NEVER if k in only_smile], only_smile
assert len(only_smile["Landmarks"]) == 5, "the full landmark list comes with ALL"
unmeasured = rk.detect_faces(Image={"Bytes": image("obama.jpg")}, Attributes=["GENDER", "EYEGLASSES"])["FaceDetails"][0]
assert set(unmeasured) == set(faces[0]), unmeasured
# One pose, one sign in every attribute set: the face mesh's (Yaw > 0: turned toward the image's right), never
# saturated. The insightface pose samples turn about 50 degrees each way.
poses = os.path.join(data, "..", "insightface", "pose")
for name, side in (("left_face.jpeg", -1), ("right_face.png", 1)):
    turned = open(os.path.join(poses, name), "rb").read()
    default = rk.detect_faces(Image={"Bytes": turned})["FaceDetails"][0]["Pose"]
    every = rk.detect_faces(Image={"Bytes": turned}, Attributes=["ALL"])["FaceDetails"][0]["Pose"]
    assert default == every, (name, default, every)
    assert 30 < side * default["Yaw"] < 75, (name, default)
for bad in (["SMILES"], ["smile"], ["ALL", "AGE"]):
    assert error_of(rk.detect_faces, Image={"Bytes": image("obama.jpg")}, Attributes=bad) == "InvalidParameterException"
# Smiles on GENKI's labelled faces (measured on all of GENKI: 90.9 %); eyes and mouths on Yale's (the same person
# with eyes closed, smiling, surprised).
genki = os.path.join(data, "..", "..", "genki")
rows = [line.strip().split(",") for line in open(os.path.join(genki, "labels.csv")).read().splitlines()[1:] if line]
smiling, straight = [r[0] for r in rows if r[1] == "1"][:8], [r[0] for r in rows if r[1] == "0"][:8]
genki_image = lambda name: open(os.path.join(genki, name), "rb").read()
right = 0
for name, smiles in [(n, True) for n in smiling] + [(n, False) for n in straight]:
    found = rk.detect_faces(Image={"Bytes": genki_image(name)}, Attributes=["SMILE"])["FaceDetails"]
    right += bool(found) and yes_no(found[0], "Smile") == smiles
assert right >= 13, f"{right} of 16 GENKI faces read right"
yale_dir = os.path.join(data, "..", "..", "yale", "images")
for subject in ("subject01", "subject02", "subject03"):
    yale_image = lambda condition: open(os.path.join(yale_dir, subject, f"{subject}_{condition}.png"), "rb").read()
    detail = lambda condition: rk.detect_faces(Image={"Bytes": yale_image(condition)}, Attributes=["ALL"])["FaceDetails"][0]
    normal, sleepy, happy, surprised = (detail(c) for c in ("normal", "sleepy", "happy", "surprised"))
    assert yes_no(normal, "EyesOpen") and not yes_no(sleepy, "EyesOpen"), subject
    assert yes_no(happy, "Smile") and not yes_no(normal, "Smile"), subject
    assert yes_no(surprised, "MouthOpen") and not yes_no(normal, "MouthOpen"), subject
    assert happy["Emotions"][0]["Type"] == "HAPPY", (subject, happy["Emotions"])

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
# The ARN as botocore's own parser reads AWS ARNs.
parsed = botocore.utils.ArnParser().parse_arn(created["CollectionArn"])
assert (parsed["partition"], parsed["service"], parsed["region"], parsed["resource"]) == (
    "aws", "rekognition", "eu-west-1", "collection/boto-staff"), parsed
assert len(parsed["account"]) == 12 and parsed["account"].isdigit(), parsed
assert created["FaceModelVersion"], created
assert error_of(rk.create_collection, CollectionId="boto-staff") == "ResourceAlreadyExistsException"
described = rk.describe_collection(CollectionId="boto-staff")
assert described["FaceCount"] == 0 and described["CollectionARN"] == created["CollectionArn"], described
assert described["CreationTimestamp"].year >= 2024, described
# IndexFaces, then SearchFacesByImage finds the right person, and nobody for a stranger.
indexed = rk.index_faces(CollectionId="boto-staff", Image={"Bytes": image("obama.jpg")}, ExternalImageId="obama")
assert len(indexed["FaceRecords"]) == 1 and indexed["FaceRecords"][0]["Face"]["ExternalImageId"] == "obama", indexed
obama_face = indexed["FaceRecords"][0]["Face"]["FaceId"]
detail = indexed["FaceRecords"][0]["FaceDetail"]
assert len(detail["Landmarks"]) == 5 and "Smile" not in detail and detail["Confidence"] > 90, detail
assert len(obama_face) == 36 and indexed["FaceModelVersion"], indexed
rk.index_faces(CollectionId="boto-staff", Image={"Bytes": image("biden.jpg")}, ExternalImageId="biden")
assert rk.describe_collection(CollectionId="boto-staff")["FaceCount"] == 2
found = rk.search_faces_by_image(CollectionId="boto-staff", Image={"Bytes": image("obama2.jpg")}, MaxFaces=5)
assert found["FaceMatches"] and found["FaceMatches"][0]["Face"]["FaceId"] == obama_face, found
searched = found["SearchedFaceBoundingBox"]
assert 0 < searched["Width"] < 1 and 0 < searched["Height"] < 1 and 0 <= searched["Left"] < 1, found
assert found["FaceMatches"][0]["Similarity"] > 90 and found["SearchedFaceConfidence"] > 90, found
assert all(m["Face"]["ExternalImageId"] == "obama" for m in found["FaceMatches"]), found
# A stored face carries the box it was indexed with, as ratios of its image, and the detector's confidence.
indexed_box = indexed["FaceRecords"][0]["Face"]["BoundingBox"]
assert found["FaceMatches"][0]["Face"]["BoundingBox"] == indexed_box, (found, indexed_box)
assert found["FaceMatches"][0]["Face"]["Confidence"] == indexed["FaceRecords"][0]["Face"]["Confidence"], found
stranger = rk.search_faces_by_image(CollectionId="boto-staff", Image={"Bytes": image("lin-manuel-miranda.png")})
assert stranger["FaceMatches"] == [], stranger
assert error_of(rk.index_faces, CollectionId="nope", Image={"Bytes": image("obama.jpg")}) == "ResourceNotFoundException"
# IndexFaces with DetectionAttributes=["ALL"]: the attributes in FaceRecords[].FaceDetail.
rk.create_collection(CollectionId="boto-attributes")
measured = rk.index_faces(
    CollectionId="boto-attributes", Image={"Bytes": image("obama.jpg")}, DetectionAttributes=["ALL"]
)
assert len(measured["FaceRecords"]) == 1, measured
check_all(measured["FaceRecords"][0]["FaceDetail"])
assert error_of(
    rk.index_faces, CollectionId="boto-attributes", Image={"Bytes": image("obama.jpg")}, DetectionAttributes=["X"]
) == "InvalidParameterException"
assert rk.describe_collection(CollectionId="boto-attributes")["FaceCount"] == 1, "a refused request indexes nothing"
rk.delete_collection(CollectionId="boto-attributes")
# SearchFaces by an enrolled face, ListFaces, DeleteFaces.
more = rk.index_faces(CollectionId="boto-staff", Image={"Bytes": image("obama2.jpg")}, ExternalImageId="obama")
again = rk.search_faces(CollectionId="boto-staff", FaceId=obama_face, MaxFaces=5)
assert again["SearchedFaceId"] == obama_face, again
assert [m["Face"]["FaceId"] for m in again["FaceMatches"]] == [more["FaceRecords"][0]["Face"]["FaceId"]], again
listed_faces = rk.list_faces(CollectionId="boto-staff", MaxResults=2)
assert len(listed_faces["Faces"]) == 2 and "NextToken" in listed_faces, listed_faces
rest_faces = rk.list_faces(CollectionId="boto-staff", NextToken=listed_faces["NextToken"])
assert len(listed_faces["Faces"]) + len(rest_faces["Faces"]) == 3, rest_faces
boxes = {f["FaceId"]: f["BoundingBox"] for f in listed_faces["Faces"] + rest_faces["Faces"]}
assert boxes[obama_face] == indexed_box, boxes
assert all(0 < b["Width"] < 1 and 0 < b["Height"] < 1 and 0 <= b["Left"] < 1 for b in boxes.values()), boxes
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

# Users: faces grouped under a user id, with AWS's rules.
knn = os.path.join(data, "knn")
rk.create_collection(CollectionId="boto-users")
def index_one(path, external):
    record = rk.index_faces(CollectionId="boto-users", Image={"Bytes": open(path, "rb").read()}, ExternalImageId=external)
    return record["FaceRecords"][0]["Face"]["FaceId"]
obama_a = index_one(os.path.join(data, "obama.jpg"), "obama")
obama_b = index_one(os.path.join(data, "obama2.jpg"), "obama")
biden_a = index_one(os.path.join(data, "biden.jpg"), "biden")
biden_b = index_one(os.path.join(knn, "train", "biden", "biden2.jpg"), "biden")
kit = index_one(os.path.join(knn, "train", "kit_harington", "john1.jpeg"), "kit")
# CreateUser is idempotent on its token; the same id again is a conflict; the token with another id a mismatch.
assert rk.create_user(CollectionId="boto-users", UserId="obama:44", ClientRequestToken="create-obama")
assert rk.create_user(CollectionId="boto-users", UserId="obama:44", ClientRequestToken="create-obama") is not None
assert error_of(rk.create_user, CollectionId="boto-users", UserId="obama:44") == "ConflictException"
assert error_of(rk.create_user, CollectionId="boto-users", UserId="other", ClientRequestToken="create-obama") == (
    "IdempotentParameterMismatchException"
)
assert error_of(rk.create_user, CollectionId="boto-users", UserId="bad user") == "InvalidParameterException"
assert error_of(rk.create_user, CollectionId="nope", UserId="x") == "ResourceNotFoundException"
assert rk.list_users(CollectionId="boto-users")["Users"] == [{"UserId": "obama:44", "UserStatus": "CREATED"}]
# The first faces of a user need no match; later ones must reach UserMatchThreshold against its faces.
first = rk.associate_faces(CollectionId="boto-users", UserId="obama:44", FaceIds=[obama_a])
assert first["AssociatedFaces"] == [{"FaceId": obama_a}] and first["UserStatus"] == "ACTIVE", first
assert first["UnsuccessfulFaceAssociations"] == [], first
missing = "0195a3c1-0000-7000-8000-000000000000"
more = rk.associate_faces(CollectionId="boto-users", UserId="obama:44", FaceIds=[obama_b, biden_a, missing, obama_a])
assert more["AssociatedFaces"] == [{"FaceId": obama_b}], more
refused = {u["FaceId"]: u for u in more["UnsuccessfulFaceAssociations"]}
assert set(refused) == {biden_a, missing}, more
assert refused[biden_a]["Reasons"] == ["LOW_MATCH_CONFIDENCE"] and refused[biden_a]["Confidence"] < 75, refused
assert refused[missing]["Reasons"] == ["FACE_NOT_FOUND"], refused
rk.create_user(CollectionId="boto-users", UserId="biden")
both = rk.associate_faces(CollectionId="boto-users", UserId="biden", FaceIds=[biden_a, biden_b], ClientRequestToken="a1")
assert sorted(f["FaceId"] for f in both["AssociatedFaces"]) == sorted([biden_a, biden_b]), both
# A retry with the token answers as the first call did.
assert rk.associate_faces(CollectionId="boto-users", UserId="biden", FaceIds=[biden_a, biden_b], ClientRequestToken="a1")[
    "AssociatedFaces"] == both["AssociatedFaces"]
taken = rk.associate_faces(CollectionId="boto-users", UserId="biden", FaceIds=[obama_a], UserMatchThreshold=0)
assert taken["UnsuccessfulFaceAssociations"] == [
    {"FaceId": obama_a, "UserId": "obama:44", "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}], taken
assert error_of(rk.associate_faces, CollectionId="boto-users", UserId="nobody", FaceIds=[kit]) == "ResourceNotFoundException"
# Faces know their user.
mine = rk.list_faces(CollectionId="boto-users", UserId="obama:44")["Faces"]
assert sorted(f["FaceId"] for f in mine) == sorted([obama_a, obama_b]) and all(f["UserId"] == "obama:44" for f in mine)
named = rk.list_faces(CollectionId="boto-users", FaceIds=[kit, biden_b])["Faces"]
assert {f["FaceId"]: f.get("UserId") for f in named} == {kit: None, biden_b: "biden"}, named
# SearchUsers by a face (it does not count for its own user) and by a user (not among its own matches).
by_face = rk.search_users(CollectionId="boto-users", FaceId=obama_a)
assert by_face["SearchedFace"] == {"FaceId": obama_a} and by_face["FaceModelVersion"], by_face
assert [m["User"]["UserId"] for m in by_face["UserMatches"]] == ["obama:44"], by_face
assert by_face["UserMatches"][0]["Similarity"] > 80 and by_face["UserMatches"][0]["User"]["UserStatus"] == "ACTIVE"
by_user = rk.search_users(CollectionId="boto-users", UserId="biden", UserMatchThreshold=0, MaxUsers=5)
assert by_user["SearchedUser"] == {"UserId": "biden"} and [m["User"]["UserId"] for m in by_user["UserMatches"]] == [
    "obama:44"], by_user
assert by_user["UserMatches"][0]["Similarity"] < 60, "Biden is not Obama"
assert error_of(rk.search_users, CollectionId="boto-users") == "InvalidParameterException"
assert error_of(rk.search_users, CollectionId="boto-users", FaceId=missing) == "ResourceNotFoundException"
# SearchUsersByImage: the largest face is searched; the others are listed with the reason.
probe = rk.search_users_by_image(CollectionId="boto-users", Image={"Bytes": open(os.path.join(knn, "test", "obama1.jpg"), "rb").read()})
assert [m["User"]["UserId"] for m in probe["UserMatches"]] == ["obama:44"] and probe["UserMatches"][0]["Similarity"] > 80, probe
assert probe["SearchedFace"]["FaceDetail"]["Confidence"] > 90 and probe["UnsearchedFaces"] == [], probe
pair = rk.search_users_by_image(CollectionId="boto-users", Image={"Bytes": open(os.path.join(knn, "test", "obama_and_biden.jpg"), "rb").read()})
assert len(pair["UserMatches"]) == 1 and pair["UserMatches"][0]["User"]["UserId"] in ("obama:44", "biden"), pair
assert pair["UnsearchedFaces"] and all(u["Reasons"] == ["FACE_NOT_LARGEST"] for u in pair["UnsearchedFaces"]), pair
area = lambda box: box["Width"] * box["Height"]
searched_area = area(pair["SearchedFace"]["FaceDetail"]["BoundingBox"])
assert all(area(u["FaceDetails"]["BoundingBox"]) <= searched_area for u in pair["UnsearchedFaces"]), pair
nobody = rk.search_users_by_image(CollectionId="boto-users", Image={"Bytes": no_face})
assert nobody["UserMatches"] == [] and "SearchedFace" not in nobody, nobody
stranger = rk.search_users_by_image(CollectionId="boto-users", Image={"Bytes": image("lin-manuel-miranda.png")})
assert stranger["UserMatches"] == [] and "SearchedFace" in stranger, stranger
# DisassociateFaces: another user's face is refused; the user's own goes; a face without a user is ignored.
off = rk.disassociate_faces(CollectionId="boto-users", UserId="biden", FaceIds=[obama_b, biden_b, kit])
assert off["DisassociatedFaces"] == [{"FaceId": biden_b}] and off["UserStatus"] == "ACTIVE", off
assert off["UnsuccessfulFaceDisassociations"] == [
    {"FaceId": obama_b, "UserId": "obama:44", "Reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"]}], off
# ListUsers pages through boto3's own paginator.
for i in range(3):
    rk.create_user(CollectionId="boto-users", UserId=f"page-{i}")
pages = list(rk.get_paginator("list_users").paginate(CollectionId="boto-users", PaginationConfig={"PageSize": 2}))
assert len(pages) == 3 and [len(p["Users"]) for p in pages] == [2, 2, 1], pages
assert [u["UserId"] for p in pages for u in p["Users"]] == ["biden", "obama:44", "page-0", "page-1", "page-2"]
# DeleteUser: its faces stay, without a user; a second delete finds nothing (unless it repeats a token).
face_count = rk.describe_collection(CollectionId="boto-users")["FaceCount"]
assert rk.delete_user(CollectionId="boto-users", UserId="obama:44", ClientRequestToken="del-1") is not None
assert rk.delete_user(CollectionId="boto-users", UserId="obama:44", ClientRequestToken="del-1") is not None
assert error_of(rk.delete_user, CollectionId="boto-users", UserId="obama:44") == "ResourceNotFoundException"
assert "UserId" not in rk.list_faces(CollectionId="boto-users", FaceIds=[obama_a])["Faces"][0]
assert rk.describe_collection(CollectionId="boto-users")["FaceCount"] == face_count
assert rk.search_users(CollectionId="boto-users", FaceId=obama_b)["UserMatches"] == []


def key_with_pair(**fields):
    """An API key (created through /v1) and an AWS pair issued for it; returns (key id, boto3 client)."""
    status, created = v1("POST", "/v1/keys", {"name": "boto", **fields})
    assert status == 201, created
    kid = created["keyId"]
    status, pair = v1("POST", f"/v1/keys/{kid}/aws-credentials")
    assert status == 201 and pair["accessKeyId"].startswith("FGAK") and len(pair["secretAccessKey"]) == 40, pair
    return kid, client(key=pair["accessKeyId"], secret_key=pair["secretAccessKey"])


# A key's pair acts as the key: its scopes and collections hold on every operation.
reader_id, reader = key_with_pair(scopes=["collections:read"], collections=["boto-staff"])
found = reader.search_faces_by_image(CollectionId="boto-staff", Image={"Bytes": image("obama2.jpg")})
assert found["FaceMatches"][0]["Face"]["ExternalImageId"] == "obama", found
assert reader.list_collections()["CollectionIds"] == ["boto-staff"], "only its own collections are listed"
assert reader.list_faces(CollectionId="boto-staff")["Faces"], "reads its collection"
assert error_of(reader.describe_collection, CollectionId="boto-page-1") == "AccessDeniedException"
assert error_of(reader.search_faces_by_image, CollectionId="boto-page-1", Image={"Bytes": image("obama.jpg")}) == (
    "AccessDeniedException"
)
assert error_of(reader.index_faces, CollectionId="boto-staff", Image={"Bytes": image("obama.jpg")}) == (
    "AccessDeniedException"
), "collections:read cannot write"
assert error_of(reader.delete_collection, CollectionId="boto-staff") == "AccessDeniedException"
assert error_of(reader.detect_faces, Image={"Bytes": image("obama.jpg")}) == "AccessDeniedException"
assert error_of(reader.create_user, CollectionId="boto-staff", UserId="u") == "AccessDeniedException", "read only"
assert error_of(reader.search_users, CollectionId="boto-users", FaceId=obama_a) == "AccessDeniedException"
assert reader.list_users(CollectionId="boto-staff")["Users"] == []
assert error_of(reader.create_face_liveness_session) == "AccessDeniedException"
assert rk.describe_collection(CollectionId="boto-staff")["FaceCount"] == 2, "nothing was written or deleted"
# The internal users collection is nobody's through this API.
assert error_of(rk.describe_collection, CollectionId="@users") in ("ResourceNotFoundException", "InvalidParameterException")
# A wrong secret for a real access key id; then the key revoked: its pair stops at once.
status, pairs = v1("POST", f"/v1/keys/{reader_id}/aws-credentials")
assert error_of(client(key=pairs["accessKeyId"], secret_key="x" * 40).list_collections) == "InvalidSignatureException"
assert v1("DELETE", f"/v1/keys/{reader_id}")[0] == 200
assert error_of(reader.list_collections) == "UnrecognizedClientException"
# Rate limits and monthly quotas, as on /v1: ThrottlingException and ProvisionedThroughputExceededException.
_, limited = key_with_pair(scopes=["faces:detect"], ratePerSecond=0.01, burst=1)
assert len(limited.detect_faces(Image={"Bytes": image("obama.jpg")})["FaceDetails"]) == 1
assert error_of(limited.detect_faces, Image={"Bytes": image("obama.jpg")}) == "ThrottlingException"
_, counted = key_with_pair(scopes=["faces:compare"], monthlyQuota=1)
counted.compare_faces(SourceImage={"Bytes": image("obama.jpg")}, TargetImage={"Bytes": image("obama2.jpg")})
assert error_of(
    counted.compare_faces, SourceImage={"Bytes": image("obama.jpg")}, TargetImage={"Bytes": image("obama2.jpg")}
) == "ProvisionedThroughputExceededException"

# Face liveness: a session created through boto3, its frames sent through /v1 by the browser (with a session
# token the backend asks for), its result read through boto3 with the reference and audit images as bytes.
assert error_of(rk.create_face_liveness_session, Settings={"OutputConfig": {"S3Bucket": "audit"}}) == (
    "InvalidParameterException"
)
# The use case's rule, in Rekognition's words.
try:
    rk.create_face_liveness_session(Settings={"AuditImagesLimit": 9})
    raise AssertionError("AuditImagesLimit 9 should be refused")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidParameterException", e.response
    assert e.response["Error"]["Message"].startswith("Settings.AuditImagesLimit must lie in 0..=4"), e.response
session_id = rk.create_face_liveness_session(Settings={"AuditImagesLimit": 2})["SessionId"]
assert uuid.UUID(session_id), session_id
assert rk.get_face_liveness_session_results(SessionId=session_id)["Status"] == "CREATED"
status, token = v1("POST", f"/v1/liveness/sessions/{session_id}/token")
assert status == 200 and token["sessionToken"].startswith("fls_"), token
status, view = v1("GET", f"/v1/liveness/sessions/{session_id}", token=token["sessionToken"])
assert [c["kind"] for c in view["challenges"]] == ["blink"], view
yale = os.path.join(data, "..", "..", "yale", "images", "subject01")
sent = [open(os.path.join(yale, f"subject01_{c}.png"), "rb").read() for c in ["normal", "sleepy", "surprised"]]
for i, frame in enumerate(sent):
    status, answer = v1(
        "POST",
        f"/v1/liveness/sessions/{session_id}/frames",
        {"image": base64.b64encode(frame).decode(), "sequence": i, "timestamp": 100 * (i + 1)},
        token=token["sessionToken"],
    )
    assert status == 200, answer
result = rk.get_face_liveness_session_results(SessionId=session_id)
assert result["Status"] == "SUCCEEDED" and result["Confidence"] > 50, {k: v for k, v in result.items() if "Image" not in k}
# The images are frames the browser sent, re-encoded as JPEG (as AWS does) at their size.
def jpeg_size(data):
    """(width, height) from a JPEG's start-of-frame marker."""
    assert data[:3] == b"\xff\xd8\xff", data[:8]
    i = 2
    while i + 9 < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    raise AssertionError("no start-of-frame marker")


def png_size(data):
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


kept = [result["ReferenceImage"]["Bytes"]] + [a["Bytes"] for a in result["AuditImages"]]
assert 1 <= len(result["AuditImages"]) <= 2, len(result["AuditImages"])
assert all(jpeg_size(k) == png_size(sent[0]) for k in kept), [jpeg_size(k) for k in kept]
assert error_of(rk.get_face_liveness_session_results, SessionId=str(uuid.uuid4())) == "ResourceNotFoundException"
# Another key cannot read this session's result.
_, stranger_rk = key_with_pair(scopes=["liveness"])
assert error_of(stranger_rk.get_face_liveness_session_results, SessionId=session_id) == "ResourceNotFoundException"
print("ok")
