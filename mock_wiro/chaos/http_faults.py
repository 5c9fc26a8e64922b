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
import math
import random
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any, Literal, cast, get_args

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


class FaultError(ValueError):
    """A bad fault rule (answered 400 by the control surface)."""


@dataclass(eq=False)
class FaultRule:
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
    remaining: int | None = None
    matched: int = 0
    hits: int = 0
    _rng: random.Random | None = field(default=None, repr=False)
    _holds: set[threading.Event] = field(default_factory=set, repr=False)

    @property
    def active(self) -> bool:
        """False once a ``times`` rule is used up."""
        return self.remaining is None or self.remaining > 0

    @property
    def held(self) -> int:
        """Requests this rule is holding right now (``hang``, ``latency``)."""
        return len(self._holds)

    def matches(self, path: str, method: str) -> bool:
        """Whether a request (path, method) is one this rule is about."""
        if self.method is not None and self.method != method.upper():
            return False
        return path == self.path or fnmatchcase(path, self.path)

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
    value = spec[name]
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise FaultError(f"{name!r} must be a number; got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise FaultError(f"{name!r} must be a finite number; got {value!r}") from None
    if not math.isfinite(number):
        raise FaultError(f"{name!r} must be a finite number; got {value!r}")
    return number


def _integer(spec: Mapping[str, Any], name: str, low: int, high: int) -> int:
    number = _number(spec, name)
    if number != int(number) or not low <= number <= high:
        raise FaultError(f"{name!r} must be an integer from {low} to {high}; got {spec[name]!r}")
    return int(number)


def _seconds(spec: Mapping[str, Any], name: str) -> float:
    seconds = _number(spec, name)
    if not 0 < seconds <= MAX_HOLD_SECONDS:
        raise FaultError(
            f"{name!r} must be more than 0 and at most {MAX_HOLD_SECONDS:g} seconds; "
            f"got {spec[name]!r}"
        )
    return seconds


def _string(spec: Mapping[str, Any], name: str) -> str:
    value = spec[name]
    if not isinstance(value, str):
        raise FaultError(f"{name!r} must be a string; got {value!r}")
    return value


def _flag(spec: Mapping[str, Any], name: str) -> bool:
    value = spec.get(name, False)
    if not isinstance(value, bool):
        raise FaultError(f"{name!r} must be true or false; got {value!r}")
    return value


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
            raise FaultError(f"unknown action {action!r}; the actions are {', '.join(ACTIONS)}")
        others = [name for name in given if name != action]
        if others:
            raise FaultError(f"'action' is {action!r} but the rule also gives {others[0]!r}")
        if action == "status" and "status" not in given:
            raise FaultError("a 'status' action needs 'status' (an HTTP status, 400-599)")
        if action == "latency" and "latency" not in given:
            raise FaultError("a 'latency' action needs 'latency' (seconds)")
        return cast(Action, action)
    if len(given) != 1:
        what = "none" if not given else ", ".join(repr(g) for g in given)
        raise FaultError(f"a rule takes exactly one action ({', '.join(ACTIONS)}); got {what}")
    return given[0]


def parse_rule(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check a rule's fields; the keyword arguments of :class:`FaultRule` (less ``id``),
    or :class:`FaultError` naming what is wrong."""
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise FaultError(f"unknown field {unknown[0]!r}; a rule takes {', '.join(sorted(_FIELDS))}")
    if "path" not in spec:
        raise FaultError("'path' is required: an exact path or a glob like '/v1/Task/*'")
    path = _string(spec, "path")
    if not path.startswith("/") or len(path) > _MAX_PATH:
        raise FaultError(f"'path' must start with '/' (at most {_MAX_PATH} characters)")
    if path.startswith("/_mock"):
        raise FaultError("the control surface (/_mock) cannot be faulted")
    method = None
    if spec.get("method") is not None:
        method = _string(spec, "method").upper()
        if not method.isalpha() or len(method) > 16:
            raise FaultError(f"'method' must be an HTTP method like 'POST'; got {method!r}")
    when = spec.get("when", "before")
    if when not in PHASES:
        raise FaultError(f"'when' must be 'before' or 'after'; got {when!r}")
    action = _action(spec)
    rule: dict[str, Any] = {"path": path, "method": method, "when": when, "action": action}

    has_times = spec.get("times") is not None
    has_probability = spec.get("probability") is not None
    if has_times and has_probability:
        raise FaultError("give 'times' or 'probability', not both")
    if has_probability:
        probability = _number(spec, "probability")
        if not 0 <= probability <= 1:
            raise FaultError(f"'probability' must be from 0 to 1; got {spec['probability']!r}")
        seed = spec.get("seed")
        if seed is None:  # a fresh seed, shown in the rule, so a run can be replayed
            seed = random.SystemRandom().randrange(2**32)
        elif isinstance(seed, bool) or not isinstance(seed, int | str):
            raise FaultError(f"'seed' must be an integer or a string; got {seed!r}")
        rule |= {"probability": probability, "seed": seed}
    else:
        if spec.get("seed") is not None:
            raise FaultError("'seed' goes with 'probability'")
        times = _integer(spec, "times", 1, 10**9) if has_times else 1
        rule |= {"times": times, "remaining": times}

    for name in ("status", "retry_after", "message", "latency", "hang"):
        if spec.get(name) is not None and name not in _ACTION_FIELDS[action]:
            raise FaultError(f"{name!r} does not go with a {action!r} fault")
    if action == "status":
        status = _integer(spec, "status", 400, 599)
        retry_after = (
            _integer(spec, "retry_after", 0, 10**6)
            if spec.get("retry_after") is not None
            else DEFAULT_RETRY_AFTER
            if status == 429
            else None
        )
        rule |= {"status": status, "retry_after": retry_after}
        if spec.get("message") is not None:
            message = _string(spec, "message")
            if len(message) > _MAX_MESSAGE:
                raise FaultError(f"'message' must be at most {_MAX_MESSAGE} characters")
            rule["message"] = message
    elif action == "latency":
        rule["seconds"] = _seconds(spec, "latency")
    elif action == "hang":
        hang = spec.get("hang", True)
        rule["seconds"] = MAX_HOLD_SECONDS if hang is True else _seconds(spec, "hang")
    else:
        _flag(spec, action)
    return rule


_ACTION_FIELDS: dict[str, frozenset[str]] = {
    "status": frozenset({"status", "retry_after", "message"}),
    "latency": frozenset({"latency"}),
    "hang": frozenset({"hang"}),
    "reset": frozenset(),
    "malformed": frozenset(),
}


# ------------------------------------------------------------------ the set
class FaultSet:
    """The rules of one fake, thread-safe. Ids (``f1``, ``f2``, ...) never repeat."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drawn: dict[int, threading.Event] = {}  # thread -> its hold, from draw()
        self._rules: list[FaultRule] = []
        self._next_id = 1
        self._closed = False

    def add(self, spec: Mapping[str, Any]) -> FaultRule:
        """A new rule from its fields (see :func:`parse_rule`), tried after the others."""
        fields = parse_rule(spec)
        with self._lock:
            rule = FaultRule(id=f"f{self._next_id}", **fields)
            self._next_id += 1
            if rule.probability is not None:
                rule._rng = random.Random(rule.seed)
            self._rules.append(rule)
            return rule

    def rules(self) -> list[FaultRule]:
        """Every rule, in the order they are tried (used-up ones too)."""
        with self._lock:
            return list(self._rules)

    def get(self, rule_id: str) -> FaultRule | None:
        """A rule by id."""
        with self._lock:
            return next((r for r in self._rules if r.id == rule_id), None)

    def remove(self, rule_id: str) -> bool:
        """Delete a rule (releasing what it holds); False if there is none."""
        with self._lock:
            rule = next((r for r in self._rules if r.id == rule_id), None)
            if rule is None:
                return False
            self._rules.remove(rule)
            self._release_locked(rule)
            return True

    def clear(self) -> None:
        """Delete every rule and release every held request."""
        with self._lock:
            for rule in self._rules:
                self._release_locked(rule)
            self._rules.clear()

    def close(self) -> None:
        """Clear, and hold nothing from now on (the fake is stopping)."""
        with self._lock:
            self._closed = True
        self.clear()

    def release(self, rule_id: str | None = None) -> int:
        """Release the requests held by one rule (or by all): how many were released."""
        with self._lock:
            rules = [r for r in self._rules if rule_id is None or r.id == rule_id]
            return sum(self._release_locked(r) for r in rules)

    @staticmethod
    def _release_locked(rule: FaultRule) -> int:
        for event in rule._holds:
            event.set()
        count = len(rule._holds)
        rule._holds.clear()
        return count

    def draw(self, when: Phase, path: str, method: str) -> FaultRule | None:
        """The rule that fires for this request in this phase, counted as a hit; or None."""
        with self._lock:
            for rule in self._rules:
                if rule.when != when or not rule.active or not rule.matches(path, method):
                    continue
                rule.matched += 1
                if rule._rng is not None:
                    assert rule.probability is not None
                    if not rule._rng.random() < rule.probability:
                        continue
                elif rule.remaining is not None:
                    rule.remaining -= 1
                rule.hits += 1
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
        with self._lock:
            event = self._drawn.pop(threading.get_ident(), None) or threading.Event()
            if self._closed or rule not in self._rules:  # closed, cleared or removed
                event.set()
            else:
                rule._holds.add(event)
        try:
            yield event
        finally:
            with self._lock:
                rule._holds.discard(event)
