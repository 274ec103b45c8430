"""Drives a running `facegate serve` through a Python client generated from its own /openapi.json by
openapi-python-client (crates/facegate/tests/suite/openapi_client.rs generates it and runs this script).

Usage: openapi_client.py BASE_URL CLIENT_PARENT_DIR IMAGES_DIR

CLIENT_PARENT_DIR holds the generated package `facegate_client`; IMAGES_DIR is the shared
samples/face_recognition folder. Every call goes through the generated functions and models (no hand-written
HTTP): 1:1 compare, a collection with one indexed face found by a search, a liveness session read back, and the
serverless liveness API's compare (`/compat/liveness-api/compare`). Asserts on the answers and prints a JSON
summary on stdout for the Rust side to check again.
"""

import base64
import json
import sys
import uuid
from pathlib import Path

import httpx


def main() -> None:
    base, client_parent, images = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    sys.path.insert(0, str(client_parent))

    from facegate_client import Client
    from facegate_client.api.collections import create_collection, index_faces, search
    from facegate_client.api.compat_liveness_api import compat_liveness_api_compare
    from facegate_client.api.faces import faces_compare
    from facegate_client.api.liveness import create_session, get_session
    from facegate_client.models import (
        CollectionDto,
        CompareImages,
        Compared,
        CompareRequest,
        CompareResponse,
        CreateCollectionRequest,
        CreatedSession,
        CreateSessionRequest,
        IndexFacesRequest,
        IndexFacesResponse,
        SearchRequest,
        SearchResponse,
        SessionView,
    )

    def image(name: str) -> str:
        return base64.b64encode((images / name).read_bytes()).decode()

    obama, obama2, biden = image("obama.jpg"), image("obama2.jpg"), image("biden.jpg")
    client = Client(base_url=base, timeout=httpx.Timeout(120.0), raise_on_unexpected_status=True)
    summary = {}

    def parsed(response, status: int, model):
        assert response.status_code == status, f"status {response.status_code}: {response.content[:500]!r}"
        assert isinstance(response.parsed, model), f"{type(response.parsed)}: {response.content[:500]!r}"
        return response.parsed

    # 1:1: the same person matches above 80, another does not match.
    same = parsed(
        faces_compare.sync_detailed(client=client, body=CompareRequest(source=obama, target=obama2)),
        200,
        CompareResponse,
    )
    assert same.match is True and same.similarity > 80, same
    other = parsed(
        faces_compare.sync_detailed(client=client, body=CompareRequest(source=obama, target=biden)),
        200,
        CompareResponse,
    )
    assert other.match is False and other.similarity < same.threshold, other
    summary["compare"] = {"match": same.match, "similarity": same.similarity, "otherMatch": other.match}

    # 1:N: a collection, one indexed face with an external id and metadata, found by another photo.
    collection_id = f"openapi-{uuid.uuid4().hex[:12]}"
    created = parsed(
        create_collection.sync_detailed(client=client, body=CreateCollectionRequest(collection_id=collection_id)),
        201,
        CollectionDto,
    )
    assert created.collection_id == collection_id, created
    indexed = parsed(
        index_faces.sync_detailed(
            collection_id,
            client=client,
            body=IndexFacesRequest(image=obama, external_id="obama", metadata={"team": "ops"}),
        ),
        200,
        IndexFacesResponse,
    )
    assert len(indexed.face_records) == 1 and not indexed.unindexed_faces, indexed
    face_id = str(indexed.face_records[0].face_id)
    found = parsed(
        search.sync_detailed(collection_id, client=client, body=SearchRequest(image=obama2)),
        200,
        SearchResponse,
    )
    assert len(found.results) == 1 and found.results[0].matches, found
    best = found.results[0].matches[0]
    assert str(best.face_id) == face_id and best.external_id == "obama", best
    assert best.similarity > 80 and best.metadata == {"team": "ops"}, best
    summary["search"] = {
        "collectionId": collection_id,
        "indexedFaceId": face_id,
        "foundFaceId": str(best.face_id),
        "externalId": best.external_id,
        "similarity": best.similarity,
    }

    # Liveness: a session with listed challenges, read back by its id.
    session = parsed(
        create_session.sync_detailed(client=client, body=CreateSessionRequest(challenges=["blink", "smile"])),
        201,
        CreatedSession,
    )
    assert session.session_id and session.session_token, session
    read = parsed(get_session.sync_detailed(session.session_id, client=client), 200, SessionView)
    assert read.session_id == session.session_id, (read, session)
    assert [c.kind for c in read.challenges] == ["blink", "smile"], read
    assert read.status == "CREATED", read
    summary["session"] = {"created": session.session_id, "read": read.session_id, "status": read.status}

    # A front door of another service: the serverless liveness API's compare, on its 0-1 scale.
    compat_same = parsed(
        compat_liveness_api_compare.sync_detailed(client=client, body=CompareImages(source=obama, target=obama2)),
        200,
        Compared,
    )
    assert compat_same.comparison_result > 0.8, compat_same
    assert abs(compat_same.comparison_result - same.similarity / 100) < 0.01, (compat_same, same)
    compat_other = parsed(
        compat_liveness_api_compare.sync_detailed(client=client, body=CompareImages(source=obama, target=biden)),
        200,
        Compared,
    )
    assert compat_other.comparison_result < 0.6, compat_other
    summary["compat"] = {"same": compat_same.comparison_result, "other": compat_other.comparison_result}

    print(json.dumps(summary))


if __name__ == "__main__":
    main()
