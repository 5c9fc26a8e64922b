"""HTTP fault rules: what to break, on which requests, how often. State and matching
only; :mod:`mock_wiro.control.faults` applies them to requests and serves ``/_mock/faults``.

A rule is data::

    {"path": "/v1/Task/*", "method": "POST", "when": "before",
     "times": 2,                       # the next 2 matching requests ...
     # or "probability": 0.3, "seed": 7  # ... or each with p = 0.3, reproducibly
     "status": 429, "retry_after": 2}   # the action

Actions (exactly one): ``status`` (an HTTP error with the API's envelope),
``latency`` (seconds added), ``hang`` (held until released, at most
:data:`MAX_HOLD_SECONDS`), ``reset`` (the connection is dropped with no response),
``malformed`` (a 200 whose JSON body is cut short).

``when``: ``before`` (the handler never runs) or ``after`` (the handler runs, its
work is done, then its response is replaced, delayed or lost).

Matching: ``path`` is an exact path or a glob (``fnmatch``: ``*`` also matches ``/``);
``method`` (optional) is compared upper-cased. Rules are tried in creation order,
per phase; the first that matches and fires applies, and a request gets at most one
fault per phase (none after the handler if one answered before it). A ``times`` rule
fires on each of its next N matching requests; a ``probability`` rule draws
``rng.random() < probability`` from its own ``random.Random(seed)`` on each request
that reaches it, so a seed gives the same hit/miss sequence every time.
"""

from __future__ import annotations

import contextlib
import http
import random
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Literal, cast, get_args

from . import spec as check
from .rules import Countdown, Counted, RuleBook, Verdict
from .spec import SpecError

__all__ = [
    "ACTIONS",
    "MAX_HOLD_SECONDS",
    "PHASES",
    "Action",
    "FaultError",
    "FaultRule",
    "FaultSet",
    "Phase",
    "parse_rule",
]

Action = Literal["status", "latency", "hang", "reset", "malformed"]
Phase = Literal["before", "after"]
ACTIONS: tuple[Action, ...] = get_args(Action)
PHASES: tuple[Phase, ...] = get_args(Phase)

MAX_HOLD_SECONDS = 300.0
"""The longest a ``hang`` holds a request (its default) and the largest ``latency``."""
DEFAULT_RETRY_AFTER = 1
"""``Retry-After`` (seconds) of a 429 when the rule names none."""
_FIELDS = frozenset(
    {"path", "method", "when", "times", "probability", "seed", "action", "status"}
    | {"retry_after", "message", "latency", "hang", "reset", "malformed"}
)
_MAX_PATH = 2048
_MAX_MESSAGE = 1000

FaultError = SpecError
"""A bad fault rule (answered 400 by the control surface): the package's SpecError."""


@dataclass(eq=False)
class FaultRule(Counted):
    """One rule and its counters (``matched``: requests it drew for; ``hits``: applied)."""

    id: str
    path: str
    method: str | None
    when: Phase
    action: Action
    times: int | None = None
    probability: float | None = None
    seed: int | str | None = None
    status: int | None = None
    retry_after: int | None = None
    message: str | None = None
    seconds: float | None = None  # latency, or a hang's longest hold
    countdown: Countdown = field(default_factory=Countdown, repr=False)
    _rng: random.Random | None = field(default=None, repr=False)
    _holds: set[threading.Event] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        self.countdown.remaining = self.times if self.probability is None else None

    @property
    def remaining(self) -> int | None:
        """What is left of ``times`` (None: a ``probability`` rule)."""
        return self.countdown.remaining

    @property
    def held(self) -> int:
        """Requests this rule is holding right now (``hang``, ``latency``)."""
        return len(self._holds)

    def matches(self, path: str, method: str) -> bool:
        """Whether a request (path, method) is one this rule is about."""
        return self.verdict(path, method)[0]

    def verdict(self, path: str, method: str, when: Phase | None = None) -> Verdict:
        """``(True, "")`` if a request (path, method; in phase ``when``, if given) is one
        this rule is about, else ``(False, why not)``."""
        if self.method is not None and self.method != method.upper():
            return False, f"method {method.upper()} is not {self.method}"
        if not (path == self.path or fnmatchcase(path, self.path)):
            return False, f"path {path!r} does not match {self.path!r}"
        if when is not None and when != self.when:
            return False, f"it applies {self.when} the handler, not {when}"
        return True, ""

    def error_message(self) -> str:
        """The error envelope's message for a ``status`` fault."""
        if self.message is not None:
            return self.message
        status = self.status or 500
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return f"Injected fault {self.id} (mock-wiro HTTP fault): {status} {phrase}"

    def to_json(self) -> dict[str, Any]:
        """The rule as the control surface shows it."""
        found: dict[str, Any] = {
            "id": self.id,
            "path": self.path,
            "method": self.method,
            "when": self.when,
            "action": self.action,
        }
        if self.action == "status":
            found |= {"status": self.status, "retry_after": self.retry_after}
            found["message"] = self.error_message()
        elif self.action == "latency":
            found["latency"] = self.seconds
        elif self.action == "hang":
            found["hang"] = self.seconds
        if self.probability is not None:
            found |= {"probability": self.probability, "seed": self.seed}
        else:
            found |= {"times": self.times, "remaining": self.remaining}
        found |= {
            "matched": self.matched,
            "hits": self.hits,
            "held": self.held,
            "active": self.active,
        }
        return found


