"""Issue 18, holes 1, 2, 3 and 6 and the callback part of 7: nothing but the holder of
the control surface acts on it, over real HTTP against a real ``mock-wiro serve``.

- a task's callback aimed at the fake's own ``/_mock`` (every spelling of its address)
  leaves its state untouched, and the refusal is journalled;
- a bodyless cross-site POST is refused on every state-changing route;
- a rebound ``Host`` (and a foreign ``Origin`` on the socket) is refused;
- ``create_app()`` served by another WSGI server keeps its file URLs and its control
  surface safe;
- a callback receiver that drips its answer is cut at the attempt's deadline, and a
  loopback callback never goes to a proxy.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket
from werkzeug.serving import make_server

from mock_wiro import Settings
from mock_wiro.app import create_app
from mock_wiro.control.fake import Fake
from tests.helpers.callbacks import Receiver
from tests.helpers.serve import Served, start_serve

_nonces = itertools.count(int(time.time() * 1000))


def signer(key: str, secret: str) -> Callable[[], dict[str, str]]:
    """Fresh signature headers for a project, one nonce each."""

    def sign() -> dict[str, str]:
        nonce = str(next(_nonces))
        digest = hmac.new(key.encode(), (secret + nonce).encode(), hashlib.sha256).hexdigest()
        return {"x-api-key": key, "x-nonce": nonce, "x-signature": digest}

    return sign


WAIT = 30.0
RUN = "/v1/Run/minimax/hailuo-2-3-fast"
IMAGE_URL = "https://example.com/in.jpg"  # external: never fetched (placeholder policy)


class Api:
    """Signed /v1 calls and /_mock calls on a served fake's demo project."""

    def __init__(self, served: Served) -> None:
        self.url = served.rest.removesuffix("/v1")
        self.port = int(self.url.rsplit(":", 1)[1])
        key, secret = served.fields["API key"], served.fields["secret"]
        self.sign = signer(key, secret)

    def v1(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = requests.post(self.url + path, headers=self.sign(), json=body, timeout=WAIT)
        found: dict[str, Any] = r.json()
        return found

    def mock(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.url + "/_mock" + path, timeout=WAIT, **kwargs)

    def run(self, **extra: str) -> str:
        made = self.v1(RUN, {"inputImageFirstUrl": IMAGE_URL, "prompt": "waves", **extra})
        assert made["result"] is True, made
        return str(made["taskid"])

    def state(self) -> dict[str, int]:
        """How much the fake holds: tasks, projects, scenarios, fault rules."""
        return {
            "tasks": len(self.mock("GET", "/tasks").json()["tasks"]),
            "projects": len(self.mock("GET", "/projects").json()["projects"]),
            "scenarios": len(self.mock("GET", "/scenarios").json()["scenarios"]),
            "faults": len(self.mock("GET", "/faults").json()["faults"]),
        }

    def arm(self) -> None:
        """A scenario and an HTTP fault rule that nothing matches: state to lose."""
        made = self.mock("POST", "/scenarios", json={"prompt_contains": "never-xyzzy"})
        assert made.status_code == 201, made.text
        made = self.mock("POST", "/faults", json={"path": "/v1/Nothing", "status": 500})
        assert made.status_code == 201, made.text


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    found = start_serve(tmp_path_factory.mktemp("guard"), "--clock", "instant")
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def api(served: Served) -> Api:
    return Api(served)


# ------------------------------------------------------------------ hole 1: callbacks
def _self_urls(port: int) -> list[str]:
    spellings = ("127.0.0.1", "localhost", "127.1", "0x7f000001", "2130706433")
    urls = [f"http://{host}:{port}/_mock/reset" for host in spellings]
    urls.append(f"http://127.0.0.1:{port}/v1/../_mock/reset")
    urls += [f"http://127.0.0.1:{port}/_mock/{p}" for p in ("scenarios/clear", "faults/clear")]
    urls.append(f"http://127.0.0.1:{port}/_mock/projects")
    return urls


def test_a_callback_cannot_act_on_the_fake_itself(api: Api) -> None:
    api.arm()
    api.run()  # a witness task
    before = api.state()
    since = api.mock("GET", "/journal").json()["last_seq"]
    # every task first, then the waits: their retries' back-offs run side by side
    tasks = {url: api.run(callbackUrl=url) for url in _self_urls(api.port)}
    for url, task in tasks.items():
        done = api.mock("POST", f"/callbacks/{task}/wait", json={"timeout": WAIT}).json()
        statuses = {a["status"] for a in done["callback"]["attempts"]}
        assert done["callback"]["state"] == "failed" and statuses == {403}, (url, done)
    after = api.state()
    assert after["projects"] == before["projects"]
    assert after["scenarios"] == before["scenarios"] and after["faults"] == before["faults"]
    assert after["tasks"] == before["tasks"] + len(_self_urls(api.port))  # none lost
    refused = api.mock("GET", "/journal", params={"kind": "refused", "since": since}).json()
    rules = {e["rule"] for e in refused["entries"]}
    assert rules == {"callback"} and len(refused["entries"]) >= len(_self_urls(api.port))
    assert all("/_mock" in e["path"] for e in refused["entries"])


def test_a_normal_loopback_callback_still_arrives(api: Api, receiver: Receiver) -> None:
    task = api.run(callbackUrl=receiver.url("/hook"))
    done = api.mock("POST", f"/callbacks/{task}/wait", json={"timeout": WAIT}).json()
    assert done["callback"]["state"] == "delivered", done
    [got] = receiver.to("/hook")
    assert got.json()["tasklist"][0]["id"] == task


# ------------------------------------------------------------------ hole 2: cross-site
STATE_CHANGING = (
    "/reset",
    "/faults/clear",
    "/scenarios/clear",
    "/faults/release",
    "/clock/advance",
    "/projects",
    "/clock",
    "/snapshot",  # not a change, but it answers every secret
)
CROSS_SITE = (
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "http://localhost:1", "Sec-Fetch-Site": "same-site"},
)


