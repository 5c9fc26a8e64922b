"""The models the fake serves, described once, as data (issue 17).

A :class:`ModelSpec` says everything the fake knows about one Wiro model: its slugs
(the display ones of its page title and the clean ones of its URLs), its id, title,
description and categories, its Run parameters (type, label, options, default, limits,
aliases), its prices and its output. Run's validation (:mod:`.params`), Tool/Detail,
Tool/List and Tool/Explore (``mock_wiro/http/tool.py``) and the OpenAPI document's Run
fields (``mock_wiro/http/openapi/``) are all derived from it: a second model is one more
description in a :class:`Catalog`.

Facts carry their source as in ``docs/wiro-api.md``; the values no source gives (labels,
notes, placeholders, the group title, the explore group) are the fake's [A]. The
assumptions that are named constants elsewhere (prices, id, categories, aliases, limits)
are referenced here, never restated.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, Literal, cast

from ..settings import (
    IMAGE_FIELD_ALIASES,
    MAX_URL_CHARS,
    MODEL_ID,
    MODEL_SLUG_OWNER,
    MODEL_SLUG_PROJECT,
    PRICE_TABLE_USD,
    PROMPT_MAX_CHARS,
    SEED_CATEGORIES,
)

__all__ = [
    "CATALOG",
    "FILE_TYPES",
    "HAILUO_23_FAST",
    "Catalog",
    "Constraint",
    "ModelSpec",
    "Option",
    "ParamSpec",
    "ParamType",
]

ParamType = Literal["combinefileinput", "fileinput", "text", "textarea", "checkbox", "select"]
FILE_TYPES: Final = frozenset({"combinefileinput", "fileinput"})
"""Parameter types that take files (a file part, or a URL; JSON arrays of them) [docs]."""


@dataclass(frozen=True)
class Option:
    """One choice of a ``select`` parameter, as Tool/Detail shows it [docs]."""

    label: str
    value: str


@dataclass(frozen=True)
class ParamSpec:
    """One Run parameter."""

    id: str
    type: ParamType
    label: str
    required: bool = False
    placeholder: str = ""
    note: str = ""
    options: tuple[Option, ...] = ()
    default: str = ""
    max_length: int | None = None
    """Longest value in characters (a file input: as a URL)."""
    max_count: int = 1
    """How many entries a file input takes (JSON array entries, repeated multipart keys)."""
    aliases: tuple[str, ...] = ()
    """Other names clients send for it (accepted when ``Settings.accept_image_aliases``)."""
    url: bool = False
    """The value is a URL: its length is checked first, by the name it was sent as."""
    url_field: str = ""
    """A file input's companion URL parameter (the file, or a URL there) [seed]."""
    numeric: bool = False
    """A ``select`` whose values are numbers: ``6.0`` is ``6``; a non-number is the
    documented ``must be integer or float`` [docs]."""

    @property
    def is_file(self) -> bool:
        return self.type in FILE_TYPES

    @property
    def allowed(self) -> tuple[str, ...]:
        return tuple(o.value for o in self.options)


@dataclass(frozen=True)
class Constraint:
    """A rule between parameters: when every ``when`` pair holds, ``field`` must be one
    of ``allowed``; otherwise the Run falls back to ``fallback`` (when the settings say
    so, ``Settings.hd_long_duration``) or is refused with ``message``."""

    when: tuple[tuple[str, str], ...]
    field: str
    allowed: tuple[str, ...]
    fallback: str
    message: str


@dataclass(frozen=True)
class ModelSpec:
    """One Wiro model, as the fake serves it."""

    id: str
    slug_owner: str
    """The display owner slug (the page title's, ``MiniMax``)."""
    slug_project: str
    clean_slug_owner: str
    """The URL owner slug (``minimax``): ``Run/<clean owner>/<clean project>``."""
    clean_slug_project: str
    title: str
    description: str
    categories: tuple[str, ...]
    parameters: tuple[ParamSpec, ...]
    prices: Mapping[tuple[str, ...], Decimal]
    """Price in USD by the values of ``price_by``."""
    price_by: tuple[str, ...] = ()
    output_contenttype: str = "video/mp4"
    output_extension: str = "mp4"
    group_title: str = "Input"
    """The Tool/Detail parameter group's title [A]."""
    constraints: tuple[Constraint, ...] = ()
    tags: tuple[str, ...] = ()
    image: str = ""
    computing_seconds: int = 0
    """Typical seconds a run takes (Tool/Detail ``computingtime``) [A]."""
    explore_group: str = ""
    """The Tool/Explore group it is listed under [A]."""
    workflow: bool = False
    """A workflow rather than a single model (Tool/List ``hideworkflows``)."""
    samples: tuple[str, ...] = ()
    readme: str = ""

    @property
    def run_path(self) -> str:
        return f"Run/{self.clean_slug_owner}/{self.clean_slug_project}"

    @property
    def field_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.parameters)

    def param(self, name: str) -> ParamSpec:
        return next(p for p in self.parameters if p.id == name)

    def aliases(self) -> dict[str, str]:
        """Every alias and the parameter it names."""
        return {alias: p.id for p in self.parameters for alias in p.aliases}

    def list_fields(self, with_aliases: bool) -> frozenset[str]:
        """The names whose values may be lists (the file inputs, and their aliases)."""
        names = {p.id for p in self.parameters if p.is_file}
        if with_aliases:
            names |= {a for a, n in self.aliases().items() if n in names}
        return frozenset(names)

    def named(self, owner: str, project: str, case_insensitive: bool) -> bool:
        """Whether ``owner/project`` names this model, by its clean or display slugs."""
        pairs = (
            (self.clean_slug_owner, self.clean_slug_project),
            (self.slug_owner, self.slug_project),
        )
        if case_insensitive:
            wanted = (owner.lower(), project.lower())
            return any((o.lower(), p.lower()) == wanted for o, p in pairs)
        return (owner, project) in pairs

    def price(self, values: Mapping[str, str]) -> Decimal:
        return self.prices[tuple(values[name] for name in self.price_by)]


