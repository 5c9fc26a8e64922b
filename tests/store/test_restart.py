"""Issue 13, step 1: ``mock-wiro serve --data-dir`` stopped (SIGTERM) or killed (SIGKILL)
and started again on the same data dir carries on from what it acknowledged.

Every test drives real processes over real HTTP, on the manual clock: what a task does
happens only when the test advances the clock, and each wait is the server's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.store.durable import KEY, Fake, comparable

TERMINAL = {"task_postprocess_end", "task_cancel"}


def _every_state(fake: Fake) -> dict[str, str]:
    """Tasks in every state (finished, failed, cancelled, killed, running, held, queued)
    and a task run on an uploaded image; their ids by state."""
    ids: dict[str, str] = {}
    fake.control("POST", "/scenarios", {"prompt_contains": "[[fail]]", "fail_at": "task_start"})

    ids["finished"] = fake.run("a finished one")
    ids["from_upload"] = fake.run_with_upload()
    ids["failed"] = fake.run("a failing one [[fail]]")
    fake.finish(ids["finished"])
    fake.wait(ids["from_upload"])
    fake.wait(ids["failed"])

    ids["cancelled"] = fake.run("cancelled in the queue")
    cancelled = fake.post("Task/Cancel", data={"taskid": ids["cancelled"]})
    assert cancelled["result"] is True, cancelled

    ids["killed"] = fake.run("killed while running")
    ids["running"] = fake.run("still running")
    ids["held"] = fake.run("held before it starts")
    fake.control("POST", f"/tasks/{ids['held']}/hold", {"stage": "task_start"})
    fake.advance(10)  # into generation: past task_start, not finished
    waited = fake.wait(ids["running"], ["task_start", "task_output"])
    assert waited["reached"] is True, waited
    killed = fake.post("Task/Kill", data={"taskid": ids["killed"]})
    assert killed["result"] is True, killed

    ids["queued"] = fake.run("queued, never advanced")
    return ids


def _snapshot(fake: Fake, ids: dict[str, str]) -> dict[str, Any]:
    """Everything a client can read of the fake's state."""
    return {
        "details": {state: comparable(fake.detail(taskid)) for state, taskid in ids.items()},
        "list": comparable(fake.list_tasks()),
        "projects": fake.projects(),
        "now": fake.now(),
    }


def test_sigterm_and_restart_keep_everything_and_running_tasks_finish(tmp_path: Path) -> None:
    data = tmp_path / "data"
    fake = Fake(tmp_path, data)
    try:
        other = fake.control("POST", "/projects", {"balance": "42.5", "auth": "signature"})
        ids = _every_state(fake)
        upload = fake.upload("notes.txt", b"kept across a restart")
        outputs = fake.detail(ids["from_upload"])["outputs"]
        video = fake.download(outputs[0]["url"]).content
        finished_frames = fake.frames(fake.detail(ids["finished"])["socketaccesstoken"])
        before = _snapshot(fake, ids)
        statuses = {state: fake.detail(taskid)["status"] for state, taskid in ids.items()}
    finally:
        assert fake.stop() == 0, fake.served.stderr()

    assert statuses["finished"] == statuses["failed"] == "task_postprocess_end"
    assert statuses["cancelled"] == statuses["killed"] == "task_cancel"
    assert statuses["queued"] == "task_queue"
    assert statuses["held"] == "task_assign"  # held just before task_start
    assert statuses["running"] == "task_output"

    again = Fake(tmp_path, data)
    try:
        assert "8 task(s) kept, 3 running" in again.served.fields["data dir"]
        after = _snapshot(again, ids)
        assert after == before  # every Task/Detail, the list, the projects, the fake time
        assert other in again.projects()
        # a late socket subscriber after the restart still gets the whole replay
        token = again.detail(ids["finished"])["socketaccesstoken"]
        assert again.frames(token) == finished_frames
        # files: the upload and the output, same bytes at the same URLs
        assert again.download(upload["url"]).content == b"kept across a restart"
        assert again.download(outputs[0]["url"]).content == video
        balance = again.balance()

        # the running and queued tasks go on and finish; the held one stays held
        again.advance(600)
        for state in ("running", "queued"):
            assert again.wait(ids[state])["reached"] is True
            done = again.detail(ids[state])
            assert done["status"] == "task_postprocess_end" and done["pexit"] == "0", done
            assert again.download(done["outputs"][0]["url"]).status_code == 200
        held = again.control("GET", f"/tasks/{ids['held']}")
        assert held["status"] == statuses["held"]
        assert again.control("POST", f"/tasks/{ids['held']}/release")["released"] == "task_start"
        again.advance(600)
        assert again.wait(ids["held"])["reached"] is True
        assert again.detail(ids["held"])["pexit"] == "0"
        # each ended task was billed once: three more successes, at the 768P/6 s price
        assert float(again.balance()) == pytest.approx(float(balance) - 3 * 0.19)
        for state in ("finished", "failed", "cancelled", "killed"):  # ended ones unchanged
            assert comparable(again.detail(ids[state])) == before["details"][state]

        # ids go on increasing: never one handed out before the restart
        newer = again.run("after the restart")
        assert int(newer) > max(int(i) for i in ids.values())
        project = again.control("POST", "/projects", {})
        assert int(project["id"]) > max(int(p["id"]) for p in before["projects"])
    finally:
        assert again.stop() == 0, again.served.stderr()


