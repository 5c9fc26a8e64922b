"""Small helpers for tests that talk to the fake over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from typing import Any

import requests

from .engine.models import Project

__all__ = ["sign", "signed_headers", "signed_session"]

_nonces = itertools.count(int(time.time() * 1000))


def sign(api_key: str, api_secret: str, nonce: str) -> str:
    """Wiro's ``x-signature``: hex HMAC-SHA256 of ``api_secret + nonce``, keyed by the API key."""
    return hmac.new(api_key.encode(), (api_secret + nonce).encode(), hashlib.sha256).hexdigest()


def signed_headers(project: Project, nonce: str | None = None) -> dict[str, str]:
    """The headers that authenticate one request for ``project`` (a fresh, increasing
    millisecond nonce unless given; no signature for an ``apikey`` project)."""
    headers = {"x-api-key": project.api_key}
    if project.auth_mode == "signature":
        nonce = nonce or str(next(_nonces))  # fresh, increasing: never a reused nonce
        headers["x-nonce"] = nonce
        headers["x-signature"] = sign(project.api_key, project.api_secret, nonce)
    return headers


class _Signer(requests.auth.AuthBase):
    """Adds x-api-key (and, for signature projects, x-nonce + x-signature) per request."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def __call__(self, request: Any) -> Any:
        request.headers.update(signed_headers(self.project))
        return request


class _Session(requests.Session):
    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if isinstance(url, str) and not url.startswith(("http://", "https://")):
            url = f"{self.base_url}/{url.lstrip('/')}"
        kwargs.setdefault("timeout", 30)
        return super().request(method, url, *args, **kwargs)


def signed_session(project: Project, base_url: str) -> requests.Session:
    """A ``requests.Session`` that signs every request for ``project``; relative paths
    (``"Task/Detail"``) are joined to ``base_url`` (``server.base_url``)."""
    session = _Session(base_url)
    session.auth = _Signer(project)
    return session
