"""Run parameters of minimax/hailuo-2-3-fast: parsed and checked, with the API's messages."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..errors import ValidationError
from ..settings import (
    IMAGE_FIELD_ALIASES,
    MODEL_SLUG_OWNER,
    MODEL_SLUG_PROJECT,
    PROMPT_MAX_CHARS,
    Settings,
)

__all__ = [
    "DURATIONS",
    "RESOLUTIONS",
    "RUN_FIELDS",
    "RunParams",
    "parse_run_params",
    "require",
]

# [seed] the Run call's fields, in the seed's order.
RUN_FIELDS = (
    "inputImageFirst",
    "inputImageFirstUrl",
    "prompt",
    "promptOptimizer",
    "resolution",
    "duration",
    "callbackUrl",
)
RESOLUTIONS = ("768P", "1080P")  # [seed] default 768P
DURATIONS = ("6", "10")  # [seed] default 6; 10 only at 768P [minimax][docs]
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


def require(params: Mapping[str, str], name: str) -> str:
    """The non-empty value of ``name`` or the documented ``required`` error."""
    value = params.get(name, "")
    if value == "":
        raise ValidationError(f"Request parameter [{name}] required")
    return value


def _choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = params.get(name, "") or allowed[0]
    if value not in allowed:
        # [A] no documented message for a value outside an allowed set
        raise ValidationError(
            f"Request parameter [{name}] must be one of {', '.join(allowed)}; got {value!r}"
        )
    return value


def _duration(params: Mapping[str, str]) -> str:
    value = params.get("duration", "") or DURATIONS[0]
    try:
        number = float(value)
    except ValueError:
        raise ValidationError("Request parameter [duration] must be integer or float") from None
    if number not in (6.0, 10.0):
        raise ValidationError(
            f"Request parameter [duration] must be one of {', '.join(DURATIONS)}; got {value!r}"
        )
    return str(int(number))


def parse_run_params(
    raw: Mapping[str, str], file_fields: Collection[str], settings: Settings
) -> RunParams:
    """Check a Run request's fields (``raw``) and which of them came as files.

    The checks run in this order (the first that fails is the error): unknown fields,
    the image, the prompt, ``promptOptimizer``, then resolution and duration."""
    params, files = _resolve_aliases(raw, file_fields, settings)
    if settings.unknown_fields == "reject":
        _reject_unknown(params, files)
    image_url, image_url_field = _image(params, files)
    prompt = _prompt(params)
    optimizer = _prompt_optimizer(params)
    resolution, duration = _resolution_and_duration(params)
    return RunParams(
        image_url=image_url,
        prompt=prompt,
        prompt_optimizer=optimizer,
        resolution=resolution,
        duration=duration,
        callback_url=params.get("callbackUrl", ""),
        image_url_field=image_url_field,
    )


def _resolve_aliases(
    raw: Mapping[str, str], file_fields: Collection[str], settings: Settings
) -> tuple[dict[str, str], set[str]]:
    """``raw`` and ``file_fields`` with each image alias renamed to its field (when the
    settings accept aliases); a non-empty value under the real name wins."""
    params = dict(raw)
    files = set(file_fields)
    if not settings.accept_image_aliases:
        return params, files
    for alias, name in IMAGE_FIELD_ALIASES.items():
        if alias in files and name not in files:
            files.discard(alias)
            files.add(name)
        if alias in params:
            value = params.pop(alias)
            params.setdefault(name, value)
            if params[name] == "":
                params[name] = value
    return params, files


def _reject_unknown(params: Mapping[str, str], files: Collection[str]) -> None:
    """The error naming the first (in sorted order) field the model doesn't have."""
    unknown = sorted((set(params) | set(files)) - set(RUN_FIELDS))
    if unknown:
        raise ValidationError(
            f"Request parameter [{unknown[0]}] is not a parameter of "
            f"{MODEL_SLUG_OWNER}/{MODEL_SLUG_PROJECT}; expected: {', '.join(RUN_FIELDS)}"
        )


_BOTH_IMAGES = (
    "Request parameters [inputImageFirst] and [inputImageFirstUrl] were both given; "
    "send one of them and leave the other empty"
)


def _image(params: Mapping[str, str], files: Collection[str]) -> tuple[str, str]:
    """The first frame's URL (empty when it came as a file) and the field that carried
    it. ``inputImageFirst`` may be a file or a URL; ``inputImageFirstUrl`` only a URL;
    both may be given only as the same URL."""
    if "inputImageFirstUrl" in files:
        raise ValidationError(
            "Request parameter [inputImageFirstUrl] must be a URL; send the file as "
            "[inputImageFirst]"
        )
    has_file = "inputImageFirst" in files
    url = params.get("inputImageFirstUrl", "").strip()
    inline_url = "" if has_file else params.get("inputImageFirst", "").strip()
    if has_file and url:
        raise ValidationError(_BOTH_IMAGES)
    if inline_url and url and inline_url != url:
        raise ValidationError(_BOTH_IMAGES)
    image_url = url or inline_url
    if not has_file and not image_url:
        raise ValidationError("Request files [inputImageFirst] required")
    return image_url, "inputImageFirstUrl" if url else "inputImageFirst"


def _prompt(params: Mapping[str, str]) -> str:
    prompt = params.get("prompt", "")
    if len(prompt) > PROMPT_MAX_CHARS:
        raise ValidationError(
            f"Request parameter [prompt] must be at most {PROMPT_MAX_CHARS} characters; "
            f"got {len(prompt)}"
        )
    return prompt


def _prompt_optimizer(params: Mapping[str, str]) -> bool:
    """``promptOptimizer`` (default true): true/1/yes or false/0/no, any case."""
    optimizer = (params.get("promptOptimizer", "") or "true").strip().lower()
    if optimizer not in _TRUE + _FALSE:
        raise ValidationError(
            f"Request parameter [promptOptimizer] must be true or false; got {optimizer!r}"
        )
    return optimizer in _TRUE


def _resolution_and_duration(params: Mapping[str, str]) -> tuple[str, str]:
    """Each checked on its own, then together: 10 seconds only at 768P."""
    resolution = _choice(params, "resolution", RESOLUTIONS)
    duration = _duration(params)
    if resolution == "1080P" and duration != "6":
        raise ValidationError(
            "Request parameter [duration] must be 6 when [resolution] is 1080P; "
            "10-second videos are 768P only"
        )
    return resolution, duration
