"""Regression tests for the client review fixes (commit 490a897), one per fix.

Each test failed on hailuo_client as it was before its fix. Socket waits run in a
daemon thread bounded by ``BOUND`` real seconds, so a wait that never ends fails the
test instead of hanging it; the fake's clock is manual, so a task never moves on its own.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import responses

import hailuo_client.client as client_module
from hailuo_client import (
    AuthenticationError,
    Client,
    DownloadError,
    InvalidInput,
    Output,
    TransportError,
    WaitTimeout,
)
from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import image_path
from tests.helpers.client import BOUND, finished
from tests.helpers.client import quick_client as make_client

IMAGE = "landscape_16x9.jpg"
DETAIL = "/v1/Task/Detail"

_T = TypeVar("_T")


# ------------------------------------------------------------------ helpers
def in_thread(call: Callable[[], _T]) -> Future[_T]:
    """Run ``call`` in a daemon thread (a wait that never returns cannot block exit)."""
    future: Future[_T] = Future()

    def target() -> None:
        try:
            future.set_result(call())
        except BaseException as exc:  # handed to the test through the future
            future.set_exception(exc)

    threading.Thread(target=target, daemon=True, name="review-wait").start()
    return future


class FakeClock:
    """A client ``sleep``/``monotonic`` pair: sleeping records the delay and moves time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def client(mock_wiro: MockWiroServer, mock_wiro_project: Project) -> Iterator[Client]:
    made = make_client(mock_wiro, mock_wiro_project)
    yield made
    made.close()
    mock_wiro.clear_faults()


def details(server: MockWiroServer, since: int) -> int:
    return len(server.journal.entries("request", since=since, path=DETAIL))


# ------------------------------------------------------------------ 1: pings vs the deadline
@pytest.fixture(scope="module")
def pinging() -> Iterator[MockWiroServer]:
    """A fake that pings every socket far more often than any receive timeout."""
    with MockWiroServer(Settings(clock_mode="manual", socket_ping_interval=0.2)) as server:
        yield server


def test_socket_wait_keeps_its_deadline_while_the_server_pings(
    pinging: MockWiroServer,
) -> None:
    client = make_client(pinging, pinging.create_project())
    task = client.run(image_path(IMAGE), "p")  # manual clock: it stays queued
    future = in_thread(lambda: client.wait(task, timeout=1.5, via="socket"))
    with pytest.raises(WaitTimeout):
        future.result(timeout=BOUND)  # before the fix every ping restarted the timeout
    assert pinging.journal.entries("frame", task=str(task.id))  # it did follow the socket
    client.close()


def test_socket_silence_check_runs_while_the_server_pings(
    pinging: MockWiroServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "SOCKET_IDLE_CHECK", 0.3)
    client = make_client(pinging, pinging.create_project())
    task = client.run(image_path(IMAGE), "p")
    since = pinging.journal.last_seq
    future = in_thread(lambda: client.wait(task, timeout=1.5, via="socket"))
    with pytest.raises(WaitTimeout):
        future.result(timeout=BOUND)
    # one look after registering, then one per 0.3 s of silence (pings are not frames)
    assert details(pinging, since) >= 3
    client.close()


# ------------------------------------------------------------------ 2: an id's token lookup
@pytest.mark.parametrize("via", ["auto", "socket"])
def test_token_lookup_of_a_bare_id_keeps_the_deadline(
    mock_wiro: MockWiroServer, mock_wiro_project: Project, via: str
) -> None:
    clock = FakeClock()
    client = make_client(mock_wiro, mock_wiro_project, sleep=clock.sleep, monotonic=clock.monotonic)
    task = client.run(image_path(IMAGE), "p")
    mock_wiro.add_fault(DETAIL, status=429, retry_after=30, times=1)
    try:
        # "socket" may give up on the lookup as a TransportError; either way, in time
        expected = WaitTimeout if via == "auto" else (WaitTimeout, TransportError)
        with pytest.raises(expected):
            client.wait(str(task.id), timeout=5, via=via)  # type: ignore[arg-type]
    finally:
        mock_wiro.clear_faults()
        client.close()
    assert max(clock.sleeps, default=0.0) <= 5  # never the 30 s Retry-After


# ------------------------------------------------------------------ 3: shared nonces
@pytest.fixture(scope="module")
def no_reuse() -> Iterator[MockWiroServer]:
    """A fake that refuses a nonce its project has seen before (``reject_reused_nonce``)."""
    with MockWiroServer(Settings(clock_mode="manual", reject_reused_nonce=True)) as server:
        yield server


def test_clients_of_one_project_never_reuse_a_nonce(no_reuse: MockWiroServer) -> None:
    assert no_reuse.backend.settings.reject_reused_nonce
    project = no_reuse.create_project()
    clients = [make_client(no_reuse, project) for _ in range(4)]
    start = threading.Barrier(len(clients))
    since = no_reuse.journal.last_seq

    def calls(client: Client) -> list[Exception]:
        start.wait(timeout=BOUND)
        errors: list[Exception] = []
        for _ in range(50):
            try:
                client.list()
            except AuthenticationError as exc:
                errors.append(exc)
        return errors

    futures = [in_thread(functools.partial(calls, made)) for made in clients]
    errors = [error for future in futures for error in future.result(timeout=BOUND)]
    for made in clients:
        made.close()
    assert errors == []
    statuses = [e.get("status") for e in no_reuse.journal.entries("request", since=since)]
    assert statuses == [200] * 200


