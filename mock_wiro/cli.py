"""``mock-wiro``: the command line. ``mock-wiro serve`` runs the fake."""

from __future__ import annotations

import argparse
import logging
import math
import os
import secrets
import shlex
import signal
import sys
import threading
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType

from ._version import __version__
from .engine.models import Project
from .engine.snapshot import SNAPSHOT_MEDIA_TYPE, snapshot_bytes, write_file
from .engine.sqlite_store import DB_NAME, SqliteStore
from .errors import DataDirError, SnapshotError, ValidationError
from .launch import DEFAULT_SERVER
from .server import ACCESS_LOG, MockWiroServer
from .settings import (
    CLOCK_MAX_SPEED,
    CLOCK_MIN_SPEED,
    DEFAULT_DEMO_BALANCE_USD,
    KEEPALIVE_IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    RUN_PATH,
    STORAGE_QUOTA_BYTES,
    ClockMode,
    Settings,
    needs_admin_token,
)
from .settings import env as _env

__all__ = ["build_parser", "main", "serve_process_setup"]

# [seed] the Run call's sample values
SEED_PROMPT = (
    "Wide shot of the beach and power plant. The man continues his steady run along the "
    "shoreline, his footsteps leaving subtle indentations in the wet sand."
)


def _balance(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


_BYTE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def _byte_count(text: str) -> int:
    """A byte count: digits, optionally with a K, M, G or T suffix (powers of 1024)."""
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = cleaned[-1:] if cleaned[-1:] in _BYTE_UNITS else ""
    digits = cleaned[: len(cleaned) - len(unit)].strip()
    if not (digits.isascii() and digits.isdigit()):
        raise argparse.ArgumentTypeError(f"not a byte count: {text!r} (e.g. 500M, 1G)")
    return int(digits) * _BYTE_UNITS[unit]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every option has a ``MOCK_WIRO_*`` environment variable)."""
    parser = argparse.ArgumentParser(
        prog="mock-wiro", description="An offline twin of the Wiro AI API (Hailuo 2.3 Fast)."
    )
    parser.add_argument("--version", action="version", version=f"mock-wiro {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the fake API",
        description="Run the fake Wiro API. Every option falls back to the environment "
        "variable shown.",
    )
    _add_serve_options(serve)
    _add_snapshot_command(sub)
    return parser


def _add_snapshot_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``mock-wiro snapshot save FILE``."""
    snapshot = sub.add_parser(
        "snapshot",
        help="save a fake's whole state to one file",
        description="Snapshots: the whole state of a fake in one file (docs/persistence.md).",
    )
    actions = snapshot.add_subparsers(dest="action", required=True)
    save = actions.add_parser(
        "save",
        help="save the state of a running fake (--url) or of a stopped data dir (--data-dir)",
        description="Save a fake's whole state (projects, tasks with their frames, files "
        "with their bytes, the fake time) to FILE, whole or not at all. From a running "
        "fake by default (POST <url>/snapshot), or from the data dir of a stopped one.",
    )
    save.add_argument("file", metavar="FILE", help="where to write the snapshot")
    source = save.add_mutually_exclusive_group()
    source.add_argument(
        "--url",
        default=_env("MOCK_WIRO_CONTROL_URL", "http://127.0.0.1:8080/_mock"),
        help="MOCK_WIRO_CONTROL_URL: the running fake's control URL, as its banner shows "
        "it (default http://127.0.0.1:8080/_mock)",
    )
    source.add_argument(
        "--data-dir",
        help="a stopped fake's data dir (refused while a fake uses it: its lock is held)",
    )
    save.add_argument(
        "--admin-token",
        default=_env("MOCK_WIRO_ADMIN_TOKEN"),
        help="MOCK_WIRO_ADMIN_TOKEN: sent as X-Admin-Token (a fake off loopback needs it)",
    )


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    """``mock-wiro serve``'s options, by group, in the order ``--help`` lists them."""
    _add_listen_options(serve)
    _add_project_options(serve)
    _add_behaviour_options(serve)
    _add_callback_options(serve)
    _add_storage_and_admin_options(serve)


