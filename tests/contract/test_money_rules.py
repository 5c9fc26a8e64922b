"""The contract suite's billing judge (``contract_tests/money.py``) on hand-made tasks:
each rule it states must be able to fail."""

from __future__ import annotations

from typing import Any

import pytest

from contract_tests.contract import SEED_TASK
from contract_tests.money import Ledger, money_problems


def task(**fields: Any) -> dict[str, Any]:
    """The seed's finished task (0.000585000000 x 6.0000 = 0.003510000000) with changes."""
    return {**SEED_TASK, "status": "task_postprocess_end", **fields}


@pytest.mark.parametrize(
    "fields",
    [
        {},  # the seed itself
        {"cps": "0.031666666667", "elapsedseconds": "6.0000", "totalcost": "0.190000000000"},
        {"cps": "0.004598", "elapsedseconds": "41.3212", "totalcost": "0.19"},  # coarser strings
        {"pexit": "1", "totalcost": "0"},
        {"pexit": "1", "totalcost": "0.000000000000", "cps": "0.1"},
        {"status": "task_cancel", "pexit": "-9", "totalcost": "0"},
        {"status": "task_start", "totalcost": "0.5"},  # not terminal: nothing to judge yet
    ],
)
def test_allowed(fields: dict[str, Any]) -> None:
    assert money_problems(task(**fields)) == []


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"totalcost": "0"}, "a success is billed"),
        ({"cps": "0.000600000000"}, "cps"),
        ({"elapsedseconds": "6.1000"}, "cps"),
        ({"totalcost": 0.00351}, "not a decimal string"),
        ({"cps": "NaN"}, "not decimal strings"),
        ({"pexit": "1", "totalcost": "0.003510000000"}, "only success is billed"),
        ({"status": "task_cancel", "totalcost": "0.003510000000"}, "only success is billed"),
    ],
)
def test_refused(fields: dict[str, Any], says: str) -> None:
    problems = money_problems(task(**fields))
    assert len(problems) == 1 and says in problems[0], problems


class Reader:
    """An ``Api`` stand-in whose Task/Detail answers ``then``, through the ledger."""

    def __init__(self, ledger: Ledger, then: dict[str, Any]) -> None:
        self.ledger, self.then = ledger, then

    def detail(self, taskid: str) -> dict[str, Any]:
        self.ledger.saw(self, [self.then])  # type: ignore[arg-type]
        return self.then


def test_ledger_rereads_and_reports_a_change_once() -> None:
    ledger = Ledger()
    first = task(id="7")
    ledger.own("7")
    moved = task(id="7", totalcost="0.003600000000", cps="0.000600000000")
    with pytest.raises(AssertionError, match="changed after it was terminal"):
        ledger.saw(Reader(ledger, moved), [first])  # type: ignore[arg-type]
    ledger.saw(Reader(ledger, moved), [first])  # type: ignore[arg-type]  # reported once
    ledger.saw(Reader(ledger, first), [task(id="8", totalcost="0")])  # type: ignore[arg-type]


def test_quiet_leaves_the_problem_to_the_next_read() -> None:
    ledger = Ledger()
    ledger.own("7")
    unpaid = task(id="7", totalcost="0")
    with ledger.quiet():
        ledger.saw(Reader(ledger, unpaid), [unpaid])  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="a success is billed"):
        ledger.saw(Reader(ledger, unpaid), [unpaid])  # type: ignore[arg-type]