# ------------------------------------------------------------------ 4-5: download paths
def test_download_to_a_dir_with_a_trailing_slash_makes_it(
    mock_wiro: MockWiroServer, client: Client, tmp_path: Path
) -> None:
    task = finished(mock_wiro, client)
    assert task.video is not None
    path = client.download(task, f"{tmp_path / 'newdir'}/")
    assert path == tmp_path / "newdir" / f"hailuo-{task.id}.mp4"
    assert path.stat().st_size == task.video.size
    assert list(tmp_path.iterdir()) == [tmp_path / "newdir"]


def test_server_file_name_cannot_leave_the_destination(
    mock_wiro: MockWiroServer, client: Client, tmp_path: Path
) -> None:
    task = finished(mock_wiro, client)
    assert task.video is not None
    evil = Output(
        url=task.video.url, name="../escaped.mp4", size=task.video.size, contenttype="video/mp4"
    )
    sub = tmp_path / "sub"
    sub.mkdir()
    path = client.download(evil, sub)
    assert path.parent == sub and path.name == "escaped.mp4"
    assert path.stat().st_size == task.video.size
    assert list(tmp_path.iterdir()) == [sub]  # nothing written beside it


# ------------------------------------------------------------------ 6: poll_interval
@pytest.mark.parametrize("interval", [0.0, -1.0, math.nan])
def test_wait_refuses_a_poll_interval_not_above_zero(
    mock_wiro: MockWiroServer, client: Client, interval: float
) -> None:
    task = client.run(image_path(IMAGE), "p")
    since = mock_wiro.journal.last_seq
    with pytest.raises(InvalidInput, match="poll_interval"):
        client.wait(task, timeout=0.5, via="poll", poll_interval=interval)
    assert mock_wiro.journal.entries("request", since=since) == []


# ------------------------------------------------------------------ 7: oversize downloads
CDN = "https://cdn.example.invalid/clip.mp4"


@pytest.fixture
def offline_client() -> Iterator[tuple[Client, list[float]]]:
    """A client for ``responses``-mocked downloads, and the delays it slept."""
    sleeps: list[float] = []
    made = Client("key", "secret", base_url="https://api.example.invalid/v1", sleep=sleeps.append)
    yield made, sleeps
    made.close()


def test_more_bytes_than_the_output_size_is_not_retried(
    offline_client: tuple[Client, list[float]], tmp_path: Path
) -> None:
    client, sleeps = offline_client
    output = Output(url=CDN, name="clip.mp4", size=10, contenttype="video/mp4")
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, CDN, body=b"x" * 100)
        with pytest.raises(DownloadError):
            client.download(output, tmp_path)
        assert len(mocked.calls) == 1
    assert sleeps == []
    assert list(tmp_path.iterdir()) == []


def test_download_of_unknown_size_is_capped(
    offline_client: tuple[Client, list[float]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_DOWNLOAD_BYTES", 1000)
    client, _ = offline_client
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, CDN, body=b"x" * 5000)  # no Content-Length, no size
        with pytest.raises(DownloadError, match="1000"):
            client.download(CDN, tmp_path)
        assert len(mocked.calls) == 1
        answered = mocked.calls[0].response
        assert isinstance(answered, requests.Response)
        assert "Content-Length" not in answered.headers  # so the cap is what stops it
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ 8: token lookup retries
@pytest.mark.parametrize("fault", [{"status": 502}, {"status": 429, "retry_after": 1}])
def test_token_lookup_retries_a_transient_failure(fault: dict[str, Any]) -> None:
    """A bare id's token lookup that meets one 502 or 429 retries (within the deadline)
    and the socket wait still ends in success."""
    slept: list[float] = []
    with MockWiroServer(Settings(clock_mode="realtime", speed=400)) as server:
        project = server.create_project()
        c = Client(
            project.api_key, project.api_secret, base_url=server.base_url, sleep=slept.append
        )
        task = c.run(image_path("landscape_16x9.jpg"), "p")
        server.add_fault("/v1/Task/Detail", times=1, **fault)
        done = c.wait(str(task.id), timeout=60, via="socket")
        c.close()
    assert done.succeeded
    assert len(slept) == 1 and slept[0] <= 1.0


# ------------------------------------------------------------------ Ctrl-C on another thread
class _Interrupted(Exception):
    pass


def test_a_signal_another_thread_takes_still_ends_a_socket_wait(
    mock_wiro: MockWiroServer, mock_wiro_project: Project
) -> None:
    """Python runs a signal's handler only in the main thread, between bytecodes; the
    kernel may hand the signal to another thread (rich's refresh thread, for a Ctrl-C).
    A socket wait reads in RECV_SLICE pieces, so the main thread gets to the handler
    long before the wait's own deadline (one read of the whole wait did not)."""
    import signal
    import sys
    import time

    client = make_client(mock_wiro, mock_wiro_project)
    task = client.run(image_path(IMAGE), "p")  # manual clock: queued, no frame comes
    main = threading.main_thread().ident
    assert main == threading.get_ident()
    sent: list[float] = []

    def other_thread() -> None:  # once the main thread sits in the socket read
        for _ in range(int(BOUND * 100)):
            frame = sys._current_frames().get(main)
            names = []
            while frame is not None:
                names.append(frame.f_code.co_name)
                frame = frame.f_back
            if "recv_data_frame" in names:
                break
            threading.Event().wait(0.01)
        sent.append(time.monotonic())
        signal.pthread_kill(threading.get_ident(), signal.SIGUSR1)  # to this thread

    def handler(signum: int, frame: object) -> None:
        raise _Interrupted

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        threading.Thread(target=other_thread, daemon=True).start()
        with pytest.raises(_Interrupted):
            client.wait(task, timeout=30, via="socket")
        late = time.monotonic() - sent[0]
    finally:
        signal.signal(signal.SIGUSR1, previous)
        client.close()
    assert late < 15, f"handled {late:.1f} s after the signal: the wait's read never let go"
