"""Authentication: which project a request's headers prove [docs].

The signature is ``hex(HMAC-SHA256(key=api_key, msg=api_secret + nonce))``, compared
in constant time. Every message is the real API's. A credential header's bytes are read
under each of :data:`~mock_wiro.settings.HEADER_CHARSETS` [A]: a UTF-8 key or nonce (as
curl sends it) works as well as a latin-1 one.
"""

from __future__ import annotations

import hmac
from hashlib import sha256

from ..errors import AuthError, ValidationError
from ..settings import CREDENTIAL_MAX_CHARS, CREDENTIAL_RULE, HEADER_CHARSETS
from .context import Context
from .models import Project

__all__ = ["Authenticator", "check_credentials", "header_readings"]


def check_credentials(api_key: str | None, api_secret: str | None) -> None:
    """Refuse (:class:`ValidationError`) an API key that could never authenticate, or a
    secret that could never be signed with [A: ``CREDENTIAL_RULE``]. ``None`` (a random
    one will be made) passes."""
    if api_key is not None:
        ok = (
            0 < len(api_key) <= CREDENTIAL_MAX_CHARS
            and api_key.isprintable()
            and api_key == api_key.strip()
        )
        if not ok:
            raise ValidationError(f"api_key must be {CREDENTIAL_RULE}; got {api_key[:80]!r}")
    if api_secret is not None:
        try:
            api_secret.encode("utf-8")
            encodable = True
        except UnicodeEncodeError:
            encodable = False
        if not (0 < len(api_secret) <= CREDENTIAL_MAX_CHARS and encodable):
            raise ValidationError(
                f"api_secret must be 1 to {CREDENTIAL_MAX_CHARS} characters UTF-8 can "
                f"encode; got {len(api_secret)} characters"
            )


def header_readings(value: str) -> list[str]:
    """The texts a header value may stand for, one per charset of ``HEADER_CHARSETS``
    that decodes it, in that order, without repeats [A]. WSGI hands a header over as
    latin-1 text, so its bytes are ``value.encode("latin-1")``; a value beyond latin-1
    (handed in by Python, never off the wire) is only itself."""
    try:
        raw = value.encode("latin-1")
    except UnicodeEncodeError:
        return [value]
    readings: list[str] = []
    for charset in HEADER_CHARSETS:
        try:
            text = raw.decode(charset)
        except UnicodeDecodeError:
            continue
        if text not in readings:
            readings.append(text)
    return readings or [value]


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
        # WSGI hands header values over as latin-1; a UTF-8 key (as curl sends it) arrives
        # as mojibake, so it is looked up again as the UTF-8 it was sent as.
        with self._lock:
            for reading in header_readings(api_key):
                project = self._store.project(reading)
                if project is not None:
                    return project
        return None

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
        given = signature.strip().encode("latin-1", "replace")
        signed = None  # the reading of the nonce the signature was made over
        for reading in header_readings(nonce):  # every reading compared: no early exit
            expected = hmac.new(
                project.api_key.encode(), (project.api_secret + reading).encode(), sha256
            ).hexdigest()
            if hmac.compare_digest(expected.encode(), given) and signed is None:
                signed = reading
        if signed is None:
            raise AuthError("Project authorization is not valid.")
        if self.settings.reject_reused_nonce:
            with self._lock:
                if not self._store.record_nonce(project, signed):
                    raise AuthError("Project authorization is not valid.")
        return project
