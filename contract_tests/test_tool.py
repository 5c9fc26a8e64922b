"""The model's description: ``Tool/Detail``, ``Tool/List`` and ``Tool/Explore`` [docs][clients].

Free on the real API (no task). Types are strict where the docs or every official client
fix them (strings for slugs, titles, labels; groups of items), tolerant where they don't.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .contract import (
    CLEAN_SLUGS,
    DISPLAY_SLUGS,
    EXPLORE_FIELDS,
    NONSENSE_SEARCH,
    PARAMETER_ITEM_FIELDS,
    SELECT_OPTION_FIELDS,
    SELECT_VALUES,
    TOOL_LIST_FIELDS,
    TOOL_PRESENT,
    TOOL_STRINGS,
    type_name,
)
from .wire import Api

SLUGS = {"clean": CLEAN_SLUGS, "display": DISPLAY_SLUGS}


def tool_detail(api: Api, slugs: tuple[str, str]) -> dict[str, Any]:
    """``tool[0]`` of Tool/Detail for these slugs."""
    body = api.ok("Tool/Detail", {"slugowner": slugs[0], "slugproject": slugs[1]})
    tools = body["tool"]
    assert isinstance(tools, list) and len(tools) == 1, body
    tool: dict[str, Any] = tools[0]
    return tool


def is_model(tool: dict[str, Any]) -> bool:
    """Whether a listed tool is Hailuo 2.3 Fast (by its clean slugs)."""
    return (tool.get("cleanslugowner"), tool.get("cleanslugproject")) == CLEAN_SLUGS


def check_tool_fields(tool: dict[str, Any]) -> list[str]:
    """The documented fields of a Tool/Detail tool; the problems found."""
    problems = [f"{k}: missing" for k in (*TOOL_STRINGS, *TOOL_PRESENT) if k not in tool]
    problems += [
        f"{k}: {type_name(tool[k])}, expected string"
        for k in TOOL_STRINGS
        if k in tool and not isinstance(tool[k], str)
    ]
    categories = tool.get("categories")
    if isinstance(categories, str):  # as in the seed's tasks: an array encoded as a string
        try:
            categories = json.loads(categories)
        except ValueError:
            problems.append(f"categories: {categories!r:.60} is not a JSON array")
    if "categories" in tool and not isinstance(categories, list):
        problems.append(f"categories: {type_name(tool['categories'])}, expected an array")
    return problems


def check_parameters(parameters: Any) -> list[str]:
    """Groups ``{title, items[]}``; items ``{id, type, label, required, placeholder,
    note}``; a select's options ``{label, value}``. The problems found."""
    if not isinstance(parameters, list) or not parameters:
        return [f"parameters: {type_name(parameters)}, expected a non-empty array of groups"]
    problems: list[str] = []
    for g, group in enumerate(parameters):
        if not isinstance(group, dict) or not isinstance(group.get("items"), list):
            problems.append(f"parameters[{g}]: not a group {{title, items[]}}: {group!r:.80}")
            continue
        if not isinstance(group.get("title"), str):
            problems.append(f"parameters[{g}].title: missing or not a string")
        for item in group["items"]:
            where = f"parameters[{g}].items[{item.get('id')!r}]"
            problems += [f"{where}: missing {k!r}" for k in PARAMETER_ITEM_FIELDS if k not in item]
            problems += [
                f"{where}.{k}: {type_name(item[k])}, expected string"
                for k in ("id", "type", "label")
                if k in item and not isinstance(item[k], str)
            ]
            if item.get("type") == "select":
                options = item.get("options")
                if not isinstance(options, list) or not options:
                    problems.append(f"{where}: a select without options")
                    continue
                problems += [
                    f"{where}.options: {o!r:.60} is not {{label, value}}"
                    for o in options
                    if not isinstance(o, dict) or not set(SELECT_OPTION_FIELDS) <= set(o)
                ]
    return problems


