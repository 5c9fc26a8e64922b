"""CPU instructions a signed Task/Detail costs the server: the noise-free side of
``bench_requests``' throughput ratio.

Requests per second on a shared two-core machine move by 30 % from one round to the next
(other tenants, the client on the same cores). Instructions retired do not: each server
runs under valgrind (``--tool=callgrind``, which counts every instruction the process
executes, in all its threads), answers N signed Task/Detail calls from a client process
that runs natively, and the count of a run of ``SMALL`` requests is taken from a run of
``LARGE``, so start-up, imports and warm-up cancel out. What is left is the server's own
work per request: parsing, the app, the answer, the access log.

Four servers, each ``gevent.pywsgi`` in a monkey-patched process:

- the fake as ``mock-wiro serve`` runs it (its pywsgi handler: idle timeout, header
  bounds, connection bound, the access log; the process set-up);
- bare Flask (a constant answer of the same size) on that same server;
- the fake's app and bare Flask on plain pywsgi (no access log, no bounds).

Each is asked on ``CONNECTIONS`` keep-alive connections, one request on each in turn
(so the server switches between them as under wrk). Fewer instructions are not fewer
microseconds one for one (cache misses, system calls' own time), which is why the target
is judged on ``bench_requests``' throughput; this says where the CPU goes, the same in
every run. Needs ``valgrind``; without it the benchmark says so and reports nothing.

    python -m benchmarks.bench_instructions [--quick]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Row

ROOT = Path(__file__).resolve().parents[1]
API_KEY = "instr-key-0123456789abcdef0123456789abcd"
API_SECRET = "instr-secret-0123456789abcdef0123456789"
CONNECTIONS = 8
SMALL, LARGE = 100, 300
"""Requests in the two runs whose difference is counted (after 200 of warm-up in each):
the counts are the same from run to run, so a few hundred are enough (``--quick`` is the
same run)."""
TARGET = 0.8  # as bench_requests.THROUGHPUT_TARGET, on the instruction count's inverse

SERVER = r"""
from gevent import monkey; monkey.patch_all()
import hashlib, hmac, json, logging, os, socket, subprocess, sys
sys.path.insert(0, os.environ["ROOT"])
os.environ.setdefault("BENCH_API_KEY", os.environ["KEY"])
os.environ.setdefault("BENCH_API_SECRET", os.environ["SECRET"])
from benchmarks.peers.pywsgi_server import make_server
from benchmarks.peers.servers import bare_app, fake_app
server_kind, app_kind, n, conns = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
app = bare_app() if app_kind == "bare" else fake_app()
srv = make_server(app, "127.0.0.1", 0, as_serve=server_kind == "serve")
if server_kind == "serve":  # the access log's cost counted, its output not kept
    logging.getLogger("mock_wiro.access").handlers[-1].stream = open(os.devnull, "w")
srv.start()
port = srv.server_port
key, secret = os.environ["KEY"], os.environ["SECRET"]
def request(path, body):
    nonce = "1733600000000"
    sig = hmac.new(key.encode(), (secret + nonce).encode(), hashlib.sha256).hexdigest()
    data = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "User-Agent: python-requests/2.32.3\r\nAccept-Encoding: gzip, deflate\r\n"
            "Accept: */*\r\nConnection: keep-alive\r\n"
            f"x-api-key: {key}\r\nx-nonce: {nonce}\r\nx-signature: {sig}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode() + data
taskid = "1"
if app_kind == "fake":
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(request("/v1/Run/minimax/hailuo-2-3-fast",
                         {"inputImageFirstUrl": "https://example.com/a.jpg"}))
    answer = sock.recv(65536).split(b"\r\n\r\n", 1)[1]
    taskid = json.loads(answer)["taskid"]
    sock.close()
    backend = app.extensions["mock_wiro.backend"]
    assert backend.wait_for(backend.task_by_id(taskid), timeout=600)
client = subprocess.Popen(
    [os.environ["CLIENT_PYTHON"], os.environ["CLIENT"], str(port), str(n + 200), conns],
    stdin=subprocess.PIPE)
