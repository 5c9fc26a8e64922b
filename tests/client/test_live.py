"""hailuo_client against the running fake over real HTTP and a real WebSocket on loopback.

Deterministic by construction: the fake's clock is manual and moves only when a test
(or a client ``sleep`` hook, where polling is involved) advances it. A socket wait runs
in a worker thread; the test thread waits on the fake's journal until the socket has
registered the task (its replayed ``task_queue`` frame went out) *and* the client's
Task/Detail look after registering has been answered, and only then moves the clock.
Nothing sleeps on the wall clock; every wait is bounded.
"""

from __future__ import annotations

import gc
import itertools
import random
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

from hailuo_client import (
    APIError,
    Client,
    DownloadError,
    Event,
    NotFoundError,
    RetryPolicy,
    RunOutcomeUnknown,
    Status,
    Task,
    TaskCancelled,
    TaskFailed,
    TransportError,
)
from mock_wiro.engine.journal import Entry
from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro_fixtures import image_bytes, image_path
from tests.helpers.client import make_client

IMAGE = "landscape_16x9.jpg"
FINISH = 300.0
"""Fake seconds after which any default task has ended (a 768P 6 s video takes ~52)."""
WAIT = 20.0
"""Real seconds: the client's own deadline in a worker thread (it then gives up by itself)."""
BOUND = 30.0
"""Real seconds: the most any future or journal wait may take before the test fails."""
DETAIL = "/v1/Task/Detail"

SUCCESS_STEPS = [
    Status.QUEUE,
    Status.ACCEPT,
    Status.PREPROCESS_START,
    Status.PREPROCESS_END,
    Status.ASSIGN,
    Status.START,
    Status.OUTPUT,
    Status.OUTPUT_FULL,
    Status.END,
    Status.POSTPROCESS_START,
    Status.POSTPROCESS_END,
]
"""The success lifecycle as on_event should see it, runs of ``task_output`` collapsed."""

_T = TypeVar("_T")

UNCLOSED_SOCKET = "unclosed <socket"


def collect_quietly() -> None:
    """Collect garbage now, ignoring leaked sockets' ResourceWarnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


# ------------------------------------------------------------------ helpers
class Sleeps:
    """A client ``sleep`` hook: records each delay, and advances the fake clock by it
    (``advance=True``, for polling) or returns at once (for socket reconnects)."""

    def __init__(self, fake: MockWiroServer, *, advance: bool) -> None:
        self.fake = fake
        self.advance = advance
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.advance:
            self.fake.advance(seconds)


class Clients:
    """Builds clients for the project on the fake; closes them all at teardown."""

    def __init__(self, fake: MockWiroServer, project: Project) -> None:
        self.fake = fake
        self.project = project
        self.made: list[Client] = []

    def __call__(self, sleep: Callable[[float], object] | None = None, **kwargs: Any) -> Client:
        client = make_client(
            self.fake,
            self.project,
            sleep=sleep if sleep is not None else Sleeps(self.fake, advance=True),
            rng=random.Random(1234),
            timeout=10.0,
            **kwargs,
        )
        self.made.append(client)
        return client

    def close(self) -> None:
        for client in self.made:
            client.close()


@pytest.fixture
def clients(mock_wiro: MockWiroServer, mock_wiro_project: Project) -> Iterator[Clients]:
    made = Clients(mock_wiro, mock_wiro_project)
    yield made
    made.close()
    mock_wiro.clear_faults()
    mock_wiro.clear_push_faults()
    mock_wiro.clear_scenarios()


@pytest.fixture
def client(clients: Clients) -> Client:
    """A client whose sleeps advance the fake clock (polling moves the task on)."""
    return clients()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Worker threads for blocking socket waits; never waited for at teardown (a wait
    left behind by a failed test ends by its own ``WAIT`` deadline)."""
    executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="live-wait")
    yield executor
    executor.shutdown(wait=False, cancel_futures=True)


