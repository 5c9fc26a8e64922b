"""Scenarios: declarative edge cases, matched when a task is Run.

A :class:`Scenario` is plain data (JSON in, JSON out): *matchers* say which Run
calls it applies to, *behaviours* what happens to the tasks they create. All
matchers given must match; a scenario without any matches every Run. The first
matching scenario (in the order they were added) wins, and its ``times``
(when given) counts down: at 0 it matches no more.

Matchers: ``times`` (the next N matching runs), ``project`` (API key or
project id), ``header`` (``{"X-Name": "value"}`` or ``"X-Name=value"``; names
are case-insensitive, values exact), ``prompt_contains`` (a marker in the
prompt, e.g. ``"[[fail:preprocess]]"``, so a black-box client can trigger it).

Behaviours: ``fail_at`` a stage (with ``pexit``, ``debugerror``, ``stderr``),
``moderation``, ``hold_at`` a stage / ``stay_queued``, ``timings``,
``kill_refused`` (a reason), ``cancel_refused``, ``outputs`` (``missing``,
``empty``, ``download_404``, ``truncated``).

Nothing here knows about HTTP or the backend's threads.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

from ..engine.journal import Journal
from ..engine.lifecycle import EARLY_FAIL_STAGES, HOLDABLE_STAGES, LIFECYCLE, TERMINAL_STATUSES
from . import spec as check
from .rules import RuleBook, Verdict, miss_report
from .spec import SpecError

__all__ = [
    "EARLY_FAIL_STAGES",
    "FAILABLE_STAGES",
    "HOLDABLE_STAGES",
    "MODERATION_MESSAGE",
    "MODERATION_PEXIT",
    "MODERATION_STAGE",
    "OUTPUT_FAULTS",
    "OutputFault",
    "Scenario",
    "ScenarioBook",
]

OutputFault = Literal["missing", "empty", "download_404", "truncated"]
OUTPUT_FAULTS: Final = ("missing", "empty", "download_404", "truncated")

# A content-moderation style failure [A]: Wiro's real wording is undocumented.
MODERATION_STAGE: Final = "task_start"
MODERATION_PEXIT: Final = "1"
MODERATION_MESSAGE: Final = "Input rejected by content moderation (sensitive content)."

# A task can fail right after any of these (the terminal ones, and the failure-only
# frames, make no sense as a point of failure).
FAILABLE_STAGES: Final = tuple(
    stage
    for stage in LIFECYCLE[: LIFECYCLE.index("task_end")]  # stderr frames come before task_end
    if stage not in TERMINAL_STATUSES and stage not in ("task_error", "task_error_full")
)

_FIELDS: Final = (
    "id",
    "times",
    "project",
    "header",
    "prompt_contains",
    "fail_at",
    "pexit",
    "debugerror",
    "stderr",
    "moderation",
    "hold_at",
    "stay_queued",
    "timings",
    "kill_refused",
    "cancel_refused",
    "outputs",
)


def _what(name: str) -> str:
    return check.field(name, "scenario")


def _opt_str(data: Mapping[str, Any], name: str) -> str | None:
    return check.optional_string(data.get(name), _what(name))


def _bool(data: Mapping[str, Any], name: str) -> bool:
    return check.flag(data.get(name, False), _what(name))


def _stage(value: str | None, allowed: tuple[str, ...], name: str) -> str | None:
    return check.stage(value, _what(name), allowed)


def _headers(value: object) -> tuple[tuple[str, str], ...]:
    return check.headers(value, _what("header"))


def _timings(value: object) -> tuple[tuple[str, float], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise SpecError(f"scenario 'timings' must be an object of stage: seconds; got {value!r}")
    out = []
    for stage, seconds in value.items():
        if stage not in LIFECYCLE or stage in ("task_queue", "task_cancel"):
            raise SpecError(f"scenario 'timings': {stage!r} is not a timed lifecycle stage")
        if isinstance(seconds, bool):
            raise SpecError(f"scenario 'timings'[{stage!r}] must be a number; got {seconds!r}")
        try:
            number = float(seconds)
        except (TypeError, ValueError):
            raise SpecError(
                f"scenario 'timings'[{stage!r}] must be a number; got {seconds!r}"
            ) from None
        if not (math.isfinite(number) and number >= 0):
            raise SpecError(f"scenario 'timings'[{stage!r}] must be a finite number >= 0")
        out.append((stage, number))
    return tuple(out)


def _times(times: object) -> int | None:
    if times is not None and (isinstance(times, bool) or not isinstance(times, int)):
        raise SpecError(f"scenario 'times' must be an integer; got {times!r}")
    if times is not None and times < 1:
        raise SpecError(f"scenario 'times' must be at least 1; got {times!r}")
    return times


def _pexit(pexit: object) -> str:
    """A non-zero exit code, as a string (an integer is accepted), stripped."""
    if isinstance(pexit, int) and not isinstance(pexit, bool):
        pexit = str(pexit)
    if not isinstance(pexit, str) or not pexit.strip() or pexit.strip() == "0":
        raise SpecError(f"scenario 'pexit' must be a non-zero exit code; got {pexit!r}")
    return pexit.strip()


def _stderr(stderr: object) -> tuple[str, ...]:
    """A list of lines, or one string split into lines."""
    if isinstance(stderr, str):
        stderr = stderr.splitlines()
    if not isinstance(stderr, list | tuple) or not all(isinstance(s, str) for s in stderr):
        raise SpecError(f"scenario 'stderr' must be a list of strings; got {stderr!r}")
    return tuple(stderr)


def _outputs(outputs: str | None) -> OutputFault | None:
    if outputs is not None and outputs not in OUTPUT_FAULTS:
        raise SpecError(
            f"scenario 'outputs' must be one of {', '.join(OUTPUT_FAULTS)}; got {outputs!r}"
        )
    return cast("OutputFault | None", outputs)


def _kill_refused(kill_refused: object) -> str | None:
    """A reason; ``true`` gives the default one, ``false`` none."""
    if kill_refused is True:
        kill_refused = "the task is being processed"
    if kill_refused is False:
        kill_refused = None
    if kill_refused is not None and not isinstance(kill_refused, str):
        raise SpecError(f"scenario 'kill_refused' must be a reason (string); got {kill_refused!r}")
    return kill_refused


@dataclass(frozen=True)
class Scenario:
    """One scenario: matchers and behaviours. Build from JSON with :meth:`from_json`."""

    id: str = ""
    # ---- matchers
    times: int | None = None
    """Match only this many runs (None: every matching run)."""
    project: str | None = None
    """A project's API key or id."""
    header: tuple[tuple[str, str], ...] = ()
    """Request headers (lower-cased name, exact value) that must all be present."""
    prompt_contains: str | None = None
    # ---- behaviours
    fail_at: str | None = None
    """Fail right after this stage (``task_preprocess_start``: in preprocessing)."""
    pexit: str = "1"
    debugerror: str | None = None
    """The last stderr line (default: a message naming the scenario and stage)."""
    stderr: tuple[str, ...] = ()
    """stderr lines before ``debugerror``, each a ``task_error`` frame."""
    moderation: bool = False
    """A content-moderation failure at task_start [A]."""
    hold_at: str | None = None
    """Stop just before this stage until released."""
    stay_queued: bool = False
    """Hold before task_accept."""
    timings: tuple[tuple[str, float], ...] = ()
    """Stage delays (real-world seconds, scaled by the clock), replacing the table's."""
    kill_refused: str | None = None
    """Task/Kill answers ``Task could not be killed: <reason>``."""
    cancel_refused: bool = False
    outputs: OutputFault | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], default_id: str = "") -> Scenario:
        """Validate a JSON object (ValueError naming the bad field)."""
        if not isinstance(data, Mapping):
            raise SpecError("a scenario must be a JSON object")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise SpecError(
                f"unknown scenario field(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(_FIELDS)}"
            )
        # checked in this order, before the fields the constructor call reads
        times = _times(data.get("times"))
        pexit = _pexit(data.get("pexit", "1"))
        stderr = _stderr(data.get("stderr", ()))
        outputs = _outputs(_opt_str(data, "outputs"))
        kill_refused = _kill_refused(data.get("kill_refused"))
        scenario = cls(
            id=_opt_str(data, "id") or default_id,
            times=times,
            project=_opt_str(data, "project"),
            header=_headers(data.get("header")),
            prompt_contains=_opt_str(data, "prompt_contains"),
            fail_at=_stage(_opt_str(data, "fail_at"), FAILABLE_STAGES, "fail_at"),
            pexit=pexit,
            debugerror=_opt_str(data, "debugerror"),
            stderr=stderr,
            moderation=_bool(data, "moderation"),
            hold_at=_stage(_opt_str(data, "hold_at"), HOLDABLE_STAGES, "hold_at"),
            stay_queued=_bool(data, "stay_queued"),
            timings=_timings(data.get("timings")),
            kill_refused=kill_refused,
            cancel_refused=_bool(data, "cancel_refused"),
            outputs=outputs,
        )
        if scenario.moderation and scenario.fail_at is not None:
            raise SpecError("a scenario has 'moderation' or 'fail_at', not both")
        if scenario.stay_queued and scenario.hold_at not in (None, "task_accept"):
            raise SpecError("a scenario has 'stay_queued' or 'hold_at', not both")
        return scenario

    # ---- what a task does under it
    @property
    def fail_stage(self) -> str | None:
        """The stage after which the task fails, if it does."""
        return MODERATION_STAGE if self.moderation else self.fail_at

    @property
    def fail_pexit(self) -> str:
        """The failed task's pexit."""
        return MODERATION_PEXIT if self.moderation else self.pexit

    @property
    def fail_message(self) -> str:
        """The failed task's last stderr line (its debugerror's end)."""
        if self.debugerror is not None:
            return self.debugerror
        if self.moderation:
            return MODERATION_MESSAGE
        return f"mock-wiro scenario {self.id}: the task failed at {self.fail_at}"

    @property
    def fail_lines(self) -> list[str]:
        """Every stderr line of the failure, in order (one ``task_error`` frame each)."""
        lines = list(self.stderr)
        if self.fail_message and (not lines or lines[-1] != self.fail_message):
            lines.append(self.fail_message)
        return lines

    @property
    def hold_stage(self) -> str | None:
        """The stage the task stops before, if any."""
        return "task_accept" if self.stay_queued else self.hold_at

    def timing_map(self) -> dict[str, float]:
        """``timings`` as a dict."""
        return dict(self.timings)

    def matches(
        self, project_key: str, project_id: str, prompt: str, headers: Mapping[str, str]
    ) -> bool:
        """Whether a Run with these properties matches (``headers``: lower-cased names)."""
        return self.verdict(project_key, project_id, prompt, headers)[0]

    def verdict(
        self, project_key: str, project_id: str, prompt: str, headers: Mapping[str, str]
    ) -> Verdict:
        """``(True, "")`` if a Run with these properties matches, else ``(False, the
        first matcher that failed)`` (``headers``: lower-cased names)."""
        if self.project is not None and self.project not in (project_key, project_id):
            return False, f"project is {project_key!r} (id {project_id!r}), not {self.project!r}"
        if self.prompt_contains is not None and self.prompt_contains not in prompt:
            return False, f"the prompt does not contain {self.prompt_contains!r}"
        for name, wanted in self.header:
            given = headers.get(name)
            if given is None:
                return False, f"no {name!r} header (wanted {wanted!r})"
            if given != wanted:
                return False, f"header {name!r} is {given[:80]!r}, not {wanted!r}"
        return True, ""

    def behaviour(self) -> dict[str, Any]:
        """The behaviour fields that are set, as JSON."""
        out: dict[str, Any] = {}
        if self.fail_stage is not None:
            out |= {
                "fail_at": self.fail_stage,
                "pexit": self.fail_pexit,
                "debugerror": self.fail_message,
                "stderr": list(self.stderr),
            }
        if self.moderation:
            out["moderation"] = True
        if self.hold_stage is not None:
            out["hold_at"] = self.hold_stage
        if self.stay_queued:
            out["stay_queued"] = True
        if self.timings:
            out["timings"] = self.timing_map()
        if self.kill_refused is not None:
            out["kill_refused"] = self.kill_refused
        if self.cancel_refused:
            out["cancel_refused"] = True
        if self.outputs is not None:
            out["outputs"] = self.outputs
        return out

    def to_json(self) -> dict[str, Any]:
        """The scenario as JSON (what :meth:`from_json` reads back)."""
        out: dict[str, Any] = {"id": self.id, "times": self.times}
        if self.project is not None:
            out["project"] = self.project
        if self.header:
            out["header"] = dict(self.header)
        if self.prompt_contains is not None:
            out["prompt_contains"] = self.prompt_contains
        given = {
            "fail_at": self.fail_at,
            "pexit": self.pexit if self.fail_at is not None else None,
            "debugerror": self.debugerror,
            "stderr": list(self.stderr) or None,
            "moderation": self.moderation or None,
            "hold_at": self.hold_at,
            "stay_queued": self.stay_queued or None,
            "timings": self.timing_map() or None,
            "kill_refused": self.kill_refused,
            "cancel_refused": self.cancel_refused or None,
            "outputs": self.outputs,
        }
        return out | {k: v for k, v in given.items() if v is not None}


