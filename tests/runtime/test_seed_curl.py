"""The seed page's own shell commands, run literally with bash + curl + openssl against
``mock-wiro serve`` started as a real subprocess.

The commands are cut out of the seed page text (``mock_wiro_fixtures.seed_page_text()``), not
retyped: the ``export`` lines of "Prepare Authentication (Signature)" with the
placeholder key and secret replaced, then the Run command with its ``//`` comment
lines removed as the seed tells the reader to, then Task/Detail, Kill and Cancel.
The only other edits are the host (``https://api.wiro.ai/v1`` becomes the fake's
REST URL), ``path/to/image.jpg`` (a fixture image) and the seed's example task id
and token (the ones the Run returned). Like the seed, one NONCE/SIGNATURE pair is
reused for the whole flow. Nothing sleeps: the control endpoint waits.
"""

from __future__ import annotations

import ctypes
import hashlib
import hmac
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from mock_wiro_fixtures import image_path, seed_page_text, seed_response
from tests.helpers.serve import STOP_TIMEOUT, Served, clean_env, start_serve
from tests.helpers.wiro import require_tool

SEED = seed_page_text()
SEED_HOST = "https://api.wiro.ai/v1"
SEED_CALLBACK = "Optional: Webhook URL for task completion notifications"
SEED_TOKEN = "eDcCm5yyUfIvMFspTwww49OUfgXkQt"
KEY = "seedCurlKey7Hq2Abc"
SECRET = "seedCurlSecret9Xyz"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
# OpenSSL 3: "SHA2-256(stdin)= <hex>" (later 3.x "HMAC-SHA2-256(stdin)= <hex>");
# before 3: "(stdin)= <hex>"
OPENSSL_LINE = re.compile(r"^(?:\S*\(stdin\)= )?([0-9a-f]{64})$")


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    require_tool("curl")
    require_tool("openssl")
    require_tool("bash")


# ---------------------------------------------------------------- cutting the seed
def seed_lines() -> list[str]:
    return SEED.splitlines()


def seed_exports(key: str = KEY, secret: str = SECRET) -> str:
    """The ``export`` lines of "Prepare Authentication (Signature)", credentials filled in."""
    lines = seed_lines()
    start = next(i for i, line in enumerate(lines) if "Prepare Authentication (Signature)" in line)
    end = next(i for i, line in enumerate(lines) if line.startswith("Create a New Folder"))
    exports = [line for line in lines[start + 1 : end] if line.startswith("export ")]
    assert [line.split("=", 1)[0] for line in exports] == [
        "export YOUR_API_KEY",
        "export YOUR_API_SECRET",
        "export NONCE",
        "export SIGNATURE",
    ]
    assert re.fullmatch(r"[A-Za-z0-9]+", key) and re.fullmatch(r"[A-Za-z0-9]+", secret)
    exports[0] = replace_once(exports[0], '"YOUR_WIRO_API_KEY"', f'"{key}"')
    exports[1] = replace_once(exports[1], '"XXXXXXXXX"', f'"{secret}"')
    return "\n".join(exports) + "\n"


def seed_curl(path: str) -> list[str]:
    """The seed's curl command for ``path``: from ``curl -X POST`` to the line ending in ``;``."""
    lines = seed_lines()
    head = f'curl -X POST "{SEED_HOST}/{path}"'
    starts = [i for i, line in enumerate(lines) if line.startswith(head)]
    assert len(starts) == 1, (path, starts)
    block: list[str] = []
    for line in lines[starts[0] :]:
        block.append(line)
        if line.rstrip().endswith(";"):
            return block
    raise AssertionError(f"the seed's {path} command never ends")


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, (old, text)
    return text.replace(old, new)


def run_command(rest: str, image: Path) -> str:
    """The seed's Run command with its ``//`` lines removed, as the seed says to."""
    block = seed_curl("Run/minimax/hailuo-2-3-fast")
    kept = [line for line in block if not line.lstrip().startswith("//")]
    assert len(block) - len(kept) == 6  # the seed's six // comment lines
    assert all(line.rstrip().endswith("\\") for line in kept[:-1])
    assert kept[-1] == f'-F "callbackUrl={SEED_CALLBACK}";'
    assert '-F "inputImageFirstUrl=" \\' in kept
    assert re.fullmatch(r"[A-Za-z0-9_./-]+", str(image)), image  # safe inside "@..."
    script = "\n".join(kept) + "\n"
    script = replace_once(script, SEED_HOST, rest)
    return replace_once(script, "path/to/image.jpg", str(image))


