"""``callbackUrl`` deliveries, against a real HTTP receiver on loopback.

The receiver is a ``ThreadingHTTPServer`` whose answer is scripted per path
(200, 500, hang until released, ...) and which records every request. Retries
run on the fake clock: nothing here sleeps; time moves with ``backend.advance``
and deliveries are awaited with ``callbacks.wait_for`` or on the receiver's
condition.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from mock_wiro.server import MockWiroServer
from tests.helpers.callbacks import HANG, WAIT, Receiver, delivery, finish, run_with
from tests.helpers.wiro import Wiro, make_server

SEED_CALLBACK = "Optional: Webhook URL for task completion notifications"


@pytest.fixture
def own_server() -> Iterator[Callable[..., tuple[MockWiroServer, Wiro]]]:
    """Start separate fakes with other settings (manual clock); all stopped at teardown."""
    started: list[MockWiroServer] = []

    def start(**settings: Any) -> tuple[MockWiroServer, Wiro]:
        srv = make_server(**{"clock_mode": "manual", **settings}).start()
        started.append(srv)
        return srv, Wiro(srv, srv.backend.create_project())

    try:
        yield start
    finally:
        for srv in started:
            srv.stop()


def refused_url() -> str:
    """A loopback URL nobody listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody"


def detail_response(wiro: Wiro, taskid: str) -> dict[str, Any]:
    return {"total": "1", "errors": [], "tasklist": [wiro.detail(taskid)], "result": True}


# --------------------------------------------------------------------- outcomes
def test_success_posts_the_task_detail_response_once(wiro: Wiro, receiver: Receiver) -> None:
    server, backend = wiro.server, wiro.server.backend
    url = receiver.script("/ok", 200)
    start = backend.clock.now()
    taskid = run_with(wiro, url)
    assert server.callbacks.delivery(taskid) is None  # nothing before the end
    backend.advance(10)
    assert wiro.detail(taskid)["status"] == "task_output"  # generating
    assert server.callbacks.delivery(taskid) is None and receiver.requests == []

    end = backend.advance(200)
    got = finish(server, taskid)
    assert receiver.wait("/ok", 1)
    [request] = receiver.requests
    assert request.method == "POST" and request.path == "/ok"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Mock-Wiro-Attempt"] == "1"
    assert request.headers["User-Agent"].startswith("mock-wiro/")
    body = request.json()
    assert body == detail_response(wiro, taskid)
    task = body["tasklist"][0]
    assert task["status"] == "task_postprocess_end" and task["pexit"] == "0"
    assert task["callbackurl"] == url and task["debugerror"] == ""
    assert len(task["outputs"]) == 1 and task["outputs"][0]["contenttype"] == "video/mp4"

    assert got.state == "delivered" and got.url == url and got.task_id == taskid
    [attempt] = got.attempts
    assert attempt.number == 1 and attempt.status == 200 and attempt.error is None
    assert attempt.ok and attempt.url == url and attempt.duration >= 0
    assert start <= attempt.time <= end and attempt.time == end  # the fake clock, frozen
    # later time and reads bring nothing more
    backend.advance(1000)
    assert wiro.detail(taskid)["status"] == "task_postprocess_end"
    assert len(receiver.requests) == 1 and len(delivery(server, taskid).attempts) == 1


def test_failed_task_posts_its_failure(wiro: Wiro, receiver: Receiver) -> None:
    url = receiver.script("/fail", 200)
    taskid = run_with(wiro, url, image="too_small_short_side.jpg")
    wiro.server.backend.advance(300)
    assert finish(wiro.server, taskid).state == "delivered"
    [request] = receiver.to("/fail")
    body = request.json()
    assert body == detail_response(wiro, taskid)
    task = body["tasklist"][0]
    assert task["status"] == "task_postprocess_end"
    assert task["pexit"] != "0" and task["debugerror"] != "" and task["outputs"] == []


def test_cancelled_task_posts_task_cancel(wiro: Wiro, receiver: Receiver) -> None:
    url = receiver.script("/cancel", 200)
    taskid = run_with(wiro, url)
    wiro.ok("Task/Cancel", json={"taskid": taskid})  # still queued: no time passes
    assert finish(wiro.server, taskid).state == "delivered"
    [request] = receiver.to("/cancel")
    body = request.json()
    assert body == detail_response(wiro, taskid)
    task = body["tasklist"][0]
    assert task["status"] == "task_cancel" and task["pexit"] == "0" and task["outputs"] == []
    wiro.server.backend.advance(300)
    assert len(receiver.requests) == 1


