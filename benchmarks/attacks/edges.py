"""Hole 8: the smaller edges. A signed UTF-8 nonce, API keys that could never
authenticate, the used-nonce memory of ``--reject-reused-nonces``, and parallel Runs
above $250 overdrawing the balance."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import requests

from mock_wiro.settings import MINIMUM_BALANCE_USD, PRICE_TABLE_USD

from . import Outcome, Target, attack

_RUN = "/v1/Run/minimax/hailuo-2-3-fast"
_nonces = itertools.count(int(time.time() * 1000) + 10_000_000)


def _headers(key: str, secret: str, nonce: bytes) -> dict[str, bytes]:
    """Signature headers as raw bytes (as curl sends them), over exactly these bytes."""
    digest = hmac.new(key.encode(), secret.encode() + nonce, hashlib.sha256).hexdigest()
    return {"x-api-key": key.encode(), "x-nonce": nonce, "x-signature": digest.encode()}


def _detail(target: Target, headers: dict[str, bytes]) -> int:
    """The HTTP status of a Task/Detail for an unknown task (200: auth passed)."""
    return target.session.post(
        target.url + "/v1/Task/Detail", headers=headers, json={"taskid": "1"}, timeout=10
    ).status_code


@attack(8)
def utf8_nonce(target: Target) -> Outcome:
    """A nonce sent as UTF-8 bytes, correctly signed over those bytes"""
    nonce = f"{next(_nonces)}-é✓".encode()
    status = _detail(target, _headers(target.api_key, target.api_secret, nonce))
    wrong = _headers(target.api_key, target.api_secret, nonce)
    wrong["x-nonce"] = f"{next(_nonces)}-é".encode()
    refused = _detail(target, wrong)
    return Outcome(
        status == 200 and refused == 401,
        f"signed UTF-8 nonce: {status} (200 expected); a signature over other bytes: {refused}",
        {"utf8": status, "wrong": refused},
    )


@attack(8)
def unusable_api_keys(target: Target) -> Outcome:
    """/_mock/projects asked for API keys with CR, LF, tabs or spaces at the ends"""
    bad = ["k\r\nx-evil: 1", "k\n", "\rk", " k", "k ", "k\tk", "k\x00k", "   "]
    statuses = {}
    for key in bad:
        r = target.session.post(target.url + "/_mock/projects", json={"api_key": key}, timeout=10)
        shaped = r.headers.get("Content-Type", "").startswith("application/json") and (
            "error" in r.json()
        )
        statuses[repr(key)] = r.status_code if shaped else -r.status_code
    good = target.session.post(
        target.url + "/_mock/projects", json={"api_key": "clé publique ✓"}, timeout=10
    ).status_code
    refused = sum(s == 400 for s in statuses.values())
    return Outcome(
        refused == len(bad) and good == 201,
        f"{refused}/{len(bad)} unusable keys refused with 400 {{'error'}}; "
        f"a key with inner spaces and non-ASCII: {good}",
        {"statuses": statuses, "good": good},
    )


@attack(8, "--reject-reused-nonces")
def nonce_memory_window(target: Target) -> Outcome:
    """--reject-reused-nonces: 1,100 fresh nonces, then the first and the last replayed"""
    key, secret = target.api_key, target.api_secret
    nonces = [f"{next(_nonces)}".encode() for _ in range(1100)]
    accepted = sum(_detail(target, _headers(key, secret, n)) == 200 for n in nonces)
    last = _detail(target, _headers(key, secret, nonces[-1]))
    first = _detail(target, _headers(key, secret, nonces[0]))
    # bounded: the first was pushed out of the window (forgotten), the last is remembered
    return Outcome(
        accepted == len(nonces) and last == 401 and first == 200,
        f"{accepted} fresh nonces accepted; the last replayed: {last} (401 expected); "
        f"the first, 1,100 nonces ago: {first} (200: forgotten, the memory is bounded)",
        {"fresh": accepted, "replay_last": last, "replay_first": first},
    )


@attack(8, "--clock", "manual")
def parallel_runs_overdraw(target: Target) -> Outcome:
    """800 parallel 1080P Runs on a $250.01 project (no concurrency limit above $250)"""
    made = target.session.post(
        target.url + "/_mock/projects", json={"balance": "250.01"}, timeout=10
    ).json()
    key, secret = made["api_key"], made["api_secret"]
    body = {"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "p", "resolution": "1080P"}

    def run(_: int) -> dict[str, Any]:
        with requests.Session() as session:
            nonce = str(next(_nonces)).encode()
            answer: dict[str, Any] = session.post(
                target.url + _RUN, headers=_headers(key, secret, nonce), json=body, timeout=60
            ).json()
            return answer

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(run, range(800)))
    admitted = [a["taskid"] for a in answers if a.get("result")]
    target.session.post(target.url + "/_mock/clock/advance", json={"seconds": 600}, timeout=30)
    for task_id in admitted:
        target.session.post(
            target.url + f"/_mock/tasks/{task_id}/wait", json={"timeout": 60}, timeout=90
        )
    projects = target.session.get(target.url + "/_mock/projects", timeout=10).json()["projects"]
    balance = Decimal(next(p["balance"] for p in projects if p["api_key"] == key))
    floor = MINIMUM_BALANCE_USD - max(PRICE_TABLE_USD.values())
    return Outcome(
        balance >= floor,
        f"{len(admitted)} of 800 admitted, {800 - len(admitted)} refused; balance "
        f"250.01 -> {balance} (floor {floor})",
        {"admitted": len(admitted), "balance": str(balance)},
    )
