#!/usr/bin/env python3
"""The same pipeline stages as `facegate bench`, timed in Python with ONNX Runtime and OpenCV, for comparison.

A benchmark, not a test. Needs: pip install onnxruntime onnx opencv-python-headless numpy
Usage: python3 bench/ort_reference.py [--runs 30] [--threads 1] [--max-side 640] IMAGE [IMAGE...]
Models are read from ../shared/models (or --models DIR).
"""
import argparse
import os
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort

TEMPLATE = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
                     [70.7299, 92.2041]], dtype=np.float32)


def percentiles(samples):
    s = sorted(samples)
    n = len(s)
    at = lambda q: s[max(1, min(n, int(np.ceil(q * n)))) - 1]
    return at(0.50), at(0.95), at(0.99)


def timed(runs, fn):
    fn()
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return percentiles(out)


class Pipeline:
    def __init__(self, models, threads, max_side):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        # YuNet declares a fixed 640x640 input that ONNX Runtime enforces: make height and width symbolic, as
        # facegate does, so that every image is detected at its own (padded) size.
        det = onnx.load(os.path.join(models, "face_detection_yunet_2023mar.onnx"))
        dims = det.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_param, dims[3].dim_param = "height", "width"
        del det.graph.value_info[:]
        for out in det.graph.output:
            for d in out.type.tensor_type.shape.dim:
                d.dim_param = "n"
        self.det = ort.InferenceSession(det.SerializeToString(), so)
        self.emb = ort.InferenceSession(os.path.join(models, "sface_2021dec_fp32.onnx"), so)
        self.max_side = max_side

    def detect(self, img):
        h, w = img.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            img = cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_LINEAR)
        ih, iw = img.shape[:2]
        ph, pw = -(-ih // 32) * 32, -(-iw // 32) * 32
        blob = np.zeros((1, 3, ph, pw), np.float32)
        blob[0, :, :ih, :iw] = img.transpose(2, 0, 1)  # BGR
        outs = dict(zip([o.name for o in self.det.get_outputs()], self.det.run(None, {"input": blob})))
        faces = []
        for s in (8, 16, 32):
            cols, rows = pw // s, ph // s
            cls, obj = outs[f"cls_{s}"][0, :, 0], outs[f"obj_{s}"][0, :, 0]
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            for i in np.nonzero(score >= 0.6)[0]:
                r, c = divmod(int(i), cols)
                b = outs[f"bbox_{s}"][0, i]
                k = outs[f"kps_{s}"][0, i]
                cx, cy, bw, bh = (c + b[0]) * s, (r + b[1]) * s, np.exp(b[2]) * s, np.exp(b[3]) * s
                lm = np.array([[(k[2 * n] + c) * s, (k[2 * n + 1] + r) * s] for n in range(5)]) / scale
                faces.append((float(score[i]), [(cx - bw / 2) / scale, (cy - bh / 2) / scale, bw / scale, bh / scale], lm))
        faces.sort(key=lambda f: -f[0])
        keep = []
        for f in faces:
            if all(iou(f[1], k[1]) <= 0.3 for k in keep):
                keep.append(f)
        return keep

    @staticmethod
    def align(img, lm):
        m, _ = cv2.estimateAffinePartial2D(lm.astype(np.float32), TEMPLATE, method=cv2.LMEDS)
        return cv2.warpAffine(img, m, (112, 112))

    def embed(self, aligned_bgr):
        blob = aligned_bgr[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32)
        v = self.emb.run(None, {"data": blob})[0][0]
        return v / np.linalg.norm(v)


def iou(a, b):
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0, x2 - x1) * max(0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter + 1e-9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("images", nargs="+")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--models", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models"))
    a = ap.parse_args()
    p = Pipeline(a.models, a.threads, a.max_side)
    print(f"ONNX Runtime {ort.__version__}, OpenCV {cv2.__version__}, {a.threads} thread(s), {a.runs} runs")
    print(f"  {'stage':<44} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    data = [open(f, "rb").read() for f in a.images]
    for path, raw in zip(a.images, data):
        buf = np.frombuffer(raw, np.uint8)
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        faces = p.detect(img)
        lm = max(faces, key=lambda f: f[1][2] * f[1][3])[2]
        crop = p.align(img, lm)
        print(f"  {os.path.basename(path)} ({img.shape[1]}x{img.shape[0]})")
        for name, fn in [("decode", lambda: cv2.imdecode(buf, cv2.IMREAD_COLOR)), ("detect", lambda: p.detect(img)),
                         ("align", lambda: p.align(img, lm)), ("embed", lambda: p.embed(crop))]:
            print("  {:<44} {:>9.2f} {:>9.2f} {:>9.2f}".format("    " + name, *timed(a.runs, fn)))

    def compare():
        vs = []
        for raw in data[:2] if len(data) > 1 else data * 2:
            img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_COLOR)
            f = max(p.detect(img), key=lambda f: f[1][2] * f[1][3])
            vs.append(p.embed(p.align(img, f[2])))
        return float(vs[0] @ vs[1])

    print("  {:<44} {:>9.2f} {:>9.2f} {:>9.2f}".format("compare end to end", *timed(a.runs, compare)))


if __name__ == "__main__":
    main()
