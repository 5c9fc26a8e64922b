"""The dashboard at ``/_mock/`` in headless Chromium (Selenium), against a real fake.

One fake (``MockWiroServer`` on loopback, manual clock) and one browser serve the whole
module; each test resets the fake and opens the page afresh. Tasks are made with the
reference client over real HTTP, the clock is moved through ``/_mock``, and every wait
is an explicit WebDriverWait on a DOM condition: nothing sleeps.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from hailuo_client import Client
from mock_wiro.engine.models import Project
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from mock_wiro_fixtures import image_path
from tests.helpers.browser import chromium
from tests.helpers.client import make_client, no_sleep
from tests.helpers.frames import connect, read_until_terminal, register

WAIT = 30.0  # generous: only a hang fails it
IMAGE = "landscape_16x9.jpg"


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server() -> Iterator[MockWiroServer]:
    with MockWiroServer(Settings(clock_mode="manual")) as fake:
        yield fake


@pytest.fixture(scope="module")
def project(server: MockWiroServer) -> Project:
    return server.create_project(balance="100")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Debian Chromium through Debian's chromedriver (tests/helpers/browser.py)."""
    tmp = tmp_path_factory.mktemp("dashboard-browser")
    with chromium(
        tmp, "--window-size=1400,1000", "--autoplay-policy=no-user-gesture-required", wait=WAIT
    ) as driver:
        yield driver


@pytest.fixture
def page(server: MockWiroServer, project: Project, browser: WebDriver) -> WebDriver:
    """A fresh fake (projects kept, $100, manual clock) and the dashboard open, its feed live."""
    server.reset()
    server.set_clock("manual")
    server.set_balance(project, "100")
    browser.get(server.url + "/_mock/")
    wait_until(
        browser,
        "the live feed",
        lambda d: d.execute_script("return document.body.dataset.feed") == "live",
    )
    return browser


@pytest.fixture
def client(server: MockWiroServer, project: Project) -> Client:
    return make_client(server, project, sleep=no_sleep, timeout=10.0)


# ---------------------------------------------------------------- helpers
def wait_until(driver: WebDriver, what: str, condition: Any) -> Any:
    try:
        return WebDriverWait(driver, WAIT, poll_frequency=0.02).until(condition)
    except TimeoutException:
        logs = [e["message"] for e in driver.get_log("browser")]
        raise AssertionError(f"timed out waiting for {what}; console: {logs!r}") from None


def row_attr(driver: WebDriver, task_id: str, name: str) -> str | None:
    value: str | None = driver.execute_script(
        "const tr = document.querySelector(`#tasks-body tr[data-id='${arguments[0]}']`);"
        "return tr ? tr.dataset[arguments[1]] : null;",
        task_id,
        name,
    )
    return value


def control(server: MockWiroServer, method: str, path: str, body: Any = None) -> Any:
    session = requests.Session()
    session.trust_env = False
    response = session.request(method, server.url + "/_mock" + path, json=body, timeout=60)
    assert response.status_code < 300, response.text
    return response.json()


def collapsed(types: list[str]) -> list[str]:
    return [t for i, t in enumerate(types) if i == 0 or t != types[i - 1]]


def click_row(driver: WebDriver, task_id: str) -> None:
    """Click a task's row (found and clicked in one script: rows are redrawn live)."""
    driver.execute_script(
        "document.querySelector(`#tasks-body tr[data-id='${arguments[0]}']`).click();", task_id
    )


def mark_page(driver: WebDriver) -> None:
    """A marker a reload would lose."""
    driver.execute_script("window.__notReloaded = true;")


def still_same_page(driver: WebDriver) -> bool:
    return bool(driver.execute_script("return window.__notReloaded === true;"))


