"""How fast VideoRenderer is next to a naive full encode. A script, not a test.

Run: .venv/bin/python benchmarks/bench_video.py [--repeat N], or as part of
``python -m benchmarks`` (``run(quick)``).

Baseline: encode every frame of 6 s of 1920x1080 at OUTPUT_FPS with libx264
(preset ultrafast, same CRF and pattern as the renderer) into an MP4. Cold: a
fresh VideoRenderer's first render of that size (one 1-second GOP encode plus a
remux). Warm: the same render again (whole-MP4 cache hit); "remux only" is a new
duration of a size whose GOP is cached.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import Row
from mock_wiro.engine import video
from mock_wiro.engine.video import OUTPUT_FPS, VideoRenderer

WIDTH, HEIGHT, SECONDS = 1920, 1080, 6


def naive_encode(width: int, height: int, seconds: int, fps: int = OUTPUT_FPS) -> bytes:
    """Generate and encode all ``seconds * fps`` frames (the pattern, looped) with libx264."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options=video._encoder_options(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for second in range(seconds):
            for frame in video._pattern_frames(width, height, fps):
                frame.pts = second * fps + (frame.pts or 0)
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def timed(func: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, min) seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def run(quick: bool) -> list[Row]:
    """Rows for ``python -m benchmarks``: cold, remux-only and cached renders vs the naive
    full encode, all measured now (times in ms; ratio < 1 is faster)."""
    n = 2 if quick else 5
    video._encode_gop(320, 240, OUTPUT_FPS)  # load libx264 once, outside the timings
    base_med, _ = timed(lambda: naive_encode(WIDTH, HEIGHT, SECONDS), n)
    cold_med, _ = timed(lambda: VideoRenderer().render(WIDTH, HEIGHT, SECONDS), n)
    warm_renderer = VideoRenderer()
    warm_renderer.render(WIDTH, HEIGHT, SECONDS)
    warm_med, _ = timed(lambda: warm_renderer.render(WIDTH, HEIGHT, SECONDS), n * 200)
    durations = iter(range(7, 7 + n))
    remux_med, _ = timed(lambda: warm_renderer.render(WIDTH, HEIGHT, next(durations)), n)
    label = "naive full encode"
    return [
        Row("video", f"cold render {WIDTH}x{HEIGHT} {SECONDS}s", cold_med * 1e3, "ms",
            base_med * 1e3, label, median=cold_med * 1e3),
        Row("video", "remux only (GOP cached)", remux_med * 1e3, "ms", base_med * 1e3, label,
            median=remux_med * 1e3),
        Row("video", "cached MP4", warm_med * 1e3, "ms", base_med * 1e3, label,
            median=warm_med * 1e3),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.repeat

    video._encode_gop(320, 240, OUTPUT_FPS)  # load libx264 once, outside the timings

    base_med, base_min = timed(lambda: naive_encode(WIDTH, HEIGHT, SECONDS), n)
    cold_med, cold_min = timed(lambda: VideoRenderer().render(WIDTH, HEIGHT, SECONDS), n)
    warm_renderer = VideoRenderer()
    data = warm_renderer.render(WIDTH, HEIGHT, SECONDS)
    warm_med, warm_min = timed(lambda: warm_renderer.render(WIDTH, HEIGHT, SECONDS), n * 200)
    durations = iter(range(7, 7 + n))
    remux_med, remux_min = timed(lambda: warm_renderer.render(WIDTH, HEIGHT, next(durations)), n)
    gop_med, gop_min = timed(lambda: video._encode_gop(WIDTH, HEIGHT, OUTPUT_FPS), n)
    frames_med, frames_min = timed(
        lambda: list(video._pattern_frames(WIDTH, HEIGHT, OUTPUT_FPS)), n
    )

    print(f"{SECONDS} s of {WIDTH}x{HEIGHT} at {OUTPUT_FPS} fps, {n} runs (median / min)")
    print(f"  MP4 size: {len(data) / 1e6:.2f} MB")
    rows = [
        ("baseline: naive full encode", base_med, base_min),
        ("renderer cold (GOP encode + remux)", cold_med, cold_min),
        ("  of which 1-s GOP encode", gop_med, gop_min),
        ("  of which pattern generation", frames_med, frames_min),
        ("renderer remux only (GOP cached)", remux_med, remux_min),
        ("renderer warm (MP4 cached)", warm_med, warm_min),
    ]
    for label, med, best in rows:
        print(f"  {label:<38} {med * 1e3:10.3f} ms {best * 1e3:10.3f} ms")
    print(f"  baseline / cold:  {base_med / cold_med:8.1f}x")
    print(f"  baseline / remux: {base_med / remux_med:8.1f}x")
    print(f"  baseline / warm:  {base_med / warm_med:8.0f}x")
    print(f"  stats of the warm renderer: {warm_renderer.stats}")


if __name__ == "__main__":
    main()
