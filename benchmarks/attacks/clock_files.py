"""Holes 5 and 7: a clock turned absurd, and files and resources (the data folder's modes,
a per-project storage quota, a small PNG of 35 megapixels)."""

from __future__ import annotations

import io
import json
import math
import stat
import struct
import zipfile
import zlib
from typing import Any

from PIL import Image

from . import Outcome, Target, attack

_RUN = "/v1/Run/minimax/hailuo-2-3-fast"


def _wait(target: Target, task_id: str, timeout: float = 60.0) -> str:
    """The task's status once terminal (the control surface's wait: no polling)."""
    found = target.session.post(
        f"{target.url}/_mock/tasks/{task_id}/wait", json={"timeout": timeout}, timeout=timeout + 10
    ).json()
    return str(found.get("status"))


def _run_upload(target: Target, name: str, data: bytes) -> dict[str, Any]:
    answer = target.session.post(
        target.url + _RUN,
        headers=target.signed(),
        files={"inputImageFirst": (name, data)},
        data={"prompt": "attack", "inputImageFirstUrl": ""},
        timeout=60,
    )
    body: dict[str, Any] = answer.json()
    return body


def _upload(target: Target, name: str, data: bytes) -> dict[str, Any]:
    answer = target.session.post(
        target.url + "/v1/File/Upload",
        headers=target.signed(),
        files={"file": (name, data)},
        timeout=60,
    )
    body: dict[str, Any] = answer.json()
    return body


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@attack(5)
def absurd_clock(target: Target) -> Outcome:
    """Speeds of 1e308, Infinity, NaN, -1 and advances of 1e308, -5: refused, fake alive"""
    bodies = [
        ("/_mock/clock", '{"mode": "realtime", "speed": 1e308}'),
        ("/_mock/clock", '{"mode": "realtime", "speed": Infinity}'),
        ("/_mock/clock", '{"mode": "realtime", "speed": NaN}'),
        ("/_mock/clock", '{"mode": "realtime", "speed": -1}'),
        ("/_mock/clock", '{"mode": "realtime", "speed": 1e6}'),
        ("/_mock/clock/advance", '{"seconds": 1e308}'),
        ("/_mock/clock/advance", '{"seconds": 1e15}'),
        ("/_mock/clock/advance", '{"seconds": -5}'),
    ]
    statuses = {}
    for path, text in bodies:
        answer = target.session.post(
            target.url + path,
            data=text.encode(),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        statuses[f"{path} {text}"] = answer.status_code
    refused = sum(s == 400 for s in statuses.values())
    made = target.session.post(
        target.url + _RUN,
        headers=target.signed(),
        json={"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "after"},
        timeout=10,
    ).json()
    status = _wait(target, made["taskid"])
    listed = target.session.post(
        target.url + "/v1/Task/List", headers=target.signed(), json={}, timeout=10
    ).status_code
    try:
        now = _strict_json(target.session.get(target.url + "/_mock/clock", timeout=10).text)["now"]
        clock_ok = isinstance(now, float | int) and math.isfinite(now)
    except ValueError:
        clock_ok, now = False, "not JSON"
    held = (
        refused == len(bodies)
        and status == "task_postprocess_end"
        and listed == 200
        and clock_ok
        and target.alive()
    )
    return Outcome(
        held,
        f"{refused}/{len(bodies)} absurd clock requests refused (400); a task after them: "
        f"{status}; Task/List {listed}; GET /_mock/clock now={now}",
        {"statuses": statuses},
    )


@attack(7)
def data_dir_modes(target: Target) -> Outcome:
    """--data-dir after a Run and an upload: folders 0700, files 0600 (like the temp dir)"""
    with open(_fixture("landscape_16x9.jpg"), "rb") as src:
        made = _run_upload(target, "in.jpg", src.read())
    status = _wait(target, made["taskid"])
    uploaded = _upload(target, "notes.txt", b"private")
    root = target.server.dir / "data"
    modes: dict[str, int] = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        modes[str(path.relative_to(root))] = stat.S_IMODE(path.stat().st_mode)
    folders = {p: m for p, m in modes.items() if p == "." or (root / p).is_dir()}
    files = {p: m for p, m in modes.items() if p not in folders}
    open_ = {p: oct(m) for p, m in modes.items() if m & 0o077}
    held = bool(files) and not open_ and status == "task_postprocess_end" and uploaded["result"]
    return Outcome(
        held,
        f"{len(folders)} folders, {len(files)} files under --data-dir; "
        f"{len(open_)} readable by others{' ' + str(sorted(open_.items())[:3]) if open_ else ''}",
        {
            "folder_modes": sorted({oct(m) for m in folders.values()}),
            "file_modes": sorted({oct(m) for m in files.values()}),
        },
    )


@attack(7, "--storage-quota", "1M")
def storage_quota(target: Target) -> Outcome:
    """Uploads past a 1 MiB quota (a plain file and a 2 KB ZIP expanding to 2 MB)"""
    files_dir = target.server.dir / "data" / "files"
    first = _upload(target, "first.bin", b"\1" * 600_000)
    before = sorted(files_dir.iterdir())
    second = _upload(target, "second.bin", b"\2" * 600_000)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.bin", b"\0" * 2_000_000)
    bomb = _upload(target, "bomb.zip", buffer.getvalue())
    after = sorted(files_dir.iterdir())

    def code0(body: dict[str, Any]) -> bool:
        errors = body.get("errors") or [{}]
        return (
            body.get("result") is False
            and errors[0].get("code") == 0
            and ("quota" in str(errors[0].get("message")))
        )

    held = bool(first.get("result")) and code0(second) and code0(bomb) and before == after
    message = (second.get("errors") or [{}])[0].get("message", "accepted")
    return Outcome(
        held,
        f"600 KB kept; a second 600 KB: {'refused' if code0(second) else 'ACCEPTED'}; "
        f"a {len(buffer.getvalue())} B ZIP of 2 MB: {'refused' if code0(bomb) else 'ACCEPTED'}; "
        f"files on disk {len(before)} -> {len(after)}",
        {"message": message},
    )


def _big_png(width: int, height: int) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    packer = zlib.compressobj(9)
    row = b"\0" + bytes([90, 140, 200]) * width
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _peak_rss_kib(target: Target) -> int:
    """The server's peak resident memory so far (VmHWM), from /proc."""
    with open(f"/proc/{target.server.pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _fixture(name: str) -> str:
    from mock_wiro_fixtures import image_path

    return str(image_path(name))


@attack(7)
def big_png_decode(target: Target) -> Outcome:
    """Four Runs with a 35-megapixel PNG of ~110 KB each: the server's RSS growth"""
    warm = io.BytesIO()
    Image.new("RGB", (700, 500), (90, 140, 200)).save(warm, "PNG")  # same output size
    _wait(target, _run_upload(target, "warm.png", warm.getvalue())["taskid"])
    big = _big_png(7000, 5000)
    before = _peak_rss_kib(target)
    made = [_run_upload(target, "big.png", big) for _ in range(4)]
    statuses = [_wait(target, m["taskid"]) for m in made]
    grew = _peak_rss_kib(target) - before
    held = grew < 40 * 1024 and all(s == "task_postprocess_end" for s in statuses)
    return Outcome(
        held,
        f"4 Runs of a {len(big) // 1024} KB 7000x5000 PNG: peak RSS grew {grew / 1024:.1f} MiB "
        f"(a full decode is ~134 MiB each); tasks {sorted(set(statuses))}",
        {"png_bytes": len(big), "peak_rss_growth_kib": grew},
    )