# ------------------------------------------------------------------ parsing
def _number(spec: Mapping[str, Any], name: str) -> float:
    return check.number(spec[name], check.field(name))


def _integer(spec: Mapping[str, Any], name: str, low: int, high: int) -> int:
    return check.integer(spec[name], check.field(name), low, high, number_first=True)


def _seconds(spec: Mapping[str, Any], name: str) -> float:
    _number(spec, name)
    return check.seconds(spec[name], check.field(name), MAX_HOLD_SECONDS)


def _string(spec: Mapping[str, Any], name: str) -> str:
    found = check.optional_string(spec[name], check.field(name))
    if found is None:
        raise SpecError(f"{name!r} must be a string; got None")
    return found


def _action(spec: Mapping[str, Any]) -> Action:
    """The one action a rule names: by ``action``, or by its own key."""
    given: list[Action] = [
        name
        for name in ACTIONS
        if name in spec
        and spec[name] is not None
        and spec[name] is not False  # "reset": false names no action
    ]
    if "action" in spec:
        action = spec["action"]
        if action not in ACTIONS:
            raise SpecError(f"unknown action {action!r}; the actions are {', '.join(ACTIONS)}")
        others = [name for name in given if name != action]
        if others:
            raise SpecError(f"'action' is {action!r} but the rule also gives {others[0]!r}")
        if action == "status" and "status" not in given:
            raise SpecError("a 'status' action needs 'status' (an HTTP status, 400-599)")
        if action == "latency" and "latency" not in given:
            raise SpecError("a 'latency' action needs 'latency' (seconds)")
        return cast(Action, action)
    if len(given) != 1:
        what = "none" if not given else ", ".join(repr(g) for g in given)
        raise SpecError(f"a rule takes exactly one action ({', '.join(ACTIONS)}); got {what}")
    return given[0]