@pytest.mark.parametrize("route", STATE_CHANGING)
def test_a_bodyless_cross_site_post_is_refused(api: Api, route: str) -> None:
    api.arm()
    api.run()
    before = api.state()
    for headers in CROSS_SITE:
        refused = api.mock("POST", route, headers=headers)  # no body, no Content-Type
        assert refused.status_code == 403, (route, headers, refused.text)
        assert "cross-site request refused" in refused.json()["error"]
    assert api.state() == before


def test_same_origin_and_non_browser_posts_still_work(api: Api) -> None:
    own = api.url
    for headers in ({}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
        assert api.mock("POST", "/scenarios/clear", headers=headers).status_code == 200
    same = api.mock("POST", "/scenarios/clear", headers={"Origin": own})
    assert same.status_code == 200, same.text
    # reading stays open to a cross-site GET: without CORS headers no page can read it
    assert "Access-Control-Allow-Origin" not in api.mock("GET", "/health").headers


# ------------------------------------------------------------------ hole 3: rebinding
def test_a_rebound_host_name_gets_no_secret(api: Api, served: Served) -> None:
    for host in ("attacker.example", f"attacker.example:{api.port}", "127.0.0.1.nip.io"):
        r = api.mock("GET", "/projects", headers={"Host": host})
        assert r.status_code == 403 and "DNS rebinding" in r.json()["error"], (host, r.text)
        assert served.fields["secret"] not in r.text
    for host in (f"localhost:{api.port}", f"127.0.0.1:{api.port}", "app.localhost", "[::1]"):
        assert api.mock("GET", "/projects", headers={"Host": host}).status_code == 200, host
    refused = api.mock("GET", "/journal", params={"kind": "refused"}).json()["entries"]
    assert any(e["rule"] == "host" for e in refused)


def test_a_proxied_request_needs_the_admin_token(api: Api, served: Served) -> None:
    """A reverse proxy on the same machine makes every peer loopback: without a token,
    a request carrying a proxy's headers is refused, whatever Host it names."""
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP", "Via", "X-Forwarded-Host"):
        for host in (f"127.0.0.1:{api.port}", f"localhost:{api.port}"):
            r = api.mock("GET", "/projects", headers={header: "203.0.113.9", "Host": host})
            assert r.status_code == 403 and "through a proxy" in r.json()["error"], r.text
            assert served.fields["secret"] not in r.text
    refused = api.mock("GET", "/journal", params={"kind": "refused"}).json()["entries"]
    assert any(e["rule"] == "proxied" for e in refused)


def test_a_public_url_off_loopback_gets_a_generated_token(tmp_path: Path) -> None:
    served = start_serve(tmp_path, "--public-url", "http://fake.example.com")
    try:
        token = served.fields["admin"].split()[1]
        assert "generated" in served.fields["admin"]
        api = Api(served)
        assert api.mock("GET", "/projects").status_code == 401
        ok = api.mock("GET", "/projects", headers={"X-Admin-Token": token})
        assert ok.status_code == 200
        # behind the proxy, with the token, the forwarded request is the holder's
        proxied = api.mock(
            "GET",
            "/projects",
            headers={"X-Admin-Token": token, "X-Forwarded-For": "203.0.113.9"},
        )
        assert proxied.status_code == 200
    finally:
        served.stop()


def test_a_refusal_is_journalled_within_the_entry_bounds(api: Api) -> None:
    long_path = "/" + "a" * 60_000
    r = api.mock("GET", long_path, headers={"Host": "attacker.example"})
    assert r.status_code == 403
    [entry] = [
        e
        for e in api.mock("GET", "/journal", params={"kind": "refused"}).json()["entries"]
        if e["path"].startswith("/_mock/aaaa")
    ]
    assert len(entry["path"]) <= 4096 and len(entry["message"]) <= 4096


def _socket(api: Api, **options: Any) -> websocket.WebSocket:
    return websocket.create_connection(f"ws://127.0.0.1:{api.port}/v1", timeout=WAIT, **options)


def test_the_socket_refuses_a_foreign_origin_or_host(api: Api) -> None:
    for options in (
        {"origin": "http://attacker.example"},
        {"origin": "https://evil.example:443"},
        {"origin": "http://203.0.113.5"},  # a page served from an address is still foreign
        {"host": "attacker.example"},
    ):
        with pytest.raises(websocket.WebSocketBadStatusException) as caught:
            _socket(api, **options)
        assert caught.value.status_code == 403, options
    local_pages = ({"origin": f"http://localhost:{api.port}"}, {"origin": "http://[::1]:9"})
    for options in ({}, {"origin": "null"}, *local_pages):
        ws = _socket(api, **options)  # file:// pages (Origin: null), local pages, scripts
        ws.send('{"type": "ping"}')
        assert "pong" in ws.recv()
        ws.close()


def test_an_allowed_host_is_trusted(tmp_path: Path) -> None:
    served = start_serve(tmp_path, "--allowed-host", "devbox.test")
    try:
        api = Api(served)
        ok = api.mock("GET", "/projects", headers={"Host": "devbox.test:8080"})
        assert ok.status_code == 200
        assert api.mock("GET", "/projects", headers={"Host": "other.test"}).status_code == 403
        _socket(api, origin="http://devbox.test:3000").close()
    finally:
        served.stop()


# ------------------------------------------------------------------ hole 6: create_app
@pytest.fixture
def plain_wsgi() -> Iterator[tuple[str, Fake]]:
    """``create_app()`` served by werkzeug's server directly: no MockWiroServer, no CLI."""
    fake = Fake.build(Settings(clock_mode="instant"))
    server = make_server("127.0.0.1", 0, create_app(fake), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=WAIT)
        fake.backend.close()


def test_a_first_request_cannot_choose_the_file_urls(plain_wsgi: tuple[str, Fake]) -> None:
    url, fake = plain_wsgi
    project = fake.backend.create_project()
    sign = signer(project.api_key, project.api_secret)
    image = Path(__file__).resolve().parents[2] / "mock_wiro_fixtures/images/landscape_16x9.jpg"

    def run_as_attacker() -> dict[str, Any]:
        """A signed Run with an upload, naming the attacker's host; its Task/Detail."""
        with image.open("rb") as src:
            made = requests.post(
                url + RUN,
                headers={**sign(), "Host": "attacker.example:80"},
                files={"inputImageFirst": ("in.jpg", src, "image/jpeg")},
                data={"prompt": "waves"},
                timeout=WAIT,
            ).json()
        detail = requests.post(
            url + "/v1/Task/Detail", headers=sign(), json={"taskid": made["taskid"]}, timeout=WAIT
        ).json()
        task: dict[str, Any] = detail["tasklist"][0]
        return task

    # the very first request, unauthenticated, names the attacker's host
    first = requests.post(
        url + "/v1/Task/List", headers={"Host": "attacker.example"}, json={}, timeout=WAIT
    )
    assert first.status_code == 401
    task = run_as_attacker()
    urls = [o["url"] for o in task["outputs"]] + [str(task["parameters"]["inputImageFirst"])]
    assert all("attacker" not in u for u in urls), urls
    # the authenticated request that named the fake's address set it (Task/Detail above)
    assert fake.backend.files.public_url == url
    task = run_as_attacker()
    assert fake.backend.files.public_url == url
    assert str(task["parameters"]["inputImageFirst"]).startswith(url + "/v1/")


def test_an_untrusted_host_is_named_in_the_log_once(caplog: pytest.LogCaptureFixture) -> None:
    fake = Fake.build(Settings(clock_mode="manual"))
    try:
        project = fake.backend.create_project()
        sign = signer(project.api_key, project.api_secret)
        client = create_app(fake).test_client()
        for _ in range(3):
            answer = client.post(
                "/v1/Task/List", headers={**sign(), "Host": "devbox:8000"}, json={}
            )
            assert answer.status_code == 200
        warned = [r for r in caplog.records if "set the public URL" in r.getMessage()]
        assert len(warned) == 1 and "devbox:8000" in warned[0].getMessage()
        assert fake.backend.files.public_url == "http://127.0.0.1"
    finally:
        fake.backend.close()


def test_create_app_keeps_the_control_surface_local() -> None:
    fake = Fake.build(Settings(clock_mode="manual"))
    try:
        client = create_app(fake).test_client()
        remote = {"REMOTE_ADDR": "10.1.2.3"}
        refused = client.get("/_mock/projects", environ_base=remote)
        assert refused.status_code == 403 and "admin token" in refused.get_json()["error"]
        assert client.post("/_mock/reset", environ_base=remote).status_code == 403
        assert client.get("/_mock/projects").status_code == 200  # the test client: loopback
    finally:
        fake.backend.close()
    fake = Fake.build(Settings(clock_mode="manual", admin_token="s3cret"))
    try:
        client = create_app(fake).test_client()
        remote = {"REMOTE_ADDR": "10.1.2.3"}
        assert client.get("/_mock/projects", environ_base=remote).status_code == 401
        ok = client.get("/_mock/projects", environ_base=remote, headers={"X-Admin-Token": "s3cret"})
        assert ok.status_code == 200
    finally:
        fake.backend.close()


# ------------------------------------------------------------------ hole 7: callbacks
class _Dripper:
    """A receiver that answers a byte every 50 ms, forever: only a deadline ends it."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.closed = threading.Event()
        self.threads: list[threading.Thread] = []
        self.accepted = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.set()
            t = threading.Thread(target=self._drip, args=(conn,), daemon=True)
            t.start()
            self.threads.append(t)

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                for byte in b"HTTP/1.1 200 OK\r\nX-Drip: " + b"a" * 10**6:
                    conn.sendall(bytes([byte]))
                    if self.closed.wait(0.05):  # pacing the drip, not waiting on a result
                        return
            except OSError:
                return  # the fake cut the connection: what the test wants

    def close(self) -> None:
        self.closed.set()
        self.sock.close()
        for t in self.threads:
            t.join(timeout=WAIT)


def test_a_dripping_receiver_is_cut_at_the_deadline(tmp_path: Path) -> None:
    dripper = _Dripper()
    served = start_serve(
        tmp_path, "--clock", "instant", "--callback-timeout", "1", "--callback-attempts", "1"
    )
    try:
        api = Api(served)
        task = api.run(callbackUrl=dripper.url)
        done = api.mock("POST", f"/callbacks/{task}/wait", json={"timeout": WAIT}).json()
        [attempt] = done["callback"]["attempts"]
        assert done["callback"]["state"] == "failed", done
        assert "deadline of 1 s" in attempt["error"], attempt
        assert attempt["duration"] < 1 + 5, attempt  # cut at 1 s (generous bound)
    finally:
        served.stop()
        dripper.close()


def test_a_loopback_callback_never_goes_to_a_proxy(tmp_path: Path) -> None:
    proxy, receiver = Receiver(), Receiver()
    proxy_url = proxy.url("/").rstrip("/")
    env = {name: proxy_url for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
    served = start_serve(tmp_path, "--clock", "instant", env=env)
    try:
        api = Api(served)
        task = api.run(callbackUrl=receiver.url("/hook"))
        done = api.mock("POST", f"/callbacks/{task}/wait", json={"timeout": WAIT}).json()
        assert done["callback"]["state"] == "delivered", done
        assert len(receiver.to("/hook")) == 1
        assert proxy.requests == []
    finally:
        served.stop()
        proxy.close()
        receiver.close()