def _add_listen_options(serve: argparse.ArgumentParser) -> None:
    """Where the fake listens."""
    serve.add_argument("--host", default=_env("MOCK_WIRO_HOST", "127.0.0.1"), help="MOCK_WIRO_HOST")
    serve.add_argument(
        "--port",
        type=int,
        default=int(_env("MOCK_WIRO_PORT", "8080") or 8080),
        help="MOCK_WIRO_PORT; 0 picks a free port (default 8080)",
    )
    serve.add_argument(
        "--server",
        choices=SERVERS,
        default=_env("MOCK_WIRO_SERVER", DEFAULT_SERVER),
        help="MOCK_WIRO_SERVER: the HTTP server; gevent (default) keeps HTTP/1.1 connections "
        "alive and serves each socket in a greenlet, in a gevent-patched process; werkzeug "
        "(the fallback) closes the connection after every response, a thread each",
    )
    serve.add_argument(
        "--keepalive-timeout",
        type=float,
        default=float(_env("MOCK_WIRO_KEEPALIVE_TIMEOUT", "") or KEEPALIVE_IDLE_TIMEOUT),
        metavar="SECONDS",
        help="MOCK_WIRO_KEEPALIVE_TIMEOUT: --server gevent closes a kept-alive connection "
        f"idle this long (default {KEEPALIVE_IDLE_TIMEOUT:g})",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=int(_env("MOCK_WIRO_MAX_CONNECTIONS", "") or MAX_CONNECTIONS),
        metavar="N",
        help="MOCK_WIRO_MAX_CONNECTIONS: --server gevent serves at most N connections at once "
        f"(HTTP and WebSocket); one more gets 503 and is closed (default {MAX_CONNECTIONS})",
    )


def _add_project_options(serve: argparse.ArgumentParser) -> None:
    """The project's keys, auth mode and balance."""
    serve.add_argument("--api-key", default=_env("MOCK_WIRO_API_KEY"), help="MOCK_WIRO_API_KEY")
    serve.add_argument(
        "--api-secret", default=_env("MOCK_WIRO_API_SECRET"), help="MOCK_WIRO_API_SECRET"
    )
    serve.add_argument(
        "--auth",
        choices=("signature", "apikey"),
        default=_env("MOCK_WIRO_AUTH", "signature"),
        help="MOCK_WIRO_AUTH: the project's auth mode (default signature)",
    )
    serve.add_argument(
        "--balance",
        type=_balance,
        default=_balance(_env("MOCK_WIRO_BALANCE", str(DEFAULT_DEMO_BALANCE_USD)) or "100"),
        help="MOCK_WIRO_BALANCE: the project's balance in USD (default 100)",
    )


