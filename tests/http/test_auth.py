"""Authentication over real HTTP on loopback: golden vectors, the three 401s, modes, isolation.

The golden vectors (``mock_wiro_fixtures/signatures/vectors.json``) were computed by
``openssl`` with the seed's own recipe, not by Python and not by the fake. A
request the fake accepts is proven by a Task/Detail for an unknown task answering
code 1 ``There is no task yet.`` (auth passed, then the lookup failed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests

from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import SignatureVector, signature_vectors
from tests.helpers.wiro import Wiro, make_server

NOT_FOUNDED = "Project authorization is not founded."
REQUIRES_SIGNATURE = (
    "Project requires signature authentication. x-signature and x-nonce headers are required."
)
NOT_VALID = "Project authorization is not valid."
NO_TASK = "There is no task yet."
RUN = "Run/minimax/hailuo-2-3-fast"
VECTORS = signature_vectors()
VECTOR_IDS = [f"v{i}-nonce{v.nonce}" for i, v in enumerate(VECTORS)]


# ---------------------------------------------------------------- helpers
def sign(key: str, secret: str, nonce: str) -> str:
    """HMAC-SHA256(key = API key, message = secret + nonce), lowercase hex [seed]."""
    return hmac.new(key.encode(), (secret + nonce).encode(), hashlib.sha256).hexdigest()


def post(
    server: MockWiroServer,
    path: str,
    headers: dict[str, str],
    json: Any = None,
    **kwargs: Any,
) -> requests.Response:
    """A raw POST. Header values go out as UTF-8 bytes, as curl sends them."""
    raw = {name: value.encode("utf-8") for name, value in headers.items()}
    return requests.post(f"{server.base_url}/{path}", headers=raw, json=json, timeout=30, **kwargs)


def signed(project: Project, nonce: str) -> dict[str, str]:
    return {
        "x-api-key": project.api_key,
        "x-nonce": nonce,
        "x-signature": sign(project.api_key, project.api_secret, nonce),
    }


def assert_accepted(response: requests.Response) -> None:
    """Auth passed: an unknown task id is looked up and not found (HTTP 200, code 1)."""
    assert response.status_code == 200, response.text
    assert response.json() == {"result": False, "errors": [{"code": 1, "message": NO_TASK}]}


def assert_401(response: requests.Response, message: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"result": False, "errors": [{"code": 0, "message": message}]}


def detail_unknown(server: MockWiroServer, headers: dict[str, str]) -> requests.Response:
    return post(server, "Task/Detail", headers, json={"taskid": "1"})


def project_for(server: MockWiroServer, key: str, secret: str) -> Project:
    """The server's project with this key (several vectors share a key and secret)."""
    found = next((p for p in server.backend.projects() if p.api_key == key), None)
    if found is None:
        return server.backend.create_project(key, secret)
    assert found.api_secret == secret and found.auth_mode == "signature"
    return found


@pytest.fixture(scope="module")
def own() -> Iterator[MockWiroServer]:
    """A fake of this module's own (API keys are unique per backend), default settings."""
    with make_server(clock_mode="manual") as srv:
        yield srv


@pytest.fixture(scope="module")
def strict() -> Iterator[MockWiroServer]:
    """A fake in strict mode: bare hex only (reused nonces still accepted)."""
    with MockWiroServer(Settings(clock_mode="manual").strict()) as srv:
        yield srv


@pytest.fixture(scope="module")
def no_reuse() -> Iterator[MockWiroServer]:
    """A fake rejecting reused nonces (``reject_reused_nonce``), labelled lines accepted."""
    with MockWiroServer(Settings(clock_mode="manual", reject_reused_nonce=True)) as srv:
        yield srv


@pytest.fixture(scope="module")
def strict_no_reuse() -> Iterator[MockWiroServer]:
    """Both: bare hex only, and reused nonces rejected."""
    with MockWiroServer(Settings(clock_mode="manual", reject_reused_nonce=True).strict()) as srv:
        yield srv


@pytest.fixture
def project(own: MockWiroServer) -> Project:
    return own.backend.create_project()


