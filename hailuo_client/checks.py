"""Checks made before a Run spends money: options and the image rules of Hailuo 2.3 Fast.

The rules come from MiniMax's documentation of ``MiniMax-Hailuo-2.3-Fast``
[minimax]: JPG/PNG/WebP, under 20 MB, short side over 300 px, aspect ratio
(width:height) between 2:5 and 5:2; prompt up to 2000 characters; 10 s only at
768P. The real API may only fail the *task* for a bad image, after queueing it;
checking first saves the wait. ``Client.run(..., check=False)`` skips all of it.

Images are read with Pillow, header first (no decoding of a huge image), then
``verify()`` for truncation and corruption. EXIF orientation is honoured, as
the displayed size is what the model sees.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

from PIL import Image, UnidentifiedImageError

from .exceptions import InvalidInput

__all__ = [
    "DURATIONS",
    "IMAGE_FORMATS",
    "IMAGE_MAX_BYTES",
    "IMAGE_MAX_RATIO",
    "IMAGE_MIN_RATIO",
    "IMAGE_MIN_SHORT_SIDE",
    "PROMPT_MAX_CHARS",
    "RESOLUTIONS",
    "ImageReport",
    "check_image",
    "check_options",
]

RESOLUTIONS: Final = ("768P", "1080P")  # [seed]
DURATIONS: Final = (6, 10)  # [seed]
LONG_DURATION_RESOLUTIONS: Final = ("768P",)  # 10 s only at 768P [minimax][docs]
PROMPT_MAX_CHARS: Final = 2000  # [minimax]
IMAGE_FORMATS: Final = ("JPEG", "PNG", "WEBP")  # [minimax] JPG/PNG/WebP
IMAGE_MAX_BYTES: Final = 20 * 1024 * 1024  # [minimax] "under 20 MB"
IMAGE_MIN_SHORT_SIDE: Final = 300  # [minimax] the short side must be *over* 300 px
IMAGE_MIN_RATIO: Final = Fraction(2, 5)  # [minimax] width:height at least 2:5 ...
IMAGE_MAX_RATIO: Final = Fraction(5, 2)  # ... and at most 5:2 (inclusive)
_MAX_PIXELS: Final = 200_000_000  # Pillow's own bomb guard stays out of the way up to this
_UNREADABLE: Final = (
    UnidentifiedImageError,
    Image.DecompressionBombError,
    OSError,
    SyntaxError,
    ValueError,
)
_BUFFER_REPR: Final = re.compile(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>")
_QUARTER_TURNS: Final = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION: Final = 0x0112


@dataclass(frozen=True)
class ImageReport:
    """A valid image: its format and displayed size."""

    format: str
    width: int
    height: int


def check_options(resolution: str, duration: int, prompt: str) -> None:
    """Raise InvalidInput for a resolution/duration/prompt the model refuses."""
    if resolution not in RESOLUTIONS:
        raise InvalidInput(
            f"resolution must be one of {', '.join(RESOLUTIONS)}; got {resolution!r}"
        )
    if isinstance(duration, bool) or duration not in DURATIONS:
        raise InvalidInput(f"duration must be 6 or 10 (seconds); got {duration!r}")
    if duration == 10 and resolution not in LONG_DURATION_RESOLUTIONS:
        raise InvalidInput(f"duration 10 is only available at 768P; got {resolution}")
    if len(prompt) > PROMPT_MAX_CHARS:
        raise InvalidInput(f"prompt is {len(prompt)} characters; the model takes at most 2000")


def check_image(data: bytes, name: str = "image") -> ImageReport:
    """Check an image's bytes against every rule; raise InvalidInput naming the broken one."""
    if len(data) >= IMAGE_MAX_BYTES:
        raise InvalidInput(f"{name}: {len(data)} bytes; the model takes images under 20 MB")
    try:
        with Image.open(io.BytesIO(data)) as img:  # the header only
            fmt = img.format or "unknown"
            width, height = img.size
            orientation = _orientation(img)
        if fmt not in IMAGE_FORMATS:
            raise InvalidInput(f"{name}: format {fmt}; the model takes JPG, PNG or WebP")
        if width * height <= _MAX_PIXELS:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()  # truncation and corruption, without keeping the pixels
    except InvalidInput:
        raise
    except UnidentifiedImageError:
        raise InvalidInput(f"{name}: not an image (the model takes JPG, PNG or WebP)") from None
    except (Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidInput(f"{name}: not a readable image ({_plain(exc)})") from None
    if orientation in _QUARTER_TURNS:
        width, height = height, width
    if min(width, height) <= IMAGE_MIN_SHORT_SIDE:
        raise InvalidInput(
            f"{name}: {width}x{height}; the short side must be over {IMAGE_MIN_SHORT_SIDE} px"
        )
    ratio = Fraction(width, height)
    if not IMAGE_MIN_RATIO <= ratio <= IMAGE_MAX_RATIO:
        raise InvalidInput(
            f"{name}: {width}x{height} has aspect ratio {float(ratio):.3g}; "
            "the model takes 2:5 (0.4) to 5:2 (2.5)"
        )
    return ImageReport(format=fmt, width=width, height=height)


def _plain(exc: BaseException) -> str:
    """Pillow's message without the in-memory buffer's repr (``<_io.BytesIO object at 0x...>``)."""
    return _BUFFER_REPR.sub("the data", str(exc)) or type(exc).__name__


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block is not the image's problem
        return 1
    return value if isinstance(value, int) else 1