# ---------------------------------------------------------------- tests
def test_a_task_appears_advances_and_plays_live(
    page: WebDriver, server: MockWiroServer, client: Client
) -> None:
    mark_page(page)
    task = client.run(image_path(IMAGE), "a dashboard test")
    taskid = str(task.id)
    wait_until(page, "the new row", lambda d: row_attr(d, taskid, "status") == "task_queue")

    control(server, "POST", "/clock/advance", {"seconds": 10})
    status = client.detail(task.id).status
    assert status not in ("task_queue", "task_postprocess_end"), status
    wait_until(page, f"the row at {status}", lambda d: row_attr(d, taskid, "status") == status)

    control(server, "POST", "/clock/advance", {"seconds": 600})
    assert client.detail(task.id).status == "task_postprocess_end"
    wait_until(page, "the finished row", lambda d: row_attr(d, taskid, "outcome") == "succeeded")
    assert still_same_page(page)
    cells = page.execute_script(
        "return [...document.querySelectorAll(`#tasks-body tr[data-id='${arguments[0]}'] td`)]"
        ".map(td => td.textContent.trim());",
        taskid,
    )
    assert cells[:4] == [taskid, project_id(server, taskid), "postprocess_end", "100%"], cells
    totalcost = control(server, "GET", f"/tasks/{taskid}")["totalcost"]
    assert Decimal(cells[6].removeprefix("$")) == Decimal(totalcost) > 0, (cells, totalcost)

    # the detail pane: its timeline shows the stages in order, on the fake clock
    click_row(page, taskid)
    events = control(server, "GET", f"/tasks/{taskid}")["events"]
    expected = collapsed([e["type"] for e in events])
    bars = wait_until(
        page,
        "the timeline",
        lambda d: (
            d.execute_script(
                "return [...document.querySelectorAll('#detail-timeline .bar[data-stage]')]"
                ".map(b => [b.dataset.stage, Number(b.dataset.start)]);"
            )
            or False
        ),
    )
    assert [stage for stage, _ in bars] == expected
    starts = [start for _, start in bars]
    assert starts == sorted(starts) and starts[-1] > starts[0]
    fields = page.execute_script(
        "return [...document.querySelectorAll('#detail-fields tr')].map(r => r.dataset.field);"
    )
    assert set(fields) >= {"id", "uuid", "socketaccesstoken", "status", "outputs", "pexit"}

    # the <video> loads the output
    video = wait_until(
        page,
        "the video's metadata",
        lambda d: d.execute_script(
            "const v = document.querySelector('#detail-outputs video');"
            "return v && v.readyState >= 1 ? [v.readyState, v.duration, v.currentSrc] : null;"
        ),
    )
    ready, duration, src = video
    output = client.detail(task.id).outputs[0]
    assert src == output.url
    assert ready >= 1 and abs(duration - 6.0) < 0.5, video
    # the whole file, so that no download is cut short when the page goes
    wait_until(
        page,
        "the whole video buffered",
        lambda d: d.execute_script(
            "const v = document.querySelector('#detail-outputs video');"
            "return v.readyState === 4 && v.buffered.length === 1"
            " && v.buffered.end(0) >= v.duration - 0.05;"
        ),
    )


def project_id(server: MockWiroServer, taskid: str) -> str:
    found = server.backend.task_by_id(taskid)
    assert found is not None
    return found.project_id


def test_a_kill_from_the_page_ends_the_task_at_task_cancel(
    page: WebDriver, server: MockWiroServer, client: Client
) -> None:
    task = client.run(image_path(IMAGE), "to be killed")
    taskid = str(task.id)
    control(server, "POST", "/clock/advance", {"seconds": 10})
    status = client.detail(task.id).status
    assert status not in ("task_queue", "task_postprocess_end", "task_cancel"), status
    with connect(server.socket_url) as ws:
        register(ws, task.token)
        wait_until(page, "the row", lambda d: row_attr(d, taskid, "status") == status)
        click_row(page, taskid)
        wait_until(
            page, "the detail pane", lambda d: d.find_element(By.ID, "detail-id").text == taskid
        )
        page.find_element(By.CSS_SELECTOR, "#detail button[data-action='kill']").click()

        frames = read_until_terminal(ws)
        assert frames[-1]["type"] == "task_cancel", frames
    wait_until(page, "the killed row", lambda d: row_attr(d, taskid, "outcome") == "killed")
    detail = client.detail(task.id)
    assert detail.status == "task_cancel" and detail.pexit not in (None, "0"), detail
    wait_until(
        page,
        "the cancel bar",
        lambda d: d.find_elements(
            By.CSS_SELECTOR, "#detail-timeline .bar.cancel[data-stage='task_cancel']"
        ),
    )
    inside = page.execute_script(  # drawn inside the track, not cut off at its end
        "const bar = document.querySelector('#detail-timeline .bar.cancel');"
        "const b = bar.getBoundingClientRect(), t = bar.parentElement.getBoundingClientRect();"
        "return b.width > 0 && b.left >= t.left && b.right <= t.right + 0.5;"
    )
    assert inside
    entries = control(server, "GET", f"/journal?kind=control&task={taskid}")["entries"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("POST", f"/_mock/tasks/{taskid}/kill", 200)
    ]


