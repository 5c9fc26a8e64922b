"""An embedded fake is quiet: ``MockWiroServer`` in a user's process writes nothing to
stderr unless the user turns its access log (``mock_wiro.access``) up; ``mock-wiro
serve`` keeps a readable access log on stderr, with no colour codes in a file."""

from __future__ import annotations

import logging
import os
import pty
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from mock_wiro.server import ACCESS_LOG
from tests.helpers.serve import clean_env, start_serve

# A user's script: a fake, a few requests (ok, refused, 404, a 429 storm) and a stop.
SCRIPT = textwrap.dedent(
    """
    import logging, sys
    import requests
    from mock_wiro.server import MockWiroServer

    if sys.argv[1] == "loud":
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s %(message)s")
        logging.getLogger("mock_wiro.access").setLevel(logging.INFO)
    with MockWiroServer() as fake:
        project = fake.create_project()
        fake.add_fault("/v1/Task/List", status=429, retry_after=0, times=5)
        for _ in range(6):
            requests.post(fake.base_url + "/Task/List", headers={"x-api-key": project.api_key})
        requests.post(fake.base_url + "/Nope")
        requests.get(fake.url + "/_mock/health")
    print("done")
    """
)


def _run(tmp_path: Path, mode: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_script.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), mode],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_embedded_server_prints_nothing(tmp_path: Path) -> None:
    result = _run(tmp_path, "quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert result.stderr == ""


def test_its_access_log_is_a_named_logger_the_user_can_turn_up(tmp_path: Path) -> None:
    result = _run(tmp_path, "loud")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert all(line.startswith(f"{ACCESS_LOG} 127.0.0.1 ") for line in lines), lines
    assert sum('"POST /v1/Task/List HTTP/1.1" 429' in line for line in lines) == 5
    assert any('"POST /v1/Nope HTTP/1.1" 404' in line for line in lines)
    assert "\x1b[" not in result.stderr


def test_serve_logs_requests_to_stderr_without_colour_in_a_file(tmp_path: Path) -> None:
    served = start_serve(tmp_path, "--clock", "manual")
    try:
        session = requests.Session()
        session.trust_env = False
        session.post(served.rest + "/Nope", timeout=30)
    finally:
        assert served.stop() == 0
    log = served.stderr()
    assert '127.0.0.1 "POST /v1/Nope HTTP/1.1" 404 -' in log
    assert "\x1b[" not in log


def test_serve_colours_the_status_on_a_terminal(tmp_path: Path) -> None:
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_wiro", "serve", "--port", "0", "--clock", "manual"],
        env=clean_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=secondary,
        text=True,
    )
    os.close(secondary)
    try:
        assert proc.stdout is not None
        rest = next(line.split()[1] for line in proc.stdout if line.startswith("  REST:"))
        session = requests.Session()
        session.trust_env = False
        session.post(rest + "/Nope", timeout=30)
        seen = b""
        while b"/v1/Nope" not in seen or not seen.endswith(b"\n"):
            seen += os.read(main, 4096)  # blocks until the server writes: no sleep
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        os.close(main)
    assert b'"POST /v1/Nope HTTP/1.1" \x1b[33m404\x1b[0m -' in seen


def test_the_access_log_time_is_formatted_once_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """``mock-wiro serve`` writes a line a request: the time is formatted once per second
    and stays the record's own (a new second, another format)."""
    from mock_wiro.cli import _AccessFormatter

    formatter = _AccessFormatter(colour=False)
    calls: list[float] = []
    real = logging.Formatter.formatTime

    def counted(self: logging.Formatter, record: logging.LogRecord, datefmt: Any = None) -> str:
        calls.append(record.created)
        return real(self, record, datefmt)

    monkeypatch.setattr(logging.Formatter, "formatTime", counted)

    def line(created: float) -> str:
        record = logging.LogRecord("mock_wiro.access", logging.INFO, "", 0, "x %s", ("y",), None)
        record.created = created
        return formatter.format(record)

    base = 1_765_000_000.0
    first = [line(base + 0.1), line(base + 0.9)]
    assert first == [first[0]] * 2 and len(calls) == 1
    later = line(base + 1.2)
    assert len(calls) == 2 and later.endswith(" x y")
    expected = time.strftime("%H:%M:%S", time.localtime(base + 1.2))
    assert later == f"{expected} x y"
    other = logging.LogRecord("x", logging.INFO, "", 0, "m", (), None)
    other.created = base + 1.5
    assert formatter.formatTime(other, "%Y") == time.strftime("%Y", time.localtime(base + 1.5))