class ScenarioBook(RuleBook[Scenario]):
    """The scenarios of one fake, in order, with what is left of each one's ``times``.

    With a ``journal``, a Run that matches none of the armed scenarios is an
    ``unmatched`` entry (``rules: "scenarios"``) listing each one and why it missed."""

    def __init__(self, journal: Journal | None = None) -> None:
        super().__init__("scenario-")
        self.journal = journal

    def add(self, scenario: Scenario | Mapping[str, Any]) -> Scenario:  # type: ignore[override]
        """Add a scenario (a :class:`Scenario` or its JSON); an id is given if it has none.
        An existing scenario with the same id is replaced."""
        with self.lock:
            default_id = self.next_id()
            if not isinstance(scenario, Scenario):
                scenario = Scenario.from_json(scenario, default_id)
            elif not scenario.id:
                scenario = dataclasses.replace(scenario, id=default_id)
            return super().add(scenario)

    def items(self) -> list[tuple[Scenario, int | None]]:  # type: ignore[override]
        """Every scenario with its remaining count (None: unlimited)."""
        return [(s, countdown.remaining) for s, countdown in super().items()]

    def explain_run(
        self, project_key: str, project_id: str, prompt: str, headers: Mapping[str, str]
    ) -> list[dict[str, Any]]:
        """Every scenario with whether this Run would match it and why not (counts
        nothing). Only the first match would apply."""
        lowered = check.lowered(headers)
        return self.explain(lambda s: s.verdict(project_key, project_id, prompt, lowered))

    def match(
        self, project_key: str, project_id: str, prompt: str, headers: Mapping[str, str]
    ) -> Scenario | None:
        """The first scenario matching this Run, counting its ``times`` down."""
        lowered = check.lowered(headers)
        with self.lock:
            for scenario, countdown in self.active():
                if scenario.matches(project_key, project_id, prompt, lowered):
                    countdown.spend()
                    return scenario
            if self.journal is not None and self.rules():
                candidates = self.explain_run(project_key, project_id, prompt, lowered)
                self.journal.record(
                    "unmatched",
                    rules="scenarios",
                    project=project_key,
                    prompt=prompt[:200],
                    candidates=miss_report(candidates),
                )
            return None

    def to_json(self) -> list[dict[str, Any]]:
        """Every scenario as JSON, with ``remaining``."""
        return [s.to_json() | {"remaining": left} for s, left in self.items()]
