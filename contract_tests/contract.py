"""The Wiro API contract as data: what every test checks against.

Each value names its source as ``docs/wiro-api.md`` does: [seed] the model page,
[docs] Wiro's documentation. The shapes come from the seed's example responses in
``mock_wiro_fixtures/seed/`` (golden data), not from any implementation.
"""

from __future__ import annotations

import re
from typing import Any, Final

from mock_wiro_fixtures import seed_response

CLEAN_SLUGS: Final = ("minimax", "hailuo-2-3-fast")  # [seed] the Run path's slugs
DISPLAY_SLUGS: Final = ("MiniMax", "hailuo-2.3-Fast")  # [seed] title, [clients] n8n's path
MODEL_RUN: Final = "Run/{}/{}".format(*CLEAN_SLUGS)  # [seed]
MODEL_RUN_DISPLAY: Final = "Run/{}/{}".format(*DISPLAY_SLUGS)  # [clients] must work too
NO_MODEL_RUN: Final = "Run/no-such-owner/no-such-model-8412"
URL_ERROR: Final = "Error parsing url."  # [docs] HTTP 404, code 0: a path naming nothing

LIFECYCLE: Final = (  # [docs], in order; task_output repeats, task_error_full is optional
    "task_queue",
    "task_accept",
    "task_preprocess_start",
    "task_preprocess_end",
    "task_assign",
    "task_start",
    "task_output",
    "task_output_full",
    "task_error_full",
    "task_end",
    "task_postprocess_start",
    "task_postprocess_end",
)
UNTIL_START: Final = LIFECYCLE[: LIFECYCLE.index("task_output")]
"""The steps every task that starts goes through first: ``task_queue`` .. ``task_start``."""
FROM_END: Final = LIFECYCLE[LIFECYCLE.index("task_end") :]
"""The steps every task that ran ends with: ``task_end`` .. ``task_postprocess_end``."""
TERMINAL: Final = frozenset({"task_postprocess_end", "task_cancel"})  # [docs]
INTERIM: Final = frozenset({"task_output", "task_error"})  # may repeat [docs]

SUCCESS_FRAMES: Final = re.compile(
    r"task_queue task_accept task_preprocess_start task_preprocess_end task_assign "
    r"task_start (task_(output|error) )*task_output_full (task_error_full )?task_end "
    r"task_postprocess_start task_postprocess_end"
)
"""The socket frame types of a task that ran to its end, joined by spaces [docs]."""

SUCCESS_FRAMES_LATE: Final = re.compile(
    r"(((((task_queue )?task_accept )?task_preprocess_start )?task_preprocess_end )?"
    r"task_assign )?task_start (task_(output|error) )*task_output_full (task_error_full )?"
    r"task_end task_postprocess_start task_postprocess_end"
)
"""``SUCCESS_FRAMES`` for a subscriber that may have registered after the first steps:
what a late subscriber receives is undocumented [A], so only a prefix may be missing."""

# 401s, code 0 [docs]
NOT_FOUNDED: Final = "Project authorization is not founded."
SIGNATURE_REQUIRED: Final = (
    "Project requires signature authentication. x-signature and x-nonce headers are required."
)
NOT_VALID: Final = "Project authorization is not valid."

# Task errors [docs]
ID_REQUIRED: Final = "taskid or socketaccesstoken is required"
NO_TASK: Final = "There is no task yet."
NOT_CANCELLABLE: Final = "Task is not in a cancellable state."
KILL_REFUSED_PREFIX: Final = "Task could not be killed"

# Run validation [docs]
FILES_REQUIRED: Final = "Request files [inputImageFirst] required"
NOT_A_NUMBER: Final = "Request parameter [{name}] must be integer or float"
CONCURRENCY_CODE: Final = 96
BALANCE_CODE: Final = 97

SEED_DETAIL: Final[dict[str, Any]] = seed_response("task_detail_response")
SEED_TASK: Final[dict[str, Any]] = SEED_DETAIL["tasklist"][0]
SEED_OUTPUT: Final[dict[str, Any]] = SEED_TASK["outputs"][0]
SEED_RUN: Final[dict[str, Any]] = seed_response("run_response")
SEED_KILL: Final[dict[str, Any]] = seed_response("task_kill_response")
SEED_CANCEL: Final[dict[str, Any]] = seed_response("task_cancel_response")

NULLABLE_TASK_FIELDS: Final = frozenset(k for k, v in SEED_TASK.items() if v is None)
"""Fields the seed shows as ``null`` (guestid, marketplaceid): null or a string."""
NEWER_TASK_FIELDS: Final = frozenset({"modeldescription", "modelslugowner", "modelslugproject"})
"""Fields newer docs add to the seed's set [docs]: allowed, not required."""