def test_a_fault_added_from_the_form_applies_to_the_next_request(
    page: WebDriver, server: MockWiroServer, client: Client
) -> None:
    task = client.run(image_path(IMAGE), "faulted")
    page.find_element(By.CSS_SELECTOR, "#tabs button[data-view='chaos']").click()
    Select(page.find_element(By.ID, "chaos-kind")).select_by_value("faults")
    box = page.find_element(By.ID, "chaos-json")

    # the control API's own checks: a bad rule is refused, its message shown
    box.clear()
    box.send_keys('{"path": "/v1/Task/Detail", "status": "soon"}')
    page.find_element(By.CSS_SELECTOR, "#chaos-form button[type='submit']").click()
    error = wait_until(page, "the refusal", lambda d: d.find_element(By.ID, "chaos-error").text)
    assert "status" in error
    assert control(server, "GET", "/faults")["faults"] == []

    box.clear()
    box.send_keys('{"path": "/v1/Task/Detail", "status": 503, "times": 1}')
    page.find_element(By.CSS_SELECTOR, "#chaos-form button[type='submit']").click()
    wait_until(
        page,
        "the rule listed",
        lambda d: d.find_elements(By.CSS_SELECTOR, "#list-faults li[data-rule]"),
    )
    assert page.find_element(By.ID, "chaos-error").text == ""

    session = requests.Session()
    session.trust_env = False
    first = session.post(
        server.base_url + "/Task/Detail", json={"taskid": str(task.id)}, timeout=10
    )
    assert first.status_code == 503, first.text
    assert client.detail(task.id).status == "task_queue"  # once only: the next one passes
    rule_id = control(server, "GET", "/faults")["faults"][0]["id"]
    entries = control(server, "GET", "/journal?kind=control")["entries"]
    assert [(e["path"], e["body"]["status"], e["status"]) for e in entries] == [
        ("/_mock/faults", "soon", 400),  # the refused one, journalled as the page sent it
        ("/_mock/faults", "503", 201),
    ]

    # and removed from the page
    page.execute_script(  # found and clicked at once: the list is redrawn live
        "document.querySelector(arguments[0]).click();",
        f"#list-faults li[data-rule='{rule_id}'] button",
    )
    wait_until(
        page,
        "the rule gone",
        lambda d: not d.find_elements(By.CSS_SELECTOR, "#list-faults li[data-rule]"),
    )
    assert control(server, "GET", "/faults")["faults"] == []


def test_push_hold_and_release_from_the_page(
    page: WebDriver, server: MockWiroServer, client: Client
) -> None:
    task = client.run(image_path(IMAGE), "steered")
    taskid = str(task.id)
    wait_until(page, "the row", lambda d: row_attr(d, taskid, "status") == "task_queue")
    click_row(page, taskid)
    wait_until(page, "the pane", lambda d: d.find_element(By.ID, "detail-id").text == taskid)

    def act(action: str, stage: str | None = None) -> None:
        if stage is not None:
            Select(page.find_element(By.ID, "action-stage")).select_by_value(stage)
        page.find_element(By.CSS_SELECTOR, f"#detail button[data-action='{action}']").click()

    act("push", "task_start")
    wait_until(page, "pushed", lambda d: row_attr(d, taskid, "status") == "task_start")
    assert client.detail(task.id).status == "task_start"
    act("hold", "task_end")
    wait_until(page, "held", lambda d: row_attr(d, taskid, "outcome") == "held")
    control(server, "POST", "/clock/advance", {"seconds": 600})
    held_at = client.detail(task.id).status
    assert held_at == "task_output_full", held_at  # stopped just before task_end
    wait_until(
        page,
        "the hold mark",
        lambda d: d.find_elements(By.CSS_SELECTOR, "#detail-timeline [data-mark='hold']"),
    )
    act("release")
    wait_until(page, "released", lambda d: row_attr(d, taskid, "outcome") == "running")
    control(server, "POST", "/clock/advance", {"seconds": 600})
    wait_until(page, "finished", lambda d: row_attr(d, taskid, "outcome") == "succeeded")
    entries = control(server, "GET", f"/journal?kind=control&task={taskid}")["entries"]
    assert [(e["path"].rsplit("/", 1)[1], e["body"]) for e in entries] == [
        ("push", {"stage": "task_start"}),
        ("hold", {"stage": "task_end"}),
        ("release", {}),
    ]


