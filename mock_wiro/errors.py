"""The fake's one error hierarchy; ``api.py`` turns it into the wire format.

::

    WiroError                      HTTP 200, {"result": false, "errors": [{code, message}]}
    ├── ValidationError            code 0: a bad or missing parameter
    ├── NotFoundError              code 1: no such task / file / folder for this project
    │   └── MissingFileError       HTTP 404: a public file URL that names nothing
    ├── StateError                 code 1: not allowed in the task's current state
    ├── ConcurrencyLimitError      code 96
    ├── InsufficientBalanceError   code 97
    ├── AuthError                  HTTP 401, code 0
    └── UrlError                   HTTP 404, code 0 "Error parsing url."
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AuthError",
    "ConcurrencyLimitError",
    "InsufficientBalanceError",
    "MissingFileError",
    "NotFoundError",
    "StateError",
    "UrlError",
    "ValidationError",
    "WiroError",
]


class WiroError(Exception):
    """Base of every error the fake answers with, carrying the wire ``code``."""

    code: ClassVar[int] = 0
    http_status: ClassVar[int] = 200

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_wire(self) -> dict[str, object]:
        """The contract's error envelope."""
        return {"result": False, "errors": [{"code": self.code, "message": self.message}]}


class ValidationError(WiroError):
    """A request parameter is missing or invalid (code 0)."""


class NotFoundError(WiroError):
    """The thing asked for does not exist for this project (code 1)."""

    code = 1


class MissingFileError(NotFoundError):
    """A public file URL that names no file (HTTP 404) [A]."""

    http_status = 404


class StateError(WiroError):
    """The action is not allowed in the task's current state (code 1)."""

    code = 1


class ConcurrencyLimitError(WiroError):
    """Too many active tasks for the project's balance (code 96)."""

    code = 96


class InsufficientBalanceError(WiroError):
    """The project's balance is below the minimum (code 97)."""

    code = 97


class AuthError(WiroError):
    """Authentication failed: HTTP 401, code 0."""

    http_status = 401


class UrlError(WiroError):
    """No such endpoint: HTTP 404, code 0."""

    http_status = 404

    def __init__(self, message: str = "Error parsing url.") -> None:
        super().__init__(message)
