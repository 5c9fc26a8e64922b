"""hailuo_client: a Python client for MiniMax Hailuo 2.3 Fast on the Wiro AI API.

::

    from hailuo_client import Client

    client = Client()  # WIRO_API_KEY, WIRO_API_SECRET, WIRO_BASE_URL, WIRO_SOCKET_URL
    task = client.run("cat.jpg", "the cat turns its head", duration=6)
    done = task.wait(timeout=900, on_event=print)  # socket first, polling as fallback
    done.download("cat.mp4")
"""

from __future__ import annotations

from .checks import ImageReport, check_image, check_options
from .client import DEFAULT_BASE_URL, DEFAULT_SOCKET_URL, Client, RetryPolicy
from .exceptions import (
    APIError,
    AuthenticationError,
    ConcurrencyLimitError,
    DownloadError,
    InsufficientBalanceError,
    InvalidInput,
    NotFoundError,
    RateLimitError,
    RunOutcomeUnknown,
    ServerError,
    TaskCancelled,
    TaskError,
    TaskFailed,
    TransportError,
    ValidationError,
    WaitTimeout,
    WiroError,
)
from .models import Event, File, Output, Progress, Status, Task

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_SOCKET_URL",
    "APIError",
    "AuthenticationError",
    "Client",
    "ConcurrencyLimitError",
    "DownloadError",
    "Event",
    "File",
    "ImageReport",
    "InsufficientBalanceError",
    "InvalidInput",
    "NotFoundError",
    "Output",
    "Progress",
    "RateLimitError",
    "RetryPolicy",
    "RunOutcomeUnknown",
    "ServerError",
    "Status",
    "Task",
    "TaskCancelled",
    "TaskError",
    "TaskFailed",
    "TransportError",
    "ValidationError",
    "WaitTimeout",
    "WiroError",
    "check_image",
    "check_options",
]
