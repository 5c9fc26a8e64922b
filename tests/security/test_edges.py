"""Issue 18, hole 8: the smaller edges, over real HTTP against a real ``mock-wiro serve``.

- a correctly signed UTF-8 nonce verifies (``HEADER_CHARSETS``: the signature is checked
  over the bytes the client sent, as the API key already was);
- ``/_mock/projects`` (and ``create_project`` from Python) refuses an API key that could
  never authenticate: CR, LF, a space at either end (``CREDENTIAL_RULE``), and keeps
  one that can (inner spaces, non-ASCII);
- the used-nonce memory of ``--reject-reused-nonces`` is bounded (``NONCE_WINDOW``), and a
  recent nonce is still refused;
- parallel Runs above $250 never take a balance below the documented floor
  (``BALANCE_POLICY = "reserve"``: an unfinished task holds its price).

The server runs a manual clock: nothing finishes until a test advances it, and the
``/_mock`` wait endpoints say when a task has ended, so no test sleeps.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
import requests

from mock_wiro.engine.backend import Backend
from mock_wiro.errors import AuthError, ValidationError
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import (
    BALANCE_POLICY,
    MINIMUM_BALANCE_USD,
    NONCE_WINDOW,
    PRICE_TABLE_USD,
    Settings,
)
from tests.helpers.serve import Served, start_serve

RUN = "Run/minimax/hailuo-2-3-fast"
NOT_VALID = "Project authorization is not valid."
NO_TASK = "There is no task yet."
_nonces = itertools.count(int(time.time() * 1000))


def sign(key: str, secret: str, message_nonce: bytes) -> str:
    """HMAC-SHA256(key = API key, message = secret + nonce) over the given nonce bytes."""
    return hmac.new(key.encode(), secret.encode() + message_nonce, hashlib.sha256).hexdigest()


class Api:
    """Signed requests to one project of the served fake; header values go out as the
    exact bytes given (as curl sends them)."""

    def __init__(self, served: Served, project: dict[str, Any]) -> None:
        self.rest = served.rest
        self.key: str = project["api_key"]
        self.secret: str = project["api_secret"]
        self.session = requests.Session()

    def headers(self, nonce: bytes | None = None) -> dict[str, bytes]:
        nonce = nonce if nonce is not None else str(next(_nonces)).encode()
        return {
            "x-api-key": self.key.encode("utf-8"),
            "x-nonce": nonce,
            "x-signature": sign(self.key, self.secret, nonce).encode(),
        }

    def post(self, path: str, headers: dict[str, bytes] | None = None, **kw: Any) -> Any:
        return self.session.post(
            f"{self.rest}/{path}", headers=headers or self.headers(), timeout=30, **kw
        )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One ``mock-wiro serve`` for the module: manual clock, reused nonces refused."""
    server = start_serve(
        tmp_path_factory.mktemp("edges"), "--clock", "manual", "--reject-reused-nonces"
    )
    try:
        yield server
    finally:
        assert server.stop() == 0, server.stderr()