def test_killed_task_posts_task_cancel(wiro: Wiro, receiver: Receiver) -> None:
    url = receiver.script("/kill", 200)
    taskid = run_with(wiro, url)
    wiro.server.backend.advance(10)  # generating
    assert wiro.detail(taskid)["status"] == "task_output"
    wiro.ok("Task/Kill", json={"taskid": taskid})
    assert finish(wiro.server, taskid).state == "delivered"
    [request] = receiver.to("/kill")
    body = request.json()
    assert body == detail_response(wiro, taskid)
    task = body["tasklist"][0]
    assert task["status"] == "task_cancel" and task["pexit"] != "0" and task["outputs"] == []
    wiro.server.backend.advance(300)
    assert len(receiver.requests) == 1


def test_no_callback_url_no_delivery(wiro: Wiro, receiver: Receiver) -> None:
    server = wiro.server
    without = run_with(wiro, None)
    empty = run_with(wiro, "")
    cancelled = run_with(wiro, None)
    wiro.ok("Task/Cancel", json={"taskid": cancelled})
    server.backend.advance(300)
    for taskid in (without, empty):
        assert wiro.detail(taskid)["status"] == "task_postprocess_end"
    for taskid in (without, empty, cancelled):
        assert server.callbacks.delivery(taskid) is None
        listed = requests.get(f"{server.url}/_mock/callbacks?task={taskid}", timeout=10).json()
        assert listed == {"callbacks": []}
    assert server.callbacks.deliveries() == [] and receiver.requests == []


# --------------------------------------------------------------------- retries
def test_500_then_200_retries_on_the_fake_clock(wiro: Wiro, receiver: Receiver) -> None:
    server, backend = wiro.server, wiro.server.backend
    backoff = server.settings.callback_backoff
    url = receiver.script("/flaky", 500, 200)
    taskid = run_with(wiro, url)
    t1 = backend.advance(300)
    first = finish(server, taskid, attempts=1)
    assert first.state == "pending"
    [attempt] = first.attempts
    assert attempt.status == 500 and not attempt.ok and attempt.error is None
    assert attempt.time == t1

    backend.advance(backoff - 0.5)  # not yet due
    assert len(delivery(server, taskid).attempts) == 1 and len(receiver.requests) == 1
    t2 = backend.advance(1.0)  # now past the backoff
    got = finish(server, taskid)
    assert got.state == "delivered"
    assert [a.status for a in got.attempts] == [500, 200]
    assert [a.number for a in got.attempts] == [1, 2]
    # the retry ran at the second advance, not the first
    assert got.attempts[1].time == t2 == pytest.approx(t1 + backoff + 0.5)
    assert [r.headers["X-Mock-Wiro-Attempt"] for r in receiver.to("/flaky")] == ["1", "2"]
    bodies = [r.body for r in receiver.to("/flaky")]
    assert bodies[0] == bodies[1]  # the same body on every attempt
    backend.advance(1000)
    assert len(receiver.requests) == 2


def test_retry_timing_follows_a_configured_backoff(
    own_server: Callable[..., tuple[MockWiroServer, Wiro]], receiver: Receiver
) -> None:
    server, wiro = own_server(callback_backoff=30.0)
    url = receiver.script("/flaky", 500, 200)
    taskid = run_with(wiro, url)
    t1 = server.backend.advance(300)
    finish(server, taskid, attempts=1)
    server.backend.advance(29)
    assert len(delivery(server, taskid).attempts) == 1
    server.backend.advance(2)
    got = finish(server, taskid)
    assert got.state == "delivered" and [a.status for a in got.attempts] == [500, 200]
    assert got.attempts[1].time == pytest.approx(t1 + 31)


