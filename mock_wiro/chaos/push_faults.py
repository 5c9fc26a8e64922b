"""Faults on the push channels: the task WebSocket and ``callbackUrl`` deliveries.
State and matching only: :mod:`mock_wiro.push.hub` / :mod:`mock_wiro.push.route` apply socket
rules, :mod:`mock_wiro.push.callbacks` applies callback rules, and
:mod:`mock_wiro.control.push_faults` serves ``/_mock/socket-faults`` and
``/_mock/callback-faults``.

A rule is data. What it hits: ``task`` (a task id), ``token`` (a
``socketaccesstoken``) or ``any`` (the default when neither is given); ``times``
(default 1, at most 10**9) is how many *connections* (socket rules) or *tasks*
(callback rules) it hits before it is used up.

Socket rules (``action``; each applied fault is a ``fault`` journal entry with
``channel: "socket"``):

- ``close``: after ``after`` (>= 1) frames of the task, close the connection with
  ``code`` (default 1011) and ``reason``. ``type`` counts only frames of that type.
- ``duplicate``: send a frame twice: the ``nth`` frame of the task (1-based), or
  every frame of ``type``, or the ``nth`` frame of ``type`` (neither: every frame).
- ``delay``: hold each frame of the task (of ``type``, if given) until the *fake*
  clock reaches the frame's event time + ``delay`` seconds (deterministic with a
  manual clock: nothing arrives before ``advance`` passes it).
- ``drop_on_register``: when a client registers the task (``task_info``), close the
  connection at once (``code``, default 1011, and ``reason``), before any of its frames;
  the task is not registered.

A socket rule binds to a connection when the client registers a task it matches
(``any``: the first task registered); that uses one of its ``times``. Frames are
counted per connection, over the bound task's frames (``any``: every task frame
on the connection); pongs and error frames are never counted, delayed or duplicated.

Callback rules (``channel: "callback"`` in the journal):

- ``twice``: the attempt that succeeds is POSTed again at once, the same body and
  headers: the receiver gets two identical requests. The second is recorded in the
  delivery's ``duplicates`` (not ``attempts``: retry numbering is unchanged) and as a
  ``callback`` journal entry with ``duplicate: true``.
- ``late``: the first attempt waits until the fake clock reaches the task's end +
  ``delay`` seconds (retries then follow as usual).
- ``suppress``: no request at all; the delivery's state is ``suppressed``.

A callback rule is consumed when a task with a valid ``callbackUrl`` ends.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from . import spec as check
from .rules import Countdown, Counted, RuleBook, Verdict
from .spec import SpecError

__all__ = [
    "CALLBACK_ACTIONS",
    "DEFAULT_CLOSE_CODE",
    "SOCKET_ACTIONS",
    "CallbackAction",
    "ConnectionFaults",
    "FramePlan",
    "PushFault",
    "PushFaultBook",
    "PushFaultError",
    "SocketAction",
    "SocketBinding",
]

SocketAction = Literal["close", "duplicate", "delay", "drop_on_register"]
CallbackAction = Literal["twice", "late", "suppress"]
Channel = Literal["socket", "callback"]
SOCKET_ACTIONS: tuple[str, ...] = get_args(SocketAction)
CALLBACK_ACTIONS: tuple[str, ...] = get_args(CallbackAction)

DEFAULT_CLOSE_CODE = 1011
"""Close code of a ``close`` or ``drop_on_register`` fault with no ``code``: internal error."""
MAX_DELAY_SECONDS = 10.0**7
"""The longest ``delay`` (fake seconds)."""
_MAX_TIMES = 10**9
_MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 are the code
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})  # never sent on the wire
_COMMON = frozenset({"action", "task", "token", "any", "times"})
_FIELDS: dict[str, frozenset[str]] = {
    "close": _COMMON | {"after", "code", "reason", "type"},
    "duplicate": _COMMON | {"nth", "type"},
    "delay": _COMMON | {"delay", "type"},
    "drop_on_register": _COMMON | {"code", "reason"},
    "twice": _COMMON,
    "late": _COMMON | {"delay"},
    "suppress": _COMMON,
}


PushFaultError = SpecError
"""A bad push-fault rule (answered 400 by the control surface): the package's SpecError."""