def test_a_running_task_resumes_with_the_time_it_still_had(tmp_path: Path) -> None:
    """The default restart policy: fake time resumes where it stopped, so a task half-way
    through generation ends exactly when it would have without the restart."""
    data = tmp_path / "data"
    fake = Fake(tmp_path, data)
    try:
        taskid = fake.run()
        fake.advance(30)  # part of the way
        stopped_at = fake.now()
        events_before = fake.control("GET", f"/tasks/{taskid}")["events"]
    finally:
        assert fake.stop() == 0
    again = Fake(tmp_path, data)
    try:
        assert again.now() == stopped_at
        assert again.control("GET", f"/tasks/{taskid}")["events"] == events_before
        again.advance(600)
        assert again.wait(taskid)["reached"] is True
        events = again.control("GET", f"/tasks/{taskid}")["events"]
    finally:
        assert again.stop() == 0
    # the same task run without a restart ends at the same fake time, frame for frame
    reference = Fake(tmp_path, tmp_path / "reference")
    try:
        ref_id = reference.run()
        start = reference.now()
        reference.advance(30)
        reference.advance(600)
        assert reference.wait(ref_id)["reached"] is True
        ref_events = reference.control("GET", f"/tasks/{ref_id}")["events"]
    finally:
        assert reference.stop() == 0
    offset = events[0]["time"]
    shape = [(e["type"], round(e["time"] - offset, 6)) for e in events]
    ref_shape = [(e["type"], round(e["time"] - ref_events[0]["time"], 6)) for e in ref_events]
    assert shape == ref_shape
    assert ref_events[0]["time"] == pytest.approx(start)


@pytest.mark.parametrize(
    "when", ["after_run", "after_finish", "after_cancel_and_upload", "after_kill_and_balance"]
)
def test_sigkill_right_after_an_acknowledged_operation_loses_nothing(
    tmp_path: Path, when: str
) -> None:
    data = tmp_path / "data"
    fake = Fake(tmp_path, data)
    seen: dict[str, Any] = {}
    try:
        if when == "after_run":
            taskid = fake.run()  # answered with a task id: then killed at once
        elif when == "after_finish":
            taskid = fake.run()
            seen["detail"] = comparable(fake.finish(taskid))
            seen["balance"] = fake.balance()
        elif when == "after_cancel_and_upload":
            taskid = fake.run()
            answer = fake.post("Task/Cancel", data={"taskid": taskid})
            assert answer["result"] is True, answer
            seen["upload"] = fake.upload("kept.bin", b"\1\2\3" * 1000)["url"]
        else:
            taskid = fake.run()
            fake.advance(10)
            answer = fake.post("Task/Kill", data={"taskid": taskid})
            assert answer["result"] is True, answer
            fake.control("POST", f"/projects/{KEY}/balance", {"balance": "7.25"})
        seen["now"] = fake.now()
    finally:
        assert fake.kill() == -9

    again = Fake(tmp_path, data)
    try:
        detail = again.detail(taskid)  # the task answered before the kill exists
        assert again.now() >= seen["now"]
        if when == "after_run":
            assert detail["status"] == "task_queue"
            finished = again.finish(taskid)  # and it runs to the end, once
            assert finished["pexit"] == "0" and finished["status"] == "task_postprocess_end"
            frames = again.control("GET", f"/tasks/{taskid}")["events"]
            assert [f["type"] for f in frames].count("task_queue") == 1
        elif when == "after_finish":
            assert comparable(detail) == seen["detail"]
            assert again.balance() == seen["balance"]  # billed once, and kept
            again.advance(600)
            assert again.balance() == seen["balance"]
            frames = again.control("GET", f"/tasks/{taskid}")["events"]
            assert [f["type"] for f in frames].count("task_postprocess_end") == 1
        elif when == "after_cancel_and_upload":
            assert detail["status"] == "task_cancel"
            killed = again.post("Task/Kill", data={"taskid": taskid})
            assert killed["result"] is False  # still cancelled: nothing to kill
            assert again.download(seen["upload"]).content == b"\1\2\3" * 1000
        else:
            assert detail["status"] == "task_cancel" and detail["pexit"] == "-9"
            assert again.balance() == "7.25"
            again.advance(600)  # a killed task never goes on, nor is billed
            assert again.detail(taskid)["status"] == "task_cancel"
            assert again.balance() == "7.25"
        # nothing half written is visible: every file in files/ is a kept one
        names = [p.name for p in (data / "files").iterdir()]
        assert not [n for n in names if n.endswith(".part")], names
    finally:
        assert again.stop() == 0, again.served.stderr()


