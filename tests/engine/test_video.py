"""The fake's MP4 outputs: sizes, validity (PyAV always, ffprobe when installed), caching."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pytest

from mock_wiro.engine import video
from mock_wiro.engine.video import OUTPUT_FPS, SHORT_SIDES, VideoRenderer, output_dimensions
from tests.helpers.wiro import require_tool

# (resolution, duration, input image size) -> expected output size
RENDER_CASES = [
    pytest.param("768P", 6, (1280, 720), (1366, 768), id="768P-6s-landscape"),
    pytest.param("768P", 10, (720, 1280), (768, 1366), id="768P-10s-portrait"),
    pytest.param("1080P", 6, (1920, 1080), (1920, 1080), id="1080P-6s-landscape"),
]


@pytest.fixture(scope="module")
def renderer() -> VideoRenderer:
    return VideoRenderer()


def _top_level_boxes(data: bytes) -> list[bytes]:
    kinds, pos = [], 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
        elif size == 0:
            size = len(data) - pos
        assert size >= 8
        kinds.append(kind)
        pos += size
    assert pos == len(data), "trailing bytes after the last box"
    return kinds


# --- output_dimensions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "resolution", "expected"),
    [
        ((1920, 1080), "768P", (1366, 768)),  # 16:9 -> 1365.33 rounds to 1366
        ((1920, 1080), "1080P", (1920, 1080)),
        ((1080, 1920), "768P", (768, 1366)),  # 9:16
        ((1080, 1920), "1080P", (1080, 1920)),
        ((1000, 1000), "768P", (768, 768)),  # 1:1
        ((1000, 1000), "1080P", (1080, 1080)),
        ((400, 1000), "768P", (768, 1920)),  # 2:5
        ((400, 1000), "1080P", (1080, 2700)),
        ((1000, 400), "768P", (1920, 768)),  # 5:2
        ((1000, 400), "1080P", (2700, 1080)),
        ((769, 768), "768P", (770, 768)),  # long side exactly odd: rounds up to even
        ((1080, 1081), "1080P", (1080, 1082)),
        ((1024, 768), "768P", (1024, 768)),  # 4:3, already even
        ((301, 302), "768P", (768, 770)),  # 770.55... -> 770
        ((1000, 999), "1080P", (1082, 1080)),  # 1081.08 -> 1082
        ((1707, 1708), "1080P", (1080, 1082)),  # 1080.63 would round to square: kept portrait
    ],
)
def test_output_dimensions(
    image: tuple[int, int], resolution: str, expected: tuple[int, int]
) -> None:
    assert output_dimensions(*image, resolution) == expected


@pytest.mark.parametrize("resolution", list(SHORT_SIDES))
def test_output_dimensions_are_even_and_keep_orientation(resolution: str) -> None:
    short = SHORT_SIDES[resolution]
    for w in range(301, 1800, 37):
        for h in range(max(301, w * 2 // 5 + 1), min(1800, w * 5 // 2), 41):
            out_w, out_h = output_dimensions(w, h, resolution)
            assert out_w % 2 == 0 and out_h % 2 == 0
            assert min(out_w, out_h) == short
            assert (out_w > out_h) == (w > h) and (out_w == out_h) == (w == h)
            assert abs(max(out_w, out_h) - short * max(w, h) / min(w, h)) <= 2  # 1 + near-square


def test_output_dimensions_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="resolution"):
        output_dimensions(1920, 1080, "720P")
    with pytest.raises(ValueError, match="positive"):
        output_dimensions(0, 1080, "768P")


# --- the MP4 itself ------------------------------------------------------------------------


@pytest.mark.parametrize(("resolution", "duration", "image", "size"), RENDER_CASES)
def test_render_decodes_with_pyav(
    renderer: VideoRenderer,
    resolution: str,
    duration: int,
    image: tuple[int, int],
    size: tuple[int, int],
) -> None:
    width, height = output_dimensions(*image, resolution)
    assert (width, height) == size
    data = renderer.render(width, height, duration)
    assert _top_level_boxes(data)[:1] == [b"ftyp"]
    kinds = _top_level_boxes(data)
    assert kinds.index(b"moov") < kinds.index(b"mdat"), "moov should come first (fast start)"

    expected_frames = duration * OUTPUT_FPS
    with av.open(io.BytesIO(data), "r") as container:
        assert "mp4" in container.format.name
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.frames == expected_frames
        assert stream.average_rate == OUTPUT_FPS
        assert container.duration is not None
        assert abs(container.duration / av.time_base - duration) < 0.1
        keyframes = [p.is_keyframe for p in container.demux(stream) if p.size]
    assert len(keyframes) == expected_frames
    assert [i for i, k in enumerate(keyframes) if k] == list(range(0, expected_frames, OUTPUT_FPS))

    with av.open(io.BytesIO(data), "r") as container:
        frames = []
        for frame in container.decode(video=0):
            assert (frame.width, frame.height) == (width, height)
            assert frame.format.name == "yuv420p"
            frames.append(frame)
    assert len(frames) == expected_frames
    pictures = [bytes(f.planes[0]) for f in frames[: OUTPUT_FPS + 1]]
    assert pictures[0] != pictures[OUTPUT_FPS // 2], "the pattern should move within a second"
    assert pictures[0] == pictures[OUTPUT_FPS], "each second repeats the same closed GOP"


@pytest.mark.parametrize(("resolution", "duration", "image", "size"), RENDER_CASES)
def test_render_passes_ffprobe(
    renderer: VideoRenderer,
    tmp_path: Path,
    resolution: str,
    duration: int,
    image: tuple[int, int],
    size: tuple[int, int],
) -> None:
    ffprobe = require_tool("ffprobe")  # PyAV checks run regardless
    width, height = output_dimensions(*image, resolution)
    path = tmp_path / f"out_{width}x{height}_{duration}s.mp4"
    path.write_bytes(renderer.render(width, height, duration))
    # -v warning (stricter than -v error): any warning on stderr fails the test
    command = [ffprobe, "-v", "warning", "-count_frames", "-show_streams", "-show_format"]
    result = subprocess.run(
        [*command, "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", f"ffprobe complained: {result.stderr}"
    probe = json.loads(result.stdout)
    (stream,) = probe["streams"]
    assert stream["codec_name"] == "h264"
    assert stream["pix_fmt"] == "yuv420p"
    assert (stream["width"], stream["height"]) == size
    assert int(stream["nb_frames"]) == duration * OUTPUT_FPS
    assert int(stream["nb_read_frames"]) == duration * OUTPUT_FPS
    assert stream["r_frame_rate"] == f"{OUTPUT_FPS}/1"
    assert abs(float(stream["duration"]) - duration) < 0.1
    assert abs(float(probe["format"]["duration"]) - duration) < 0.1
    assert "mp4" in probe["format"]["format_name"]


# --- caching ------------------------------------------------------------------------------


def test_second_render_is_a_cache_hit() -> None:
    r = VideoRenderer()
    first = r.render(320, 240, 2)
    assert (r.stats["encodes"], r.stats["remuxes"], r.stats["hits"]) == (1, 1, 0)
    assert r.render(320, 240, 2) is first
    assert (r.stats["encodes"], r.stats["remuxes"], r.stats["hits"]) == (1, 1, 1)


def test_other_durations_reuse_the_gop() -> None:
    r = VideoRenderer()
    short, long = r.render(320, 240, 1), r.render(320, 240, 3)
    assert r.stats["encodes"] == 1
    assert r.stats["remuxes"] == 2
    assert r.stats["gop_hits"] == 1
    assert len(long) > 2 * len(short)
    with av.open(io.BytesIO(long), "r") as container:
        assert container.streams.video[0].frames == 3 * OUTPUT_FPS


def test_warm_pre_encodes() -> None:
    r = VideoRenderer()
    r.warm([(320, 240), (240, 320)])
    assert r.stats["encodes"] == 2
    r.render(240, 320, 2)
    assert (r.stats["encodes"], r.stats["remuxes"]) == (2, 1)


def test_caches_are_bounded() -> None:
    r = VideoRenderer(max_cached=1)
    r.render(320, 240, 1)
    r.render(240, 320, 1)
    r.render(320, 240, 1)
    assert r.stats["encodes"] == 3
    assert r.stats["cached_gops"] == 1 and r.stats["cached_videos"] == 1


def test_byte_budget_bounds_the_video_cache() -> None:
    r = VideoRenderer(max_cached_bytes=1)
    r.render(320, 240, 1)
    r.render(320, 240, 1)
    assert (r.stats["encodes"], r.stats["remuxes"], r.stats["hits"]) == (1, 2, 0)
    assert r.stats["cached_video_bytes"] == 0


def test_concurrent_renders_of_a_new_size_encode_once() -> None:
    r = VideoRenderer()
    barrier = threading.Barrier(4)

    def render(_: int) -> bytes:
        barrier.wait()
        return r.render(352, 288, 2)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(render, range(4)))
    assert r.stats["encodes"] == 1
    assert r.stats["remuxes"] == 1
    assert r.stats["hits"] == 3
    assert all(result is results[0] for result in results)


def test_concurrent_durations_share_one_encode() -> None:
    r = VideoRenderer()
    barrier = threading.Barrier(4)

    def render(duration: int) -> bytes:
        barrier.wait()
        return r.render(352, 288, duration)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(render, [1, 2, 3, 4]))
    assert r.stats["encodes"] == 1
    assert r.stats["remuxes"] == 4
    assert len(set(results)) == 4


def test_a_failed_encode_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    r = VideoRenderer()
    real = video._encode_gop

    def broken(width: int, height: int, fps: int) -> bytes:
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(video, "_encode_gop", broken)
    with pytest.raises(RuntimeError, match="exploded"):
        r.render(320, 240, 1)
    monkeypatch.setattr(video, "_encode_gop", real)
    assert r.render(320, 240, 1)
    assert r.stats["encodes"] == 2


@pytest.mark.parametrize(
    ("width", "height", "duration"),
    [(321, 240, 1), (320, 0, 1), (320, 240, 0), (320, 240, True), (320, 240, 1.5)],
)
def test_render_rejects_bad_arguments(width: int, height: int, duration: int) -> None:
    with pytest.raises(ValueError):
        VideoRenderer().render(width, height, duration)


def test_other_frame_rates() -> None:
    data = VideoRenderer(fps=30).render(320, 240, 2)
    with av.open(io.BytesIO(data), "r") as container:
        assert sum(1 for _ in container.decode(video=0)) == 60
