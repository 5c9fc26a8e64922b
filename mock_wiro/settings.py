"""Every assumption the fake makes, in one place.

The contract (``docs/wiro-api.md``) marks what no public source settles with
``[A]``. Each such assumption is a named constant or a :class:`Settings` field
here, documented, so it can be corrected in one place when the real API shows
otherwise. Facts from the seed page or Wiro's docs are constants too, with their
source named.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import os
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

__all__ = [
    "BALANCE_POLICY",
    "CANCELLABLE_STATUSES",
    "CLOCK_MAX_ADVANCE_SECONDS",
    "CLOCK_MAX_SPEED",
    "CLOCK_MAX_TIME",
    "CLOCK_MIN_SPEED",
    "CONCURRENCY_RATE",
    "CONCURRENCY_UNLIMITED_ABOVE_USD",
    "CREDENTIAL_MAX_CHARS",
    "CREDENTIAL_RULE",
    "DEFAULT_DEMO_BALANCE_USD",
    "EXTERNAL_PLACEHOLDER_SIZE",
    "FILE_ARRAY_TOO_LONG_MESSAGE",
    "HEADER_CHARSETS",
    "HEADER_FIELDS_TOO_LARGE_STATUS",
    "IMAGE_DECODE_BUDGET_PIXELS",
    "IMAGE_FIELD_ALIASES",
    "IMAGE_FORMATS",
    "IMAGE_HONOUR_EXIF_ORIENTATION",
    "IMAGE_MAX_BYTES",
    "IMAGE_MAX_PIXELS",
    "IMAGE_MAX_RATIO",
    "IMAGE_MIN_RATIO",
    "IMAGE_MIN_SHORT_SIDE_EXCLUSIVE",
    "KEEPALIVE_IDLE_TIMEOUT",
    "KILLED_PEXIT",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_COUNT",
    "MAX_HEADER_LINE_BYTES",
    "MAX_JSON_BODY_BYTES",
    "MAX_URL_CHARS",
    "MINIMUM_BALANCE_USD",
    "MODEL_ID",
    "MODEL_SLUG_OWNER",
    "MODEL_SLUG_PROJECT",
    "NONCE_WINDOW",
    "PRICE_TABLE_USD",
    "PROMPT_MAX_CHARS",
    "RUN_PATH",
    "SEED_CATEGORIES",
    "STORAGE_QUOTA_BYTES",
    "TASK_ID_START",
    "UPLOAD_MAX_BYTES",
    "AuthMode",
    "BalancePolicy",
    "ClockMode",
    "ExternalUrlPolicy",
    "HdLongDurationPolicy",
    "RestartPolicy",
    "Settings",
    "UnknownFieldPolicy",
    "env",
    "host_name",
    "is_loopback",
    "is_trusted_host",
    "is_trusted_origin",
    "needs_admin_token",
]

AuthMode = Literal["signature", "apikey"]
ClockMode = Literal["realtime", "manual", "instant"]
ExternalUrlPolicy = Literal["placeholder", "fail"]
UnknownFieldPolicy = Literal["reject", "ignore"]
HdLongDurationPolicy = Literal["fallback", "reject"]
BalancePolicy = Literal["reserve", "overdraft"]
RestartPolicy = Literal["resume", "catch-up"]

# --- the model -------------------------------------------------------------
MODEL_SLUG_OWNER = "minimax"  # [seed] Run/minimax/hailuo-2-3-fast
MODEL_SLUG_PROJECT = "hailuo-2-3-fast"  # [seed]
RUN_PATH = f"Run/{MODEL_SLUG_OWNER}/{MODEL_SLUG_PROJECT}"
MODEL_ID = "1447"  # [A] the real model id is not published; any string works for clients
SEED_CATEGORIES = '["tool","image-to-video","video","fast"]'  # [A] shape from [seed]: a JSON
# array encoded as a string; the values for this model are a guess.

# --- Run parameters --------------------------------------------------------
PROMPT_MAX_CHARS = 2000  # [minimax]
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")  # [minimax] JPG/PNG/WebP
IMAGE_MAX_BYTES = 20 * 1024 * 1024  # [minimax] "under 20 MB"
IMAGE_MIN_SHORT_SIDE_EXCLUSIVE = 300  # [minimax] short side *over* 300 px
IMAGE_MIN_RATIO = (2, 5)  # [minimax] aspect ratio (width:height) at least 2:5 ...
IMAGE_MAX_RATIO = (5, 2)  # [minimax] ... and at most 5:2, both inclusive [A]
# [A] MiniMax publishes no pixel limit. This bounds the fake's memory per image check:
# width * height is checked right after the header is read, before any decoding
# (36 MP: a 6000x6000 image; full-resolution phone and camera photos stay under it).
IMAGE_MAX_PIXELS = 36_000_000
# [A] An image whose EXIF Orientation (tag 0x0112) is 5, 6, 7 or 8 is displayed rotated
# by a quarter turn, so the fake reports its width and height swapped: a portrait phone
# photo stored landscape gives a portrait video. Whether MiniMax honours EXIF is unknown.
IMAGE_HONOUR_EXIF_ORIENTATION = True
IMAGE_FIELD_ALIASES = {"inputImage": "inputImageFirst", "inputImageUrl": "inputImageFirstUrl"}
# [clients] other clients send these names; whether Wiro accepts them is [A]
# (Settings.accept_image_aliases).

# [A] The code-0 message for a file parameter given more entries (JSON array entries or
# repeated multipart keys) than it takes [clients: issue 17 finding 1; the real API's
# wording is unknown]. Formatted with name (as sent), max and count.
FILE_ARRAY_TOO_LONG_MESSAGE = "Request parameter [{name}] takes at most {max} value(s); got {count}"

# Size the fake pretends an external (never fetched) image URL has, under the
# "placeholder" policy: a 16:9 JPEG like the seed's sample input [A].
EXTERNAL_PLACEHOLDER_SIZE = (1280, 720)

# Longest URL accepted in inputImageFirstUrl, inputImageFirst (as a URL) and callbackUrl
# [A]: Wiro publishes no limit; 8 KB is the common server-side bound on a URL.
MAX_URL_CHARS = 8192

# --- uploads ---------------------------------------------------------------
UPLOAD_MAX_BYTES = 100 * 1024 * 1024  # [docs] File/Upload: 100 MB
# Largest JSON or url-encoded request body (on /v1 and /_mock) [A]: Wiro publishes no
# limit; a Run's fields fit in a few KB, and only multipart bodies carry files.
MAX_JSON_BODY_BYTES = 1024 * 1024

# --- request headers -------------------------------------------------------
# [A] Wiro publishes no header limits. These are the common front-end defaults, and they
# bound what one request can make the fake hold before it is even authenticated (a
# request over any of them is answered 431 in the API's error envelope, and never
# reaches the journal whole). ``mock-wiro serve`` checks each raw header line as it
# reads it; create_app() checks the count and the total again, whatever serves it.
MAX_HEADER_LINE_BYTES = 8 * 1024  # [A] one header line, name and value: nginx's 8k buffer,
# Apache's LimitRequestFieldSize 8190, gunicorn's limit_request_field_size 8190
MAX_HEADER_COUNT = 64  # [A] header lines per request (browsers send 10 to 20; Apache
# and gunicorn allow 100, and http.server's parser 99, so the fake's own bound is lower)
MAX_HEADER_BYTES = 64 * 1024  # [A] every header line together (nginx: 4 x 8k = 32k)
HEADER_FIELDS_TOO_LARGE_STATUS = 431  # [A] RFC 6585; the real API's status is unknown

# --- money -----------------------------------------------------------------
# Price of one video in USD by (resolution, duration) [A]: MiniMax's list price
# for Hailuo 2.3 Fast; Wiro's own mark-up is unknown. ``totalcost`` of a
# successful task is this price; ``cps`` is price / elapsedseconds, which keeps
# the seed's arithmetic (cps * elapsedseconds == totalcost).
PRICE_TABLE_USD: dict[tuple[str, str], Decimal] = {
    ("768P", "6"): Decimal("0.19"),
    ("768P", "10"): Decimal("0.32"),
    ("1080P", "6"): Decimal("0.33"),
}
MINIMUM_BALANCE_USD = Decimal("0.50")  # [docs] code 97 below this
CONCURRENCY_RATE = Decimal("0.10")  # [docs] max(1, floor(balance * 0.10)) tasks ...
CONCURRENCY_UNLIMITED_ABOVE_USD = Decimal("250")  # [docs] ... unlimited above $250
KEEPALIVE_IDLE_TIMEOUT = 5.0
"""Seconds a kept-alive HTTP connection may wait for its next request before
``mock-wiro serve --server gevent`` closes it (gunicorn's ``--keep-alive`` is 2 by
default; 5 leaves a test suite's pauses). ``--keepalive-timeout`` /
``MOCK_WIRO_KEEPALIVE_TIMEOUT`` (``Settings.keepalive_timeout``) sets another."""
MAX_CONNECTIONS = 4096
"""Connections ``mock-wiro serve --server gevent`` serves at once, kept-alive HTTP and
WebSockets together (``--max-connections`` / ``MOCK_WIRO_MAX_CONNECTIONS``,
``Settings.max_connections``). One past it is answered 503 in the API's error envelope
and closed, never left waiting. Far above what a test suite opens; the 10,000 idle
sockets of ``benchmarks/bench_fanout.py`` raise it."""

DEFAULT_DEMO_BALANCE_USD = Decimal("100.00")  # [A] the demo project's balance: 10 at once

# --- task life -------------------------------------------------------------
CANCELLABLE_STATUSES = frozenset({"task_queue"})  # [docs] "for tasks on queue"
# Kill accepts every active (non-terminal) status, the queued one included [A]:
# the contract leaves open which statuses before task_assign it accepts.
KILLED_PEXIT = "-9"  # [A] pexit of a killed task (SIGKILL); a cancelled one keeps "0"
TASK_ID_START = 534574  # [A] first task id; the seed shows ids in this range


# --- smaller edges (issue 18, hole 8) ----------------------------------------
# [A] How the bytes of a credential header (x-api-key, x-nonce) are read. WSGI hands
# header values over as latin-1 text; a client that sends UTF-8 (curl, Go, .NET with a
# non-ASCII value) means the UTF-8 text. Each reading is tried in this order: the API
# key is looked up under each, and the signature is accepted if it is the HMAC of
# secret + nonce under any, so an HMAC over exactly the bytes the client sent verifies
# (a UTF-8 nonce), as does one over the text a latin-1 client meant. Wiro's docs and
# every client send ASCII digits ("unix timestamp or random integer" [docs][seed]), for
# which both readings are one; the real API's handling of other bytes is unknown.
HEADER_CHARSETS: tuple[str, ...] = ("latin-1", "utf-8")

# [A] What an API key may be made of (the one rule for /_mock/projects, the CLI's
# --api-key and MockWiroServer.create_project; the same length bound applies to a
# secret): Unicode printable characters (``str.isprintable()``: no CR, LF, tab, NUL or
# other control, format, separator or surrogate character, which a header line cannot
# carry), spaces inside but not at either end (a header value's ends are trimmed), 1 to
# CREDENTIAL_MAX_CHARS characters. A key outside it could never authenticate. A secret is
# never sent (only HMAC-ed), so any text UTF-8 can encode will do.
CREDENTIAL_MAX_CHARS = 256
CREDENTIAL_RULE = (
    "printable characters (no CR, LF, tab or other control characters), no space at "
    f"either end, 1 to {CREDENTIAL_MAX_CHARS} characters"
)

# [A] With Settings.reject_reused_nonce, how many of a project's most recent nonces are
# remembered (as fixed-size digests). A nonce among them is refused (401 "Project
# authorization is not valid."); one older than the last NONCE_WINDOW is forgotten and
# accepted again. A window by count, not by time, because the seed allows "any random
# integer value" as a nonce, which no ordering can judge.
NONCE_WINDOW = 1024

# [A] What the balance admits when tasks run in parallel. Wiro documents a pre-run
# balance check (code 97 under $0.50), a concurrency limit only up to $250 (code 96),
# and a charge on success only [docs]; nothing on what is spoken for by unfinished
# tasks. "reserve": each unfinished task holds its price; Run answers 97 when the
# balance minus the prices of the project's unfinished tasks is under
# MINIMUM_BALANCE_USD, so parallel Runs can never take a balance below
# MINIMUM_BALANCE_USD minus one task's price (never negative). A cancelled, killed or
# failed task frees its price; a successful one is charged it. "overdraft": only the
# balance itself is checked (every parallel Run above $250 is admitted and the balance
# may go negative once they succeed).
BALANCE_POLICY: BalancePolicy = "reserve"

# --- the fake's own bounds: clock, storage, image decoding (issue 18, holes 5 and 7) ---
# [A] The clock's speed (realtime mode) lies in [CLOCK_MIN_SPEED, CLOCK_MAX_SPEED]: at the
# top speed a default 50 s video takes 0.05 wall seconds (``instant`` mode is faster still),
# and fake time started today needs about 7.9 years of wall time to reach CLOCK_MAX_TIME.
CLOCK_MIN_SPEED = 0.001
CLOCK_MAX_SPEED = 1000.0
# [A] The latest fake time the clock keeps (9999-12-31T23:59:59Z, the last second a
# calendar date can name): a start or advance past it is refused, and a running clock
# stops there rather than ever reaching a time no timestamp can hold (or infinity).
CLOCK_MAX_TIME = 253_402_300_799.0
# [A] The largest single advance (POST /_mock/clock/advance, ``advance()``): ten years.
CLOCK_MAX_ADVANCE_SECONDS = 315_576_000.0
# [A] Default per-project storage quota (Settings.storage_quota_bytes): the bytes of a
# project's stored uploads (a ZIP counted as extracted) until they are deleted or reset.
# Wiro publishes no quota; 1 GiB holds ten uploads at the 100 MB limit.
STORAGE_QUOTA_BYTES = 1024**3
# [A] At most this many pixels of input images are decoded at once, process-wide (a
# check waits for its turn): with two workers and concurrent checks, the decode peak stays
# about one image at IMAGE_MAX_PIXELS (~108 MB as RGB). Checked-in bound of the fake's own.
IMAGE_DECODE_BUDGET_PIXELS = IMAGE_MAX_PIXELS


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ``::1``: the hosts that need no admin token."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(value: str) -> str:
    """The host name of a ``Host`` header value or an origin (``http://h:1``, ``h:1``,
    ``[::1]:1``), lower-cased, without port, brackets or a trailing dot; ``""`` when
    there is none."""
    text = value.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1].split("/", 1)[0]
    text = text.rsplit("@", 1)[-1]
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".")


@functools.lru_cache(maxsize=1024)  # every signed call asks; the answer never changes
def is_trusted_host(host: str, public_url: str | None = None, extra: tuple[str, ...] = ()) -> bool:
    """True for a host name that no DNS rebinding can point at the fake from a foreign
    page: an IP literal (not a name: nothing to rebind), ``localhost`` and its
    subdomains (browsers resolve them to loopback themselves), the host of
    ``public_url``, and the ``extra`` names (``Settings.allowed_hosts``).

    ``/_mock`` requests and WebSocket upgrades from a loopback peer must name such a
    host (:mod:`mock_wiro.control.guard`)."""
    name = host_name(host)
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        pass
    trusted = {host_name(h) for h in extra}
    if public_url:
        trusted.add(host_name(public_url))
    return name in trusted


def is_trusted_origin(
    origin: str, public_url: str | None = None, extra: tuple[str, ...] = ()
) -> bool:
    """True for a page origin allowed to open the task socket from a local browser: a
    loopback address or name (``localhost`` and its subdomains), the host of
    ``public_url``, or one of ``extra``. Unlike a ``Host``, an IP literal is not enough:
    a page served from any address is still a foreign page."""
    name = host_name(origin)
    if not name:
        return False
    if is_loopback(name) or name.endswith(".localhost"):
        return True
    trusted = {host_name(h) for h in extra}
    if public_url:
        trusted.add(host_name(public_url))
    return name in trusted


def needs_admin_token(host: str, public_url: str | None = None) -> bool:
    """True when the fake is reachable from other machines, so its control surface must
    have an admin token (``mock-wiro serve`` and ``MockWiroServer`` generate one): bound
    to a non-loopback interface, or published under a non-loopback public URL (a reverse
    proxy in front of a loopback bind)."""
    if not is_loopback(host):
        return True
    return bool(public_url) and not is_loopback(host_name(public_url or ""))


def env(name: str, default: str | None = None) -> str | None:
    """The one reader of ``MOCK_WIRO_*`` variables (``mock-wiro serve``'s defaults): the
    variable's value, or ``default`` when it is unset or empty."""
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """Run-time settings of one fake server. Every field is documented in README.md."""

    clock_mode: ClockMode = "realtime"
    """How the fake's clock moves: ``realtime`` (scaled by ``speed``), ``manual``
    (only when advanced), ``instant`` (every stage takes no time)."""
    speed: float = 20.0
    """How many times faster than the real API tasks run in realtime mode. The
    stage table holds real-world durations (~50 s for a default video); 20 makes
    a default task finish in ~2.5 s."""
    accept_labelled_signature: bool = True
    """[A] Accept ``x-signature: SHA2-256(stdin)= <hex>`` (the seed's openssl
    recipe puts the whole line in the header) as well as bare hex."""
    reject_reused_nonce: bool = False
    """[A] Reject a nonce already used by the same project (``--reject-reused-nonces``,
    ``MOCK_WIRO_REJECT_REUSED_NONCES=1``). Off by default, and apart from ``strict()``,
    because the evidence points both ways: the seed's own curl flow reuses one nonce for
    every call, the official n8n node signs once and reuses its (seconds) nonce for every
    poll, and second-resolution nonces collide whenever two calls fall in one second
    [seed][clients]; Wiro-Docs claims replay protection [docs]. The contract suite's
    ``test_reused_nonce`` records what the real API does. A project's last
    ``NONCE_WINDOW`` nonces are remembered; older ones are forgotten."""
    external_url_policy: ExternalUrlPolicy = "placeholder"
    """[A] What an image URL that is not one of the fake's own files does. The
    fake never fetches the internet. ``placeholder``: treated as a valid 1280x720
    JPEG; ``fail``: the task fails in preprocessing with a download error."""
    unknown_fields: UnknownFieldPolicy = "reject"
    """[A] Run with a parameter the model doesn't have: ``reject`` answers a
    code-0 error naming it (catches typos); ``ignore`` drops it silently."""
    accept_image_aliases: bool = True
    """[A] Accept ``inputImage``/``inputImageUrl`` as ``inputImageFirst``/``...Url``."""
    slug_case_insensitive: bool = True
    """[A] Match the slugs of a ``Run/<owner>/<project>`` path (and Tool/Detail's
    ``slugowner``/``slugproject``) case-insensitively: ``Run/MiniMax/hailuo-2.3-Fast``
    (display slugs [seed][clients: n8n]) and ``Run/minimax/hailuo-2-3-fast`` (clean
    slugs [seed]) in any case. When False, only those two exact spellings."""
    hd_long_duration: HdLongDurationPolicy = "fallback"
    """[A] Run with ``resolution=1080P`` and ``duration=10`` (MiniMax: 10 s is 768P
    only [minimax]; the n8n node defaults to that pair and says "If resolution set to
    1080p duration is 6 seconds by default" [clients]). ``fallback``: accepted, the
    task is a 6 s 1080P video (its ``parameters``, price and output say 6 s);
    ``reject``: a code-0 error."""
    upload_max_bytes: int = UPLOAD_MAX_BYTES
    storage_quota_bytes: int = STORAGE_QUOTA_BYTES
    """[A] Bytes of stored uploads one project may hold at once (``--storage-quota``,
    ``MOCK_WIRO_STORAGE_QUOTA``; default 1 GiB): a ZIP counts as extracted, a deleted
    file and a reset free their bytes. An upload past it is a code-0 error naming the
    bytes used, the limit and the file, and nothing of it is kept."""
    data_dir: str | None = None
    """Where the fake keeps its state: None (the default) keeps it in memory, with
    uploads and outputs in a fresh temporary folder removed on close; a folder makes the
    fake durable (``--data-dir``): projects, tasks with their frames, files and folders in
    a SQLite database there (``mock-wiro.db``), the bytes of files beside it, so a
    restart, even after ``kill -9``, carries on from what was acknowledged
    (docs/persistence.md)."""
    restart_policy: RestartPolicy = "resume"
    """[A] With ``data_dir``, how the fake clock starts again over a kept state
    (``--restart-policy``): ``resume`` (default): at the fake time it had when the fake
    stopped (after a crash: the latest fake time it kept), so every running task goes on
    from the stage it was in with the time it still had to go, as if the fake had been
    paused; ``catch-up``: a realtime clock also counts the time the fake was down
    (scaled by its speed), so tasks that would have finished meanwhile finish at start.
    A manual clock resumes at its fake time under either; held tasks stay held."""
    public_url: str | None = None
    """Base URL the fake is reachable at (``http://127.0.0.1:8080``); file URLs
    are built from it. When None, from the request's host."""
    socket_replay: Literal["history", "live"] = "history"
    """[A] What a subscriber that registers after frames were sent gets: ``history``
    (every past frame in order, then live ones) or ``live`` (only what comes next)."""
    socket_buffer_frames: int = 1024
    """Frames queued per socket connection; a client that falls this far behind is
    disconnected (close code 1013) rather than silently losing frames."""
    socket_ping_interval: float = 25.0
    """[A] Seconds between server pings; a client that misses a pong is dropped."""
    keepalive_timeout: float = KEEPALIVE_IDLE_TIMEOUT
    """Seconds an idle kept-alive HTTP connection waits for its next request before
    ``mock-wiro serve --server gevent`` closes it (``--keepalive-timeout``)."""
    max_connections: int = MAX_CONNECTIONS
    """Connections served at once by ``mock-wiro serve --server gevent``; past it a new
    one gets 503 and is closed (``--max-connections``)."""
    fast_path: bool = True
    """Serve signed JSON ``/v1`` calls without Flask's request machinery
    (:mod:`mock_wiro.http.fast`): the same code, answers and journal entries, about half
    the time per call. ``--no-fast-path`` (``MOCK_WIRO_FAST_PATH=0``) turns it off, to
    rule it out when something looks wrong."""
    callback_attempts: int = 3
    """[A][docs: agent webhooks retry up to 3 times] POSTs per callback, in all."""
    callback_timeout: float = 10.0
    """[A] Seconds one callback POST may take."""
    callback_backoff: float = 2.0
    """[A] Fake seconds before the 2nd attempt; doubled for each further one."""
    allowed_hosts: tuple[str, ...] = ()
    """Host names, beyond loopback names, IP literals and ``public_url``'s host, that a
    ``/_mock`` request's ``Host`` (and a WebSocket upgrade's ``Host`` and ``Origin``)
    may name when it comes from a loopback peer (``--allowed-host``): the names a
    reverse proxy on the same machine forwards. Guards against DNS rebinding."""
    admin_token: str | None = None
    """When set (non-empty), every request to a path under ``/_mock`` must send
    ``X-Admin-Token: <token>`` (else 401). ``mock-wiro serve`` on a non-loopback host
    generates one unless given."""

    def __post_init__(self) -> None:
        if isinstance(self.allowed_hosts, str):
            raise ValueError(f"allowed_hosts must be a tuple of names, not {self.allowed_hosts!r}")
        if not isinstance(self.allowed_hosts, tuple):  # a list, say: kept as a tuple
            object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        if not (
            isinstance(self.speed, int | float)
            and math.isfinite(self.speed)
            and CLOCK_MIN_SPEED <= self.speed <= CLOCK_MAX_SPEED
        ):
            raise ValueError(
                f"speed must be a finite number from {CLOCK_MIN_SPEED:g} to "
                f"{CLOCK_MAX_SPEED:g}, not {self.speed!r}"
            )
        if self.restart_policy not in ("resume", "catch-up"):
            raise ValueError(
                f"restart_policy must be resume or catch-up, not {self.restart_policy!r}"
            )
        if isinstance(self.storage_quota_bytes, bool) or self.storage_quota_bytes < 0:
            raise ValueError(f"storage_quota_bytes must be >= 0, not {self.storage_quota_bytes!r}")
        if not (math.isfinite(self.keepalive_timeout) and self.keepalive_timeout > 0):
            raise ValueError(
                f"keepalive_timeout must be a finite number of seconds > 0, "
                f"not {self.keepalive_timeout!r}"
            )
        if isinstance(self.max_connections, bool) or self.max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, not {self.max_connections!r}")

    def strict(self) -> Settings:
        """The strict variant: bare-hex signatures only. (Rejecting reused nonces is its
        own setting, ``reject_reused_nonce``: real clients reuse them.)"""
        return replace(self, accept_labelled_signature=False)
