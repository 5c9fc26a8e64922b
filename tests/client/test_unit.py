"""Unit tests of hailuo_client with ``responses``: no server, a fake clock, seeded jitter.

Every HTTP exchange is answered by ``responses`` (which intercepts ``requests``);
``sleep`` and ``monotonic`` are a fake clock, so nothing here really waits.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import hmac
import itertools
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from urllib3.connection import HTTPConnection
from urllib3.exceptions import MaxRetryError, NewConnectionError

from hailuo_client import (
    APIError,
    AuthenticationError,
    Client,
    ConcurrencyLimitError,
    DownloadError,
    Event,
    File,
    InsufficientBalanceError,
    InvalidInput,
    NotFoundError,
    Output,
    Progress,
    RateLimitError,
    RetryPolicy,
    RunOutcomeUnknown,
    ServerError,
    Status,
    Task,
    TaskCancelled,
    TaskError,
    TaskFailed,
    TransportError,
    ValidationError,
    WaitTimeout,
    WiroError,
    check_image,
    check_options,
)
from hailuo_client._signing import sign
from hailuo_client.checks import IMAGE_MAX_BYTES
from mock_wiro_fixtures import (
    IMAGE_SIZES,
    INVALID_IMAGES,
    VALID_IMAGES,
    SignatureVector,
    image_bytes,
    image_path,
    seed_response,
    signature_vectors,
)

BASE = "https://api.test/v1"
KEY = "unit-key-123"
SECRET = "unit-secret-456"
RUN_URL = f"{BASE}/Run/minimax/hailuo-2-3-fast"
DETAIL_URL = f"{BASE}/Task/Detail"
LIST_URL = f"{BASE}/Task/List"
CANCEL_URL = f"{BASE}/Task/Cancel"
KILL_URL = f"{BASE}/Task/Kill"
DELETE_URL = f"{BASE}/Task/InputOutputDelete"
FOLDER_URL = f"{BASE}/File/FolderCreate"
UPLOAD_URL = f"{BASE}/File/Upload"
CDN_URL = "https://cdn.test/abc/0.mp4"
IMAGE_URL = "https://images.test/cat.jpg"

HEX64 = re.compile(r"[0-9a-f]{64}")


# ------------------------------------------------------------------ helpers and fixtures


class FakeClock:
    """``sleep`` advances ``monotonic``; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"negative sleep {seconds}"
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def make_client(
    clock: FakeClock | None = None,
    *,
    attempts: int = 4,
    backoff: float = 0.5,
    max_backoff: float = 8.0,
    seed: int = 1234,
    api_key: str = KEY,
    secret: str = SECRET,
) -> Client:
    clock = clock if clock is not None else FakeClock()
    return Client(
        api_key,
        secret,
        base_url=BASE,
        retry=RetryPolicy(attempts=attempts, backoff=backoff, max_backoff=max_backoff),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        rng=random.Random(seed),
    )


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def ok(**extra: Any) -> dict[str, Any]:
    return {"result": True, "errors": [], **extra}


def err(code: int, message: str) -> dict[str, Any]:
    return {"result": False, "errors": [{"code": code, "message": message}]}


def task_json(
    status: str, *, pexit: str = "", debugerror: str = "", **extra: Any
) -> dict[str, Any]:
    """The seed's task, renumbered to 2221, with the given status."""
    task: dict[str, Any] = seed_response("task_detail_response")["tasklist"][0]
    task.update(
        id="2221",
        socketaccesstoken="tok2221",
        status=status,
        pexit=pexit,
        debugerror=debugerror,
        **extra,
    )
    if status != "task_postprocess_end" or pexit != "0":
        task["outputs"] = []
    return task


def detail_body(status: str, **kwargs: Any) -> dict[str, Any]:
    return ok(total="1", tasklist=[task_json(status, **kwargs)])


def run_body() -> dict[str, Any]:
    return seed_response("run_response")  # taskid "2221"


def folder_body() -> dict[str, Any]:
    return ok(
        list=[
            {
                "id": "fold1",
                "name": "clips",
                "parentid": "root9",
                "size": "0",
                "contenttype": "",
                "addedtime": "1734513807",
            }
        ]
    )


def upload_body() -> dict[str, Any]:
    return ok(
        list=[
            {
                "id": "file7",
                "name": "cat.jpg",
                "contenttype": "image/jpeg",
                "size": "12345",
                "parentid": "fold1",
                "url": "https://cdn.test/files/cat.jpg",
                "addedtime": "1734513807",
                "accesskey": "ak",
            }
        ]
    )


def expected_signature(api_key: str, secret: str, nonce: str) -> str:
    """Computed here with hmac directly, independent of hailuo_client._signing."""
    return hmac.new(api_key.encode(), (secret + nonce).encode(), hashlib.sha256).hexdigest()


def header(call: Any, name: str) -> str | None:
    value = call.request.headers.get(name)
    return None if value is None else str(value)


def body_json(call: Any) -> Any:
    return json.loads(call.request.body)


def body_bytes(call: Any) -> bytes:
    body = call.request.body
    return body if isinstance(body, bytes) else str(body).encode()


def never_sent_refused() -> requests.ConnectionError:
    """What requests raises when the TCP connection is refused (urllib3 2.x shape)."""
    reason = NewConnectionError(
        HTTPConnection("api.test", 443),
        "Failed to establish a new connection: [Errno 111] Connection refused",
    )
    return requests.ConnectionError(MaxRetryError(None, "/v1/x", reason))  # type: ignore[arg-type]


# ------------------------------------------------------------------ 1. error mapping

VALIDATION_MESSAGES = (
    "Request parameter [prompt] required",
    "Request files [inputImageFirst] required",
    "Request parameters are invalid.",
    "taskid or socketaccesstoken is required",
)

