"""``/_mock/faults``: the HTTP fault rules (:mod:`mock_wiro.chaos.http_faults`); the
hooks that apply them to requests are :mod:`mock_wiro.http.faults`.

::

    POST   /_mock/faults                {"path": "/v1/Task/*", "status": 503, "times": 2}
    GET    /_mock/faults                every rule with its counters
    GET    /_mock/faults/<id>           one rule
    DELETE /_mock/faults/<id>           delete it (releasing what it holds)
    POST   /_mock/faults/<id>/release   release the requests it holds (a hang)
    POST   /_mock/faults/release        release every held request
    POST   /_mock/faults/clear          delete every rule
    POST   /_mock/faults/explain        {"method": "GET", "path": "/v1/Task/Detail"}:
                                        every rule, matched or why not (counts nothing)

A child of the parent control blueprint (:mod:`.blueprint`).
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ..chaos import spec
from ..chaos.http_faults import PHASES, FaultRule
from ..chaos.rules import first_match
from ..errors import ControlError
from ..http.faults import FAULT_HEADER
from .blueprint import body, string
from .fake import current_fake

__all__ = ["FAULT_HEADER", "faults_bp"]

faults_bp = Blueprint("faults", __name__, url_prefix="/faults")
fault_control = faults_bp
"""Its name before the control surface had one parent."""


def _rule(rule_id: str) -> FaultRule:
    rule = current_fake().faults.get(rule_id)
    if rule is None:
        raise ControlError(f"no fault rule {rule_id!r}", 404)
    return rule


@faults_bp.post("")
def create() -> ResponseReturnValue:
    """A new rule (see :mod:`mock_wiro.chaos.http_faults`): the rule with its ``id``."""
    return current_fake().faults.add(body()).to_json(), 201


@faults_bp.get("")
def list_rules() -> ResponseReturnValue:
    """Every rule, with ``matched``, ``hits``, ``held`` and ``active``."""
    return {"faults": [r.to_json() for r in current_fake().faults.rules()]}


@faults_bp.get("/<rule_id>")
def get_rule(rule_id: str) -> ResponseReturnValue:
    """One rule."""
    return _rule(rule_id).to_json()


@faults_bp.delete("/<rule_id>")
def delete_rule(rule_id: str) -> ResponseReturnValue:
    """Delete a rule; what it holds is released."""
    if not current_fake().faults.remove(rule_id):
        raise ControlError(f"no fault rule {rule_id!r}", 404)
    return {"ok": True}


@faults_bp.post("/<rule_id>/release")
def release_rule(rule_id: str) -> ResponseReturnValue:
    """Release the requests a rule holds (a ``hang``): ``{"released": n}``."""
    _rule(rule_id)
    return {"released": current_fake().faults.release(rule_id)}


@faults_bp.post("/release")
def release_all() -> ResponseReturnValue:
    """Release every held request."""
    return {"released": current_fake().faults.release()}


@faults_bp.post("/clear")
def clear() -> ResponseReturnValue:
    """Delete every rule (releasing what they hold)."""
    current_fake().faults.clear()
    return {"ok": True}


@faults_bp.post("/explain")
def explain() -> ResponseReturnValue:
    """Every rule, with whether a request (``method``, default GET; ``path``; ``when``:
    one phase, default both) would match it and, if not, why."""
    given = body()
    path = string(given, "path")
    if not path.startswith("/"):
        raise ControlError(f"'path' must start with '/'; got {path!r}")
    method = string(given, "method", "GET").upper()
    when = given.get("when")
    if when is not None:
        spec.choice(when, "'when'", PHASES)
    found = current_fake().faults.explain_request(path, method, when)
    return {"faults": found, "applies": first_match(found)}
