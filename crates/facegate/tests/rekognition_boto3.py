"""The Rekognition-compatible API through boto3, exactly as an application would call AWS.

Usage: rekognition_boto3.py ENDPOINT ACCESS_KEY_ID SECRET_ACCESS_KEY. Prints "ok" and exits 0 when every check
holds; an assertion or a botocore error otherwise.
"""
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
created = rk.create_collection(CollectionId="boto-staff")
assert created["StatusCode"] == 200, created
assert created["CollectionArn"].endswith("collection/boto-staff"), created
assert created["FaceModelVersion"], created
assert error_of(rk.create_collection, CollectionId="boto-staff") == "ResourceAlreadyExistsException"
described = rk.describe_collection(CollectionId="boto-staff")
assert described["FaceCount"] == 0 and described["CollectionARN"].endswith("boto-staff"), described
assert described["CreationTimestamp"].year >= 2024, described
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
