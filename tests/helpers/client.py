"""hailuo_client from a test: a Client for a project of the fake, and the ``hailuo``
console script run as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hailuo_client import Client, Task
from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro_fixtures import image_path

HAILUO = Path(sys.executable).with_name("hailuo")


def make_client(server: MockWiroServer, project: Project, **kwargs: Any) -> Client:
    """A :class:`hailuo_client.Client` for ``project`` on the fake at ``server`` (its key,
    secret and base URL; ``kwargs`` as given: ``sleep``, ``timeout``, ``rng``, ...)."""
    kwargs.setdefault("base_url", server.base_url)
    return Client(project.api_key, project.api_secret, **kwargs)


FINISH = 300.0
"""Fake seconds after which any default task has ended."""
BOUND = 20.0
"""Real seconds any threaded wait may take before the test fails."""


def no_sleep(seconds: float) -> None:
    """A client ``sleep`` hook that returns at once."""


def quick_client(server: MockWiroServer, project: Project, **kwargs: Any) -> Client:
    """:func:`make_client` that never sleeps between polls or retries (10 s timeout)."""
    return make_client(server, project, **{"sleep": no_sleep, "timeout": 10.0, **kwargs})


def finished(server: MockWiroServer, client: Client, image: str = "landscape_16x9.jpg") -> Task:
    """A task that succeeded, with its video (the fake's clock moved past its end)."""
    task = client.run(image_path(image), "p")
    server.advance(FINISH)
    done = client.wait(task, BOUND, via="poll")
    assert done.succeeded and done.video is not None
    return done


def env_for(server: MockWiroServer, project: Any, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WIRO_")}
    env.update(
        WIRO_API_KEY=project.api_key,
        WIRO_API_SECRET=project.api_secret,
        WIRO_BASE_URL=server.base_url,
    )
    env.update(extra)
    return env


def hailuo(
    *args: str | Path, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    assert HAILUO.is_file(), f"the hailuo console script is not installed at {HAILUO}"
    return subprocess.run(
        [str(HAILUO), *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
