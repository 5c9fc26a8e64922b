"""The output video, end to end: Run over HTTP, download the output URL, check it with
ffprobe (and PyAV's demuxer/decoder) — never by its name."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import av
import pytest
import requests

from mock_wiro.engine.video import OUTPUT_FPS
from mock_wiro_fixtures import IMAGE_SIZES
from tests.helpers.wiro import Wiro, require_tool

CASES = [
    # image, resolution, duration, expected (width, height)
    ("landscape_16x9.jpg", "768P", "6", (1366, 768)),
    ("portrait_9x16.png", "768P", "10", (768, 1366)),
    ("square.webp", "768P", "6", (768, 768)),
    ("landscape_16x9.jpg", "1080P", "6", (1920, 1080)),
    ("edge_5x2.png", "768P", "6", (1920, 768)),
]


def finished_output(wiro: Wiro, image: str, **fields: str) -> dict[str, Any]:
    taskid = wiro.run(image, **fields)["taskid"]
    wiro.server.backend.advance(300)
    task = wiro.detail(taskid)
    assert task["status"] == "task_postprocess_end" and task["pexit"] == "0", task
    output: dict[str, Any] = task["outputs"][0]
    return output


def ffprobe(path: Path) -> dict[str, Any]:
    tool = require_tool("ffprobe")
    completed = subprocess.run(
        [
            tool,
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert completed.stderr == "", completed.stderr  # no warnings either
    info: dict[str, Any] = json.loads(completed.stdout)
    return info


@pytest.mark.parametrize(("image", "resolution", "duration", "size"), CASES)
def test_output_is_a_real_mp4_of_the_requested_shape(
    wiro: Wiro, tmp_path: Path, image: str, resolution: str, duration: str, size: tuple[int, int]
) -> None:
    output = finished_output(wiro, image, resolution=resolution, duration=duration)
    response = requests.get(output["url"], timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert len(response.content) == int(output["size"])
    path = tmp_path / "out.mp4"
    path.write_bytes(response.content)

    # PyAV: a real demuxer and decoder, always available
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == size
    assert frames == int(duration) * OUTPUT_FPS

    info = ffprobe(path)
    video = info["streams"][0]
    assert video["codec_name"] == "h264" and (video["width"], video["height"]) == size
    assert int(video["nb_read_frames"]) == int(duration) * OUTPUT_FPS
    assert float(info["format"]["duration"]) == pytest.approx(int(duration), abs=0.1)
    assert "mp4" in info["format"]["format_name"]
    # the aspect ratio follows the input image's
    w, h = IMAGE_SIZES[image]
    assert (size[0] > size[1]) == (w > h) and (size[0] < size[1]) == (w < h)


def test_output_supports_range_requests(wiro: Wiro) -> None:
    output = finished_output(wiro, "landscape_16x9.jpg")
    partial = requests.get(output["url"], headers={"Range": "bytes=0-99"}, timeout=30)
    assert partial.status_code == 206 and len(partial.content) == 100
    assert partial.content[4:8] == b"ftyp"


def test_outputs_of_one_size_are_rendered_once(wiro: Wiro) -> None:
    renderer = wiro.server.backend.renderer
    finished_output(wiro, "landscape_16x9.jpg", duration="10")
    before = dict(renderer.stats)
    finished_output(wiro, "landscape_16x9.jpg", duration="10")
    assert renderer.stats["encodes"] == before["encodes"]


def test_1080p_10s_fallback_output_is_6_seconds(wiro: Wiro, tmp_path: Path) -> None:
    """Issue 17 finding 5, ``hd_long_duration="fallback"`` (default): 1080P with 10 s
    runs as a 6 s 1080P video."""
    output = finished_output(wiro, "landscape_16x9.jpg", resolution="1080P", duration="10")
    path = tmp_path / "out.mp4"
    path.write_bytes(requests.get(output["url"], timeout=30).content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.codec_context.width, stream.codec_context.height) == (1920, 1080)
    assert frames == 6 * OUTPUT_FPS
