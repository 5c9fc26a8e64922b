"""What the engine reads of a matched scenario: the :class:`Directives` protocol, and
where it looks them up (:class:`DirectiveSource`).

:class:`mock_wiro.chaos.scenarios.Scenario` provides them; the engine never imports the
chaos rules (they are handed in).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["DirectiveSource", "Directives", "NoDirectives"]


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