def _add_behaviour_options(serve: argparse.ArgumentParser) -> None:
    """How tasks run and how strictly requests are read."""
    serve.add_argument(
        "--speed",
        type=float,
        default=float(_env("MOCK_WIRO_SPEED", "20") or 20),
        help="MOCK_WIRO_SPEED: run tasks X times faster than the real API (default 20, "
        f"~2.5 s a video; from {CLOCK_MIN_SPEED:g} to {CLOCK_MAX_SPEED:g}); 0 finishes tasks "
        "instantly",
    )
    serve.add_argument(
        "--clock",
        choices=("realtime", "manual", "instant"),
        default=_env("MOCK_WIRO_CLOCK"),
        help="MOCK_WIRO_CLOCK: manual advances only via POST /_mock/clock/advance",
    )
    serve.add_argument(
        "--strict",
        action="store_true",
        default=_env_says("MOCK_WIRO_STRICT", _YES),
        help="MOCK_WIRO_STRICT=1: bare-hex signatures only (the seed's labelled openssl "
        "line is refused)",
    )
    serve.add_argument(
        "--reject-reused-nonces",
        action="store_true",
        default=_env_says("MOCK_WIRO_REJECT_REUSED_NONCES", _YES),
        help="MOCK_WIRO_REJECT_REUSED_NONCES=1: a nonce a project already used is refused "
        "(off by default: the seed and the n8n node reuse one nonce)",
    )
    serve.add_argument(
        "--no-fast-path",
        action="store_true",
        default=_env_says("MOCK_WIRO_FAST_PATH", _NO),
        help="MOCK_WIRO_FAST_PATH=0: serve every call through Flask's machinery (by default "
        "signed JSON /v1 calls skip it, with the same answers: a way to rule it out)",
    )
    serve.add_argument(
        "--external-urls",
        choices=("placeholder", "fail"),
        default=_env("MOCK_WIRO_EXTERNAL_URLS", "placeholder"),
        help="MOCK_WIRO_EXTERNAL_URLS: image URLs not served by the fake are never fetched; "
        "placeholder treats them as a valid 1280x720 JPEG, fail fails the task",
    )
    serve.add_argument(
        "--unknown-fields",
        choices=("reject", "ignore"),
        default=_env("MOCK_WIRO_UNKNOWN_FIELDS", "reject"),
        help="MOCK_WIRO_UNKNOWN_FIELDS: a Run parameter the model lacks is an error (reject) "
        "or dropped (ignore)",
    )
    serve.add_argument(
        "--hd-long-duration",
        choices=("fallback", "reject"),
        default=_env("MOCK_WIRO_HD_LONG_DURATION", "fallback"),
        help="MOCK_WIRO_HD_LONG_DURATION: Run with 1080P and 10 s runs as 6 s at 1080P "
        "(fallback, default) or is a code-0 error (reject)",
    )
    serve.add_argument(
        "--socket-replay",
        choices=("history", "live"),
        default=_env("MOCK_WIRO_SOCKET_REPLAY", "history"),
        help="MOCK_WIRO_SOCKET_REPLAY: what a late socket subscriber gets (default history)",
    )


def _add_callback_options(serve: argparse.ArgumentParser) -> None:
    """How task callbacks are POSTed."""
    serve.add_argument(
        "--callback-attempts",
        type=int,
        default=int(_env("MOCK_WIRO_CALLBACK_ATTEMPTS", "3") or 3),
        help="MOCK_WIRO_CALLBACK_ATTEMPTS: POSTs per callback, in all (default 3)",
    )
    serve.add_argument(
        "--callback-timeout",
        type=float,
        default=float(_env("MOCK_WIRO_CALLBACK_TIMEOUT", "10") or 10),
        help="MOCK_WIRO_CALLBACK_TIMEOUT: seconds per callback POST (default 10)",
    )


