"""hailuo_client: a Python client for MiniMax Hailuo 2.3 Fast on the Wiro AI API."""

from __future__ import annotations

from .client import DEFAULT_BASE_URL, Client, Output, Task
from .exceptions import (
    APIError,
    AuthenticationError,
    ConcurrencyLimitError,
    InsufficientBalanceError,
    NotFoundError,
    TaskCancelled,
    TaskFailed,
    TransportError,
    WaitTimeout,
    WiroError,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "APIError",
    "AuthenticationError",
    "Client",
    "ConcurrencyLimitError",
    "InsufficientBalanceError",
    "NotFoundError",
    "Output",
    "Task",
    "TaskCancelled",
    "TaskFailed",
    "TransportError",
    "WaitTimeout",
    "WiroError",
]