def parse_rule(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a rule's fields; the keyword arguments of :class:`FaultRule` (less ``id``),
    or :class:`FaultError` naming what is wrong.

    The checks run in a fixed order (fields, where, action, how often, the action's
    own fields), so a spec with several faults is always told the same first one."""
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise SpecError(f"unknown field {unknown[0]!r}; a rule takes {', '.join(sorted(_FIELDS))}")
    rule = _parse_target(spec)
    action = _action(spec)
    rule["action"] = action
    rule |= _parse_frequency(spec)
    rule |= _parse_action_fields(spec, action)
    return rule


def _parse_target(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``path``, ``method`` and ``when``: which requests, and at which phase."""
    if "path" not in spec:
        raise SpecError("'path' is required: an exact path or a glob like '/v1/Task/*'")
    path = _string(spec, "path")
    if not path.startswith("/") or len(path) > _MAX_PATH:
        raise SpecError(f"'path' must start with '/' (at most {_MAX_PATH} characters)")
    if path.startswith("/_mock"):
        raise SpecError("the control surface (/_mock) cannot be faulted")
    method = None
    if spec.get("method") is not None:
        method = _string(spec, "method").upper()
        if not method.isalpha() or len(method) > 16:
            raise SpecError(f"'method' must be an HTTP method like 'POST'; got {method!r}")
    when = spec.get("when", "before")
    if when not in PHASES:
        raise SpecError(f"'when' must be 'before' or 'after'; got {when!r}")
    return {"path": path, "method": method, "when": when}


def _parse_frequency(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``times`` (default 1), or ``probability`` with its ``seed`` (a fresh one if none)."""
    has_times = spec.get("times") is not None
    has_probability = spec.get("probability") is not None
    if has_times and has_probability:
        raise SpecError("give 'times' or 'probability', not both")
    if has_probability:
        probability = _number(spec, "probability")
        if not 0 <= probability <= 1:
            raise SpecError(f"'probability' must be from 0 to 1; got {spec['probability']!r}")
        seed = spec.get("seed")
        if seed is None:  # a fresh seed, shown in the rule, so a run can be replayed
            seed = random.SystemRandom().randrange(2**32)
        elif isinstance(seed, bool) or not isinstance(seed, int | str):
            raise SpecError(f"'seed' must be an integer or a string; got {seed!r}")
        return {"probability": probability, "seed": seed}
    if spec.get("seed") is not None:
        raise SpecError("'seed' goes with 'probability'")
    return {"times": _integer(spec, "times", 1, 10**9) if has_times else 1}


def _parse_action_fields(spec: Mapping[str, Any], action: Action) -> dict[str, Any]:
    """The fields of the rule's one action; another action's field is an error."""
    for name in ("status", "retry_after", "message", "latency", "hang"):
        if spec.get(name) is not None and name not in _ACTION_FIELDS[action]:
            raise SpecError(f"{name!r} does not go with a {action!r} fault")
    if action == "status":
        return _parse_status(spec)
    if action == "latency":
        return {"seconds": _seconds(spec, "latency")}
    if action == "hang":
        hang = spec.get("hang", True)
        return {"seconds": MAX_HOLD_SECONDS if hang is True else _seconds(spec, "hang")}
    check.flag(spec.get(action, False), check.field(action))
    return {}


def _parse_status(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A ``status`` action: the status, its ``retry_after`` and an optional ``message``."""
    status = _integer(spec, "status", 400, 599)
    retry_after = (
        _integer(spec, "retry_after", 0, 10**6)
        if spec.get("retry_after") is not None
        else DEFAULT_RETRY_AFTER
        if status == 429
        else None
    )
    found: dict[str, Any] = {"status": status, "retry_after": retry_after}
    if spec.get("message") is not None:
        message = _string(spec, "message")
        if len(message) > _MAX_MESSAGE:
            raise SpecError(f"'message' must be at most {_MAX_MESSAGE} characters")
        found["message"] = message
    return found


_ACTION_FIELDS: dict[str, frozenset[str]] = {
    "status": frozenset({"status", "retry_after", "message"}),
    "latency": frozenset({"latency"}),
    "hang": frozenset({"hang"}),
    "reset": frozenset(),
    "malformed": frozenset(),
}


# ------------------------------------------------------------------ the set
class FaultSet(RuleBook[FaultRule]):
    """The rules of one fake, thread-safe. Ids (``f1``, ``f2``, ...) never repeat."""

    def __init__(self) -> None:
        super().__init__("f")
        self._drawn: dict[int, threading.Event] = {}  # thread -> its hold, from draw()
        self._closed = False

    def add(self, spec: Mapping[str, Any]) -> FaultRule:  # type: ignore[override]
        """A new rule from its fields (see :func:`parse_rule`), tried after the others."""
        fields = parse_rule(spec)
        with self.lock:
            rule = FaultRule(id=self.next_id(), **fields)
            if rule.probability is not None:
                rule._rng = random.Random(rule.seed)
            return super().add(rule, rule.countdown)

    def close(self) -> None:
        """Clear, and hold nothing from now on (the fake is stopping)."""
        with self.lock:
            self._closed = True
        self.clear()

    def release(self, rule_id: str | None = None) -> int:
        """Release the requests held by one rule (or by all): how many were released."""
        with self.lock:
            rules = [r for r in self.rules() if rule_id is None or r.id == rule_id]
            return sum(self._release_locked(r) for r in rules)

    def _forget(self, rule: FaultRule) -> None:
        self._release_locked(rule)

    @staticmethod
    def _release_locked(rule: FaultRule) -> int:
        for event in rule._holds:
            event.set()
        count = len(rule._holds)
        rule._holds.clear()
        return count

    def explain_request(
        self, path: str, method: str, when: Phase | None = None
    ) -> list[dict[str, Any]]:
        """Every rule with whether a request (path, method; ``when``: one phase) would
        match it and why not. A ``probability`` rule that matches may still not fire."""
        return self.explain(lambda rule: rule.verdict(path, method, when))

    def draw(self, when: Phase, path: str, method: str) -> FaultRule | None:
        """The rule that fires for this request in this phase, counted as a hit; or None."""
        with self.lock:
            for rule, countdown in self.active():
                if rule.when != when or not rule.matches(path, method):
                    continue
                countdown.matched += 1
                if rule._rng is not None:
                    assert rule.probability is not None
                    if not rule._rng.random() < rule.probability:
                        continue
                countdown.spend()
                if rule.action in ("hang", "latency"):
                    # registered as held at once, under this lock: a release arriving
                    # before the request starts waiting is not missed
                    event = threading.Event()
                    rule._holds.add(event)
                    self._drawn[threading.get_ident()] = event
                return rule
            return None

    @contextlib.contextmanager
    def holding(self, rule: FaultRule) -> Iterator[threading.Event]:
        """An event set when the rule (or every rule) is released, registered as held
        for the duration of the ``with`` block. Already set once the set is closed."""
        with self.lock:
            event = self._drawn.pop(threading.get_ident(), None) or threading.Event()
            if self._closed or rule not in self:  # closed, cleared or removed
                event.set()
            else:
                rule._holds.add(event)
        try:
            yield event
        finally:
            with self.lock:
                rule._holds.discard(event)
