"""Which rules a run judged: the ``rule`` markers checked at collection, each test's
outcome, and the end-of-run count ("wiro rules").

A rule is **judged** on this target when at least one test naming it ran and passed or
failed (an expected failure of a ``fake_gap`` test counts: it ran). A test skipped (a
``mock_only`` test on a real target, spending not allowed, a project not configured), or
skipped or xfailed with a reason starting ``not judged`` (a race that missed its state),
did not judge its rules; the summary lists every rule no test judged, with the reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .rules import BY_ID, NOT_JUDGED, RULES


def rules_of(markers: Iterable[Any]) -> list[str]:
    """The rule ids named by ``rule`` markers (``pytest.Mark``), in order, once each."""
    ids: list[str] = []
    for mark in markers:
        for rule in mark.args:
            if rule not in ids:
                ids.append(rule)
    return ids


def marker_problems(nodeid: str, ids: Sequence[Any]) -> list[str]:
    """What is wrong with a test's ``rule`` markers: none, or an unknown id."""
    if not ids:
        return [f"{nodeid}: no @pytest.mark.rule(...): name the rules it judges (rules.py)"]
    return [
        f"{nodeid}: unknown rule {rule!r} (contract_tests/rules.py)"
        for rule in ids
        if not isinstance(rule, str) or rule not in BY_ID
    ]


@dataclass
class Outcome:
    """One test's outcome, over its setup, call and teardown."""

    ran: bool = False
    failed: bool = False
    skipped: str | None = None
    """Why it did not judge its rules (a skip, or a "not judged" xfail)."""

    @property
    def judged(self) -> bool:
        """Whether the test judged its rules: it ran (pass or fail), or failed anywhere."""
        return self.failed or (self.ran and self.skipped is None)


def skip_reason(longrepr: Any) -> str:
    """A skip report's reason (``longrepr`` is ``(path, line, "Skipped: why")``)."""
    text = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else ""
    text = text or str(longrepr)
    return text.removeprefix("Skipped: ").strip()


def note_report(outcome: Outcome, report: Any) -> None:
    """Fold one ``TestReport`` (setup, call or teardown) into ``outcome``."""
    if report.failed:
        outcome.failed = True
        return
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:  # an xfail: it ran, unless it says it could not judge
        reason = str(wasxfail).removeprefix("reason: ").strip()
        outcome.ran = True
        if reason.startswith(NOT_JUDGED):
            outcome.skipped = reason
        return
    if report.skipped:
        outcome.skipped = skip_reason(report.longrepr)
    elif report.when == "call" and report.passed:
        outcome.ran = True


@dataclass
class Judged:
    """The run's account of the registry."""

    judged: list[str] = field(default_factory=list)
    failing: list[str] = field(default_factory=list)
    not_judged: dict[str, list[str]] = field(default_factory=dict)
    """rule id -> the distinct reasons, each with how many tests gave it."""

    def lines(self, target: str) -> list[str]:
        """The summary's lines."""
        total = len(self.judged) + len(self.not_judged)
        out = [
            f"judged {len(self.judged)} of {total} rules on this target ({target}); "
            f"{len(self.failing)} with a failing test"
        ]
        if self.failing:
            out.append("failing: " + ", ".join(self.failing))
        if self.not_judged:
            out.append(f"not judged ({len(self.not_judged)}):")
            out += [f"  {rule}: {'; '.join(why)}" for rule, why in self.not_judged.items()]
        return out


def judge(selected: Mapping[str, Sequence[str]], outcomes: Mapping[str, Outcome]) -> Judged:
    """Every rule of the registry: judged (by which outcome) or not (why).

    ``selected`` maps each collected contract test to its rules; ``outcomes`` holds what
    happened to the tests that were run."""
    tests_of: dict[str, list[str]] = {rule.id: [] for rule in RULES}
    for nodeid, ids in selected.items():
        for rule_id in ids:
            tests_of.setdefault(rule_id, []).append(nodeid)
    result = Judged()
    for rule in RULES:
        tests = tests_of[rule.id]
        done = [outcomes[t] for t in tests if t in outcomes]
        if any(o.judged for o in done):
            result.judged.append(rule.id)
            if any(o.failed for o in done):
                result.failing.append(rule.id)
            continue
        reasons: dict[str, int] = {}
        for outcome in done:
            why = outcome.skipped or "did not run"
            reasons[why] = reasons.get(why, 0) + 1
        if not tests:
            why = f"no test yet ({rule.untested})" if rule.untested else "no test selected"
            reasons = {why: 0}
        elif not done:
            reasons = {"none of its tests ran (deselected or interrupted)": len(tests)}
        result.not_judged[rule.id] = [
            f"{why} ({count} test{'s' * (count != 1)})" if count else why
            for why, count in reasons.items()
        ]
    return result
