"""The one rule store behind scenarios, HTTP faults and push faults.

A :class:`RuleBook` keeps rules in the order they were added, each with its
:class:`Countdown` (what is left of its ``times``, how often it matched and fired),
thread-safe. The three books (:class:`~mock_wiro.chaos.http_faults.FaultSet`,
:class:`~mock_wiro.chaos.push_faults.PushFaultBook`,
:class:`~mock_wiro.chaos.scenarios.ScenarioBook`) are built on it and add only what
their kind of rule needs (parsing, drawing, holding).

Interface::

    book = RuleBook("f")             # ids f1, f2, ... never repeat (not even after clear)
    book.next_id()                   # the next id
    book.add(rule)                   # tried after the others (replacing one with its id)
    book.rules() / book.get(id)      # in order / by id
    book.remove(id) -> bool          # forget one
    book.clear()                     # forget every one
    book.countdown(rule)             # its Countdown (remaining, matched, hits, active)
    book.spend(rule)                 # one of its times used (under the book's lock)
    book.explain(check)              # every rule with (matched, reason): see below

Matching says why: a rule's matcher returns ``(True, "")`` or ``(False, reason)``
(:data:`Verdict`), so a miss can be explained, rule by rule, the way the
``responses`` library lists the candidates of a request nothing matched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "Countdown",
    "Counted",
    "Rule",
    "RuleBook",
    "Verdict",
    "first_match",
    "miss_report",
]

Verdict = tuple[bool, str]
"""What a matcher answers: ``(True, "")``, or ``(False, why it did not match)``."""

USED_UP = "used up: its 'times' are spent"


class Rule(Protocol):
    """What a book keeps: an id and an optional number of times."""

    @property
    def id(self) -> str: ...

    @property
    def times(self) -> int | None: ...


R = TypeVar("R", bound=Rule)


@dataclass
class Countdown:
    """How much of a rule is left: ``remaining`` (None: unlimited), ``matched`` (requests
    it was tried on and matched), ``hits`` (times it fired)."""

    remaining: int | None = None
    matched: int = 0
    hits: int = 0

    @property
    def active(self) -> bool:
        """False once a counted rule is used up."""
        return self.remaining is None or self.remaining > 0

    def spend(self) -> None:
        """One firing: a hit, and one fewer remaining."""
        if self.remaining is not None:
            self.remaining -= 1
        self.hits += 1


class Counted:
    """What a rule that carries its own :class:`Countdown` (``self.countdown``) reports."""

    countdown: Countdown

    @property
    def matched(self) -> int:
        """Requests it was tried on and matched."""
        return self.countdown.matched

    @property
    def hits(self) -> int:
        """Times it fired."""
        return self.countdown.hits

    @property
    def active(self) -> bool:
        """False once a counted rule is used up."""
        return self.countdown.active


@dataclass
class _Slot(Generic[R]):
    rule: R
    countdown: Countdown = field(default_factory=Countdown)


class RuleBook(Generic[R]):
    """Rules in order with their countdowns; every method is thread-safe."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._lock = threading.RLock()
        self._slots: list[_Slot[R]] = []
        self._next = 1

    # ------------------------------------------------------------ storing
    def next_id(self) -> str:
        """A fresh id: ``<prefix><n>``."""
        with self._lock:
            found = f"{self._prefix}{self._next}"
            self._next += 1
            return found

    def add(self, rule: R, countdown: Countdown | None = None) -> R:
        """Add a rule, tried after the others; one with the same id is replaced."""
        with self._lock:
            self._drop(rule.id)
            self._slots.append(_Slot(rule, countdown or Countdown(rule.times)))
            return rule

    def rules(self) -> list[R]:
        """Every rule, in the order they are tried (used-up ones too)."""
        with self._lock:
            return [s.rule for s in self._slots]

    def empty(self) -> bool:
        """Whether the book holds no rule at all (used-up ones count): one read, no lock,
        for a hot path that skips its matching when there is nothing to match."""
        return not self._slots

    def items(self) -> list[tuple[R, Countdown]]:
        """Every rule with its countdown."""
        with self._lock:
            return [(s.rule, s.countdown) for s in self._slots]

    def get(self, rule_id: str) -> R | None:
        """A rule by id."""
        with self._lock:
            slot = self._slot(rule_id)
            return None if slot is None else slot.rule

    def countdown(self, rule: R) -> Countdown:
        """The rule's countdown (a fresh one if the book no longer has it)."""
        with self._lock:
            slot = self._slot(rule.id)
            return slot.countdown if slot is not None and slot.rule is rule else Countdown()

    def __contains__(self, rule: object) -> bool:
        with self._lock:
            return any(s.rule is rule for s in self._slots)

    def remove(self, rule_id: str) -> bool:
        """Forget one rule; False if there was none."""
        with self._lock:
            return self._drop(rule_id)

    def clear(self) -> None:
        """Forget every rule (ids go on counting)."""
        with self._lock:
            for slot in self._slots:
                self._forget(slot.rule)
            self._slots.clear()

    def _forget(self, rule: R) -> None:
        """Called under the lock for each rule removed: a subclass releases what it holds."""

    def _slot(self, rule_id: str) -> _Slot[R] | None:
        return next((s for s in self._slots if s.rule.id == rule_id), None)

    def _drop(self, rule_id: str) -> bool:
        slot = self._slot(rule_id)
        if slot is None:
            return False
        self._slots.remove(slot)
        self._forget(slot.rule)
        return True

    # ------------------------------------------------------------ matching
    def active(self) -> Iterator[tuple[R, Countdown]]:
        """The rules not used up, in order; hold :attr:`lock` while iterating."""
        return ((s.rule, s.countdown) for s in list(self._slots) if s.countdown.active)

    @property
    def lock(self) -> threading.RLock:
        """The book's lock: hold it to match and :meth:`spend` atomically."""
        return self._lock

    def spend(self, rule: R) -> None:
        """One of the rule's times used (call it holding :attr:`lock`)."""
        with self._lock:
            self.countdown(rule).spend()

    def explain(self, check: Callable[[R], Verdict]) -> list[dict[str, Any]]:
        """Every rule with whether ``check`` matches it and, if not, why (a used-up
        rule: :data:`USED_UP`). Counts nothing."""
        with self._lock:
            found = []
            for slot in self._slots:
                if not slot.countdown.active:
                    matched, reason = False, USED_UP
                else:
                    matched, reason = check(slot.rule)
                found.append({"id": slot.rule.id, "matched": matched, "reason": reason})
            return found


def miss_report(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The candidates of a miss, for a journal entry: each rule's id and reason."""
    return [{"id": c["id"], "reason": c["reason"]} for c in candidates]


def first_match(candidates: list[dict[str, Any]]) -> str | None:
    """The id of the first candidate that matched: the one that would apply."""
    return next((c["id"] for c in candidates if c["matched"]), None)
