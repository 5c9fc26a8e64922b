"""Holes 1, 2, 3 and 6: the control surface reached by a callback, a cross-site page, a
rebound host name, or an app served without the CLI's defaults."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import requests
from werkzeug.serving import make_server

from mock_wiro import Settings
from mock_wiro.app import create_app
from mock_wiro.control.fake import Fake

from .. import loadkit
from ..common import free_port
from . import Outcome, Target, attack

_SELF_PATHS = ("/_mock/reset", "/_mock/scenarios/clear", "/_mock/faults/clear")


def _projects(target: Target) -> int:
    return len(target.session.get(target.url + "/_mock/projects", timeout=10).json()["projects"])


def _task_ends(target: Target, task_id: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = target.session.post(
            target.url + "/v1/Task/Detail", headers=target.signed(), json={"taskid": task_id}
        ).json()
        if not listed.get("tasklist"):
            return "gone"
        found = listed["tasklist"][0]
        if found["status"] in ("task_postprocess_end", "task_cancel"):
            return str(found["status"])
        time.sleep(0.1)  # a benchmark over a real process: poll the public API
    return "timeout"


@attack(1, "--speed", "0")
def self_callback_reset(target: Target) -> Outcome:
    """A task's callbackUrl aimed at the fake's own /_mock/reset (and its spellings)"""
    hosts = ("127.0.0.1", "localhost", "127.1", "0x7f000001", "2130706433")
    urls = [f"http://{h}:{target.port}{p}" for h in hosts for p in _SELF_PATHS[:1]]
    urls += [f"http://127.0.0.1:{target.port}/v1/../_mock/reset"]
    urls += [f"http://127.0.0.1:{target.port}{p}" for p in _SELF_PATHS[1:]]
    # a task that must survive every reset
    before = target.session.post(
        target.url + "/_mock/projects", json={"name": "survivor"}, timeout=10
    ).json()
    witness = target.session.post(
        target.url + "/v1/Run/minimax/hailuo-2-3-fast",
        headers=target.signed(),
        json={"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "witness"},
    ).json()["taskid"]
    projects = _projects(target)
    for url in urls:
        made = target.session.post(
            target.url + "/v1/Run/minimax/hailuo-2-3-fast",
            headers=target.signed(),
            json={
                "inputImageFirstUrl": "https://example.com/a.jpg",
                "prompt": "self",
                "callbackUrl": url,
            },
        ).json()
        _task_ends(target, made["taskid"])
    time.sleep(0.5)  # deliveries run on their own threads; give them their moment
    still = target.session.post(
        target.url + "/v1/Task/Detail", headers=target.signed(), json={"taskid": witness}
    ).json()
    kept = bool(still.get("tasklist")) and _projects(target) == projects
    refused = target.session.get(
        target.url + "/_mock/journal", params={"kind": "refused"}, timeout=10
    ).json()["entries"]
    return Outcome(
        kept and bool(refused),
        f"{len(urls)} self-callbacks: witness task {'kept' if kept else 'LOST'}, "
        f"{len(refused)} refusals journalled, survivor project {before.get('id')}",
        {"callbacks": len(urls), "refused": len(refused)},
    )


@attack(2)
def cross_site_bodyless_post(target: Target) -> Outcome:
    """Bodyless POSTs with a foreign Origin / Sec-Fetch-Site: cross-site on every route"""
    routes = (
        "/_mock/reset",
        "/_mock/faults/clear",
        "/_mock/scenarios/clear",
        "/_mock/faults/release",
    )
    statuses = {}
    for route in routes:
        for headers in (
            {"Origin": "https://evil.example"},
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "null"},
        ):
            r = requests.post(target.url + route, headers=headers, timeout=10)
            statuses[f"{route} {next(iter(headers))}"] = r.status_code
    refused = all(s == 403 for s in statuses.values())
    same = requests.post(
        target.url + "/_mock/reset", headers={"Sec-Fetch-Site": "same-origin"}, timeout=10
    ).status_code
    return Outcome(
        refused and same == 200,
        f"{sum(s == 403 for s in statuses.values())}/{len(statuses)} cross-site POSTs refused; "
        f"same-origin {same}",
        {"statuses": statuses},
    )


@attack(3)
def dns_rebinding_host(target: Target) -> Outcome:
    """/_mock/projects and the socket upgrade asked under Host: attacker.example"""
    r = requests.get(
        target.url + "/_mock/projects", headers={"Host": "attacker.example"}, timeout=10
    )
    leaked = target.api_secret in r.text
    ok = requests.get(
        target.url + "/_mock/projects", headers={"Host": f"localhost:{target.port}"}, timeout=10
    )
    ws = requests.get(
        target.url + "/v1",
        headers={
            "Host": f"127.0.0.1:{target.port}",
            "Origin": "http://attacker.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
        timeout=10,
    )
    return Outcome(
        not leaked
        and r.status_code in (400, 403, 421)
        and ok.status_code == 200
        and ws.status_code != 101,
        f"Host attacker.example: {r.status_code}{' LEAKED the secret' if leaked else ''}; "
        f"Host localhost: {ok.status_code}; socket upgrade from a foreign Origin: "
        f"{ws.status_code}",
    )


@attack(6)
def create_app_first_host(target: Target) -> Outcome:
    """create_app() under a plain WSGI server: a first request's Host, a remote peer"""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log in the report
    fake = Fake.build(Settings(clock_mode="instant"))
    server = make_server("127.0.0.1", 0, create_app(fake), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        evil = {"Host": "attacker.example"}
        requests.post(url + "/v1/Task/List", headers=evil, json={}, timeout=10)
        project = fake.backend.create_project()
        local = Target(target.server, project.api_key, project.api_secret)
        requests.post(url + "/v1/Task/List", headers={**local.signed(), **evil}, timeout=10)
        poisoned = "attacker" in fake.backend.files.public_url
        client = create_app(fake).test_client()
        remote = client.get("/_mock/projects", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        fake.backend.close()
    return Outcome(
        not poisoned and remote.status_code == 403,
        f"file URL base after a rebound first request: {fake.backend.files.public_url}; "
        f"/_mock from a remote peer without a token: {remote.status_code}",
    )


class _Dripper:
    """A receiver answering one byte every 50 ms, forever."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: Any) -> None:
        with conn:
            try:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Drip: " + b"a" * 10**6:
                    conn.sendall(bytes([byte]))
                    if self.stop.wait(0.05):
                        return
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def _run(target: Target, **extra: str) -> str:
    made = target.session.post(
        target.url + "/v1/Run/minimax/hailuo-2-3-fast",
        headers=target.signed(),
        json={"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "p", **extra},
        timeout=10,
    ).json()
    return str(made["taskid"])


def _delivery(target: Target, task: str, timeout: float = 30) -> dict[str, Any]:
    found = target.session.post(
        f"{target.url}/_mock/callbacks/{task}/wait", json={"timeout": timeout}, timeout=60
    ).json()
    return dict(found["callback"] or {})


@attack(7, "--speed", "0", "--callback-timeout", "1", "--callback-attempts", "1")
def callback_drip_receiver(target: Target) -> Outcome:
    """A callback receiver that drips its answer a byte every 50 ms (timeout 1 s)"""
    dripper = _Dripper()
    try:
        delivery = _delivery(target, _run(target, callbackUrl=dripper.url), timeout=20)
    finally:
        dripper.close()
    attempts = delivery.get("attempts") or [{}]
    seconds = attempts[0].get("duration")
    held = delivery.get("state") == "failed" and seconds is not None and seconds < 3
    return Outcome(
        held,
        f"attempt ended {delivery.get('state')!r} after {seconds} s: {attempts[0].get('error')}",
        {"attempt_seconds": seconds},
    )


_PROXY_PORT = free_port()


@attack(
    7,
    "--speed",
    "0",
    env={v: f"http://127.0.0.1:{_PROXY_PORT}" for v in ("HTTP_PROXY", "http_proxy", "ALL_PROXY")},
)
def callback_via_proxy(target: Target) -> Outcome:
    """HTTP_PROXY set in the fake's environment: a loopback callback must go direct"""
    seen: list[str] = []
    proxy = socket_listener(_PROXY_PORT, seen)
    receiver = loadkit.CallbackReceiver()
    try:
        task = _run(target, callbackUrl=receiver.url)
        delivery = _delivery(target, task)
        got = len(receiver.count(task))
    finally:
        receiver.close()
        proxy.close()
    return Outcome(
        delivery.get("state") == "delivered" and got == 1 and not seen,
        f"receiver got {got} POST(s), the proxy {len(seen)}",
    )


def socket_listener(port: int, seen: list[str]) -> Any:
    """A listener on ``port`` that records every connection it accepts."""
    sock = socket.create_server(("127.0.0.1", port))

    def accept() -> None:
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            seen.append(str(peer))
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return sock


@attack(3)
def proxied_control(target: Target) -> Outcome:
    """/_mock through a reverse proxy on the same machine (X-Forwarded-For, Via), no token"""
    statuses = {}
    for header in ("X-Forwarded-For", "Forwarded", "Via"):
        r = requests.get(
            target.url + "/_mock/projects", headers={header: "203.0.113.9"}, timeout=10
        )
        statuses[header] = r.status_code
        if target.api_secret in r.text:
            return Outcome(False, f"{header}: {r.status_code}, every secret answered")
    return Outcome(
        all(s == 403 for s in statuses.values()),
        f"proxied GET /_mock/projects without a token: {statuses}",
    )