def _add_storage_and_admin_options(serve: argparse.ArgumentParser) -> None:
    """Where files live, their public URL and the /_mock token."""
    serve.add_argument(
        "--data-dir",
        default=_env("MOCK_WIRO_DATA_DIR"),
        help="MOCK_WIRO_DATA_DIR: keep the fake's state here and carry on from it after a "
        "restart or a crash (a SQLite database, uploads and outputs; folders 0700, files "
        "0600); default: in memory, files in a fresh temporary folder",
    )
    serve.add_argument(
        "--load",
        metavar="FILE",
        default=_env("MOCK_WIRO_LOAD"),
        help="MOCK_WIRO_LOAD: start from this snapshot (made by `mock-wiro snapshot save`); "
        "with --data-dir, only a data dir that holds no state yet is seeded from it",
    )
    serve.add_argument(
        "--restart-policy",
        choices=("resume", "catch-up"),
        default=_env("MOCK_WIRO_RESTART_POLICY", "resume"),
        help="MOCK_WIRO_RESTART_POLICY: with --data-dir, how the clock starts over a kept "
        "state: resume (default) at the fake time it stopped at, so running tasks go on "
        "with the time they still had; catch-up also counts the time the fake was down",
    )
    serve.add_argument(
        "--storage-quota",
        type=_byte_count,
        default=_byte_count(_env("MOCK_WIRO_STORAGE_QUOTA", str(STORAGE_QUOTA_BYTES)) or "0"),
        help="MOCK_WIRO_STORAGE_QUOTA: bytes of uploads one project may keep (a ZIP counted "
        "as extracted; K/M/G suffixes, powers of 1024; 0: no quota; default 1G)",
    )
    serve.add_argument(
        "--public-url",
        default=_env("MOCK_WIRO_PUBLIC_URL"),
        help="MOCK_WIRO_PUBLIC_URL: base of file URLs (default http://<host>:<port>)",
    )
    serve.add_argument(
        "--admin-token",
        default=_env("MOCK_WIRO_ADMIN_TOKEN"),
        help="MOCK_WIRO_ADMIN_TOKEN: /_mock requests must send X-Admin-Token: <token> "
        "(default: none on loopback; a random one, printed, on any other host)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        dest="allowed_hosts",
        default=[h for h in (_env("MOCK_WIRO_ALLOWED_HOSTS") or "").split(",") if h.strip()],
        metavar="NAME",
        help="MOCK_WIRO_ALLOWED_HOSTS (comma-separated): a host name /_mock and the socket "
        "accept from local clients, beyond loopback names, IP addresses and --public-url's "
        "host (repeatable; guards against DNS rebinding)",
    )


_YES = ("1", "true", "yes")
_NO = ("0", "false", "no")


def _env_says(name: str, words: tuple[str, ...]) -> bool:
    """Whether the environment variable ``name`` holds one of ``words`` (any case): a flag
    option's default (``--strict`` from ``MOCK_WIRO_STRICT=1``, ``--no-fast-path`` from
    ``MOCK_WIRO_FAST_PATH=0``)."""
    return (_env(name) or "").strip().lower() in words


def _settings(args: argparse.Namespace) -> Settings:
    mode: ClockMode = args.clock or ("instant" if args.speed == 0 else "realtime")
    if args.speed != 0 and not (
        math.isfinite(args.speed) and CLOCK_MIN_SPEED <= args.speed <= CLOCK_MAX_SPEED
    ):
        raise SystemExit(
            f"mock-wiro: --speed must be 0 (instant) or from {CLOCK_MIN_SPEED:g} to "
            f"{CLOCK_MAX_SPEED:g}; got {args.speed:g}"
        )
    if not (math.isfinite(args.keepalive_timeout) and args.keepalive_timeout > 0):
        raise SystemExit(
            f"mock-wiro: --keepalive-timeout must be > 0; got {args.keepalive_timeout:g}"
        )
    if args.max_connections < 1:
        raise SystemExit(f"mock-wiro: --max-connections must be >= 1; got {args.max_connections}")
    settings = Settings(
        clock_mode=mode,
        speed=args.speed if args.speed > 0 else 1.0,
        external_url_policy=args.external_urls,
        unknown_fields=args.unknown_fields,
        hd_long_duration=args.hd_long_duration,
        data_dir=args.data_dir,
        restart_policy=args.restart_policy,
        storage_quota_bytes=args.storage_quota,
        public_url=args.public_url,
        socket_replay=args.socket_replay,
        callback_attempts=max(1, args.callback_attempts),
        callback_timeout=args.callback_timeout,
        reject_reused_nonce=args.reject_reused_nonces,
        allowed_hosts=tuple(h.strip() for h in args.allowed_hosts),
        keepalive_timeout=args.keepalive_timeout,
        max_connections=args.max_connections,
        fast_path=not args.no_fast_path,
        admin_token=args.admin_token
        or (secrets.token_urlsafe(24) if needs_admin_token(args.host, args.public_url) else None),
    )
    return settings.strict() if args.strict else settings


