"""Checking the fields of a spec: a scenario, a fault rule, a control request's body.

One small set of checks shared by :mod:`.scenarios`, :mod:`.http_faults`,
:mod:`.push_faults` and the ``/_mock`` surface, each raising
:class:`~mock_wiro.errors.SpecError` (400 under ``/_mock``) with a message that names
the field. ``what`` is how the message names it: ``"'times'"`` for a rule's field
(:func:`field`), ``"scenario 'times'"`` for a scenario's.

(``/v1`` parameters are parsed by :mod:`mock_wiro.http.routes` and
:mod:`mock_wiro.engine.params`, with the API's own messages; not here.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, TypeVar

from ..errors import SpecError

__all__ = [
    "SpecError",
    "bounded_text",
    "choice",
    "field",
    "finite",
    "flag",
    "headers",
    "integer",
    "number",
    "optional_string",
    "seconds",
    "stage",
]

T = TypeVar("T")


def field(name: str, prefix: str = "") -> str:
    """How a message names a field: ``'times'``, or ``scenario 'times'``."""
    return f"{prefix} {name!r}" if prefix else repr(name)


def optional_string(value: object, what: str) -> str | None:
    """A string, or None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SpecError(f"{what} must be a string; got {value!r}")
    return value


def bounded_text(value: object, what: str, limit: int = 200) -> str:
    """A non-empty string of at most ``limit`` characters."""
    if not isinstance(value, str) or not value or len(value) > limit:
        raise SpecError(
            f"{what} must be a non-empty string of at most {limit} characters; got {value!r}"
        )
    return value


def flag(value: object, what: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        raise SpecError(f"{what} must be true or false; got {value!r}")
    return value


def finite(value: object) -> float | None:
    """A JSON number as a float (``inf`` when too big for one), or None if it is not a
    number (a bool is not)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    try:
        return float(value)
    except OverflowError:
        return math.inf


def number(value: object, what: str, *, text: bool = False) -> float:
    """A finite number (``text``: a numeric string too)."""
    kinds = (int, float, Decimal, str) if text else (int, float, Decimal)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise SpecError(f"{what} must be a number; got {value!r}")
    try:
        result = float(value)
    except ValueError:
        raise SpecError(f"{what} must be a number; got {value!r}") from None
    except OverflowError:
        raise SpecError(f"{what} must be a finite number; got {value!r}") from None
    if not math.isfinite(result):
        raise SpecError(f"{what} must be a finite number; got {value!r}")
    return result


def integer(value: object, what: str, low: int, high: int, *, number_first: bool = False) -> int:
    """An integral number from ``low`` to ``high`` (``number_first``: a non-number is
    named as such first, as HTTP fault rules do)."""
    if number_first:
        number(value, what)
    found = finite(value)
    if found is None or found != int(found) or not low <= found <= high:
        raise SpecError(f"{what} must be an integer from {low} to {high}; got {value!r}")
    return int(found)


def seconds(value: object, what: str, high: float, unit: str = "seconds") -> float:
    """More than 0 and at most ``high``."""
    found = finite(value)
    if found is None or not 0 < found <= high:
        raise SpecError(f"{what} must be more than 0 and at most {high:g} {unit}; got {value!r}")
    return found


def choice(value: object, what: str, allowed: tuple[T, ...]) -> T:
    """One of ``allowed``."""
    if value not in allowed:
        raise SpecError(f"{what} must be one of {', '.join(map(str, allowed))}; got {value!r}")
    return allowed[allowed.index(value)]


def stage(value: str | None, what: str, allowed: tuple[str, ...]) -> str | None:
    """A lifecycle stage name from ``allowed``, or None."""
    return None if value is None else choice(value, what, allowed)


def headers(value: object, what: str) -> tuple[tuple[str, str], ...]:
    """Header matchers: ``"Name=value"``, ``{"Name": "value"}`` or ``[[name, value]]``;
    names lower-cased, values exact."""
    if value is None:
        return ()
    if isinstance(value, str):
        name, sep, wanted = value.partition("=")
        if not sep or not name.strip():
            raise SpecError(f"{what} must look like 'Name=value'; got {value!r}")
        return ((name.strip().lower(), wanted.strip()),)
    if isinstance(value, Mapping):
        pairs = []
        for name, wanted in value.items():
            if not isinstance(name, str) or not name.strip() or not isinstance(wanted, str):
                raise SpecError(f"{what} must map names to strings; got {value!r}")
            pairs.append((name.strip().lower(), wanted))
        return tuple(pairs)
    if isinstance(value, list | tuple) and all(
        isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(x, str) for x in p)
        for p in value
    ):
        return tuple((str(n).strip().lower(), str(v)) for n, v in value)
    raise SpecError(f"{what} must be 'Name=value' or an object; got {value!r}")


def lowered(found: Mapping[str, Any]) -> dict[str, Any]:
    """A header mapping with lower-cased names."""
    return {k.lower(): v for k, v in found.items()}
