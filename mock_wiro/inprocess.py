"""The fake inside the test process, without a socket: ``requests`` is intercepted.

::

    from mock_wiro.inprocess import intercept

    with intercept() as fake:  # a manual clock unless settings say otherwise
        # code with https://api.wiro.ai hard-coded runs unchanged, signed with
        # fake.api_key / fake.api_secret (or pass api_key=/api_secret= to intercept)
        taskid = my_client.run(image)
        fake.advance(120)
        fake.wait_for_task(taskid)
        video = my_client.download(taskid)  # https://api.wiro.ai/cdn/<key>/0.mp4

How it works: a :class:`~mock_wiro.engine.backend.Backend` and the Flask app are built
in-process (no listening socket, no HTTP server thread; the backend's engine
thread still runs the task clock). A :class:`responses.RequestsMock` is started
with ``assert_all_requests_are_fired=False`` and one callback per HTTP method for
each intercepted origin (``https://api.wiro.ai`` by default). A matching request
is handed to ``app.test_client()`` with its method, path, query string, headers
and body, and the app's status, headers and body come back as the ``requests``
response. Every path is forwarded, so ``/v1/...``, the control surface
``/_mock/...`` and the file URLs all work.

File URLs: the backend's public URL is the first intercepted origin, so the URLs
in Task/Detail point at intercepted addresses: uploads at
``https://api.wiro.ai/v1/File/<key>/<name>`` and outputs at
``https://api.wiro.ai/cdn/<key>/0.mp4`` (the real API's outputs live on
``cdn1.wiro.ai``; code that parses the URL's host would see the difference).

Anything else: a ``requests`` call to any other URL raises
:class:`requests.ConnectionError` ("Connection refused by Responses"), so a test
never reaches the internet by accident; URL prefixes in ``passthrough`` go to the
real network instead.

Callbacks (``callbackUrl``): with ``callbacks="record"`` (the default) the fake's
callback POSTs never leave the process: each is answered ``fake.callback_status``
(200) and kept in :attr:`InProcessFake.callback_posts` (URL, headers, JSON body),
while :attr:`InProcessFake.callbacks` records the attempts as usual. With
``callbacks="network"`` they go over real HTTP to the URL (a receiver of your own
on loopback, say).

What it cannot cover:

- **The WebSocket** (``wss://socket.wiro.ai/v1``): ``responses`` only sees HTTP
  made through ``requests``. :meth:`InProcessFake.frames` gives the frames the
  socket would have sent for a task; for a real socket, use
  :class:`~mock_wiro.server.MockWiroServer`.
- **Other HTTP clients**: only ``requests`` is intercepted (``HTTPAdapter.send``);
  ``httpx``, ``aiohttp``, ``urllib`` and ``http.client`` calls are not (they fail
  to resolve or reach the real API).
- **Timeouts and dropped connections**: a request runs in the calling thread
  (the client's ``timeout`` does not apply: an HTTP ``hang`` fault blocks until
  released), and a ``reset`` fault is raised as :class:`requests.ConnectionError`.
- **Process-wide**: while the block is open, ``requests`` is patched for every
  thread of the process; a real server on loopback is only reachable through
  ``passthrough``. Inside your own ``responses`` mock, pass it as ``mock=`` so the
  fake's routes are added to it (and removed on exit) instead of nesting a second
  patch.

``responses`` is a test dependency: ``pip install 'mock-wiro[inprocess]'``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from flask import Flask

try:
    import responses
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "mock_wiro.inprocess needs the 'responses' package: "
        "pip install 'mock-wiro[inprocess]' (or pip install responses)"
    ) from exc

from .app import create_app
from .chaos.scenarios import ScenarioBook
from .control.fake import Fake
from .control.handle import FakeHandle
from .engine.backend import Backend
from .engine.models import Project
from .push.callbacks import CALLBACK_ATTEMPT_HEADER
from .settings import DEFAULT_DEMO_BALANCE_USD, AuthMode, Settings

__all__ = ["DEFAULT_BASE_URLS", "CallbackPost", "InProcessFake", "intercept"]

DEFAULT_BASE_URLS = ("https://api.wiro.ai",)
"""The origins answered by the fake unless told otherwise."""
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
"""Every method forwarded to the app (``responses`` registers one route per method)."""
_FAULT_HEADER = "X-Mock-Wiro-Fault"
"""Set by an HTTP fault; ``action=reset`` there means "drop the connection"."""
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding"})
_NOT_FORWARDED = frozenset({"host", "content-length"})


@dataclass(frozen=True)
class CallbackPost:
    """One callback POST the fake made, answered in-process (``callbacks="record"``)."""

    url: str
    headers: dict[str, str]
    body: Any
    """The JSON body (the Task/Detail response for the task), or the raw text if not JSON."""

    @property
    def attempt(self) -> int:
        """The attempt number (``X-Mock-Wiro-Attempt``; 0 if absent)."""
        value = next(
            (v for k, v in self.headers.items() if k.lower() == CALLBACK_ATTEMPT_HEADER.lower()),
            "0",
        )
        return int(value) if value.isdigit() else 0


def _origin(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {url!r}")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError(f"give an origin (scheme://host[:port]), not {url!r}")
    return f"{parts.scheme}://{parts.netloc}".lower()


def _origin_pattern(origin: str) -> re.Pattern[str]:
    """Matches the origin (and its explicit default port) followed by a path, query or
    nothing: never ``https://api.wiro.ai.example.com``."""
    parts = urlsplit(origin)
    default = {"http": ":80", "https": ":443"}[parts.scheme]
    port = "" if parts.port is not None else f"(?:{re.escape(default)})?"
    return re.compile(rf"{re.escape(origin)}{port}(?:[/?#]|$)", re.IGNORECASE)


