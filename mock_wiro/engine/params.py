"""Run parameters, checked against a model's description, with the API's messages.

:func:`check_fields` checks any model's Run fields from its
:class:`~.catalog.ModelSpec`; :func:`parse_run_params` is that check for the model this
fake runs, MiniMax Hailuo 2.3 Fast, giving the :class:`RunParams` its tasks run with.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import ValidationError
from ..settings import FILE_ARRAY_TOO_LONG_MESSAGE, Settings
from .catalog import HAILUO_23_FAST, ModelSpec, ParamSpec

__all__ = [
    "DURATIONS",
    "RESOLUTIONS",
    "RUN_FIELDS",
    "Checked",
    "RunParams",
    "check_fields",
    "int_field",
    "parse_bool",
    "parse_run_params",
    "require",
]

RUN_FIELDS = HAILUO_23_FAST.field_ids  # [seed] the Run call's fields, in the seed's order
RESOLUTIONS = HAILUO_23_FAST.param("resolution").allowed  # [seed] default 768P
DURATIONS = HAILUO_23_FAST.param("duration").allowed  # [seed] default 6
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


@dataclass(frozen=True)
class RunParams:
    """A checked Run request. ``image_url`` is empty when the image came as a file."""

    image_url: str
    prompt: str
    prompt_optimizer: bool
    resolution: str
    duration: str
    callback_url: str
    image_url_field: str = "inputImageFirstUrl"
    """Which field carried ``image_url`` (a URL may come in ``inputImageFirst`` too [docs])."""

    def values(self) -> tuple[str, str, bool, str, str, str, str]:
        """Its fields in order: what a store keeps (``RunParams(*values)`` is it again)."""
        return (
            self.image_url,
            self.prompt,
            self.prompt_optimizer,
            self.resolution,
            self.duration,
            self.callback_url,
            self.image_url_field,
        )


@dataclass(frozen=True)
class Checked:
    """A model's checked Run fields: every parameter's value (a file input that came
    as a file: ``""``), and which parameters came as files."""

    values: dict[str, str]
    files: frozenset[str] = field(default_factory=frozenset)


def require(params: Mapping[str, str], name: str) -> str:
    """The non-empty value of ``name`` or the documented ``required`` error."""
    value = params.get(name, "")
    if value == "":
        raise ValidationError(f"Request parameter [{name}] required")
    return value


def int_field(fields: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer field (``"20"``, ``"2e1"``) within ``[low, high]``, with the documented
    messages [docs]."""
    value = fields.get(name, "") or str(default)
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"Request parameter [{name}] must be integer or float") from None
    if not low <= number <= high:
        raise ValidationError(f"Request parameter [{name}] must be between {low} and {high}")
    return int(number)


def parse_bool(fields: Mapping[str, str], name: str, default: str) -> bool:
    """true/1/yes or false/0/no, any case (empty: ``default``)."""
    value = (fields.get(name, "") or default).strip().lower()
    if value not in _TRUE + _FALSE:
        raise ValidationError(f"Request parameter [{name}] must be true or false; got {value!r}")
    return value in _TRUE


def parse_run_params(
    raw: Mapping[str, str],
    file_fields: Mapping[str, int] | Collection[str],
    settings: Settings,
    *,
    lists: Mapping[str, Sequence[str]] | None = None,
) -> RunParams:
    """Check a Hailuo 2.3 Fast Run request (see :func:`check_fields`)."""
    checked = check_fields(HAILUO_23_FAST, raw, file_fields, settings, lists=lists)
    values = checked.values
    url, inline = values["inputImageFirstUrl"], values["inputImageFirst"]
    return RunParams(
        image_url=url or inline,
        prompt=values["prompt"],
        prompt_optimizer=values["promptOptimizer"] == "true",
        resolution=values["resolution"],
        duration=values["duration"],
        callback_url=values["callbackUrl"],
        image_url_field="inputImageFirstUrl" if url else "inputImageFirst",
    )


def check_fields(
    model: ModelSpec,
    raw: Mapping[str, str],
    file_fields: Mapping[str, int] | Collection[str],
    settings: Settings,
    *,
    lists: Mapping[str, Sequence[str]] | None = None,
) -> Checked:
    """Check a Run request for ``model``: its string fields (``raw``), the text entries
    of its list fields (``lists``: JSON arrays, repeated multipart keys) and how many
    file parts came under each name (``file_fields``).

    The checks run in this order (the first that fails is the error): list lengths,
    URL lengths, unknown fields, then each parameter in the model's order, then the
    rules between parameters."""
    counts = (
        dict(file_fields) if isinstance(file_fields, Mapping) else dict.fromkeys(file_fields, 1)
    )
    params = _collapse_lists(model, dict(raw), counts, lists or {}, settings)
    files = {name for name, n in counts.items() if n > 0}
    _check_url_lengths(model, params, files, settings)
    params, files = _resolve_aliases(model, params, files, settings)
    if settings.unknown_fields == "reject":
        _reject_unknown(model, params, files)
    values: dict[str, str] = {}
    companions = {p.url_field for p in model.parameters if p.url_field}
    for param in model.parameters:
        if param.is_file:
            values.update(_file_input(model, param, params, files))
        elif param.id not in companions:
            values[param.id] = _value(param, params)
    for rule in model.constraints:
        if all(values.get(k) == v for k, v in rule.when) and values[rule.field] not in rule.allowed:
            if settings.hd_long_duration != "fallback":
                raise ValidationError(rule.message)
            values[rule.field] = rule.fallback
    return Checked(values, frozenset(files))


