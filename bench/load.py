#!/usr/bin/env python3
"""Load test of a running `facegate serve`: closed-loop clients (each sends its next request when the last one
is answered) at several concurrencies; prints requests/s, p50/p99 latency and the statuses seen.

Standard library only (http.client with keep-alive, one connection per client thread).

    python3 bench/load.py --url http://127.0.0.1:8080 --endpoint compare --concurrency 1,4,16 --duration 20
    python3 bench/load.py --endpoint search --collection bench10k --concurrency 1,4,16
    python3 bench/load.py --endpoint search-face --collection bench1m --face-id ID --concurrency 1,4,16
    FACEGATE_API_KEY=fg_... python3 bench/load.py --endpoint login --concurrency 1,4
"""
import argparse
import base64
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

SHARED = os.environ.get("FACEGATE_SHARED_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


def b64(rel):
    with open(os.path.join(SHARED, "data", rel), "rb") as f:
        return base64.b64encode(f.read()).decode()


def request_for(args):
    """(path, JSON body) of one request of the chosen endpoint."""
    a = "lfw/images/Abel_Pacheco/Abel_Pacheco_0001.jpg"
    b = "lfw/images/Abel_Pacheco/Abel_Pacheco_0004.jpg"
    if args.endpoint == "compare":
        return "/v1/compare", {"source": b64(a), "target": b64(b)}
    if args.endpoint == "detect":
        return "/v1/detect", {"image": b64(a)}
    if args.endpoint == "search":
        return f"/v1/collections/{args.collection}/search", {"image": b64(b), "maxResults": 10, "threshold": 0}
    if args.endpoint == "login":
        return "/v1/auth/face-login", {"image": b64(b)}
    if args.endpoint == "search-face":
        return (f"/v1/collections/{args.collection}/faces/{args.face_id}/search",
                {"maxResults": 10, "threshold": 0})
    sys.exit(f"unknown endpoint {args.endpoint}")


def run(url, path, body, concurrency, duration, warmup, key=None):
    target = urllib.parse.urlparse(url)
    payload = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    latencies, statuses, lock = [], {}, threading.Lock()
    start_at = time.monotonic() + warmup
    stop_at = start_at + duration

    def client():
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=120)
        while True:
            t0 = time.monotonic()
            if t0 >= stop_at:
                break
            try:
                conn.request("POST", path, payload, headers)
                resp = conn.getresponse()
                resp.read()
                status = resp.status
            except (OSError, http.client.HTTPException):
                status = "conn-error"
                conn.close()
                conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=120)
            t1 = time.monotonic()
            if t0 >= start_at and t1 <= stop_at:
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 200:
                        latencies.append(t1 - t0)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    latencies.sort()
    pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else float("nan")
    return {
        "concurrency": concurrency,
        "requests_per_s": len(latencies) / duration,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else float("nan"),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--endpoint", default="compare", choices=["compare", "detect", "search", "search-face", "login"])
    ap.add_argument("--collection")
    ap.add_argument("--face-id")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds per concurrency")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--key", default=os.environ.get("FACEGATE_API_KEY"), help="API key (default: $FACEGATE_API_KEY)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    path, body = request_for(args)
    rows = [run(args.url, path, body, int(c), args.duration, args.warmup, args.key) for c in args.concurrency.split(",")]
    if args.json:
        print(json.dumps({"endpoint": args.endpoint, "path": path, "results": rows}, indent=2))
        return
    print(f"{args.endpoint} ({path})")
    print(f"{'conc':>5} {'req/s':>8} {'p50 ms':>9} {'p99 ms':>9}  statuses")
    for r in rows:
        print(f"{r['concurrency']:>5} {r['requests_per_s']:>8.2f} {r['p50_ms']:>9.1f} {r['p99_ms']:>9.1f}  {r['statuses']}")


if __name__ == "__main__":
    main()
