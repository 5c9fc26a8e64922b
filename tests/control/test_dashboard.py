"""The dashboard's HTTP side, without a browser: its shell and the admin token, its
endpoints, the control API's cancel and kill, the journal of its actions, and the
feed's bounds (over real HTTP against ``MockWiroServer``)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from hailuo_client import Client
from mock_wiro.control.dashboard import SHELL_HEADERS
from mock_wiro.control.dashboard.feed import MAX_CLIENTS, MAX_DIRTY_TASKS, Feed, FeedFull
from mock_wiro.control.fake import Fake
from mock_wiro.engine.models import Event, Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import image_path
from tests.helpers import REPO
from tests.helpers.client import make_client, no_sleep
from tests.helpers.serve import start_serve

TOKEN = "dashboardToken-7Qx2"


@pytest.fixture(scope="module")
def server() -> Iterator[MockWiroServer]:
    with MockWiroServer(Settings(clock_mode="manual")) as fake:
        yield fake


@pytest.fixture(scope="module")
def project(server: MockWiroServer) -> Project:
    return server.create_project()


@pytest.fixture
def session(server: MockWiroServer) -> requests.Session:
    server.reset()
    s = requests.Session()
    s.trust_env = False
    return s


@pytest.fixture
def client(server: MockWiroServer, project: Project) -> Client:
    return make_client(server, project, sleep=no_sleep, timeout=10.0)


def get(session: requests.Session, server: MockWiroServer, path: str, **kw: Any) -> Any:
    response = session.get(server.url + "/_mock" + path, timeout=10, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_page_is_served_with_its_own_scripts_only_and_never_framed(
    server: MockWiroServer, session: requests.Session
) -> None:
    page = session.get(server.url + "/_mock/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    for name, value in SHELL_HEADERS.items():
        assert page.headers[name] == value
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert '<script src="dashboard/static/app.js">' in page.text
    script = session.get(server.url + "/_mock/dashboard/static/app.js", timeout=10)
    assert script.status_code == 200 and "connectFeed" in script.text
    assert "http://" not in script.text and "https://" not in script.text  # no CDN
    traversal = session.get(server.url + "/_mock/dashboard/static/../../_mock/projects", timeout=10)
    assert traversal.status_code == 404 or "api_secret" not in traversal.text


def test_with_an_admin_token_only_the_shell_is_open() -> None:
    with MockWiroServer(Settings(clock_mode="manual", admin_token=TOKEN)) as guarded:
        s = requests.Session()
        s.trust_env = False
        base = guarded.url + "/_mock"
        assert s.get(base + "/", timeout=10).status_code == 200
        assert s.get(base + "/dashboard/static/app.css", timeout=10).status_code == 200
        for path in (
            "/dashboard/info",
            "/dashboard/tasks",
            "/dashboard/projects",
            "/dashboard/events",
        ):
            assert s.get(base + path, timeout=10).status_code == 401, path
            assert (
                s.get(base + path, headers={"X-Admin-Token": "wrong"}, timeout=10).status_code
                == 401
            )
        # a POST to the shell's paths is not exempt
        assert s.post(base + "/", timeout=10).status_code == 401
        ok = s.get(base + "/dashboard/info", headers={"X-Admin-Token": TOKEN}, timeout=10)
        assert ok.status_code == 200 and ok.json()["admin_token"] is True


def test_cancel_and_kill_go_through_the_engine_and_answer_409_when_refused(
    server: MockWiroServer, session: requests.Session, client: Client
) -> None:
    queued = client.run(image_path("landscape_16x9.jpg"), "p")
    running = client.run(image_path("landscape_16x9.jpg"), "p")
    server.push(str(running.id), "task_start")
    url = server.url + "/_mock/tasks"

    refused = session.post(f"{url}/{running.id}/cancel", timeout=10)
    assert refused.status_code == 409 and "cancellable" in refused.json()["error"]
    assert session.post(f"{url}/{queued.id}/cancel", timeout=10).json()["status"] == "task_cancel"
    killed = session.post(f"{url}/{running.id}/kill", timeout=10)
    assert killed.status_code == 200 and killed.json()["status"] == "task_cancel"
    assert client.detail(running.id).status == "task_cancel"
    again = session.post(f"{url}/{running.id}/kill", timeout=10)
    assert again.status_code == 409 and "was cancelled" in again.json()["error"]
    assert session.post(f"{url}/999999/kill", timeout=10).status_code == 404
    # a cross-site kill is refused by the guard, before the handler
    other = client.run(image_path("landscape_16x9.jpg"), "p")
    cross = session.post(
        f"{url}/{other.id}/kill", headers={"Sec-Fetch-Site": "same-site"}, timeout=10
    )
    assert cross.status_code == 403
    assert client.detail(other.id).status == "task_queue"


def test_the_dashboards_actions_are_journalled(
    server: MockWiroServer, session: requests.Session
) -> None:
    url = server.url + "/_mock/clock/advance"
    session.post(url, json={"seconds": 1}, timeout=10)
    session.post(url, json={"seconds": 2}, headers={"X-Mock-Wiro-Client": "dashboard"}, timeout=10)
    bad = session.post(
        url, json={"seconds": -1}, headers={"X-Mock-Wiro-Client": "dashboard"}, timeout=10
    )
    assert bad.status_code == 400
    entries = get(session, server, "/journal?kind=control")["entries"]
    assert [(e["path"], e["body"], e["status"], e["source"]) for e in entries] == [
        ("/_mock/clock/advance", {"seconds": "2"}, 200, "dashboard"),
        ("/_mock/clock/advance", {"seconds": "-1"}, 400, "dashboard"),  # refused, still shown
    ]


def test_tasks_are_paged_newest_first_and_filtered(
    server: MockWiroServer, session: requests.Session, client: Client, project: Project
) -> None:
    ids = [str(client.run(image_path("landscape_16x9.jpg"), "p").id) for _ in range(5)]
    server.push(ids[0], "task_start")
    first = get(session, server, "/dashboard/tasks?size=2")
    assert first["total"] == 5 and [r["id"] for r in first["rows"]] == ids[::-1][:2]
    last = get(session, server, "/dashboard/tasks?size=2&page=2")
    assert [r["id"] for r in last["rows"]] == [ids[0]]
    row = last["rows"][0]
    assert row["status"] == "task_start" and row["project"] == project.id
    assert set(row) >= {"id", "project", "status", "progress", "created", "elapsed", "cost"}
    active = get(session, server, "/dashboard/tasks?status=task_start")
    assert [r["id"] for r in active["rows"]] == [ids[0]]
    assert get(session, server, "/dashboard/tasks?project=nope")["total"] == 0
    for bad in ("size=0", "size=201", "page=-1", "size=x"):
        response = session.get(server.url + "/_mock/dashboard/tasks?" + bad, timeout=10)
        assert response.status_code == 400 and "error" in response.json(), bad
    projects = get(session, server, "/dashboard/projects")["projects"]
    mine = next(p for p in projects if p["id"] == project.id)
    assert mine["tasks"] == 5 and mine["active"] == 5
    assert mine["concurrency_limit"] == 10 and mine["below_minimum"] is False  # $100


def test_the_feed_streams_a_new_tasks_row(
    server: MockWiroServer, session: requests.Session, client: Client
) -> None:
    with session.get(server.url + "/_mock/dashboard/events", stream=True, timeout=10) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines) == "retry: 1000"
        assert next(lines) == "event: hello"
        task = client.run(image_path("landscape_16x9.jpg"), "p")
        for line in lines:
            if line.startswith("data:") and f'"id":"{task.id}"' in line:
                assert '"status":"task_queue"' in line
                break


def test_the_feed_is_bounded_per_client_and_in_clients() -> None:
    fake = Fake.build(Settings(clock_mode="manual"))
    try:
        feed = Feed(fake)
        clients = [feed.subscribe() for _ in range(MAX_CLIENTS)]
        with pytest.raises(FeedFull):
            feed.subscribe()
        event = Event("task_queue", 0.0, None)
        for n in range(MAX_DIRTY_TASKS + 50):  # a client that never reads
            feed._on_frame(SimpleNamespace(id=str(n)), event)  # type: ignore[arg-type]
        batch = feed.next_batch(clients[0], timeout=0)
        assert batch is not None and batch.resync and batch.tasks == []
        assert all(c.overflow and not c.dirty for c in clients[1:])  # each its own bound
        feed.unsubscribe(clients[0])
        feed.subscribe()  # room again
        feed.close()
        assert feed.next_batch(clients[2], timeout=0) is None
    finally:
        fake.backend.close()


def test_the_banner_prints_the_dashboards_url(tmp_path: Path) -> None:
    served = start_serve(tmp_path, "--clock", "manual")
    try:
        url = served.fields["dashboard"].split()[0]
        assert url == served.control + "/"
        s = requests.Session()
        s.trust_env = False
        page = s.get(url, timeout=10)
        assert page.status_code == 200 and "<title>mock-wiro dashboard</title>" in page.text
    finally:
        assert served.stop() == 0, served.stderr()


def test_the_static_files_ship_in_the_package() -> None:
    static = REPO / "mock_wiro" / "control" / "dashboard" / "static"
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["mock_wiro"]
    files = sorted(p.relative_to(REPO / "mock_wiro").as_posix() for p in static.iterdir())
    assert files == [
        "control/dashboard/static/app.css",
        "control/dashboard/static/app.js",
        "control/dashboard/static/index.html",
    ]
    assert all(any(fnmatch(f, pattern) for pattern in patterns) for f in files), patterns
