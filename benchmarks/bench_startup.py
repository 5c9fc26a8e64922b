"""How long `mock-wiro serve` takes to be ready, against a bare Flask server started the
same way, both measured in this run. Prints figures; asserts nothing.

    python benchmarks/bench_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import time

BARE_FLASK = """
import sys
from flask import Flask
from werkzeug.serving import make_server
app = Flask("bare")
@app.post("/v1/Task/Detail")
def detail():
    return {"result": True}
server = make_server("127.0.0.1", 0, app, threaded=True)
print(f"  REST:      http://127.0.0.1:{server.server_port}/v1", flush=True)
server.serve_forever()
"""


def time_to_ready(cmd: list[str]) -> float:
    """Seconds from spawn until the process prints its REST URL (it is listening then)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "REST:" in line:
            break
    elapsed = time.perf_counter() - start
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    fake = [sys.executable, "-m", "mock_wiro", "serve", "--port", "0"]
    bare = [sys.executable, "-c", BARE_FLASK]
    results: dict[str, list[float]] = {"bare flask": [], "mock-wiro serve": []}
    for _ in range(runs):  # interleaved, so machine noise hits both alike
        results["bare flask"].append(time_to_ready(bare))
        results["mock-wiro serve"].append(time_to_ready(fake))
    medians = {name: statistics.median(times) for name, times in results.items()}
    for name, times in results.items():
        print(f"{name:>16}: median {medians[name] * 1000:7.1f} ms  max {max(times) * 1000:7.1f} ms")
    ratio = medians["mock-wiro serve"] / medians["bare flask"]
    print(f"{'ratio':>16}: {ratio:.2f}x the bare Flask server's start-up")


if __name__ == "__main__":
    main()