def test_sigkill_mid_run_then_the_tasks_finish_once(tmp_path: Path) -> None:
    """Killed with tasks at several stages (one waiting for its image check): after the
    restart every one of them ends exactly once, with one bill each."""
    data = tmp_path / "data"
    fake = Fake(tmp_path, data)
    try:
        start = fake.balance()
        early = fake.run_with_upload("image check pending")
        middle = fake.run("in generation")
        fake.advance(12)
        late = fake.run("just queued")
    finally:
        assert fake.kill() == -9
    again = Fake(tmp_path, data)
    try:
        again.advance(600)
        for taskid in (early, middle, late):
            assert again.wait(taskid)["reached"] is True
            detail = again.detail(taskid)
            assert detail["status"] == "task_postprocess_end" and detail["pexit"] == "0"
            types = [e["type"] for e in again.control("GET", f"/tasks/{taskid}")["events"]]
            repeated = [t for t in set(types) if t != "task_output" and types.count(t) > 1]
            assert not repeated, types  # no stage twice: nothing ended (or was billed) twice
        assert float(again.balance()) == pytest.approx(float(start) - 3 * 0.19)
    finally:
        assert again.stop() == 0


def test_reused_nonces_stay_refused_after_a_restart(tmp_path: Path) -> None:
    """--reject-reused-nonces: the nonce record is kept."""
    import hashlib
    import hmac

    data = tmp_path / "data"
    key, secret = "signing-key", "signing-secret"

    def signed(base: str, nonce: str) -> int:
        signature = hmac.new(key.encode(), (secret + nonce).encode(), hashlib.sha256).hexdigest()
        headers = {"x-api-key": key, "x-nonce": nonce, "x-signature": signature}
        answer = requests.post(
            f"{base}/v1/Task/List", headers=headers, data={"limit": "1"}, timeout=30
        )
        return answer.status_code

    def serve() -> Fake:
        fake = Fake(tmp_path, data, "--reject-reused-nonces")
        fake.control("POST", "/projects", {"api_key": key, "api_secret": secret})
        return fake

    fake = serve()
    try:
        assert signed(fake.base, "1001") == 200
        assert signed(fake.base, "1001") == 401
    finally:
        assert fake.kill() == -9
    again = Fake(tmp_path, data, "--reject-reused-nonces")
    try:
        assert signed(again.base, "1001") == 401  # remembered across the crash
        assert signed(again.base, "1002") == 200
    finally:
        assert again.stop() == 0


def test_without_a_data_dir_nothing_is_written(tmp_path: Path) -> None:
    """The default stays in memory: the temporary folder holds no database."""
    from tests.helpers.serve import start_serve

    served = start_serve(tmp_path, "--clock", "manual", "--api-key", KEY, "--auth", "apikey")
    try:
        assert "data dir" not in served.fields
    finally:
        assert served.stop() == 0