def _collapse_lists(
    model: ModelSpec,
    params: dict[str, str],
    counts: Mapping[str, int],
    lists: Mapping[str, Sequence[str]],
    settings: Settings,
) -> dict[str, str]:
    """Each list field as one value [clients: issue 17 finding 1]: one entry is that
    entry, none is the field absent, more than the parameter takes is an error."""
    list_fields = model.list_fields(settings.accept_image_aliases)
    aliases = model.aliases()
    for name in sorted(list_fields & (set(lists) | set(counts))):
        entries = list(lists.get(name, ()))
        count = len(entries) + counts.get(name, 0)
        most = model.param(aliases.get(name, name)).max_count
        if count > most:
            raise ValidationError(
                FILE_ARRAY_TOO_LONG_MESSAGE.format(name=name, max=most, count=count)
            )
        if entries and not counts.get(name, 0):
            params[name] = entries[0]
        else:
            params.pop(name, None)
    return params


def _check_url_lengths(
    model: ModelSpec, params: Mapping[str, str], files: Collection[str], settings: Settings
) -> None:
    """URL fields over their limit (``MAX_URL_CHARS`` [A]) are an error naming the field
    as sent. (A file sent as a file input is not a URL, and is not checked.)"""
    for param in model.parameters:
        if not param.url or param.max_length is None:
            continue
        names = (param.id, *(param.aliases if settings.accept_image_aliases else ()))
        for name in names:
            value = params.get(name, "")
            if name not in files and len(value) > param.max_length:
                raise ValidationError(
                    f"Request parameter [{name}] must be at most {param.max_length} "
                    f"characters; got {len(value)}"
                )


def _resolve_aliases(
    model: ModelSpec, raw: Mapping[str, str], file_fields: Collection[str], settings: Settings
) -> tuple[dict[str, str], set[str]]:
    """``raw`` and ``file_fields`` with each alias renamed to its parameter (when the
    settings accept aliases); a non-empty value under the real name wins."""
    params = dict(raw)
    files = set(file_fields)
    if not settings.accept_image_aliases:
        return params, files
    for alias, name in model.aliases().items():
        if alias in files and name not in files:
            files.discard(alias)
            files.add(name)
        if alias in params:
            value = params.pop(alias)
            params.setdefault(name, value)
            if params[name] == "":
                params[name] = value
    return params, files


def _reject_unknown(model: ModelSpec, params: Mapping[str, str], files: Collection[str]) -> None:
    """The error naming the first (in sorted order) field the model doesn't have."""
    unknown = sorted((set(params) | set(files)) - set(model.field_ids))
    if unknown:
        raise ValidationError(
            f"Request parameter [{unknown[0]}] is not a parameter of "
            f"{model.clean_slug_owner}/{model.clean_slug_project}; "
            f"expected: {', '.join(model.field_ids)}"
        )


def _file_input(
    model: ModelSpec, param: ParamSpec, params: Mapping[str, str], files: Collection[str]
) -> dict[str, str]:
    """A file input and its companion URL field [seed]: the input may be a file or a
    URL, the companion only a URL; both may be given only as the same URL. The values:
    the input's URL (empty when it came as a file) and the companion's."""
    name, url_name = param.id, param.url_field
    if url_name and url_name in files:
        raise ValidationError(
            f"Request parameter [{url_name}] must be a URL; send the file as [{name}]"
        )
    has_file = name in files
    url = params.get(url_name, "").strip() if url_name else ""
    inline_url = "" if has_file else params.get(name, "").strip()
    both = (
        f"Request parameters [{name}] and [{url_name}] were both given; "
        "send one of them and leave the other empty"
    )
    if (has_file and url) or (inline_url and url and inline_url != url):
        raise ValidationError(both)
    if param.required and not has_file and not (url or inline_url):
        raise ValidationError(f"Request files [{name}] required")
    return {name: inline_url, **({url_name: url} if url_name else {})}


def _value(param: ParamSpec, params: Mapping[str, str]) -> str:
    """One non-file parameter's checked value."""
    name = param.id
    if param.type == "checkbox":
        return "true" if parse_bool(params, name, param.default or "false") else "false"
    if param.type == "select":
        return _choice(param, params.get(name, "") or param.default or param.allowed[0])
    value = params.get(name, "")
    if param.required:
        require(params, name)
    if param.max_length is not None and not param.url and len(value) > param.max_length:
        raise ValidationError(
            f"Request parameter [{name}] must be at most {param.max_length} characters; "
            f"got {len(value)}"
        )
    return value


def _choice(param: ParamSpec, value: str) -> str:
    """A ``select``'s value; a numeric one by number (``6.0`` is ``6``)."""
    allowed = param.allowed
    found = value if value in allowed else None
    if param.numeric:
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(
                f"Request parameter [{param.id}] must be integer or float"
            ) from None
        found = next((a for a in allowed if float(a) == number), None)
    if found is None:
        # [A] no documented message for a value outside an allowed set
        raise ValidationError(
            f"Request parameter [{param.id}] must be one of {', '.join(allowed)}; got {value!r}"
        )
    return found