ERROR_CASES = [
    pytest.param(
        401,
        err(0, "Project authorization is not founded."),
        AuthenticationError,
        0,
        "Project authorization is not founded.",
        id="http401",
    ),
    pytest.param(
        200, err(98, "Sign in required."), AuthenticationError, 98, "Sign in required.", id="code98"
    ),
    pytest.param(
        200,
        err(99, "Bearer token is invalid."),
        AuthenticationError,
        99,
        "Bearer token is invalid.",
        id="code99",
    ),
    pytest.param(
        200, err(1, "There is no task yet."), NotFoundError, 1, "There is no task yet.", id="code1"
    ),
    pytest.param(
        404, err(0, "Error parsing url."), NotFoundError, 0, "Error parsing url.", id="http404"
    ),
    *[
        pytest.param(200, err(0, message), ValidationError, 0, message, id=f"validation-{i}")
        for i, message in enumerate(VALIDATION_MESSAGES)
    ],
    pytest.param(
        200, err(0, "Something went wrong."), APIError, 0, "Something went wrong.", id="code0-other"
    ),
    pytest.param(
        200,
        err(0, "Model is temporarily unavailable"),
        APIError,
        0,
        "Model is temporarily unavailable",
        id="code0-other2",
    ),
    pytest.param(
        200,
        err(96, "You have reached your concurrent task limit."),
        ConcurrencyLimitError,
        96,
        "You have reached your concurrent task limit.",
        id="code96",
    ),
    pytest.param(
        200,
        err(97, "Insufficient balance"),
        InsufficientBalanceError,
        97,
        "Insufficient balance",
        id="code97",
    ),
    pytest.param(
        500, err(0, "Internal error"), ServerError, 0, "Internal error", id="http500-json"
    ),
    pytest.param(502, "<html>bad gateway</html>", ServerError, 0, "Bad Gateway", id="http502-html"),
    pytest.param(503, "", ServerError, 0, "Service Unavailable", id="http503-empty"),
]


@pytest.mark.parametrize(("status", "body", "exc_type", "code", "message"), ERROR_CASES)
def test_error_mapping(
    rsps: responses.RequestsMock,
    status: int,
    body: dict[str, Any] | str,
    exc_type: type[APIError],
    code: int,
    message: str,
) -> None:
    if isinstance(body, dict):
        rsps.add(responses.POST, DETAIL_URL, json=body, status=status)
    else:
        rsps.add(responses.POST, DETAIL_URL, body=body, status=status)
    client = make_client(attempts=1)
    with pytest.raises(APIError) as info:
        client.detail(2221)
    exc = info.value
    assert type(exc) is exc_type
    assert isinstance(exc, WiroError)
    assert exc.code == code
    assert exc.status == status
    assert exc.message == message
    assert len(rsps.calls) == 1


def test_validation_error_is_not_raised_for_other_code0_messages(
    rsps: responses.RequestsMock,
) -> None:
    rsps.add(responses.POST, DETAIL_URL, json=err(0, "Database is on fire"))
    with pytest.raises(APIError) as info:
        make_client(attempts=1).detail(1)
    assert not isinstance(info.value, ValidationError)


def test_failed_envelope_without_errors_is_an_api_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, DETAIL_URL, json={"result": False, "errors": []})
    with pytest.raises(APIError) as info:
        make_client(attempts=1).detail(1)
    assert info.value.status == 200


def _http_date(epoch: float) -> str:
    return email.utils.formatdate(epoch, usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "low", "high"),
    [
        pytest.param("7", 7.0, 7.0, id="delta-seconds"),
        pytest.param("0", 0.0, 0.0, id="zero"),
        pytest.param("2.5", 2.5, 2.5, id="fractional"),
        pytest.param(None, None, None, id="absent"),
        pytest.param("soon-ish", None, None, id="garbage"),
        pytest.param("http-date+30", 28.0, 30.5, id="http-date-future"),
        pytest.param("http-date-300", 0.0, 0.0, id="http-date-past"),
    ],
)
def test_429_is_rate_limit_error_with_retry_after(
    rsps: responses.RequestsMock, retry_after: str | None, low: float | None, high: float | None
) -> None:
    headers: dict[str, str] = {}
    if retry_after is not None and retry_after.startswith("http-date"):
        offset = float(retry_after.removeprefix("http-date"))
        headers["Retry-After"] = _http_date(int(time.time()) + offset)
    elif retry_after is not None:
        headers["Retry-After"] = retry_after
    rsps.add(
        responses.POST, DETAIL_URL, json=err(0, "Too many requests"), status=429, headers=headers
    )
    with pytest.raises(RateLimitError) as info:
        make_client(attempts=1).detail(1)
    exc = info.value
    assert isinstance(exc, APIError) and isinstance(exc, WiroError)
    assert (exc.code, exc.status, exc.message) == (0, 429, "Too many requests")
    if low is None:
        assert exc.retry_after is None
    else:
        assert exc.retry_after is not None
        assert low <= exc.retry_after <= (high if high is not None else low)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("<html>maintenance</html>", id="html"),
        pytest.param("", id="empty"),
        pytest.param("[1, 2, 3]", id="json-list"),
    ],
)
def test_non_json_200_is_transport_error(rsps: responses.RequestsMock, body: str) -> None:
    rsps.add(responses.POST, DETAIL_URL, body=body, status=200)
    with pytest.raises(TransportError) as info:
        make_client(attempts=1).detail(1)
    assert isinstance(info.value, WiroError)
    assert not isinstance(info.value, APIError)


@pytest.mark.parametrize(
    ("body", "exc_type"),
    [
        (err(96, "You have reached your concurrent task limit."), ConcurrencyLimitError),
        (err(97, "Insufficient balance"), InsufficientBalanceError),
        (err(0, "Request files [inputImageFirst] required"), ValidationError),
        (err(99, "Bearer token is invalid."), AuthenticationError),
    ],
)
def test_run_refusals_are_typed_not_outcome_unknown(
    rsps: responses.RequestsMock, body: dict[str, Any], exc_type: type[APIError]
) -> None:
    rsps.add(responses.POST, RUN_URL, json=body)
    clock = FakeClock()
    with pytest.raises(APIError) as info:
        make_client(clock).run(IMAGE_URL, "a cat")
    assert type(info.value) is exc_type
    assert len(rsps.calls) == 1
    assert clock.sleeps == []


# ------------------------------------------------------------------ 2. retries

FLAKY_FAILURES: dict[str, dict[str, Any]] = {
    "http500": {"status": 500, "json": err(0, "boom")},
    "http502": {"status": 502, "body": "bad gateway"},
    "http503": {"status": 503, "body": ""},
    "http429-no-retry-after": {"status": 429, "json": err(0, "slow down")},
    "connection-reset": {"body": requests.ConnectionError("Connection aborted: reset by peer")},
    "read-timeout": {"body": requests.ReadTimeout("read timed out")},
    "connect-timeout": {"body": requests.ConnectTimeout("connect timed out")},
    "refused": {"body": never_sent_refused()},
    "non-json": {"status": 200, "body": "<html>proxy</html>"},
}


def _call_safe(client: Client, op: str) -> object:
    if op == "detail":
        return client.detail(2221)
    if op == "list":
        return client.list()
    client.delete_io("tok2221")
    return "deleted"


