"""The task lifecycle as data: stages, their real-world durations, and the plans built from them.

A task's *plan* is a list of :class:`Step` s. The backend applies each step when
its time has come on the fake clock (``delay`` seconds, scaled by the clock,
after the previous step) and, for gated steps, when the background work it
waits for is done. Nothing here knows about threads or HTTP.

Order [docs]: ``task_queue → task_accept → task_preprocess_start →
task_preprocess_end → task_assign → task_start → task_output (many) →
task_output_full → task_error_full (only when stderr is non-empty) → task_end →
task_postprocess_start → task_postprocess_end``; ``task_cancel`` ends a
cancelled or killed task.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Final, Literal, NamedTuple

__all__ = [
    "EARLY_FAIL_STAGES",
    "FAILURE_TAIL",
    "GENERATION_SECONDS",
    "HOLDABLE_STAGES",
    "INTAKE",
    "LIFECYCLE",
    "OUTPUTS",
    "PROGRESS_STEPS",
    "STATUS_IGNORED_TYPES",
    "SUCCESS_TAIL",
    "TERMINAL_STATUSES",
    "TIMESTAMP_FIELDS",
    "Gate",
    "Plan",
    "Step",
    "build_plan",
    "fail_after",
    "failure_plan",
    "success_plan",
    "with_timings",
]

Gate = Literal["validated", "rendered"]

LIFECYCLE: Final = (
    "task_queue",
    "task_accept",
    "task_preprocess_start",
    "task_preprocess_end",
    "task_assign",
    "task_start",
    "task_output",
    "task_error",
    "task_output_full",
    "task_error_full",
    "task_end",
    "task_postprocess_start",
    "task_postprocess_end",
    "task_cancel",
)
TERMINAL_STATUSES: Final = frozenset({"task_postprocess_end", "task_cancel"})  # [docs]
# ``task_error`` is an interim stderr line [docs]; it does not become the task's
# status, so a client reading Task/Detail never mistakes it for a failure [A].
# Failing at one of these is decided at Run time (before the image check gate).
EARLY_FAIL_STAGES: Final = ("task_queue", "task_accept", "task_preprocess_start")
# A task can be held (or pushed) before any stage that comes after the queue.
HOLDABLE_STAGES: Final = tuple(s for s in LIFECYCLE if s not in ("task_queue", "task_cancel"))
STATUS_IGNORED_TYPES: Final = frozenset({"task_error"})

# Which Task/Detail timestamp field each frame type fills [seed field names].
TIMESTAMP_FIELDS: Final = {
    "task_queue": "createtime",
    "task_accept": "accepttime",
    "task_preprocess_start": "preprocessstarttime",
    "task_preprocess_end": "preprocessendtime",
    "task_assign": "assigntime",
    "task_start": "starttime",
    "task_end": "endtime",
    "task_postprocess_start": "postprocessstarttime",
    "task_postprocess_end": "postprocessendtime",
    "task_cancel": "canceltime",
}


class _Outputs:
    """Marker: the step's message is the task's outputs array, known only when applied."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "OUTPUTS"


OUTPUTS: Final = _Outputs()


@dataclass(frozen=True, slots=True)
class Step:
    """One frame of a task's life: its type, when it comes, what it says."""

    type: str
    delay: float
    """Real-world seconds after the previous step (scaled by the clock)."""
    message: object = None
    gate: Gate | None = None
    """Background work that must be done before this step can happen."""


# Real-world durations in seconds [A]: a real Hailuo 2.3 Fast video takes about
# a minute end to end. Edit these tables, not the code, to change the timing.
INTAKE: Final = (
    Step("task_accept", 1.0),
    Step("task_preprocess_start", 0.5),
    Step("task_preprocess_end", 1.5, gate="validated"),  # downloads and checks the image
)
# Time spent generating, by (resolution, duration) [A].
GENERATION_SECONDS: Final = {("768P", "6"): 40.0, ("768P", "10"): 65.0, ("1080P", "6"): 70.0}
PROGRESS_STEPS: Final = 10  # task_output progress frames per video [A]
SUCCESS_TAIL: Final = (
    Step("task_output_full", 0.5),
    Step("task_end", 0.2),
    Step("task_postprocess_start", 0.3),
    Step("task_postprocess_end", 2.0, message=OUTPUTS, gate="rendered"),  # uploads the video
)
FAILURE_TAIL: Final = (
    Step("task_output_full", 0.2),
    Step("task_error_full", 0.1),
    Step("task_end", 0.2),
    Step("task_postprocess_start", 0.3),
    Step("task_postprocess_end", 0.5, message=OUTPUTS),
)
_ASSIGN_AND_START: Final = (Step("task_assign", 2.0), Step("task_start", 3.0))


def _clock_text(seconds: float) -> str:
    return f"{round(seconds)}s"