# ---------------------------------------------------------------- golden vectors
def test_golden_vectors_are_what_hmac_gives() -> None:
    """The openssl-made vectors agree with the contract's formula (a check on the data)."""
    assert len(VECTORS) >= 8
    assert len({(v.api_key, v.nonce) for v in VECTORS}) == len(VECTORS)
    for v in VECTORS:
        assert v.signature == sign(v.api_key, v.api_secret, v.nonce)
        assert v.openssl_line.endswith("(stdin)= " + v.signature)


@pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
def test_the_suites_signing_helper_matches_the_golden_vectors(vector: SignatureVector) -> None:
    """``mock_wiro.testing`` (what the suite's ``Wiro`` helper signs with) gives the
    openssl-made signatures; the tests here sign with their own ``hmac``."""
    from mock_wiro.testing import sign as testing_sign
    from mock_wiro.testing import signed_headers

    assert testing_sign(vector.api_key, vector.api_secret, vector.nonce) == vector.signature
    project = Project(
        id="1",
        name="golden",
        api_key=vector.api_key,
        api_secret=vector.api_secret,
        auth_mode="signature",
        balance=Decimal("100"),
    )
    assert signed_headers(project, vector.nonce) == {
        "x-api-key": vector.api_key,
        "x-nonce": vector.nonce,
        "x-signature": vector.signature,
    }


@pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
def test_golden_vector_bare_hex_is_accepted(own: MockWiroServer, vector: SignatureVector) -> None:
    project_for(own, vector.api_key, vector.api_secret)
    headers = {
        "x-api-key": vector.api_key,
        "x-nonce": vector.nonce,
        "x-signature": vector.signature,
    }
    assert_accepted(detail_unknown(own, headers))


@pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
@pytest.mark.parametrize(
    "form",
    ["openssl_line", "(stdin)= {hex}", "HMAC-SHA2-256(stdin)= {hex}"],
    ids=["openssl3-line", "old-openssl-line", "hmac-label"],
)
def test_golden_vector_labelled_line_is_accepted_by_default(
    own: MockWiroServer, vector: SignatureVector, form: str
) -> None:
    """The seed's recipe puts openssl's whole output line in the header [seed][A]."""
    project_for(own, vector.api_key, vector.api_secret)
    line = vector.openssl_line if form == "openssl_line" else form.format(hex=vector.signature)
    headers = {"x-api-key": vector.api_key, "x-nonce": vector.nonce, "x-signature": line}
    assert_accepted(detail_unknown(own, headers))


