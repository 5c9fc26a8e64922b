"""Issue 13: callback deliveries survive a restart of ``mock-wiro serve --data-dir``
(stopped with SIGTERM, or killed with SIGKILL). A delivery waiting for its retry is
retried after the restart, with the same body and its attempt numbering going on; a
delivered one is never POSTed again; one whose receiver was down is delivered once it
is up. Real processes over real HTTP, a real loopback receiver, the manual clock."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mock_wiro.engine.backend import Backend
from mock_wiro.engine.params import RunParams
from mock_wiro.engine.sqlite_store import DB_NAME, SCHEMA_VERSION, SqliteStore
from mock_wiro.http.wire import task_detail
from mock_wiro.push.callbacks import CALLBACK_ATTEMPT_HEADER
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from tests.helpers.callbacks import Receiver
from tests.store.durable import Fake

BACKOFF = 2.0  # the default --callback-backoff: attempt 2 is due 2 fake seconds after 1


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


def _restart(fake: Fake, how: str, tmp: Path, data: Path) -> Fake:
    code = fake.stop() if how == "stop" else fake.kill()
    assert code is not None
    return Fake(tmp, data)


def _callback(fake: Fake, taskid: str) -> dict[str, Any]:
    (found,) = fake.control("GET", f"/callbacks?task={taskid}")["callbacks"]
    assert isinstance(found, dict)
    return found


def _wait(fake: Fake, taskid: str, attempts: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"timeout": 30}
    if attempts is not None:
        body["attempts"] = attempts
    waited = fake.control("POST", f"/callbacks/{taskid}/wait", body)
    assert waited["reached"] is True, waited
    callback: dict[str, Any] = waited["callback"]
    return callback


def _statuses(callback: dict[str, Any]) -> list[tuple[int, int | None]]:
    return [(a["number"], a["status"]) for a in callback["attempts"]]


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_delivery_waiting_for_its_retry_is_retried_after_a_restart(
    tmp_path: Path, receiver: Receiver, how: str
) -> None:
    data = tmp_path / "data"
    fake = Fake(tmp_path, data)
    try:
        url = receiver.script("/retry", 500, 200)
        taskid = fake.run(callbackUrl=url)
        fake.finish(taskid)
        before = _wait(fake, taskid, attempts=1)
        assert before["state"] == "pending" and _statuses(before) == [(1, 500)], before
        fake = _restart(fake, how, tmp_path, data)

        after = _callback(fake, taskid)  # kept: still pending, its first attempt listed
        assert after["state"] == "pending" and after["attempts"] == before["attempts"], after
        assert len(receiver.to("/retry")) == 1  # the retry waits for its fake time
        fake.advance(BACKOFF)
        done = _wait(fake, taskid)
        assert done["state"] == "delivered", done
        assert _statuses(done) == [(1, 500), (2, 200)], done
        assert done["attempts"][1]["time"] >= before["attempts"][0]["time"] + BACKOFF
        first, second = receiver.to("/retry")
        assert second.body == first.body  # the same body, kept across the restart
        assert second.json()["tasklist"][0]["id"] == taskid
        assert first.headers[CALLBACK_ATTEMPT_HEADER] == "1"
        assert second.headers[CALLBACK_ATTEMPT_HEADER] == "2"
    finally:
        fake.stop()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_delivered_callback_is_not_sent_again_after_a_restart(
    tmp_path: Path, receiver: Receiver, how: str
) -> None:
    data = tmp_path / "data"
    fake = Fake(tmp_path, data)
    try:
        delivered = fake.run(callbackUrl=receiver.script("/once", 200))
        fake.finish(delivered)
        assert _wait(fake, delivered)["state"] == "delivered"
        # a second task whose delivery waits for its retry: after the restart, once it
        # arrives, anything the restart sent of the first would have too
        pending = fake.run(callbackUrl=receiver.script("/later", 500, 200))
        fake.finish(pending)
        _wait(fake, pending, attempts=1)
        fake = _restart(fake, how, tmp_path, data)

        fake.advance(600)
        assert _wait(fake, pending)["state"] == "delivered"
        assert receiver.wait("/later", 2)
        assert len(receiver.to("/once")) == 1
        kept = _callback(fake, delivered)  # listed, as it was
        assert kept["state"] == "delivered" and _statuses(kept) == [(1, 200)], kept
    finally:
        fake.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Up:
    """A loopback receiver answering 200 on a given port, recording what it gets."""

    def __init__(self, port: int) -> None:
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = threading.Event()
        up = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                up.got.append((self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                up.arrived.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,))
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_a_callback_whose_receiver_was_down_is_delivered_after_a_restart(
    tmp_path: Path, how: str
) -> None:
    data = tmp_path / "data"
    port = _free_port()  # nothing listens there while the task ends
    fake = Fake(tmp_path, data)
    up: _Up | None = None
    try:
        taskid = fake.run(callbackUrl=f"http://127.0.0.1:{port}/down")
        fake.finish(taskid)
        before = _wait(fake, taskid, attempts=1)
        assert before["state"] == "pending", before
        assert _statuses(before) == [(1, None)] and before["attempts"][0]["error"], before
        fake = _restart(fake, how, tmp_path, data)

        up = _Up(port)  # the receiver comes up
        fake.advance(BACKOFF)
        done = _wait(fake, taskid)
        assert done["state"] == "delivered", done
        assert _statuses(done) == [(1, None), (2, 200)], done
        assert up.arrived.wait(30)
        ((path, headers, body),) = up.got
        assert path == "/down" and json.loads(body)["tasklist"][0]["id"] == taskid
        assert headers[CALLBACK_ATTEMPT_HEADER] == "2"
    finally:
        fake.stop()
        if up is not None:
            up.close()


# ---------------------------------------------------------------- in one process
def _params(callback_url: str) -> RunParams:
    return RunParams("https://example.com/a.jpg", "waves", True, "768P", "6", callback_url)


def _kept(data: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(data / DB_NAME) as db:
        rows = db.execute("SELECT task_id, record FROM deliveries").fetchall()
    return {task_id: json.loads(record) for task_id, record in rows}


def test_an_end_kept_before_any_callback_was_made_is_delivered_at_the_next_start(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The pending delivery is written with the frame that ends the task: a backend with
    no dispatcher (as a fake that died just after that commit) leaves it, bodiless, and
    the next start builds its body and delivers it."""
    data = tmp_path / "data"
    url = receiver.script("/late", 200)
    backend = Backend(Settings(clock_mode="manual", data_dir=str(data))).start()
    try:
        task = backend.run(backend.create_project(), _params(url))
        backend.settle()
        backend.advance(600)
        assert backend.wait_for(task, timeout=30)
        assert _kept(data) == {
            task.id: {"url": url, "body": None, "state": "pending", "attempts": []}
        }
    finally:
        backend.close()
    settings = Settings(clock_mode="manual", data_dir=str(data))
    with MockWiroServer(settings) as server:
        assert server.callbacks.wait_for(task.id, timeout=30)
        found = server.callbacks.delivery(task.id)
        assert found is not None and found.state == "delivered", found
        (got,) = receiver.to("/late")
        detail = task_detail(server.task(task.id), server.backend.url_for)
        sent = got.json()["tasklist"][0]
        want = json.loads(json.dumps(detail))
        for item in (sent, want):  # built at this start: the outputs' URLs may name the
            for output in item["outputs"]:  # address it had when it was built
                output["url"] = output["url"].split("/cdn/", 1)[1]
        assert sent == want
        assert _kept(data)[task.id]["state"] == "delivered"
        assert _kept(data)[task.id]["body"] == got.body.decode()


