"""``mock-wiro serve``'s header parsing (``limits.parse_header_block``) against the one it
replaces: ``http.client.parse_headers`` into pywsgi's message class, what gevent's own
handler calls. Plain lines are parsed without the ``email`` package; every block must
give the same message either way, plain or not (folded lines, odd bytes, missing names,
``From`` lines, bare line feeds)."""

from __future__ import annotations

import email.message
import http.client
import io
from typing import Any

import pytest
from gevent.pywsgi import OldMessage
from hypothesis import given, settings
from hypothesis import strategies as st

from mock_wiro.http import limits
from mock_wiro.http.limits import HeadersTooLarge, parse_header_block, read_header_block
from mock_wiro.settings import MAX_HEADER_COUNT


def _shape(message: email.message.Message) -> dict[str, Any]:
    """What a message holds, its defects by kind (they compare by identity)."""
    found = dict(vars(message))
    found["defects"] = [type(d).__name__ for d in found["defects"]]
    found["policy"] = type(found["policy"]).__name__
    return found


def _both(block: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    old = http.client.parse_headers(io.BytesIO(block), _class=OldMessage)
    new = parse_header_block(read_header_block(io.BytesIO(block)), OldMessage)
    return _shape(old), _shape(new)


BLOCKS = [
    b"Host: 127.0.0.1:8080\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n",
    b"X-A:  spaced  \r\nX-B:\tq\t\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n",
    b"Host: a\n\n",  # bare line feeds
    b"Host: a\r\n folded on\r\n\tand on\r\nX: y\r\n\r\n",
    b"X: caf\xe9\r\n\r\n",
    b"X: a\x0cb\x85c\r\n\r\n",
    b"NoColon\r\nB: c\r\n\r\n",
    b": no name\r\nB: c\r\n\r\n",
    b"From someone\r\nB: c\r\n\r\n",
    b"From: someone\r\n\r\n",
    b"X: a\rb\r\n\r\n",
    b"Dup: 1\r\nDup: 2\r\n\r\n",
    b"\r\n",
]


@pytest.mark.parametrize("block", BLOCKS)
def test_a_block_parses_as_the_standard_library_parses_it(block: bytes) -> None:
    old, new = _both(block)
    assert new == old


def test_plain_lines_skip_the_email_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The point of it: a plain block never builds the ``email`` parser; one odd line
    sends the whole block through it."""
    calls: list[str] = []

    class Spy(limits.email.parser.Parser):  # type: ignore[name-defined,misc]
        def parsestr(self, text: str, headersonly: bool = False) -> Any:
            calls.append(text)
            return super().parsestr(text, headersonly)

    monkeypatch.setattr(limits.email.parser, "Parser", Spy)
    parse_header_block(read_header_block(io.BytesIO(BLOCKS[0])), OldMessage)
    assert calls == []
    parse_header_block(read_header_block(io.BytesIO(BLOCKS[3])), OldMessage)
    assert len(calls) == 1


def test_the_bounds_still_hold_as_the_lines_are_read() -> None:
    block = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADER_COUNT + 1)) + b"\r\n"
    with pytest.raises(HeadersTooLarge):
        read_header_block(io.BytesIO(block))


_LINE_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b""))
_LINES = st.one_of(
    st.tuples(
        st.text("abcXYZ-_0:! ", min_size=0, max_size=12).map(str.encode),
        st.sampled_from([b":", b": ", b":\t", b"  :"]),
        _LINE_BYTES,
        st.sampled_from([b"\r\n", b"\n"]),
    ).map(b"".join),
    st.tuples(st.sampled_from([b" ", b"\t", b"From "]), _LINE_BYTES, st.just(b"\r\n")).map(
        b"".join
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINES, max_size=8))
def test_any_block_parses_as_the_standard_library_parses_it(lines: list[bytes]) -> None:
    block = b"".join(line for line in lines if line not in (b"\r\n", b"\n")) + b"\r\n"
    old, new = _both(block)
    assert new == old
