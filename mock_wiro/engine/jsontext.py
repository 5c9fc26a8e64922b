"""``json.dumps`` with its C encoder built once.

``json.dumps(value)`` builds the standard library's C encoder on every call, a few µs
each: on the fan-out's hot path (a frame's JSON, a progress line) that was most of the
cost. :func:`dumps_with` builds one for a pair of separators and returns a function
that writes exactly what ``json.dumps(value, separators=...)`` writes (ASCII, no key
sorting, NaN allowed; no circular-reference check: nothing the engine encodes is
circular). Where the C accelerator is missing, it is ``json.dumps`` itself.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

__all__ = ["dumps_with", "quoted"]

quoted: Callable[[str], str] = json.encoder.encode_basestring_ascii
"""A string's JSON text, as ``json.dumps`` writes it (C)."""


def _not_json(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps_with(item_separator: str, key_separator: str) -> Callable[[object], str]:
    """``json.dumps(value, separators=(item_separator, key_separator))``, encoder made once."""
    make: Any = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the json C accelerator
        return functools.partial(json.dumps, separators=(item_separator, key_separator))
    encoder = make(None, _not_json, quoted, None, key_separator, item_separator, False, False, True)

    def dumps(value: object) -> str:
        return "".join(encoder(value, 0))

    return dumps
