"""The input image rules of MiniMax Hailuo 2.3 Fast, checked with Pillow.

[minimax]: JPG/PNG/WebP, under 20 MB, short side over 300 px, aspect ratio
between 2:5 and 5:2. A broken image fails the task, not the Run call [A].

Two bounds of the fake's own [A]: at most ``IMAGE_MAX_PIXELS`` pixels, checked from
the header before any decoding (this runs on worker threads, so it never touches the
process-wide warning filters); and the size reported is the displayed one, EXIF
orientation applied (``IMAGE_HONOUR_EXIF_ORIENTATION``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image, UnidentifiedImageError

from ..errors import MockWiroError
from ..settings import (
    IMAGE_FORMATS,
    IMAGE_HONOUR_EXIF_ORIENTATION,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_PIXELS,
    IMAGE_MAX_RATIO,
    IMAGE_MIN_RATIO,
    IMAGE_MIN_SHORT_SIDE_EXCLUSIVE,
)

__all__ = ["ImageInfo", "ImageRuleError", "inspect_image"]

_EXIF_ORIENTATION = 0x0112
_QUARTER_TURNS = frozenset({5, 6, 7, 8})  # transpose, 90 CW, transverse, 90 CCW


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
            img.load()  # a truncated or corrupt file fails here
            if IMAGE_HONOUR_EXIF_ORIENTATION and _orientation(img) in _QUARTER_TURNS:
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
    return ImageInfo(width=width, height=height, format=fmt)


def _orientation(img: Image.Image) -> object:
    """The EXIF Orientation tag's value, or None (no EXIF, or EXIF Pillow can't parse:
    the picture is then shown as stored)."""
    try:
        return img.getexif().get(_EXIF_ORIENTATION)
    except Exception:  # metadata only: a broken EXIF block never fails the image
        return None