def _admin_lines(server: MockWiroServer, generated: bool) -> list[str]:
    token = server.admin_token
    if token is None:
        return []
    if not generated:
        return ["  admin:     /_mock needs X-Admin-Token (the --admin-token given)"]
    return [
        f"  admin:     X-Admin-Token: {token}  (generated: reachable off loopback)",
        f'             curl -H "X-Admin-Token: {token}" {server.url}/_mock/health',
    ]


def _store_lines(server: MockWiroServer) -> list[str]:
    """The data dir, when the fake keeps its state there, and what it carried over."""
    if server.settings.data_dir is None:
        return []
    tasks = server.backend.all_tasks()
    running = sum(1 for t in tasks if not t.terminal)
    return [
        f"  data dir:  {server.backend.data_dir} (durable; {len(tasks)} task(s) kept, "
        f"{running} running; restart policy {server.settings.restart_policy})"
    ]


def _signing_lines(server: MockWiroServer, key: str, secret: str) -> list[str]:
    """The seed's openssl signing lines; under --strict (bare hex only) the digest is cut
    from openssl's ``SHA2-256(stdin)= `` label, so the curl that follows works as shown."""
    strict = not server.settings.accept_labelled_signature
    bare = " | sed 's/^.*= //'" if strict else ""
    return [
        "Try it (the seed's Run call, signed with openssl"
        + ("; --strict takes the bare hex digest, without openssl's label):" if strict else "):"),
        f"  export YOUR_API_KEY={shlex.quote(key)} YOUR_API_SECRET={shlex.quote(secret)}",
        "  export NONCE=$(date +%s)",
        '  export SIGNATURE="$(echo -n "${YOUR_API_SECRET}${NONCE}" | '
        f'openssl dgst -sha256 -hmac "${{YOUR_API_KEY}}"{bare})"',
    ]


def _banner(
    server: MockWiroServer,
    key: str,
    secret: str,
    auth: str,
    demo: bool,
    generated_token: bool = False,
) -> str:
    base = server.base_url
    lines = [
        f"mock-wiro {__version__} serving the Wiro API (minimax/hailuo-2-3-fast)",
        f"  REST:      {base}",
        f"  WebSocket: {server.socket_url}",
        f"  server:    {server.description}",
        f"  control:   {server.url}/_mock  (clock: {server.backend.clock.mode}, "
        f"speed {server.backend.clock.speed:g})",
        f"  dashboard: {server.url}/_mock/  (open in a browser)",
        f"  project:   {'demo project, ' if demo else ''}auth {auth}",
        *_store_lines(server),
        f"  API key:   {key}",
        f"  secret:    {secret}",
        *_admin_lines(server, generated_token),
        "",
        *_signing_lines(server, key, secret),
        f'  curl -X POST "{base}/{RUN_PATH}" \\',
        '    -H "x-api-key: ${YOUR_API_KEY}" -H "x-nonce: ${NONCE}" '
        '-H "x-signature: ${SIGNATURE}" \\',
        '    -F "inputImageFirst=@path/to/image.jpg" -F "inputImageFirstUrl=" \\',
        f"    -F {shlex.quote('prompt=' + SEED_PROMPT)} \\",
        '    -F "promptOptimizer=true" -F "resolution=768P" -F "duration=6"',
        "",
        "Or with the hailuo CLI (installed alongside):",
        f"  export WIRO_API_KEY={shlex.quote(key)} WIRO_API_SECRET={shlex.quote(secret)} "
        f"WIRO_BASE_URL={shlex.quote(base)}",
        '  hailuo generate path/to/image.jpg --prompt "waves roll in" --out video.mp4',
        "",
        "Ctrl-C to stop.",
    ]
    return "\n".join(lines)