class Nth:
    """A journal predicate true at the ``n``-th entry matching ``match`` (the journal
    shows each entry to a waiting predicate once, in order)."""

    def __init__(self, n: int, match: Callable[[Entry], bool]) -> None:
        self.n = n
        self.match = match
        self.seen = 0

    def __call__(self, entry: Entry) -> bool:
        if self.match(entry):
            self.seen += 1
        return self.seen >= self.n


def is_request(entry: Entry, path: str) -> bool:
    return entry.kind == "request" and entry.get("path") == path


def registered(
    fake: MockWiroServer, task_id: str, *, since: int, details: int, not_on: int | None = None
) -> Entry:
    """Block until a socket connection (other than ``not_on``) has registered the task and
    the ``details``-th Task/Detail since ``since`` has been answered (the journal records a
    request once its answer is made, so that answer predates any later ``advance``).
    Returns the registration's replayed ``task_queue`` frame entry."""

    def first_frame(entry: Entry) -> bool:
        return (
            entry.seq > since
            and entry.kind == "frame"
            and entry.get("task") == task_id
            and entry.get("type") == "task_queue"
            and entry.get("connection") != not_on
        )

    frame = fake.wait_for(first_frame, timeout=BOUND)
    fake.wait_for(Nth(details, lambda e: e.seq > since and is_request(e, DETAIL)), timeout=BOUND)
    return frame


def collapse(statuses: list[Status]) -> list[Status]:
    """Statuses with runs of one repeated status collapsed (``task_output`` comes many times)."""
    out: list[Status] = []
    for status in statuses:
        if not out or out[-1] is not status:
            out.append(status)
    return out


def lifecycle_statuses(events: list[Event]) -> list[Status]:
    """The statuses delivered that are not repeating ones (progress/log lines)."""
    return [e.status for e in events if e.status not in (Status.OUTPUT, Status.ERROR)]


def percentages(events: list[Event]) -> list[float]:
    return [
        e.progress.percentage
        for e in events
        if e.progress is not None and e.progress.percentage is not None
    ]


def result(future: Future[_T]) -> _T:
    return future.result(timeout=BOUND)


def socket_faults_applied(fake: MockWiroServer, task_id: str, action: str) -> list[Entry]:
    return fake.journal.entries(
        "fault",
        task=task_id,
        where=lambda e: (
            e.get("channel") == "socket"
            and e.get("phase") == "applied"
            and e.get("action") == action
        ),
    )


def connections_registered(fake: MockWiroServer, task_id: str) -> list[int]:
    """Connection ids that registered the task, in order (each got a replayed task_queue)."""
    frames = fake.journal.entries(
        "frame", task=task_id, where=lambda e: e.get("type") == "task_queue"
    )
    return [int(e.get("connection")) for e in frames if not e.get("duplicate")]


# ------------------------------------------------------------------ 1-3: outcomes
def test_success_via_socket_delivers_the_lifecycle_in_order(
    mock_wiro: MockWiroServer, client: Client, pool: ThreadPoolExecutor
) -> None:
    task = client.run(image_path(IMAGE), "a calm sea")
    events: list[Event] = []
    since = mock_wiro.journal.last_seq
    future = pool.submit(client.wait, task, WAIT, via="socket", on_event=events.append)
    registered(mock_wiro, str(task.id), since=since, details=1)
    mock_wiro.advance(FINISH)
    done = result(future)

    assert done.succeeded and done.id == task.id and done.status is Status.POSTPROCESS_END
    assert done.video is not None and done.video.size > 0
    assert {e.source for e in events} == {"socket"}
    assert {e.task_id for e in events} == {task.id}
    statuses = [e.status for e in events]
    assert collapse(statuses) == SUCCESS_STEPS
    once = lifecycle_statuses(events)
    assert len(once) == len(set(once)), once
    progress = percentages(events)
    assert progress and progress[-1] == 100.0
    assert all(a < b for a, b in itertools.pairwise(progress)), progress
    # the socket, not polling, carried the task: one Detail after registering, one to confirm
    assert len(mock_wiro.journal.entries("request", since=since, path=DETAIL)) == 2
    assert len(connections_registered(mock_wiro, str(task.id))) == 1


