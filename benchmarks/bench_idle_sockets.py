"""``python -m benchmarks.bench_idle_sockets [--sockets N] [--server gevent|werkzeug]``:
N WebSocket connections held open and idle on one ``mock-wiro serve`` (each subscribed
to one task, so each has its buffer, its writer and its reader), then the server's RSS,
threads and CPU while they sit idle for a few seconds (issue 14: 10,000 idle sockets,
RSS reported). Loopback only; the client raises its own file-descriptor limit."""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
import websocket

IDLE_SECONDS = 5.0


def _proc(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "cpu_s": (int(stat[11]) + int(stat[12])) / ticks,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--server", default="gevent")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.sockets + 1024), hard))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_WIRO_")}
    command = [sys.executable, "-m", "mock_wiro", "serve", "--port", "0", "--clock", "manual"]
    command += ["--server", args.server, "--max-connections", str(args.sockets + 100)]
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert server.stdout is not None
        fields = {}
        for line in server.stdout:
            if ":" in line and line.startswith("  "):
                name, _, value = line.strip().partition(":")
                fields[name] = value.strip()
            if line.startswith("Ctrl-C"):
                break
        rest, socket_url = fields["REST"], fields["WebSocket"]
        control = fields["control"].split()[0]
        key, secret = fields["API key"], fields["secret"]
        import hashlib
        import hmac

        nonce = str(time.time_ns())
        sig = hmac.new(key.encode(), (secret + nonce).encode(), hashlib.sha256).hexdigest()
        run = requests.post(
            rest + "/Run/minimax/hailuo-2-3-fast",
            headers={"x-api-key": key, "x-nonce": nonce, "x-signature": sig},
            data={"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "idle"},
            timeout=30,
        ).json()
        idle = _proc(server.pid)
        opened = []
        started = time.monotonic()
        for _ in range(args.sockets):
            ws = websocket.create_connection(socket_url, timeout=60)
            ws.send(json.dumps({"type": "task_info", "tasktoken": run["socketaccesstoken"]}))
            opened.append(ws)
        for ws in opened:  # each got its replayed frame: registered, then idle
            json.loads(ws.recv())
        open_seconds = time.monotonic() - started
        before = _proc(server.pid)
        time.sleep(IDLE_SECONDS)  # measuring idle CPU: nothing to wait on
        after = _proc(server.pid)
        health = requests.get(control + "/health", timeout=30).status_code
        result = {
            "server": args.server,
            "sockets": args.sockets,
            "open_seconds": round(open_seconds, 1),
            "rss_idle_server_mib": round(idle["rss_mib"], 1),
            "rss_with_sockets_mib": round(before["rss_mib"], 1),
            "kib_per_socket": round((before["rss_mib"] - idle["rss_mib"]) * 1024 / args.sockets, 1),
            "threads": before["threads"],
            "fds": before["fds"],
            "idle_cpu_percent": round(100 * (after["cpu_s"] - before["cpu_s"]) / IDLE_SECONDS, 1),
            "health_while_held": health,
        }
        print(json.dumps(result))
        for ws in opened:
            ws.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