def items_by_id(parameters: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every parameter item, by id."""
    return {str(i.get("id")): i for g in parameters for i in g.get("items", [])}


# ----------------------------------------------------------------- Tool/Detail
@pytest.mark.parametrize("slugs", ["clean", "display"])
@pytest.mark.rule("tool.detail")
def test_tool_detail_fields(api: Api, slugs: str) -> None:
    """Asked with the clean or the display slugs, Tool/Detail describes the model: its
    clean slugs ``minimax``/``hailuo-2-3-fast``, display slugs, and the documented
    fields [docs][clients]."""
    tool = tool_detail(api, SLUGS[slugs])
    assert check_tool_fields(tool) == [], tool
    assert (tool["cleanslugowner"], tool["cleanslugproject"]) == CLEAN_SLUGS, tool
    for display, clean in zip(("slugowner", "slugproject"), CLEAN_SLUGS, strict=True):
        assert tool[display].lower().replace(".", "-") == clean, (display, tool[display])


@pytest.mark.rule("tool.parameters")
def test_tool_detail_parameters(api: Api) -> None:
    """``parameters`` are groups of items with the documented fields; the resolution and
    duration selects offer the seed's values [docs][seed]."""
    parameters = tool_detail(api, CLEAN_SLUGS)["parameters"]
    assert check_parameters(parameters) == [], parameters
    items = items_by_id(parameters)
    assert {"inputImageFirst", "prompt", "resolution", "duration"} <= set(items), sorted(items)
    for name, values in SELECT_VALUES.items():
        offered = {str(o["value"]) for o in items[name].get("options", [])}
        assert offered == values, (name, offered)


# ----------------------------------------------------------------- Tool/List
def tool_list(api: Api, **fields: str) -> dict[str, Any]:
    """Tool/List with ``fields`` (strings, as the docs send them); the envelope, checked."""
    body: dict[str, Any] = api.ok("Tool/List", {"start": "0", "limit": "20", **fields})
    assert set(TOOL_LIST_FIELDS) <= set(body), sorted(body)
    assert isinstance(body["tool"], list), body
    assert str(body["total"]).isdigit(), f"total {body['total']!r} is not a count"
    return body


@pytest.mark.rule("tool.list")
def test_tool_list_search_finds_the_model(api: Api) -> None:
    body = tool_list(api, search="hailuo")
    assert any(is_model(t) for t in body["tool"]), [
        (t.get("cleanslugowner"), t.get("cleanslugproject")) for t in body["tool"]
    ]
    assert int(body["total"]) >= 1, body["total"]


@pytest.mark.rule("tool.list")
def test_tool_list_search_for_nonsense_finds_nothing(api: Api) -> None:
    body = tool_list(api, search=NONSENSE_SEARCH)
    assert body["total"] in ("0", 0), body["total"]
    assert body["tool"] == [], body["tool"]


@pytest.mark.rule("tool.list")
def test_tool_list_pages(api: Api) -> None:
    """``limit`` caps a page; ``start`` moves it on; past the end is empty."""
    first = tool_list(api, start="0", limit="1")
    total = int(first["total"])
    assert len(first["tool"]) == min(1, total), first["tool"]
    second = tool_list(api, start="1", limit="1")
    assert len(second["tool"]) == min(1, max(0, total - 1)), second["tool"]
    if total >= 2:
        ids = (first["tool"][0].get("id"), second["tool"][0].get("id"))
        assert ids[0] != ids[1], ids
    past = tool_list(api, start=str(total), limit="1")
    assert past["tool"] == [], past["tool"]


# ----------------------------------------------------------------- Tool/Explore
@pytest.mark.rule("tool.explore")
def test_tool_explore(api: Api) -> None:
    """``{result, errors, explore: [{id, title, tools: [...]}]}`` [clients: Wiro-MCP]."""
    body = api.ok("Tool/Explore", {})
    explore = body["explore"]
    assert isinstance(explore, list) and explore, body
    for section in explore:
        assert set(EXPLORE_FIELDS) <= set(section), sorted(section)
        assert isinstance(section["title"], str), section["title"]
        assert isinstance(section["tools"], list), section["tools"]
        assert all(isinstance(t, dict) for t in section["tools"]), section["tools"][:3]