MALLOC_ARENA_MAX = 2
"""glibc malloc arenas for `mock-wiro serve`. The default (8 per core) let RSS creep up
about 5 MiB per 900-task soak round while the Python heap stayed flat; with 2 it was
flat (docs/benchmarks.md, soak)."""


GC_GEN0_THRESHOLD = 20_000
"""`mock-wiro serve`'s first garbage-collector threshold (Python's default is 700): the
server allocates a few tracked objects per socket frame and journal entry, and at 700
the collector ran so often that its full collections (100-150 ms each with 1,000 tasks
and their sockets, all in the one event loop) landed in the middle of a fan-out round
(docs/server-choice.md, fan-out)."""


def _tune_gc() -> None:
    """`mock-wiro serve` is a process of its own: what it built to start (modules, the
    app, a loaded snapshot) is moved out of the collector's sight (``gc.freeze``), and
    its first threshold raised to :data:`GC_GEN0_THRESHOLD`, so full collections come
    less often and scan less. (A fake inside a user's process leaves the collector as
    the user set it.)"""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])


def serve_process_setup() -> None:
    """What `mock-wiro serve` sets in its own process once the app is built: the access
    log on stderr, the garbage collector tuned (public for the benchmarks' bare Flask
    baseline on the same server)."""
    _log_access_to_stderr()
    _tune_gc()


def _limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas (no-op elsewhere, or if MALLOC_ARENA_MAX is already set)."""
    if os.environ.get("MALLOC_ARENA_MAX") or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-8, MALLOC_ARENA_MAX)  # -8 is M_ARENA_MAX in glibc's malloc.h
    except (OSError, AttributeError):
        pass  # not glibc: nothing to tune


def _kept_project(server: MockWiroServer, args: argparse.Namespace) -> Project | None:
    """Over a kept state (``--data-dir``), the project the banner shows: the one with
    ``--api-key`` if it is kept, else (no key given) the oldest kept project. It is kept
    as it is (its secret, auth mode and balance: the data dir's state wins over
    ``--api-secret``, ``--auth`` and ``--balance``, with a note when they differ)."""
    projects = server.backend.projects()
    if args.api_key:
        found = next((p for p in projects if p.api_key == args.api_key), None)
    else:
        found = projects[0] if projects else None
    if found is None:
        return None
    differs = [
        name
        for name, given, kept in (
            ("--api-secret", args.api_secret, found.api_secret),
            ("--auth", args.auth, found.auth_mode),
        )
        if given is not None and args.api_key and given != kept
    ]
    if differs:
        print(
            f"mock-wiro: the data dir keeps project {found.id} as it was; {', '.join(differs)} "
            "given now differ and are not applied",
            file=sys.stderr,
            flush=True,
        )
    return found


SERVERS = ("werkzeug", "gevent")
SNAPSHOT_FETCH_TIMEOUT = 300.0
"""Seconds ``mock-wiro snapshot save`` waits for a running fake's snapshot."""