def test_success_via_polling(mock_wiro: MockWiroServer, clients: Clients) -> None:
    sleeps = Sleeps(mock_wiro, advance=True)
    client = clients(sleeps)
    task = client.run(image_path(IMAGE), "a calm sea")
    events: list[Event] = []
    done = client.wait(task, WAIT, via="poll", on_event=events.append)
    assert done.succeeded and done.video is not None and done.video.contenttype == "video/mp4"
    assert {e.source for e in events} == {"poll"}
    assert events[0].status is Status.QUEUE and events[-1].status is Status.POSTPROCESS_END
    once = lifecycle_statuses(events)
    assert len(once) == len(set(once))
    assert sleeps.delays[:4] == [1.0, 2.0, 4.0, 8.0]  # exponential backoff from poll_interval
    assert not mock_wiro.journal.entries("frame", task=str(task.id))  # no socket at all


@pytest.mark.parametrize("how", ["bad_image", "scenario"])
def test_failure_via_socket_raises_task_failed(
    mock_wiro: MockWiroServer, client: Client, pool: ThreadPoolExecutor, how: str
) -> None:
    if how == "bad_image":
        task = client.run(image_path("too_wide_3x1.jpg"), "p", check=False)
        cause, pexit = "aspect_ratio", None
    else:
        mock_wiro.add_scenario(
            prompt_contains="[[die]]", fail_at="task_start", pexit="137", debugerror="worker OOM"
        )
        task = client.run(image_path(IMAGE), "a cat [[die]]")
        cause, pexit = "worker OOM", 137
    events: list[Event] = []
    since = mock_wiro.journal.last_seq
    future = pool.submit(client.wait, task, WAIT, via="socket", on_event=events.append)
    registered(mock_wiro, str(task.id), since=since, details=1)
    mock_wiro.advance(FINISH)
    with pytest.raises(TaskFailed) as info:
        result(future)

    failed = info.value.task
    assert failed.id == task.id and failed.status is Status.POSTPROCESS_END
    assert failed.pexit is not None and failed.pexit != 0 and not failed.succeeded
    assert pexit is None or failed.pexit == pexit
    assert cause in failed.debugerror and info.value.debugerror == failed.debugerror
    assert failed.outputs == ()
    errors = [e for e in events if e.status is Status.ERROR]
    assert errors and all(e.source == "socket" for e in errors)
    assert any(cause in str(e.message) for e in errors)
    assert events[-1].status is Status.POSTPROCESS_END
    assert Status.ERROR_FULL in [e.status for e in events]


# ------------------------------------------------------------------ 4: cancel and kill
def test_cancel_while_queued_ends_a_socket_wait(
    mock_wiro: MockWiroServer, client: Client, pool: ThreadPoolExecutor
) -> None:
    mock_wiro.add_scenario(times=1, stay_queued=True)
    task = client.run(image_path(IMAGE), "p")
    events: list[Event] = []
    since = mock_wiro.journal.last_seq
    future = pool.submit(client.wait, task, WAIT, via="socket", on_event=events.append)
    registered(mock_wiro, str(task.id), since=since, details=1)
    mock_wiro.advance(600)  # held in the queue however long it waits
    assert mock_wiro.task(str(task.id)).status == "task_queue"
    assert not future.done()

    cancelled = client.cancel(task)
    assert cancelled.status is Status.CANCEL
    with pytest.raises(TaskCancelled) as info:
        result(future)
    assert info.value.task.id == task.id and info.value.task.cancelled
    assert [e.status for e in events] == [Status.QUEUE, Status.CANCEL]
    assert events[-1].source == "socket"