def lifecycle_rank(status: str) -> int:
    """Position of a lifecycle status (task_error ranks with task_output); -1 if unknown."""
    if status == "task_error":
        status = "task_output"
    return LIFECYCLE.index(status) if status in LIFECYCLE else -1


def type_name(value: object) -> str:
    """A JSON type name for messages."""
    return {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        list: "array",
        dict: "object",
        type(None): "null",
    }[type(value)]


def check_like_seed(actual: dict[str, Any], seed: dict[str, Any], where: str) -> list[str]:
    """Every seed field present with the seed's JSON type (nulls: null or string);
    fields beyond the seed's are allowed. Returns the problems found."""
    problems = []
    for key, example in seed.items():
        if key not in actual:
            problems.append(f"{where}: missing {key!r}")
            continue
        value = actual[key]
        if example is None:
            if value is not None and not isinstance(value, str):
                problems.append(f"{where}.{key}: {type_name(value)}, expected null or string")
        elif type_name(value) != type_name(example):
            problems.append(
                f"{where}.{key}: {type_name(value)} {value!r:.60}, expected {type_name(example)}"
            )
    return problems


# Tool/Detail, Tool/List, Tool/Explore [docs][clients] -------------------------------
TOOL_STRINGS: Final = (  # strict: the five official clients read these as strings
    "title",
    "slugowner",
    "slugproject",
    "cleanslugowner",
    "cleanslugproject",
    "description",
)
TOOL_PRESENT: Final = ("categories", "dynamicprice", "inspire", "samples", "taskstat")
"""Documented fields whose JSON type the docs leave open: present, any type (``categories``
is an array, or, as in the seed's tasks, an array encoded as a string)."""
PARAMETER_ITEM_FIELDS: Final = ("id", "type", "label", "required", "placeholder", "note")
SELECT_OPTION_FIELDS: Final = ("label", "value")
SELECT_VALUES: Final = {"resolution": {"768P", "1080P"}, "duration": {"6", "10"}}  # [seed]
TOOL_LIST_FIELDS: Final = ("result", "errors", "total", "tool")
EXPLORE_FIELDS: Final = ("id", "title", "tools")
NONSENSE_SEARCH: Final = "zqxwvjkq-no-such-model-8412"

# Settled by recording (the suite's findings): what the real API did [A] ---------------
HD_LONG_OUTCOMES: Final = ("fallback", "reject")
"""1080P with 10 s: run as 6 s, or refused at Run with code 0 (``Settings.hd_long_duration``)."""
NONCE_OUTCOMES: Final = ("accepted", "rejected")
"""A nonce used twice: the second call accepted, or 401 (``Settings.reject_reused_nonce``)."""


PROMPT_MAX_CHARS: Final = 2000  # [minimax] "up to 2000 characters"
RUN_FIELDS: Final = (  # [seed] the Run call's fields (Tool/Detail's parameter ids)
    "inputImageFirst",
    "inputImageFirstUrl",
    "prompt",
    "promptOptimizer",
    "resolution",
    "duration",
    "callbackUrl",
)
FILE_FIELDS: Final = frozenset({"inputImageFirst"})  # [seed] a file part


def parameters_problems(task: dict[str, Any], sent: dict[str, str]) -> list[str]:
    """What Task/Detail's ``parameters`` breaks of the Run's echo [seed]: an object whose
    keys are the Run's fields; each text field the Run sent, if echoed, as sent; an
    uploaded file, if echoed, as an http(s) URL (the seed's ``inputImage``: a File URL).
    Fields the Run left out may be echoed with their defaults or not at all [A]."""
    parameters = task.get("parameters")
    if not isinstance(parameters, dict):
        return [f"parameters {parameters!r:.100}: expected an object [seed]"]
    problems = [
        f"parameters.{key}: not a field of the Run ({', '.join(RUN_FIELDS)})"
        for key in parameters
        if key not in RUN_FIELDS
    ]
    for key, value in parameters.items():
        if key in FILE_FIELDS and key not in sent:
            if value and not (isinstance(value, str) and value.startswith(("http://", "https://"))):
                problems.append(f"parameters.{key} {value!r:.100}: the upload's URL expected")
        elif key in sent and key not in FILE_FIELDS and value != sent[key]:
            problems.append(f"parameters.{key} {value!r:.100}, the Run sent {sent[key]!r:.100}")
    return problems