client.communicate(request("/v1/Task/Detail", {"taskid": taskid}))
sys.exit(client.returncode)
"""

CLIENT = r"""
import socket, sys
port, n, conns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
req = sys.stdin.buffer.read()
pairs = []
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pairs.append((s, s.makefile("rb")))
for _ in range(n // conns):
    for s, f in pairs:
        s.sendall(req)
    for s, f in pairs:
        length = 0
        status = f.readline()
        if not status.startswith(b"HTTP/1.1 200 "):
            sys.exit(f"not a 200: {status!r}")
        while (line := f.readline()) != b"\r\n":
            if not line:
                sys.exit("connection closed")
            if line.lower().startswith(b"content-length"):
                length = int(line.split(b":")[1])
        assert len(f.read(length)) == length
"""

SERVERS = {
    ("serve", "fake"): "fake, as mock-wiro serve runs it",
    ("serve", "bare"): "bare Flask, same server",
    ("plain", "fake"): "fake's app, plain pywsgi",
    ("plain", "bare"): "bare Flask, plain pywsgi",
}


def instructions(server: str, app: str, n: int, tmp: Path) -> int:
    """Instructions callgrind counted in the server process for ``n`` requests (and the
    warm-up, the start-up and the task's run)."""
    env = {
        **os.environ,
        "ROOT": str(ROOT),
        "KEY": API_KEY,
        "SECRET": API_SECRET,
        "CLIENT": str(tmp / "client.py"),
        "CLIENT_PYTHON": sys.executable,
        "SCARF_ANALYTICS": "false",
    }
    env = {k: v for k, v in env.items() if not k.startswith(("MOCK_WIRO_", "WIRO_"))}
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    done = subprocess.run(
        [*cmd, sys.executable, str(tmp / "server.py"), server, app, str(n), str(CONNECTIONS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
        check=False,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{server}/{app}: valgrind run failed: {done.stderr[-2000:]}")
    return int(found[1])


def per_request(server: str, app: str, tmp: Path, small: int, large: int) -> float:
    return (instructions(server, app, large, tmp) - instructions(server, app, small, tmp)) / (
        large - small
    )


def run(quick: bool = False) -> list[Row]:
    """One row per server (instructions per request), the fake's against bare Flask on
    the same server and on plain pywsgi."""
    if shutil.which("valgrind") is None:
        print("  valgrind not installed (apt-get install valgrind): skipped", flush=True)
        return []
    small, large = SMALL, LARGE
    counts: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as tmp:
        (Path(tmp) / "server.py").write_text(SERVER)
        (Path(tmp) / "client.py").write_text(CLIENT)
        # two at a time (valgrind runs a process on one core); the counts do not depend
        # on what else runs
        with ThreadPoolExecutor(max_workers=2) as pool:
            found = {
                key: pool.submit(per_request, *key, Path(tmp), small, large) for key in SERVERS
            }
            for key, future in found.items():
                counts[key] = future.result()
                print(f"  {SERVERS[key]:<36} {counts[key]:>12,.0f} instructions/request")
    fake, bare, plain = counts["serve", "fake"], counts["serve", "bare"], counts["plain", "bare"]
    how = (
        f"callgrind, server process only; ({large} - {small}) requests on {CONNECTIONS} "
        "keep-alive connections; the same in every run (no noise)"
    )
    rows = [
        Row(
            "instructions",
            "signed Task/Detail per request: fake on mock-wiro serve's server",
            fake,
            "instr",
            baseline=bare,
            baseline_label="bare Flask, same server",
            target=f"<= {1 / TARGET:.2f}x bare Flask (a {TARGET}x throughput)",
            met=fake <= bare / TARGET,
            note=how,
            extra={"counts": {"/".join(k): v for k, v in counts.items()}},
        ),
        Row(
            "instructions",
            "signed Task/Detail per request: fake on mock-wiro serve's server vs plain pywsgi",
            fake,
            "instr",
            baseline=plain,
            baseline_label="bare Flask, plain pywsgi",
        ),
        Row(
            "instructions",
            "signed Task/Detail per request: the fake's app alone, plain pywsgi",
            counts["plain", "fake"],
            "instr",
            baseline=plain,
            baseline_label="bare Flask, plain pywsgi",
        ),
    ]
    return rows


if __name__ == "__main__":
    from benchmarks.__main__ import table

    print(table(run(quick="--quick" in sys.argv)))
