"""Small helpers for tests that talk to the fake over HTTP."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time
from typing import Any

import requests

from .models import Project

__all__ = ["signed_session"]

_nonces = itertools.count(int(time.time() * 1000))


class _Signer(requests.auth.AuthBase):
    """Adds x-api-key (and, for signature projects, x-nonce + x-signature) per request."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def __call__(self, request: Any) -> Any:
        request.headers["x-api-key"] = self.project.api_key
        if self.project.auth_mode == "signature":
            nonce = str(next(_nonces))  # fresh and increasing, so strict mode accepts it
            message = (self.project.api_secret + nonce).encode()
            digest = hmac.new(self.project.api_key.encode(), message, hashlib.sha256)
            request.headers["x-nonce"] = nonce
            request.headers["x-signature"] = digest.hexdigest()
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
