"""hailuo_client's signing against the golden (openssl-made) vectors, and its nonces."""

from __future__ import annotations

import threading

import pytest

from hailuo_client._signing import NonceSource, auth_headers, sign
from mock_wiro_fixtures import SignatureVector, signature_vectors


@pytest.mark.parametrize("vector", signature_vectors(), ids=lambda v: v.nonce)
def test_sign_matches_openssl(vector: SignatureVector) -> None:
    assert sign(vector.api_key, vector.api_secret, vector.nonce) == vector.signature
    assert vector.openssl_line.endswith("= " + vector.signature)


@pytest.mark.parametrize("vector", signature_vectors(), ids=lambda v: v.nonce)
def test_auth_headers_signature_mode(vector: SignatureVector) -> None:
    headers = auth_headers(vector.api_key, vector.api_secret, vector.nonce)
    assert headers == {
        "x-api-key": vector.api_key,
        "x-nonce": vector.nonce,
        "x-signature": vector.signature,
    }


def test_auth_headers_key_only_mode() -> None:
    assert auth_headers("key", None, "123") == {"x-api-key": "key"}
    assert auth_headers("key", "", "123") == {"x-api-key": "key"}


def test_nonces_strictly_increase_across_threads() -> None:
    source = NonceSource()
    per_thread: list[list[int]] = [[] for _ in range(8)]

    def take(out: list[int]) -> None:
        for _ in range(500):
            out.append(int(source.next()))

    threads = [threading.Thread(target=take, args=(out,)) for out in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [n for out in per_thread for n in out]
    assert len(set(everything)) == len(everything) == 8 * 500
    for out in per_thread:
        assert out == sorted(out) and len(set(out)) == len(out)
    assert int(source.next()) > max(everything)
