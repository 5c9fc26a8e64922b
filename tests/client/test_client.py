"""hailuo_client against the running fake (the ``mock_wiro`` pytest plugin's fixtures)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import pytest

import hailuo_client
from hailuo_client import (
    APIError,
    AuthenticationError,
    Client,
    ConcurrencyLimitError,
    InsufficientBalanceError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    Task,
    TaskCancelled,
    TaskFailed,
    TransportError,
    WaitTimeout,
)
from mock_wiro_fixtures import image_bytes, image_path
from tests.helpers.client import make_client as live_client

IMAGE = "landscape_16x9.jpg"


def make_client(server: Any, project: Any, **kwargs: Any) -> Client:
    """A client whose sleeps advance the fake clock."""
    return live_client(server, project, **{"sleep": server.advance, **kwargs})


@pytest.fixture
def client(mock_wiro: Any, mock_wiro_project: Any) -> Client:
    return make_client(mock_wiro, mock_wiro_project)


def test_all_is_the_public_api() -> None:
    assert sorted(hailuo_client.__all__) == sorted(
        [
            "DEFAULT_BASE_URL",
            "DEFAULT_SOCKET_URL",
            "APIError",
            "AuthenticationError",
            "Client",
            "ConcurrencyLimitError",
            "DownloadError",
            "Event",
            "File",
            "ImageReport",
            "InsufficientBalanceError",
            "InvalidInput",
            "NotFoundError",
            "Output",
            "Progress",
            "RateLimitError",
            "RetryPolicy",
            "RunOutcomeUnknown",
            "ServerError",
            "Status",
            "Task",
            "TaskCancelled",
            "TaskError",
            "TaskFailed",
            "TransportError",
            "ValidationError",
            "WaitTimeout",
            "WiroError",
            "check_image",
            "check_options",
        ]
    )
    for name in hailuo_client.__all__:
        assert getattr(hailuo_client, name).__doc__, f"{name} has no docstring"


def test_settings_fall_back_to_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIRO_API_KEY", "k")
    monkeypatch.setenv("WIRO_API_SECRET", "s")
    monkeypatch.delenv("WIRO_BASE_URL", raising=False)
    c = Client()
    assert (c.api_key, c.api_secret, c.base_url) == ("k", "s", "https://api.wiro.ai/v1")
    monkeypatch.setenv("WIRO_BASE_URL", "http://x/v1/")
    assert Client().base_url == "http://x/v1"


def test_missing_api_key_is_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WIRO_API_KEY", raising=False)
    with pytest.raises(ValueError, match="WIRO_API_KEY"):
        Client()


@pytest.mark.parametrize("kind", ["path", "str_path", "bytes", "file"])
def test_run_from_local_image(client: Client, kind: str) -> None:
    image: Any = {
        "path": image_path(IMAGE),
        "str_path": str(image_path(IMAGE)),
        "bytes": image_bytes(IMAGE),
        "file": io.BytesIO(image_bytes(IMAGE)),
    }[kind]
    task = client.run(image, "a calm sea", duration=6)
    assert isinstance(task.id, int) and task.id > 0 and task.token
    assert client.detail(task).id == task.id


def test_run_from_url(client: Client) -> None:
    task = client.run("https://example.com/first-frame.jpg", "a calm sea")
    assert isinstance(task.id, int) and task.id > 0
    assert client.detail(task.token).id == task.id


def test_run_1080p_10s_refused_locally(client: Client, mock_wiro: Any) -> None:
    with pytest.raises(ValueError, match="768P"):
        client.run(image_path(IMAGE), resolution="1080P", duration=10)
    assert client.list() == []


def test_key_only_project(mock_wiro: Any) -> None:
    project = mock_wiro.create_project(auth="apikey")
    c = Client(project.api_key, base_url=mock_wiro.base_url)
    assert c.list() == []


def test_detail_by_id_and_token(client: Client) -> None:
    task = client.run(image_path(IMAGE), "p")
    by_id = client.detail(task.id)
    by_token = client.detail(task.token)
    assert by_id == by_token
    assert by_id.status and not by_id.terminal


def test_cancel_queued_task(client: Client) -> None:
    task = client.run(image_path(IMAGE), "p")
    cancelled = client.cancel(task)
    assert cancelled.status == "task_cancel" and cancelled.terminal and not cancelled.succeeded


def test_kill_running_task(client: Client, mock_wiro: Any) -> None:
    task = client.run(image_path(IMAGE), "p")
    mock_wiro.advance(15)
    assert client.detail(task).status not in ("task_queue", "task_cancel")
    killed = client.kill(task)
    assert killed.status == "task_cancel"
    with pytest.raises(TaskCancelled) as info:
        client.wait(task, via="poll")
    assert info.value.task.id == task.id


def test_list(client: Client) -> None:
    first = client.run(image_path(IMAGE), "one")
    client.run(image_path(IMAGE), "two")
    tasks = client.list(0, 10)
    assert {t.id for t in tasks} >= {first.id}
    assert len(tasks) == 2
    assert len(client.list(0, 1)) == 1


def test_delete_io_after_success(client: Client) -> None:
    task = client.wait(client.run(image_path(IMAGE), "p"), via="poll")
    client.delete_io(task)
    client.delete_io(task)  # idempotent


def test_wrong_secret_is_authentication_error(mock_wiro: Any, mock_wiro_project: Any) -> None:
    c = Client(mock_wiro_project.api_key, "wrong", base_url=mock_wiro.base_url)
    with pytest.raises(AuthenticationError) as info:
        c.list()
    assert info.value.status == 401
    assert "not valid" in info.value.message


def test_unknown_task_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError) as info:
        client.detail("999999")
    assert info.value.code == 1
    assert info.value.message == "There is no task yet."


def test_unknown_path_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError) as info:
        client._send("No/Such/Path", json={})
    assert info.value.status == 404


def test_concurrency_limit(client: Client, mock_wiro: Any, mock_wiro_project: Any) -> None:
    mock_wiro.set_balance(mock_wiro_project, "5")
    client.run(image_path(IMAGE), "one")
    with pytest.raises(ConcurrencyLimitError) as info:
        client.run(image_path(IMAGE), "two")
    assert info.value.code == 96
    assert isinstance(info.value, APIError)


def test_insufficient_balance(client: Client, mock_wiro: Any, mock_wiro_project: Any) -> None:
    mock_wiro.set_balance(mock_wiro_project, "0.10")
    with pytest.raises(InsufficientBalanceError) as info:
        client.run(image_path(IMAGE), "one")
    assert info.value.code == 97


def test_wait_success(client: Client) -> None:
    task = client.run(image_path(IMAGE), "a calm sea")
    done = client.wait(task, timeout=600, via="poll")
    assert done.succeeded and done.terminal and done.pexit == 0
    assert done.outputs and done.outputs[0].url and done.outputs[0].size > 0
    assert done.outputs[0].contenttype == "video/mp4"


def test_wait_failure_raises_task_failed(client: Client) -> None:
    task = client.run(image_path("too_wide_3x1.jpg"), "p", check=False)
    with pytest.raises(TaskFailed) as info:
        client.wait(task, timeout=600, via="poll")
    failed = info.value.task
    assert failed.pexit != 0 and failed.terminal and not failed.succeeded
    assert failed.debugerror and failed.debugerror in str(info.value)
    assert failed.outputs == ()


def test_wait_cancelled_raises_task_cancelled(client: Client) -> None:
    task = client.run(image_path(IMAGE), "p")
    client.cancel(task)
    with pytest.raises(TaskCancelled):
        client.wait(task, via="poll")


def test_wait_timeout_with_a_clock_that_never_moves(mock_wiro: Any, mock_wiro_project: Any) -> None:
    sleeps: list[float] = []
    now = [0.0]

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds  # the client's clock moves; the fake's does not

    c = Client(
        mock_wiro_project.api_key,
        mock_wiro_project.api_secret,
        base_url=mock_wiro.base_url,
        sleep=sleep,
        monotonic=lambda: now[0],
    )
    task = c.run(image_path(IMAGE), "p")
    with pytest.raises(WaitTimeout):
        c.wait(task, timeout=30, poll_interval=1.0, via="poll")
    # doubling, capped at 10 s, the last sleep cut to end exactly at the deadline
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 10.0, 5.0]


def test_wait_timeout_tiny_deadline(mock_wiro: Any, mock_wiro_project: Any) -> None:
    ticks = itertools.count()  # a monotonic clock: 1 ms per read, no real time passes
    c = Client(
        mock_wiro_project.api_key,
        mock_wiro_project.api_secret,
        base_url=mock_wiro.base_url,
        sleep=lambda s: None,
        monotonic=lambda: next(ticks) / 1000,
    )
    task = c.run(image_path(IMAGE), "p")
    with pytest.raises(WaitTimeout, match="task_queue"):
        c.wait(task, timeout=0.01, via="poll")


def test_wait_timeout_when_retry_after_passes_the_deadline(
    faulty: Any, mock_wiro_project: Any
) -> None:
    sleeps: list[float] = []
    c = Client(
        mock_wiro_project.api_key,
        mock_wiro_project.api_secret,
        base_url=faulty.base_url,
        sleep=sleeps.append,
        monotonic=lambda: 0.0,
    )
    task = c.run(image_path(IMAGE), "p")
    faulty.add_fault("/v1/Task/Detail", status=429, retry_after=60, times=1)
    with pytest.raises(WaitTimeout, match="429"):
        c.wait(task, timeout=30, via="poll")
    assert sleeps == []


def test_wait_retries_server_errors(faulty: Any, client: Client) -> None:
    task = client.run(image_path(IMAGE), "p")
    faulty.add_fault("/v1/Task/Detail", status=502, times=2)
    faulty.add_fault("/v1/Task/Detail", reset=True, times=1)
    assert client.wait(task, timeout=600, via="poll").succeeded


def test_wait_does_not_retry_client_errors(client: Client) -> None:
    with pytest.raises(NotFoundError):
        client.wait("999999", timeout=600, via="poll")


def test_task_is_frozen(client: Client) -> None:
    task = client.run(image_path(IMAGE), "p")
    assert isinstance(task, Task)
    with pytest.raises(AttributeError):
        task.status = "x"  # type: ignore[misc]


@pytest.fixture
def faulty(mock_wiro: Any) -> Any:
    """The fake, with its HTTP fault rules cleared afterwards."""
    yield mock_wiro
    mock_wiro.clear_faults()


def test_wait_honours_retry_after_on_429(faulty: Any, mock_wiro_project: Any) -> None:
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        faulty.advance(seconds)

    c = Client(
        mock_wiro_project.api_key,
        mock_wiro_project.api_secret,
        base_url=faulty.base_url,
        sleep=sleep,
    )
    task = c.run(image_path(IMAGE), "p")
    faulty.add_fault("/v1/Task/Detail", status=429, retry_after=7, times=2)
    assert c.wait(task, timeout=600, via="poll").succeeded
    assert sleeps[:2] == [7.0, 7.0]


def test_server_error_is_api_error(faulty: Any, mock_wiro_project: Any) -> None:
    c = make_client(faulty, mock_wiro_project, retry=RetryPolicy(attempts=1))
    faulty.add_fault("/v1/Task/List", status=502, times=1)
    with pytest.raises(ServerError) as info:
        c.list()
    assert isinstance(info.value, APIError) and info.value.status == 502
    assert c.list() == []


def test_dropped_connection_is_transport_error(faulty: Any, mock_wiro_project: Any) -> None:
    c = make_client(faulty, mock_wiro_project, retry=RetryPolicy(attempts=1))
    faulty.add_fault("/v1/Task/List", reset=True, times=1)
    with pytest.raises(TransportError):
        c.list()
    assert c.list() == []


@pytest.mark.parametrize("fault", [{"status": 502}, {"status": 503}, {"reset": True}])
def test_list_is_retried_past_transient_faults(
    faulty: Any, client: Client, fault: dict[str, Any]
) -> None:
    faulty.add_fault("/v1/Task/List", times=2, **fault)
    assert client.list() == []
    assert len(faulty.journal.entries(kind="request", path="/v1/Task/List")) == 3


def test_client_shares_no_code_with_the_fake() -> None:
    package = Path(hailuo_client.__file__).parent
    for source in package.glob("*.py"):
        assert "mock_wiro" not in source.read_text(encoding="utf-8"), source
    assert (package / "py.typed").is_file()


def test_every_public_name_has_a_docstring_and_type_hints() -> None:
    import inspect

    for name in hailuo_client.__all__:
        obj = getattr(hailuo_client, name)
        if not inspect.isclass(obj):
            continue
        for attr, member in vars(obj).items():
            if attr.startswith("_") or not callable(member):
                continue
            function = member.__func__ if isinstance(member, classmethod) else member
            assert function.__doc__, f"{name}.{attr} has no docstring"
            assert "return" in function.__annotations__, f"{name}.{attr} lacks a return type"
