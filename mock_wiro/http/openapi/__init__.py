"""The fake's ``/v1`` API as an OpenAPI 3.1 document, served at ``GET /openapi.json``.

It describes exactly what this fake answers (``docs/wiro-api.md`` is the contract it
implements): every ``/v1`` endpoint with the bodies it reads (JSON, multipart or
url-encoded), the auth headers as security schemes, and each response: success shapes
with the seed's string-typed fields, and the error envelope at HTTP 200 (a failed call),
401 (authentication), 404 (no such path or file) and 413 (a body over its limit).

The document follows the running fake's :class:`~mock_wiro.settings.Settings` (the upload
limit, whether unknown Run fields are rejected, whether the image field aliases are
accepted), so it is built per request by :func:`build_openapi`. ``tests/test_openapi.py``
checks it against the OpenAPI 3.1 meta-schema, the seed's examples and the app's routes;
``tests/test_schemathesis.py`` checks the fake against it.

HTTP faults (``/_mock/faults``) answer whatever status and body they are told to; the
document describes the fake without them.

Where each part lives: :mod:`.schemas` (``components/schemas``: Task, Output, Folder,
File, Tool, the error envelope and each success envelope), :mod:`.responses` (the shared
401/404/413 and the security schemes), :mod:`.bodies` (request bodies: Run's fields and
the others), :mod:`.paths` (every operation, one function per group) and
:mod:`.primitives` (references and the string-typed value schemas they share).
"""

from __future__ import annotations

import copy
from typing import Final

from ..._version import __version__
from ...settings import Settings
from .paths import OPENAPI_PATH, POST_ENDPOINTS, all_paths
from .primitives import Schema
from .responses import AUTH_MESSAGES, SECURITY, SECURITY_SCHEMES, component_responses
from .schemas import TASK_STATUSES, component_schemas

__all__ = [
    "AUTH_MESSAGES",
    "OPENAPI_PATH",
    "OPENAPI_VERSION",
    "POST_ENDPOINTS",
    "TASK_STATUSES",
    "build_openapi",
]

OPENAPI_VERSION: Final = "3.1.0"

_INFO: Final = {
    "title": "mock-wiro: the Wiro AI API for MiniMax Hailuo 2.3 Fast (offline fake)",
    "version": __version__,
    "description": "Every `/v1` endpoint is `POST` with Wiro's envelope: "
    '`{"result": true, "errors": [], ...}` or `{"result": false, "errors": '
    '[{"code": N, "message": "..."}]}` (HTTP 200 for a failed call, 401 for '
    "authentication, 404 for an unknown path, 413 for a body over its limit). Ids, "
    "numbers and timestamps are strings. Signature auth: `x-signature` is the "
    "lowercase hex of HMAC-SHA256(key = API key, message = API secret + x-nonce) "
    "[seed]; an API-key-only project sends `x-api-key` alone. The contract, with "
    "the source of every fact, is docs/wiro-api.md.",
}
_TAGS: Final = [{"name": name} for name in ("Run", "Tasks", "Files", "Tools", "Meta")]


def build_openapi(settings: Settings | None = None, server_url: str | None = None) -> Schema:
    """The OpenAPI 3.1 document of a fake with ``settings``, served at ``server_url``
    (the fake's root URL, e.g. ``http://127.0.0.1:8080``; omitted when None)."""
    settings = settings or Settings()
    document: Schema = {
        "openapi": OPENAPI_VERSION,
        "info": _INFO,
        "tags": _TAGS,
        "paths": all_paths(settings),
        "components": {
            "schemas": component_schemas(),
            "responses": component_responses(settings),
            "securitySchemes": SECURITY_SCHEMES,
        },
        "security": SECURITY,
    }
    if server_url is not None:
        document["servers"] = [{"url": server_url.rstrip("/"), "description": "this fake"}]
    return copy.deepcopy(document)  # no schema object shared with another caller's copy
