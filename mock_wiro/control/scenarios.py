"""``/_mock/scenarios``: the scenarios matched at Run (:mod:`mock_wiro.chaos.scenarios`).

- ``POST /_mock/scenarios`` (a scenario) → 201 with it;
  ``GET /_mock/scenarios`` → ``{"scenarios": [... with "remaining"]}``;
  ``DELETE /_mock/scenarios`` or ``POST /_mock/scenarios/clear`` → forget them all;
  ``DELETE /_mock/scenarios/<id>`` → forget one.
- ``POST /_mock/scenarios/explain {"project": ..., "prompt": ..., "headers": {...}}``
  → ``{"scenarios": [{"id", "matched", "reason"}], "applies": id or null}``: which
  scenario a Run like that would get, and why each other one would not (counts nothing).

A child of the parent control blueprint (:mod:`.blueprint`).
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ..chaos import spec
from ..chaos.rules import first_match
from ..errors import ControlError
from .blueprint import body, string
from .fake import current_fake

__all__ = ["scenarios"]

scenarios = Blueprint("scenarios", __name__, url_prefix="/scenarios")


@scenarios.post("")
def scenarios_add() -> ResponseReturnValue:
    """Add a scenario (an existing one with the same ``id`` is replaced)."""
    book = current_fake().scenarios
    scenario = book.add(body())
    return scenario.to_json() | {"remaining": scenario.times}, 201


@scenarios.get("")
def scenarios_list() -> ResponseReturnValue:
    """Every scenario, in matching order, with what is left of its ``times``."""
    return {"scenarios": current_fake().scenarios.to_json()}


@scenarios.delete("")
@scenarios.post("/clear")
def scenarios_clear() -> ResponseReturnValue:
    """Forget every scenario."""
    current_fake().scenarios.clear()
    return {"ok": True}


@scenarios.delete("/<scenario_id>")
def scenarios_remove(scenario_id: str) -> ResponseReturnValue:
    """Forget one scenario."""
    if not current_fake().scenarios.remove(scenario_id):
        raise ControlError(f"no scenario {scenario_id!r}", 404)
    return {"ok": True}


@scenarios.post("/explain")
def scenarios_explain() -> ResponseReturnValue:
    """Every scenario, with whether a Run of ``project`` (API key; default: none),
    ``prompt`` and ``headers`` would match it and, if not, why."""
    given = body()
    fake = current_fake()
    key = string(given, "project")
    project = next((p for p in fake.backend.projects() if key in (p.api_key, p.id)), None)
    headers = dict(spec.headers(given.get("headers"), "'headers'"))
    found = fake.scenarios.explain_run(
        project.api_key if project else key,
        project.id if project else key,
        string(given, "prompt"),
        headers,
    )
    return {"scenarios": found, "applies": first_match(found)}
