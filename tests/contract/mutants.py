"""Fakes broken on purpose: each mutation breaks one rule of the contract, and the
contract test named with it must fail against it.

A mutation is a function of a :class:`pytest.MonkeyPatch`; it patches the fake in the
process it runs in. ``tests/contract/test_contract_suite.py`` applies each to a fake in its
own process (``MUTANTS``), and, for the rules that once only ``mock_only`` tests or a
degenerate race judged (issue 12), to a separate ``mock-wiro serve`` process judged with
``WIRO_TARGET=real`` (``SERVE_LAUNCHER``: ``python -c SERVE_LAUNCHER <mutant> serve ...``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import mock_wiro.engine.auth
import mock_wiro.engine.backend
import mock_wiro.engine.lifecycle
import mock_wiro.engine.preparer
import mock_wiro.engine.stepper
import mock_wiro.http.wire
from mock_wiro.errors import StateError

Mutation = Callable[[pytest.MonkeyPatch], None]


def accept_any_signature(mp: pytest.MonkeyPatch) -> None:
    class AnyDigest:
        new = staticmethod(__import__("hmac").new)

        @staticmethod
        def compare_digest(a: bytes, b: bytes) -> bool:
            return True

    mp.setattr(mock_wiro.engine.auth, "hmac", AnyDigest)


def cancel_stops_running_tasks(mp: pytest.MonkeyPatch) -> None:
    everything = frozenset({"task_queue", "task_accept", "task_preprocess_start",
                            "task_preprocess_end", "task_assign", "task_start",
                            "task_output", "task_output_full", "task_end",
                            "task_postprocess_start", "task_postprocess_end"})  # fmt: skip
    mp.setattr(mock_wiro.engine.backend, "CANCELLABLE_STATUSES", everything)


def numeric_ids(mp: pytest.MonkeyPatch) -> None:
    real = mock_wiro.http.wire.task_detail

    def task_detail(task: Any, url_for: Any) -> dict[str, Any]:
        wire = real(task, url_for)
        wire["id"] = int(wire["id"])
        return wire

    mp.setattr(mock_wiro.http.wire, "task_detail", task_detail)
    mp.setattr(mock_wiro.http.wire, "task_detail_shared", task_detail)  # built each read


def skip_preprocess_start(mp: pytest.MonkeyPatch) -> None:
    intake = tuple(
        s for s in mock_wiro.engine.lifecycle.INTAKE if s.type != "task_preprocess_start"
    )
    mp.setattr(mock_wiro.engine.lifecycle, "INTAKE", intake)


def postprocess_end_before_task_end(mp: pytest.MonkeyPatch) -> None:
    tail = {s.type: s for s in mock_wiro.engine.lifecycle.SUCCESS_TAIL}
    order = ("task_output_full", "task_postprocess_start", "task_postprocess_end", "task_end")
    mp.setattr(mock_wiro.engine.lifecycle, "SUCCESS_TAIL", tuple(tail[s] for s in order))


def reused_nonce_rejected(mp: pytest.MonkeyPatch) -> None:
    """The fake rejects a reused nonce though its settings say it accepts them."""
    real_init = mock_wiro.engine.auth.Authenticator.__init__

    def init(self: Any, ctx: Any) -> None:
        real_init(self, ctx)
        self.settings = dataclasses.replace(self.settings, reject_reused_nonce=True)

    mp.setattr(mock_wiro.engine.auth.Authenticator, "__init__", init)


def failed_task_billed(mp: pytest.MonkeyPatch) -> None:
    """A failed task is charged its price."""
    real = mock_wiro.engine.stepper.Stepper._finish

    def finish(self: Any, task: Any, when: float) -> None:
        real(self, task, when)
        if task.failure is not None:
            task.totalcost = Decimal("0.19")

    mp.setattr(mock_wiro.engine.stepper.Stepper, "_finish", finish)


def killed_task_billed(mp: pytest.MonkeyPatch) -> None:
    """A killed (or cancelled) task is charged its price."""
    real = mock_wiro.engine.stepper.Stepper.stop

    def stop(self: Any, task: Any, pexit: str) -> None:
        real(self, task, pexit)
        task.totalcost = Decimal("0.19")

    mp.setattr(mock_wiro.engine.stepper.Stepper, "stop", stop)


def money_moves_after_the_end(mp: pytest.MonkeyPatch) -> None:
    """Each Task/Detail of a finished task bills a little more (cps kept consistent)."""
    real = mock_wiro.http.wire.task_detail
    reads: dict[str, int] = {}

    def task_detail(task: Any, url_for: Any) -> dict[str, Any]:
        wire = real(task, url_for)
        if wire["status"] == "task_postprocess_end" and wire["pexit"] == "0":
            reads[wire["id"]] = n = reads.get(wire["id"], 0) + 1
            total = Decimal(wire["totalcost"]) * (1 + Decimal(n) / 1000)
            wire["totalcost"] = f"{total:.12f}"
            wire["cps"] = f"{total / Decimal(wire['elapsedseconds']):.12f}"
        return wire

    mp.setattr(mock_wiro.http.wire, "task_detail", task_detail)
    mp.setattr(mock_wiro.http.wire, "task_detail_shared", task_detail)  # built each read


def output_uuid_not_the_tasks(mp: pytest.MonkeyPatch) -> None:
    """Task/Detail's output objects carry another uuid than their task's."""
    real = mock_wiro.http.wire.output

    def output(stored: Any, task_uuid: str, url: str) -> dict[str, Any]:
        return real(stored, "00000000-0000-4000-8000-000000000000", url)

    mp.setattr(mock_wiro.http.wire, "output", output)


def kill_refused_while_running(mp: pytest.MonkeyPatch) -> None:
    """Kill refuses every task that is still running (the old any_timing test passed it)."""
    real = mock_wiro.engine.backend.Backend.kill

    def kill(self: Any, project: Any, ref: Any) -> Any:
        if not self.find_task(project, ref).terminal:
            raise StateError("Task could not be killed: busy")
        return real(self, project, ref)

    mp.setattr(mock_wiro.engine.backend.Backend, "kill", kill)


def failed_task_exits_zero(mp: pytest.MonkeyPatch) -> None:
    """A failed task reports ``pexit`` "0", as if it had succeeded."""
    real = mock_wiro.engine.stepper.Stepper._finish

    def finish(self: Any, task: Any, when: float) -> None:
        real(self, task, when)
        if task.failure is not None:
            task.pexit = "0"

    mp.setattr(mock_wiro.engine.stepper.Stepper, "_finish", finish)


def bad_images_succeed(mp: pytest.MonkeyPatch) -> None:
    """Every first frame passes the model's image rules: a bad image makes a video."""

    def inspect_image(path: Any) -> Any:
        return mock_wiro.engine.preparer.ImageInfo(width=1280, height=720, format="JPEG")

    mp.setattr(mock_wiro.engine.preparer, "inspect_image", inspect_image)


