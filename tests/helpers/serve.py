"""``mock-wiro serve`` as a real subprocess, and what its banner said."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import REPO

BANNER_TIMEOUT = 60.0  # generous: only a hang fails it
STOP_TIMEOUT = 20.0
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def clean_env(tmp: Path) -> dict[str, str]:
    """The environment without MOCK_WIRO_* settings, proxies or a user's ~/.curlrc."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MOCK_WIRO_") and k.lower() not in PROXY_VARS
    }
    env["CURL_HOME"] = str(tmp)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Served:
    """``mock-wiro serve`` in a subprocess, and what its banner said."""

    proc: subprocess.Popen[str]
    banner: list[str]
    stderr_path: Path
    reader: threading.Thread
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def rest(self) -> str:
        return self.fields["REST"]

    @property
    def control(self) -> str:
        return self.fields["control"].split()[0]

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the server and wait for it: its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
            raise AssertionError(f"mock-wiro did not stop on {sig!r}: {self.stderr()}") from None
        finally:
            self.close()

    def close(self) -> None:
        """Close the stdout pipe once the reader has seen its end."""
        self.reader.join(timeout=STOP_TIMEOUT)
        if self.proc.stdout is not None and not self.reader.is_alive():
            self.proc.stdout.close()


def start_serve(
    tmp: Path,
    *args: str,
    env: dict[str, str] | None = None,
    program: tuple[str, ...] = ("-m", "mock_wiro"),
) -> Served:
    """Start ``python -m mock_wiro serve --port 0 ARGS`` and read its banner (``env``:
    variables added to the clean environment; ``program``: what ``python`` runs instead
    of ``-m mock_wiro``, e.g. ``("-c", launcher, mutant)``)."""
    stderr_path = tmp / f"serve-{len(list(tmp.glob('serve-*')))}.stderr"
    command = [sys.executable, *program, "serve", "--port", "0", *args]
    with open(stderr_path, "w", encoding="utf-8") as stderr:
        proc = subprocess.Popen(
            command,
            cwd=REPO,
            env={**clean_env(tmp), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            encoding="utf-8",
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, name="mock-wiro-stdout", daemon=True)
    reader.start()
    served = Served(proc, [], stderr_path, reader)
    try:
        while True:
            line = lines.get(timeout=BANNER_TIMEOUT)
            if line is None:
                raise AssertionError(
                    f"mock-wiro exited ({proc.wait()}) before its banner: {served.stderr()}"
                )
            served.banner.append(line)
            if match := re.match(r"^  ([A-Za-z ]+):\s+(.*)$", line):
                served.fields[match.group(1).strip()] = match.group(2).strip()
            if line == "Ctrl-C to stop.":
                return served
    except BaseException:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)
        served.close()
        raise


SERVERS = ("werkzeug", "gevent")
"""``mock-wiro serve --server`` choices, for a fixture parametrised over them."""


def serve_on(server: str, tmp: Path, *args: str) -> Iterator[Served]:
    """``mock-wiro serve --server SERVER`` (manual clock, ``args`` more) for a fixture's
    ``yield from``; it must stop cleanly (exit 0) when the fixture ends. gevent missing:
    the test is skipped."""
    if server == "gevent":
        pytest.importorskip("gevent")
    found = start_serve(tmp, "--clock", "manual", "--server", server, *args)
    try:
        yield found
    finally:
        assert found.stop() == 0, found.stderr()