SAFE_OPS = {
    "detail": (DETAIL_URL, detail_body("task_start")),
    "list": (LIST_URL, ok(tasklist=[task_json("task_start")])),
    "delete_io": (DELETE_URL, ok()),
}


@pytest.mark.parametrize("op", list(SAFE_OPS))
@pytest.mark.parametrize("failure", list(FLAKY_FAILURES))
def test_safe_calls_are_retried_until_success(
    rsps: responses.RequestsMock, op: str, failure: str
) -> None:
    url, good = SAFE_OPS[op]
    rsps.add(responses.POST, url, **FLAKY_FAILURES[failure])
    rsps.add(responses.POST, url, **FLAKY_FAILURES[failure])
    rsps.add(responses.POST, url, json=good)
    clock = FakeClock()
    result = _call_safe(make_client(clock, attempts=4), op)
    assert len(rsps.calls) == 3
    assert len(clock.sleeps) == 2
    if op == "detail":
        assert isinstance(result, Task) and result.id == 2221
    elif op == "list":
        assert isinstance(result, list) and [t.id for t in result] == [2221]


def _full_jitter(seed: int, policy: RetryPolicy, retries: int) -> list[float]:
    rng = random.Random(seed)
    return [
        rng.uniform(0.0, min(policy.max_backoff, policy.backoff * 2.0**n)) for n in range(retries)
    ]


@pytest.mark.parametrize("op", ["detail", "list"])
def test_safe_calls_give_up_after_attempts_with_full_jitter(op: str) -> None:
    url = DETAIL_URL if op == "detail" else LIST_URL
    policy = RetryPolicy(attempts=5, backoff=0.5, max_backoff=1.5)

    def attempt(seed: int) -> list[float]:
        clock = FakeClock()
        client = make_client(clock, attempts=5, backoff=0.5, max_backoff=1.5, seed=seed)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for status in (503, 502, 500, 503, 504):
                mock.add(responses.POST, url, status=status, body="")
            mock.add(responses.POST, url, json=detail_body("task_start"))  # never reached
            with pytest.raises(ServerError) as info:
                _call_safe(client, op)
            assert len(mock.calls) == 5
        assert info.value.status == 504  # the last error, not the first
        return clock.sleeps

    sleeps = attempt(42)
    caps = [0.5, 1.0, 1.5, 1.5]  # min(max_backoff, backoff * 2**n)
    assert len(sleeps) == len(caps)
    for delay, cap in zip(sleeps, caps, strict=True):
        assert 0.0 <= delay <= cap
    assert sleeps == _full_jitter(42, policy, 4)  # uniform(0, cap): full jitter
    assert attempt(42) == sleeps  # reproducible with the same seed
    assert attempt(43) != sleeps  # and really drawn from the rng


def test_last_error_is_raised_after_transport_failures(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, LIST_URL, status=503, body="")
    rsps.add(responses.POST, LIST_URL, body=requests.ReadTimeout("read timed out"))
    clock = FakeClock()
    with pytest.raises(TransportError) as info:
        make_client(clock, attempts=2).list()
    assert "read timed out" in str(info.value)
    assert len(rsps.calls) == 2
    assert len(clock.sleeps) == 1


def test_429_retry_after_is_waited_exactly(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, DETAIL_URL, status=429, json=err(0, "x"), headers={"Retry-After": "3"})
    # longer than max_backoff: still waited exactly, it is the server's word
    rsps.add(
        responses.POST, DETAIL_URL, status=429, json=err(0, "x"), headers={"Retry-After": "12"}
    )
    rsps.add(responses.POST, DETAIL_URL, json=detail_body("task_start"))
    clock = FakeClock()
    task = make_client(clock, max_backoff=1.0).detail(2221)
    assert task.status is Status.START
    assert clock.sleeps == [3.0, 12.0]


def test_429_retry_after_beyond_max_retry_after_is_raised_not_slept(
    rsps: responses.RequestsMock,
) -> None:
    rsps.add(
        responses.POST, DETAIL_URL, status=429, json=err(0, "x"), headers={"Retry-After": "3600"}
    )
    rsps.add(responses.POST, DETAIL_URL, json=detail_body("task_start"))
    clock = FakeClock()
    with pytest.raises(RateLimitError) as info:
        make_client(clock).detail(2221)  # default max_retry_after is far below an hour
    assert info.value.retry_after == 3600.0
    assert clock.sleeps == []
    assert len(rsps.calls) == 1


def test_429_retry_after_http_date_is_waited(rsps: responses.RequestsMock) -> None:
    when = _http_date(int(time.time()) + 20)
    rsps.add(responses.POST, LIST_URL, status=429, json=err(0, "x"), headers={"Retry-After": when})
    rsps.add(responses.POST, LIST_URL, json=ok(tasklist=[]))
    clock = FakeClock()
    assert make_client(clock).list() == []
    assert len(clock.sleeps) == 1
    assert 18.0 <= clock.sleeps[0] <= 20.5


UNSAFE_OPS: dict[str, tuple[str, Any]] = {
    "run": (RUN_URL, run_body()),
    "cancel": (CANCEL_URL, seed_response("task_cancel_response")),
    "kill": (KILL_URL, seed_response("task_kill_response")),
    "create_folder": (FOLDER_URL, folder_body()),
    "upload": (UPLOAD_URL, upload_body()),
}


def _call_unsafe(client: Client, op: str) -> object:
    if op == "run":
        return client.run(IMAGE_URL, "a cat")
    if op == "cancel":
        return client.cancel(2221)
    if op == "kill":
        return client.kill(2221)
    if op == "create_folder":
        return client.create_folder("clips")
    return client.upload(b"zip-or-image-bytes")


UNSAFE_FAILURES: dict[str, dict[str, Any]] = {
    "http500": {"status": 500, "json": err(0, "boom")},
    "http503": {"status": 503, "body": ""},
    "http429": {"status": 429, "json": err(0, "slow"), "headers": {"Retry-After": "1"}},
    "read-timeout": {"body": requests.ReadTimeout("read timed out")},
    "connection-reset": {"body": requests.ConnectionError("Connection aborted: reset by peer")},
    "non-json": {"status": 200, "body": "<html>proxy</html>"},
}


