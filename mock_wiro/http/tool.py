"""``Tool/Detail``, ``Tool/List`` and ``Tool/Explore``: the fake's catalogue on the wire.

Every value comes from the models' descriptions (:mod:`mock_wiro.engine.catalog`); the
shapes are those Wiro's docs and clients read [docs: ``markdown/models.md``,
``markdown/model-parameters.md``; clients: ``wiroai/Wiro-MCP`` ``src/types.ts``]
(issue 17, findings 3 and 4). What no source gives is the fake's [A]: the counters
(``averagepoint``, ``commentcount``, ``ratedusercount``, ``taskstat``) are ``"0"``,
``marketplace`` and ``onlymembers`` are ``"0"``, ``inspire`` is ``[]``, ``dynamicprice``
lists the price table, how Tool/List filters and sorts (:data:`TOOL_LIST_SORTS`, a
category or tag filter matches a tool with any of them) and how Tool/Explore groups
(one group per ``explore_group``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from ..engine.catalog import Catalog, ModelSpec, ParamSpec
from ..engine.params import int_field, parse_bool
from ..errors import NotFoundError, ValidationError

__all__ = [
    "TOOL_LIST_LIST_FIELDS",
    "TOOL_LIST_SORTS",
    "parameter_groups",
    "tool_detail",
    "tool_explore",
    "tool_list",
    "tool_object",
    "tool_summary",
]

TOOL_LIST_LIST_FIELDS: Final = frozenset({"categories", "tags"})
"""Tool/List fields that may be arrays [clients: Wiro-MCP sends ``categories: []``]."""

_NUMERIC: Final = ("averagepoint", "commentcount", "ratedusercount", "id")
TOOL_LIST_SORTS: Final = ("relevance", "title", "slugowner", "slugproject", *_NUMERIC)
"""[A] Tool/List ``sort`` values the fake knows (``relevance``, the default: the search's
best match first, else the catalogue's order); another is a code-0 error."""


def _item(param: ParamSpec) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": param.id,
        "type": param.type,
        "label": param.label,
        "required": param.required,
        "placeholder": param.placeholder,
        "note": param.note,
    }
    if param.options:
        item["options"] = [{"label": o.label, "value": o.value} for o in param.options]
    if param.default:
        item["default"] = param.default
    return item


def parameter_groups(model: ModelSpec) -> list[dict[str, Any]]:
    """Tool/Detail's ``parameters``: groups ``{title, items[]}`` [docs]."""
    return [{"title": model.group_title, "items": [_item(p) for p in model.parameters]}]


def _identity(model: ModelSpec) -> dict[str, Any]:
    """The fields that name and show a model, first in every tool object [docs]."""
    return {
        "id": model.id,
        "title": model.title,
        "slugowner": model.slug_owner,
        "slugproject": model.slug_project,
        "cleanslugowner": model.clean_slug_owner,
        "cleanslugproject": model.clean_slug_project,
        "description": model.description,
        "image": model.image,
    }


def tool_summary(model: ModelSpec) -> dict[str, Any]:
    """The fields a Tool/List summary and a Tool/Explore entry carry [clients]."""
    return {
        **_identity(model),
        "categories": list(model.categories),
        "tags": list(model.tags),
        "averagepoint": "0",
        "commentcount": "0",
        "ratedusercount": "0",
    }


def tool_object(model: ModelSpec) -> dict[str, Any]:
    """The tool object of Tool/Detail (and of a full Tool/List) [docs][clients]."""
    prices = [
        {**dict(zip(model.price_by, key, strict=True)), "price": str(price)}
        for key, price in model.prices.items()
    ]
    return {
        **_identity(model),
        "computingtime": str(model.computing_seconds),
        "readme": model.readme,
        "categories": list(model.categories),
        "parameters": parameter_groups(model),
        "inspire": [],
        "samples": list(model.samples),
        "tags": list(model.tags),
        "marketplace": "0",
        "onlymembers": "0",
        "dynamicprice": prices,
        "averagepoint": "0",
        "commentcount": "0",
        "ratedusercount": "0",
        "taskstat": {"runcount": "0", "successcount": "0", "errorcount": "0"},
        "seotitle": model.title,
        "seodescription": model.description,
    }


def tool_detail(
    fields: Mapping[str, str], catalog: Catalog, *, case_insensitive: bool = True
) -> dict[str, Any]:
    """The tool ``slugowner``/``slugproject`` name (clean or display slugs; both empty:
    the catalogue's first); another model is code 1 [A]."""
    default = catalog.models[0]
    owner = fields.get("slugowner", "") or default.clean_slug_owner
    project = fields.get("slugproject", "") or default.clean_slug_project
    model = catalog.find(owner, project, case_insensitive)
    if model is None:
        served = ", ".join(f"{m.clean_slug_owner}/{m.clean_slug_project}" for m in catalog)
        raise NotFoundError(f"There is no tool {owner}/{project}; this fake serves {served} only.")
    return tool_object(model)


