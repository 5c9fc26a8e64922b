"""Billing and money rules, judged on every task the suite observes [docs][seed].

- Only successful tasks are billed [docs]: a success (``task_postprocess_end``, ``pexit``
  "0") has ``totalcost`` > 0, and ``cps`` * ``elapsedseconds`` is ``totalcost`` within the
  rounding of the three strings (the seed's 0.000585000000 * 6.0000 = 0.003510000000).
- A cancelled or killed task (``task_cancel``) and a failed one (``task_postprocess_end``,
  ``pexit`` not "0") cost zero: ``totalcost`` "0" (any decimal string of value zero).
- A task's money fields never change once it is terminal.

:class:`Ledger` applies them to every ``tasklist`` entry of every Task/Detail and Task/List
answer the suite reads (``Api.on_tasks``), for the tasks this session created: the first
time it sees a task terminal it judges it and re-reads Task/Detail to compare, and every
later read of the task is compared with that first one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from .contract import TERMINAL

if TYPE_CHECKING:
    from .wire import Api

MONEY_FIELDS: Final = ("totalcost", "cps")
"""What a task is billed: fixed once it is terminal."""


def _decimal(task: dict[str, Any], key: str) -> tuple[Decimal | None, Decimal]:
    """The field's value and half a unit of its last written digit (its rounding);
    (None, 0) when it is not a decimal number written as a string."""
    value = task.get(key)
    if not isinstance(value, str):
        return None, Decimal(0)
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None, Decimal(0)
    if not number.is_finite():
        return None, Decimal(0)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    return number, Decimal(10) ** min(exponent, 0) / 2


def outcome(task: dict[str, Any]) -> str | None:
    """``success``, ``failure`` or ``cancel`` for a terminal task; None before that."""
    status = task.get("status")
    if status not in TERMINAL:
        return None
    if status == "task_cancel":
        return "cancel"
    return "success" if task.get("pexit") == "0" else "failure"


def money_problems(task: dict[str, Any]) -> list[str]:
    """What a terminal task's money fields break (nothing for a task still running)."""
    ending = outcome(task)
    if ending is None:
        return []
    where = f"task {task.get('id')} ({ending}, {task.get('status')}, pexit {task.get('pexit')!r})"
    total, total_half = _decimal(task, "totalcost")
    if total is None:
        return [f"{where}: totalcost {task.get('totalcost')!r} is not a decimal string"]
    if ending != "success":
        if total != 0:
            return [f"{where}: totalcost {task['totalcost']!r}; only success is billed [docs]"]
        return []
    if total <= 0:
        return [f"{where}: totalcost {task['totalcost']!r}; a success is billed [docs]"]
    cps, cps_half = _decimal(task, "cps")
    elapsed, elapsed_half = _decimal(task, "elapsedseconds")
    if cps is None or elapsed is None:
        return [
            f"{where}: cps {task.get('cps')!r} / elapsedseconds {task.get('elapsedseconds')!r}"
            " are not decimal strings"
        ]
    # each string is rounded to its last digit: bound the product's error by that
    slack = abs(cps) * elapsed_half + abs(elapsed) * cps_half + cps_half * elapsed_half
    if abs(cps * elapsed - total) > slack + total_half:
        return [
            f"{where}: cps {task['cps']} x elapsedseconds {task['elapsedseconds']} = "
            f"{cps * elapsed}, totalcost {task['totalcost']} (allowed rounding "
            f"{slack + total_half}) [seed]"
        ]
    return []


def money_of(task: dict[str, Any]) -> dict[str, Any]:
    """The task's money fields as they were sent."""
    return {key: task.get(key) for key in MONEY_FIELDS}


def assert_money(task: dict[str, Any]) -> None:
    """Fail on a terminal task whose money fields break the rules above."""
    problems = money_problems(task)
    assert not problems, "billing: " + "; ".join(problems)


class Ledger:
    """The money fields of every task of the session at the first time it was seen
    terminal; judges each terminal sighting (see the module's docstring). Each kind of
    problem (the rules, a change) is reported once per task, by the first read that
    shows it, so one drift does not fail every later test that reads the same task."""

    def __init__(self) -> None:
        self.owned: set[str] = set()
        self.first: dict[str, dict[str, Any]] = {}
        self.reported: set[tuple[str, str]] = set()
        self._quiet = False
        self._lock = threading.Lock()

    def own(self, taskid: str) -> None:
        """A task this session created: its money is judged whenever it is seen."""
        with self._lock:
            self.owned.add(taskid)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Judge nothing now, so the next read judges (the shared task's fixture: a money
        problem fails the tests that read the task, not the fixture, which would make
        every later test spend a new task)."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def _fail(self, taskid: str, kind: str, message: str) -> None:
        with self._lock:
            if self._quiet or (taskid, kind) in self.reported:
                return
            self.reported.add((taskid, kind))
        raise AssertionError(message)

    def saw(self, api: Api, tasks: list[dict[str, Any]]) -> None:
        """Judge every terminal task of the session in a ``tasklist`` just read."""
        for task in tasks:
            taskid = str(task.get("id"))
            if taskid not in self.owned or outcome(task) is None:
                continue
            with self._lock:
                new = taskid not in self.first
                before = self.first.setdefault(taskid, money_of(task))
            now = money_of(task)
            if now != before:
                self._fail(
                    taskid,
                    "changed",
                    f"billing: task {taskid}'s money changed after it was terminal: "
                    f"{before} -> {now}",
                )
            if problems := money_problems(task):
                self._fail(taskid, "rules", "billing: " + "; ".join(problems))
            if new:
                api.detail(taskid)  # re-read at once: compared above, by the nested call