@pytest.mark.parametrize("op", list(UNSAFE_OPS))
@pytest.mark.parametrize("failure", list(UNSAFE_FAILURES))
def test_unsafe_calls_are_not_retried(rsps: responses.RequestsMock, op: str, failure: str) -> None:
    url, good = UNSAFE_OPS[op]
    rsps.add(responses.POST, url, **UNSAFE_FAILURES[failure])
    rsps.add(responses.POST, url, json=good)  # a retry would succeed: it must not happen
    clock = FakeClock()
    with pytest.raises(WiroError) as info:
        _call_unsafe(make_client(clock, attempts=4), op)
    exc = info.value
    assert len(rsps.calls) == 1
    assert clock.sleeps == []
    if failure == "http429":
        assert type(exc) is RateLimitError
    elif op == "run":
        assert type(exc) is RunOutcomeUnknown
        assert isinstance(exc, TransportError)
    elif failure.startswith("http"):
        assert type(exc) is ServerError
    else:
        assert type(exc) is TransportError


def test_run_5xx_is_outcome_unknown_chained_to_the_server_error(
    rsps: responses.RequestsMock,
) -> None:
    rsps.add(responses.POST, RUN_URL, status=502, body="bad gateway")
    with pytest.raises(RunOutcomeUnknown) as info:
        make_client().run(IMAGE_URL, "a cat")
    assert isinstance(info.value, TransportError)
    cause = info.value.__cause__
    assert isinstance(cause, ServerError) and cause.status == 502
    assert "list()" in str(info.value)  # tells the user how to find a task that started


NEVER_SENT: dict[str, Callable[[], Exception]] = {
    "connect-timeout": lambda: requests.ConnectTimeout("connect timed out"),
    "new-connection-error": never_sent_refused,
    "connection-refused": lambda: requests.ConnectionError(ConnectionRefusedError(111, "refused")),
}


@pytest.mark.parametrize("kind", list(NEVER_SENT))
def test_run_is_retried_when_the_connection_never_happened(
    rsps: responses.RequestsMock, kind: str
) -> None:
    rsps.add(responses.POST, RUN_URL, body=NEVER_SENT[kind]())
    rsps.add(responses.POST, RUN_URL, json=run_body())
    rsps.add(responses.POST, RUN_URL, json={**run_body(), "taskid": "9999"})  # a second task
    clock = FakeClock()
    task = make_client(clock).run(IMAGE_URL, "a cat")
    assert task.id == 2221
    assert task.token == "eDcCm5yyUfIvMFspTwww49OUfgXkQt"
    assert task.status is Status.QUEUE
    assert len(rsps.calls) == 2  # one failed connect, one Run: exactly one task started
    assert len(clock.sleeps) == 1
    nonces = [header(c, "x-nonce") for c in rsps.calls]
    assert nonces[0] != nonces[1]


def test_run_never_sent_on_every_attempt_is_not_outcome_unknown(
    rsps: responses.RequestsMock,
) -> None:
    rsps.add(responses.POST, RUN_URL, body=requests.ConnectTimeout("connect timed out"))
    clock = FakeClock()
    with pytest.raises(TransportError) as info:
        make_client(clock, attempts=3).run(IMAGE_URL, "a cat")
    assert not isinstance(info.value, RunOutcomeUnknown)  # provably nothing started
    assert len(rsps.calls) == 3
    assert len(clock.sleeps) == 2


@pytest.mark.parametrize("op", ["cancel", "kill", "create_folder", "upload"])
def test_unsafe_calls_are_retried_when_never_sent(rsps: responses.RequestsMock, op: str) -> None:
    url, good = UNSAFE_OPS[op]
    rsps.add(responses.POST, url, body=never_sent_refused())
    rsps.add(responses.POST, url, json=good)
    _call_unsafe(make_client(), op)
    assert len(rsps.calls) == 2


# ------------------------------------------------------------------ 3. signing


def _assert_signed(call: Any, api_key: str = KEY, secret: str = SECRET) -> int:
    assert header(call, "x-api-key") == api_key
    nonce = header(call, "x-nonce")
    signature = header(call, "x-signature")
    assert nonce is not None and nonce.isdigit()
    assert signature is not None and HEX64.fullmatch(signature)
    assert signature == expected_signature(api_key, secret, nonce)
    return int(nonce)


