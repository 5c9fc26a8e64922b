"""The control surface of push-channel faults (:mod:`mock_wiro.chaos.push_faults`), JSON::

    POST   /_mock/socket-faults          {"action": "close", "after": 3, "code": 4000}
    GET    /_mock/socket-faults          {"faults": [every rule with its counters]}
    GET    /_mock/socket-faults/<id>     one rule
    DELETE /_mock/socket-faults/<id>     forget it
    POST   /_mock/socket-faults/clear    forget every socket rule (also: DELETE the list)
    POST   /_mock/socket-faults/explain  {"task": "<id>", "token": "<socketaccesstoken>"}:
                                         every rule, matched or why not (counts nothing)

and the same under ``/_mock/callback-faults`` (``{"action": "late", "delay": 60}``).
A bad rule is answered 400 with ``{"error": ...}``. A child of the parent control
blueprint (:mod:`.blueprint`: bodies, errors). Reset forgets every rule.
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ..chaos.push_faults import PushFaultBook
from ..chaos.rules import first_match
from ..errors import ControlError
from .blueprint import body, string
from .fake import current_fake

__all__ = ["push_fault_control", "push_faults_bp"]

push_faults_bp = Blueprint("push_faults", __name__)
push_fault_control = push_faults_bp
"""Its name before the control surface had one parent."""

_PREFIXES = {"socket": "/socket-faults", "callback": "/callback-faults"}


def _book(channel: str) -> PushFaultBook:
    return current_fake().push_faults(channel)


def _create(channel: str) -> ResponseReturnValue:
    return _book(channel).add(body()).to_json(), 201


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


def _explain(channel: str) -> ResponseReturnValue:
    """Every rule, with whether a task (``task`` id, ``token``) would match it."""
    given = body()
    found = _book(channel).explain_task(string(given, "task"), string(given, "token"))
    return {"faults": found, "applies": first_match(found)}


_ROUTES = (
    ("", "create", _create, "POST"),
    ("", "list", _list, "GET"),
    ("", "clear_all", _clear, "DELETE"),
    ("/clear", "clear", _clear, "POST"),
    ("/explain", "explain", _explain, "POST"),
    ("/<rule_id>", "get", _get, "GET"),
    ("/<rule_id>", "delete", _delete, "DELETE"),
)
for _channel, _prefix in _PREFIXES.items():
    for _path, _name, _view, _method in _ROUTES:
        push_faults_bp.add_url_rule(
            _prefix + _path,
            f"{_channel}_{_name}",
            _view,
            methods=[_method],
            defaults={"channel": _channel},
        )
