"""``python -m benchmarks.attack``: replay issue 18's attacks on the fake, each against a
fresh ``mock-wiro serve`` on loopback, and report each as held or not.

    python -m benchmarks.attack [--only NAME ...] [--json FILE]

Loopback only: every server it starts binds 127.0.0.1, and every receiver it opens does
too. Bounded: each attack sends at most a few hundred requests. Exits 1 if any attack
was not held. The attacks live in :mod:`benchmarks.attacks`, one module per concern.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import traceback
from typing import Any

from .attacks import Outcome, Target, load_all
from .loadkit import ServerProcess


def _demo_project(server: ServerProcess) -> tuple[str, str]:
    text = server.log_path.read_text("utf-8", "replace")
    key = re.search(r"API key:\s+(\S+)", text)
    secret = re.search(r"secret:\s+(\S+)", text)
    assert key and secret, text
    return key.group(1), secret.group(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attack", description=__doc__)
    parser.add_argument("--only", nargs="*", default=None, help="attack names to run")
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)
    attacks = [a for a in load_all() if not args.only or a.name in args.only]
    rows: list[dict[str, Any]] = []
    print(f"{'hole':>4}  {'attack':<34} {'held':<5} {'secs':>6}  detail")
    for item in attacks:
        started = time.perf_counter()
        with ServerProcess(speed=20.0, extra=item.args, env=item.env or None) as server:
            key, secret = _demo_project(server)
            target = Target(server, key, secret)
            try:
                outcome = item.run(target)
            except Exception as exc:  # an attack that crashes did not show the hole held
                outcome = Outcome(False, f"attack raised {exc!r}")
                traceback.print_exc()
            finally:
                target.session.close()
        seconds = time.perf_counter() - started
        mark = "yes" if outcome.held else "NO"
        print(f"{item.hole:>4}  {item.name:<34} {mark:<5} {seconds:6.1f}  {outcome.detail}")
        rows.append(
            {
                "hole": item.hole,
                "attack": item.name,
                "doc": item.doc,
                "held": outcome.held,
                "seconds": round(seconds, 2),
                "detail": outcome.detail,
                **({"figures": outcome.figures} if outcome.figures else {}),
            }
        )
    held = sum(r["held"] for r in rows)
    print(f"\n{held} of {len(rows)} attacks held")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=2)
    return 0 if held == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