def test_every_endpoint_is_signed_with_increasing_nonces(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    rsps.add(responses.POST, RUN_URL, json=run_body())
    rsps.add(responses.POST, DETAIL_URL, json=detail_body("task_start"))
    rsps.add(responses.POST, LIST_URL, json=ok(tasklist=[]))
    rsps.add(responses.POST, CANCEL_URL, json=seed_response("task_cancel_response"))
    rsps.add(responses.POST, KILL_URL, json=seed_response("task_kill_response"))
    rsps.add(responses.POST, DELETE_URL, json=ok())
    rsps.add(responses.POST, FOLDER_URL, json=folder_body())
    rsps.add(responses.POST, UPLOAD_URL, json=upload_body())
    client = make_client()
    client.run(image_bytes("landscape_16x9.jpg"), "a cat")
    client.detail(2221)
    client.list()
    client.cancel(2221)
    client.kill("tok2221")
    client.delete_io("tok2221")
    client.create_folder("clips")
    client.upload(image_path("square.webp"))
    assert len(rsps.calls) == 8
    nonces = [_assert_signed(call) for call in rsps.calls]
    assert all(a < b for a, b in itertools.pairwise(nonces))


def test_retries_carry_fresh_nonces(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, DETAIL_URL, status=503, body="")
    rsps.add(responses.POST, DETAIL_URL, status=503, body="")
    rsps.add(responses.POST, DETAIL_URL, json=detail_body("task_start"))
    make_client().detail(2221)
    nonces = [_assert_signed(call) for call in rsps.calls]
    assert len(nonces) == 3 and nonces == sorted(set(nonces))


def test_nonces_strictly_increase_across_threads(rsps: responses.RequestsMock) -> None:
    seen: list[tuple[int, int]] = []  # (thread id, nonce) in each thread's request order
    lock = threading.Lock()

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        nonce = str(request.headers["x-nonce"])
        signature = request.headers["x-signature"]
        assert signature == expected_signature(KEY, SECRET, nonce)
        with lock:
            seen.append((threading.get_ident(), int(nonce)))
        return 200, {}, json.dumps(detail_body("task_start"))

    rsps.add_callback(responses.POST, DETAIL_URL, callback=answer)
    client = make_client()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                client.detail(2221)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(rsps.calls) == len(seen) == 200
    nonces = [nonce for _, nonce in seen]
    assert len(set(nonces)) == 200  # never reused, even concurrently
    for ident in {ident for ident, _ in seen}:
        mine = [nonce for who, nonce in seen if who == ident]
        assert all(a < b for a, b in itertools.pairwise(mine))
    rsps.add(responses.POST, LIST_URL, json=ok(tasklist=[]))
    client.list()
    assert _assert_signed(rsps.calls[-1]) > max(nonces)


def test_api_key_only_mode_sends_only_the_key(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, RUN_URL, json=run_body())
    rsps.add(responses.POST, DETAIL_URL, json=detail_body("task_start"))
    rsps.add(responses.POST, UPLOAD_URL, json=upload_body())
    client = make_client(secret="")
    assert client.api_secret is None
    client.run(IMAGE_URL)
    client.detail(2221)
    client.upload(b"data")
    assert len(rsps.calls) == 3
    for call in rsps.calls:
        assert header(call, "x-api-key") == KEY
        assert header(call, "x-nonce") is None
        assert header(call, "x-signature") is None


@pytest.mark.parametrize("vector", signature_vectors(), ids=lambda v: v.nonce + v.api_key[:6])
def test_golden_vectors_on_the_wire(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, vector: SignatureVector
) -> None:
    assert sign(vector.api_key, vector.api_secret, vector.nonce) == vector.signature
    client = make_client(api_key=vector.api_key, secret=vector.api_secret)
    monkeypatch.setattr(client._nonces, "next", lambda: vector.nonce)
    rsps.add(responses.POST, DETAIL_URL, json=detail_body("task_start"))
    client.detail(2221)
    call = rsps.calls[0]
    assert header(call, "x-api-key") == vector.api_key
    assert header(call, "x-nonce") == vector.nonce
    assert header(call, "x-signature") == vector.signature


# ------------------------------------------------------------------ 4. wait (polling)


def _queue_details(rsps: responses.RequestsMock, *steps: dict[str, Any] | int) -> None:
    """Register Task/Detail answers in order: a body, or an HTTP status for an error."""
    for step in steps:
        if isinstance(step, int):
            rsps.add(responses.POST, DETAIL_URL, status=step, json=err(0, f"HTTP {step}"))
        else:
            rsps.add(responses.POST, DETAIL_URL, json=step)


def test_wait_poll_follows_the_lifecycle_to_success(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    statuses = [
        "task_queue",
        "task_queue",
        "task_accept",
        "task_start",
        "task_end",  # not terminal: polling goes on
        "task_end",
        "task_postprocess_start",
    ]
    _queue_details(
        rsps,
        *(detail_body(s) for s in statuses),
        detail_body("task_postprocess_end", pexit="0"),
    )
    events: list[Event] = []
    done = make_client(clock).wait(2221, timeout=600, via="poll", on_event=events.append)
    assert done.succeeded and done.terminal
    assert done.status is Status.POSTPROCESS_END and done.pexit == 0
    assert done.id == 2221 and done.video is not None
    assert len(rsps.calls) == 8
    assert all(body_json(c) == {"taskid": "2221"} for c in rsps.calls)
    # exponential backoff from poll_interval, capped at 10 s
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0]
    assert [e.status for e in events] == [
        Status.QUEUE,
        Status.ACCEPT,
        Status.START,
        Status.END,
        Status.POSTPROCESS_START,
        Status.POSTPROCESS_END,
    ]
    assert all(e.source == "poll" and e.task_id == 2221 for e in events)


def test_wait_poll_reports_a_repeated_task_output_status_once(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    """Polling sees the same task_output snapshot many times; it is one status change."""
    _queue_details(
        rsps,
        detail_body("task_start"),
        detail_body("task_output"),
        detail_body("task_output"),
        detail_body("task_output"),
        detail_body("task_end"),
        detail_body("task_postprocess_end", pexit="0"),
    )
    events: list[Event] = []
    make_client(clock).wait(2221, via="poll", on_event=events.append)
    assert [e.status for e in events] == [
        Status.START,
        Status.OUTPUT,
        Status.END,
        Status.POSTPROCESS_END,
    ]


def test_wait_poll_task_end_alone_is_not_terminal(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    _queue_details(rsps, detail_body("task_end"))
    with pytest.raises(WaitTimeout) as info:
        make_client(clock).wait(2221, timeout=20, via="poll")
    assert info.value.task is not None and info.value.task.status is Status.END
    assert len(rsps.calls) > 1


def test_wait_poll_failure_raises_task_failed(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    _queue_details(
        rsps,
        detail_body("task_start"),
        detail_body(
            "task_postprocess_end", pexit="1", debugerror="image aspect ratio 3.0 out of range"
        ),
    )
    with pytest.raises(TaskFailed) as info:
        make_client(clock).wait(2221, via="poll")
    exc = info.value
    assert isinstance(exc, TaskError) and isinstance(exc, WiroError)
    assert exc.debugerror == "image aspect ratio 3.0 out of range"
    assert exc.pexit == 1
    assert exc.task.failed and not exc.task.succeeded and exc.task.id == 2221


def test_wait_poll_cancel_raises_task_cancelled(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    _queue_details(rsps, detail_body("task_queue"), detail_body("task_cancel"))
    events: list[Event] = []
    with pytest.raises(TaskCancelled) as info:
        make_client(clock).wait("tok2221", via="poll", on_event=events.append)
    assert info.value.task.cancelled
    assert [e.status for e in events] == [Status.QUEUE, Status.CANCEL]
    assert body_json(rsps.calls[0]) == {"tasktoken": "tok2221"}


def test_wait_poll_timeout_carries_the_last_snapshot(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    _queue_details(rsps, detail_body("task_queue"), detail_body("task_start"))
    start = clock.now
    with pytest.raises(WaitTimeout) as info:
        make_client(clock).wait(2221, timeout=40, via="poll")
    exc = info.value
    assert isinstance(exc, WiroError)
    assert exc.task is not None
    assert exc.task.status is Status.START and exc.task.id == 2221
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 5.0]
    assert clock.now - start == 40.0  # never sleeps past the deadline


def test_wait_poll_retry_after_beyond_deadline_times_out_at_once(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    _queue_details(rsps, detail_body("task_queue"))
    rsps.add(
        responses.POST, DETAIL_URL, status=429, json=err(0, "slow"), headers={"Retry-After": "120"}
    )
    start = clock.now
    with pytest.raises(WaitTimeout) as info:
        make_client(clock).wait(2221, timeout=30, via="poll")
    assert clock.sleeps == [1.0]  # the normal poll interval, then no sleep for the 429
    assert clock.now - start <= 30
    assert info.value.task is not None and info.value.task.status is Status.QUEUE
    assert len(rsps.calls) == 2


def test_wait_poll_retry_after_within_deadline_is_waited_exactly(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    rsps.add(responses.POST, DETAIL_URL, status=429, json=err(0, "x"), headers={"Retry-After": "7"})
    _queue_details(rsps, detail_body("task_postprocess_end", pexit="0"))
    assert make_client(clock).wait(2221, timeout=30, via="poll").succeeded
    assert clock.sleeps == [7.0]


def test_wait_poll_retries_server_and_transport_errors(
    rsps: responses.RequestsMock, clock: FakeClock
) -> None:
    _queue_details(rsps, detail_body("task_start"), 503, 500)
    rsps.add(responses.POST, DETAIL_URL, body=requests.ConnectionError("reset by peer"))
    rsps.add(responses.POST, DETAIL_URL, body="<html>proxy</html>")
    _queue_details(rsps, detail_body("task_postprocess_end", pexit="0"))
    done = make_client(clock, attempts=1).wait(2221, timeout=600, via="poll")
    assert done.succeeded
    assert len(rsps.calls) == 6
    assert len(clock.sleeps) == 5


@pytest.mark.parametrize(
    ("status", "body", "exc_type"),
    [
        (401, err(0, "Project authorization is not valid."), AuthenticationError),
        (200, err(1, "There is no task yet."), NotFoundError),
    ],
)
def test_wait_poll_client_errors_propagate_at_once(
    rsps: responses.RequestsMock,
    clock: FakeClock,
    status: int,
    body: dict[str, Any],
    exc_type: type[APIError],
) -> None:
    _queue_details(rsps, detail_body("task_start"))
    rsps.add(responses.POST, DETAIL_URL, status=status, json=body)
    _queue_details(rsps, detail_body("task_postprocess_end", pexit="0"))
    with pytest.raises(exc_type):
        make_client(clock).wait(2221, timeout=600, via="poll")
    assert len(rsps.calls) == 2
    assert clock.sleeps == [1.0]  # no sleep (nor retry) after the refusal


def test_wait_rejects_an_unknown_via() -> None:
    with pytest.raises(InvalidInput):
        make_client().wait(2221, via="carrier-pigeon")  # type: ignore[arg-type]


# ------------------------------------------------------------------ 5. models


def test_task_from_seed_detail() -> None:
    data = seed_response("task_detail_response")["tasklist"][0]
    task = Task.from_api(data)
    assert task.id == 534574 and isinstance(task.id, int)
    assert task.token == "eDcCm5yyUfIvMFspTwww49OUfgXkQt"
    assert task.status is Status.POSTPROCESS_END and task.raw_status == "task_postprocess_end"
    assert task.pexit == 0
    assert task.totalcost == Decimal("0.003510000000")
    assert isinstance(task.totalcost, Decimal) and str(task.totalcost) == "0.003510000000"
    assert task.cps == Decimal("0.000585000000")
    assert task.elapsedseconds == Decimal("6.0000")
    assert task.projectid == 699 and task.modelid == 598
    assert task.categories == ("tool", "image-to-image", "quick-showcase", "compare-landscape")
    assert task.createtime == datetime(2024, 12, 18, 9, 23, 27, tzinfo=UTC)
    assert task.starttime == datetime.fromtimestamp(1734513809, UTC)
    assert task.endtime == datetime.fromtimestamp(1734513813, UTC)
    for moment in (task.createtime, task.starttime, task.endtime):
        assert moment is not None and moment.utcoffset() is not None
        assert moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert task.canceltime is None
    assert len(task.outputs) == 1
    output = task.outputs[0]
    assert output.size == 202472 and isinstance(output.size, int)
    assert output.name == "0.png" and output.contenttype == "image/png"
    assert output.url.startswith("https://cdn1.wiro.ai/")
    assert task.video == output
    assert task.parameters["inputImage"].endswith("inputImage-6060136.png")
    assert task.raw["runtype"] == "model"
    assert task.succeeded and task.terminal
    assert not task.failed and not task.cancelled


def test_task_states() -> None:
    failed = Task.from_api(task_json("task_postprocess_end", pexit="1", debugerror="bad image"))
    assert failed.failed and failed.terminal and not failed.succeeded and not failed.cancelled
    assert failed.debugerror == "bad image" and failed.video is None

    cancelled = Task.from_api(seed_response("task_cancel_response")["tasklist"][0])
    assert cancelled.cancelled and cancelled.terminal
    assert not cancelled.succeeded and not cancelled.failed

    for status in ("task_queue", "task_start", "task_output", "task_end"):
        running = Task.from_api(task_json(status))
        assert not running.terminal and not running.succeeded
        assert not running.failed and not running.cancelled
        assert running.pexit is None


def test_unknown_status_is_kept_raw() -> None:
    task = Task.from_api(task_json("task_quantum_superposition"))
    assert task.status is Status.UNKNOWN
    assert task.raw_status == "task_quantum_superposition"
    assert not task.terminal and not task.succeeded


def test_unbound_task_shortcuts_raise() -> None:
    task = Task.from_api(task_json("task_start"))
    with pytest.raises(RuntimeError):
        task.refresh()


PROGRESS = {
    "type": "progressGenerate",
    "task": "Generate",
    "percentage": "60",
    "stepCurrent": "6",
    "stepTotal": "10",
    "speed": "1.2",
    "speedType": "it/s",
    "elapsedTime": "5s",
    "remainingTime": "3s",
}


def test_progress_from_dict_and_json_string() -> None:
    progress = Progress.from_message(PROGRESS)
    assert progress == Progress(
        percentage=60.0,
        step_current=6,
        step_total=10,
        task="Generate",
        speed="1.2 it/s",
        elapsed="5s",
        remaining="3s",
    )
    assert Progress.from_message(json.dumps(PROGRESS)) == progress


@pytest.mark.parametrize(
    "message", ["Loading model weights...", "", None, ["a"], {"no": "percentage"}, "{not json"]
)
def test_progress_from_other_messages_is_none(message: object) -> None:
    assert Progress.from_message(message) is None


def test_event_from_frames() -> None:
    progress = Event.from_frame(
        {"type": "task_output", "id": "2221", "tasktoken": "t", "message": PROGRESS, "result": True}
    )
    assert progress.status is Status.OUTPUT and progress.task_id == 2221
    assert progress.source == "socket" and progress.raw_type == "task_output"
    assert progress.progress is not None and progress.progress.percentage == 60.0

    encoded = Event.from_frame(
        {"type": "task_output", "id": "2221", "message": json.dumps(PROGRESS)}
    )
    assert encoded.progress == progress.progress

    line = Event.from_frame({"type": "task_output", "id": "2221", "message": "Loading model"})
    assert line.progress is None and line.message == "Loading model"

    stderr = Event.from_frame({"type": "task_error", "id": "2221", "message": "warning: x"})
    assert stderr.status is Status.ERROR and stderr.progress is None
    assert stderr.message == "warning: x"

    outputs = [{"name": "0.mp4", "url": CDN_URL}]
    end = Event.from_frame({"type": "task_postprocess_end", "id": "2221", "message": outputs})
    assert end.status is Status.POSTPROCESS_END and end.status.terminal
    assert end.message == outputs and end.progress is None

    odd = Event.from_frame({"type": "task_teleport", "id": "x"})
    assert odd.status is Status.UNKNOWN and odd.raw_type == "task_teleport" and odd.task_id == 0


# ------------------------------------------------------------------ 6. local checks


@pytest.mark.parametrize(
    ("resolution", "duration", "prompt"),
    [
        ("1080P", 10, ""),
        ("720P", 6, ""),
        ("1080p", 6, ""),
        ("768P", 8, ""),
        ("768P", 0, ""),
        ("768P", True, ""),
        ("768P", 6, "x" * 2001),
    ],
)
def test_check_options_rejects(resolution: str, duration: int, prompt: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_options(resolution, duration, prompt)
    assert isinstance(info.value, ValueError) and isinstance(info.value, WiroError)


@pytest.mark.parametrize(
    ("resolution", "duration", "prompt"),
    [("768P", 6, ""), ("768P", 10, "waves"), ("1080P", 6, "x" * 2000)],
)
def test_check_options_accepts(resolution: str, duration: int, prompt: str) -> None:
    check_options(resolution, duration, prompt)


@pytest.mark.parametrize("name", VALID_IMAGES)
def test_check_image_accepts_valid_fixtures(name: str) -> None:
    report = check_image(image_bytes(name), name)
    assert (report.width, report.height) == IMAGE_SIZES[name]
    assert report.format in ("JPEG", "PNG", "WEBP")


@pytest.mark.parametrize("name", sorted(INVALID_IMAGES))
def test_check_image_rejects_invalid_fixtures(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_image(image_bytes(name), name)
    assert isinstance(info.value, ValueError)
    assert name in str(info.value)


def test_check_image_size_limit() -> None:
    valid = image_bytes("landscape_16x9.jpg")
    just_under = valid + b"\0" * (IMAGE_MAX_BYTES - 1 - len(valid))
    assert check_image(just_under).width == 1280
    with pytest.raises(InvalidInput, match="20 MB"):
        check_image(just_under + b"\0")


@pytest.mark.parametrize("name", sorted(INVALID_IMAGES))
def test_run_with_an_invalid_image_sends_nothing(rsps: responses.RequestsMock, name: str) -> None:
    rsps.add(responses.POST, RUN_URL, json=run_body())
    with pytest.raises(InvalidInput):
        make_client().run(image_bytes(name), "a cat")
    assert len(rsps.calls) == 0


@pytest.mark.parametrize(
    "options",
    [
        {"resolution": "1080P", "duration": 10},
        {"resolution": "4K"},
        {"duration": 7},
        {"prompt": "p" * 2001},
    ],
)
def test_run_with_invalid_options_sends_nothing(
    rsps: responses.RequestsMock, options: dict[str, Any]
) -> None:
    rsps.add(responses.POST, RUN_URL, json=run_body())
    client = make_client()
    with pytest.raises(InvalidInput):
        client.run(image_bytes("landscape_16x9.jpg"), **options)
    with pytest.raises(InvalidInput):
        client.run(IMAGE_URL, **options)  # options are checked for URL images too
    assert len(rsps.calls) == 0


def test_run_with_an_unreadable_path_sends_nothing(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput):
        make_client().run(tmp_path / "missing.jpg")
    assert len(rsps.calls) == 0


def test_run_without_checks_sends_anyway(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, RUN_URL, json=run_body())
    client = make_client()
    task = client.run(
        image_bytes("too_wide_3x1.jpg"), "p", resolution="1080P", duration=10, check=False
    )
    assert task.id == 2221 and task.status is Status.QUEUE
    assert len(rsps.calls) == 1
    body = body_bytes(rsps.calls[0])
    assert b'name="inputImageFirst"' in body
    assert image_bytes("too_wide_3x1.jpg") in body
    assert b"1080P" in body


def test_run_sends_the_seed_fields(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, RUN_URL, json=run_body())
    rsps.add(responses.POST, RUN_URL, json=run_body())
    client = make_client()
    with open(image_path("square.webp"), "rb") as handle:
        client.run(handle, "waves", prompt_optimizer=False, duration=10)
    body = body_bytes(rsps.calls[0])
    assert b'name="inputImageFirst"; filename="square.webp"' in body
    for name, value in [
        ("prompt", b"waves"),
        ("promptOptimizer", b"false"),
        ("resolution", b"768P"),
        ("duration", b"10"),
    ]:
        assert re.search(rb'name="' + name.encode() + rb'"\r\n\r\n' + value + rb"\r\n", body)

    client.run(IMAGE_URL, "waves")
    form = str(rsps.calls[1].request.body)
    assert "inputImageFirstUrl=https%3A%2F%2Fimages.test%2Fcat.jpg" in form


# ------------------------------------------------------------------ 7. downloads


def _output(size: int = 1000) -> Output:
    return Output(url=CDN_URL, name="clip.mp4", size=size, contenttype="video/mp4")


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_download_output_writes_the_file_without_credentials(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    payload = bytes(range(256)) * 4
    rsps.add(responses.GET, CDN_URL, body=payload, content_type="video/mp4")
    path = make_client().download(_output(len(payload)), tmp_path)
    assert path == tmp_path / "clip.mp4"
    assert path.read_bytes() == payload
    assert _listing(tmp_path) == ["clip.mp4"]
    assert len(rsps.calls) == 1
    headers = rsps.calls[0].request.headers
    for name in ("x-api-key", "x-nonce", "x-signature"):
        assert name not in headers


def test_download_task_names_the_file_after_the_task(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    payload = b"\x00\x00\x00\x18ftypmp42" + b"v" * 100
    data = task_json("task_postprocess_end", pexit="0")
    data["outputs"] = [
        {"name": "0.mp4", "url": CDN_URL, "size": str(len(payload)), "contenttype": "video/mp4"}
    ]
    task = Task.from_api(data, make_client())
    rsps.add(responses.GET, CDN_URL, body=payload)
    path = task.download(tmp_path)
    assert path == tmp_path / "hailuo-2221.mp4"
    assert path.read_bytes() == payload


def test_download_of_a_task_without_output_is_refused(rsps: responses.RequestsMock) -> None:
    with pytest.raises(InvalidInput):
        make_client().download(Task.from_api(task_json("task_start")))
    assert len(rsps.calls) == 0


@pytest.mark.parametrize("actual", [999, 1001, 0, 5000])
def test_download_size_mismatch_leaves_nothing(
    rsps: responses.RequestsMock, tmp_path: Path, actual: int
) -> None:
    rsps.add(responses.GET, CDN_URL, body=b"v" * actual)
    with pytest.raises(DownloadError):
        make_client(attempts=2).download(_output(1000), tmp_path)
    assert _listing(tmp_path) == []  # neither the file nor a .part temp file


def test_download_to_an_explicit_path_size_mismatch_keeps_an_old_file(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"old")
    rsps.add(responses.GET, CDN_URL, body=b"v" * 10)
    with pytest.raises(DownloadError):
        make_client(attempts=1).download(_output(1000), target)
    assert _listing(tmp_path) == ["keep.mp4"] and target.read_bytes() == b"old"


def test_download_content_length_mismatch_without_known_size(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    rsps.add(responses.GET, CDN_URL, body=b"v" * 10, headers={"Content-Length": "50"})
    with pytest.raises(DownloadError):
        make_client(attempts=1).download(CDN_URL, tmp_path)
    assert _listing(tmp_path) == []


def test_download_5xx_then_200_is_retried(rsps: responses.RequestsMock, tmp_path: Path) -> None:
    payload = b"m" * 1000
    rsps.add(responses.GET, CDN_URL, status=500, body="oops")
    rsps.add(responses.GET, CDN_URL, status=503, body="")
    rsps.add(responses.GET, CDN_URL, body=payload)
    clock = FakeClock()
    path = make_client(clock).download(_output(1000), tmp_path)
    assert path.read_bytes() == payload
    assert len(rsps.calls) == 3 and len(clock.sleeps) == 2
    assert _listing(tmp_path) == ["clip.mp4"]


def test_download_404_is_not_retried(rsps: responses.RequestsMock, tmp_path: Path) -> None:
    rsps.add(responses.GET, CDN_URL, status=404, body="gone")
    with pytest.raises(NotFoundError) as info:
        make_client().download(_output(), tmp_path)
    assert info.value.status == 404
    assert len(rsps.calls) == 1
    assert _listing(tmp_path) == []


def test_download_429_is_retried_after_retry_after(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    """The module docstring lists downloads among the safe calls retried on 429."""
    payload = b"m" * 1000
    rsps.add(responses.GET, CDN_URL, status=429, body="slow down", headers={"Retry-After": "2"})
    rsps.add(responses.GET, CDN_URL, body=payload)
    clock = FakeClock()
    path = make_client(clock).download(_output(1000), tmp_path)
    assert path.read_bytes() == payload
    assert clock.sleeps == [2.0]


def test_download_gzip_encoded_body_is_accepted(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    """Content-Length counts the encoded bytes; requests hands over decoded ones."""
    payload = b"m" * 1000
    encoded = gzip.compress(payload)
    rsps.add(
        responses.GET,
        CDN_URL,
        body=encoded,
        headers={"Content-Encoding": "gzip", "Content-Length": str(len(encoded))},
    )
    path = make_client(attempts=1).download(_output(1000), tmp_path)
    assert path.read_bytes() == payload


def test_download_broken_connection_is_download_error(
    rsps: responses.RequestsMock, tmp_path: Path
) -> None:
    rsps.add(responses.GET, CDN_URL, body=requests.ConnectionError("reset by peer"))
    with pytest.raises(DownloadError):
        make_client(attempts=2).download(_output(), tmp_path)
    assert len(rsps.calls) == 2
    assert _listing(tmp_path) == []


# ------------------------------------------------------------------ 8. files


def test_create_folder_parses_the_list(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, FOLDER_URL, json=folder_body())
    folder = make_client().create_folder("clips", parent_id="root9")
    assert isinstance(folder, File)
    assert (folder.id, folder.name, folder.parentid, folder.size) == ("fold1", "clips", "root9", 0)
    assert body_json(rsps.calls[0]) == {"name": "clips", "parentid": "root9"}


def test_create_folder_without_parent_sends_only_the_name(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, FOLDER_URL, json=folder_body())
    make_client().create_folder("clips")
    assert body_json(rsps.calls[0]) == {"name": "clips"}


def test_create_folder_with_an_empty_list_is_an_error(rsps: responses.RequestsMock) -> None:
    rsps.add(responses.POST, FOLDER_URL, json=ok(list=[]))
    with pytest.raises(APIError):
        make_client().create_folder("clips")


def test_upload_sends_the_file_field_and_parses_the_list(
    rsps: responses.RequestsMock,
) -> None:
    rsps.add(responses.POST, UPLOAD_URL, json=upload_body())
    content = image_bytes("landscape_16x9.jpg")
    files = make_client().upload(image_path("landscape_16x9.jpg"), folder_id="fold1")
    assert files == [
        File(
            id="file7",
            name="cat.jpg",
            url="https://cdn.test/files/cat.jpg",
            size=12345,
            contenttype="image/jpeg",
            parentid="fold1",
        )
    ]
    assert files[0].raw["accesskey"] == "ak"
    request = rsps.calls[0].request
    assert str(request.headers["Content-Type"]).startswith("multipart/form-data")
    body = body_bytes(rsps.calls[0])
    assert b'name="file"; filename="landscape_16x9.jpg"' in body
    assert content in body
    assert re.search(rb'name="folderid"\r\n\r\nfold1\r\n', body)


def test_upload_of_bytes_has_a_default_name_and_no_folder(rsps: responses.RequestsMock) -> None:
    rsps.add(
        responses.POST,
        UPLOAD_URL,
        json=ok(list=[{"id": "a", "name": "x.png"}, {"id": "b", "name": "y.png"}]),
    )
    files = make_client().upload(b"PK\x03\x04zip")
    assert [f.id for f in files] == ["a", "b"]  # a ZIP is extracted: several files
    body = body_bytes(rsps.calls[0])
    assert b'name="file"; filename="upload.bin"' in body
    assert b"PK\x03\x04zip" in body
    assert b'name="folderid"' not in body