def _body_bytes(body: object) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    read = getattr(body, "read", None)
    if callable(read):
        data = read()
        return data if isinstance(data, bytes) else str(data).encode("utf-8")
    if isinstance(body, Iterable):  # a generator body (chunked upload)
        return b"".join(c if isinstance(c, bytes) else str(c).encode("utf-8") for c in body)
    raise TypeError(f"cannot forward a request body of type {type(body).__name__}")


def _header_text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


class InProcessFake(FakeHandle):
    """The fake of one :func:`intercept` block: its backend, app, project and controls."""

    def __init__(
        self,
        settings: Settings,
        origins: tuple[str, ...],
        *,
        callback_status: int = 200,
    ) -> None:
        self.settings = settings
        self.origins = origins
        """The intercepted origins; the first is the base of every file URL."""
        self.backend = Backend(settings, scenarios=ScenarioBook())
        self.backend.files.set_public_url(origins[0])
        self.app: Flask = create_app(Fake.build(backend=self.backend))
        self.callback_status = callback_status
        """The status the in-process callback receiver answers (``callbacks="record"``);
        set it to 500 to make the fake retry."""
        self.callback_posts: list[CallbackPost] = []
        """Every callback POST answered in-process, in order."""
        self.project: Project = None  # type: ignore[assignment]  # set by intercept()

    # ------------------------------------------------------------ addresses, credentials
    @property
    def url(self) -> str:
        """The fake's origin (``https://api.wiro.ai``)."""
        return self.origins[0]

    @property
    def base_url(self) -> str:
        """The REST base: ``https://api.wiro.ai/v1``."""
        return self.url + "/v1"

    @property
    def api_key(self) -> str:
        """The default project's API key."""
        return self.project.api_key

    @property
    def api_secret(self) -> str:
        """The default project's API secret."""
        return self.project.api_secret

    def reset(self) -> None:
        """Forget every task, file, callback delivery and recorded callback POST."""
        super().reset()
        self.callback_posts.clear()

    def frames(self, task_id: str) -> list[dict[str, Any]]:
        """The frames the WebSocket would have sent for the task so far, in order (the
        socket itself is not available in-process)."""
        from .push.hub import task_frame

        task = self.task(task_id)
        with self.backend.state_lock:  # events are appended under the backend's lock
            events = list(task.events)
        return [json.loads(task_frame(task, event)) for event in events]

    # ------------------------------------------------------------ the interception
    def handle(self, request: requests.PreparedRequest) -> tuple[int, Any, bytes] | Exception:
        """Answer one intercepted request with the app (a ``responses`` callback)."""
        parts = urlsplit(str(request.url))
        origin = f"{parts.scheme}://{parts.netloc}"
        headers: dict[str, str] = {}
        content_type: str | None = None
        for name, value in request.headers.items():
            if name.lower() == "content-type":
                content_type = _header_text(value)
            elif name.lower() not in _NOT_FORWARDED:
                headers[name] = _header_text(value)
        client = self.app.test_client(use_cookies=False)
        response = client.open(
            parts.path or "/",
            method=str(request.method or "GET"),
            base_url=origin,
            query_string=parts.query,
            headers=headers,
            data=_body_bytes(request.body),
            content_type=content_type,
            buffered=True,
        )
        try:
            fault = response.headers.get(_FAULT_HEADER, "")
            if "action=reset" in fault.replace(" ", ""):
                error = requests.ConnectionError(
                    f"Connection reset by the fake (HTTP fault: {fault})", request=request
                )
                return error
            body = response.get_data()
            out = [(k, v) for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP]
            return response.status_code, out, body
        finally:
            response.close()

    def _record_callback(self, request: requests.PreparedRequest) -> tuple[int, Any, bytes]:
        raw = _body_bytes(request.body)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        headers = {k: _header_text(v) for k, v in request.headers.items()}
        self.callback_posts.append(CallbackPost(str(request.url), headers, body))
        return self.callback_status, {"Content-Type": "text/plain"}, b"ok"