def _gevent_patched() -> bool:
    """Whether gevent has patched this process (without importing gevent otherwise)."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("socket"))


def _reexec_patched(argv: Sequence[str]) -> int:
    """``--server gevent`` in an unpatched process: become ``python -m
    mock_wiro.gevent_serve`` with the same arguments (same pid, same environment), which
    patches before anything is imported."""
    import importlib.util

    if importlib.util.find_spec("gevent") is None:
        print(
            "mock-wiro: --server gevent needs the gevent package: pip install 'mock-wiro[gevent]'",
            file=sys.stderr,
        )
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "mock_wiro.gevent_serve", *argv])
    return 2  # pragma: no cover - execv does not return


def _server_class(args: argparse.Namespace) -> type[MockWiroServer]:
    if args.server == "gevent":
        from .gevent_server import GeventWiroServer

        return GeventWiroServer
    return MockWiroServer


class _StopSignals:
    """SIGINT and SIGTERM, waited for in the main thread.

    The kernel may hand a process signal to any thread; Python then runs its handler only
    when the main thread next runs bytecode, which a main thread blocked in a lock wait
    never does (a SIGTERM delivered to a request thread left ``serve`` waiting an hour).
    So the C handler's wakeup byte goes to a pipe the main thread reads: it wakes whichever
    thread took the signal. In a gevent-patched process the hub handles the signals.
    """

    STOP = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._event: threading.Event | None = None
        if _gevent_patched():
            import gevent

            self._event = event = threading.Event()  # patched: a gevent event
            for signum in self.STOP:
                gevent.signal_handler(signum, event.set)
            return
        self._read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        for signum in self.STOP:
            signal.signal(signum, self._ignore)

    @staticmethod
    def _ignore(signum: int, frame: FrameType | None) -> None:
        """The Python-level handler: nothing to do, the wakeup byte is the signal."""

    def wait(self) -> int:
        """Block until SIGINT or SIGTERM arrives: its number."""
        if self._event is not None:
            self._event.wait()
            return signal.SIGTERM
        while True:
            for signum in os.read(self._read_fd, 64):
                if signum in self.STOP:
                    return signum


_STATUS_COLOURS = {"3": "36", "4": "33", "5": "31"}
"""ANSI colours of the access log's status on a terminal, by its first digit."""


class _AccessFormatter(logging.Formatter):
    """``mock-wiro serve``'s access log: a time, then the record; on a terminal the status
    is coloured by class (4xx yellow, 5xx red), never in a file or a pipe."""

    def __init__(self, colour: bool) -> None:
        super().__init__("%(asctime)s %(message)s", datefmt="%H:%M:%S")
        self.colour = colour
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's time, formatted once per second (a line a request)."""
        second = int(record.created)
        if second != self._second or datefmt != self.datefmt:
            stamp = super().formatTime(record, datefmt)
            if datefmt != self.datefmt:
                return stamp
            self._second, self._stamp = second, stamp
        return self._stamp

    def formatMessage(self, record: logging.LogRecord) -> str:
        args = record.args
        if self.colour and isinstance(args, tuple) and len(args) == 4:
            code = str(args[2])
            colour = _STATUS_COLOURS.get(code[:1], "")
            if colour:
                record.message = record.message.replace(
                    f'" {code} ', f'" \x1b[{colour}m{code}\x1b[0m ', 1
                )
        return super().formatMessage(record)


def _log_access_to_stderr() -> None:
    """The fake's access log (:data:`mock_wiro.server.ACCESS_LOG`, silent when embedded)
    on stderr, coloured only when stderr is a terminal.

    ``mock-wiro serve``'s process is its own, so it turns off what its log lines never
    show and each record would gather (the logging HOWTO's "Optimization"): the caller's
    frame, the thread (under gevent each request's greenlet gets a dummy thread object
    for it), the process. Measured: a quarter of the throughput of a signed
    Task/Detail went to them (docs/server-choice.md)."""
    logging._srcfile = None  # the logging HOWTO's own recipe
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_AccessFormatter(colour=sys.stderr.isatty()))
    logger = logging.getLogger(ACCESS_LOG)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def serve(args: argparse.Namespace, argv: Sequence[str] = ()) -> int:
    """Run the fake until SIGINT/SIGTERM (``argv``: the command line, for ``--server
    gevent``'s re-execution into a patched process)."""
    if args.server == "gevent" and not _gevent_patched():
        return _reexec_patched(argv)
    _limit_malloc_arenas()
    settings = _settings(args)
    try:
        server = _server_class(args)(settings, host=args.host, port=args.port)
    except OSError as exc:
        print(f"mock-wiro: {exc}", file=sys.stderr)
        return 2
    except DataDirError as exc:  # taken by another fake, newer, or not a database
        print(f"mock-wiro: {exc.message}", file=sys.stderr)
        return 2
    if args.load and not _load(server, args.load):
        server.stop()
        return 2
    kept = _kept_project(server, args)
    demo = not args.api_key if kept is None else kept.name == "demo"
    try:  # a key that could never authenticate (CR, LF, spaces at the ends) is refused
        project = kept or server.backend.create_project(
            args.api_key,
            args.api_secret,
            auth_mode=args.auth,
            balance=args.balance,
            name="demo" if demo else "default",
        )
    except ValidationError as exc:
        server.stop()
        print(f"mock-wiro: {exc.message}", file=sys.stderr)
        return 2
    stop = _StopSignals()
    serve_process_setup()
    server.start()
    generated = server.admin_token is not None and not args.admin_token
    banner = _banner(
        server, project.api_key, project.api_secret, project.auth_mode, demo, generated
    )
    print(banner, flush=True)
    stop.wait()
    print("mock-wiro: shutting down", file=sys.stderr, flush=True)
    server.stop()
    return 0


