"""What the distribution installs: its own top-level packages only, none named like a
package of someone else's (``fixtures`` is a PyPI project; the suite's data is
``mock_wiro_fixtures``)."""

from __future__ import annotations

import tomllib

from setuptools import find_packages

from tests.helpers import REPO

OURS = {"mock_wiro", "hailuo_client", "mock_wiro_fixtures"}


def pyproject() -> dict[str, object]:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def installed_top_level() -> set[str]:
    """The top-level packages ``pip install`` puts in site-packages, found as setuptools
    finds them (``[tool.setuptools.packages.find]``)."""
    find = pyproject()["tool"]["setuptools"]["packages"]["find"]  # type: ignore[index]
    packages = find_packages(where=str(REPO), include=find["include"])
    return {name.split(".")[0] for name in packages}


def test_no_top_level_fixtures_module_is_installed() -> None:
    top = installed_top_level()
    assert "fixtures" not in top
    assert top == OURS


def test_package_data_and_type_checking_name_installed_packages() -> None:
    tool = pyproject()["tool"]
    package_data = tool["setuptools"]["package-data"]  # type: ignore[index]
    assert set(package_data) <= OURS
    assert "fixtures" not in tool["mypy"]["packages"]  # type: ignore[index]
    assert "mock_wiro_fixtures" in tool["mypy"]["packages"]  # type: ignore[index]


def test_the_data_package_ships_its_files() -> None:
    import mock_wiro_fixtures

    assert mock_wiro_fixtures.FIXTURES_DIR == REPO / "mock_wiro_fixtures"
    assert mock_wiro_fixtures.image_bytes("landscape_16x9.jpg")