def always_500(server: MockWiroServer, wiro: Wiro, receiver: Receiver, attempts: int) -> None:
    backend = server.backend
    backoff = server.settings.callback_backoff
    url = receiver.script("/down", 500)
    taskid = run_with(wiro, url)
    t1 = backend.advance(300)
    expected = [t1]
    for n in range(1, attempts):
        got = finish(server, taskid, attempts=n)
        assert got.state == "pending" and len(got.attempts) == n
        wait = backoff * 2 ** (n - 1)
        if wait > 1:  # a bit short of the backoff: no retry yet
            backend.advance(wait - 1)
            assert len(delivery(server, taskid).attempts) == n
            expected.append(backend.advance(1))
        else:
            expected.append(backend.advance(wait))
    got = finish(server, taskid)
    assert got.state == "failed"
    assert [a.number for a in got.attempts] == list(range(1, attempts + 1))
    assert all(a.status == 500 and not a.ok and a.error is None for a in got.attempts)
    times = [a.time for a in got.attempts]
    assert times == pytest.approx(expected)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([backoff * 2**i for i in range(attempts - 1)])  # doubles
    sent = receiver.to("/down")
    assert [r.headers["X-Mock-Wiro-Attempt"] for r in sent] == [
        str(n) for n in range(1, attempts + 1)
    ]
    backend.advance(10_000)  # no attempt after the last
    assert len(receiver.to("/down")) == attempts
    assert len(delivery(server, taskid).attempts) == attempts
    assert wiro.detail(taskid)["status"] == "task_postprocess_end"  # the task is unaffected


def test_always_500_fails_after_three_attempts(wiro: Wiro, receiver: Receiver) -> None:
    assert wiro.server.settings.callback_attempts == 3
    always_500(wiro.server, wiro, receiver, 3)


def test_always_500_fails_after_configured_attempts(
    own_server: Callable[..., tuple[MockWiroServer, Wiro]], receiver: Receiver
) -> None:
    server, wiro = own_server(callback_attempts=5, callback_backoff=1.5)
    always_500(server, wiro, receiver, 5)


def test_one_attempt_configured_means_no_retry(
    own_server: Callable[..., tuple[MockWiroServer, Wiro]], receiver: Receiver
) -> None:
    server, wiro = own_server(callback_attempts=1)
    taskid = run_with(wiro, receiver.script("/down", 500))
    server.backend.advance(300)
    got = finish(server, taskid)
    assert got.state == "failed" and [a.status for a in got.attempts] == [500]
    server.backend.advance(1000)
    assert len(receiver.requests) == 1


def test_refused_connection_is_recorded_and_retried(wiro: Wiro) -> None:
    server, backend = wiro.server, wiro.server.backend
    url = refused_url()
    taskid = run_with(wiro, url)
    backend.advance(300)
    assert finish(server, taskid, attempts=1).state == "pending"
    backend.advance(server.settings.callback_backoff)
    finish(server, taskid, attempts=2)
    backend.advance(server.settings.callback_backoff * 2)
    got = finish(server, taskid)
    assert got.state == "failed" and len(got.attempts) == server.settings.callback_attempts
    for attempt in got.attempts:
        assert attempt.status is None and not attempt.ok and attempt.url == url
        assert attempt.error is not None and attempt.error.startswith("ConnectionError")
        assert attempt.duration >= 0
    detail = wiro.detail(taskid)
    assert detail["status"] == "task_postprocess_end" and detail["pexit"] == "0"


# --------------------------------------------------------------------- slow receivers
def test_hanging_receiver_times_out(
    own_server: Callable[..., tuple[MockWiroServer, Wiro]], receiver: Receiver
) -> None:
    server, wiro = own_server(callback_timeout=0.5)
    url = receiver.script("/hang", HANG)
    taskid = run_with(wiro, url)
    server.backend.advance(300)
    assert receiver.wait("/hang", 1)
    got = finish(server, taskid, attempts=1)
    [attempt] = got.attempts
    assert attempt.status is None and not attempt.ok
    assert attempt.error is not None and "timeout" in attempt.error.lower()
    assert attempt.error.startswith("ReadTimeout") and "timed out" in attempt.error
    assert attempt.duration >= 0.5
    assert got.state == "pending"  # a retry is due on the fake clock
    detail = wiro.detail(taskid)  # the task is done and unaffected
    assert detail["status"] == "task_postprocess_end" and detail["pexit"] == "0"
    assert len(detail["outputs"]) == 1


