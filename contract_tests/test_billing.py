"""Billing [docs][seed], judged explicitly on the session's successful task.

The rules themselves (``contract_tests/money.py``) are applied to every task the suite
observes: each Task/Detail and Task/List answer naming a task of the session, the first
time it is terminal and every time after (successes billed at ``cps`` * ``elapsedseconds``,
cancelled, killed and failed tasks at "0", money fixed once terminal). These tests state
them by name and check that the judge saw the task. No extra cost: the shared task.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from .conftest import Budget, Observed
from .money import assert_money, money_of, outcome
from .test_detail import listed
from .wire import Api


@pytest.mark.spends(1)
@pytest.mark.rule("billing.success_cost", "billing.cps")
def test_success_is_billed_cps_times_elapsed(finished: Observed) -> None:
    """A success costs more than zero, and ``cps`` * ``elapsedseconds`` is ``totalcost``
    within the rounding of the strings (the seed: 0.000585 * 6.0000 = 0.003510) [seed]."""
    final = finished.final
    assert outcome(final) == "success", (final["status"], final["pexit"])
    assert_money(final)
    assert Decimal(final["totalcost"]) > 0 and Decimal(final["cps"]) > 0, money_of(final)


@pytest.mark.spends(1)
@pytest.mark.rule("terminal.final", "billing.success_cost")
def test_money_is_fixed_once_terminal(api: Api, finished: Observed, budget: Budget) -> None:
    """The money fields at the first terminal Task/Detail are what Task/Detail and
    Task/List say later; and the session's judge saw this task."""
    first = money_of(finished.final)
    assert money_of(api.detail(finished.taskid)) == first
    [entry] = [t for t in listed(api, want=finished.taskid) if t.get("id") == finished.taskid]
    assert money_of(entry) == first, (money_of(entry), first)
    assert budget.money.first.get(finished.taskid) == first, "the ledger never judged the task"
