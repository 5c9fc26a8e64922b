"""The application factory."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .api import api
from .backend import Backend
from .control import control
from .errors import UrlError, ValidationError, WiroError
from .settings import Settings

__all__ = ["create_app"]

log = logging.getLogger("mock_wiro")
# Multipart framing around a 100 MB file: the file itself is checked exactly.
_MULTIPART_SLACK = 64 * 1024
OVERSIZE_HTTP_STATUS = 413  # [A] the real status for an oversized body is unknown


def _wire(exc: WiroError) -> Response:
    response = jsonify(exc.to_wire())
    response.status_code = exc.http_status
    return response


def create_app(settings: Settings | None = None, backend: Backend | None = None) -> Flask:
    """A Flask app serving the fake. Starts the backend's engine if it made the backend."""
    if backend is None:
        backend = Backend(settings).start()
    app = Flask("mock_wiro")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep the seed's key order
    app.config["MAX_CONTENT_LENGTH"] = backend.settings.upload_max_bytes + _MULTIPART_SLACK
    app.extensions["mock_wiro"] = backend
    app.register_blueprint(api)
    app.register_blueprint(control)

    @app.errorhandler(WiroError)
    def wiro_error(exc: WiroError) -> Response:
        return _wire(exc)

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(exc: RequestEntityTooLarge) -> Response:
        limit = backend.settings.upload_max_bytes
        size = request.content_length
        came = f"{size} bytes" if size is not None else "more than that"
        response = _wire(
            ValidationError(
                f"Request body too large: the upload limit is {limit} bytes (100 MB); got {came}"
            )
        )
        response.status_code = OVERSIZE_HTTP_STATUS
        response.headers["Connection"] = "close"  # the rest of the body is never read
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code in (404, 405):
            return _wire(UrlError())
        return _wire(ValidationError(f"Request parameters are invalid: {exc.description}"))

    @app.errorhandler(Exception)
    def internal(exc: Exception) -> Response:
        log.exception("mock-wiro internal error")
        response = jsonify(
            {"result": False, "errors": [{"code": 0, "message": f"Internal error: {exc!r}"}]}
        )
        response.status_code = 500
        return response

    return app
