#!/usr/bin/env python3
"""Side by side, in one run, on the same images, one thread: Facegate (its default engine), Facegate with ONNX
Runtime, the same models in Python with ONNX Runtime and OpenCV (bench/ort_reference.py), and face_recognition
(dlib). Prints p50 times per stage and each one's ratio to the Python ONNX Runtime pipeline.

A benchmark, not a test: nothing here asserts a time.

    pip install onnxruntime onnx opencv-python-headless numpy              # the Python reference
    pip install dlib-bin face-recognition-models face-recognition           # optional: face_recognition
    python3 bench/side_by_side.py [--facegate target/release/facegate] [--facegate-ort BIN] [--runs 20] [--json]
        [IMAGE IMAGE]

The --facegate binary runs twice: with --backend tract (what a machine without ONNX Runtime gets) and with
--backend onnxruntime (skipped when no library is found), the library coming from ORT_DYLIB_PATH or the
onnxruntime package of this Python (--facegate-ort: another binary for that column). Images default to the two
samples `facegate bench` uses.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared")
DEFAULT_IMAGES = [os.path.join(SHARED, "data/samples/face_recognition/obama.jpg"),
                  os.path.join(SHARED, "data/samples/face_recognition/biden.jpg")]


def p50(samples):
    s = sorted(samples)
    return s[max(0, (len(s) + 1) // 2 - 1)]


def timed(runs, fn):
    fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return p50(out)


def ort_library():
    if os.environ.get("ORT_DYLIB_PATH"):
        return os.environ["ORT_DYLIB_PATH"]
    try:
        import onnxruntime
    except ImportError:
        return None
    found = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so*")))
    return found[0] if found else None


def facegate(binary, images, runs, backend=None):
    """`facegate bench --json` with one thread; None (and why) when it cannot run."""
    args = [binary, "--threads", "1"]
    env = dict(os.environ)
    if backend == "tract":
        args += ["--backend", "tract"]
    elif backend == "onnxruntime":
        lib = ort_library()
        if lib is None:
            return None, "no ONNX Runtime library (set ORT_DYLIB_PATH or pip install onnxruntime)"
        env["ORT_DYLIB_PATH"] = lib
        args += ["--backend", "onnxruntime"]
    args += ["bench", "--json", "--runs", str(runs)] + images
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return None, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
    r = json.loads(done.stdout)
    first = r["stages"][0]
    return {
        "detect": first["detect"]["p50_ms"],
        "embed": first["embed"]["p50_ms"],
        "compare": r["compare_single_thread"]["p50_ms"],
        "liveness frame": first["liveness_frame"]["p50_ms"],
        "frame, no identity": first["liveness_frame_unchecked"]["p50_ms"],
    }, None


def python_ort(images, runs):
    sys.path.insert(0, HERE)
    try:
        import cv2
        import numpy as np
        from ort_reference import Pipeline
    except ImportError as e:
        return None, f"{e} (pip install onnxruntime onnx opencv-python-headless numpy)"
    p = Pipeline(os.path.join(SHARED, "models"), 1, 640)
    data = [open(f, "rb").read() for f in images]
    img = cv2.imdecode(np.frombuffer(data[0], np.uint8), cv2.IMREAD_COLOR)
    face = max(p.detect(img), key=lambda f: f[1][2] * f[1][3])
    crop = p.align(img, face[2])

    def compare():
        vs = []
        for raw in (data * 2)[:2] if len(data) == 1 else data[:2]:
            im = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            f = max(p.detect(im), key=lambda f: f[1][2] * f[1][3])
            vs.append(p.embed(p.align(im, f[2])))
        return float(vs[0] @ vs[1])

    return {"detect": timed(runs, lambda: p.detect(img)), "embed": timed(runs, lambda: p.embed(crop)),
            "compare": timed(runs, compare)}, None


def dlib_face_recognition(images, runs):
    try:
        import face_recognition
    except ImportError as e:
        return None, f"{e} (pip install dlib-bin face-recognition-models face-recognition)"
    arrays = [face_recognition.load_image_file(f) for f in images[:2]]
    img = arrays[0]
    box = face_recognition.face_locations(img)

    def compare():
        encodings = [face_recognition.face_encodings(face_recognition.load_image_file(f))[0] for f in images[:2]]
        return face_recognition.face_distance([encodings[0]], encodings[1])[0]

    return {"detect": timed(runs, lambda: face_recognition.face_locations(img)),
            "embed": timed(runs, lambda: face_recognition.face_encodings(img, box)),
            "compare": timed(runs, compare)}, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("images", nargs="*", default=DEFAULT_IMAGES)
    ap.add_argument("--facegate", default=os.path.join(HERE, "..", "target", "release", "facegate"))
    ap.add_argument("--facegate-ort", default=None)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    images = [os.path.abspath(i) for i in a.images]
    engines = [
        ("facegate (tract)", lambda: facegate(a.facegate, images, a.runs, "tract")),
        ("facegate (ONNX Runtime)", lambda: facegate(a.facegate_ort or a.facegate, images, a.runs, "onnxruntime")),
        ("Python + ONNX Runtime", lambda: python_ort(images, a.runs)),
        ("face_recognition (dlib)", lambda: dlib_face_recognition(images, a.runs)),
    ]
    results = {}
    for name, run in engines:
        times, why = run()
        results[name] = times if times is not None else {"skipped": why}
    if a.json:
        print(json.dumps({"images": images, "runs": a.runs, "threads": 1, "results": results}, indent=2))
        return
    reference = results.get("Python + ONNX Runtime", {})
    print(f"{len(images)} images, {a.runs} runs, 1 thread; p50 ms (x = ratio to Python + ONNX Runtime)")
    stages = ["detect", "embed", "compare", "liveness frame", "frame, no identity"]
    print(f"{'':<26}" + "".join(f"{s:>22}" for s in stages))
    for name, times in results.items():
        if "skipped" in times:
            print(f"{name:<26}skipped: {times['skipped']}")
            continue
        cells = []
        for s in stages:
            if s not in times:
                cells.append(f"{'-':>22}")
                continue
            ratio = f" ({times[s] / reference[s]:.2f}x)" if s in reference and reference[s] > 0 else ""
            cells.append(f"{times[s]:>14.1f}{ratio:>8}")
        print(f"{name:<26}" + "".join(cells))


if __name__ == "__main__":
    main()