def _load(server: MockWiroServer, path: str) -> bool:
    """``serve --load FILE``: start from the snapshot (a data dir that already holds a
    state is not seeded again: it carries on). False, with the reason on stderr, if the
    snapshot cannot be loaded."""
    if server.settings.data_dir is not None and (
        server.backend.projects() or server.backend.all_tasks()
    ):
        print(
            f"mock-wiro: the data dir {server.backend.data_dir} already holds a state: it "
            f"carries on, and --load {path} is not applied (it seeds an empty data dir)",
            file=sys.stderr,
            flush=True,
        )
        return True
    try:
        server.load_snapshot(path)
    except SnapshotError as exc:
        print(f"mock-wiro: {exc.message}", file=sys.stderr, flush=True)
        return False
    return True


def snapshot_save(args: argparse.Namespace) -> int:
    """``mock-wiro snapshot save FILE``: from a running fake, or a stopped data dir."""
    target = Path(args.file)
    try:
        data = _snapshot_of_dir(Path(args.data_dir)) if args.data_dir else _fetch_snapshot(args)
        write_file(data, target)
    except (SnapshotError, DataDirError) as exc:
        print(f"mock-wiro: {exc.message}", file=sys.stderr)
        return 2
    print(f"mock-wiro: saved a snapshot of {len(data)} bytes to {target}")
    return 0


def _fetch_snapshot(args: argparse.Namespace) -> bytes:
    """``POST <url>/snapshot`` on a running fake."""
    import requests

    url = args.url.rstrip("/") + "/snapshot"
    headers = {"X-Admin-Token": args.admin_token} if args.admin_token else {}
    try:
        answer = requests.post(url, headers=headers, timeout=SNAPSHOT_FETCH_TIMEOUT)
    except requests.RequestException as exc:
        raise SnapshotError(f"no fake answered at {url}: {exc}") from None
    if answer.status_code != 200 or answer.headers.get("Content-Type") != SNAPSHOT_MEDIA_TYPE:
        why = answer.text[:300].strip()
        raise SnapshotError(f"{url} answered {answer.status_code}, not a snapshot: {why}")
    return answer.content


def _snapshot_of_dir(data_dir: Path) -> bytes:
    """The state a stopped fake kept in ``data_dir`` (its lock taken: refused while a
    fake uses it), at the fake time it stopped at. Nothing in it runs or changes."""
    if not (data_dir / DB_NAME).is_file():
        raise SnapshotError(f"{data_dir} holds no mock-wiro state (no {DB_NAME})")
    store = SqliteStore(data_dir)
    try:
        now = store.resume_time("resume", "manual", 1.0)
        return snapshot_bytes(store, data_dir, time.time() if now is None else now)
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mock-wiro`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args, argv)
    if args.command == "snapshot":
        return snapshot_save(args)
    return 2  # pragma: no cover - argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
