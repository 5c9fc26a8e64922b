"""What the engine reads of a matched scenario: the :class:`Directives` protocol, and
where it looks them up (:class:`DirectiveSource`).

:class:`mock_wiro.chaos.scenarios.Scenario` provides them; the engine never imports the
chaos rules (they are handed in).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["DirectiveSource", "Directives", "KeptDirectives", "NoDirectives"]


class Directives(Protocol):
    """What a matched scenario tells the engine to do with one task.

    The engine reads only these; :class:`mock_wiro.chaos.scenarios.Scenario` provides
    them (the engine never imports the chaos rules: they are handed in).
    """

    @property
    def id(self) -> str:
        """Names it in the journal."""

    @property
    def fail_stage(self) -> str | None:
        """The stage after which the task fails, if it does."""

    @property
    def fail_pexit(self) -> str:
        """The failed task's pexit."""

    @property
    def fail_message(self) -> str:
        """The failed task's debugerror (its last stderr line)."""

    @property
    def fail_lines(self) -> list[str]:
        """Every stderr line of the failure, in order."""

    @property
    def hold_stage(self) -> str | None:
        """The stage the task stops before, if any."""

    @property
    def outputs(self) -> str | None:
        """An output fault: ``missing``, ``empty``, ``download_404``, ``truncated``."""

    @property
    def cancel_refused(self) -> bool:
        """Task/Cancel is refused."""

    @property
    def kill_refused(self) -> str | None:
        """Task/Kill is refused, with this reason."""

    def timing_map(self) -> dict[str, float]:
        """Seconds per stage, overriding the lifecycle table's."""

    def behaviour(self) -> dict[str, Any]:
        """The behaviour, as JSON (for the journal)."""


class DirectiveSource(Protocol):
    """Where the engine looks up a Run's directives (the scenario book)."""

    def match(
        self, project_key: str, project_id: str, prompt: str, headers: Mapping[str, str]
    ) -> Directives | None:
        """The directives for this Run, if any (consuming one of a limited count)."""

    def clear(self) -> None:
        """Forget every directive (on reset)."""


class NoDirectives:
    """A :class:`DirectiveSource` that never matches (a backend with no scenarios)."""

    def match(
        self, project_key: str, project_id: str, prompt: str, headers: Mapping[str, str]
    ) -> Directives | None:
        """Nothing matches."""
        return None

    def clear(self) -> None:
        """Nothing to forget."""


@dataclass(frozen=True)
class KeptDirectives:
    """A matched scenario's directives as values: what a durable store keeps of a task's
    scenario and hands back after a restart (the scenario book itself may be gone)."""

    id: str
    fail_stage: str | None
    fail_pexit: str
    fail_message: str
    fail_lines: list[str]
    hold_stage: str | None
    outputs: str | None
    cancel_refused: bool
    kill_refused: str | None
    timings: dict[str, float] = field(default_factory=dict)
    behaviour_json: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, directives: Directives) -> KeptDirectives:
        """The values of ``directives``."""
        return cls(
            id=directives.id,
            fail_stage=directives.fail_stage,
            fail_pexit=directives.fail_pexit,
            fail_message=directives.fail_message,
            fail_lines=list(directives.fail_lines),
            hold_stage=directives.hold_stage,
            outputs=directives.outputs,
            cancel_refused=directives.cancel_refused,
            kill_refused=directives.kill_refused,
            timings=dict(directives.timing_map()),
            behaviour_json=dict(directives.behaviour()),
        )

    def to_json(self) -> dict[str, Any]:
        """The directives as JSON (:meth:`from_json` reads it back)."""
        return {
            "id": self.id,
            "fail_stage": self.fail_stage,
            "fail_pexit": self.fail_pexit,
            "fail_message": self.fail_message,
            "fail_lines": self.fail_lines,
            "hold_stage": self.hold_stage,
            "outputs": self.outputs,
            "cancel_refused": self.cancel_refused,
            "kill_refused": self.kill_refused,
            "timings": self.timings,
            "behaviour": self.behaviour_json,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> KeptDirectives:
        """Directives from :meth:`to_json`'s JSON."""
        return cls(
            id=str(data["id"]),
            fail_stage=data["fail_stage"],
            fail_pexit=str(data["fail_pexit"]),
            fail_message=str(data["fail_message"]),
            fail_lines=[str(line) for line in data["fail_lines"]],
            hold_stage=data["hold_stage"],
            outputs=data["outputs"],
            cancel_refused=bool(data["cancel_refused"]),
            kill_refused=data["kill_refused"],
            timings={str(k): float(v) for k, v in data["timings"].items()},
            behaviour_json=dict(data["behaviour"]),
        )

    def timing_map(self) -> dict[str, float]:
        """Seconds per stage, overriding the lifecycle table's."""
        return dict(self.timings)

    def behaviour(self) -> dict[str, Any]:
        """The behaviour, as JSON (for the journal)."""
        return dict(self.behaviour_json)
