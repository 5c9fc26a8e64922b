"""The ``hailuo`` console script, run as a real subprocess against the fake on loopback.

Only environment variables point it at the fake, exactly as they would point it at
the real API. Generated videos are checked with ffprobe.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import image_path
from tests.helpers.client import HAILUO, env_for, hailuo
from tests.helpers.wiro import require_tool


@pytest.fixture(scope="module")
def fast_fake() -> Iterator[MockWiroServer]:
    """A fake whose clock runs 400x faster than the real API (a video takes ~0.1 s)."""
    with MockWiroServer(Settings(clock_mode="realtime", speed=400)) as server:
        yield server


def probe(path: Path) -> dict[str, Any]:
    ffprobe = require_tool("ffprobe")
    result = subprocess.run(
        [ffprobe, "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    info: dict[str, Any] = json.loads(result.stdout)
    return info


@pytest.mark.parametrize(
    ("image", "resolution", "duration"),
    [
        ("landscape_16x9.jpg", "768P", 6),
        ("portrait_9x16.png", "768P", 10),
        ("square.webp", "1080P", 6),
    ],
)
def test_generate_produces_the_requested_video(
    fast_fake: MockWiroServer, tmp_path: Path, image: str, resolution: str, duration: int
) -> None:
    project = fast_fake.create_project()
    out = tmp_path / "video.mp4"
    result = hailuo(
        "generate",
        image_path(image),
        "--prompt",
        "waves roll in",
        "--resolution",
        resolution,
        "--duration",
        str(duration),
        "--out",
        out,
        env=env_for(fast_fake, project),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"saved {out}"
    info = probe(out)
    (video,) = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert video["codec_name"] == "h264"
    width, height = int(video["width"]), int(video["height"])
    assert min(width, height) == int(resolution[:-1])
    with Image.open(image_path(image)) as img:
        source_ratio = Fraction(*img.size)
    assert abs(Fraction(width, height) / source_ratio - 1) < Fraction(1, 100)
    assert abs(float(info["format"]["duration"]) - duration) < 0.1
    # plain progress lines on a pipe, one per step, ending in "done"
    lines = result.stderr.splitlines()
    assert any(line.endswith("generating 50%") for line in lines), lines
    assert lines[-1].endswith(": done")
    assert "\x1b[" not in result.stderr


def test_generate_json_and_default_file_name(fast_fake: MockWiroServer, tmp_path: Path) -> None:
    project = fast_fake.create_project()
    result = hailuo(
        "generate",
        image_path("landscape_16x9.jpg"),
        "-p",
        "x",
        "--json",
        "--via",
        "poll",
        env=env_for(fast_fake, project),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    saved = Path(answer["saved"])
    assert saved == tmp_path / f"hailuo-{answer['id']}.mp4"
    assert answer["succeeded"] is True and answer["status"] == "task_postprocess_end"
    assert saved.stat().st_size == answer["size"] > 0


def test_failed_task_exits_1(fast_fake: MockWiroServer, tmp_path: Path) -> None:
    project = fast_fake.create_project()
    result = hailuo(
        "generate",
        image_path("too_wide_3x1.jpg"),
        "--no-check",
        "--json",
        env=env_for(fast_fake, project),
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr
    answer = json.loads(result.stdout)
    assert answer["succeeded"] is False and answer["pexit"] != 0
    assert "aspect ratio" in answer["debugerror"] and "aspect ratio" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_image_refused_locally_exits_2(fast_fake: MockWiroServer, tmp_path: Path) -> None:
    project = fast_fake.create_project()
    result = hailuo(
        "generate", image_path("too_small_short_side.jpg"), env=env_for(fast_fake, project)
    )
    assert result.returncode == 2
    assert "short side" in result.stderr
    assert [t for t in fast_fake.tasks() if t.project_id == project.id] == []


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("generate", "x.jpg", "--resolution", "720P"), "invalid choice"),
        (("generate", "x.jpg", "--duration", "8"), "invalid choice"),
        (("frobnicate",), "invalid choice"),
        ((), "required"),
    ],
)
def test_usage_errors_exit_2(fast_fake: MockWiroServer, args: tuple[str, ...], needle: str) -> None:
    result = hailuo(*args, env=env_for(fast_fake, fast_fake.create_project()))
    assert result.returncode == 2
    assert needle in result.stderr


def test_missing_credentials_exit_2(fast_fake: MockWiroServer) -> None:
    env = env_for(fast_fake, fast_fake.create_project())
    del env["WIRO_API_KEY"]
    result = hailuo("list", env=env)
    assert result.returncode == 2
    assert "WIRO_API_KEY" in result.stderr


def test_api_and_transport_errors(fast_fake: MockWiroServer) -> None:
    project = fast_fake.create_project()
    wrong = env_for(fast_fake, project, WIRO_API_SECRET="not-the-secret")
    result = hailuo("list", env=wrong)
    assert result.returncode == 5
    assert "Project authorization is not valid." in result.stderr
    result = hailuo("status", "999999", env=env_for(fast_fake, project))
    assert result.returncode == 5
    assert "There is no task yet." in result.stderr
    unreachable = env_for(fast_fake, project, WIRO_BASE_URL="http://127.0.0.1:1/v1")
    result = hailuo("list", env=unreachable)
    assert result.returncode == 6
    assert "could not connect ([Errno 111] Connection refused)" in result.stderr
    assert "Check WIRO_BASE_URL (now http://127.0.0.1:1/v1)" in result.stderr
    assert "mock-wiro serve" in result.stderr


def test_no_wait_status_cancel_watch(mock_wiro: MockWiroServer, mock_wiro_project: Any) -> None:
    env = env_for(mock_wiro, mock_wiro_project)  # manual clock: the task stays queued
    submitted = hailuo("generate", image_path("landscape_16x9.jpg"), "--no-wait", "--json", env=env)
    assert submitted.returncode == 0, submitted.stderr
    task = json.loads(submitted.stdout)
    assert task["status"] == "task_queue" and task["token"]
    status = hailuo("status", task["token"], "--json", env=env)
    assert json.loads(status.stdout)["id"] == task["id"]
    cancelled = hailuo("cancel", task["id"], env=env)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"task {task['id']}: cancelled (task_cancel")
    watched = hailuo("watch", task["id"], env=env)
    assert watched.returncode == 3
    assert "cancelled" in watched.stderr
    download = hailuo("download", task["id"], env=env)
    assert download.returncode == 3


def test_kill_running_task(mock_wiro: MockWiroServer, mock_wiro_project: Any) -> None:
    env = env_for(mock_wiro, mock_wiro_project)
    submitted = hailuo("generate", image_path("landscape_16x9.jpg"), "--no-wait", env=env)
    task_id = submitted.stdout.split()[1]
    mock_wiro.push(task_id, "task_start")
    refused = hailuo("cancel", task_id, env=env)
    assert refused.returncode == 5
    assert "Task is not in a cancellable state." in refused.stderr
    killed = hailuo("kill", task_id, "--json", env=env)
    assert killed.returncode == 0, killed.stderr
    assert json.loads(killed.stdout)["status"] == "task_cancel"
    assert hailuo("watch", task_id, "--via", "poll", env=env).returncode == 3


def test_watch_timeout_exits_4(mock_wiro: MockWiroServer, mock_wiro_project: Any) -> None:
    env = env_for(mock_wiro, mock_wiro_project)  # manual clock: it never finishes
    submitted = hailuo("generate", image_path("landscape_16x9.jpg"), "--no-wait", env=env)
    task_id = submitted.stdout.split()[1]
    result = hailuo("watch", task_id, "--timeout", "0.5", env=env)
    assert result.returncode == 4
    assert f"hailuo kill {task_id}" in result.stderr
    not_done = hailuo("download", task_id, env=env)
    assert not_done.returncode == 2 and "not finished" in not_done.stderr


def test_upload_then_generate_from_its_url(fast_fake: MockWiroServer, tmp_path: Path) -> None:
    env = env_for(fast_fake, fast_fake.create_project())
    uploaded = hailuo("upload", image_path("portrait_9x16.png"), "--json", env=env)
    assert uploaded.returncode == 0, uploaded.stderr
    (file,) = json.loads(uploaded.stdout)
    url = file["url"]
    assert url.startswith("http://127.0.0.1")
    out = tmp_path / "from-url.mp4"
    result = hailuo("generate", url, "-p", "x", "-o", out, env=env)
    assert result.returncode == 0, result.stderr
    video = next(s for s in probe(out)["streams"] if s["codec_type"] == "video")
    assert min(int(video["width"]), int(video["height"])) == 768


def test_download_and_list(fast_fake: MockWiroServer, tmp_path: Path) -> None:
    env = env_for(fast_fake, fast_fake.create_project())
    done = hailuo("generate", image_path("square.webp"), "--json", "-o", tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    again = tmp_path / "again.mp4"
    result = hailuo("download", answer["id"], "--out", again, env=env)
    assert result.returncode == 0, result.stderr
    assert again.read_bytes() == Path(answer["saved"]).read_bytes()
    listed = hailuo("list", env=env)
    assert listed.stdout.split() == [answer["id"], "task_postprocess_end"]


def test_terminal_gets_a_live_progress_display(tmp_path: Path) -> None:
    """Under a pseudo-terminal: a redrawn progress bar with percentages, then the path.

    On a manual clock the task moves only once hailuo follows its socket: a task that
    ended before hailuo subscribed (a 400x realtime one takes ~0.13 s) is rightly shown
    as just "done", with no "generating" step to see.
    """
    with MockWiroServer(Settings(clock_mode="manual")) as fake:
        env = env_for(fake, fake.create_project(), TERM="xterm", COLUMNS="100")
        out = tmp_path / "tty.mp4"
        main, secondary = pty.openpty()
        process = subprocess.Popen(
            [str(HAILUO), "generate", str(image_path("landscape_16x9.jpg")), "-o", str(out)],
            env=env,
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
        )
        os.close(secondary)
        chunks: list[bytes] = []
        reader = threading.Thread(target=_read_terminal, args=(main, chunks), daemon=True)
        reader.start()  # drained all along, so hailuo never blocks on a full terminal
        # its socket is registered once the replayed task_queue frame has been sent
        subscribed = fake.backend.journal.wait_for(
            lambda e: e.kind == "frame" and e.get("type") == "task_queue", timeout=60
        )
        assert subscribed is not None, "hailuo never followed its task's socket"
        # once registered, hailuo looks once by Task/Detail (a late subscriber may get no
        # replay): advancing before that answer would end the task first, and it would
        # rightly show just "done" (CI saw that race)
        looked = fake.backend.journal.wait_for(
            lambda e: e.kind == "request" and str(e.get("path")).endswith("/Task/Detail"),
            timeout=60,
        )
        assert looked is not None, "hailuo never looked at its task once registered"
        fake.backend.advance(600)
        assert process.wait(timeout=60) == 0
        reader.join(timeout=60)
        assert not reader.is_alive(), "hailuo's terminal never closed"
    os.close(main)
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in screen and "\r" in screen  # redrawn in place, with colours
    assert "100%" in screen and "generating" in screen
    assert f"saved {out}" in screen
    assert out.stat().st_size > 0


def _read_terminal(main: int, chunks: list[bytes]) -> None:
    """Collect what is written to the terminal until its last writer closes it."""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            return
        if not chunk:
            return
        chunks.append(chunk)


def test_the_serve_banner_line_drives_hailuo(tmp_path: Path) -> None:
    """Two real processes: ``mock-wiro serve`` and ``hailuo``, joined only by the banner's
    ``export WIRO_...`` line, as a user would copy it."""
    import shlex

    from tests.helpers.serve import start_serve

    served = start_serve(tmp_path, "--speed", "400")
    try:
        (export,) = [line for line in served.banner if line.strip().startswith("export WIRO_")]
        env = {k: v for k, v in os.environ.items() if not k.startswith("WIRO_")}
        for assignment in shlex.split(export.strip())[1:]:
            name, _, value = assignment.partition("=")
            env[name] = value
        out = tmp_path / "banner.mp4"
        result = hailuo("generate", image_path("square.webp"), "-p", "x", "-o", out, env=env)
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 0
    finally:
        assert served.stop() == 0


def test_status_names_the_stage_and_pexit_only_once_ended(
    mock_wiro: MockWiroServer, mock_wiro_project: Any
) -> None:
    env = env_for(mock_wiro, mock_wiro_project)
    submitted = hailuo("generate", image_path("landscape_16x9.jpg"), "--no-wait", env=env)
    task_id = submitted.stdout.split()[1]
    mock_wiro.push(task_id, "task_start")
    running = hailuo("status", task_id, env=env)
    assert running.stdout == f"task {task_id}: starting (task_start)\n"  # no "pexit 0" yet
    answer = json.loads(hailuo("status", task_id, "--json", env=env).stdout)
    assert answer["stage"] == "starting" and answer["pexit"] is None
    mock_wiro.advance(300.0)
    ended = hailuo("status", task_id, env=env)
    assert ended.stdout.startswith(f"task {task_id}: done (task_postprocess_end, pexit 0) http")
    assert json.loads(hailuo("status", task_id, "--json", env=env).stdout)["pexit"] == 0


def test_list_start_skips(mock_wiro: MockWiroServer, mock_wiro_project: Any) -> None:
    env = env_for(mock_wiro, mock_wiro_project)
    for _ in range(3):
        hailuo("generate", image_path("landscape_16x9.jpg"), "--no-wait", env=env)
    every = hailuo("list", env=env).stdout.splitlines()
    assert len(every) == 3
    assert hailuo("list", "--start", "1", "--limit", "1", env=env).stdout.splitlines() == every[1:2]
