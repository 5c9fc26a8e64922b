"""The suite's own wire helpers: signing, a recording HTTP client, the task socket, MP4 boxes.

Deliberately independent of ``mock_wiro`` and ``hailuo_client``: the suite judges any
implementation of the API, so it speaks raw HTTP and WebSocket itself.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import websocket

__all__ = [
    "Api",
    "Recorder",
    "SocketResult",
    "mp4_boxes",
    "mp4_seconds",
    "read_frames",
    "sign",
]

SECRET_HEADERS = ("x-api-key", "x-nonce", "x-signature")
SCRUBBED_FIELDS = ("socketaccesstoken", "tasktoken", "accesskey")


def sign(api_key: str, api_secret: str, nonce: str) -> str:
    """``x-signature``: lowercase hex HMAC-SHA256, key = API key, message = secret + nonce."""
    return hmac.new(api_key.encode(), (api_secret + nonce).encode(), hashlib.sha256).hexdigest()


_nonce_lock = threading.Lock()
_last_nonce = [0]


def fresh_nonce(unit: str = "ms") -> str:
    """A nonce larger than any this process made before (``ms`` or ``s`` resolution)."""
    with _nonce_lock:
        now = time.time_ns() // (1_000_000 if unit == "ms" else 1_000_000_000)
        _last_nonce[0] = max(_last_nonce[0] + 1, now) if unit == "ms" else now
        return str(_last_nonce[0] if unit == "ms" else now)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (f"<scrubbed {len(str(v))} chars>" if k in SCRUBBED_FIELDS and v else _scrub(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


class Recorder:
    """With ``--record DIR``: every response and socket frame of a test, secrets scrubbed,
    as JSON lines in ``DIR/<test id>.jsonl``. A no-op without a directory."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._file: Path | None = None

    def start(self, test_id: str) -> None:
        """Begin recording one test."""
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in test_id)
        self._file = self.directory / f"{safe}.jsonl"
        self._file.write_text("", encoding="utf-8")

    def stop(self) -> None:
        """End the current test's recording."""
        self._file = None

    def record(self, kind: str, **data: Any) -> None:
        """Append one scrubbed entry."""
        if self._file is None:
            return
        entry = {"kind": kind, "at": round(time.time(), 3), **_scrub(data)}
        with self._lock, self._file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, default=str) + "\n")


