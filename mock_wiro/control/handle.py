"""The handle a test holds on a running fake: :class:`FakeHandle`, shared by
:class:`~mock_wiro.server.MockWiroServer` and the in-process fake of
:mod:`mock_wiro.inprocess`: one set of methods over the app's
:class:`~mock_wiro.control.fake.Fake`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from decimal import Decimal

from flask import Flask

from ..chaos.http_faults import FaultRule, FaultSet, Phase
from ..chaos.push_faults import PushFault
from ..chaos.scenarios import Scenario, ScenarioBook
from ..engine.backend import Backend
from ..engine.journal import Entry, Journal
from ..engine.models import Project, Task
from ..push.callbacks import CallbackDispatcher
from ..push.hub import SocketHub
from ..settings import DEFAULT_DEMO_BALANCE_USD, AuthMode, ClockMode
from .fake import Fake

__all__ = ["FakeControls", "FakeHandle"]


class FakeHandle:
    """The handle a test holds on a fake: every control as a method (clock, projects,
    tasks, journal, scenarios, HTTP faults, socket and callback faults)."""

    backend: Backend
    app: Flask

    @property
    def fake(self) -> Fake:
        """The fake's parts (:class:`~mock_wiro.control.fake.Fake`)."""
        return Fake.of(self.app)

    @property
    def scenario_book(self) -> ScenarioBook:
        """The scenarios this fake matches at Run."""
        return self.fake.scenarios

    @property
    def hub(self) -> SocketHub:
        """The WebSocket fan-out."""
        return self.fake.hub

    @property
    def callbacks(self) -> CallbackDispatcher:
        """Callback deliveries, with every attempt."""
        return self.fake.callbacks

    # ------------------------------------------------------------ control, from Python
    def create_project(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        auth: AuthMode = "signature",
        balance: Decimal | str | float = DEFAULT_DEMO_BALANCE_USD,
        name: str = "",
    ) -> Project:
        """A new project on this fake (random credentials unless given)."""
        return self.backend.create_project(
            api_key, api_secret, auth_mode=auth, balance=balance, name=name
        )

    def set_balance(self, project: Project, balance: Decimal | str | float) -> None:
        """Change a project's balance (to reach codes 96 and 97)."""
        self.backend.set_balance(project, balance)

    def tasks(self) -> list[Task]:
        """Every task of every project, oldest first."""
        return self.backend.all_tasks()

    @property
    def now(self) -> float:
        """The fake clock's time (Unix seconds)."""
        return self.backend.clock.now()

    @property
    def clock_mode(self) -> ClockMode:
        """The clock's mode: ``realtime``, ``manual`` or ``instant``."""
        return self.backend.clock.mode

    def advance(self, seconds: float) -> float:
        """Advance the fake clock and apply everything due; returns the new fake time."""
        return self.backend.advance(seconds)

    def set_clock(self, mode: ClockMode, speed: float | None = None) -> None:
        """Switch the clock's mode (``realtime``, ``manual``, ``instant``) and speed."""
        self.backend.clock.set_mode(mode, speed)
        self.backend.pump()

    def reset(self) -> None:
        """Forget every task, file, folder, callback delivery, scenario and fault rule
        (projects stay): :meth:`Fake.reset <mock_wiro.control.fake.Fake.reset>`."""
        self.fake.reset()

    def save_snapshot(self, path: str | os.PathLike[str]) -> int:
        """Save the fake's whole state to one file (``path``, whole or not at all); its
        size in bytes. See docs/persistence.md, Snapshots."""
        return self.backend.save_snapshot(path)

    def load_snapshot(self, path: str | os.PathLike[str]) -> None:
        """Replace the fake's whole state with the snapshot at ``path`` (projects, tasks,
        files, fake time); rules and callback deliveries are cleared as by :meth:`reset`.
        A file that cannot be loaded raises :class:`~mock_wiro.errors.SnapshotError` and
        changes nothing."""
        self.fake.load_snapshot(path)

    def task(self, task_id: str) -> Task:
        """A task by id (any project)."""
        task = self.backend.task_by_id(task_id)
        if task is None:
            raise KeyError(f"no task {task_id!r}")
        return task

    def wait_for_task(
        self, task_id: str, statuses: Iterable[str] | None = None, timeout: float = 30.0
    ) -> Task:
        """Block until the task reaches one of ``statuses`` (default: terminal); raise
        TimeoutError with its current status otherwise. No sleeps."""
        task = self.task(task_id)
        if not self.backend.wait_for(task, statuses, timeout=timeout):
            wanted = "a terminal status" if statuses is None else " or ".join(statuses)
            raise TimeoutError(f"task {task_id} is {task.status}, not {wanted}, after {timeout}s")
        return task

    @property
    def journal(self) -> Journal:
        """Every request, frame, callback attempt (and fault/scenario) in order."""
        return self.backend.journal

    def wait_for(self, predicate: Callable[[Entry], bool], timeout: float = 30.0) -> Entry:
        """Block until a journal entry matches ``predicate`` (past or future); raise
        TimeoutError otherwise. The way to wait in a test: no sleeps."""
        entry = self.backend.journal.wait_for(predicate, timeout=timeout)
        if entry is None:
            raise TimeoutError(f"no journal entry matched within {timeout}s")
        return entry

    # ------------------------------------------------------------ scenarios and steering
    def add_scenario(self, scenario: Scenario | None = None, /, **fields: object) -> Scenario:
        """Add a scenario (a :class:`~mock_wiro.scenarios.Scenario`, or its JSON fields as
        keywords: ``add_scenario(prompt_contains="[[fail]]", fail_at="task_start")``)."""
        return self.scenario_book.add(scenario if scenario is not None else fields)

    def scenarios(self) -> list[Scenario]:
        """The scenarios waiting to match, in the order they are tried."""
        return [scenario for scenario, _ in self.scenario_book.items()]

    def remove_scenario(self, scenario_id: str) -> bool:
        """Forget one scenario; False if there was none with that id."""
        return self.scenario_book.remove(scenario_id)

    def clear_scenarios(self) -> None:
        """Forget every scenario."""
        self.scenario_book.clear()

    def push(self, task_id: str, stage: str, timeout: float = 30.0) -> Task:
        """Apply every step of the task up to and including ``stage`` now."""
        return self.backend.push(self.task(task_id), stage, timeout=timeout)

    def hold(self, task_id: str, stage: str) -> Task:
        """Stop the task just before its next ``stage`` step until :meth:`release`."""
        return self.backend.hold(self.task(task_id), stage)

    def release(self, task_id: str) -> str | None:
        """Let a held task go on; returns the stage it was held at (None if not held)."""
        return self.backend.release(self.task(task_id))

    # ------------------------------------------------------------ HTTP faults
    @property
    def faults(self) -> FaultSet:
        """The HTTP fault rules (:mod:`mock_wiro.chaos.http_faults`)."""
        return self.fake.faults

    def add_fault(
        self,
        path: str,
        *,
        method: str | None = None,
        when: Phase = "before",
        times: int | None = None,
        probability: float | None = None,
        seed: int | str | None = None,
        status: int | None = None,
        retry_after: int | None = None,
        message: str | None = None,
        latency: float | None = None,
        hang: bool | float | None = None,
        reset: bool = False,
        malformed: bool = False,
    ) -> FaultRule:
        """Add an HTTP fault rule, as ``POST /_mock/faults`` does (ValueError if bad).

        Examples::

            server.add_fault("/v1/Task/Detail", status=429, retry_after=2, times=1)
            server.add_fault("/v1/Run/*", when="after", status=502)  # task made, reply lost
            server.add_fault("/v1/*", probability=0.2, seed=7, reset=True)
        """
        given: dict[str, object] = {
            "path": path,
            "method": method,
            "when": when,
            "times": times,
            "probability": probability,
            "seed": seed,
            "status": status,
            "retry_after": retry_after,
            "message": message,
            "latency": latency,
            "hang": hang,
            "reset": reset or None,
            "malformed": malformed or None,
        }
        return self.faults.add({k: v for k, v in given.items() if v is not None})

    def release_fault(self, rule_id: str | None = None) -> int:
        """Release the requests a rule (default: every rule) holds; how many were."""
        return self.faults.release(rule_id)

    def remove_fault(self, rule_id: str) -> bool:
        """Delete a fault rule (releasing what it holds); False if there was none."""
        return self.faults.remove(rule_id)

    def clear_faults(self) -> None:
        """Delete every fault rule (releasing every held request)."""
        self.faults.clear()

    # ------------------------------------------------------------ socket and callback faults
    def add_socket_fault(
        self,
        action: str,
        *,
        task: str | None = None,
        token: str | None = None,
        times: int = 1,
        after: int | None = None,
        code: int | None = None,
        reason: str | None = None,
        nth: int | None = None,
        type: str | None = None,
        delay: float | None = None,
    ) -> PushFault:
        """Add a socket fault, as ``POST /_mock/socket-faults`` does (ValueError if bad).

        For example::

            server.add_socket_fault("close", after=3, code=4000)  # the next connection
            server.add_socket_fault("duplicate", task=taskid, type="task_start")
            server.add_socket_fault("delay", token=token, delay=5)  # fake seconds
            server.add_socket_fault("drop_on_register", times=2)
        """
        given = {
            "action": action,
            "task": task,
            "token": token,
            "times": times,
            "after": after,
            "code": code,
            "reason": reason,
            "nth": nth,
            "type": type,
            "delay": delay,
        }
        return self.hub.faults.add({k: v for k, v in given.items() if v is not None})

    def add_callback_fault(
        self,
        action: str,
        *,
        task: str | None = None,
        token: str | None = None,
        times: int = 1,
        delay: float | None = None,
    ) -> PushFault:
        """Add a callback fault, as ``POST /_mock/callback-faults`` does (ValueError if
        bad): ``"twice"``, ``"late"`` (``delay`` fake seconds) or ``"suppress"``."""
        given = {"action": action, "task": task, "token": token, "times": times, "delay": delay}
        return self.callbacks.faults.add({k: v for k, v in given.items() if v is not None})

    def remove_push_fault(self, rule_id: str) -> bool:
        """Delete a socket (``sf...``) or callback (``cf...``) fault; False if none."""
        return self.hub.faults.remove(rule_id) or self.callbacks.faults.remove(rule_id)

    def clear_push_faults(self) -> None:
        """Delete every socket and callback fault."""
        self.hub.faults.clear()
        self.callbacks.faults.clear()


FakeControls = FakeHandle
"""Its name before: kept so that imports of it go on working."""