def test_a_reset_forgets_the_kept_deliveries(tmp_path: Path, receiver: Receiver) -> None:
    settings = Settings(clock_mode="manual", data_dir=str(tmp_path / "data"))
    with MockWiroServer(settings) as server:
        project = server.create_project()
        task = server.backend.run(project, _params(receiver.script("/r", 500)))
        server.advance(600)
        assert server.callbacks.wait_for(task.id, attempts=1, timeout=30)
        assert list(_kept(tmp_path / "data")) == [task.id]
        server.reset()
        assert _kept(tmp_path / "data") == {}
    with MockWiroServer(settings) as server:
        assert server.callbacks.deliveries() == []
        server.advance(600)  # nothing is retried
    assert len(receiver.to("/r")) == 1


def test_a_schema_version_1_data_dir_is_migrated(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    SqliteStore(data).close()
    with sqlite3.connect(data / DB_NAME) as db:
        db.execute("DROP TABLE deliveries")
        db.execute("PRAGMA user_version = 1")
    store = SqliteStore(data)
    try:
        assert store.kept_deliveries() == []
    finally:
        store.close()
    with sqlite3.connect(data / DB_NAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0


def test_a_loaded_snapshot_forgets_the_kept_deliveries_and_owes_none(
    tmp_path: Path, receiver: Receiver
) -> None:
    settings = Settings(clock_mode="manual", data_dir=str(tmp_path / "data"))
    snapshot = tmp_path / "seed.snapshot"
    with MockWiroServer(settings) as server:
        project = server.create_project()
        task = server.backend.run(project, _params(receiver.script("/s", 500)))
        server.advance(600)
        assert server.callbacks.wait_for(task.id, attempts=1, timeout=30)
        server.save_snapshot(snapshot)  # an ended task with a callback URL in it
        server.load_snapshot(snapshot)
        assert _kept(tmp_path / "data") == {}
        assert server.callbacks.deliveries() == []
    with MockWiroServer(settings) as server:
        assert server.task(task.id) is not None
        assert server.callbacks.deliveries() == []
        server.advance(600)
    assert _kept(tmp_path / "data") == {}
    assert len(receiver.to("/s")) == 1
