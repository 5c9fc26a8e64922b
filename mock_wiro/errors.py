"""The package's one error hierarchy. Every error mock-wiro raises on purpose is one of
these; any other exception (a builtin ``ValueError``, ``KeyError``, ...) is a bug, and is
answered 500 with its traceback in the journal (``kind: "error"``).

::

    MockWiroError                      root: caught by nothing but the two wire handlers
    ├── WiroError                      /v1: HTTP 200, {"result": false, "errors": [{code, message}]}
    │   ├── ValidationError            code 0: a bad or missing parameter
    │   ├── NotFoundError              code 1: no such task / file / folder for this project
    │   │   └── MissingFileError       HTTP 404: a public file URL that names nothing
    │   ├── StateError                 code 1: not allowed in the task's current state
    │   ├── ConcurrencyLimitError      code 96
    │   ├── InsufficientBalanceError   code 97
    │   ├── AuthError                  HTTP 401, code 0
    │   └── UrlError                   HTTP 404, code 0 "Error parsing url."
    ├── ControlError                   /_mock: HTTP ``status`` (400), {"error": message}
    ├── SpecError (also ValueError)    a bad scenario, fault rule or control-body field:
    │                                  400 {"error": message} under /_mock; the Python
    │                                  handle raises it as is (``except ValueError`` works)
    ├── ImageRuleError                 an input image breaks a model rule
    │                                  (mock_wiro.engine.images): never on the wire itself,
    │                                  the task fails with its message
    └── DataDirError                   the data dir cannot be used (taken by another fake,
                                       written by a newer mock-wiro, not a database):
                                       raised at start, ``mock-wiro serve`` exits 2 with it

Where they become the wire, one place per surface: ``/v1`` in
:func:`mock_wiro.app.create_app`'s handlers (a ``WiroError`` as its envelope, anything
else as a code-0 500 envelope); ``/_mock`` in the handlers of the parent control
blueprint (:mod:`mock_wiro.control.blueprint`): ``ControlError`` with its status,
``SpecError`` 400, ``WiroError`` 400, anything else 500.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "STORAGE_ERROR_HTTP_STATUS",
    "AuthError",
    "ConcurrencyLimitError",
    "ControlError",
    "DataDirError",
    "InsufficientBalanceError",
    "MissingFileError",
    "MockWiroError",
    "NotFoundError",
    "SnapshotError",
    "SpecError",
    "StateError",
    "StorageError",
    "UrlError",
    "ValidationError",
    "WiroError",
]


class MockWiroError(Exception):
    """The root of every error mock-wiro raises on purpose."""


class ControlError(MockWiroError):
    """A bad control request: HTTP 400 (or ``status``) with ``{"error": message}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class SpecError(MockWiroError, ValueError):
    """A bad scenario, fault rule or control-body field, naming what is wrong.

    Also a ``ValueError``, so Python callers of the handle (``add_fault`` & co.) that
    catch ``ValueError`` keep working; the wire handlers match it before ``ValueError``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WiroError(MockWiroError):
    """Base of every error the API answers with, carrying the wire ``code``."""

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


STORAGE_ERROR_HTTP_STATUS = 503
"""[A] The HTTP status of a request the fake could not keep (its data dir cannot be
written: disk full, read-only, I/O error). Wiro documents none; 503 says "try again
later" to a client's retry logic, and the body is the usual envelope (code 0)."""


class StorageError(WiroError):
    """The fake could not write its data dir (``--data-dir``): the change this request
    made was rolled back and nothing of it is kept (docs/persistence.md, When a write
    fails)."""

    http_status = STORAGE_ERROR_HTTP_STATUS


class DataDirError(MockWiroError):
    """The data dir (``--data-dir``) cannot be used: the message says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SnapshotError(DataDirError):
    """A snapshot file cannot be loaded (not one, damaged, from a newer mock-wiro) or
    written: the message says why and what to do."""