def test_golden_vector_runs_a_task(own: MockWiroServer) -> None:
    """Not just Task/Detail: the seed's own placeholder credentials can Run."""
    from mock_wiro_fixtures import image_bytes

    vector = VECTORS[0]
    project_for(own, vector.api_key, vector.api_secret)
    headers = {
        "x-api-key": vector.api_key,
        "x-nonce": vector.nonce,
        "x-signature": vector.signature,
    }
    files = {"inputImageFirst": ("image.jpg", image_bytes("landscape_16x9.jpg"))}
    raw = {k: v.encode() for k, v in headers.items()}
    response = requests.post(
        f"{own.base_url}/{RUN}",
        headers=raw,
        data={"inputImageFirstUrl": "", "prompt": "p"},
        files=files,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"] is True and body["errors"] == [] and isinstance(body["taskid"], str)


# ---------------------------------------------------------------- the three 401s
def test_unknown_key_is_not_founded(own: MockWiroServer, project: Project) -> None:
    nonce = "1734513807"
    headers = signed(project, nonce) | {"x-api-key": project.api_key + "x"}
    assert_401(detail_unknown(own, headers), NOT_FOUNDED)
    # a signature that would be right for the unknown key changes nothing
    other = "no-such-key-" + project.api_key
    headers = {"x-api-key": other, "x-nonce": nonce, "x-signature": sign(other, "s", nonce)}
    assert_401(detail_unknown(own, headers), NOT_FOUNDED)


@pytest.mark.parametrize("key", [None, ""], ids=["absent", "empty"])
def test_missing_key_is_not_founded(own: MockWiroServer, project: Project, key: str | None) -> None:
    headers = signed(project, "1734513807")
    del headers["x-api-key"]
    if key is not None:
        headers["x-api-key"] = key
    assert_401(detail_unknown(own, headers), NOT_FOUNDED)
    assert_401(detail_unknown(own, {}), NOT_FOUNDED)


@pytest.mark.parametrize(
    "missing",
    [("x-signature",), ("x-nonce",), ("x-signature", "x-nonce")],
    ids=["no-signature", "no-nonce", "neither"],
)
@pytest.mark.parametrize("how", ["absent", "empty"])
def test_signature_project_needs_both_headers(
    own: MockWiroServer, project: Project, missing: tuple[str, ...], how: str
) -> None:
    headers = signed(project, "1734513807")
    for name in missing:
        if how == "absent":
            del headers[name]
        else:
            headers[name] = ""
    assert_401(detail_unknown(own, headers), REQUIRES_SIGNATURE)


def _wrong_signatures(project: Project, nonce: str) -> dict[str, str]:
    key, secret = project.api_key, project.api_secret
    right = sign(key, secret, nonce)
    return {
        "garbage": "not-a-signature",
        "one-digit-off": right[:-1] + ("0" if right[-1] != "0" else "1"),
        "other-nonce": sign(key, secret, str(int(nonce) + 1)),
        "keyed-with-secret": sign(secret, secret, nonce),
        "key-and-secret-swapped": sign(secret, key, nonce),
        "nonce-then-secret": hmac.new(
            key.encode(), (nonce + secret).encode(), hashlib.sha256
        ).hexdigest(),
        "plain-sha256": hashlib.sha256((secret + nonce).encode()).hexdigest(),
        "hmac-sha1": hmac.new(key.encode(), (secret + nonce).encode(), hashlib.sha1).hexdigest(),
        "base64-not-hex": base64.b64encode(
            hmac.new(key.encode(), (secret + nonce).encode(), hashlib.sha256).digest()
        ).decode(),
        "truncated": right[:32],
        "doubled": right + right,
        "labelled-wrong-hex": "SHA2-256(stdin)= " + sign(key, secret, "1"),
        # the contract says lowercase hex [seed][docs]; the fake compares exactly
        "uppercase-hex": right.upper(),
    }


WRONG_CASES = [
    "garbage",
    "one-digit-off",
    "other-nonce",
    "keyed-with-secret",
    "key-and-secret-swapped",
    "nonce-then-secret",
    "plain-sha256",
    "hmac-sha1",
    "base64-not-hex",
    "truncated",
    "doubled",
    "labelled-wrong-hex",
    "uppercase-hex",
]


@pytest.mark.parametrize("case", WRONG_CASES)
def test_wrong_signature_is_not_valid(own: MockWiroServer, project: Project, case: str) -> None:
    nonce = "1734513807"
    cases = _wrong_signatures(project, nonce)
    assert sorted(cases) == sorted(WRONG_CASES)
    bad = cases[case]
    assert bad != sign(project.api_key, project.api_secret, nonce)
    headers = signed(project, nonce) | {"x-signature": bad}
    assert_401(detail_unknown(own, headers), NOT_VALID)


def test_another_projects_signature_is_not_valid(own: MockWiroServer) -> None:
    a = own.backend.create_project()
    b = own.backend.create_project()
    nonce = "1734513807"
    headers = signed(b, nonce) | {"x-api-key": a.api_key}
    assert_401(detail_unknown(own, headers), NOT_VALID)


def test_auth_failure_on_every_endpoint(own: MockWiroServer, project: Project) -> None:
    from mock_wiro.http.routes import ROUTES

    for path in ROUTES:
        assert_401(post(own, path, {}, json={}), NOT_FOUNDED)
        bad = signed(project, "5") | {"x-signature": "0" * 64}
        assert_401(post(own, path, bad, json={}), NOT_VALID)


# ---------------------------------------------------------------- API-key-only projects
def test_api_key_project_needs_only_the_key(own: MockWiroServer) -> None:
    project = own.backend.create_project(auth_mode="apikey")
    assert_accepted(detail_unknown(own, {"x-api-key": project.api_key}))
    # signature headers are ignored, however wrong
    for extra in (
        {"x-nonce": "1", "x-signature": "wrong"},
        {"x-signature": "wrong"},
        {"x-nonce": "1"},
        {"x-nonce": "1", "x-signature": sign(project.api_key, project.api_secret, "1")},
    ):
        assert_accepted(detail_unknown(own, {"x-api-key": project.api_key} | extra))
    assert_401(detail_unknown(own, {"x-nonce": "1", "x-signature": "x"}), NOT_FOUNDED)
    assert_401(detail_unknown(own, {"x-api-key": project.api_key + "x"}), NOT_FOUNDED)


def test_api_key_project_can_run(fake: MockWiroServer) -> None:
    wiro = Wiro(fake, fake.backend.create_project(auth_mode="apikey"))
    assert set(wiro.headers()) == {"x-api-key"}
    taskid = wiro.run()["taskid"]
    assert wiro.detail(taskid)["status"] == "task_queue"


# ---------------------------------------------------------------- nonces and strict mode
def test_reused_nonce_is_accepted_by_default(own: MockWiroServer, project: Project) -> None:
    """The seed's curl flow reuses one NONCE/SIGNATURE pair for every call [seed][A]."""
    headers = signed(project, "1734513807")
    for _ in range(3):
        assert_accepted(detail_unknown(own, headers))
    labelled = headers | {"x-signature": "SHA2-256(stdin)= " + headers["x-signature"]}
    assert_accepted(detail_unknown(own, labelled))
    assert_accepted(detail_unknown(own, labelled))


def test_nonce_may_be_seconds_milliseconds_or_any_integer(
    own: MockWiroServer, project: Project
) -> None:
    for nonce in ("1734513807", "1734513807123", "0", "42", "918273645501928374"):
        assert_accepted(detail_unknown(own, signed(project, nonce)))


def test_strict_settings_are_the_strict_variant() -> None:
    """``strict()`` means bare-hex signatures only; nonce reuse is its own setting."""
    settings = Settings().strict()
    assert settings.accept_labelled_signature is False
    assert settings.reject_reused_nonce is False
    defaults = Settings()
    assert defaults.reject_reused_nonce is False and defaults.accept_labelled_signature is True
    both = Settings(reject_reused_nonce=True).strict()
    assert both.reject_reused_nonce is True and both.accept_labelled_signature is False


def test_strict_accepts_a_reused_nonce(strict: MockWiroServer) -> None:
    """``--strict`` alone does not reject reuse: the n8n node signs once and reuses its
    (seconds) nonce for every poll [clients]."""
    project = strict.backend.create_project()
    headers = signed(project, "1734513807")
    for _ in range(3):
        assert_accepted(detail_unknown(strict, headers))


def test_reject_reused_nonce_refuses_a_reused_nonce(no_reuse: MockWiroServer) -> None:
    project = no_reuse.backend.create_project()
    headers = signed(project, "1734513807")
    assert_accepted(detail_unknown(no_reuse, headers))
    assert_401(detail_unknown(no_reuse, headers), NOT_VALID)
    assert_401(detail_unknown(no_reuse, headers), NOT_VALID)
    assert_accepted(detail_unknown(no_reuse, signed(project, "1734513808")))
    # a labelled line is still accepted (that is --strict's), but its nonce is spent too
    other = signed(project, "1734513809")
    labelled = other | {"x-signature": "SHA2-256(stdin)= " + other["x-signature"]}
    assert_accepted(detail_unknown(no_reuse, labelled))
    assert_401(detail_unknown(no_reuse, other), NOT_VALID)
    # the same built from make_server's keywords behaves the same
    with make_server(clock_mode="manual", reject_reused_nonce=True) as server:
        p = server.backend.create_project()
        h = signed(p, "7")
        assert_accepted(detail_unknown(server, h))
        assert_401(detail_unknown(server, h), NOT_VALID)


def test_rejected_attempts_do_not_burn_the_nonce(strict_no_reuse: MockWiroServer) -> None:
    """A wrong or (strict) labelled signature fails before the nonce is recorded, so the
    same nonce still works with the right bare-hex signature."""
    server = strict_no_reuse
    project = server.backend.create_project()
    nonce = "1734513900"
    right = signed(project, nonce)
    assert_401(detail_unknown(server, right | {"x-signature": "0" * 64}), NOT_VALID)
    labelled = right | {"x-signature": "SHA2-256(stdin)= " + right["x-signature"]}
    assert_401(detail_unknown(server, labelled), NOT_VALID)
    assert_accepted(detail_unknown(server, right))
    assert_401(detail_unknown(server, right), NOT_VALID)


@pytest.mark.parametrize("vector", VECTORS, ids=VECTOR_IDS)
def test_strict_accepts_bare_hex_only(strict: MockWiroServer, vector: SignatureVector) -> None:
    project_for(strict, vector.api_key, vector.api_secret)
    base = {"x-api-key": vector.api_key, "x-nonce": vector.nonce}
    for line in (vector.openssl_line, "(stdin)= " + vector.signature):
        assert_401(detail_unknown(strict, base | {"x-signature": line}), NOT_VALID)
    bare = base | {"x-signature": vector.signature}
    assert_accepted(detail_unknown(strict, bare))
    assert_accepted(detail_unknown(strict, bare))  # strict alone accepts a reused nonce


# ---------------------------------------------------------------- constant-time comparison
SPIED = "mock_wiro.engine.auth.hmac.compare_digest"  # the hmac module as the engine sees it


def test_signature_is_compared_with_compare_digest(
    own: MockWiroServer, project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(SPIED, spy)
    nonce = "1734513807"
    expected = sign(project.api_key, project.api_secret, nonce)

    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes | bytearray) else str(value)

    assert_accepted(detail_unknown(own, signed(project, nonce)))
    assert [tuple(map(text, c)) for c in calls] == [(expected, expected)]
    calls.clear()
    assert_401(detail_unknown(own, signed(project, nonce) | {"x-signature": "f" * 64}), NOT_VALID)
    assert [set(map(text, c)) for c in calls] == [{expected, "f" * 64}]
    calls.clear()
    labelled = signed(project, nonce) | {"x-signature": "SHA2-256(stdin)= " + expected}
    assert_accepted(detail_unknown(own, labelled))
    assert [tuple(map(text, c)) for c in calls] == [(expected, expected)]

    # compare_digest's answer is the decision, nothing else
    monkeypatch.setattr(SPIED, lambda a, b: False)
    assert_401(detail_unknown(own, signed(project, nonce)), NOT_VALID)
    monkeypatch.setattr(SPIED, lambda a, b: True)
    assert_accepted(detail_unknown(own, signed(project, nonce) | {"x-signature": "f" * 64}))


# ---------------------------------------------------------------- isolation between projects
TASK_ENDPOINTS = ["Task/Detail", "Task/Cancel", "Task/Kill", "Task/InputOutputDelete"]


def test_another_projects_task_is_not_found(fake: MockWiroServer) -> None:
    a = Wiro(fake, fake.backend.create_project())
    b = Wiro(fake, fake.backend.create_project())
    run = a.run()
    before = a.detail(run["taskid"])
    assert before["status"] == "task_queue"  # Cancel and Kill would both succeed for A
    refs = [
        {"taskid": run["taskid"]},
        {"tasktoken": run["socketaccesstoken"]},
        {"socketaccesstoken": run["socketaccesstoken"]},
        {"taskid": run["taskid"], "tasktoken": run["socketaccesstoken"]},
    ]
    for path in TASK_ENDPOINTS:
        for ref in refs:
            assert b.error(path, 1, json=ref) == NO_TASK, (path, ref)
    assert b.ok("Task/List", json={})["total"] == "0"
    assert a.detail(run["taskid"]) == before
    task = fake.backend.task_by_id(run["taskid"])
    assert task is not None and [e.type for e in task.events] == ["task_queue"]

    # finished: B still cannot delete A's files, and A's outputs stay
    fake.backend.advance(300)
    done = a.detail(run["taskid"])
    assert done["status"] == "task_postprocess_end" and done["outputs"]
    for path in TASK_ENDPOINTS:
        for ref in refs:
            assert b.error(path, 1, json=ref) == NO_TASK, (path, ref)
    assert a.detail(run["taskid"]) == done
    output = requests.get(done["outputs"][0]["url"], timeout=30)
    assert output.status_code == 200 and output.content[4:8] == b"ftyp"


def test_task_id_and_token_must_agree(fake: MockWiroServer) -> None:
    """A's id with B's token names no task, for A or B."""
    a = Wiro(fake, fake.backend.create_project())
    b = Wiro(fake, fake.backend.create_project())
    run_a, run_b = a.run(), b.run()
    mixed = {"taskid": run_a["taskid"], "tasktoken": run_b["socketaccesstoken"]}
    assert a.error("Task/Detail", 1, json=mixed) == NO_TASK
    assert b.error("Task/Detail", 1, json=mixed) == NO_TASK


# ---------------------------------------------------------------- order of checks, bad URLs
def test_auth_is_checked_before_parameters(own: MockWiroServer, project: Project) -> None:
    bad_auth = signed(project, "1") | {"x-signature": "0" * 64}
    cases: list[dict[str, Any]] = [
        {"json": None, "data": b"{not json", "content_type": "application/json"},
        {"json": None, "data": b"[1, 2]", "content_type": "application/json"},
        {"json": None, "data": b"<xml/>", "content_type": "text/xml"},
        {"json": {}, "data": None, "content_type": None},
    ]
    for path in (RUN, "Task/Detail", "Task/List", "File/Upload", "File/FolderCreate"):
        for case in cases:
            extra = {"Content-Type": case["content_type"]} if case["content_type"] else {}
            kwargs: dict[str, Any] = {"data": case["data"]} if case["data"] is not None else {}
            assert_401(post(own, path, extra, json=case["json"], **kwargs), NOT_FOUNDED)
            assert_401(post(own, path, bad_auth | extra, json=case["json"], **kwargs), NOT_VALID)
    # with good auth the same bad bodies are parameter errors: HTTP 200, code 0
    good = signed(project, "2")
    for case in cases[:3]:
        extra = {"Content-Type": case["content_type"]}
        response = post(own, "Task/Detail", good | extra, data=case["data"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["result"] is False and body["errors"][0]["code"] == 0
    response = post(own, RUN, good, json={})
    assert response.json()["errors"] == [
        {"code": 0, "message": "Request files [inputImageFirst] required"}
    ]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/Nope"),
        ("POST", "/v1/Run/minimax/hailuo-2-3"),
        ("POST", "/v1/Run/minimax/hailuo-2-3-fast/extra"),
        ("POST", "/v1/task/detail"),
        ("POST", "/v1/"),
        ("POST", "/v2/Task/Detail"),
        ("POST", "/Task/Detail"),
        ("GET", "/v1/Task/Detail"),
        ("PUT", "/v1/Run/minimax/hailuo-2-3-fast"),
        ("DELETE", "/v1/Task/Kill"),
    ],
)
@pytest.mark.parametrize("auth", ["none", "bad", "good"])
def test_unknown_path_is_404_even_without_auth(
    own: MockWiroServer, project: Project, method: str, path: str, auth: str
) -> None:
    headers = {
        "none": {},
        "bad": {"x-api-key": "nobody"},
        "good": signed(project, "3"),
    }[auth]
    response = requests.request(method, own.url + path, headers=headers, json={}, timeout=30)
    assert response.status_code == 404, response.text
    assert response.json() == {
        "result": False,
        "errors": [{"code": 0, "message": "Error parsing url."}],
    }


# ---------------------------------------------------------------- the serve flags
@pytest.mark.parametrize(
    ("argv", "env", "labelled", "reuse_rejected"),
    [
        ([], {}, True, False),
        (["--strict"], {}, False, False),
        (["--reject-reused-nonces"], {}, True, True),
        (["--strict", "--reject-reused-nonces"], {}, False, True),
        ([], {"MOCK_WIRO_STRICT": "1"}, False, False),
        ([], {"MOCK_WIRO_REJECT_REUSED_NONCES": "1"}, True, True),
    ],
)
def test_serve_flags_keep_nonce_reuse_apart_from_strict(
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    env: dict[str, str],
    labelled: bool,
    reuse_rejected: bool,
) -> None:
    """``--strict`` is bare-hex signatures only; ``--reject-reused-nonces`` (or its
    variable) alone turns on the nonce rule."""
    from mock_wiro import cli

    for name in ("MOCK_WIRO_STRICT", "MOCK_WIRO_REJECT_REUSED_NONCES"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = cli._settings(cli.build_parser().parse_args(["serve", *argv]))
    assert settings.accept_labelled_signature is labelled
    assert settings.reject_reused_nonce is reuse_rejected