def detail_command(rest: str, token: str) -> str:
    script = "\n".join(seed_curl("Task/Detail")) + "\n"
    script = replace_once(script, SEED_HOST, rest)
    return replace_once(script, f'"tasktoken": "{SEED_TOKEN}"', f'"tasktoken": "{token}"')


def kill_command(rest: str, taskid: str) -> str:
    script = "\n".join(seed_curl("Task/Kill")) + "\n"
    script = replace_once(script, SEED_HOST, rest)
    return replace_once(script, '"taskid": "534574"', f'"taskid": "{taskid}"')


def cancel_command(rest: str, taskid: str) -> str:
    script = "\n".join(seed_curl("Task/Cancel")) + "\n"
    script = replace_once(script, SEED_HOST, rest)
    return replace_once(script, '"taskid": "634574"', f'"taskid": "{taskid}"')


# ---------------------------------------------------------------- the server subprocess
@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """Start ``mock-wiro serve`` processes; each must exit 0 on SIGTERM at the end."""
    started: list[Served] = []

    def start(*args: str) -> Served:
        served = start_serve(tmp_path, *args)
        started.append(served)
        return served

    yield start
    failures = []
    for served in started:
        code = served.stop()
        if code != 0:
            failures.append(f"exit {code}: {served.stderr()}")
    assert not failures, failures