def test_hung_receivers_do_not_delay_other_deliveries(
    own_server: Callable[..., tuple[MockWiroServer, Wiro]], receiver: Receiver
) -> None:
    # A long timeout and one attempt: the hung POSTs stay in flight for the whole test
    # (until released), more of them than the dispatcher has worker threads.
    server, wiro = own_server(callback_timeout=60, callback_attempts=1)
    hung = [run_with(wiro, receiver.script(f"/hang{i}", HANG)) for i in range(6)]
    server.backend.advance(300)
    for i in range(6):
        assert receiver.wait(f"/hang{i}", 1)
    healthy = run_with(wiro, receiver.script("/ok", 200))
    wiro.ok("Task/Cancel", json={"taskid": healthy})
    got = finish(server, healthy)
    assert got.state == "delivered" and [a.status for a in got.attempts] == [200]
    assert receiver.to("/ok")[0].json()["tasklist"][0]["status"] == "task_cancel"
    for taskid in hung:  # still hanging
        assert delivery(server, taskid).state == "pending"
        assert delivery(server, taskid).attempts == []
        assert wiro.detail(taskid)["status"] == "task_postprocess_end"
    receiver.release()  # the hung receivers answer 200 now
    for taskid in hung:
        done = finish(server, taskid)
        assert done.state == "delivered" and [a.status for a in done.attempts] == [200]


# --------------------------------------------------------------------- bad URLs
@pytest.mark.parametrize("url", [SEED_CALLBACK, "ftp://x", "http://"])
def test_invalid_callback_url_is_undeliverable(
    wiro: Wiro, callback_posts: list[str], url: str
) -> None:
    server = wiro.server
    posted = callback_posts
    run = wiro.run(callbackUrl=url)  # accepted [A]
    taskid = run["taskid"]
    assert wiro.detail(taskid)["callbackurl"] == url
    end = server.backend.advance(300)
    got = finish(server, taskid)
    assert got.state == "undeliverable" and got.url == url
    [attempt] = got.attempts
    assert attempt.number == 1 and attempt.status is None and not attempt.ok
    assert attempt.error is not None and "invalid callback url" in attempt.error.lower()
    assert attempt.duration == 0 and attempt.time <= end  # the terminal frame's time
    assert posted == []  # no network traffic
    server.backend.advance(1000)
    assert posted == [] and len(delivery(server, taskid).attempts) == 1
    detail = wiro.detail(taskid)  # the task succeeds normally
    assert detail["status"] == "task_postprocess_end" and detail["pexit"] == "0"
    assert len(detail["outputs"]) == 1


# --------------------------------------------------------------------- reading the record
def test_attempts_readable_from_python_and_control_endpoint(wiro: Wiro, receiver: Receiver) -> None:
    server, backend = wiro.server, wiro.server.backend
    url = receiver.script("/flaky", 500, 200)
    taskid = run_with(wiro, url)
    other = run_with(wiro, receiver.script("/other", 200))
    backend.advance(300)
    waited = requests.post(
        f"{server.url}/_mock/callbacks/{taskid}/wait",
        json={"attempts": 1, "timeout": WAIT},
        timeout=WAIT + 5,
    ).json()
    assert waited["reached"] is True
    assert waited["callback"]["state"] == "pending"
    assert [a["status"] for a in waited["callback"]["attempts"]] == [500]

    backend.advance(server.settings.callback_backoff)
    waited = requests.post(
        f"{server.url}/_mock/callbacks/{taskid}/wait", json={"timeout": WAIT}, timeout=WAIT + 5
    ).json()
    assert waited["reached"] is True and waited["callback"]["state"] == "delivered"
    assert finish(server, other).state == "delivered"

    got = delivery(server, taskid)
    listed = requests.get(f"{server.url}/_mock/callbacks?task={taskid}", timeout=10).json()
    [entry] = listed["callbacks"]
    assert entry == got.to_json() == waited["callback"]
    assert entry["task_id"] == taskid and entry["url"] == url and entry["state"] == "delivered"
    assert len(entry["attempts"]) == len(got.attempts) == 2
    for wire, attempt in zip(entry["attempts"], got.attempts, strict=True):
        assert set(wire) == {"number", "time", "url", "status", "error", "duration", "ok"}
        assert wire["number"] == attempt.number
        assert wire["time"] == attempt.time
        assert wire["url"] == attempt.url == url
        assert wire["status"] == attempt.status
        assert wire["error"] == attempt.error
        assert wire["error"] is None
        assert wire["duration"] == pytest.approx(attempt.duration, abs=1e-6)
        assert wire["duration"] >= 0
        assert wire["ok"] is attempt.ok
    assert [a["ok"] for a in entry["attempts"]] == [False, True]

    everything = requests.get(f"{server.url}/_mock/callbacks", timeout=10).json()["callbacks"]
    assert [c["task_id"] for c in everything] == sorted([taskid, other], key=int)
    assert [d.task_id for d in server.callbacks.deliveries()] == [c["task_id"] for c in everything]


