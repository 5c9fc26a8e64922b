"""Authentication: which project a request's headers prove [docs].

The signature is ``hex(HMAC-SHA256(key=api_key, msg=api_secret + nonce))``, compared
in constant time. Every message is the real API's.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from ..errors import AuthError
from .context import Context
from .models import Project

__all__ = ["Authenticator"]


class Authenticator:
    """Checks a request's ``x-api-key`` / ``x-nonce`` / ``x-signature``."""

    def __init__(self, ctx: Context) -> None:
        self.settings = ctx.settings
        self._store = ctx.store
        self._lock = ctx.lock

    def project_for_key(self, api_key: str) -> Project | None:
        """The project of an API key as a header carried it (latin-1 decoded by WSGI)."""
        if not api_key:
            return None
        with self._lock:
            project = self._store.project(api_key)
            if project is None and not api_key.isascii():
                # WSGI hands header values over as latin-1; a UTF-8 key (as curl sends
                # it) arrives as mojibake, so look it up again as the UTF-8 it was sent as.
                try:
                    project = self._store.project(api_key.encode("latin-1").decode("utf-8"))
                except UnicodeError:
                    project = None
        return project

    def authenticate(self, api_key: str, nonce: str, signature: str) -> Project:
        """The project these headers prove, or :class:`AuthError` with the documented
        message [docs]. The signature is compared in constant time."""
        project = self.project_for_key(api_key)
        if project is None:
            raise AuthError("Project authorization is not founded.")
        if project.auth_mode == "apikey":
            return project
        if not signature or not nonce:
            raise AuthError(
                "Project requires signature authentication. "
                "x-signature and x-nonce headers are required."
            )
        if self.settings.accept_labelled_signature and "= " in signature:
            signature = signature.rsplit("= ", 1)[1]  # "SHA2-256(stdin)= <hex>" [seed]
        expected = hmac.new(
            project.api_key.encode(), (project.api_secret + nonce).encode(), sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
            raise AuthError("Project authorization is not valid.")
        if self.settings.reject_reused_nonce:
            with self._lock:
                if not self._store.record_nonce(project, nonce):
                    raise AuthError("Project authorization is not valid.")
        return project
