"""The client's error tree. A failed *call* and a failed *task* are different exceptions.

::

    WiroError
     ├── InvalidInput (also a ValueError)       refused locally, before any request
     ├── APIError(code, message, status)        the API refused a call
     │    ├── AuthenticationError               HTTP 401, codes 98 and 99
     │    ├── NotFoundError                     code 1 (or HTTP 404)
     │    ├── ValidationError                   code 0 with a validation message
     │    ├── ConcurrencyLimitError             code 96
     │    ├── InsufficientBalanceError          code 97
     │    ├── RateLimitError(retry_after)       HTTP 429
     │    └── ServerError                       HTTP 5xx
     ├── TransportError                         no usable HTTP answer
     │    ├── RunOutcomeUnknown                 a Run may have reached the server
     │    └── DownloadError                     a download broke or had the wrong size
     ├── TaskError(task)                        the *task* ended badly
     │    ├── TaskFailed                        finished with pexit != 0 (see .debugerror)
     │    └── TaskCancelled                     ended in task_cancel
     └── WaitTimeout                            wait()'s deadline passed
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Task

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConcurrencyLimitError",
    "DownloadError",
    "InsufficientBalanceError",
    "InvalidInput",
    "NotFoundError",
    "RateLimitError",
    "RunOutcomeUnknown",
    "ServerError",
    "TaskCancelled",
    "TaskError",
    "TaskFailed",
    "TransportError",
    "ValidationError",
    "WaitTimeout",
    "WiroError",
]


class WiroError(Exception):
    """Base of every error this client raises."""


class InvalidInput(WiroError, ValueError):
    """Refused locally before any request (and any cost): a bad option or image."""


class APIError(WiroError):
    """The API answered with an error: ``code`` from the envelope, ``status`` the HTTP status."""

    def __init__(self, code: int, message: str, status: int) -> None:
        super().__init__(f"Wiro API error {code} (HTTP {status}): {message}")
        self.code = code
        self.message = message
        self.status = status


class AuthenticationError(APIError):
    """HTTP 401 (unknown API key, missing or wrong signature), or codes 98/99."""


class NotFoundError(APIError):
    """Code 1 (not found / not allowed in this state) or HTTP 404 (unknown path)."""


class ValidationError(APIError):
    """Code 0 with a validation message (``Request parameter [...]``, ``... is required``)."""


class ConcurrencyLimitError(APIError):
    """Code 96: the project's concurrent task limit is reached."""


class InsufficientBalanceError(APIError):
    """Code 97: the balance is below the minimum."""


class RateLimitError(APIError):
    """HTTP 429; ``retry_after`` is the server's ``Retry-After`` in seconds, if it sent one."""

    def __init__(self, code: int, message: str, status: int, retry_after: float | None) -> None:
        super().__init__(code, message, status)
        self.retry_after = retry_after


class ServerError(APIError):
    """HTTP 5xx from the server or a proxy in front of it."""


class TransportError(WiroError):
    """The request got no usable answer (connection, timeout, non-JSON body)."""


class RunOutcomeUnknown(TransportError):
    """A Run request may have reached the server but its answer was lost.

    It is never retried, since a retry could start (and bill) a second task.
    Look for the task with ``Client.list()`` before running again.
    """


class DownloadError(TransportError):
    """A download failed, or its byte count differs from the output's ``size``."""


class TaskError(WiroError):
    """The task (not the call) ended badly; ``task`` is its final snapshot."""

    def __init__(self, message: str, task: Task) -> None:
        super().__init__(message)
        self.task = task


class TaskFailed(TaskError):
    """A task finished (``task_postprocess_end``) with ``pexit != 0``; see ``debugerror``."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id} failed (pexit {task.pexit}): {task.debugerror}", task)
        self.debugerror = task.debugerror
        self.pexit = task.pexit


class TaskCancelled(TaskError):
    """A task ended in ``task_cancel`` (cancelled or killed)."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id} was cancelled", task)


class WaitTimeout(WiroError):
    """``wait()`` reached its overall deadline before the task ended.

    ``task`` is the last snapshot seen (None if none was), so the caller can kill it.
    """

    def __init__(self, message: str, task: Task | None = None) -> None:
        super().__init__(message)
        self.task = task