def test_the_journal_and_timeline_views(
    page: WebDriver, server: MockWiroServer, client: Client, project: Project
) -> None:
    control(server, "POST", "/scenarios", {"prompt_contains": "[[fail]]", "fail_at": "task_start"})
    ok = str(client.run(image_path(IMAGE), "fine").id)
    failed = str(client.run(image_path(IMAGE), "no good [[fail]]").id)
    control(server, "POST", "/clock/advance", {"seconds": 600})

    page.find_element(By.CSS_SELECTOR, "#tabs button[data-view='journal']").click()
    Select(page.find_element(By.ID, "journal-kind")).select_by_visible_text("request")
    runs = wait_until(
        page,
        "the Run entries",
        lambda d: d.execute_script(
            "const rows = [...document.querySelectorAll('#journal-body tr')];"
            "if (!rows.length || rows.some(r => r.dataset.kind !== 'request')) return null;"
            "return rows.map(r => r.querySelector('pre').textContent)"
            ".filter(t => t.includes('/v1/Run/'));"
        ),
    )
    assert len(runs) == 2, runs
    for text in runs:
        entry = json.loads(text)
        assert entry["headers"]["x-api-key"] == project.api_key[:4] + "…"
        assert project.api_key not in text and project.api_secret not in text

    page.find_element(By.CSS_SELECTOR, "#tabs button[data-view='timeline']").click()
    stages = wait_until(
        page,
        "both timelines",
        lambda d: d.execute_script(
            "const out = {};"
            "for (const row of document.querySelectorAll('#timeline-rows .timeline-row')) {"
            "  out[row.dataset.id] = [...row.querySelectorAll('.bar')].map("
            "    b => b.dataset.stage || 'mark:' + b.dataset.mark);"
            "}"
            "return Object.keys(out).length === 2 ? out : null;"
        ),
    )
    events = control(server, "GET", f"/tasks/{failed}")["events"]
    assert stages[failed] == [*collapsed([e["type"] for e in events]), "mark:failed"]
    assert "task_error" in stages[failed]
    assert stages[ok][-1] == "task_postprocess_end" and "mark:failed" not in stages[ok]
    assert page.find_elements(By.CSS_SELECTOR, f".timeline-row[data-id='{failed}'] .bar.fail")


def test_balance_and_clock_from_the_page(
    page: WebDriver, server: MockWiroServer, project: Project
) -> None:
    page.find_element(By.CSS_SELECTOR, "#tabs button[data-view='projects']").click()
    row = f"#projects-body tr[data-project='{project.id}']"
    wait_until(page, "the project row", lambda d: d.find_elements(By.CSS_SELECTOR, row))
    page.execute_script(
        "const f = document.querySelector(arguments[0] + ' form');"
        "f.balance.value = '0.40'; f.requestSubmit();",
        row,
    )
    wait_until(
        page,
        "the 97 flag",
        lambda d: d.execute_script(
            "const r = document.querySelector(arguments[0]);"
            "return r && r.classList.contains('warn');",
            row,
        ),
    )
    listed = control(server, "GET", "/dashboard/projects")["projects"]
    mine = next(p for p in listed if p["id"] == project.id)
    assert mine["balance"] == "0.40" and mine["below_minimum"] and mine["concurrency_limit"] == 1

    page.find_element(By.CSS_SELECTOR, "#tabs button[data-view='clock']").click()
    before = control(server, "GET", "/clock")["now"]
    seconds = page.find_element(By.ID, "clock-seconds")
    seconds.clear()
    seconds.send_keys("90")
    page.find_element(By.CSS_SELECTOR, "#clock-advance-form button").click()
    wait_until(
        page,
        "the advanced clock",
        lambda d: d.find_element(By.ID, "clock-now").text.endswith(f"({before + 90:.3f})"),
    )
    Select(page.find_element(By.ID, "clock-mode-select")).select_by_visible_text("realtime")
    page.find_element(By.CSS_SELECTOR, "#clock-mode-form button").click()
    wait_until(page, "realtime", lambda d: d.find_element(By.ID, "clock-mode").text == "realtime")
    page.find_element(By.ID, "clock-pause").click()
    wait_until(page, "paused", lambda d: d.find_element(By.ID, "clock-mode").text == "manual")
    assert control(server, "GET", "/clock")["mode"] == "manual"
    entries = control(server, "GET", "/journal?kind=control")["entries"]
    assert [(e["path"], e["body"]) for e in entries] == [
        (f"/_mock/projects/{project.api_key}/balance", {"balance": "0.40"}),
        ("/_mock/clock/advance", {"seconds": "90"}),
        ("/_mock/clock", {"mode": "realtime", "speed": "1"}),
        ("/_mock/clock", {"mode": "manual"}),
    ]


