"""The client's error tree. A failed *call* and a failed *task* are different exceptions.

::

    WiroError
     ├── APIError(code, message, status)        the API refused a call
     │    ├── AuthenticationError               HTTP 401
     │    ├── NotFoundError                     code 1 (or HTTP 404)
     │    ├── ConcurrencyLimitError             code 96
     │    └── InsufficientBalanceError          code 97
     ├── TransportError                         no usable HTTP answer
     ├── TaskFailed(task)                       finished with pexit != "0"
     ├── TaskCancelled(task)                    ended in task_cancel
     └── WaitTimeout                            wait()'s deadline passed
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Task

__all__ = [
    "APIError",
    "AuthenticationError",
    "ConcurrencyLimitError",
    "InsufficientBalanceError",
    "NotFoundError",
    "TaskCancelled",
    "TaskFailed",
    "TransportError",
    "WaitTimeout",
    "WiroError",
]


class WiroError(Exception):
    """Base of every error this client raises."""


class APIError(WiroError):
    """The API answered with an error: ``code`` from the envelope, ``status`` the HTTP status."""

    def __init__(self, code: int, message: str, status: int) -> None:
        super().__init__(f"Wiro API error {code} (HTTP {status}): {message}")
        self.code = code
        self.message = message
        self.status = status


class AuthenticationError(APIError):
    """HTTP 401: unknown API key, missing or wrong signature."""


class NotFoundError(APIError):
    """Code 1 (not found / not allowed in this state) or HTTP 404 (unknown path)."""


class ConcurrencyLimitError(APIError):
    """Code 96: the project's concurrent task limit is reached."""


class InsufficientBalanceError(APIError):
    """Code 97: the balance is below the minimum."""


class TransportError(WiroError):
    """The request got no usable answer (connection, timeout, non-JSON body)."""


class TaskFailed(WiroError):
    """A task finished (``task_postprocess_end``) with ``pexit != "0"``."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id} failed (pexit {task.pexit}): {task.debugerror}")
        self.task = task


class TaskCancelled(WiroError):
    """A task ended in ``task_cancel`` (cancelled or killed)."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id} was cancelled")
        self.task = task


class WaitTimeout(WiroError):
    """``wait()`` reached its overall deadline before the task ended."""
