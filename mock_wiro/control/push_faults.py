"""The control surface of push-channel faults (:mod:`mock_wiro.chaos.push_faults`), JSON::

    POST   /_mock/socket-faults          {"action": "close", "after": 3, "code": 4000}
    GET    /_mock/socket-faults          {"faults": [every rule with its counters]}
    GET    /_mock/socket-faults/<id>     one rule
    DELETE /_mock/socket-faults/<id>     forget it
    POST   /_mock/socket-faults/clear    forget every socket rule (also: DELETE the list)

and the same under ``/_mock/callback-faults`` (``{"action": "late", "delay": 60}``).
A bad rule is answered 400 with ``{"error": ...}``; bodies follow the rest of
``/_mock`` (:func:`mock_wiro.control.base._read_body`). Reset forgets every rule.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge

from ..chaos.push_faults import PushFaultBook
from .base import ControlError, _control_error, _read_body, _too_large, _value_error

__all__ = ["push_fault_control"]

push_fault_control = Blueprint("mock_push_faults", __name__, url_prefix="/_mock")
push_fault_control.before_request(_read_body)
push_fault_control.register_error_handler(ControlError, _control_error)
push_fault_control.register_error_handler(ValueError, _value_error)  # PushFaultError too
push_fault_control.register_error_handler(RequestEntityTooLarge, _too_large)

_PREFIXES = {"socket": "/socket-faults", "callback": "/callback-faults"}


def _book(channel: str) -> PushFaultBook:
    if channel == "socket":
        book: PushFaultBook = current_app.extensions["mock_wiro_hub"].faults
    else:
        book = current_app.extensions["mock_wiro_callbacks"].faults
    return book


def _create(channel: str) -> ResponseReturnValue:
    body: dict[str, Any] = g.control_body
    return _book(channel).add(body).to_json(), 201


def _list(channel: str) -> ResponseReturnValue:
    return {"faults": [r.to_json() for r in _book(channel).rules()]}


def _get(channel: str, rule_id: str) -> ResponseReturnValue:
    rule = _book(channel).get(rule_id)
    if rule is None:
        raise ControlError(f"no {channel} fault {rule_id!r}", 404)
    return rule.to_json()


def _delete(channel: str, rule_id: str) -> ResponseReturnValue:
    if not _book(channel).remove(rule_id):
        raise ControlError(f"no {channel} fault {rule_id!r}", 404)
    return {"ok": True}


def _clear(channel: str) -> ResponseReturnValue:
    _book(channel).clear()
    return {"ok": True}


for _channel, _prefix in _PREFIXES.items():
    _defaults = {"channel": _channel}
    _add = push_fault_control.add_url_rule
    _add(_prefix, f"{_channel}_create", _create, methods=["POST"], defaults=_defaults)
    _add(_prefix, f"{_channel}_list", _list, methods=["GET"], defaults=_defaults)
    _add(_prefix, f"{_channel}_clear_all", _clear, methods=["DELETE"], defaults=_defaults)
    _add(f"{_prefix}/clear", f"{_channel}_clear", _clear, methods=["POST"], defaults=_defaults)
    _add(f"{_prefix}/<rule_id>", f"{_channel}_get", _get, methods=["GET"], defaults=_defaults)
    _add(
        f"{_prefix}/<rule_id>",
        f"{_channel}_delete",
        _delete,
        methods=["DELETE"],
        defaults=_defaults,
    )
