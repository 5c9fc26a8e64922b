"""Real, playable H.264 MP4 outputs for the fake, made fast.

The content is a synthetic test pattern (a gradient with a white bar sweeping
across once a second); it never depends on the input image [A]. Encoding
seconds of full HD per task would slow the task lifecycle, so each
(width, height) is encoded once as ONE closed 1-second GOP (keyframe first, no
B-frames) and any N-second video is built by remuxing those packets N times
with shifted timestamps into a new MP4 -- no re-encode. Both the per-size GOP
and the final MP4 bytes are kept in bounded, thread-safe LRU caches.
"""

from __future__ import annotations

import io
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from fractions import Fraction
from typing import Generic, TypeVar

import av

__all__ = ["OUTPUT_FPS", "SHORT_SIDES", "VideoRenderer", "output_dimensions"]

OUTPUT_FPS: int = 24  # [A] the real model's frame rate is not documented
SHORT_SIDES: dict[str, int] = {"768P": 768, "1080P": 1080}

_MAX_SIDE = 8192  # refuse absurd sizes rather than eat the machine
_MAX_DURATION = 600  # seconds
_DEFAULT_MAX_CACHED_BYTES = 256 * 1024 * 1024  # final-MP4 cache budget
_CRF = 40  # a high CRF: the pattern is flat, small files, ~1.4 Mbit/s at 1080p

_K = TypeVar("_K")
_V = TypeVar("_V")


def output_dimensions(image_width: int, image_height: int, resolution: str) -> tuple[int, int]:
    """(width, height) of the output video for an input image and a resolution.

    The short side is 768 or 1080 per ``resolution``; the long side follows the
    image's aspect ratio, rounded to the nearest even number (yuv420p needs even
    sizes). Portrait stays portrait, square stays square: a near-square image
    gets a long side of at least short + 2.
    """
    if resolution not in SHORT_SIDES:
        raise ValueError(f"resolution must be one of {', '.join(SHORT_SIDES)}; got {resolution!r}")
    if image_width <= 0 or image_height <= 0:
        raise ValueError(f"image size must be positive; got {image_width}x{image_height}")
    short = SHORT_SIDES[resolution]
    ratio = Fraction(max(image_width, image_height), min(image_width, image_height))
    long = 2 * int(short * ratio / 2 + Fraction(1, 2))  # round half up, to even
    if image_width != image_height:
        long = max(long, short + 2)  # a near-square image still keeps its orientation
    return (long, short) if image_width > image_height else (short, long)


