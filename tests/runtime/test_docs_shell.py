"""Every shell command in README.md and docs/*.md, run (or explicitly not run, with the
reason) against a real ``mock-wiro serve``; the banner's curl in every auth mode it
prints for; and every figure the README quotes, against the document it comes from.

The ``sh`` blocks are cut from the pages, not retyped. A command is one of:

- ``mock-wiro serve ...``: started as written (``--port`` becomes 0: the machine is
  shared; a relative ``--data-dir`` lands in the test's folder); its banner must come.
- ``hailuo ...``: run as written in a folder holding the files the docs name
  (``cat.jpg``, ``first-frame.png``, ``mock_wiro_fixtures/``), with the ``export``
  lines before it applied and their placeholders (``...``, ``<key>``) filled from the
  banner; it must exit 0. The fake's clock is manual and moves only while a command
  that waits for a task runs, so a queued task stays queued until then.
- one of :data:`NOT_RUN` (the real API, installs, the suite itself, the slow
  benchmarks), each with its reason; a ``python -m`` command among them still has its
  options checked against its ``--help``.

Anything else fails the test: a new shell line in the docs must be run here or be
marked, with a reason, in :data:`NOT_RUN`.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from mock_wiro_fixtures import image_path
from tests.helpers import REPO
from tests.helpers.client import HAILUO
from tests.helpers.serve import Served, clean_env, start_serve
from tests.helpers.wiro import require_tool

README = REPO / "README.md"
DOCS = REPO / "docs"
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)

NOT_RUN: dict[str, str] = {
    "WIRO_TARGET=real": "the real API: it spends money",
    "python3 -m venv": "makes a virtualenv (CI does, on a clean clone)",
    "pip install": "installs packages (CI does, on a clean clone)",
    ".venv/bin/pytest": "the test suite itself (CI runs it)",
    "python -m benchmarks": "a benchmark: minutes long, not in CI (options checked)",
}
FILES = {"cat.jpg": "landscape_16x9.jpg", "first-frame.png": "portrait_9x16.png"}
WAITING = ("generate", "watch")


def sh_blocks() -> list[tuple[str, str]]:
    found = []
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        text = page.read_text()
        for match in SH_BLOCK.finditer(text):
            line = text[: match.start()].count("\n") + 1
            found.append((f"{page.relative_to(REPO)}:{line}", match.group(1)))
    return found


def commands(block: str) -> list[list[str]]:
    """The block's commands as argv lists: continuation lines joined, comments dropped,
    ``a && b``, ``a ; b`` and ``a &`` split into their commands."""
    joined = re.sub(r"\\\n\s*", " ", block)
    found: list[list[str]] = []
    for line in joined.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in lexer:
            if token in ("&&", ";", "&"):
                if current:
                    found.append(current)
                current = []
            else:
                current.append(token)
        if current:
            found.append(current)
    return found


def program(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    """Leading ``NAME=value`` assignments, and the command after them."""
    env: dict[str, str] = {}
    rest = list(argv)
    while rest and re.fullmatch(r"[A-Z_]+=.*", rest[0]):
        name, value = rest.pop(0).split("=", 1)
        env[name] = value
    return env, rest


def not_run_reason(argv: list[str]) -> str | None:
    text = " ".join(argv)
    return next((why for marker, why in NOT_RUN.items() if marker in text), None)


@dataclass
class Session:
    """One block's shell: its exported variables, its folder, its fake."""

    tmp: Path
    exports: dict[str, str] = field(default_factory=dict)
    served: Served | None = None
    ran: list[str] = field(default_factory=list)

    def serve(self, args: list[str]) -> Served:
        args = list(args)
        if "--port" in args:  # a shared machine: any free port
            del args[args.index("--port") : args.index("--port") + 2]
        if "--data-dir" in args:
            at = args.index("--data-dir") + 1
            args[at] = str(self.tmp / args[at])
        if "--clock" not in args:
            args += ["--clock", "manual"]
        self.stop()
        self.served = start_serve(self.tmp, *args)
        return self.served

    def stop(self) -> None:
        if self.served is not None:
            served, self.served = self.served, None
            assert served.stop() == 0, served.stderr()

    def fill(self, name: str, value: str) -> str:
        """A placeholder the docs leave for the reader, from the banner."""
        assert self.served is not None
        fields = self.served.fields
        if name == "WIRO_API_KEY" and value in ("...", "<key>"):
            return fields["API key"]
        if name == "WIRO_API_SECRET" and value in ("...", "<secret>"):
            return fields["secret"]
        if name == "WIRO_BASE_URL" and value.startswith("http://127.0.0.1:"):
            return self.served.rest
        return value

    def hailuo(self, argv: list[str], assigned: dict[str, str]) -> None:
        served = self.served or self.serve([])
        env = {**clean_env(self.tmp), "WIRO_BASE_URL": served.rest}
        for name, value in {**self.exports, **assigned}.items():
            env[name] = self.fill(name, value)
        proc = subprocess.Popen(
            [str(HAILUO), *argv[1:]],
            cwd=self.tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if len(argv) > 1 and argv[1] in WAITING and "--no-wait" not in argv:
            self.tick_until_done(proc)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (argv, out, err)
        self.ran.append(" ".join(argv))

    def tick_until_done(self, proc: subprocess.Popen[str]) -> None:
        """Move the manual clock while a waiting command runs (bounded: 120 s)."""
        assert self.served is not None
        session = requests.Session()
        session.trust_env = False
        for _ in range(1200):
            session.post(self.served.control + "/clock/advance", json={"seconds": 30}, timeout=30)
            try:
                proc.wait(timeout=0.1)
                return
            except subprocess.TimeoutExpired:
                continue
        proc.kill()
        raise AssertionError("a waiting command did not end")


def check_options(argv: list[str]) -> None:
    """``python -m MODULE --opt ...``: every option named exists in MODULE's --help."""
    if "-m" not in argv:
        return
    module = argv[argv.index("-m") + 1]
    shown = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", " ".join(argv)):
        assert option in shown, f"python -m {module} has no {option}"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name, fixture in FILES.items():
        shutil.copy(image_path(fixture), tmp_path / name)
    (tmp_path / "mock_wiro_fixtures").symlink_to(REPO / "mock_wiro_fixtures")
    return tmp_path


@pytest.fixture
def session(folder: Path) -> Iterator[Session]:
    made = Session(folder)
    try:
        yield made
    finally:
        made.stop()


def test_there_are_shell_blocks() -> None:
    assert len(sh_blocks()) >= 10


@pytest.mark.parametrize(("where", "block"), sh_blocks(), ids=[w for w, _ in sh_blocks()])
def test_shell_block(session: Session, where: str, block: str) -> None:
    for argv in commands(block):
        assigned, command = program(argv)
        name = Path(command[0]).name if command else ""
        if name == "export":
            for item in command[1:]:
                key, value = item.split("=", 1)
                session.exports[key] = value
        elif name == "mock-wiro" and command[1:2] == ["serve"]:
            served = session.serve(command[2:])
            assert served.rest.startswith("http://127.0.0.1:")
            session.ran.append(" ".join(command))
        elif name == "hailuo":
            session.hailuo(command, assigned)
        elif (reason := not_run_reason(argv)) is not None:
            assert reason
            check_options(command)
        else:
            pytest.fail(f"{where}: {' '.join(argv)!r} is neither run here nor in NOT_RUN")


# ------------------------------------------------------------------ the banner's curl
@pytest.mark.parametrize(
    "mode",
    [[], ["--auth", "apikey"], ["--strict"], ["--strict", "--auth", "apikey"]],
    ids=["signature", "apikey", "strict", "strict-apikey"],
)
def test_the_banner_curl_works_in_every_auth_mode(session: Session, mode: list[str]) -> None:
    for tool in ("bash", "curl", "openssl"):
        require_tool(tool)
    served = session.serve(mode)
    start = next(i for i, line in enumerate(served.banner) if line.startswith("Try it"))
    end = served.banner.index("", start)
    script = "\n".join(served.banner[start + 1 : end]) + "\n"
    assert script.count("path/to/image.jpg") == 1
    script = script.replace("path/to/image.jpg", str(session.tmp / "cat.jpg"))
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=clean_env(session.tmp),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = requests.models.complexjson.loads(result.stdout)
    assert answer["result"] is True and answer["taskid"], answer


# ------------------------------------------------------------------ README's figures
FIGURE = re.compile(
    r"(?<![\w.,])(\d[\d,]*(?:\.\d+)?)\s?(ms|s|req/s|requests/s|MiB|\u00d7|x)(?![\w])"
    r"|(?<![\w.])(0\.\d\d)(?![\d])"
)
REGION = re.compile(r"<!-- figures from (\S+) -->(.*?)<!-- /figures -->", re.S)


def test_every_figure_the_readme_quotes_is_in_its_source() -> None:
    """A measured figure lives in one place. The README quotes one only inside a
    ``<!-- figures from docs/X.md -->`` region, and each must appear there verbatim,
    so a benchmark run that changes it fails here until the README follows."""
    text = README.read_text()
    regions = list(REGION.finditer(text))
    assert regions, "the README quotes no figures through a checked region"
    checked = 0
    for region in regions:
        source = (REPO / region.group(1)).read_text()
        for match in FIGURE.finditer(region.group(2)):
            quoted = match.group(0)  # the number with its unit, as the source writes it
            assert quoted in source, f"README quotes {quoted!r}; {region.group(1)} lacks it"
            checked += 1
    assert checked >= 5
    outside = REGION.sub("", text)
    performance = outside[
        outside.index("### Which HTTP server") : outside.index("## What it serves")
    ]
    stray = [m.group(0) for m in FIGURE.finditer(performance)]
    assert stray == [], f"figures quoted outside a checked region: {stray}"
