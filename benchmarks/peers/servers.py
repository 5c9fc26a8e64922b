"""The Python servers ``bench_requests`` hammers: WSGI apps for gunicorn, and a werkzeug
runner for the bare Flask baseline (the fake itself runs as ``mock-wiro serve``).

gunicorn (from the repository root)::

    BENCH_API_KEY=k BENCH_API_SECRET=s gunicorn -k gthread --threads 8 \\
        'benchmarks.peers.servers:fake_app()'
    gunicorn -k gthread --threads 8 'benchmarks.peers.servers:bare_app()'

werkzeug, as ``mock-wiro serve`` runs (``make_server(threaded=True)``)::

    python -m benchmarks.peers.servers bare --port 8081
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from flask import Flask

CANNED = Path(__file__).resolve().parent / "wiremock" / "__files" / "task_detail.json"
"""The canned Task/Detail answer every stub serves (WireMock's body file, Prism's example,
the bare Flask endpoint's constant)."""


def canned() -> dict[str, Any]:
    """The canned Task/Detail body."""
    body: dict[str, Any] = json.loads(CANNED.read_text())
    return body


def bare_app() -> Flask:
    """A bare Flask app: ``POST /v1/Task/Detail`` returns a constant (the canned body)."""
    app = Flask("bare")
    app.json.sort_keys = False  # type: ignore[attr-defined]  # as the fake serialises
    body = canned()

    @app.post("/v1/Task/Detail")
    def detail() -> dict[str, Any]:
        return body

    return app


def fake_app() -> Flask:
    """The fake (instant clock) with one project whose credentials come from
    ``BENCH_API_KEY`` / ``BENCH_API_SECRET``: what ``mock-wiro serve --speed 0`` serves,
    as a WSGI app for another server. ``BENCH_CLOCK``, ``BENCH_SPEED`` and ``BENCH_AUTH``
    change the clock mode, speed and the project's auth mode (``bench_servers``' fan-out
    round: manual, 20, apikey)."""
    from mock_wiro.app import create_app
    from mock_wiro.chaos.scenarios import ScenarioBook
    from mock_wiro.engine.backend import Backend
    from mock_wiro.settings import Settings

    settings = Settings(
        clock_mode=os.environ.get("BENCH_CLOCK", "instant"),
        speed=float(os.environ.get("BENCH_SPEED", "1")),
    )
    backend = Backend(settings, scenarios=ScenarioBook())
    backend.create_project(
        os.environ["BENCH_API_KEY"],
        os.environ["BENCH_API_SECRET"],
        auth_mode=os.environ.get("BENCH_AUTH", "signature"),
        balance="1000000",
    )
    app = create_app(backend=backend)
    backend.start()
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="serve a benchmark app with werkzeug")
    parser.add_argument("app", choices=("bare", "fake"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    from werkzeug.serving import make_server

    app = bare_app() if args.app == "bare" else fake_app()
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"  REST:      http://{args.host}:{server.server_port}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