MUTANTS: dict[str, tuple[Mutation, str]] = {
    "accept_any_signature": (accept_any_signature, "test_auth.py::test_wrong_signature"),
    "cancel_stops_running_tasks": (
        cancel_stops_running_tasks,
        "test_cancel_kill.py::test_cancel_refused_once_running",
    ),
    "numeric_ids": (numeric_ids, "test_detail.py::test_detail_fields_like_seed"),
    "reused_nonce_rejected": (reused_nonce_rejected, "test_auth.py::test_reused_nonce"),
    "skip_preprocess_start": (
        skip_preprocess_start,
        "test_lifecycle.py::test_lifecycle_via_socket",
    ),
    "postprocess_end_before_task_end": (
        postprocess_end_before_task_end,
        "test_lifecycle.py::test_lifecycle_via_socket",
    ),
    # issue 12: billing, output metadata, the failure path, a race that may not degenerate
    "failed_task_billed": (
        failed_task_billed,
        "test_failure.py::test_bad_image_is_refused_or_fails",
    ),
    "killed_task_billed": (killed_task_billed, "test_cancel_kill.py::test_kill_running_task"),
    "money_moves_after_the_end": (
        money_moves_after_the_end,
        "test_billing.py::test_money_is_fixed_once_terminal",
    ),
    "output_uuid_not_the_tasks": (
        output_uuid_not_the_tasks,
        "test_output_metadata.py::test_output_fields_as_the_seed_shows",
    ),
    "kill_refused_while_running": (
        kill_refused_while_running,
        "test_cancel_kill.py::test_kill_running_task",
    ),
    "failed_task_exits_zero": (
        failed_task_exits_zero,
        "test_failure.py::test_bad_image_is_refused_or_fails",
    ),
    "bad_images_succeed": (
        bad_images_succeed,
        "test_failure.py::test_bad_image_is_refused_or_fails",
    ),
}

REAL_TARGET: tuple[str, ...] = (
    "failed_task_billed",
    "killed_task_billed",
    "money_moves_after_the_end",
    "output_uuid_not_the_tasks",
    "kill_refused_while_running",
    "failed_task_exits_zero",
    "bad_images_succeed",
)
"""The mutants of rules that, before issue 12, only ``mock_only`` tests or a race that
could degenerate judged: each must fail its test against a separate ``mock-wiro serve``
judged as a real target."""

SERVE_LAUNCHER = """\
import sys

from mock_wiro.launch import main, patch_for

patch_for(sys.argv[2:])  # gevent's patch before anything else, when serving on gevent
import pytest

from tests.contract.mutants import MUTANTS

MUTANTS[sys.argv[1]][0](pytest.MonkeyPatch())

sys.exit(main(sys.argv[2:]))
"""
"""``python -c SERVE_LAUNCHER <mutant> serve ARGS``: ``mock-wiro serve`` with one mutation
applied (run from the repository's root, so ``tests`` imports)."""
