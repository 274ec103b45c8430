"""AWS's own FaceLivenessDetectorCore (web/amplify's harness: the pinned npm bundle in Debian's Chromium with a fake
camera) against a real `facegate serve` over TLS, sessions created and read with boto3 as an app's backend does.

Run by the suite (amplify::the_component_runs_against_facegate), which starts the server (admin key, an AWS key
pair, the pinned oval) and makes the fixtures. Each case: CreateFaceLivenessSession (boto3), the component run with
the session (node web/amplify/run.mjs), GetFaceLivenessSessionResults (boto3), the reasons from /v1 (admin key).

usage: amplify_liveness.py ENDPOINT ACCESS_KEY SECRET ADMIN_KEY FIXTURE_DIR
"""
import json
import os
import subprocess
import sys

import boto3
import botocore.config
import requests

endpoint, access_key, secret, admin_key, fixtures = sys.argv[1:6]
harness = os.path.join(os.path.dirname(__file__), "..", "..", "..", "web", "amplify")
ca = os.path.join(fixtures, "cert.pem")
rekognition = boto3.client(
    "rekognition",
    endpoint_url=endpoint,
    region_name="us-east-1",
    aws_access_key_id=access_key,
    aws_secret_access_key=secret,
    verify=ca,
    config=botocore.config.Config(retries={"max_attempts": 1}),
)
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def create(challenge):
    settings = {"AuditImagesLimit": 2, "ChallengePreferences": [{"Type": challenge}]}
    return rekognition.create_face_liveness_session(Settings=settings)["SessionId"]


def component(session, video, secret_key=secret, clock_offset_ms=0, timeout_ms=90000):
    # The SDK signs the host without its port: the component is pointed at localhost, as a browser would be.
    url = endpoint.replace("127.0.0.1", "localhost")
    command = ["node", "run.mjs", "--endpoint", url, "--session", session, "--access-key", access_key,
               "--secret-key", secret_key, "--video", os.path.join(fixtures, video),
               "--timeout-ms", str(timeout_ms), "--clock-offset-ms", str(clock_offset_ms)]
    out = subprocess.run(command, cwd=harness, capture_output=True, text=True, timeout=timeout_ms / 1000 + 60)
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise SystemExit(f"run.mjs failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    report = json.loads(lines[-1])
    check(report["external_requests"] == [], f"{video}: nothing fetched from outside ({report['external_requests']})")
    return report


def results(session):
    r = rekognition.get_face_liveness_session_results(SessionId=session)
    detail = requests.get(f"{endpoint}/v1/liveness/sessions/{session}", verify=ca,
                          headers={"Authorization": f"Bearer {admin_key}"}).json()
    result = detail.get("result") or {}
    reasons = result.get("reasons", [])
    stream = result.get("stream")
    if r["Status"] in ("SUCCEEDED", "FAILED") and "stream_incomplete" not in reasons:
        check(stream is not None and stream["frames"] > 0 and len(stream["oval"]) == 4,
              f"{session}: /v1 shows what the stream's video showed ({stream})")
    return r, reasons


def case(name, video, challenge, status, reason=None):
    session = create(challenge)
    report = component(session, video)
    check(report["outcome"] == "complete", f"{name}: onAnalysisComplete ({report['outcome']}: {report['error']})")
    r, reasons = results(session)
    print(f"     {name}: {r['Status']} confidence {r.get('Confidence')} reasons {reasons}", flush=True)
    check(r["Status"] == status, f"{name}: {status} (got {r['Status']}, reasons {reasons})")
    check(r["Challenge"]["Type"] == challenge, f"{name}: the challenge run is {challenge} ({r['Challenge']})")
    if status == "SUCCEEDED":
        check(r["Confidence"] >= 50 and len(r["ReferenceImage"]["Bytes"]) > 1000, f"{name}: confidence, reference")
        box = r["ReferenceImage"].get("BoundingBox", {})
        check(0 < box.get("Width", 0) < 1 and 0 <= box.get("Left", -1) < 1, f"{name}: the reference's face box {box}")
        check(len(r["AuditImages"]) == 2, f"{name}: two audit images ({len(r['AuditImages'])})")
    else:
        check(r["Confidence"] < 50, f"{name}: confidence under 50 ({r['Confidence']})")
    if reason:
        check(reason in reasons, f"{name}: {reason} among the reasons {reasons}")
    return session


def refused(name, session, before, **kwargs):
    report = component(session, "approach.y4m", timeout_ms=30000, **kwargs)
    check(report["outcome"] == "error", f"{name}: the component reports an error ({report['outcome']})")
    r, _ = results(session)
    check(r["Status"] == before, f"{name}: the session is still {before} ({r['Status']})")


# The genuine approach: the recorded walk up to the camera, into the oval.
genuine = case("genuine approach", "approach.y4m", "FaceMovementChallenge", "SUCCEEDED")
# The same session again (its URL signed anew): a session streams once.
refused("reused session", genuine, "SUCCEEDED")
# A photo brought toward the camera, and a screen replaying a face video filmed by a camera moving closer.
case("zoomed still", "zoomed.y4m", "FaceMovementChallenge", "FAILED", "approach_not_shown")
case("screen replay", "replay.y4m", "FaceMovementChallenge", "FAILED", "spoof_detected")
# A URL signed with another secret, or ten minutes ago (it lives 299 s): refused before the session starts.
refused("forged signature", create("FaceMovementChallenge"), "CREATED", secret_key="not-the-secret-of-the-pair")
refused("expired URL", create("FaceMovementChallenge"), "CREATED", clock_offset_ms=-600000)
# The light challenge on a recording: it cannot show the colours drawn for the session.
case("recorded light", "approach.y4m", "FaceMovementAndLightChallenge", "FAILED", "light_not_reflected")

if failures:
    print(f"{len(failures)} check(s) failed", flush=True)
    sys.exit(1)
print("all checks passed", flush=True)
