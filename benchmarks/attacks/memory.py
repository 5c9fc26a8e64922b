"""Hole 4 (and one edge of hole 8): what a request may make the fake keep.

Each attack sends a bounded burst (a few dozen requests) and reports the server's RSS
before and after, and the bytes kept per request: the RSS growth over the burst, and the
size of the journal entries it left (as JSON).
"""

from __future__ import annotations

import json
from typing import Any

import requests

from . import Outcome, Target, attack

BURST = 30
"""Requests per burst."""
HEADERS_PER_REQUEST = 90
HEADER_VALUE_BYTES = 60 * 1024
"""90 headers of 60 KB each: 5.4 MB of headers in one request, each line under
http.server's own 64 KiB line limit and the count under its 100."""
JSON_KEYS = 50_000
"""Keys in one signed JSON body (about 900 KB, under the 1 MiB JSON body limit)."""
RSS_GROWTH_HELD_MIB = 40.0
"""The burst held if the server grew by less than this (before the fix: ~190 MB)."""


def _journal_since(target: Target, since: int) -> list[dict[str, Any]]:
    reply = target.session.get(
        target.url + "/_mock/journal", params={"kind": "request", "since": str(since)}, timeout=60
    ).json()
    entries: list[dict[str, Any]] = reply["entries"]
    return entries


def _last_seq(target: Target) -> int:
    reply = target.session.get(
        target.url + "/_mock/journal", params={"kind": "none"}, timeout=10
    ).json()
    return int(reply["last_seq"])


def _send(send: Any, statuses: dict[int, int]) -> None:
    for _ in range(BURST):
        try:
            status = send().status_code
        except requests.RequestException:
            status = 0  # the connection dropped
        statuses[status] = statuses.get(status, 0) + 1


def _burst(target: Target, send: Any, what: str) -> Outcome:
    """Send ``BURST`` requests with ``send()``, then ``BURST`` more: the RSS before, after
    the first burst (what it kept, and the allocator's high-water mark of handling one
    request) and after the second (what is kept per request, once that mark is
    reached); the size of the journal entries left."""
    since = _last_seq(target)
    before = target.rss_kib()
    statuses: dict[int, int] = {}
    _send(send, statuses)
    after = target.rss_kib()
    _send(send, statuses)
    again = target.rss_kib()
    entries = _journal_since(target, since)
    kept = [len(json.dumps(e)) for e in entries]
    growth_mib = (after - before) / 1024
    per_request_kib = (again - after) / BURST
    alive = target.alive()
    held = growth_mib < RSS_GROWTH_HELD_MIB and (again - after) / 1024 < RSS_GROWTH_HELD_MIB
    return Outcome(
        held and alive,
        f"{BURST} {what}: RSS {before / 1024:.0f} -> {after / 1024:.0f} MiB "
        f"(+{growth_mib:.1f} MiB); {BURST} more: {again / 1024:.0f} MiB "
        f"({per_request_kib:.0f} KiB/request); statuses {statuses}; "
        f"journal entries up to {max(kept, default=0) / 1024:.1f} KiB"
        f"{'' if alive else '; the server no longer answers'}",
        {
            "rss_before_kib": before,
            "rss_after_kib": after,
            "rss_after_second_burst_kib": again,
            "rss_kept_kib_per_request": round(per_request_kib, 1),
            "journal_entries": len(kept),
            "journal_entry_max_bytes": max(kept, default=0),
            "statuses": statuses,
        },
    )


@attack(4)
def big_headers_unauthenticated(target: Target) -> Outcome:
    """30 unauthenticated requests with 90 headers of 60 KB each (no credentials needed)"""
    headers = {f"X-Pad-{i:02d}": "a" * HEADER_VALUE_BYTES for i in range(HEADERS_PER_REQUEST)}

    def send() -> requests.Response:
        return target.session.post(
            target.url + "/v1/Task/List", headers=headers, json={}, timeout=60
        )

    return _burst(target, send, "requests with 5.4 MB of headers")


@attack(4)
def many_json_keys_signed(target: Target) -> Outcome:
    """30 signed Task/List bodies with 50,000 JSON keys each (each under the 1 MiB limit)"""
    body = json.dumps(
        {f"k{i:05d}": f"v{i:05d}" for i in range(JSON_KEYS)}, separators=(",", ":")
    ).encode()

    def send() -> requests.Response:
        headers = {**target.signed(), "Content-Type": "application/json"}
        return target.session.post(
            target.url + "/v1/Task/List", headers=headers, data=body, timeout=60
        )

    return _burst(target, send, f"signed bodies of {len(body) // 1024} KiB, {JSON_KEYS} keys")


@attack(8)
def oversize_header_envelope(target: Target) -> Outcome:
    """A header line over the bound, and too many headers: 431 in the API's JSON envelope"""
    found: dict[str, Any] = {}
    for name, headers in (
        ("long line", {"X-Long": "a" * (70 * 1024)}),
        ("many headers", {f"X-Many-{i:03d}": "a" for i in range(150)}),
    ):
        reply = requests.post(target.url + "/v1/Task/List", headers=headers, json={}, timeout=30)
        try:
            body = reply.json()
            envelope = body.get("result") is False and body["errors"][0]["code"] == 0
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            envelope = False
        found[name] = {
            "status": reply.status_code,
            "envelope": envelope,
            "content_type": reply.headers.get("Content-Type", ""),
            "connection": reply.headers.get("Connection", ""),
        }
    held = all(
        f["status"] == 431 and f["envelope"] and f["connection"].lower() == "close"
        for f in found.values()
    )
    detail = "; ".join(
        f"{k}: {v['status']} {v['content_type'] or '-'}"
        f"{' (envelope)' if v['envelope'] else ' (not the envelope)'}"
        for k, v in found.items()
    )
    return Outcome(held and target.alive(), detail, found)
