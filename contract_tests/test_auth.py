"""Authentication [seed][docs]: the documented 401s, and the signatures that must pass."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import Finding, Target
from .contract import NO_TASK, NONCE_OUTCOMES, NOT_FOUNDED, NOT_VALID, SIGNATURE_REQUIRED
from .wire import Api, fresh_nonce, sign

LIST = "Task/List"
LIST_BODY = {"start": "0", "limit": "1"}


def assert_401(api: Api, headers: dict[str, str], message: str) -> None:
    response = api.post(LIST, LIST_BODY, headers=headers)
    assert response.status_code == 401, (response.status_code, response.text[:300])
    body = response.json()
    assert body["result"] is False
    assert body["errors"] == [{"code": 0, "message": message}] or (
        [(e.get("code"), e.get("message")) for e in body["errors"]] == [(0, message)]
    )


@pytest.mark.rule("auth.unknown_key")
def test_unknown_api_key(api: Api) -> None:
    nonce = fresh_nonce()
    headers = {"x-api-key": "not-a-key", "x-nonce": nonce, "x-signature": sign("x", "y", nonce)}
    assert_401(api, headers, NOT_FOUNDED)


@pytest.mark.rule("auth.unknown_key")
def test_missing_api_key(api: Api) -> None:
    assert_401(api, {}, NOT_FOUNDED)


@pytest.mark.parametrize("missing", ["x-signature", "x-nonce"])
@pytest.mark.rule("auth.signature_required")
def test_signature_project_without_signature_headers(api: Api, missing: str) -> None:
    if not api.api_secret:
        pytest.skip("the main project is API-key-only")
    headers = api.headers()
    del headers[missing]
    assert_401(api, headers, SIGNATURE_REQUIRED)


@pytest.mark.rule("auth.wrong_signature")
def test_wrong_signature(api: Api) -> None:
    if not api.api_secret:
        pytest.skip("the main project is API-key-only")
    nonce = fresh_nonce()
    headers = {
        "x-api-key": api.api_key,
        "x-nonce": nonce,
        "x-signature": sign(api.api_key, api.api_secret + "x", nonce),
    }
    assert_401(api, headers, NOT_VALID)


@pytest.mark.rule("auth.wrong_signature")
def test_signature_of_another_nonce(api: Api) -> None:
    if not api.api_secret:
        pytest.skip("the main project is API-key-only")
    nonce = fresh_nonce()
    headers = {
        "x-api-key": api.api_key,
        "x-nonce": nonce,
        "x-signature": sign(api.api_key, api.api_secret, str(int(nonce) + 1)),
    }
    assert_401(api, headers, NOT_VALID)


@pytest.mark.parametrize("unit", ["s", "ms"])
@pytest.mark.rule("auth.signature")
def test_valid_signature_with_seconds_and_milliseconds_nonce(api: Api, unit: str) -> None:
    if not api.api_secret:
        pytest.skip("the main project is API-key-only")
    body = api.ok(LIST, LIST_BODY, headers=api.headers(fresh_nonce(unit)))
    assert isinstance(body["tasklist"], list)


@pytest.mark.rule("auth.openssl_line")
def test_the_seeds_openssl_signature_line(api: Api) -> None:
    """The seed puts openssl's whole output line in the header [seed]; it must pass."""
    if not api.api_secret:
        pytest.skip("the main project is API-key-only")
    nonce = fresh_nonce("s")
    line = (
        subprocess.run(
            ["openssl", "dgst", "-sha256", "-hmac", api.api_key],
            input=(api.api_secret + nonce).encode(),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    assert line.endswith(sign(api.api_key, api.api_secret, nonce))
    headers = {"x-api-key": api.api_key, "x-nonce": nonce, "x-signature": line}
    api.ok(LIST, LIST_BODY, headers=headers)


@pytest.mark.rule("auth.apikey_only")
def test_api_key_only_project(apikey_api: Api) -> None:
    body = apikey_api.ok(LIST, LIST_BODY, headers={"x-api-key": apikey_api.api_key})
    assert isinstance(body["tasklist"], list)


@pytest.mark.rule("hosts.urls")
def test_target_is_configured(target: Target) -> None:
    assert target.base_url.endswith("/v1")
    assert target.socket_url.startswith(("ws://", "wss://"))


@pytest.mark.rule("auth.nonce_reuse")
def test_reused_nonce(api: Api, target: Target, finding: Finding) -> None:
    """One nonce sent twice (the seed's curl flow and the n8n node reuse one nonce [seed]
    [clients]; Wiro-Docs claims replay protection [docs]): the first call is accepted,
    the second is accepted or refused with the documented 401. Against the real API the
    outcome is recorded (``Settings.reject_reused_nonce``); on the fake it must be the
    configured one. Free: Task/Detail of a task that does not exist."""
    if not api.api_secret:
        pytest.skip("the main project is API-key-only")
    headers = api.headers(fresh_nonce())
    bogus = {"taskid": "1"}
    first = api.post("Task/Detail", bogus, headers=headers)
    assert first.status_code == 200, (first.status_code, first.text[:300])
    assert [(e["code"], e["message"]) for e in first.json()["errors"]] == [(1, NO_TASK)]
    second = api.post("Task/Detail", bogus, headers=headers)
    outcome = "rejected" if second.status_code == 401 else "accepted"
    finding("reused_nonce", outcome)
    expected = target.expect.get("reused_nonce")
    assert outcome == expected or expected is None, (outcome, expected, second.text[:300])
    assert outcome in NONCE_OUTCOMES
    if outcome == "rejected":
        errors = [(e.get("code"), e.get("message")) for e in second.json()["errors"]]
        assert errors == [(0, NOT_VALID)], errors
    else:
        assert second.json() == first.json(), second.text[:300]
