"""What a Run is admitted by (the balance, the concurrency limit [docs]) and how a
request names a task."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal

from ..errors import ConcurrencyLimitError, InsufficientBalanceError, ValidationError
from ..settings import CONCURRENCY_RATE, CONCURRENCY_UNLIMITED_ABOVE_USD, MINIMUM_BALANCE_USD
from .models import Project
from .params import RunParams

__all__ = ["TaskRef", "check_can_run", "concurrency_limit", "interned"]


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


def check_can_run(project: Project, active: int) -> None:
    """Refuse a Run when the balance is too low or ``active`` tasks already fill the
    project's concurrency limit [docs]."""
    if project.balance < MINIMUM_BALANCE_USD:
        raise InsufficientBalanceError("Insufficient balance")  # [docs]
    limit = concurrency_limit(project.balance)
    if limit is not None and active >= limit:
        raise ConcurrencyLimitError(
            "You have reached your concurrent task limit. With your current balance of "
            f"${project.balance:.2f}, you can run up to {limit} tasks at the same time. "
            "Add funds to increase your limit."
        )