class _SingleFlightLRU(Generic[_K, _V]):
    """A bounded LRU map that builds a missing value once, however many threads ask."""

    def __init__(
        self,
        max_items: int,
        max_bytes: int | None = None,
        size_of: Callable[[_V], int] | None = None,
    ) -> None:
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._size_of = size_of
        self._items: OrderedDict[_K, _V] = OrderedDict()
        self._pending: dict[_K, Future[_V]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_build(self, key: _K, build: Callable[[], _V]) -> tuple[_V, bool]:
        """Return ``(value, built_here)``; waiters on another thread's build get False."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key], False
            future = self._pending.get(key)
            owner = future is None
            if future is None:
                future = self._pending[key] = Future()
        if not owner:
            return future.result(), False
        try:
            value = build()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            future.set_exception(exc)
            raise
        with self._lock:
            del self._pending[key]
            self._insert(key, value)
        future.set_result(value)
        return value, True

    def _insert(self, key: _K, value: _V) -> None:
        self._items[key] = value
        self._bytes += self._weight(value)
        while self._items and (
            len(self._items) > self._max_items
            or (self._max_bytes is not None and self._bytes > self._max_bytes)
        ):
            _, old = self._items.popitem(last=False)
            self._bytes -= self._weight(old)

    def _weight(self, value: _V) -> int:
        return self._size_of(value) if self._size_of is not None else 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Total weight of the cached values (0 without ``size_of``)."""
        with self._lock:
            return self._bytes


class VideoRenderer:
    """Builds MP4s of a moving test pattern at any even size and whole-second duration."""

    def __init__(
        self,
        fps: int = OUTPUT_FPS,
        max_cached: int = 64,
        *,
        max_cached_bytes: int = _DEFAULT_MAX_CACHED_BYTES,
    ) -> None:
        if not 1 <= fps <= 120:
            raise ValueError(f"fps must be between 1 and 120; got {fps}")
        if max_cached < 0 or max_cached_bytes < 0:
            raise ValueError("cache bounds must not be negative")
        self.fps = fps
        self._gops: _SingleFlightLRU[tuple[int, int], bytes] = _SingleFlightLRU(max_cached)
        self._videos: _SingleFlightLRU[tuple[int, int, int], bytes] = _SingleFlightLRU(
            max_cached, max_cached_bytes, len
        )
        self._counts = {"encodes": 0, "hits": 0, "remuxes": 0, "gop_hits": 0}
        self._counts_lock = threading.Lock()

    def render(self, width: int, height: int, duration_seconds: int) -> bytes:
        """A playable H.264 MP4 of ``duration_seconds * fps`` frames at width x height.

        yuv420p, moov box first (fast start). Thread-safe; cached per
        (width, height, duration) and, underneath, per (width, height).
        """
        _check_size(width, height)
        if (
            isinstance(duration_seconds, bool)
            or not isinstance(duration_seconds, int)
            or not 1 <= duration_seconds <= _MAX_DURATION
        ):
            raise ValueError(
                f"duration_seconds must be a whole number from 1 to {_MAX_DURATION}; "
                f"got {duration_seconds!r}"
            )
        key = (width, height, duration_seconds)
        video, built = self._videos.get_or_build(key, lambda: self._build(*key))
        if not built:
            self._count("hits")
        return video

    def warm(self, sizes: Iterable[tuple[int, int]]) -> None:
        """Pre-encode the 1-second unit for each (width, height), so renders only remux."""
        for width, height in sizes:
            _check_size(width, height)
            self._gop(width, height)

    @property
    def stats(self) -> dict[str, int]:
        """Counters: GOP ``encodes``, ``remuxes``, cache ``hits`` (whole MP4) and ``gop_hits``."""
        with self._counts_lock:
            counts = dict(self._counts)
        counts["cached_gops"] = len(self._gops)
        counts["cached_videos"] = len(self._videos)
        counts["cached_video_bytes"] = self._videos.nbytes
        return counts

    def _count(self, name: str) -> None:
        with self._counts_lock:
            self._counts[name] += 1

    def _gop(self, width: int, height: int) -> bytes:
        gop, built = self._gops.get_or_build((width, height), lambda: self._encode(width, height))
        if not built:
            self._count("gop_hits")
        return gop

    def _encode(self, width: int, height: int) -> bytes:
        self._count("encodes")
        return _encode_gop(width, height, self.fps)

    def _build(self, width: int, height: int, duration_seconds: int) -> bytes:
        gop = self._gop(width, height)
        self._count("remuxes")
        return _faststart(_repeat_gop(gop, duration_seconds))


def _check_size(width: int, height: int) -> None:
    for name, side in (("width", width), ("height", height)):
        if isinstance(side, bool) or not isinstance(side, int):
            raise ValueError(f"{name} must be an int; got {side!r}")
        if not 2 <= side <= _MAX_SIDE or side % 2:
            raise ValueError(f"{name} must be even and between 2 and {_MAX_SIDE}; got {side}")


def _pattern_frames(width: int, height: int, fps: int) -> Iterator[av.VideoFrame]:
    """``fps`` yuv420p frames: vertical luma ramp, horizontal hue ramp, a sweeping white bar."""
    cw, ch = width // 2, height // 2
    # Luma runs: (value, number of rows), so each distinct row is built once per frame.
    runs: list[tuple[int, int]] = []
    for y in range(height):
        value = 32 + 168 * y // max(1, height - 1)
        if runs and runs[-1][0] == value:
            runs[-1] = (value, runs[-1][1] + 1)
        else:
            runs.append((value, 1))
    u_ramp = bytes(64 + 128 * x // max(1, cw - 1) for x in range(cw))
    v_ramp = bytes(192 - 96 * x // max(1, cw - 1) for x in range(cw))
    bar = max(2, (width // 16) & ~1)
    for index in range(fps):
        x0 = ((width - bar) * index // max(1, fps - 1)) & ~1
        frame = av.VideoFrame(width, height, "yuv420p")
        y_plane, u_plane, v_plane = frame.planes
        pad = bytes(y_plane.line_size - width)
        white = b"\xeb" * bar
        parts = []
        for value, count in runs:
            bg = bytes((value,))
            parts.append((bg * x0 + white + bg * (width - x0 - bar) + pad) * count)
        y_plane.update(b"".join(parts))
        c0, c1 = x0 // 2, (x0 + bar) // 2
        for plane, ramp in ((u_plane, u_ramp), (v_plane, v_ramp)):
            row = ramp[:c0] + b"\x80" * (c1 - c0) + ramp[c1:] + bytes(plane.line_size - cw)
            plane.update(row * ch)
        frame.pts = index
        yield frame


def _encoder_options(fps: int) -> dict[str, str]:
    return {
        "preset": "ultrafast",
        "crf": str(_CRF),
        "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0",
    }


def _encode_gop(width: int, height: int, fps: int) -> bytes:
    """One second (``fps`` frames, one closed GOP) of the pattern as a small MP4."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps, options=_encoder_options(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for frame in _pattern_frames(width, height, fps):
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def _repeat_gop(gop: bytes, times: int) -> bytes:
    """An MP4 playing the GOP of ``gop`` ``times`` times in a row, by remuxing only."""
    with av.open(io.BytesIO(gop), "r") as source:
        template = source.streams.video[0]
        time_base = template.time_base
        if time_base is None:  # pragma: no cover - the mp4 demuxer always sets one
            raise RuntimeError("GOP stream has no time base")
        packets = [
            (bytes(p), p.pts, p.dts, p.duration, p.is_keyframe)
            for p in source.demux(template)
            if p.size
        ]
        if not packets or not packets[0][4]:
            raise RuntimeError("GOP does not start with a keyframe")
        first, last = packets[0], packets[-1]
        if first[1] is None or last[1] is None or last[3] is None:
            raise RuntimeError("GOP packets lack timestamps")
        span = last[1] + last[3] - first[1]
        if span != Fraction(1) / time_base:
            raise RuntimeError(f"GOP spans {span * time_base} s, not 1 s")
        buffer = io.BytesIO()
        with av.open(buffer, "w", format="mp4") as out:
            stream = out.add_stream_from_template(template)
            for repeat in range(times):
                shift = repeat * span
                for data, pts, dts, duration, keyframe in packets:
                    packet = av.Packet(data)
                    packet.pts = None if pts is None else pts + shift
                    packet.dts = None if dts is None else dts + shift
                    packet.duration = duration
                    packet.time_base = time_base
                    packet.is_keyframe = keyframe
                    packet.stream = stream
                    out.mux(packet)
    return buffer.getvalue()


_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _boxes(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """ISO-BMFF boxes in ``data[start:end]`` as (type, box start, payload start, box end)."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise ValueError(f"malformed MP4 box {kind!r} at {pos}")
        yield bytes(kind), pos, pos + header, pos + size
        pos += size


def _shift_chunk_offsets(moov: bytearray, start: int, end: int, shift: int) -> None:
    for kind, _, body, box_end in _boxes(moov, start, end):
        if kind in _CONTAINER_BOXES:
            _shift_chunk_offsets(moov, body, box_end, shift)
        elif kind in (b"stco", b"co64"):
            (count,) = struct.unpack_from(">I", moov, body + 4)
            fmt, width = (">I", 4) if kind == b"stco" else (">Q", 8)
            for i in range(count):
                at = body + 8 + i * width
                (offset,) = struct.unpack_from(fmt, moov, at)
                struct.pack_into(fmt, moov, at, offset + shift)  # raises if it overflows


def _faststart(mp4: bytes) -> bytes:
    """Move the moov box in front of mdat (what ``movflags=faststart`` does on a file)."""
    boxes = list(_boxes(mp4, 0, len(mp4)))
    kinds = [kind for kind, *_ in boxes]
    if b"moov" not in kinds or b"mdat" not in kinds:
        raise ValueError("not a complete MP4: no moov or mdat box")
    moov_at, mdat_at = kinds.index(b"moov"), kinds.index(b"mdat")
    if moov_at < mdat_at:
        return mp4
    _, moov_start, _, moov_end = boxes[moov_at]
    moov = bytearray(mp4[moov_start:moov_end])
    try:
        _shift_chunk_offsets(moov, 0, len(moov), len(moov))
    except struct.error:  # a 32-bit offset would overflow: keep moov at the end
        return mp4
    pieces = [mp4[start:end] for i, (_, start, _, end) in enumerate(boxes) if i != moov_at]
    pieces.insert(mdat_at, bytes(moov))
    return b"".join(pieces)