@dataclass(eq=False)
class PushFault(Counted):
    """One rule and its counters (``hits``: connections or tasks it has hit)."""

    id: str
    channel: Channel
    action: str
    task: str | None = None
    token: str | None = None
    times: int = 1
    after: int | None = None
    code: int | None = None
    reason: str | None = None
    nth: int | None = None
    type: str | None = None
    delay: float | None = None
    countdown: Countdown = field(default_factory=Countdown, repr=False)

    def __post_init__(self) -> None:
        self.countdown.remaining = self.times

    @property
    def remaining(self) -> int:
        """What is left of ``times``."""
        return self.countdown.remaining or 0

    @property
    def close_reason(self) -> str:
        """The close frame's reason text."""
        if self.reason is not None:
            return self.reason
        return f"mock-wiro socket fault {self.id}"

    def matches(self, task_id: str, token: str) -> bool:
        """Whether a task (id, socketaccesstoken) is one this rule is about."""
        return self.verdict(task_id, token)[0]

    def verdict(self, task_id: str, token: str) -> Verdict:
        """``(True, "")`` if a task (id, socketaccesstoken) is one this rule is about,
        else ``(False, why not)``."""
        if self.task is not None and self.task != task_id:
            return False, f"task {task_id!r} is not {self.task!r}"
        if self.token is not None and self.token != token:
            return False, "the socketaccesstoken differs"
        return True, ""

    def to_json(self) -> dict[str, Any]:
        """The rule as the control surface shows it."""
        found: dict[str, Any] = {"id": self.id, "channel": self.channel, "action": self.action}
        if self.task is None and self.token is None:
            found["any"] = True
        else:
            found |= {k: v for k, v in (("task", self.task), ("token", self.token)) if v}
        for name in ("after", "code", "reason", "nth", "type", "delay"):
            value = getattr(self, name)
            if value is not None:
                found[name] = value
        if self.action in ("close", "drop_on_register"):
            found |= {"code": self.code, "reason": self.close_reason}
        return found | {
            "times": self.times,
            "remaining": self.remaining,
            "hits": self.hits,
            "active": self.active,
        }


# ------------------------------------------------------------------ parsing
def _integer(spec: Mapping[str, Any], name: str, low: int, high: int) -> int:
    return check.integer(spec[name], check.field(name), low, high)


def _string(spec: Mapping[str, Any], name: str, limit: int = 200) -> str:
    return check.bounded_text(spec[name], check.field(name), limit)