@dataclass
class Api:
    """A signed (or key-only) client of one project. ``post`` returns the raw response."""

    base_url: str
    api_key: str
    api_secret: str | None
    recorder: Recorder
    on_task: Callable[[str], None] = lambda task_id: None
    on_tasks: Callable[[Api, list[dict[str, Any]]], None] = lambda api, tasks: None
    """Called with every ``tasklist`` a Task/Detail or Task/List answer carries (the
    suite's money ledger judges each terminal task it sees there)."""
    session: requests.Session = field(default_factory=requests.Session)
    timeout: float = 60.0

    def headers(self, nonce: str | None = None) -> dict[str, str]:
        """Auth headers for a fresh (or the given) nonce."""
        if not self.api_secret:
            return {"x-api-key": self.api_key}
        nonce = nonce or fresh_nonce()
        return {
            "x-api-key": self.api_key,
            "x-nonce": nonce,
            "x-signature": sign(self.api_key, self.api_secret, nonce),
        }

    def post(
        self,
        path: str,
        json_body: Mapping[str, Any] | None = None,
        *,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """POST ``path`` (relative to the base URL) with auth headers unless ``headers``."""
        url = f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"
        response = self.session.post(
            url,
            json=json_body,
            data=data,
            files=files,
            headers=dict(headers) if headers is not None else self.headers(),
            timeout=self.timeout,
        )
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text[:2000]
        sent = {**(json_body or {}), **(data or {})}
        if files:
            parts = files.items() if isinstance(files, Mapping) else files
            sent["files"] = [{"key": k, "name": v[0], "bytes": len(v[1] or b"")} for k, v in parts]
        self.recorder.record(
            "http", path=path, request=sent, status=response.status_code, response=body
        )
        if path.startswith("Run/") and isinstance(body, dict) and body.get("taskid"):
            self.on_task(str(body["taskid"]))
        if path in ("Task/Detail", "Task/List") and isinstance(body, dict):
            tasks = body.get("tasklist")
            if body.get("result") is True and isinstance(tasks, list):
                self.on_tasks(self, [t for t in tasks if isinstance(t, dict)])
        return response

    def ok(self, path: str, json_body: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """POST and return the JSON envelope, asserting ``result`` is true."""
        response = self.post(path, json_body, **kwargs)
        assert response.status_code == 200, (path, response.status_code, response.text[:500])
        body = response.json()
        assert body.get("result") is True, (path, body)
        assert body.get("errors") == [], (path, body)
        return body

    def detail(self, taskid: str) -> dict[str, Any]:
        """The task's Task/Detail entry."""
        body = self.ok("Task/Detail", {"taskid": taskid})
        tasks = body["tasklist"]
        assert isinstance(tasks, list) and len(tasks) == 1, body
        task: dict[str, Any] = tasks[0]
        return task


@dataclass
class SocketResult:
    """What one subscription saw: every frame in order, and how it ended."""

    frames: list[dict[str, Any]]
    texts: list[str]
    ended: str  # "terminal", "timeout", "closed"

    @property
    def types(self) -> list[str]:
        """The frames' ``type`` values, in order."""
        return [str(f.get("type")) for f in self.frames]


def read_frames(
    socket_url: str,
    token: str,
    recorder: Recorder,
    timeout: float,
    terminal: tuple[str, ...] = ("task_postprocess_end", "task_cancel"),
    registered: threading.Event | None = None,
    on_frame: Callable[[dict[str, Any]], None] = lambda frame: None,
) -> SocketResult:
    """Subscribe to ``token`` and read frames until a terminal one, a close, or ``timeout``;
    ``on_frame`` sees each frame as it arrives (a test acting on a state waits on it)."""
    deadline = time.monotonic() + timeout
    ws = websocket.create_connection(socket_url, timeout=min(30.0, timeout))
    frames: list[dict[str, Any]] = []
    texts: list[str] = []
    ended = "timeout"
    try:
        ws.send(json.dumps({"type": "task_info", "tasktoken": token}))
        if registered is not None:
            registered.set()
        while (remaining := deadline - time.monotonic()) > 0:
            ws.settimeout(remaining)
            try:
                opcode, frame = ws.recv_data_frame()
            except websocket.WebSocketTimeoutException:
                break
            except (OSError, websocket.WebSocketException):
                ended = "closed"
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                ended = "closed"
                break
            text = frame.data.decode("utf-8") if isinstance(frame.data, bytes) else frame.data
            parsed = json.loads(text)
            recorder.record("frame", frame=parsed)
            texts.append(text)
            frames.append(parsed)
            on_frame(parsed)
            if parsed.get("type") in terminal:
                ended = "terminal"
                break
    finally:
        ws.close(timeout=1)
        ws.shutdown()  # type: ignore[no-untyped-call]
    return SocketResult(frames, texts, ended)


def mp4_boxes(data: bytes) -> Iterator[tuple[str, int]]:
    """The top-level ISO-BMFF boxes of ``data`` as ``(type, size)``; AssertionError if the
    boxes do not tile the file exactly."""
    offset = 0
    for _ in itertools.count():
        if offset == len(data):
            return
        assert offset + 8 <= len(data), f"a truncated box header at {offset}"
        size = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8].decode("latin-1")
        header = 8
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
            header = 16
        elif size == 0:
            size = len(data) - offset
        assert size >= header and offset + size <= len(data), f"box {kind!r} overruns the file"
        yield kind, size
        offset += size


def mp4_seconds(data: bytes) -> float:
    """The movie's duration in seconds, from ``moov/mvhd`` (version 0 or 1)."""
    offset = 0
    for kind, size in mp4_boxes(data):
        if kind == "moov":
            inner = data[offset + 8 : offset + size]
            at = 0
            while at + 8 <= len(inner):
                box = int.from_bytes(inner[at : at + 4], "big")
                if inner[at + 4 : at + 8] == b"mvhd":
                    body = inner[at + 8 : at + box]
                    if body[0] == 1:
                        scale = int.from_bytes(body[20:24], "big")
                        length = int.from_bytes(body[24:32], "big")
                    else:
                        scale = int.from_bytes(body[12:16], "big")
                        length = int.from_bytes(body[16:20], "big")
                    return length / scale
                if box < 8:
                    break
                at += box
        offset += size
    raise AssertionError("no moov/mvhd box: not a playable MP4")
