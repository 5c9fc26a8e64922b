"""The attacks of issue 18, one registry: each replays one hole against a fresh
``mock-wiro serve`` process on loopback and says whether the fake held.

An attack is a function ``(target: Target) -> Outcome`` registered with :func:`attack`
in one of this package's modules (``control``, ``memory``, ``clock_files``, ``edges``);
``python -m benchmarks.attack`` imports them all, runs each against its own server (an
attack that bricks one server can't spoil the next) and prints one line per attack.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import itertools
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests

from ..loadkit import ServerProcess

__all__ = ["ATTACKS", "Attack", "Outcome", "Target", "attack", "load_all"]


@dataclass
class Outcome:
    """What one attack found: ``held`` (the fake resisted), a one-line ``detail``, and any
    figures worth printing (bytes, seconds, statuses)."""

    held: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


_nonces = itertools.count(int(time.time() * 1000))


@dataclass
class Target:
    """A running ``mock-wiro serve`` and a demo project on it."""

    server: ServerProcess
    api_key: str
    api_secret: str
    session: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return self.server.url

    @property
    def port(self) -> int:
        """The port the fake listens on."""
        return int(self.server.url.rsplit(":", 1)[1])

    def signed(self) -> dict[str, str]:
        """Signature headers for the demo project (a fresh millisecond nonce)."""
        nonce = str(next(_nonces))
        digest = hmac.new(
            self.api_key.encode(), (self.api_secret + nonce).encode(), hashlib.sha256
        ).hexdigest()
        return {"x-api-key": self.api_key, "x-nonce": nonce, "x-signature": digest}

    def rss_kib(self) -> int:
        """The server's resident memory, from /proc."""
        return self.server.sample().rss_kib

    def alive(self) -> bool:
        """The server answers a signed Task/List (and its control surface a health check)."""
        try:
            listed = self.session.post(
                self.url + "/v1/Task/List", headers=self.signed(), json={}, timeout=10
            )
            health = self.session.get(self.url + "/_mock/health", timeout=10)
        except requests.RequestException:
            return False
        return listed.status_code == 200 and health.status_code == 200


@dataclass(frozen=True)
class Attack:
    """One registered attack: its hole number in issue 18, its name and what it does."""

    hole: int
    name: str
    doc: str
    run: Callable[[Target], Outcome]
    args: Sequence[str] = ()
    """Extra ``mock-wiro serve`` arguments the attack needs."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment variables for the server."""


ATTACKS: list[Attack] = []


def attack(
    hole: int, *args: str, env: dict[str, str] | None = None
) -> Callable[[Callable[[Target], Outcome]], Callable[..., Any]]:
    """Register an attack on hole ``hole``, run against ``mock-wiro serve ARGS`` (with
    ``env`` added to its environment)."""

    def register(fn: Callable[[Target], Outcome]) -> Callable[[Target], Outcome]:
        doc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
        ATTACKS.append(Attack(hole, fn.__name__, doc, fn, tuple(args), dict(env or {})))
        return fn

    return register


def load_all() -> list[Attack]:
    """Import every module of this package; every attack, by hole then name."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return sorted(ATTACKS, key=lambda a: (a.hole, a.name))
