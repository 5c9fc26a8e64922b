"""Test images built in memory: a cheap 1-bit PNG of any size, a JPEG with an EXIF
orientation."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def png_1bit(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A 1-bit greyscale PNG (all black), cheap to build at any size; ``idat`` replaces
    the pixel data (to make a file whose header is fine but whose pixels are not)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data)
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    if idat is None:
        row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed pixels
        idat = zlib.compress(row * height, 9)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def jpeg_with_orientation(width: int, height: int, orientation: int | None) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 90, 160)).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()
