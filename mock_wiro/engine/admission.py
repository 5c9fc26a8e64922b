"""What a Run is admitted by (the balance, the concurrency limit [docs], the prices its
unfinished tasks hold [A: ``BALANCE_POLICY``]) and how a request names a task."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from ..errors import ConcurrencyLimitError, InsufficientBalanceError, ValidationError
from ..settings import (
    BALANCE_POLICY,
    CONCURRENCY_RATE,
    CONCURRENCY_UNLIMITED_ABOVE_USD,
    MINIMUM_BALANCE_USD,
    PRICE_TABLE_USD,
    BalancePolicy,
)
from .models import Project
from .params import RunParams

__all__ = ["TaskRef", "check_can_run", "concurrency_limit", "interned", "price_of"]

_MAX_PRICE = max(PRICE_TABLE_USD.values())


@dataclass(frozen=True)
class TaskRef:
    """How a request names a task: any of the three keys [docs][clients]."""

    taskid: str = ""
    tasktoken: str = ""

    @classmethod
    def from_params(cls, params: dict[str, str]) -> TaskRef:
        """Read ``taskid``, ``tasktoken`` or ``socketaccesstoken`` from a request's fields."""
        token = params.get("tasktoken", "") or params.get("socketaccesstoken", "")
        ref = cls(taskid=params.get("taskid", "").strip(), tasktoken=token.strip())
        if not ref.taskid and not ref.tasktoken:
            raise ValidationError("taskid or socketaccesstoken is required")  # [docs]
        return ref


def concurrency_limit(balance: Decimal) -> int | None:
    """Tasks a project may run at once [docs]; None means unlimited."""
    if balance > CONCURRENCY_UNLIMITED_ABOVE_USD:
        return None
    return max(1, int((balance * CONCURRENCY_RATE).to_integral_value(rounding=ROUND_FLOOR)))


def interned(params: RunParams) -> RunParams:
    """``params`` with its choice fields (``768P``, ``6``: a few values, repeated by every
    task) interned, so the tasks a fake keeps share them instead of a copy each."""
    return replace(
        params, resolution=sys.intern(params.resolution), duration=sys.intern(params.duration)
    )


def price_of(params: RunParams) -> Decimal:
    """What a successful task with these parameters is charged [A: ``PRICE_TABLE_USD``]."""
    return PRICE_TABLE_USD[(params.resolution, params.duration)]


def check_can_run(
    project: Project,
    active: list[RunParams],
    *,
    policy: BalancePolicy = BALANCE_POLICY,
) -> None:
    """Refuse a Run when the balance is too low (97), the project's unfinished tasks
    (``active``, their parameters) already fill its concurrency limit (96) [docs], or,
    under the ``reserve`` policy, the balance less the prices those tasks hold is under
    the minimum (97) [A: ``BALANCE_POLICY``]. Below $250 the reservation never refuses
    what the first two admit (a limit of ``balance / 10`` tasks holds at most 3.3% of it),
    so codes 96 and 97 keep their documented thresholds."""
    if project.balance < MINIMUM_BALANCE_USD:
        raise InsufficientBalanceError("Insufficient balance")  # [docs]
    limit = concurrency_limit(project.balance)
    if limit is not None and len(active) >= limit:
        raise ConcurrencyLimitError(
            "You have reached your concurrent task limit. With your current balance of "
            f"${project.balance:.2f}, you can run up to {limit} tasks at the same time. "
            "Add funds to increase your limit."
        )
    if policy == "reserve" and project.balance - _MAX_PRICE * len(active) < MINIMUM_BALANCE_USD:
        # (the bound above spares the sum for a balance no reservation can reach)
        reserved = sum((price_of(params) for params in active), Decimal(0))
        if project.balance - reserved < MINIMUM_BALANCE_USD:
            raise InsufficientBalanceError("Insufficient balance")  # [docs] message