ATTACK_PAGE = """<!doctype html><html><body>
<iframe name="sink" id="sink"></iframe>
<form id="f" method="POST" action="{fake}/_mock/tasks/{taskid}/kill" target="sink"></form>
<iframe id="framed" src="{fake}/_mock/"></iframe>
<script>
async function attack() {{
  const results = [];
  const tries = [
    ["{fake}/_mock/reset", {{method: "POST", mode: "no-cors"}}],
    ["{fake}/_mock/clock/advance", {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: '{{"seconds": 500}}'}}],
    ["{fake}/_mock/tasks/{taskid}/kill", {{method: "POST", mode: "no-cors"}}],
    ["{fake}/_mock/clock/advance", {{method: "POST",
      headers: {{"Content-Type": "application/json", "X-Mock-Wiro-Client": "dashboard"}},
      body: '{{"seconds": 500}}'}}],
  ];
  for (const [url, opts] of tries) {{
    try {{ const r = await fetch(url, opts); results.push(r.type + ":" + r.status); }}
    catch (e) {{ results.push("error"); }}
  }}
  document.getElementById("sink").addEventListener("load", () => {{
    document.title = "done " + results.join(",");
  }}, {{once: true}});
  document.getElementById("f").submit();
}}
attack();
</script></body></html>
"""


class _AttackHandler(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_cross_site_page_cannot_change_the_fake(
    page: WebDriver, server: MockWiroServer, client: Client, tmp_path: Path
) -> None:
    task = client.run(image_path(IMAGE), "attacked")
    taskid = str(task.id)
    control(server, "POST", "/clock/advance", {"seconds": 10})
    status = client.detail(task.id).status
    before = control(server, "GET", "/clock")["now"]
    handler = type("Handler", (_AttackHandler,), {})
    handler.page = ATTACK_PAGE.format(fake=server.url, taskid=taskid).encode()
    other = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # another loopback origin
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        page.get(f"http://127.0.0.1:{other.server_address[1]}/attack.html")
        title = wait_until(
            page, "the attack to finish", lambda d: d.title.startswith("done") and d.title
        )
        # the framed dashboard did not load: the page refuses every frame
        page.switch_to.frame(page.find_element(By.ID, "framed"))
        assert page.find_elements(By.ID, "tasks-table") == []
        page.switch_to.default_content()
    finally:
        other.shutdown()
        other.server_close()
    assert "opaque:0" in title and "error" in title, title  # no-cors: sent, answer hidden
    assert control(server, "GET", "/clock")["now"] == before
    detail = client.detail(task.id)
    assert detail.status == status, detail
    refused = control(server, "GET", "/journal?kind=refused")["entries"]
    assert {e["rule"] for e in refused} == {"cross-site"}
    paths = sorted(e["path"] for e in refused)
    kill = f"/_mock/tasks/{taskid}/kill"  # a no-cors fetch and a form post
    assert paths == sorted(["/_mock/reset", "/_mock/clock/advance", kill, kill]), paths
    assert control(server, "GET", "/journal?kind=control")["entries"] == []


def test_off_loopback_the_page_asks_for_the_admin_token(browser: WebDriver) -> None:
    token = "dashToken-4Fh8Qrs2Lm7"
    with MockWiroServer(Settings(clock_mode="manual", admin_token=token)) as guarded:
        project = guarded.create_project()
        session = requests.Session()
        session.trust_env = False
        assert session.get(guarded.url + "/_mock/dashboard/info", timeout=10).status_code == 401
        browser.get(guarded.url + "/_mock/")
        wait_until(
            browser, "the token form", lambda d: d.find_element(By.ID, "token-input").is_displayed()
        )
        browser.find_element(By.ID, "token-input").send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "#token-form button").click()
        wait_until(
            browser,
            "the live feed",
            lambda d: d.execute_script("return document.body.dataset.feed") == "live",
        )
        task = make_client(guarded, project, sleep=no_sleep).run(image_path(IMAGE), "p")
        wait_until(
            browser, "the new row", lambda d: row_attr(d, str(task.id), "status") == "task_queue"
        )
        assert token not in browser.current_url
        assert (
            browser.execute_script("return sessionStorage.getItem('mockWiroAdminToken')") == token
        )
        browser.execute_script("sessionStorage.clear()")
        browser.get("about:blank")
