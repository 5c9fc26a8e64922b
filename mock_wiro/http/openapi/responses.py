"""``components/responses`` (the shared non-200 answers: 401, 404, 413) and
``components/securitySchemes`` (the auth headers)."""

from __future__ import annotations

from typing import Final

from ...settings import MAX_JSON_BODY_BYTES, Settings
from .primitives import Schema, error_case

__all__ = ["AUTH_MESSAGES", "SECURITY", "SECURITY_SCHEMES", "component_responses"]

AUTH_MESSAGES: Final = (
    "Project authorization is not founded.",
    "Project requires signature authentication. x-signature and x-nonce headers are required.",
    "Project authorization is not valid.",
)
"""Every message a 401 carries."""


def component_responses(settings: Settings) -> dict[str, Schema]:
    """The named responses; the 413 names ``settings``' upload limit."""
    return {
        "Unauthorized": _unauthorized(),
        "TooLarge": _too_large(settings.upload_max_bytes),
        "NotFound": _not_found(),
    }


def _unauthorized() -> Schema:
    return {
        "description": "Authentication failed [docs]: a missing or unknown `x-api-key`, "
        "a missing `x-nonce`/`x-signature` for a signature project, or a wrong signature "
        "(or, in strict mode, a reused nonce).",
        "content": {"application/json": {"schema": error_case([0], {"enum": list(AUTH_MESSAGES)})}},
    }


def _too_large(limit: int) -> Schema:
    return {
        "description": f"The body is over its limit [A]: a JSON or url-encoded body over "
        f"{MAX_JSON_BODY_BYTES} bytes, a multipart body over {limit} bytes (the upload limit; "
        "checked before the body is read). The connection is closed.",
        "headers": {"Connection": {"schema": {"const": "close"}}},
        "content": {
            "application/json": {
                "schema": error_case([0], {"type": "string", "pattern": "^Request body too large"})
            }
        },
    }


def _not_found() -> Schema:
    return {
        "description": "No such path (code 0 `Error parsing url.` [docs]), or a public file "
        "URL that names no file (code 1 `File not found.`).",
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        error_case([0], {"const": "Error parsing url."}),
                        error_case([1], {"const": "File not found."}),
                    ]
                }
            }
        },
    }


SECURITY_SCHEMES: Final[dict[str, Schema]] = {
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "The project's API key.",
    },
    "nonce": {
        "type": "apiKey",
        "in": "header",
        "name": "x-nonce",
        "description": "Unix time or any random integer [seed] (a reused one is "
        "accepted unless the fake is strict).",
    },
    "signature": {
        "type": "apiKey",
        "in": "header",
        "name": "x-signature",
        "description": "hex(HMAC-SHA256(key = API key, message = API secret + "
        "nonce)); `<label>= <hex>` (openssl's output line) is accepted unless the "
        "fake is strict.",
    },
}
"""The auth headers, one scheme each."""

SECURITY: Final[list[dict[str, list[str]]]] = [
    {"apiKey": [], "nonce": [], "signature": []},
    {"apiKey": []},
]
"""Signature projects send all three headers; API-key projects only the key."""