@dataclass(frozen=True)
class Catalog:
    """The models one fake serves; the first is the default of Tool/Detail."""

    models: tuple[ModelSpec, ...] = field(default_factory=tuple)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models)

    def __len__(self) -> int:
        return len(self.models)

    def find(self, owner: str, project: str, case_insensitive: bool) -> ModelSpec | None:
        return next((m for m in self.models if m.named(owner, project, case_insensitive)), None)

    def find_run(self, path: str, case_insensitive: bool) -> ModelSpec | None:
        """The model a ``Run/<owner>/<project>`` path names, or None."""
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != "Run":
            return None
        return self.find(parts[1], parts[2], case_insensitive)


def _split_categories(encoded: str) -> tuple[str, ...]:
    """``SEED_CATEGORIES`` is the seed's JSON-array-as-a-string; its values, in order."""
    return tuple(str(v) for v in json.loads(encoded))


_RESOLUTIONS = ("768P", "1080P")  # [seed] default 768P
_DURATIONS = ("6", "10")  # [seed] default 6; 10 only at 768P [minimax][docs]
_IMAGE = "inputImageFirst"
_IMAGE_URL = "inputImageFirstUrl"

HAILUO_23_FAST: Final = ModelSpec(
    id=MODEL_ID,
    slug_owner="MiniMax",  # [seed] "API Sample: MiniMax/hailuo-2.3-Fast"
    slug_project="hailuo-2.3-Fast",
    clean_slug_owner=MODEL_SLUG_OWNER,
    clean_slug_project=MODEL_SLUG_PROJECT,
    title="MiniMax Hailuo 2.3 Fast",
    description="Image-to-video: MiniMax Hailuo 2.3 Fast, 768P or 1080P, 6 or 10 s.",
    categories=_split_categories(SEED_CATEGORIES),
    parameters=(  # [seed] the Run call's fields, in the seed's order
        ParamSpec(
            _IMAGE,
            "combinefileinput",
            "First frame",
            required=True,
            placeholder="https://example.com/first-frame.jpg",
            note="JPG/PNG/WebP, under 20 MB, short side over 300 px, aspect ratio 2:5 to 5:2. "
            f"Send a file, or a URL here or in {_IMAGE_URL}.",
            max_length=MAX_URL_CHARS,
            aliases=tuple(a for a, n in IMAGE_FIELD_ALIASES.items() if n == _IMAGE),
            url=True,
            url_field=_IMAGE_URL,
        ),
        ParamSpec(
            _IMAGE_URL,
            "text",
            "First frame URL",
            note=f"A URL of the first frame, instead of a file in {_IMAGE} "
            "(send one of the two, the other empty).",
            max_length=MAX_URL_CHARS,
            aliases=tuple(a for a, n in IMAGE_FIELD_ALIASES.items() if n == _IMAGE_URL),
            url=True,
        ),
        ParamSpec(
            "prompt",
            "textarea",
            "Prompt",
            placeholder="Describe the motion",
            note=f"Up to {PROMPT_MAX_CHARS} characters.",
            max_length=PROMPT_MAX_CHARS,
        ),
        ParamSpec(
            "promptOptimizer",
            "checkbox",
            "Prompt optimizer",
            note="Let MiniMax rewrite the prompt.",
            default="true",
        ),
        ParamSpec(
            "resolution",
            "select",
            "Resolution",
            options=tuple(Option(r, r) for r in _RESOLUTIONS),
            default=_RESOLUTIONS[0],
        ),
        ParamSpec(
            "duration",
            "select",
            "Duration (seconds)",
            note="10 seconds is available at 768P only.",
            options=tuple(Option(d, d) for d in _DURATIONS),
            default=_DURATIONS[0],
            numeric=True,
        ),
        ParamSpec(
            "callbackUrl",
            "text",
            "Callback URL",
            placeholder="https://example.com/webhook",
            note="POSTed when the task completes.",
            max_length=MAX_URL_CHARS,
            url=True,
        ),
    ),
    prices=cast("Mapping[tuple[str, ...], Decimal]", PRICE_TABLE_USD),  # the one source
    price_by=("resolution", "duration"),
    constraints=(
        Constraint(  # [minimax][docs] 10 s only at 768P; issue 17 finding 5
            when=(("resolution", "1080P"),),
            field="duration",
            allowed=("6",),
            fallback="6",
            message="Request parameter [duration] must be 6 when [resolution] is 1080P; "
            "10-second videos are 768P only",
        ),
    ),
    tags=("minimax", "hailuo", "image-to-video"),  # [A]
    image="https://cdn.wiro.ai/uploads/sampleinputs/minimax-haulio-2-3-fast-input-3.jpg",
    computing_seconds=60,  # [A] about a minute end to end (docs/wiro-api.md, Task lifecycle)
    explore_group="Image to Video",
    samples=("https://cdn.wiro.ai/uploads/sampleinputs/minimax-haulio-2-3-fast-input-3.jpg",),
    readme="MiniMax Hailuo 2.3 Fast turns one image (the first frame) and an optional "
    "prompt into a 6 or 10 second video at 768P, or 6 seconds at 1080P.",
)
"""MiniMax Hailuo 2.3 Fast, the model this fake serves."""

CATALOG: Final = Catalog((HAILUO_23_FAST,))
"""The fake's catalogue."""