def test_kill_while_running_ends_a_socket_wait(
    mock_wiro: MockWiroServer, client: Client, pool: ThreadPoolExecutor
) -> None:
    task = client.run(image_path(IMAGE), "p")
    events: list[Event] = []
    since = mock_wiro.journal.last_seq
    future = pool.submit(client.wait, task, WAIT, via="socket", on_event=events.append)
    registered(mock_wiro, str(task.id), since=since, details=1)
    mock_wiro.advance(15)  # generating
    assert mock_wiro.task(str(task.id)).status == "task_output"

    assert client.kill(task).status is Status.CANCEL
    with pytest.raises(TaskCancelled) as info:
        result(future)
    assert info.value.task.status is Status.CANCEL and info.value.task.outputs == ()
    statuses = collapse([e.status for e in events])
    assert statuses == [*SUCCESS_STEPS[: SUCCESS_STEPS.index(Status.OUTPUT) + 1], Status.CANCEL]


# ------------------------------------------------------------------ 5: socket trouble
def test_socket_dropped_mid_task_reconnects_and_replays(
    mock_wiro: MockWiroServer, clients: Clients, pool: ThreadPoolExecutor
) -> None:
    sleeps = Sleeps(mock_wiro, advance=False)
    client = clients(sleeps)
    task = client.run(image_path(IMAGE), "p")
    tid = str(task.id)
    mock_wiro.add_socket_fault("close", task=tid, after=8, code=1011, reason="worker restarted")
    events: list[Event] = []
    since = mock_wiro.journal.last_seq
    future = pool.submit(client.wait, task, WAIT, via="auto", on_event=events.append)
    first = registered(mock_wiro, tid, since=since, details=1)
    # 9 frames are due by then (through 20 %); the connection drops after the 8th (10 %)
    mock_wiro.advance(20)
    # Detail 2 is the look after the drop, Detail 3 the one after re-registering
    registered(mock_wiro, tid, since=since, details=3, not_on=first.get("connection"))
    assert not future.done()
    mock_wiro.advance(FINISH)
    done = result(future)

    assert done.succeeded and done.id == task.id
    assert len(socket_faults_applied(mock_wiro, tid, "close")) == 1
    assert len(connections_registered(mock_wiro, tid)) == 2  # the drop, then one reconnect
    assert len(sleeps.delays) == 1
    # the replay repeated the first 8 frames: none reached on_event twice
    once = lifecycle_statuses(events)
    assert len(once) == len(set(once)), once
    assert collapse([e.status for e in events]) == SUCCESS_STEPS
    assert percentages(events) == [float(p) for p in range(10, 101, 10)]
    assert {e.source for e in events} == {"socket"}


def test_unreachable_socket_falls_back_to_polling_with_auto(
    mock_wiro: MockWiroServer, clients: Clients, pool: ThreadPoolExecutor
) -> None:
    sleeps = Sleeps(mock_wiro, advance=True)
    client = clients(sleeps, socket_url="ws://127.0.0.1:1/v1", retry=RetryPolicy(attempts=3))
    task = client.run(image_path(IMAGE), "p")
    events: list[Event] = []
    done = result(pool.submit(client.wait, task, WAIT, via="auto", on_event=events.append))
    assert done.succeeded and done.id == task.id
    assert {e.source for e in events} == {"poll"}
    assert events[-1].status is Status.POSTPROCESS_END
    assert not mock_wiro.journal.entries("frame", task=str(task.id))


def test_unreachable_socket_is_a_transport_error_with_socket(
    mock_wiro: MockWiroServer, clients: Clients, pool: ThreadPoolExecutor
) -> None:
    sleeps = Sleeps(mock_wiro, advance=False)
    client = clients(sleeps, socket_url="ws://127.0.0.1:1/v1", retry=RetryPolicy(attempts=3))
    task = client.run(image_path(IMAGE), "p")
    with pytest.raises(TransportError, match="socket") as info:
        result(pool.submit(client.wait, task, WAIT, via="socket"))
    assert not isinstance(info.value, RunOutcomeUnknown)
    assert len(sleeps.delays) == 2  # three attempts, two waits between them
    assert all(0.0 <= d <= 8.0 for d in sleeps.delays)
    assert mock_wiro.task(str(task.id)).status == "task_queue"  # never polled forward


