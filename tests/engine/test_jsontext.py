"""``jsontext.dumps_with`` writes exactly what ``json.dumps`` writes with the same
separators (the engine's progress lines and the hub's frames rely on it)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mock_wiro.engine.jsontext import dumps_with

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize("separators", [(", ", ": "), (",", ":")])
@given(value=_JSON)
def test_the_same_text_as_json_dumps(separators: tuple[str, str], value: object) -> None:
    assert dumps_with(*separators)(value) == json.dumps(value, separators=separators)


def test_what_json_cannot_write_is_refused_as_json_dumps_refuses_it() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps_with(",", ":")({"a": object()})
