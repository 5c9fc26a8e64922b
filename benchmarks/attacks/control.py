"""Holes 1, 2, 3 and 6: the control surface reached by a callback, a cross-site page, a
rebound host name, or an app served without the CLI's defaults."""

from __future__ import annotations

import time

import requests

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
