"""The control surface: ``/_mock`` (JSON, for tests) and the Python handle.

What lives here: the composition of one fake (:class:`~.fake.Fake`, with its one
:meth:`~.fake.Fake.reset`), the ``/_mock`` surface (one parent blueprint,
:mod:`.blueprint`, with nested children :mod:`.base`, :mod:`.tasks`, :mod:`.scenarios`,
:mod:`.faults`, :mod:`.push_faults`) and :class:`~.handle.FakeHandle`, the handle a
test holds on a running fake.

It may import: every other part (engine, chaos, http, push), Flask, and
``mock_wiro.settings`` / ``mock_wiro.errors``. Nothing but the runtime (``app``,
``server``, ``inprocess``) imports it.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

_OLD_NAMES = ("ADMIN_TOKEN_HEADER", "control", "require_admin_token")
"""What ``mock_wiro.control`` (a module in 0.1) exported; now in :mod:`.blueprint`."""


def __getattr__(name: str) -> Any:
    if name not in _OLD_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"mock_wiro.control.{name} is deprecated and will be removed in 0.3: "
        f"import it from mock_wiro.control.blueprint",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(f"{__name__}.blueprint"), name)