def test_control_wait_times_out_without_a_delivery(wiro: Wiro) -> None:
    taskid = run_with(wiro, None)
    waited = requests.post(
        f"{wiro.server.url}/_mock/callbacks/{taskid}/wait", json={"timeout": 0.05}, timeout=10
    ).json()
    assert waited == {"reached": False, "callback": None}


def test_failures_are_readable_from_the_control_endpoint(wiro: Wiro) -> None:
    server = wiro.server
    url = refused_url()
    taskid = run_with(wiro, url)
    server.backend.advance(300)
    finish(server, taskid, attempts=1)
    [entry] = requests.get(f"{server.url}/_mock/callbacks?task={taskid}", timeout=10).json()[
        "callbacks"
    ]
    [wire] = entry["attempts"]
    assert entry["state"] == "pending"
    assert wire["status"] is None and wire["ok"] is False
    assert wire["error"].startswith("ConnectionError")


# --------------------------------------------------------------------- exactly once
def test_exactly_one_delivery_per_task(wiro: Wiro, receiver: Receiver) -> None:
    server, backend = wiro.server, wiro.server.backend
    url = receiver.script("/once", 200)
    taskid = run_with(wiro, url)
    backend.advance(300)
    finish(server, taskid)
    for _ in range(10):
        assert wiro.detail(taskid)["status"] == "task_postprocess_end"
    wiro.ok("Task/List", json={})
    requests.get(f"{server.url}/_mock/tasks/{taskid}", timeout=10).raise_for_status()
    requests.get(f"{server.url}/_mock/tasks", timeout=10).raise_for_status()
    assert wiro.error("Task/Kill", 1, json={"taskid": taskid}).startswith(
        "Task could not be killed"
    )
    wiro.error("Task/Cancel", 1, json={"taskid": taskid})
    backend.advance(1000)
    assert wiro.detail(taskid)["status"] == "task_postprocess_end"

    # a cancelled task, then killed (refused), then cancelled again (refused)
    cancelled = run_with(wiro, url)
    wiro.ok("Task/Cancel", json={"taskid": cancelled})
    wiro.error("Task/Kill", 1, json={"taskid": cancelled})
    wiro.error("Task/Cancel", 1, json={"taskid": cancelled})
    backend.advance(1000)
    finish(server, cancelled)

    # a killed task, killed again (refused)
    killed = run_with(wiro, url)
    backend.advance(10)
    wiro.ok("Task/Kill", json={"taskid": killed})
    wiro.error("Task/Kill", 1, json={"taskid": killed})
    backend.advance(1000)
    finish(server, killed)

    assert receiver.wait("/once", 3)
    ids = [r.json()["tasklist"][0]["id"] for r in receiver.to("/once")]
    assert sorted(ids, key=int) == [taskid, cancelled, killed]
    for tid in (taskid, cancelled, killed):
        assert len(delivery(server, tid).attempts) == 1
        listed = requests.get(f"{server.url}/_mock/callbacks?task={tid}", timeout=10).json()
        assert len(listed["callbacks"]) == 1
    statuses = {
        r.json()["tasklist"][0]["id"]: r.json()["tasklist"][0]["status"] for r in receiver.requests
    }
    assert statuses == {
        taskid: "task_postprocess_end",
        cancelled: "task_cancel",
        killed: "task_cancel",
    }


def test_reset_forgets_deliveries(wiro: Wiro, receiver: Receiver) -> None:
    server = wiro.server
    taskid = run_with(wiro, receiver.script("/r", 200))
    server.backend.advance(300)
    finish(server, taskid)
    requests.post(f"{server.url}/_mock/reset", timeout=10).raise_for_status()
    assert server.callbacks.delivery(taskid) is None and server.callbacks.deliveries() == []