@pytest.mark.parametrize("action", ["drop_on_register", "close"])
def test_socket_closing_every_connection_falls_back_to_polling(
    mock_wiro: MockWiroServer, clients: Clients, pool: ThreadPoolExecutor, action: str
) -> None:
    sleeps = Sleeps(mock_wiro, advance=True)
    client = clients(sleeps, retry=RetryPolicy(attempts=3))
    task = client.run(image_path(IMAGE), "p")
    tid = str(task.id)
    after = 1 if action == "close" else None  # close: right after the replayed task_queue
    mock_wiro.add_socket_fault(action, task=tid, times=1000, after=after)
    events: list[Event] = []
    done = result(pool.submit(client.wait, task, WAIT, via="auto", on_event=events.append))
    assert done.succeeded and done.id == task.id
    assert len(socket_faults_applied(mock_wiro, tid, action)) == 3  # one per attempt, then poll
    once = lifecycle_statuses(events)
    assert len(once) == len(set(once))
    assert events[-1].status is Status.POSTPROCESS_END


def test_socket_keeps_reconnecting_while_each_connection_makes_progress(
    mock_wiro: MockWiroServer, clients: Clients, pool: ThreadPoolExecutor
) -> None:
    tid = ""
    drops: list[float] = []

    def sleep(seconds: float) -> None:
        """Before each reconnect: the task moves on, and the next connection will deliver
        the (longer) replay, i.e. new frames, then drop again; the 4th time it finishes."""
        drops.append(seconds)
        if len(drops) < 4:
            mock_wiro.advance(4)
            events_so_far = len(mock_wiro.task(tid).events)
            mock_wiro.add_socket_fault("close", task=tid, after=events_so_far)
        else:
            mock_wiro.advance(FINISH)

    client = clients(sleep, retry=RetryPolicy(attempts=4))
    task = client.run(image_path(IMAGE), "p")
    tid = str(task.id)
    mock_wiro.add_socket_fault("close", task=tid, after=1)  # connection 1: task_queue, drop
    events: list[Event] = []
    future = pool.submit(client.wait, task, WAIT, via="socket", on_event=events.append)
    done = result(future)  # each connection delivered new frames: no drops "in a row"
    assert len(socket_faults_applied(mock_wiro, tid, "close")) == 4
    assert done.succeeded and len(drops) == 4
    once = lifecycle_statuses(events)
    assert len(once) == len(set(once)) and once[-1] is Status.POSTPROCESS_END


class LeakedSocket(AssertionError):
    """A TCP socket left open, found when the garbage collector closed it."""


def test_a_socket_the_server_closed_is_not_leaked(
    mock_wiro: MockWiroServer, clients: Clients, pool: ThreadPoolExecutor
) -> None:
    client = clients(Sleeps(mock_wiro, advance=False))
    task = client.run(image_path(IMAGE), "p")
    tid = str(task.id)
    mock_wiro.add_socket_fault("drop_on_register", task=tid, code=1011)
    collect_quietly()  # nothing older than this test is collected below
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        since = mock_wiro.journal.last_seq
        future = pool.submit(client.wait, task, WAIT, via="socket")
        registered(mock_wiro, tid, since=since, details=3)  # dropped, then re-registered
        mock_wiro.advance(FINISH)
        assert result(future).succeeded
        assert len(socket_faults_applied(mock_wiro, tid, "drop_on_register")) == 1
        gc.collect()
    unclosed = [str(w.message) for w in caught if UNCLOSED_SOCKET in str(w.message)]
    if unclosed:
        raise LeakedSocket(f"{len(unclosed)} socket(s) left open: {unclosed}")


