"""Start-up: how long until the fake answers its first request with a 200.

1. ``mock-wiro serve --port 0`` from exec to the first 200 of a signed ``Task/List`` (not
   just the banner: the banner gives the port, then the client asks until it gets a 200),
   against a bare Flask server on werkzeug ``make_server(threaded=True)`` started the
   same way (a fresh interpreter that prints its URL) and asked the same way.
2. In-process: ``MockWiroServer()`` + ``.start()`` to the first 200 of ``GET
   /_mock/health``, against a bare Flask app + ``make_server(threaded=True)`` + a
   serving thread to its first 200 (imports done beforehand for both: a warm-up run
   is not counted). ``extra`` has the ``stop()`` times.

Runs alternate (bare, fake, bare, fake, ...) so machine noise hits both alike.

    python -m benchmarks.bench_startup [--quick]
    python benchmarks/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import http.client
import logging
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Row, summary

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0
API_KEY = "startup-key-0123456789abcdef0123456789ab"
API_SECRET = "startup-secret-0123456789abcdef012345678"

BARE_FLASK = """
from flask import Flask
from werkzeug.serving import make_server
app = Flask("bare")
@app.post("/v1/Task/List")
def task_list():
    return {"total": "0", "errors": [], "tasklist": [], "result": True}
server = make_server("127.0.0.1", 0, app, threaded=True)
print(f"  REST:      http://127.0.0.1:{server.server_port}/v1", flush=True)
server.serve_forever()
"""


def _signed_headers() -> dict[str, str]:
    nonce = str(int(time.time() * 1000))
    message = (API_SECRET + nonce).encode()
    signature = hmac.new(API_KEY.encode(), message, hashlib.sha256).hexdigest()
    return {
        "x-api-key": API_KEY,
        "x-nonce": nonce,
        "x-signature": signature,
        "Content-Type": "application/json",
    }


def first_200(port: int, method: str, path: str, deadline: float, signed: bool = False) -> None:
    """Ask ``127.0.0.1:port`` until it answers 200 (every 2 ms while refused)."""
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            headers = _signed_headers() if signed else {}
            conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no 200 from 127.0.0.1:{port}{path}")
        time.sleep(0.002)


def _mock_wiro_cmd() -> list[str]:
    script = Path(sys.executable).with_name("mock-wiro")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mock_wiro"]


def exec_to_200(cmd: list[str]) -> tuple[float, float]:
    """(seconds to the first 200, seconds to the banner's REST line) from spawning ``cmd``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_WIRO_")}
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env=env,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "REST:" in line:
                break
        else:
            raise RuntimeError(f"{cmd[0]} exited without printing its URL")
        banner = time.perf_counter() - start
        port = int(line.split("REST:")[1].strip().rsplit(":", 1)[1].split("/")[0])
        first_200(port, "POST", "/v1/Task/List", start + 30, signed=True)
        return time.perf_counter() - start, banner
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def in_process_fake() -> tuple[float, float]:
    """(seconds from MockWiroServer() to its first 200, seconds its stop() took)."""
    from mock_wiro.server import MockWiroServer

    start = time.perf_counter()
    server = MockWiroServer()
    try:
        server.start()
        first_200(server.port, "GET", "/_mock/health", start + 30)
        ready = time.perf_counter() - start
    finally:
        t0 = time.perf_counter()
        server.stop()
    return ready, time.perf_counter() - t0


def in_process_bare() -> tuple[float, float]:
    """The same for a bare Flask app on werkzeug make_server(threaded=True) in a thread."""
    from flask import Flask
    from werkzeug.serving import make_server

    start = time.perf_counter()
    app = Flask("bare")

    @app.get("/_mock/health")
    def health() -> dict[str, bool]:
        return {"ok": True}

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        first_200(server.server_port, "GET", "/_mock/health", start + 30)
        ready = time.perf_counter() - start
    finally:
        t0 = time.perf_counter()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    return ready, time.perf_counter() - t0


def measure(runs: int) -> dict[str, list[tuple[float, float]]]:
    """Every figure's samples, alternating bare and fake."""
    fake_cmd = [
        *_mock_wiro_cmd(),
        "serve",
        "--port",
        "0",
        "--api-key",
        API_KEY,
        "--api-secret",
        API_SECRET,
    ]
    bare_cmd = [sys.executable, "-c", BARE_FLASK]
    results: dict[str, list[tuple[float, float]]] = {
        "exec bare": [],
        "exec fake": [],
        "in-process bare": [],
        "in-process fake": [],
    }
    in_process_bare(), in_process_fake()  # imports, outside the timings
    for _ in range(runs):
        results["exec bare"].append(exec_to_200(bare_cmd))
        results["exec fake"].append(exec_to_200(fake_cmd))
        results["in-process bare"].append(in_process_bare())
        results["in-process fake"].append(in_process_fake())
    return results


def _ready(samples: list[tuple[float, float]]) -> list[float]:
    return [ready for ready, _ in samples]


def run(quick: bool) -> list[Row]:
    runs = 2 if quick else 10
    logger = logging.getLogger("werkzeug")  # no request log lines from in-process servers
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        results = measure(runs)
    finally:
        logger.setLevel(level)
    rows = []
    for kind, figure, other in (
        ("exec", "`mock-wiro serve --port 0`: exec -> first 200 (signed Task/List)", "banner"),
        ("in-process", "in-process: MockWiroServer() + start() -> first 200", "stop"),
    ):
        fake, bare = results[f"{kind} fake"], results[f"{kind} bare"]
        median, p99 = summary(_ready(fake))
        rows.append(
            Row(
                "startup",
                figure,
                median,
                "s",
                baseline=statistics.median(_ready(bare)),
                baseline_label="bare Flask, werkzeug, same way",
                median=median,
                p99=p99,
                target=f"< {TARGET_S:g} s",
                met=median < TARGET_S,
                note=f"{runs} runs each, alternating; max {max(_ready(fake)):.3f} s",
                extra={
                    f"{other}_s_median": statistics.median(x for _, x in fake),
                    f"bare_{other}_s_median": statistics.median(x for _, x in bare),
                    "samples_s": [round(x, 4) for x in _ready(fake)],
                },
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = measure(args.runs)
    for name, samples in results.items():
        ready = _ready(samples)
        print(
            f"{name:>16}: median {statistics.median(ready) * 1000:7.1f} ms  "
            f"max {max(ready) * 1000:7.1f} ms"
        )
    for kind in ("exec", "in-process"):
        fake = statistics.median(_ready(results[f"{kind} fake"]))
        bare = statistics.median(_ready(results[f"{kind} bare"]))
        print(f"{kind:>16}: {fake / bare:.2f}x the bare Flask server's start-up")


if __name__ == "__main__":
    main()
