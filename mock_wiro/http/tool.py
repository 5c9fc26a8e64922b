"""``Tool/Detail`` for minimax/hailuo-2-3-fast: the model's parameter definitions.

The shape follows Wiro's docs and per-model OpenAPI files as far as they go;
the exact field set of a parameter item is [A].
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..engine.params import DURATIONS, RESOLUTIONS
from ..errors import NotFoundError
from ..settings import MODEL_ID, MODEL_SLUG_OWNER, MODEL_SLUG_PROJECT, PROMPT_MAX_CHARS

__all__ = ["PARAMETERS", "tool_detail"]

PARAMETERS: list[dict[str, Any]] = [
    {
        "id": "inputImageFirst",
        "type": "combinefileinput",
        "label": "First frame",
        "help": "JPG/PNG/WebP, under 20 MB, short side over 300 px, aspect ratio 2:5 to 5:2. "
        "Send a file, or a URL in inputImageFirstUrl.",
        "required": True,
        "maxcount": 1,
    },
    {
        "id": "inputImageFirstUrl",
        "type": "text",
        "label": "First frame URL",
        "help": "A URL of the first frame, instead of a file in inputImageFirst "
        "(send one of the two, the other empty).",
        "required": False,
        "default": "",
    },
    {
        "id": "prompt",
        "type": "textarea",
        "label": "Prompt",
        "help": f"Up to {PROMPT_MAX_CHARS} characters.",
        "required": False,
        "default": "",
    },
    {
        "id": "promptOptimizer",
        "type": "checkbox",
        "label": "Prompt optimizer",
        "required": False,
        "default": "true",
    },
    {
        "id": "resolution",
        "type": "select",
        "label": "Resolution",
        "required": False,
        "default": RESOLUTIONS[0],
        "options": [{"value": r, "text": r} for r in RESOLUTIONS],
    },
    {
        "id": "duration",
        "type": "select",
        "label": "Duration (seconds)",
        "help": "10 seconds is available at 768P only.",
        "required": False,
        "default": DURATIONS[0],
        "options": [{"value": d, "text": d} for d in DURATIONS],
    },
    {
        "id": "callbackUrl",
        "type": "text",
        "label": "Callback URL",
        "help": "POSTed when the task completes.",
        "required": False,
        "default": "",
    },
]


def tool_detail(fields: Mapping[str, str]) -> dict[str, Any]:
    """The tool object; a request naming another model gets code 1 [A]."""
    owner = fields.get("slugowner", "") or MODEL_SLUG_OWNER
    project = fields.get("slugproject", "") or MODEL_SLUG_PROJECT
    if (owner, project) != (MODEL_SLUG_OWNER, MODEL_SLUG_PROJECT):
        raise NotFoundError(
            f"There is no tool {owner}/{project}; this fake serves "
            f"{MODEL_SLUG_OWNER}/{MODEL_SLUG_PROJECT} only."
        )
    return {
        "id": MODEL_ID,
        "title": "MiniMax Hailuo 2.3 Fast",
        "slugowner": MODEL_SLUG_OWNER,
        "slugproject": MODEL_SLUG_PROJECT,
        "description": "Image-to-video: MiniMax Hailuo 2.3 Fast, 768P or 1080P, 6 or 10 s.",
        "categories": ["tool", "image-to-video", "video", "fast"],
        "parameters": [{"title": "Input", "items": PARAMETERS}],
    }