# ------------------------------------------------------------------ 6: HTTP faults
def test_poll_wait_recovers_from_429_502_503_on_detail(
    mock_wiro: MockWiroServer, clients: Clients
) -> None:
    sleeps = Sleeps(mock_wiro, advance=True)
    client = clients(sleeps)
    task = client.run(image_path(IMAGE), "p")
    mock_wiro.add_fault(DETAIL, status=429, retry_after=3, times=1)
    mock_wiro.add_fault(DETAIL, status=502, times=1)
    mock_wiro.add_fault(DETAIL, status=503, times=1)
    since = mock_wiro.journal.last_seq
    done = client.wait(task, WAIT, via="poll")
    assert done.succeeded
    codes = [
        e.get("status") for e in mock_wiro.journal.entries("request", since=since, path=DETAIL)
    ]
    assert codes[:4] == [429, 502, 503, 200] and set(codes[3:]) == {200}
    assert sleeps.delays[0] == 3.0  # Retry-After, exactly


def test_list_is_retried_after_one_502(mock_wiro: MockWiroServer, clients: Clients) -> None:
    sleeps = Sleeps(mock_wiro, advance=False)
    client = clients(sleeps)
    task = client.run(image_path(IMAGE), "p")
    mock_wiro.add_fault("/v1/Task/List", status=502, times=1)
    since = mock_wiro.journal.last_seq
    listed = client.list()
    assert [t.id for t in listed] == [task.id]
    codes = [e.get("status") for e in mock_wiro.journal.entries("request", since=since)]
    assert codes == [502, 200]
    assert len(sleeps.delays) == 1 and 0.0 <= sleeps.delays[0] <= client.retry.backoff


# ------------------------------------------------------------------ 7: a lost Run
@pytest.mark.parametrize("fault", [{"reset": True}, {"status": 502}], ids=["reset", "502"])
def test_lost_run_response_is_outcome_unknown_and_never_duplicated(
    mock_wiro: MockWiroServer, clients: Clients, fault: dict[str, Any]
) -> None:
    sleeps = Sleeps(mock_wiro, advance=False)
    client = clients(sleeps)
    mock_wiro.add_fault("/v1/Run/minimax/hailuo-2-3-fast", when="after", times=1, **fault)
    with pytest.raises(RunOutcomeUnknown, match="list"):
        client.run(image_path(IMAGE), "p")
    assert sleeps.delays == []  # not retried
    runs = mock_wiro.journal.entries("request", path="/Run/")
    assert len(runs) == 1
    listed = client.list()
    assert len(listed) == 1 and len(mock_wiro.tasks()) == 1
    assert str(listed[0].id) == runs[0].get("task")  # the task the lost answer was about


def test_run_against_nothing_listening_is_a_transport_error(
    mock_wiro: MockWiroServer, clients: Clients
) -> None:
    sleeps = Sleeps(mock_wiro, advance=False)
    client = clients(sleeps, base_url="http://127.0.0.1:1/v1", retry=RetryPolicy(attempts=3))
    with pytest.raises(TransportError) as info:
        client.run(image_path(IMAGE), "p")
    assert not isinstance(info.value, RunOutcomeUnknown)  # provably never sent: retried
    assert len(sleeps.delays) == 2
    assert mock_wiro.tasks() == []


# ------------------------------------------------------------------ 8: downloads
def finished(mock_wiro: MockWiroServer, client: Client, prompt: str = "p") -> Task:
    task = client.run(image_path(IMAGE), prompt)
    mock_wiro.advance(FINISH)
    return client.wait(task, WAIT, via="poll")


def test_download_writes_the_whole_mp4(
    mock_wiro: MockWiroServer, client: Client, tmp_path: Path
) -> None:
    task = finished(mock_wiro, client)
    assert task.video is not None
    path = client.download(task, tmp_path)
    assert path == tmp_path / f"hailuo-{task.id}.mp4"
    data = path.read_bytes()
    assert len(data) == task.video.size and data[4:8] == b"ftyp"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no .part left