@contextmanager
def intercept(
    settings: Settings | None = None,
    *,
    base_urls: Iterable[str] = DEFAULT_BASE_URLS,
    api_key: str | None = None,
    api_secret: str | None = None,
    auth: AuthMode = "signature",
    balance: Decimal | str | float = DEFAULT_DEMO_BALANCE_USD,
    passthrough: Iterable[str] = (),
    callbacks: Literal["record", "network"] = "record",
    callback_status: int = 200,
    mock: responses.RequestsMock | None = None,
) -> Iterator[InProcessFake]:
    """Answer ``requests`` calls to ``base_urls`` with an in-process fake (module docs).

    - ``settings``: default ``Settings(clock_mode="manual")``: time moves only with
      :meth:`InProcessFake.advance`. ``settings.public_url``, if set, is intercepted
      too and is the base of file URLs.
    - ``base_urls``: origins answered by the fake; the first is the base of file URLs.
    - ``api_key``, ``api_secret``, ``auth``, ``balance``: the default project
      (:attr:`InProcessFake.project`; random credentials unless given).
    - ``passthrough``: URL prefixes sent to the real network; every other URL raises
      :class:`requests.ConnectionError`.
    - ``callbacks``: ``record`` (answered in-process, see
      :attr:`InProcessFake.callback_posts`) or ``network`` (real HTTP).
    - ``mock``: an already started :class:`responses.RequestsMock` to add the routes
      to (they are removed on exit); by default a new one is started and stopped.

    On exit the backend closes (engine, workers and callback threads joined, data
    folder removed) before ``requests`` is restored.
    """
    if callbacks not in ("record", "network"):
        raise ValueError(f"callbacks must be 'record' or 'network', not {callbacks!r}")
    settings = settings or Settings(clock_mode="manual")
    origins = _intercepted_origins(settings, base_urls)
    prefixes = tuple(passthrough)
    patch = _Patch(mock)
    # no network, so no DNS rebinding: the intercepted hosts are the fake's own names
    hosts = (*settings.allowed_hosts, *(urlsplit(o).netloc for o in origins))
    fake = InProcessFake(
        replace(settings, public_url=None, allowed_hosts=hosts),
        origins,
        callback_status=callback_status,
    )
    try:
        fake.backend.start()
        fake.project = fake.create_project(api_key, api_secret, auth=auth, balance=balance)
        patch.route(fake, prefixes, callbacks)
        patch.start()
        yield fake
    finally:
        # first the backend: no callback thread may outlive the patch (it would then
        # reach the network)
        try:
            fake.backend.close()
        finally:  # whatever happens, requests is unpatched
            patch.undo()


