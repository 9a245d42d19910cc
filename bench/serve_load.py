#!/usr/bin/env python3
"""Load on `ilr serve`: REQUESTS completions from CONCURRENCY clients at once (Python's standard library
only), each checked (status 200, well-formed JSON, the tokens asked for); prints latency p50/p99, requests/s
and completion tokens/s, and how many were lost or malformed.

usage: serve_load.py PORT CONCURRENCY REQUESTS MAX_TOKENS
"""
import http.client
import json
import sys
import threading
import time

port, conc, total, max_tokens = (int(a) for a in sys.argv[1:5])
lock = threading.Lock()
latencies, tokens, errors, next_i = [], [0], {"lost": 0, "malformed": 0, "status": {}}, [0]


def client():
    while True:
        with lock:
            if next_i[0] >= total:
                return
            i = next_i[0]
            next_i[0] += 1
        body = json.dumps({"model": "m", "prompt": f"Request {i}: once upon a time", "max_tokens": max_tokens,
                           "temperature": 0.8, "seed": i})
        t0 = time.perf_counter()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            c.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            c.close()
        except OSError:
            with lock:
                errors["lost"] += 1
            continue
        dt = time.perf_counter() - t0
        with lock:
            if r.status != 200:
                errors["status"][r.status] = errors["status"].get(r.status, 0) + 1
                continue
            try:
                j = json.loads(data)
                n = j["usage"]["completion_tokens"]
                assert isinstance(j["choices"][0]["text"], str) and 1 <= n <= max_tokens
            except (ValueError, KeyError, AssertionError):
                errors["malformed"] += 1
                continue
            latencies.append(dt)
            tokens[0] += n


t0 = time.perf_counter()
threads = [threading.Thread(target=client) for _ in range(conc)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - t0
lat = sorted(latencies)
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print(json.dumps({"concurrency": conc, "requests": total, "ok": len(lat), "lost": errors["lost"],
                  "malformed": errors["malformed"], "other_status": errors["status"], "wall_s": round(wall, 2),
                  "p50_ms": round(1000 * pct(0.5), 1), "p99_ms": round(1000 * pct(0.99), 1),
                  "requests_per_s": round(len(lat) / wall, 1), "tokens_per_s": round(tokens[0] / wall, 1)}))