def test_truncated_download_is_a_download_error_leaving_nothing(
    mock_wiro: MockWiroServer, client: Client, tmp_path: Path
) -> None:
    mock_wiro.add_scenario(times=1, outputs="truncated")
    task = finished(mock_wiro, client)
    assert task.succeeded and task.video is not None
    with pytest.raises(DownloadError, match=str(task.video.size)):
        client.download(task, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_download_404_is_not_found_leaving_nothing(
    mock_wiro: MockWiroServer, client: Client, tmp_path: Path
) -> None:
    mock_wiro.add_scenario(times=1, outputs="download_404")
    task = finished(mock_wiro, client)
    assert task.video is not None
    with pytest.raises(NotFoundError) as info:
        client.download(task, tmp_path / "out.mp4")
    assert isinstance(info.value, APIError) and info.value.status == 404
    assert list(tmp_path.iterdir()) == []
    gets = mock_wiro.journal.entries("request", path=urlsplit(task.video.url).path)
    assert [e.get("status") for e in gets] == [404]  # a 404 is not retried


# ------------------------------------------------------------------ 9: files
def test_folder_and_upload_feed_a_run(mock_wiro: MockWiroServer, client: Client) -> None:
    folder = client.create_folder("inputs")
    assert folder.id and folder.name == "inputs"
    [upload] = client.upload(image_path(IMAGE), folder_id=folder.id)
    assert upload.id and upload.url.startswith(mock_wiro.base_url)
    assert upload.size == len(image_bytes(IMAGE)) and upload.parentid == folder.id
    task = client.run(upload.url, "from the upload")
    assert mock_wiro.task(str(task.id)).parameters["inputImageFirstUrl"] == upload.url
    mock_wiro.advance(FINISH)
    assert client.wait(task, WAIT, via="poll").succeeded


def test_uploaded_bad_image_is_checked_by_the_task(
    mock_wiro: MockWiroServer, client: Client
) -> None:
    [upload] = client.upload(image_path("too_wide_3x1.jpg"))
    task = client.run(upload.url, "p")
    mock_wiro.advance(FINISH)
    with pytest.raises(TaskFailed, match="aspect_ratio"):
        client.wait(task, WAIT, via="poll")


# ------------------------------------------------------------------ 10-11: handles and refs
def test_task_handle_is_bound_to_its_client(
    mock_wiro: MockWiroServer, client: Client, tmp_path: Path
) -> None:
    task = client.run(image_path(IMAGE), "p")
    refreshed = task.refresh()
    assert refreshed.id == task.id and refreshed.token == task.token
    assert refreshed.status is Status.QUEUE
    done = task.wait(WAIT, via="poll")
    assert done.succeeded and done.refresh().succeeded
    assert task.refresh().status is Status.POSTPROCESS_END
    path = done.download(tmp_path)
    assert done.video is not None and path.stat().st_size == done.video.size


@pytest.mark.parametrize("ref", ["id_str", "id_int", "token"])
def test_socket_wait_on_an_id_or_a_token(
    mock_wiro: MockWiroServer, client: Client, pool: ThreadPoolExecutor, ref: str
) -> None:
    task = client.run(image_path(IMAGE), "p")
    targets: dict[str, str | int] = {"id_str": str(task.id), "id_int": task.id, "token": task.token}
    target = targets[ref]
    events: list[Event] = []
    since = mock_wiro.journal.last_seq
    future = pool.submit(client.wait, target, WAIT, via="socket", on_event=events.append)
    # an id costs one Detail to learn the token before the socket
    registered(mock_wiro, str(task.id), since=since, details=1 if ref == "token" else 2)
    mock_wiro.advance(FINISH)
    done = result(future)
    assert done.succeeded and done.id == task.id and done.token == task.token
    assert collapse([e.status for e in events]) == SUCCESS_STEPS
    assert {e.source for e in events} == {"socket"}
