#!/usr/bin/env python3
"""Load and soak test of a running `facegate serve`: a mixed workload (1:1 compare, 1:N search, enrollment,
liveness session frames) from closed-loop clients, at and above the server's capacity, for a fixed time.
Reports per operation: requests/s, p50/p99 latency, statuses; the 5xx count (only 503 back-pressure is
acceptable); and the server's resident memory (VmRSS from /proc) sampled every 10 s.

Standard library only. Loopback only; every loop is bounded by the duration.

    target/release/facegate serve --data-dir /tmp/soak &
    python3 bench/soak.py --pid $! --duration 600 --clients 8
"""
import argparse
import base64
import glob
import http.client
import json
import os
import random
import statistics
import threading
import time
import urllib.parse

SHARED = os.environ.get("FACEGATE_SHARED_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--pid", type=int, required=True, help="the server's process id (for its memory)")
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--key", default=os.environ.get("FACEGATE_API_KEY"))
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    u = urllib.parse.urlparse(args.url)
    assert u.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"

    people = sorted(d for d in glob.glob(os.path.join(SHARED, "data", "lfw", "images", "*"))
                    if len(os.listdir(d)) >= 2)[:60]
    photos = [sorted(glob.glob(os.path.join(d, "*.jpg"))) for d in people]
    b64 = lambda p: base64.b64encode(open(p, "rb").read()).decode()
    encoded = [[b64(p) for p in ps[:2]] for ps in photos]
    # Six different frames of one person per session (a frame sent twice is refused as a replay).
    conditions = ("normal", "glasses", "noglasses", "sad", "surprised", "wink")
    yale = [[b64(os.path.join(SHARED, "data", "yale", "images", f"subject{s:02d}", f"subject{s:02d}_{c}.png"))
             for c in conditions] for s in range(1, 16)]
    headers = {"Content-Type": "application/json"}
    if args.key:
        headers["Authorization"] = f"Bearer {args.key}"

    def call(conn, method, path, body=None):
        t = time.perf_counter()
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, (time.perf_counter() - t) * 1000, data
        except (OSError, http.client.HTTPException):
            return "conn-error", (time.perf_counter() - t) * 1000, b""

    setup = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    call(setup, "POST", "/v1/collections", {"collectionId": "soak"})
    for i, pair in enumerate(encoded[:30]):
        call(setup, "POST", "/v1/collections/soak/faces", {"image": pair[0], "externalId": f"p{i}"})

    stats, lock = {}, threading.Lock()
    stop = time.monotonic() + args.duration

    def record(op, status, ms):
        with lock:
            s = stats.setdefault(op, {"lat": [], "statuses": {}})
            s["statuses"][str(status)] = s["statuses"].get(str(status), 0) + 1
            if status == 200 or status == 201:
                s["lat"].append(ms)

    def client(seed):
        rnd = random.Random(seed)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        session, seq = None, 0
        while time.monotonic() < stop:
            op = rnd.choice(["compare", "search", "enroll", "frame"])
            if op == "compare":
                a, b = rnd.sample(range(len(encoded)), 2)
                st, ms, _ = call(conn, "POST", "/v1/compare", {"source": encoded[a][0], "target": rnd.choice([encoded[a][1], encoded[b][1]])})
            elif op == "search":
                st, ms, _ = call(conn, "POST", "/v1/collections/soak/search", {"image": rnd.choice(encoded)[1], "maxResults": 5})
            elif op == "enroll":
                st, ms, _ = call(conn, "POST", "/v1/collections/soak/faces", {"image": rnd.choice(encoded)[1], "externalId": f"e{seed}"})
            else:
                if session is None or seq >= 6:
                    st, ms, data = call(conn, "POST", "/v1/liveness/sessions", {"challenges": ["smile"]})
                    record("session", st, ms)
                    session = json.loads(data).get("sessionId") if st == 201 else None
                    seq = 0
                    if session is None:
                        continue
                # The same face with its lighting changed: frames are taken (the smile never comes).
                frame = yale[seed % len(yale)][seq]
                st, ms, _ = call(conn, "POST", f"/v1/liveness/sessions/{session}/frames",
                                 {"image": frame, "sequence": seq, "timestamp": 100 * (seq + 1)})
                seq += 1
                if st != 200:
                    session = None
            record(op, st, ms)

    rss = [(0.0, rss_mb(args.pid))]
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for t in threads:
        t.start()
    while time.monotonic() < stop:
        time.sleep(min(10, max(0.0, stop - time.monotonic())))
        rss.append((round(time.monotonic() - started), rss_mb(args.pid)))
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    result = {"duration_s": round(elapsed), "clients": args.clients, "operations": {}, "rss_mb": rss}
    total, server_errors = 0, 0
    print(f"{'operation':<9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for op, s in sorted(stats.items()):
        n = sum(s["statuses"].values())
        total += n
        server_errors += sum(v for k, v in s["statuses"].items() if k.startswith("5") and k != "503")
        lat = sorted(s["lat"])
        p50 = statistics.median(lat) if lat else float("nan")
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
        result["operations"][op] = {"requests_per_s": n / elapsed, "p50_ms": p50, "p99_ms": p99, "statuses": s["statuses"]}
        print(f"{op:<9} {n / elapsed:>7.2f} {p50:>8.1f} {p99:>8.1f}  {s['statuses']}")
    warm = [m for t, m in rss if t >= 60]
    print(f"total {total / elapsed:.2f} req/s over {elapsed:.0f} s, {server_errors} 5xx other than 503")
    print(f"RSS MB: start {rss[0][1]:.0f}, after warm-up {warm[0] if warm else float('nan'):.0f}, "
          f"max {max(m for _, m in rss):.0f}, end {rss[-1][1]:.0f}")
    result["server_errors_not_503"] = server_errors
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