def _progress(step: int, total: int, seconds_per_step: float) -> dict[str, str]:
    """The progressGenerate object of ``task_output`` [docs], all values strings."""
    elapsed = step * seconds_per_step
    return {
        "type": "progressGenerate",
        "task": "Generate",
        "percentage": str(round(100 * step / total)),
        "stepCurrent": str(step),
        "stepTotal": str(total),
        "speed": f"{1 / seconds_per_step:.2f}" if seconds_per_step > 0 else "0",
        "speedType": "it/s",
        "elapsedTime": _clock_text(elapsed),
        "remainingTime": _clock_text((total - step) * seconds_per_step),
    }


def _banner(resolution: str, duration: str) -> str:
    return f"MiniMax-Hailuo-2.3-Fast: generating a {duration}s {resolution} video"


def success_plan(resolution: str, duration: str) -> list[Step]:
    """Steps after preprocessing for a task that succeeds.

    The ``*_full`` frames' ``{"raw": ...}`` messages are filled when applied, from
    the lines the task printed before them.
    """
    generation = GENERATION_SECONDS[(resolution, duration)]
    per_step = generation / PROGRESS_STEPS
    banner = _banner(resolution, duration)
    steps = [*_ASSIGN_AND_START, Step("task_output", 0.5, message=banner)]
    for i in range(1, PROGRESS_STEPS + 1):
        steps.append(Step("task_output", per_step, message=_progress(i, PROGRESS_STEPS, per_step)))
    steps.append(Step("task_output", 0.1, message="Video generated; uploading output"))
    steps.extend(SUCCESS_TAIL)
    return steps


def failure_plan(resolution: str, duration: str, error: str) -> list[Step]:
    """Steps after preprocessing for a task that fails with ``error`` on stderr."""
    banner = _banner(resolution, duration)
    return [
        *_ASSIGN_AND_START,
        Step("task_output", 0.5, message=banner),
        Step("task_error", 1.0, message=error),
        *FAILURE_TAIL,
    ]


def fail_after(steps: Iterable[Step], stage: str, lines: Iterable[str]) -> list[Step]:
    """A scenario's failure: ``steps`` up to and including the first ``stage`` step
    (nothing for ``task_queue``, which is emitted by Run itself), then one
    ``task_error`` per stderr line, then the failure tail minus the stages already
    passed (``task_error_full`` always comes: it is what marks the failure)."""
    kept: list[Step] = []
    if stage != "task_queue":
        for step in steps:
            kept.append(step)
            if step.type == stage:
                break
        else:
            raise ValueError(f"stage {stage!r} is not in the plan")
    errors = [
        Step("task_error", 1.0 if i == 0 else 0.1, message=line) for i, line in enumerate(lines)
    ]
    seen = {s.type for s in kept}
    tail = [s for s in FAILURE_TAIL if s.type not in seen or s.type == "task_error_full"]
    if kept and kept[-1].type == "task_output_full":
        # task_error lines are interim output: they come before the whole log [docs]
        return [*kept[:-1], *errors, kept[-1], *tail]
    return [*kept, *errors, *tail]


def with_timings(steps: Iterable[Step], timings: Mapping[str, float]) -> list[Step]:
    """``steps`` with the delay of every step of a type in ``timings`` replaced (real-world
    seconds after the previous step, scaled by the clock like the table's)."""
    return [replace(s, delay=float(timings[s.type])) if s.type in timings else s for s in steps]


class Plan(NamedTuple):
    """A task's whole plan, split where the image check decides the rest, and the
    failure it ends with (None: it succeeds)."""

    intake: list[Step]
    """The steps up to the image check (:data:`INTAKE`, or an early failure's start)."""
    tail: list[Step]
    """Every step after those."""
    failure: str | None
    """The debugerror of a failure."""
    failure_pexit: str | None
    """A chosen pexit for the failure (None: the backend's)."""


def build_plan(
    resolution: str,
    duration: str,
    *,
    error: str | None = None,
    fail_stage: str | None = None,
    fail_lines: Iterable[str] = (),
    fail_message: str = "",
    fail_pexit: str | None = None,
    timings: Mapping[str, float] | None = None,
) -> Plan:
    """The one place a task's plan is assembled: :data:`INTAKE`, then the steps of a
    success, of a failure with ``error`` on stderr (a bad image: it wins), or of a
    scenario's failure after ``fail_stage`` (with ``fail_lines``); every delay of a
    type in ``timings`` replaced."""
    failure, pexit = None, None
    if error is not None:
        steps = [*INTAKE, *failure_plan(resolution, duration, error)]
        failure = error
    elif fail_stage is not None:
        steps = fail_after([*INTAKE, *success_plan(resolution, duration)], fail_stage, fail_lines)
        failure, pexit = fail_message, fail_pexit
    else:
        steps = [*INTAKE, *success_plan(resolution, duration)]
    steps = with_timings(steps, timings or {})
    return Plan(steps[: len(INTAKE)], steps[len(INTAKE) :], failure, pexit)