def control(served: Served, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(method, served.control + path, timeout=60, **kw)


def new_project(served: Served, **fields: Any) -> dict[str, Any]:
    made = control(served, "POST", "/projects", json=fields)
    assert made.status_code == 201, made.text
    project: dict[str, Any] = made.json()
    return project


def assert_accepted(response: requests.Response) -> None:
    """Auth passed: Task/Detail of an unknown task is code 1."""
    assert response.status_code == 200, response.text
    assert response.json() == {"result": False, "errors": [{"code": 1, "message": NO_TASK}]}


def assert_not_valid(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"result": False, "errors": [{"code": 0, "message": NOT_VALID}]}


# ------------------------------------------------------------------ the UTF-8 nonce
def test_utf8_nonce_is_verified_over_the_bytes_sent(served: Served) -> None:
    """A nonce sent as UTF-8 bytes and signed over those bytes is accepted (it was a 401:
    the fake signed the latin-1 mojibake); the text a latin-1 client meant still works;
    a wrong signature, or the same nonce again (reuse refused), is not valid."""
    api = Api(served, new_project(served))
    utf8 = f"{next(_nonces)}-é✓".encode()
    assert_accepted(api.post("Task/Detail", api.headers(utf8), json={"taskid": "1"}))
    # the same nonce again: refused as reused (it was recorded as the text signed)
    assert_not_valid(api.post("Task/Detail", api.headers(utf8), json={"taskid": "1"}))
    # a latin-1 client (Python's http.client sends "é" as one byte) signing the UTF-8 text
    text = f"{next(_nonces)}é"
    latin1 = {
        "x-api-key": api.key.encode(),
        "x-nonce": text.encode("latin-1"),
        "x-signature": sign(api.key, api.secret, text.encode("utf-8")).encode(),
    }
    assert_accepted(api.post("Task/Detail", latin1, json={"taskid": "1"}))
    # a signature over other bytes is not valid
    other = f"{next(_nonces)}-é".encode()
    wrong = {**api.headers(other), "x-signature": sign(api.key, api.secret, b"1").encode()}
    assert_not_valid(api.post("Task/Detail", wrong, json={"taskid": "1"}))
    # twenty requests later, the UTF-8 nonce is still within the window: refused
    for _ in range(20):
        assert_accepted(api.post("Task/Detail", json={"taskid": "1"}))
    assert_not_valid(api.post("Task/Detail", api.headers(utf8), json={"taskid": "1"}))


# ------------------------------------------------------------------ keys that can't authenticate
NEVER_AUTHENTICATE = {
    "crlf": "key\r\nx-evil: 1",
    "lf": "key\n",
    "cr": "\rkey",
    "leading-space": " key",
    "trailing-space": "key ",
    "tab": "ke\ty",
    "nul": "ke\x00y",
    "only-spaces": "   ",
    "line-separator": "ke\u2028y",
    "too-long": "k" * 257,
}


@pytest.mark.parametrize("key", NEVER_AUTHENTICATE.values(), ids=NEVER_AUTHENTICATE.keys())
def test_control_refuses_a_key_that_could_never_authenticate(served: Served, key: str) -> None:
    made = control(served, "POST", "/projects", json={"api_key": key})
    assert made.status_code == 400, made.text
    error = made.json()["error"]
    assert error.startswith("api_key must be printable characters (no CR, LF"), error
    listed = control(served, "GET", "/projects").json()["projects"]
    assert key not in [p["api_key"] for p in listed]


def test_control_refuses_a_secret_utf8_cannot_encode(served: Served) -> None:
    made = control(
        served,
        "POST",
        "/projects",
        data='{"api_secret": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert made.status_code == 400, made.text
    assert made.json()["error"].startswith("api_secret must be 1 to 256 characters"), made.text


def test_python_create_project_refuses_them_too() -> None:
    """MockWiroServer.create_project refuses what /_mock/projects does, and keeps what
    authenticates: inner spaces and non-ASCII (tests/http/test_auth.py signs with such a
    key over HTTP)."""
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        for key in ("a\r\nb", " a", "a\n"):
            with pytest.raises(ValidationError, match="api_key must be printable"):
                server.backend.create_project(key)
        assert server.backend.projects() == []
        assert server.backend.create_project("clé publique ✓").api_key == "clé publique ✓"


# ------------------------------------------------------------------ the nonce window
def test_used_nonces_stay_within_the_window() -> None:
    """NONCE_WINDOW + 500 distinct nonces (some 4 KB long) leave at most NONCE_WINDOW
    fixed-size digests; a recent nonce is still refused, one pushed out of the window is
    forgotten (documented)."""
    backend = Backend(Settings(clock_mode="manual", reject_reused_nonce=True), workers=1)
    try:
        project = backend.create_project("edge-key", "edge-secret")
        nonces = [f"{i}" + ("x" * 4096 if i % 100 == 0 else "") for i in range(NONCE_WINDOW + 500)]
        for nonce in nonces:
            signature = sign(project.api_key, project.api_secret, nonce.encode())
            backend.authenticate(project.api_key, nonce, signature)
        assert len(project.used_nonces) <= NONCE_WINDOW
        assert {len(digest) for digest in project.used_nonces} == {16}
        recent = nonces[-1]
        with pytest.raises(AuthError, match="not valid"):
            backend.authenticate(
                project.api_key, recent, sign(project.api_key, project.api_secret, recent.encode())
            )
        first = nonces[0]  # NONCE_WINDOW + 500 nonces ago: forgotten, accepted again
        backend.authenticate(
            project.api_key, first, sign(project.api_key, project.api_secret, first.encode())
        )
        assert len(project.used_nonces) <= NONCE_WINDOW
    finally:
        backend.close()


# ------------------------------------------------------------------ parallel Runs and the balance
HD = {"inputImageFirstUrl": "https://example.com/a.jpg", "prompt": "p", "resolution": "1080P"}
HD_PRICE = PRICE_TABLE_USD[("1080P", "6")]
START = Decimal("250.01")
# Under "reserve", Run is admitted while balance - reserved >= MINIMUM_BALANCE_USD.
ADMITTED = int((START - MINIMUM_BALANCE_USD) / HD_PRICE) + 1  # 757
FLOOR = MINIMUM_BALANCE_USD - max(PRICE_TABLE_USD.values())  # $0.17: never negative
BURST = 800  # > 250.01 / 0.33 = 757.6: enough Runs to overdraw the balance without a reserve


def _run(api: Api) -> dict[str, Any]:
    made = api.post(RUN, json=HD)
    assert made.status_code == 200, made.text
    body: dict[str, Any] = made.json()
    return body


def _balance(served: Served, key: str) -> Decimal:
    listed = control(served, "GET", "/projects").json()["projects"]
    return Decimal(next(p["balance"] for p in listed if p["api_key"] == key))


def _finish(served: Served, task_ids: list[str]) -> None:
    advanced = control(served, "POST", "/clock/advance", json={"seconds": 600})
    assert advanced.status_code == 200, advanced.text
    for task_id in task_ids:
        waited = control(served, "POST", f"/tasks/{task_id}/wait", json={"timeout": 60})
        assert waited.json()["reached"] is True, waited.text


def test_parallel_runs_never_take_the_balance_below_the_floor(served: Served) -> None:
    """800 parallel 1080P Runs (16 threads) on a $250.01 project, where no concurrency
    limit applies: exactly the Runs the balance covers are admitted, the rest answer 97,
    a cancel frees its price for one more Run, and once all succeed the balance is
    250.01 - 757 x 0.33 = $0.20, above the floor. (Today's code admitted all 800 and
    ended at -$13.99.)"""
    assert BALANCE_POLICY == "reserve"
    project = new_project(served, balance="250.01")
    api = Api(served, project)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: _run(api), range(BURST)))
    admitted = [a["taskid"] for a in answers if a["result"]]
    refused = [a["errors"] for a in answers if not a["result"]]
    assert len(admitted) == ADMITTED == 757, (len(admitted), refused[:1])
    assert all(e == [{"code": 97, "message": "Insufficient balance"}] for e in refused)
    assert _balance(served, api.key) == START  # held, not charged: success only [docs]
    # a cancelled task frees its price: one more Run fits, and then none
    cancelled = api.post("Task/Cancel", json={"taskid": admitted[0]}).json()
    assert cancelled["result"] is True, cancelled
    again = _run(api)
    assert again["result"] is True, again
    assert _run(api)["errors"][0]["code"] == 97
    _finish(served, [*admitted, again["taskid"]])
    final = _balance(served, api.key)
    assert final == START - ADMITTED * HD_PRICE == Decimal("0.20")
    assert final >= FLOOR > 0
