#!/usr/bin/env python3
"""Writes the starting corpora of the fuzz targets into OUT/corpus/TARGET: hand-written cases, and images and
weights from ../shared/data and ../shared/models (never committed). Usage: seeds.py OUT SHARED_DATA_DIR."""
import base64
import glob
import json
import os
import sys

out, data = sys.argv[1], sys.argv[2]
models = os.path.join(data, "..", "models")


def write(target, name, content):
    d = os.path.join(out, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(content if isinstance(content, bytes) else content.encode())


def read(path):
    with open(path, "rb") as f:
        return f.read()


lfw = sorted(glob.glob(os.path.join(data, "lfw", "images", "A*", "*.jpg")))[:6]
images = lfw + [
    os.path.join(data, "samples", "insightface", "crop", "no_face.png"),
    os.path.join(data, "samples", "silent_face", "image_T1.jpg"),
    os.path.join(data, "samples", "face_recognition", "obama-240p.jpg"),
]
images = [p for p in images if os.path.exists(p)]

# Images: real photos, and the smallest files of each format's header.
for i, p in enumerate(images):
    write("decode_image", f"photo{i}", read(p))
write("decode_image", "gif-header", b"GIF89a\x10\x00\x10\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x10\x00\x10\x00\x00\x02\x02D\x01\x00;")
write("decode_image", "bmp-header", b"BM" + b"\x00" * 52)
write("decode_image", "webp-header", b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\x00" * 24)

# Checkpoints: the real MiniFASNet weights, and a zip that is not one.
for i, p in enumerate(sorted(glob.glob(os.path.join(models, "shared-only", "*.pth")))):
    write("torch_pth", f"weights{i}", read(p))
write("torch_pth", "not-a-zip", b"PK\x03\x04" + b"\x00" * 40)

# Signature V4: Authorization header, path, query, body (one per line).
write("sigv4", "signed", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261118/eu-west-1/rekognition/aws4_request, "
      "SignedHeaders=host;x-amz-date;x-amz-target, Signature=" + "ab" * 32 + "\n/\n\n{\"MaxResults\": 2}")
write("sigv4", "query", "AWS4-HMAC-SHA256 Credential=A/20261118/r/s/aws4_request, SignedHeaders=host, "
      "Signature=00\n/a%20b/c\nx=1&y=%2F&x=0\n")

# Credentials: tokens of the right shapes.
header = base64.urlsafe_b64encode(json.dumps({"alg": "EdDSA", "kid": "ed", "typ": "JWT"}).encode()).rstrip(b"=")
claims = base64.urlsafe_b64encode(json.dumps({"iss": "facegate", "sub": "u", "aud": "facegate", "iat": 1,
                                              "exp": 2000000000, "jti": "j"}).encode()).rstrip(b"=")
write("credentials", "jwt", header + b"." + claims + b"." + b"A" * 86)
write("credentials", "hs256", base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"hs"}').rstrip(b"=") + b"." + claims + b".sig")
write("credentials", "api-key", "fg_abcdefghijkl_" + "A" * 43)

# API requests: byte 0 the route, byte 1 the content type (see fuzz_targets/api_request.rs), then the body.
face = base64.b64encode(read(lfw[0])).decode() if lfw else ""
other = base64.b64encode(read(lfw[1])).decode() if len(lfw) > 1 else face
routes = {
    0: {"image": face}, 1: {"source": face, "target": other, "threshold": 80}, 2: {"document": face, "selfie": other},
    3: {"image": face}, 4: {"collectionId": "fz-new"}, 8: {"image": face, "externalId": "a"},
    10: {"faceIds": ["x"]}, 13: {"maxResults": 3}, 14: {"image": face, "maxResults": 2},
    15: {"image": face}, 16: {"image": face, "checks": ["smile"]},
    17: {"baseline": face, "challenges": [{"kind": "smile", "image": other}]},
    18: {"selfie": face, "document": other}, 19: {"challengeCount": 2},
    21: {"image": face, "sequence": 0, "timestamp": 10}, 24: {"userId": "fz-user", "images": [face]},
    27: {"images": [face]}, 28: {"image": face}, 29: {"token": "x"}, 30: {"name": "n", "scopes": ["faces:detect"]},
}
for route, body in routes.items():
    write("api_request", f"json-{route}", bytes([route, 0]) + json.dumps(body).encode())
write("api_request", "multipart", bytes([0, 1]) + b"--XfzX\r\nContent-Disposition: form-data; name=\"image\"; "
      b"filename=\"a.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" + (read(lfw[0]) if lfw else b"") + b"\r\n--XfzX--\r\n")
write("api_request", "raw-query", bytes([14, 2]) + b"?maxResults=2&threshold=50\n" + (read(lfw[0]) if lfw else b""))
write("api_request", "list-page", bytes([9, 0]) + b"?limit=2&nextToken=abc\n")
write("api_request", "rekognition", bytes([34, 6]) + b'{"CollectionId": "fz"}')
