"""The exit-code table of docs/client.md, row by row: for each failure, the ``hailuo``
console script (a real subprocess, over a real fake on loopback) exits with the row's
code, says what went wrong on stderr and, with ``--json``, prints ``{"error", "exit"}``
on stdout; once a task exists, both forms carry its id and the command that fetches its
video, and that command, run as printed, does fetch it."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hailuo_client import cli
from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import image_path
from tests.helpers.client import HAILUO, env_for, hailuo

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"
IMAGE = str(image_path("landscape_16x9.jpg"))


@pytest.fixture(scope="module")
def fast_fake() -> Iterator[MockWiroServer]:
    """A fake 400x faster than the real API: a task ends ~0.13 s after its Run."""
    with MockWiroServer(Settings(clock_mode="realtime", speed=400)) as server:
        yield server


@dataclass
class Case:
    args: list[str]
    code: int
    needles: list[str]
    env: dict[str, str]
    cwd: Path
    task_id: str | None = None  # the task the failure happened to, when there is one
    fetches: bool = False  # the error names a command that fetches the video


Setup = Callable[[MockWiroServer, MockWiroServer, Project, Path], Case]


def _tasks_of(fake: MockWiroServer, project: Project) -> list[str]:
    return [str(t.id) for t in fake.tasks() if t.project_id == project.id]


def task_failed(fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path) -> Case:
    env = env_for(fast, fast.create_project())
    args = ["generate", str(image_path("too_wide_3x1.jpg")), "--no-check", "--via", "poll"]
    return Case(args, 1, ["failed (pexit", "aspect ratio"], env, tmp, task_id="made")


def refused_image(
    fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path
) -> Case:
    env = env_for(fast, fast.create_project())
    args = ["generate", str(image_path("not_an_image.txt"))]
    return Case(args, 2, ["refused before sending", "not an image"], env, tmp)


def no_scheme(fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path) -> Case:
    env = env_for(fast, fast.create_project(), WIRO_BASE_URL=fast.base_url.split("//")[1])
    return Case(["list"], 2, ["WIRO_BASE_URL must be an http:// or https:// URL"], env, tmp)


def cancelled(fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path) -> Case:
    env = env_for(manual, project)
    task = hailuo("generate", IMAGE, "--no-wait", "--json", env=env)
    task_id = json.loads(task.stdout)["id"]
    assert hailuo("cancel", task_id, env=env).returncode == 0
    return Case(["watch", task_id], 3, [f"task {task_id} was cancelled"], env, tmp, task_id)


def timed_out(fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path) -> Case:
    env = env_for(manual, project)  # manual clock: the task never moves on its own
    args = ["generate", IMAGE, "--timeout", "0.5", "--out", str(tmp / "v.mp4")]
    needles = ["not finished after 0.5 s", "may still be running", "hailuo kill"]
    return Case(args, 4, needles, env, tmp, task_id="made", fetches=True)


def no_task(fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path) -> Case:
    env = env_for(fast, fast.create_project())
    return Case(["status", "999999"], 5, ["There is no task yet."], env, tmp)


def no_v1(fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path) -> Case:
    root = fast.base_url.removesuffix("/v1")
    env = env_for(fast, fast.create_project(), WIRO_BASE_URL=root)
    needles = [f"WIRO_BASE_URL is {root}, which does not end in /v1", f"try {root}/v1"]
    return Case(["list"], 5, needles, env, tmp)


def refused(fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path) -> Case:
    env = env_for(fast, fast.create_project(), WIRO_BASE_URL="http://127.0.0.1:1/v1")
    needles = ["could not connect ([Errno 111] Connection refused)", "WIRO_BASE_URL", "serve"]
    return Case(["list"], 6, needles, env, tmp)


def dead_socket(fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path) -> Case:
    env = env_for(manual, project, WIRO_SOCKET_URL="ws://127.0.0.1:1/v1")
    task = hailuo("generate", IMAGE, "--no-wait", "--json", env=env)
    task_id = json.loads(task.stdout)["id"]
    args = ["watch", task_id, "--via", "socket", "--timeout", "30"]
    needles = ["task socket failed", "--via auto falls back to polling"]
    return Case(args, 6, needles, env, tmp, task_id=task_id, fetches=True)


def broken_download(
    fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path
) -> Case:
    env = env_for(fast, fast.create_project())
    fast.add_fault("/cdn/*", reset=True, times=10)  # every video GET, after the task ran
    args = ["generate", IMAGE, "--via", "poll", "--out", str(tmp / "clip.mp4")]
    return Case(args, 6, ["GET http", "/cdn/"], env, tmp, task_id="made", fetches=True)


def out_under_a_file(
    fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path
) -> Case:
    env = env_for(fast, fast.create_project())
    (tmp / "afile").write_text("x")
    args = ["generate", IMAGE, "--out", "afile/v.mp4"]
    return Case(args, 7, ["cannot save to afile/v.mp4: afile is a file, not a folder"], env, tmp)


def out_unwritable(
    fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path
) -> Case:
    env = env_for(fast, fast.create_project())
    args = ["generate", IMAGE, "--out", "/proc/v.mp4"]  # unwritable even for root
    return Case(args, 7, ["cannot save to /proc/v.mp4: cannot write in /proc"], env, tmp)


def missing_input(
    fast: MockWiroServer, manual: MockWiroServer, project: Project, tmp: Path
) -> Case:
    env = env_for(fast, fast.create_project())
    args = ["generate", "no-such.jpg"]
    return Case(args, 7, ["cannot read image no-such.jpg: No such file or directory"], env, tmp)


ROWS: dict[str, Setup] = {
    "1-task-failed": task_failed,
    "2-refused-image": refused_image,
    "2-base-url-without-scheme": no_scheme,
    "3-cancelled": cancelled,
    "4-timeout": timed_out,
    "5-no-such-task": no_task,
    "5-base-url-without-v1": no_v1,
    "6-nothing-listening": refused,
    "6-dead-socket-via-socket": dead_socket,
    "6-download-broken-after-run": broken_download,
    "7-out-under-a-file": out_under_a_file,
    "7-out-unwritable": out_unwritable,
    "7-missing-input": missing_input,
}
ELSEWHERE = {
    0: "tests/client/test_cli.py (every success)",
    130: "test_ctrl_c_names_a_command_that_fetches below",
    141: "tests/client/test_cli_exits.py::test_cli_broken_pipe_exits_141_quietly",
}


def _fetch_line(stderr: str, task_id: str) -> str:
    found = re.search(rf"task {task_id} exists; to fetch its video: (hailuo .*)", stderr)
    assert found, stderr
    return found.group(1)


def _run_fetch(command: str, case: Case, fake: MockWiroServer) -> None:
    """Run the printed fetch command as printed; the video lands where it says."""
    argv = shlex.split(command)
    assert argv[0] == "hailuo"
    result = subprocess.run(
        [str(HAILUO), *argv[1:]],
        env=case.env,
        cwd=case.cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    saved = Path(result.stdout.split("saved ", 1)[1].strip())
    saved = saved if saved.is_absolute() else case.cwd / saved
    assert saved.stat().st_size > 0


@pytest.mark.parametrize("form", ["plain", "json"])
@pytest.mark.parametrize("row", sorted(ROWS))
def test_error_table_row(
    fast_fake: MockWiroServer,
    mock_wiro: MockWiroServer,
    mock_wiro_project: Project,
    tmp_path: Path,
    row: str,
    form: str,
) -> None:
    case = ROWS[row](fast_fake, mock_wiro, mock_wiro_project, tmp_path)
    fake = mock_wiro if case.env["WIRO_BASE_URL"] == mock_wiro.base_url else fast_fake
    before = {str(t.id) for t in fake.tasks()}
    try:
        args = [*case.args, "--json"] if form == "json" else case.args
        result = hailuo(*args, env=case.env, cwd=case.cwd)
    finally:
        fast_fake.clear_faults()
    made = [str(t.id) for t in fake.tasks() if str(t.id) not in before]
    task_id = made[0] if case.task_id == "made" else case.task_id
    if case.task_id == "made":
        assert len(made) == 1, made
    elif case.code in (2, 7) and row != "2-base-url-without-scheme":
        assert made == [], "refused locally, yet a task was made (and billed)"
    assert result.returncode == case.code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert "<_io." not in result.stderr
    for needle in case.needles:
        assert needle in result.stderr, result.stderr
    if task_id is not None:
        assert task_id in result.stderr
    if form == "json":
        answer = json.loads(result.stdout)
        assert answer["exit"] == case.code
        for needle in case.needles:
            assert needle in answer["error"]
        if task_id is not None:
            assert answer["id"] == task_id
    else:
        assert result.stdout == ""
    if case.fetches:
        assert task_id is not None
        fetch = _fetch_line(result.stderr, task_id)
        if form == "json":
            assert answer["fetch"] == fetch
        if fake is mock_wiro:
            fake.advance(300.0)  # the manual clock past the task's end
        env = dict(case.env)
        env.pop("WIRO_SOCKET_URL", None)
        _run_fetch(fetch, Case(case.args, 0, [], env, case.cwd), fake)


def test_ctrl_c_names_a_command_that_fetches(
    mock_wiro: MockWiroServer, mock_wiro_project: Project, tmp_path: Path
) -> None:
    env = env_for(mock_wiro, mock_wiro_project)
    out = tmp_path / "later.mp4"
    with subprocess.Popen(
        [str(HAILUO), "generate", IMAGE, "--out", str(out), "--via", "poll"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # "task N submitted (token ...)": it is waiting
        task_id = first.split()[1]
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 130, first + rest
    assert f"interrupted; task {task_id} keeps running (stop it: hailuo kill {task_id})" in rest
    fetch = _fetch_line(rest, task_id)
    assert fetch == f"hailuo watch {task_id} --out {out}"
    mock_wiro.advance(300.0)
    _run_fetch(fetch, Case([], 0, [], env, tmp_path), mock_wiro)
    assert out.stat().st_size > 0


def _doc_table() -> dict[int, str]:
    section = DOC.read_text().split("## The `hailuo` CLI", 1)[1]
    return {
        int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| (.*) \|$", section, re.M)
    }


def test_the_docs_table_help_and_constants_list_the_same_codes() -> None:
    table = _doc_table()
    codes = {code for code, _ in cli.EXITS}
    assert set(table) == codes
    constants = {getattr(cli, name) for name in cli.__all__ if name.startswith("EXIT_")}
    assert constants == codes
    helped = subprocess.run(
        [str(HAILUO), "--help"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    epilog = " ".join(helped.split("exit codes:", 1)[1].split())
    for code, name in cli.EXITS:
        assert f"{code} {name}" in epilog


def test_every_failing_row_of_the_docs_table_is_tested() -> None:
    tested = {int(row.split("-", 1)[0]) for row in ROWS} | set(ELSEWHERE)
    assert tested == set(_doc_table())


def test_both_scripts_say_their_version() -> None:
    from importlib.metadata import version

    result = subprocess.run(
        [str(HAILUO), "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == f"hailuo {version('mock-wiro')}"
    served = subprocess.run(
        [str(HAILUO.with_name("mock-wiro")), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert served.stdout.strip() == f"mock-wiro {version('mock-wiro')}"