def parse_fault(channel: Channel, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a rule's fields; the keyword arguments of :class:`PushFault` (less ``id``
    and ``channel``), or :class:`PushFaultError` naming what is wrong."""
    if not isinstance(spec, Mapping):
        raise SpecError("a rule is a JSON object")
    actions = SOCKET_ACTIONS if channel == "socket" else CALLBACK_ACTIONS
    action = spec.get("action")
    if action not in actions:
        raise SpecError(
            f"'action' must be one of {', '.join(actions)} for a {channel} fault; got {action!r}"
        )
    given = {k for k, v in spec.items() if v is not None}
    unknown = sorted(given - _FIELDS[action])
    if unknown:
        allowed = ", ".join(sorted(_FIELDS[action]))
        raise SpecError(f"{unknown[0]!r} does not go with a {action!r} fault ({allowed})")
    rule: dict[str, Any] = {"action": action}
    for name in ("task", "token"):
        if name in given:
            rule[name] = _string(spec, name)
    if "any" in given:
        if spec["any"] is not True:
            raise SpecError(f"'any' must be true; got {spec['any']!r}")
        if "task" in rule or "token" in rule:
            raise SpecError("give 'task', 'token' or 'any', not several")
    rule["times"] = _integer(spec, "times", 1, _MAX_TIMES) if "times" in given else 1
    if "type" in given:
        rule["type"] = _string(spec, "type", 64)
    if action == "close":
        if "after" not in given:
            raise SpecError("a 'close' fault needs 'after' (frames sent before closing)")
        rule["after"] = _integer(spec, "after", 1, _MAX_TIMES)
    if action == "duplicate" and "nth" in given:
        rule["nth"] = _integer(spec, "nth", 1, _MAX_TIMES)
    if action in ("close", "drop_on_register"):
        code = _integer(spec, "code", 1000, 4999) if "code" in given else DEFAULT_CLOSE_CODE
        if code in _RESERVED_CODES or 1016 <= code <= 2999:
            raise SpecError(f"'code' {code} cannot be sent in a close frame")
        rule["code"] = code
        if "reason" in given:
            reason = spec["reason"]
            if not isinstance(reason, str) or len(reason.encode()) > _MAX_REASON_BYTES:
                raise SpecError(
                    f"'reason' must be a string of at most {_MAX_REASON_BYTES} UTF-8 bytes"
                )
            rule["reason"] = reason
    if action in ("delay", "late"):
        if "delay" not in given:
            raise SpecError(f"a {action!r} fault needs 'delay' (fake seconds)")
        rule["delay"] = check.seconds(spec["delay"], "'delay'", MAX_DELAY_SECONDS, "fake seconds")
    return rule


# ------------------------------------------------------------------ the book
class PushFaultBook(RuleBook[PushFault]):
    """The rules of one channel, thread-safe, tried in creation order. Ids (``sf1``,
    ``sf2``, ... for sockets; ``cf1``, ... for callbacks) never repeat."""

    def __init__(self, channel: Channel) -> None:
        super().__init__("sf" if channel == "socket" else "cf")
        self.channel: Channel = channel

    def add(self, spec: Mapping[str, Any]) -> PushFault:  # type: ignore[override]
        """A new rule from its fields (see the module docs)."""
        fields = parse_fault(self.channel, spec)
        with self.lock:
            rule = PushFault(id=self.next_id(), channel=self.channel, **fields)
            return super().add(rule, rule.countdown)

    def explain_task(self, task_id: str, token: str) -> list[dict[str, Any]]:
        """Every rule with whether a task (id, token) would match it and why not."""
        return self.explain(lambda rule: rule.verdict(task_id, token))

    def take(
        self,
        task_id: str,
        token: str,
        actions: tuple[str, ...],
        *,
        skip: frozenset[str] = frozenset(),
    ) -> list[PushFault]:
        """Consume one ``times`` of every active rule with one of ``actions`` matching the
        task (except the rule ids in ``skip``), in creation order; return them."""
        with self.lock:
            taken = []
            for rule, countdown in self.active():
                if rule.action in actions and rule.id not in skip and rule.matches(task_id, token):
                    countdown.spend()
                    taken.append(rule)
            return taken

    def take_one(self, task_id: str, token: str, actions: tuple[str, ...]) -> PushFault | None:
        """The first active rule with one of ``actions`` matching the task, consumed."""
        with self.lock:
            for rule, countdown in self.active():
                if rule.action in actions and rule.matches(task_id, token):
                    countdown.spend()
                    return rule
            return None


# ------------------------------------------------------------------ one connection
@dataclass(eq=False)
class SocketBinding:
    """A socket rule bound to one connection (and one task, unless the rule is ``any``)."""

    rule: PushFault
    task_id: str | None
    seen: int = 0
    """Frames covered by the rule sent so far on this connection."""

    def covers(self, task_id: str, kind: str) -> bool:
        """Whether a task frame (task id, type) is one this binding counts."""
        if not task_id or not kind:
            return False  # pongs and error frames
        if self.task_id is not None and self.task_id != task_id:
            return False
        return self.rule.type is None or self.rule.type == kind


@dataclass
class FramePlan:
    """What the writer does with one frame."""

    copies: int = 1
    duplicated_by: PushFault | None = None
    close_by: PushFault | None = None


@dataclass(eq=False)
class ConnectionFaults:
    """The socket rules bound to one connection; counts are kept by its writer thread."""

    bindings: list[SocketBinding] = field(default_factory=list)
    close: tuple[int, str] | None = None
    """Set when a fault closes the connection: (code, reason), sent by the writer."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bound(self) -> frozenset[str]:
        """Ids of the rules bound to this connection."""
        with self._lock:
            return frozenset(b.rule.id for b in self.bindings)

    def bind(self, rules: list[PushFault], task_id: str) -> None:
        """Bind rules (``any`` rules to every task of the connection)."""
        with self._lock:
            for rule in rules:
                any_task = rule.task is None and rule.token is None
                self.bindings.append(SocketBinding(rule, None if any_task else task_id))

    def delay(self, task_id: str, kind: str) -> tuple[PushFault, float] | None:
        """The longest ``delay`` rule covering a frame, with its delay."""
        if not self.bindings:  # the common case, per frame and subscriber: no lock
            return None
        with self._lock:
            found = [
                b.rule
                for b in self.bindings
                if b.rule.action == "delay" and b.rule.delay and b.covers(task_id, kind)
            ]
        if not found:
            return None
        rule = max(found, key=lambda r: r.delay or 0.0)
        return rule, rule.delay or 0.0

    def plan(self, task_id: str, kind: str) -> FramePlan:
        """Count a frame about to be sent and say what to do with it (writer thread)."""
        plan = FramePlan()
        if not self.bindings:  # nothing bound: nothing to count (bindings only grow)
            return plan
        with self._lock:
            for binding in self.bindings:
                rule = binding.rule
                if rule.action not in ("close", "duplicate") or not binding.covers(task_id, kind):
                    continue
                binding.seen += 1
                if rule.action == "duplicate" and plan.duplicated_by is None:
                    if rule.nth is None or rule.nth == binding.seen:
                        plan.copies, plan.duplicated_by = 2, rule
                elif (
                    rule.action == "close" and plan.close_by is None and binding.seen == rule.after
                ):
                    plan.close_by = rule
        return plan
