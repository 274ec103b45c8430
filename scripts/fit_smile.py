#!/usr/bin/env python3
"""Fits the smile model's logistic weights (crates/vision/src/analysis.rs, SMILE_WEIGHTS).

Input: the CSV written by `facegate eval smile --labels LABELS --cues FILE` (one row per analysed image: the
label and the cues). Output: k-fold cross-validated accuracy (the honest figure: every image scored by weights
fitted without it), then the weights fitted on all rows, as the Rust constant.

Plain Python, no dependencies: Newton's method on the L2-regularised log-likelihood (5 parameters).
"""
import argparse
import csv
import math
import random

CUES = ["happy_log_odds", "mouth_width", "corner_lift", "mouth_open"]


def solve(a, b):
    """Solves a x = b (Gaussian elimination with partial pivoting)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[c][c] != 0:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def fit(xs, ys, l2):
    """Weights over the raw cues; the penalty applies to standardised cues (so no cue is shrunk for its
    scale), and the result is converted back."""
    n = len(xs)
    mu = [sum(x[i] for x in xs) / n for i in range(len(xs[0]))]
    sd = [math.sqrt(sum((x[i] - mu[i]) ** 2 for x in xs) / n) or 1.0 for i in range(len(xs[0]))]
    mu[0], sd[0] = 0.0, 1.0  # the intercept column
    w = fit_standardised([[(v - m) / d for v, m, d in zip(x, mu, sd)] for x in xs], ys, l2)
    raw = [wi / d for wi, d in zip(w, sd)]
    raw[0] = w[0] - sum(wi * m / d for wi, m, d in zip(w[1:], mu[1:], sd[1:]))
    return raw


def fit_standardised(xs, ys, l2):
    w = [0.0] * len(xs[0])
    for _ in range(50):
        grad = [0.0] * len(w)
        hess = [[0.0] * len(w) for _ in w]
        for x, y in zip(xs, ys):
            p = sigmoid(sum(a * b for a, b in zip(w, x)))
            for i, xi in enumerate(x):
                grad[i] += (p - y) * xi
                for j, xj in enumerate(x):
                    hess[i][j] += p * (1 - p) * xi * xj
        for i in range(1, len(w)):  # the intercept is not penalised
            grad[i] += l2 * w[i]
            hess[i][i] += l2
        step = solve(hess, grad)
        w = [a - b for a, b in zip(w, step)]
        if max(abs(s) for s in step) < 1e-9:
            break
    return w


def accuracy(w, xs, ys, threshold=0.5):
    return sum((sigmoid(sum(a * b for a, b in zip(w, x))) >= threshold) == bool(y) for x, y in zip(xs, ys)) / len(ys)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cues", help="CSV from `facegate eval smile --cues`")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.cues)))
    xs = [[1.0] + [float(r[c]) for c in CUES] for r in rows]
    ys = [int(r["smile"]) for r in rows]
    order = list(range(len(rows)))
    random.Random(args.seed).shuffle(order)
    correct = 0
    for k in range(args.folds):
        test = set(order[k :: args.folds])
        train = [i for i in order if i not in test]
        w = fit([xs[i] for i in train], [ys[i] for i in train], args.l2)
        correct += sum(
            (sigmoid(sum(a * b for a, b in zip(w, xs[i]))) >= 0.5) == bool(ys[i]) for i in test
        )
    print(f"{len(rows)} images, {args.folds}-fold cross-validated accuracy: {100 * correct / len(rows):.2f} %")
    happy_only = fit([[x[0], x[1]] for x in xs], ys, args.l2)
    print(f"happy log-odds alone, refitted on all: {100 * accuracy(happy_only, [[x[0], x[1]] for x in xs], ys):.2f} %")
    w = fit(xs, ys, args.l2)
    print(f"all cues, fitted on all: {100 * accuracy(w, xs, ys):.2f} %")
    print("pub const SMILE_WEIGHTS: [f32; 5] = [" + ", ".join(f"{v:.4}" for v in w) + "];")


if __name__ == "__main__":
    main()
