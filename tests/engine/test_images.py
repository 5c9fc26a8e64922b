"""The image rules (mock_wiro.engine.images), called directly: no warning-filter
changes, the pixel limit checked before decoding, EXIF orientation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from mock_wiro.engine import images
from mock_wiro.engine.images import ImageRuleError, inspect_image
from mock_wiro.settings import IMAGE_MAX_PIXELS
from mock_wiro_fixtures import image_path
from tests.helpers.images import jpeg_with_orientation, png_1bit


def test_image_check_never_touches_warning_filters(monkeypatch: pytest.MonkeyPatch) -> None:
    """``catch_warnings`` changes process-wide state: not safe from worker threads."""
    touched: list[str] = []

    def spy(name: str) -> Any:
        real = getattr(warnings, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            touched.append(name)
            return real(*args, **kwargs)

        return wrapper

    try:
        for name in ("catch_warnings", "simplefilter", "filterwarnings", "resetwarnings"):
            monkeypatch.setattr(warnings, name, spy(name))
        info = inspect_image(image_path("landscape_16x9.jpg"))
        with pytest.raises(ImageRuleError) as caught:
            inspect_image(image_path("too_wide_3x1.jpg"))
    finally:
        monkeypatch.undo()  # before pytest itself needs the real functions again
    assert touched == []
    assert info.width == 1280 and caught.value.rule == "aspect_ratio"


def test_too_many_pixels_fail_on_size_before_decoding(tmp_path: Path) -> None:
    # the header says 6001x6000; the pixel data is garbage, so decoding would fail
    path = tmp_path / "huge.png"
    path.write_bytes(png_1bit(6001, 6000, idat=b"not zlib at all"))
    with pytest.raises(ImageRuleError) as caught:
        inspect_image(path)
    assert caught.value.rule == "size"
    assert "6001x6000" in caught.value.message and str(IMAGE_MAX_PIXELS) in caught.value.message


def test_pixels_at_the_limit_pass(tmp_path: Path) -> None:
    assert IMAGE_MAX_PIXELS == 6000 * 6000
    path = tmp_path / "limit.png"
    path.write_bytes(png_1bit(6000, 6000))
    info = inspect_image(path)
    assert (info.width, info.height, info.format) == (6000, 6000, "PNG")


@pytest.mark.parametrize(
    ("orientation", "size"),
    [
        (None, (1280, 720)),
        (1, (1280, 720)),
        (2, (1280, 720)),
        (3, (1280, 720)),
        (4, (1280, 720)),
        (5, (720, 1280)),
        (6, (720, 1280)),
        (7, (720, 1280)),
        (8, (720, 1280)),
    ],
)
def test_exif_orientation_is_honoured(
    tmp_path: Path, orientation: int | None, size: tuple[int, int]
) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_with_orientation(1280, 720, orientation))
    info = inspect_image(path)
    assert (info.width, info.height) == size


def test_exif_orientation_can_be_switched_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "IMAGE_HONOUR_EXIF_ORIENTATION", False)
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_with_orientation(1280, 720, 6))
    assert (inspect_image(path).width, inspect_image(path).height) == (1280, 720)
