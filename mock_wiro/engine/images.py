"""The input image rules of MiniMax Hailuo 2.3 Fast, checked with Pillow.

[minimax]: JPG/PNG/WebP, under 20 MB, short side over 300 px, aspect ratio
between 2:5 and 5:2. A broken image fails the task, not the Run call [A].

Two bounds of the fake's own [A]: at most ``IMAGE_MAX_PIXELS`` pixels, checked from
the header before any decoding (this runs on worker threads, so it never touches the
process-wide warning filters); and the size reported is the displayed one, EXIF
orientation applied (``IMAGE_HONOUR_EXIF_ORIENTATION``).

Every rule that the header settles (format, pixel count, short side, aspect ratio: the
ratio range is symmetric, so EXIF orientation never changes its verdict) is checked
before a byte of pixel data is decoded. Then the image's integrity (a truncated or
corrupt file fails the task) is checked with bounded memory (issue 18, hole 7):

- PNG: no pixels are decoded at all. The chunks are walked (every CRC checked) and the
  IDAT stream is inflated in pieces of at most ``_INFLATE_PIECE`` bytes, each thrown
  away, until the row data the header promises is there: a few hundred KB at any size.
- JPEG: decoded at 1/8 scale (Pillow's ``draft()``: libjpeg's DCT scaling reads every
  byte of the entropy-coded data, so truncation still shows, into 1/64 of the pixels).
- WebP: decoded in full, as libwebp can't do otherwise.

The JPEG and WebP decodes share a process-wide budget of ``IMAGE_DECODE_BUDGET_PIXELS``
pixels decoding at once (a decode waits for its turn), so concurrent checks can't
multiply the peak.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import IO

from PIL import Image, UnidentifiedImageError

from ..errors import MockWiroError
from ..settings import (
    IMAGE_DECODE_BUDGET_PIXELS,
    IMAGE_FORMATS,
    IMAGE_HONOUR_EXIF_ORIENTATION,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_PIXELS,
    IMAGE_MAX_RATIO,
    IMAGE_MIN_RATIO,
    IMAGE_MIN_SHORT_SIDE_EXCLUSIVE,
)

__all__ = ["DecodeBudget", "ImageInfo", "ImageRuleError", "decode_budget", "inspect_image"]

_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})  # transpose, 90 CW, transverse, 90 CCW
_JPEG_DRAFT_SCALE = 8  # libjpeg scales by 1/2, 1/4 or 1/8: the smallest
_INFLATE_PIECE = 256 * 1024  # the most inflated PNG row data held at once
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_ADAM7: tuple[tuple[int, int, int, int], ...] = (  # (x0, y0, dx, dy) of each interlace pass
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


class DecodeBudget:
    """A process-wide bound on the pixels being decoded at once: a decode of ``n`` pixels
    waits until ``n`` more fit (one larger than the whole budget runs alone)."""

    def __init__(self, pixels: int) -> None:
        self.pixels = pixels
        self._in_use = 0
        self.peak = 0
        """The most pixels ever decoding at once (for tests and benchmarks)."""
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        """Decode ``pixels`` pixels within the budget."""
        with self._cond:
            self._cond.wait_for(lambda: self._in_use == 0 or self._in_use + pixels <= self.pixels)
            self._in_use += pixels
            self.peak = max(self.peak, self._in_use)
        try:
            yield
        finally:
            with self._cond:
                self._in_use -= pixels
                self._cond.notify_all()


decode_budget = DecodeBudget(IMAGE_DECODE_BUDGET_PIXELS)
"""The one budget every image check decodes within."""


@dataclass(frozen=True)
class ImageInfo:
    """What the fake needs to know of a valid input image."""

    width: int
    height: int
    format: str


class ImageRuleError(MockWiroError):
    """The image breaks one of the model's rules; ``rule`` names which."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def inspect_image(path: str | os.PathLike[str]) -> ImageInfo:
    """Check the image at ``path`` against every rule; raise :class:`ImageRuleError`."""
    size = os.path.getsize(path)
    if size >= IMAGE_MAX_BYTES:  # checked before any decoding
        raise ImageRuleError(
            "size",
            f"Input image is {size} bytes; the model accepts images under "
            f"{IMAGE_MAX_BYTES} bytes (20 MB).",
        )
    try:
        with Image.open(path) as img:  # reads the header only
            fmt = img.format or "unknown"
            if fmt not in IMAGE_FORMATS:
                raise ImageRuleError(
                    "format",
                    f"Input image format is {fmt}; the model accepts JPG, PNG or WebP.",
                )
            width, height = img.size
            if width * height > IMAGE_MAX_PIXELS:  # checked before any decoding
                raise ImageRuleError(
                    "size",
                    f"Input image is {width}x{height}: {width * height} pixels; mock-wiro "
                    f"checks images of at most {IMAGE_MAX_PIXELS} pixels.",
                )
            _check_geometry(width, height)  # before any decoding too
            orientation = _check_integrity(img, path, fmt)  # a truncated or corrupt file
            if IMAGE_HONOUR_EXIF_ORIENTATION and orientation in _QUARTER_TURNS:
                width, height = height, width  # displayed rotated by a quarter turn
    except ImageRuleError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own bound (far above IMAGE_MAX_PIXELS), hit inside Image.open; the
        # warning is an exception only where the warning filters make it one.
        raise ImageRuleError("size", f"Input image has too many pixels: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageRuleError(
            "unreadable", "Input image could not be read: it is not a JPG, PNG or WebP image."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRuleError("unreadable", f"Input image could not be read: {exc}.") from exc
    return ImageInfo(width=width, height=height, format=fmt)


def _check_geometry(width: int, height: int) -> None:
    """The short side and aspect ratio rules (the same verdict either way round)."""
    short = min(width, height)
    if short <= IMAGE_MIN_SHORT_SIDE_EXCLUSIVE:
        raise ImageRuleError(
            "short_side",
            f"Input image is {width}x{height}: its short side is {short} px; the model needs "
            f"the short side over {IMAGE_MIN_SHORT_SIDE_EXCLUSIVE} px.",
        )
    ratio = Fraction(width, height)
    low, high = Fraction(*IMAGE_MIN_RATIO), Fraction(*IMAGE_MAX_RATIO)
    if not low <= ratio <= high:
        raise ImageRuleError(
            "aspect_ratio",
            f"Input image is {width}x{height}: its aspect ratio {float(ratio):.3f} is outside "
            f"the model's range 2:5 (0.4) to 5:2 (2.5).",
        )


def _check_integrity(img: Image.Image, path: str | os.PathLike[str], fmt: str) -> object:
    """Fail (OSError, SyntaxError, ValueError) on a truncated or corrupt image, with
    bounded memory; the EXIF orientation (or None)."""
    if fmt == "PNG":
        with open(path, "rb") as stream:
            exif = _check_png(stream)
        return _orientation_of(exif)
    width, height = img.size
    if fmt == "JPEG":
        img.draft(img.mode, (-(-width // _JPEG_DRAFT_SCALE), -(-height // _JPEG_DRAFT_SCALE)))
    pixels = img.size[0] * img.size[1]  # what will be decoded
    with decode_budget.hold(pixels):
        img.load()
    return _orientation(img)


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise SyntaxError("PNG file is truncated")
    return data


def _png_rows(width: int, height: int, depth: int, colour: int, interlace: int) -> list[int]:
    """The length of every (filtered) row of the IDAT stream, a filter byte first, in
    order (each interlace pass's rows, pass after pass)."""
    bits = _PNG_CHANNELS[colour] * depth
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    rows: list[int] = []
    for x0, y0, dx, dy in passes:
        pass_w, pass_h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if pass_w > 0 and pass_h > 0:
            rows += [1 + -(-(pass_w * bits) // 8)] * pass_h
    return rows


class _RowFilters:
    """Checks, piece by piece, that every row of inflated PNG data starts with a valid
    filter type (0 to 4), as Pillow's decoder does."""

    def __init__(self, rows: list[int]) -> None:
        self._rows = rows
        self._row = 0
        self._next = 0  # offset of the next filter byte in the current piece
        self.expected = sum(rows)

    def feed(self, piece: bytes) -> None:
        while self._next < len(piece) and self._row < len(self._rows):
            if piece[self._next] > 4:
                raise SyntaxError("PNG pixel data is corrupt (an unknown row filter)")
            self._next += self._rows[self._row]
            self._row += 1
        self._next -= len(piece)


def _check_png(stream: IO[bytes]) -> bytes | None:
    """Walk a PNG's chunks and inflate its IDAT stream piece by piece until the row data
    its header promises is there; the eXIf chunk's data, if any. As lenient as Pillow's
    full decode: CRCs are checked on the chunks before the pixel data, and once all row
    data is there, a broken or missing tail (IEND) is tolerated."""
    if stream.read(8) != _PNG_SIGNATURE:
        raise SyntaxError("not a PNG file")
    inflater = zlib.decompressobj()
    expected = inflated = 0
    filters = _RowFilters([])
    seen_idat = False
    exif: bytes | None = None
    while True:
        complete = expected > 0 and inflated >= expected
        try:
            length, tag = struct.unpack(">I4s", _read_exact(stream, 8))
            if length > 2**31 - 1:
                raise SyntaxError(f"PNG chunk {tag!r} has an invalid length")
            if complete and tag not in (b"eXIf", b"IEND"):
                stream.seek(length + 4, os.SEEK_CUR)  # no need to read what follows the data
                continue
            data = _read_exact(stream, length)
            (crc,) = struct.unpack(">I", _read_exact(stream, 4))
        except SyntaxError:
            if complete:
                break  # a truncated tail after complete pixel data
            raise
        if not seen_idat and tag != b"IDAT" and zlib.crc32(tag + data) != crc:
            raise SyntaxError(f"broken PNG file (bad checksum in {tag!r} chunk)")
        if tag == b"IHDR":
            if length != 13:
                raise SyntaxError("PNG header chunk has the wrong length")
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data)
            if colour not in _PNG_CHANNELS or depth not in (1, 2, 4, 8, 16):
                raise SyntaxError(f"unsupported PNG bit depth {depth} / colour type {colour}")
            filters = _RowFilters(_png_rows(width, height, depth, colour, interlace))
            expected = filters.expected
        elif tag == b"IDAT":
            if not expected:
                raise SyntaxError("PNG IDAT chunk before its header")
            seen_idat = True
            while data and inflated < expected:
                try:
                    # never past the row data: like Pillow, leave the stream's checksum
                    piece = inflater.decompress(data, min(_INFLATE_PIECE, expected - inflated))
                    inflated += len(piece)
                except zlib.error as exc:
                    raise SyntaxError(f"PNG pixel data is corrupt ({exc})") from None
                filters.feed(piece)
                data = inflater.unconsumed_tail
        elif tag == b"eXIf":
            exif = data
        elif tag == b"IEND":
            break
    if not expected or inflated < expected:
        raise SyntaxError("PNG pixel data is truncated")
    return exif


def _orientation_of(exif: bytes | None) -> object:
    """The Orientation tag of raw EXIF data, or None (none, or unparsable)."""
    if not exif:
        return None
    try:
        parsed = Image.Exif()
        parsed.load(exif)
        return parsed.get(_EXIF_ORIENTATION)
    except Exception:  # metadata only: a broken EXIF block never fails the image
        return None


def _orientation(img: Image.Image) -> object:
    """The EXIF Orientation tag's value, or None (no EXIF, or EXIF Pillow can't parse:
    the picture is then shown as stored)."""
    try:
        return img.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # metadata only: a broken EXIF block never fails the image
        return None
