"""The ``mock-wiro`` command's first step: when ``mock-wiro serve`` will run on gevent
(``--server gevent``, or ``MOCK_WIRO_SERVER``), gevent patches the standard library
here, before anything else is imported, so the process need not re-execute itself
(``mock_wiro.cli`` still does, for a command line this cannot read ahead of argparse).
Everything else is ``mock_wiro.cli.main``.

Imports nothing heavy: ``mock_wiro`` itself is lazy."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence

__all__ = ["main", "patch_for", "wants_gevent"]

DEFAULT_SERVER = "gevent"
"""``mock-wiro serve``'s server when neither ``--server`` nor ``MOCK_WIRO_SERVER`` names
one (``mock_wiro.cli`` takes it from here)."""


def wants_gevent(argv: Sequence[str]) -> bool:
    """Whether ``argv`` (without the program) runs ``serve`` on gevent: the last
    ``--server`` given, else ``MOCK_WIRO_SERVER``, else :data:`DEFAULT_SERVER`."""
    if not argv or argv[0] != "serve":
        return False
    server = os.environ.get("MOCK_WIRO_SERVER") or DEFAULT_SERVER
    for i, arg in enumerate(argv):
        if arg == "--server" and i + 1 < len(argv):
            server = argv[i + 1]
        elif arg.startswith("--server="):
            server = arg.split("=", 1)[1]
    return server == "gevent"


def patch_for(argv: Sequence[str]) -> None:
    """Patch the process with gevent if ``argv`` serves on it and gevent is installed
    (without it, ``mock_wiro.cli`` says what to install)."""
    if wants_gevent(argv) and importlib.util.find_spec("gevent") is not None:
        from gevent import monkey

        monkey.patch_all()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mock-wiro`` script and of ``python -m mock_wiro``."""
    args = list(sys.argv[1:] if argv is None else argv)
    patch_for(args)
    from .cli import main as cli_main

    return cli_main(args)