def _wanted(fields: Mapping[str, str], lists: Mapping[str, Sequence[str]], name: str) -> set[str]:
    """A filter's values: an array, or a comma-separated string; lower case."""
    values = lists[name] if name in lists else fields.get(name, "").split(",")
    return {v.strip().lower() for v in values if v.strip()}


def _relevance(model: ModelSpec, search: str) -> int:
    """How well ``search`` (lower case) matches: title 3, a slug 2, description or a
    category 1, none 0."""
    slugs = (model.slug_owner, model.slug_project, model.clean_slug_owner)
    if search in model.title.lower():
        return 3
    if any(search in s.lower() for s in (*slugs, model.clean_slug_project)):
        return 2
    texts = (model.description, *model.categories)
    return 1 if any(search in t.lower() for t in texts) else 0


def _filters(
    fields: Mapping[str, str], lists: Mapping[str, Sequence[str]]
) -> list[Callable[[ModelSpec], bool]]:
    categories, tags = _wanted(fields, lists, "categories"), _wanted(fields, lists, "tags")
    owner = fields.get("slugowner", "").strip().lower()
    checks: list[Callable[[ModelSpec], bool]] = []
    if categories:
        checks.append(lambda m: bool(categories & {c.lower() for c in m.categories}))
    if tags:
        checks.append(lambda m: bool(tags & {t.lower() for t in m.tags}))
    if owner:
        checks.append(lambda m: owner in (m.slug_owner.lower(), m.clean_slug_owner.lower()))
    if parse_bool(fields, "hideworkflows", "false"):
        checks.append(lambda m: not m.workflow)
    return checks


def tool_list(
    fields: Mapping[str, str], lists: Mapping[str, Sequence[str]], catalog: Catalog
) -> dict[str, Any]:
    """Tool/List: the catalogue filtered, sorted and paged [docs][clients]."""
    start = int_field(fields, "start", 0, 0, 10**9)
    limit = int_field(fields, "limit", 20, 1, 1000)
    sort = (fields.get("sort", "") or "relevance").strip().lower()
    if sort not in TOOL_LIST_SORTS:
        raise ValidationError(
            f"Request parameter [sort] must be one of {', '.join(TOOL_LIST_SORTS)}; got {sort!r}"
        )
    order = (fields.get("order", "") or "DESC").strip().upper()
    if order not in ("ASC", "DESC"):
        raise ValidationError(f"Request parameter [order] must be one of ASC, DESC; got {order!r}")
    summary = parse_bool(fields, "summary", "false")
    search = fields.get("search", "").strip().lower()
    checks = _filters(fields, lists)
    found = [m for m in catalog if all(check(m) for check in checks)]
    if search:
        found = [m for m in found if _relevance(m, search)]
    if sort == "relevance":
        if search:  # stable: equally relevant tools keep the catalogue's order
            found.sort(key=lambda m: _relevance(m, search), reverse=True)
        if order == "ASC":
            found.reverse()
    else:
        found.sort(key=lambda m: _sort_key(tool_summary(m)[sort], sort), reverse=order == "DESC")
    page = found[start : start + limit]
    shape = tool_summary if summary else tool_object
    return {
        "result": True,
        "errors": [],
        "total": str(len(found)),
        "tool": [shape(m) for m in page],
    }


def _sort_key(value: str, sort: str) -> tuple[float, str]:
    return (float(value), "") if sort in _NUMERIC else (0.0, value.lower())


def tool_explore(catalog: Catalog) -> dict[str, Any]:
    """Tool/Explore: the catalogue by explore group, in the catalogue's order [clients]."""
    groups: dict[str, list[ModelSpec]] = {}
    for model in catalog:
        groups.setdefault(model.explore_group or model.title, []).append(model)
    keys = ("id", "cleanslugowner", "cleanslugproject", "image", "description", "categories")
    counters = ("commentcount", "ratedusercount", "averagepoint")
    explore = [
        {
            "id": str(index),
            "title": title,
            "tools": [{k: tool_summary(m)[k] for k in (*keys, *counters)} for m in models],
            "total": str(len(models)),
        }
        for index, (title, models) in enumerate(groups.items(), start=1)
    ]
    return {"result": True, "errors": [], "explore": explore}
