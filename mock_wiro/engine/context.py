"""What every collaborator of the backend shares: the settings, the store, the one
state lock, the clock and the data folder (handed to each, so no second lock and no
second copy of the state can appear)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from .clock import Clock
from .store import Store

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """The backend's shared parts."""

    settings: Settings
    store: Store
    lock: threading.Condition
    """The state lock (a condition on one re-entrant lock): every collaborator holds it
    to read or change state, and notifies it when a task moves."""
    clock: Clock
    data_dir: Path
