"""``python -m benchmarks.dashboard``: the dashboard at ``/_mock/`` in headless Chromium:
its first render and its live-update latency with 1 and with 1,000 tasks, and (with
``--screenshots DIR``) a PNG of each view.

    python -m benchmarks.dashboard [--tasks 1 1000] [--samples 20] [--json FILE]
                                   [--screenshots docs/dashboard/]

A ``MockWiroServer`` on loopback (manual clock) and Debian's chromium/chromedriver
(installed by ``.ci/run``). The page's own clock measures: a script installed before the
page's (Chrome DevTools ``Page.addScriptToEvaluateOnNewDocument``) watches the tasks
table with a ``MutationObserver`` and stamps ``Date.now()`` when a row appears or
changes, so no WebDriver polling interval is counted.

- **first render**: navigation start to the first page of rows in the table (the
  page's ``performance.now()`` at that mutation), and to the feed being live;
- **new task → row**: the Run request sent (Python's ``time.time()``) to its row in the
  table (the page's ``Date.now()``; same machine, same clock);
- **status → row**: ``POST /_mock/clock/advance`` sent to the row showing the task's new
  status.

Figures are medians and p95 of ``--samples`` runs, on whatever machine runs it (a noisy
shared one gives noisy figures: compare ratios from one run).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings

from .common import percentile

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,950",
    "--hide-scrollbars",
)
IMAGE_URL = "https://example.com/input.jpg"  # never fetched: the fake's placeholder image
WAIT = 120.0
OBSERVER = """
window.__rowSeen = {};
window.__firstRows = null;
window.__feedLive = null;
new MutationObserver(() => {
  if (window.__feedLive === null && document.body && document.body.dataset.feed === 'live') {
    window.__feedLive = performance.now();
  }
  const body = document.getElementById('tasks-body');
  if (!body) return;
  const now = Date.now();
  if (window.__firstRows === null && body.children.length) window.__firstRows = performance.now();
  for (const tr of body.children) {
    const key = tr.dataset.id + ':' + tr.dataset.status;
    if (!(key in window.__rowSeen)) window.__rowSeen[key] = now;
  }
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeFilter: ['data-status', 'data-feed']});
"""


class Api:
    """Signed Runs (hmac here) and control calls on one fake."""

    def __init__(self, server: MockWiroServer, key: str, secret: str) -> None:
        self.server, self.key, self.secret = server, key, secret
        self.session = requests.Session()
        self.session.trust_env = False
        self._nonces = itertools.count(int(time.time()) * 1000)

    def run(self, prompt: str = "a dashboard benchmark") -> str:
        nonce = str(next(self._nonces))
        signature = hmac.new(self.key.encode(), (self.secret + nonce).encode(), hashlib.sha256)
        headers = {"x-api-key": self.key, "x-nonce": nonce, "x-signature": signature.hexdigest()}
        fields = {
            "inputImageFirstUrl": IMAGE_URL,
            "prompt": prompt,
            "resolution": "768P",
            "duration": "6",
        }
        url = self.server.base_url + "/Run/minimax/hailuo-2-3-fast"
        reply = self.session.post(url, data=fields, headers=headers, timeout=60).json()
        assert reply["result"] is True, reply
        return str(reply["taskid"])

    def control(self, method: str, path: str, body: Any = None) -> Any:
        url = self.server.url + "/_mock" + path
        reply = self.session.request(method, url, json=body, timeout=120)
        assert reply.status_code < 300, reply.text
        return reply.json()


def browser(tmp: Path) -> WebDriver:
    options = webdriver.ChromeOptions()
    chromium = shutil.which("chromium")
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        raise SystemExit("chromium and chromedriver are needed (apt install chromium-driver)")
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp / 'profile'}")
    options.unhandled_prompt_behavior = "dismiss"
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    driver.set_page_load_timeout(WAIT)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVER})
    return driver


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    return WebDriverWait(driver, WAIT, poll_frequency=0.01).until(condition)


def open_page(driver: WebDriver, server: MockWiroServer, rows: int) -> dict[str, float]:
    """Open the dashboard; ms from navigation start to the first rows and to a live feed."""
    driver.get(server.url + "/_mock/")
    wait(driver, lambda d: d.execute_script("return document.body.dataset.feed") == "live")
    wait(
        driver,
        lambda d: (
            d.execute_script("return document.getElementById('tasks-body').children.length") == rows
        ),
    )
    first = driver.execute_script("return window.__firstRows")
    live = driver.execute_script("return window.__feedLive")
    return {"first_rows_ms": float(first), "feed_live_ms": float(live)}


def seen(driver: WebDriver, task_id: str, status: str) -> float:
    stamp = wait(
        driver, lambda d: d.execute_script(f"return window.__rowSeen['{task_id}:{status}'] || null")
    )
    return float(stamp) / 1000.0


def measure(
    server: MockWiroServer, api: Api, driver: WebDriver, total: int, samples: int
) -> dict[str, Any]:
    """Fill the fake up to ``total`` tasks, then measure the page."""
    api.control("POST", "/reset")
    for _ in range(total - 1):
        api.run()
    api.control("POST", "/clock/advance", {"seconds": 600})  # those are finished
    api.run()  # one queued task
    assert api.control("GET", "/dashboard/tasks?size=1")["total"] == total
    renders = [open_page(driver, server, min(total, 50)) for _ in range(max(3, samples // 4))]
    new_task: list[float] = []
    status: list[float] = []
    for _ in range(samples):
        sent = time.time()
        task_id = api.run()
        new_task.append(seen(driver, task_id, "task_queue") - sent)
        sent = time.time()
        api.control("POST", "/clock/advance", {"seconds": 600})
        status.append(seen(driver, task_id, "task_postprocess_end") - sent)
    return {
        "tasks": total,
        "first_rows_ms": _stats([r["first_rows_ms"] for r in renders]),
        "feed_live_ms": _stats([r["feed_live_ms"] for r in renders]),
        "new_task_to_row_ms": _stats([1000 * v for v in new_task]),
        "advance_to_row_status_ms": _stats([1000 * v for v in status]),
    }


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "p95": round(percentile(values, 95), 1),
        "n": len(values),
    }


def screenshots(server: MockWiroServer, api: Api, driver: WebDriver, folder: Path) -> list[Path]:
    """A PNG of each view, over a small, varied fake."""
    folder.mkdir(parents=True, exist_ok=True)
    api.control("POST", "/reset")
    api.control("POST", "/scenarios", {"prompt_contains": "[[fail]]", "fail_at": "task_start"})
    done = [api.run() for _ in range(3)]
    failed = api.run("this one fails [[fail]]")
    api.control("POST", "/clock/advance", {"seconds": 600})
    killed, held, running = api.run(), api.run(), api.run()
    api.control("POST", f"/tasks/{held}/hold", {"stage": "task_output"})
    api.control("POST", "/clock/advance", {"seconds": 12})
    api.control("POST", f"/tasks/{killed}/kill")
    api.control("POST", "/clock/advance", {"seconds": 10})
    api.control("POST", "/faults", {"path": "/v1/Task/Detail", "status": 503, "times": 2})
    api.control("POST", "/socket-faults", {"action": "close", "after": 3, "code": 4000})
    api.control("POST", "/callback-faults", {"action": "late", "delay": 60})
    api.control("POST", "/projects", {"name": "low balance", "balance": "0.40"})
    del failed, running
    driver.get(server.url + "/_mock/")
    wait(driver, lambda d: d.execute_script("return document.body.dataset.feed") == "live")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tasks-body tr")) == 7)
    driver.execute_script(
        "document.querySelector(`#tasks-body tr[data-id='${arguments[0]}']`).click();", done[-1]
    )
    wait(
        driver,
        lambda d: d.execute_script(
            "const v = document.querySelector('#detail-outputs video');"
            "return v && v.readyState >= 2;"
        ),
    )
    shots = [folder / "tasks.png"]
    driver.save_screenshot(str(shots[-1]))
    for view, ready in (
        ("timeline", "#timeline-rows .timeline-row"),
        ("journal", "#journal-body tr"),
        ("projects", "#projects-body tr"),
        ("clock", "#clock-now"),
        ("chaos", "#list-faults li[data-rule]"),
    ):
        driver.find_element(By.CSS_SELECTOR, f"#tabs button[data-view='{view}']").click()
        wait(driver, lambda d, css=ready: d.find_elements(By.CSS_SELECTOR, css))
        shots.append(folder / f"{view}.png")
        driver.save_screenshot(str(shots[-1]))
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dashboard", description=__doc__)
    parser.add_argument("--tasks", type=int, nargs="*", default=[1, 1000])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    parser.add_argument("--screenshots", default=None, help="write a PNG of each view here")
    parser.add_argument("--no-measure", action="store_true", help="screenshots only")
    args = parser.parse_args(argv)
    tmp = Path(__import__("tempfile").mkdtemp(prefix="mock-wiro-dashboard-"))
    settings = Settings(clock_mode="manual")
    results: list[dict[str, Any]] = []
    with MockWiroServer(settings) as server:
        project = server.create_project(balance="100000")
        api = Api(server, project.api_key, project.api_secret)
        driver = browser(tmp)
        try:
            if args.screenshots:
                for shot in screenshots(server, api, driver, Path(args.screenshots)):
                    print(f"wrote {shot}")
            if not args.no_measure:
                for total in args.tasks:
                    found = measure(server, api, driver, total, args.samples)
                    results.append(found)
                    print(json.dumps(found))
        finally:
            driver.quit()
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