@dataclass
class Shell:
    """Runs seed commands with bash, one invocation per step, sharing one environment."""

    env: dict[str, str]

    def bash(self, script: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-c", script],
            env=self.env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, (script, done.returncode, done.stdout, done.stderr)
        return done

    def json(self, script: str) -> dict[str, Any]:
        out = self.bash(script).stdout
        try:
            body: dict[str, Any] = json.loads(out)
        except ValueError:
            raise AssertionError(f"not JSON: {out!r}\nfrom:\n{script}") from None
        return body


def authenticate_like_the_seed(tmp: Path, key: str = KEY, secret: str = SECRET) -> Shell:
    """Run the seed's export lines once; later steps reuse NONCE and SIGNATURE."""
    shell = Shell(clean_env(tmp))
    out = shell.bash(seed_exports(key, secret) + 'printf "%s\\n" "$NONCE" "$SIGNATURE"\n')
    nonce, signature = out.stdout.splitlines()
    assert nonce.isdigit(), nonce  # $(date +%s)
    match = OPENSSL_LINE.match(signature)
    assert match, signature
    # openssl's hex is the contract's HMAC (computed here independently of the fake)
    expected = hmac.new(key.encode(), (secret + nonce).encode(), hashlib.sha256).hexdigest()
    assert match.group(1) == expected
    shell.env |= {
        "YOUR_API_KEY": key,
        "YOUR_API_SECRET": secret,
        "NONCE": nonce,
        "SIGNATURE": signature,
    }
    return shell


def control(served: Served, path: str, body: dict[str, Any]) -> dict[str, Any]:
    session = requests.Session()
    session.trust_env = False  # no proxy for loopback
    response = session.post(served.control + path, json=body, timeout=120)
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    return reply


def assert_seed_shape(body: dict[str, Any], seed_name: str) -> dict[str, Any]:
    """Same top-level keys as the seed's response; every seed task (and output) key present."""
    seed = seed_response(seed_name)
    assert set(body) == set(seed), (sorted(body), sorted(seed))
    assert body["result"] is True and body["errors"] == []
    assert len(body["tasklist"]) == 1
    task: dict[str, Any] = body["tasklist"][0]
    seed_task = seed["tasklist"][0]
    assert set(seed_task) <= set(task), sorted(set(seed_task) - set(task))
    for name, value in seed_task.items():
        if isinstance(value, str):
            assert isinstance(task[name], str), (name, task[name])
    if task["outputs"]:
        assert set(seed_task["outputs"][0]) <= set(task["outputs"][0])
    return task


def assert_seed_run(body: dict[str, Any]) -> tuple[str, str]:
    assert set(body) == set(seed_response("run_response")), body
    assert body["result"] is True and body["errors"] == [], body
    assert isinstance(body["taskid"], str) and body["taskid"].isdigit()
    assert isinstance(body["socketaccesstoken"], str) and body["socketaccesstoken"]
    return body["taskid"], body["socketaccesstoken"]


IMAGE = image_path("landscape_16x9.jpg")


# ---------------------------------------------------------------- the seed's flow
def test_seed_commands_cut_from_the_page() -> None:
    """The cutting itself: what the seed tells a reader to run, and nothing else changed."""
    run = run_command("http://HOST/v1", IMAGE)
    assert "//" not in run.replace("http://", "")
    assert run.startswith('curl -X POST "http://HOST/v1/Run/minimax/hailuo-2-3-fast" \\\n')
    assert f'-F "inputImageFirst=@{IMAGE}" \\' in run
    assert '-H "x-signature: ${SIGNATURE}" \\' in run
    assert run.count("-F ") == 7 and run.count("-H ") == 3
    assert f'-F "callbackUrl={SEED_CALLBACK}";' in run
    exports = seed_exports()
    assert "export NONCE=$(date +%s);" in exports
    assert (
        'export SIGNATURE="$(echo -n "${YOUR_API_SECRET}${NONCE}" | '
        'openssl dgst -sha256 -hmac "${YOUR_API_KEY}")";'
    ) in exports
    for command in (
        detail_command("http://HOST/v1", "tok"),
        kill_command("http://HOST/v1", "1"),
        cancel_command("http://HOST/v1", "2"),
    ):
        assert '-H "Content-Type: application/json" \\' in command
        assert command.rstrip().endswith("}';")


def test_seed_flow_on_the_instant_clock(serve: Callable[..., Served], tmp_path: Path) -> None:
    served = serve("--api-key", KEY, "--api-secret", SECRET, "--clock", "instant")
    assert served.fields["API key"] == KEY and served.fields["secret"] == SECRET
    shell = authenticate_like_the_seed(tmp_path)
    rest = served.rest

    # Run: the seed's multipart call, callbackUrl and all
    taskid, token = assert_seed_run(shell.json(run_command(rest, IMAGE)))
    waited = control(served, f"/tasks/{taskid}/wait", {"timeout": 30})
    assert waited == {"reached": True, "status": "task_postprocess_end"}

    # Task/Detail by the token, with the same nonce and signature
    task = assert_seed_shape(shell.json(detail_command(rest, token)), "task_detail_response")
    assert task["id"] == taskid and task["socketaccesstoken"] == token
    assert task["status"] == "task_postprocess_end" and task["pexit"] == "0"
    assert task["callbackurl"] == SEED_CALLBACK  # recorded as the seed's literal text
    assert task["parameters"]["prompt"].startswith("Wide shot of the beach and power plant.")
    assert task["parameters"]["resolution"] == "768P" and task["parameters"]["duration"] == "6"
    assert len(task["outputs"]) == 1 and task["outputs"][0]["contenttype"] == "video/mp4"
    video = shell.bash(f"curl -sS {shlex.quote(task['outputs'][0]['url'])} | head -c 12 | od -c")
    assert "f   t   y   p" in video.stdout

    # Kill on the finished task: refused, and the task is unchanged
    killed = shell.json(kill_command(rest, taskid))
    assert killed["result"] is False and len(killed["errors"]) == 1
    assert killed["errors"][0]["code"] == 1
    assert killed["errors"][0]["message"].startswith("Task could not be killed")
    again = shell.json(detail_command(rest, token))["tasklist"][0]
    assert again["status"] == "task_postprocess_end" and again["outputs"] == task["outputs"]

    # a second Run, then Cancel: on the instant clock it may be past the queue already
    taskid2, _ = assert_seed_run(shell.json(run_command(rest, IMAGE)))
    cancelled = shell.json(cancel_command(rest, taskid2))
    if cancelled["result"]:
        assert assert_seed_shape(cancelled, "task_cancel_response")["status"] == "task_cancel"
    else:
        assert cancelled["errors"] == [
            {"code": 1, "message": "Task is not in a cancellable state."}
        ]
    reply = control(served, f"/tasks/{taskid2}/wait", {"timeout": 30})
    assert reply["reached"] is True
    assert reply["status"] in ("task_cancel", "task_postprocess_end")


def test_seed_cancel_and_kill_on_the_manual_clock(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    served = serve("--api-key", KEY, "--api-secret", SECRET, "--clock", "manual")
    shell = authenticate_like_the_seed(tmp_path)
    rest = served.rest

    # Cancel: "for tasks on queue"; the manual clock keeps the task queued
    taskid, token = assert_seed_run(shell.json(run_command(rest, IMAGE)))
    queued = shell.json(detail_command(rest, token))["tasklist"][0]
    assert queued["status"] == "task_queue" and queued["callbackurl"] == SEED_CALLBACK
    cancelled = assert_seed_shape(shell.json(cancel_command(rest, taskid)), "task_cancel_response")
    assert cancelled["id"] == taskid and cancelled["status"] == "task_cancel"
    assert cancelled["canceltime"] != "0"
    # Cancel again: no longer queued
    assert shell.json(cancel_command(rest, taskid))["errors"] == [
        {"code": 1, "message": "Task is not in a cancellable state."}
    ]

    # Kill: a running task ends at task_cancel
    taskid2, token2 = assert_seed_run(shell.json(run_command(rest, IMAGE)))
    control(served, "/clock/advance", {"seconds": 10})
    running = shell.json(detail_command(rest, token2))["tasklist"][0]
    assert running["status"] not in ("task_queue", "task_cancel", "task_postprocess_end")
    killed = assert_seed_shape(shell.json(kill_command(rest, taskid2)), "task_kill_response")
    assert killed["id"] == taskid2 and killed["status"] == "task_cancel"
    assert killed["outputs"] == [] and killed["pexit"] != "0"
    control(served, "/clock/advance", {"seconds": 600})
    after = shell.json(detail_command(rest, token2))["tasklist"][0]
    assert after["status"] == "task_cancel"
    assert shell.json(detail_command(rest, token))["tasklist"][0]["status"] == "task_cancel"


def test_seed_signature_under_strict(serve: Callable[..., Served], tmp_path: Path) -> None:
    """``--strict``: the seed's labelled openssl line is refused, the bare hex accepted, and
    (nonce reuse being its own flag) accepted again with the same nonce."""
    served = serve("--api-key", KEY, "--api-secret", SECRET, "--clock", "manual", "--strict")
    shell = authenticate_like_the_seed(tmp_path)
    detail = detail_command(served.rest, "no-such-token")
    not_valid = {
        "result": False,
        "errors": [{"code": 0, "message": "Project authorization is not valid."}],
    }
    no_task = {"result": False, "errors": [{"code": 1, "message": "There is no task yet."}]}
    if shell.env["SIGNATURE"].endswith(")= " + shell.env["SIGNATURE"][-64:]):
        assert shell.json(detail) == not_valid  # labelled (OpenSSL >= 1.1)
    bare = 'export SIGNATURE="${SIGNATURE##*= }"\n'
    assert shell.json(bare + detail) == no_task
    assert shell.json(bare + detail) == no_task  # --strict alone: a reused nonce passes


def test_seed_flow_under_reject_reused_nonces(serve: Callable[..., Served], tmp_path: Path) -> None:
    """``--reject-reused-nonces``: the seed's labelled line passes once; the seed's flow,
    which reuses its NONCE for every call, is refused from the second call on."""
    served = serve(
        "--api-key", KEY, "--api-secret", SECRET, "--clock", "manual", "--reject-reused-nonces"
    )
    shell = authenticate_like_the_seed(tmp_path)
    detail = detail_command(served.rest, "no-such-token")
    no_task = {"result": False, "errors": [{"code": 1, "message": "There is no task yet."}]}
    not_valid = {
        "result": False,
        "errors": [{"code": 0, "message": "Project authorization is not valid."}],
    }
    assert shell.json(detail) == no_task
    assert shell.json(detail) == not_valid  # the nonce is spent


def test_seed_flow_with_a_wrong_secret_is_refused(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    served = serve("--api-key", KEY, "--api-secret", SECRET, "--clock", "manual")
    shell = authenticate_like_the_seed(tmp_path, secret=SECRET + "x")
    assert shell.json(run_command(served.rest, IMAGE)) == {
        "result": False,
        "errors": [{"code": 0, "message": "Project authorization is not valid."}],
    }
    status = shell.bash(
        run_command(served.rest, IMAGE).rstrip().rstrip(";")
        + ' \\\n-o /dev/null -w "%{http_code}";\n'
    ).stdout
    assert status == "401"


# ---------------------------------------------------------------- the CLI itself
def test_serve_without_credentials_prints_a_demo_project(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    served = serve("--clock", "instant")
    fields = served.fields
    rest = fields["REST"]
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/v1", rest)
    assert match and int(match.group(1)) > 0, rest
    port = match.group(1)
    assert fields["WebSocket"] == f"ws://127.0.0.1:{port}/v1"
    assert served.control == f"http://127.0.0.1:{port}/_mock"
    assert "demo project" in fields["project"] and "signature" in fields["project"]
    key, secret = fields["API key"], fields["secret"]
    assert re.fullmatch(r"[A-Za-z0-9]{16,}", key) and re.fullmatch(r"[A-Za-z0-9]{16,}", secret)
    curl = [line for line in served.banner if line.strip().startswith("curl ")]
    assert curl == [f'  curl -X POST "{rest}/Run/minimax/hailuo-2-3-fast" \\']
    assert any(key in line and "export" in line for line in served.banner)

    # the demo credentials work, signed by the banner's own recipe
    start = served.banner.index("Try it (the seed's Run call, signed with openssl):") + 1
    end = served.banner.index("", start)
    try_it = "\n".join(served.banner[start:end]) + "\n"
    try_it = replace_once(try_it, "path/to/image.jpg", str(IMAGE))
    shell = Shell(clean_env(tmp_path))
    taskid, _ = assert_seed_run(shell.json(try_it))
    assert control(served, f"/tasks/{taskid}/wait", {"timeout": 30})["reached"] is True


def test_port_zero_picks_distinct_free_ports(serve: Callable[..., Served], tmp_path: Path) -> None:
    first = serve("--clock", "manual")
    second = serve("--clock", "manual")
    assert first.rest != second.rest
    session = requests.Session()
    session.trust_env = False
    for served in (first, second):
        health = session.get(served.control + "/health", timeout=30)
        assert health.status_code == 200 and health.json() == {"ok": True}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly(tmp_path: Path, sig: int) -> None:
    served = start_serve(tmp_path, "--clock", "manual")
    try:
        assert served.stop(sig) == 0
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(timeout=STOP_TIMEOUT)
            served.close()
    assert "shutting down" in served.stderr()


TGKILL = {"x86_64": 234, "aarch64": 131}  # Linux syscall numbers


def _signal_thread(pid: int, tid: int, sig: int) -> None:
    """``tgkill``: a signal to one thread of ``pid`` (``kill`` lets the kernel choose)."""
    number = TGKILL.get(platform.machine())
    if not sys.platform.startswith("linux") or number is None:
        pytest.skip("tgkill: Linux on x86_64 or aarch64")
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(number, pid, tid, sig) == 0, os.strerror(ctypes.get_errno())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_on_a_signal_a_worker_thread_takes(tmp_path: Path, sig: int) -> None:
    """The kernel hands a process signal to any thread that does not block it; a main
    thread blocked in a lock wait never ran Python's handler (a SIGTERM taken by a request
    thread once left ``serve`` up for an hour)."""
    served = start_serve(tmp_path, "--clock", "manual")
    try:
        pid = served.proc.pid
        workers = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
        assert workers, "serve runs its HTTP server in a thread"
        _signal_thread(pid, workers[-1], sig)
        assert served.proc.wait(timeout=STOP_TIMEOUT) == 0
    finally:
        if served.proc.poll() is None:
            served.proc.kill()
            served.proc.wait(timeout=STOP_TIMEOUT)
        served.close()
    assert "shutting down" in served.stderr()
