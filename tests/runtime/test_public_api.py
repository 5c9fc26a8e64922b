"""The package's public face: what ``from mock_wiro import ...`` offers, pinned.

Adding a name is a decision (add it here too); removing one breaks users. The old
module paths of 0.1 keep working for one release, with a DeprecationWarning.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

import mock_wiro

PUBLIC = [
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


def test_all_is_pinned() -> None:
    assert sorted(mock_wiro.__all__) == sorted(PUBLIC)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(mock_wiro, name)
    assert value is not None
    if name != "__version__":  # each is the object its home module defines
        home = getattr(value, "__module__", "")
        assert home.startswith("mock_wiro."), (name, home)
        assert getattr(importlib.import_module(home), name) is value


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = mock_wiro.nothing_here  # type: ignore[attr-defined]


def test_importing_the_package_loads_no_web_framework() -> None:
    """``import mock_wiro`` is cheap: the names load on first use."""
    code = "import sys, mock_wiro; print('flask' in sys.modules, 'mock_wiro.server' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("old, new", sorted(mock_wiro.MOVED_MODULES.items()))
def test_an_old_module_path_still_works_with_a_deprecation_warning(old: str, new: str) -> None:
    target = importlib.import_module(f"mock_wiro.{new}")
    sys.modules.pop(f"mock_wiro.{old}", None)
    with pytest.warns(DeprecationWarning, match=rf"mock_wiro\.{old} is deprecated.*{new}"):
        module = importlib.import_module(f"mock_wiro.{old}")
    for name in getattr(target, "__all__", [])[:5]:
        assert getattr(module, name) is getattr(target, name)


def test_an_old_path_writes_through_to_the_new_module() -> None:
    """``monkeypatch.setattr("mock_wiro.backend.X", ...)`` in a user's test keeps working."""
    new = importlib.import_module("mock_wiro.engine.backend")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = importlib.import_module("mock_wiro.backend")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(old, "CANCELLABLE_STATUSES", frozenset({"patched"}))
        assert {"patched"} == new.CANCELLABLE_STATUSES
    assert {"patched"} != new.CANCELLABLE_STATUSES


def test_a_name_that_was_never_a_module_is_not_found() -> None:
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("mock_wiro.no_such_module")


@pytest.mark.parametrize("name", ["ADMIN_TOKEN_HEADER", "control", "require_admin_token"])
def test_the_old_control_module_names_still_import_from_the_package(name: str) -> None:
    """``mock_wiro.control`` was a module in 0.1 and is the control package now."""
    import mock_wiro.control
    from mock_wiro.control import blueprint

    with pytest.warns(DeprecationWarning, match=rf"mock_wiro\.control\.{name} is deprecated"):
        value = getattr(mock_wiro.control, name)
    assert value is getattr(blueprint, name)
