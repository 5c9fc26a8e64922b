"""Request signing and nonces for Wiro's signature authentication.

``x-signature`` is the lowercase hex of ``HMAC-SHA256(key=API_KEY,
message=API_SECRET + NONCE)`` [seed]; the body and the path are not signed.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

__all__ = ["PROCESS_NONCES", "NonceSource", "auth_headers", "sign"]


def sign(api_key: str, api_secret: str, nonce: str) -> str:
    """Return the bare lowercase hex ``x-signature`` for ``nonce``."""
    message = (api_secret + nonce).encode("utf-8")
    return hmac.new(api_key.encode("utf-8"), message, hashlib.sha256).hexdigest()


class NonceSource:
    """Strictly increasing integer nonces (milliseconds since the epoch, bumped on ties).

    Thread-safe: concurrent callers never get the same or a decreasing nonce.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        """Return a nonce larger than every nonce returned before."""
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1_000_000)
            return str(self._last)


PROCESS_NONCES = NonceSource()
"""The nonce source every Client in this process shares, so two Clients of one project
never send the same nonce (a server rejecting reused nonces would refuse one)."""


def auth_headers(api_key: str, api_secret: str | None, nonce: str) -> dict[str, str]:
    """The auth headers: signature mode when ``api_secret`` is set, API-key-only otherwise."""
    if not api_secret:
        return {"x-api-key": api_key}
    return {
        "x-api-key": api_key,
        "x-nonce": nonce,
        "x-signature": sign(api_key, api_secret, nonce),
    }
