"""mock_wiro: an offline twin of the Wiro AI API for MiniMax Hailuo 2.3 Fast.

What a user needs is importable from here (``from mock_wiro import MockWiroServer``);
the names are loaded on first use, so ``import mock_wiro`` stays cheap. The packages
underneath, and what each may import, are drawn in ``docs/architecture.md``:

- :mod:`mock_wiro.engine`: the fake's state and the task lifecycle (no Flask).
- :mod:`mock_wiro.chaos`: scenarios and fault rules (data and matching).
- :mod:`mock_wiro.http`: the ``/v1`` REST surface and its wire shapes.
- :mod:`mock_wiro.push`: the task WebSocket and ``callbackUrl`` deliveries.
- :mod:`mock_wiro.control`: the ``/_mock`` control surface and the Python handle.
- this package's top level: settings, errors, and the ways to run the fake
  (``app``, ``server``, ``cli``, ``inprocess``, ``pytest_plugin``, ``testing``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .app import create_app
    from .chaos.http_faults import FaultRule
    from .chaos.push_faults import PushFault
    from .chaos.scenarios import Scenario
    from .control.handle import FakeControls
    from .engine.backend import Backend
    from .engine.clock import Clock
    from .engine.journal import Entry, Journal
    from .engine.models import Project, Task
    from .errors import WiroError
    from .inprocess import InProcessFake, intercept
    from .server import MockWiroServer
    from .settings import Settings
    from .testing import sign, signed_session

__all__ = [
    "Backend",
    "Clock",
    "Entry",
    "FakeControls",
    "FaultRule",
    "InProcessFake",
    "Journal",
    "MockWiroServer",
    "Project",
    "PushFault",
    "Scenario",
    "Settings",
    "Task",
    "WiroError",
    "__version__",
    "create_app",
    "intercept",
    "sign",
    "signed_session",
]

_EXPORTS = {
    "Backend": "engine.backend",
    "Clock": "engine.clock",
    "Entry": "engine.journal",
    "FakeControls": "control.handle",
    "FaultRule": "chaos.http_faults",
    "InProcessFake": "inprocess",
    "Journal": "engine.journal",
    "MockWiroServer": "server",
    "Project": "engine.models",
    "PushFault": "chaos.push_faults",
    "Scenario": "chaos.scenarios",
    "Settings": "settings",
    "Task": "engine.models",
    "WiroError": "errors",
    "create_app": "app",
    "intercept": "inprocess",
    "sign": "testing",
    "signed_session": "testing",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mock_wiro' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


# ------------------------------------------------------------------ old module paths
MOVED_MODULES = {
    "api": "http.routes",
    "backend": "engine.backend",
    "callbacks": "push.callbacks",
    "clock": "engine.clock",
    "controls": "control.handle",
    "fault_control": "control.faults",
    "faults": "chaos.http_faults",
    "images": "engine.images",
    "journal": "engine.journal",
    "lifecycle": "engine.lifecycle",
    "models": "engine.models",
    "openapi": "http.openapi",
    "params": "engine.params",
    "push_fault_control": "control.push_faults",
    "push_faults": "chaos.push_faults",
    "scenario_control": "control.scenarios",
    "scenarios": "chaos.scenarios",
    "sockets": "push.hub",
    "tool": "http.tool",
    "video": "engine.video",
    "ws": "push.route",
}
"""Module paths of 0.1 (``mock_wiro.backend``, ...) and where each now lives. They keep
working for one release, with a :class:`DeprecationWarning` (README: changelog).
(``mock_wiro.control`` is now the control package; its old names are re-exported
there.)"""


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``mock_wiro.<old>`` for the names in :data:`MOVED_MODULES`: the import
    answers the module's new home, after a :class:`DeprecationWarning`."""

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        package, _, old = fullname.rpartition(".")
        if package != __name__ or old not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default; exec_module swaps in the real one

    def exec_module(self, module: ModuleType) -> None:
        old = module.__name__.rpartition(".")[2]
        new = f"{__name__}.{MOVED_MODULES[old]}"
        warnings.warn(
            f"{module.__name__} is deprecated and will be removed in 0.3: import {new}",
            DeprecationWarning,
            stacklevel=2,
        )
        # The import system returns what sys.modules holds once exec_module is done:
        # the old name becomes the new module itself (so a monkeypatch through the old
        # path patches the code that runs).
        sys.modules[module.__name__] = importlib.import_module(new)


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.append(_MovedFinder())
