"""The building blocks every part of the document uses: references, the string-typed
value schemas (ids, stamps, money), a success object and an error envelope by case."""

from __future__ import annotations

from typing import Any, Final

Schema = dict[str, Any]
"""A JSON Schema (or any other OpenAPI object) as the dict it serializes from."""


def ref(name: str) -> Schema:
    """A reference to ``#/components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def response_ref(name: str) -> Schema:
    """A reference to ``#/components/responses/<name>``."""
    return {"$ref": f"#/components/responses/{name}"}


DIGITS: Final = {"type": "string", "pattern": "^[0-9]+$"}
STAMP: Final = {
    "type": "string",
    "pattern": "^[0-9]+$",
    "description": 'Unix seconds on the fake\'s clock, as a string; `"0"` until it happens.',
}
MONEY: Final = {
    "type": "string",
    "pattern": "^(0|-?[0-9]+\\.[0-9]{12})$",
    "description": 'USD with 12 decimals, or `"0"`.',
}
TOKEN: Final = {"type": "string", "pattern": "^[A-Za-z0-9]{30}$"}
HEX_ID: Final = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
EMPTY_ERRORS: Final = {"type": "array", "maxItems": 0, "description": "Always `[]` on success."}
TRUE: Final = {"const": True}


def success(properties: dict[str, Schema], description: str) -> Schema:
    """An object with exactly ``properties`` (all required), in the API's key order."""
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def error_case(codes: list[int], message: Schema | None = None) -> Schema:
    """The error envelope narrowed to ``codes`` (and, when given, the ``message``)."""
    item: Schema = {"properties": {"code": {"enum": codes}}}
    if message is not None:
        item["properties"]["message"] = message
    return {
        "allOf": [
            ref("ErrorEnvelope"),
            {"properties": {"errors": {"items": item}}},
        ]
    }


def text(description: str, **extra: Any) -> Schema:
    """A string field with ``description`` (and any other keywords in ``extra``)."""
    return {"type": "string", "description": description, **extra}