def _intercepted_origins(settings: Settings, base_urls: Iterable[str]) -> tuple[str, ...]:
    """``base_urls`` as origins, without repeats; ``settings.public_url`` first if set."""
    origins = tuple(dict.fromkeys(_origin(u) for u in base_urls))
    if settings.public_url:
        origins = tuple(dict.fromkeys((_origin(settings.public_url.rstrip("/")), *origins)))
    if not origins:
        raise ValueError("base_urls is empty: nothing to intercept")
    return origins


@dataclass(frozen=True)
class _IsCallback:
    """A ``responses`` matcher: a callback POST of the fake, to a URL neither intercepted
    nor passed through."""

    patterns: tuple[re.Pattern[str], ...]
    prefixes: tuple[str, ...]

    def __call__(self, request: requests.PreparedRequest) -> tuple[bool, str]:
        url = str(request.url)
        if CALLBACK_ATTEMPT_HEADER not in request.headers:
            return False, "not a callback POST of the fake"
        if any(p.match(url) for p in self.patterns) or url.startswith(self.prefixes):
            return False, "an intercepted or passthrough URL"
        return True, ""


class _Patch:
    """The ``responses`` side of one :func:`intercept` block: its routes on a mock of
    its own (started and stopped here) or on the caller's (routes removed and
    passthrough prefixes restored on :meth:`undo`)."""

    def __init__(self, mock: responses.RequestsMock | None) -> None:
        self.owned = mock is None
        self.rmock = (
            mock
            if mock is not None
            else responses.RequestsMock(assert_all_requests_are_fired=False)
        )
        self.saved_passthru = self.rmock.passthru_prefixes
        self.routes: list[responses.BaseResponse] = []
        self.started = False

    def route(
        self,
        fake: InProcessFake,
        prefixes: tuple[str, ...],
        callbacks: Literal["record", "network"],
    ) -> None:
        """Every method of every origin to ``fake.handle``; the fake's callback POSTs
        recorded or sent on; ``prefixes`` to the real network."""
        rmock = self.rmock
        patterns = tuple(_origin_pattern(o) for o in fake.origins)
        for pattern in patterns:
            for method in METHODS:
                self.routes.append(rmock.add_callback(method, pattern, callback=fake.handle))
        any_url = re.compile(r".*")
        is_callback = _IsCallback(patterns, prefixes)
        if callbacks == "record":
            route = rmock.add_callback(
                "POST", any_url, callback=fake._record_callback, match=[is_callback]
            )
        else:
            route = rmock.add(responses.PassthroughResponse("POST", any_url, match=[is_callback]))
        self.routes.append(route)
        for prefix in prefixes:
            rmock.add_passthru(prefix)

    def start(self) -> None:
        """Patch ``requests`` (a mock of our own; the caller's is already started)."""
        if self.owned:
            self.rmock.start()
            self.started = True

    def undo(self) -> None:
        """Unpatch a mock of our own; take our routes off the caller's."""
        if self.owned:
            if self.started:
                self.rmock.stop(allow_assert=False)
                self.rmock.reset()
            return
        for route in self.routes:
            with contextlib.suppress(ValueError):  # already removed by the caller
                self.rmock.remove(route)
        self.rmock.passthru_prefixes = self.saved_passthru
