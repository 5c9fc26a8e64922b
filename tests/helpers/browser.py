"""Headless Debian Chromium through Debian's chromedriver (no selenium-manager), for the
browser tests: the seed's page (tests/push/test_browser.py) and the dashboard
(tests/control/test_dashboard_browser.py). Skips when either tool is missing (`.ci/run`
installs both and makes such skips failures)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

from tests.helpers.serve import clean_env
from tests.helpers.wiro import require_tool

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@contextmanager
def chromium(tmp: Path, *arguments: str, wait: float) -> Iterator[WebDriver]:
    """A driven Chromium with its profile and chromedriver's log in ``tmp``, the browser's
    console log kept, alerts dismissed (one never wedges a command), page loads and
    scripts bounded by ``wait`` seconds; ``arguments``: more Chromium flags."""
    options = webdriver.ChromeOptions()
    options.binary_location = require_tool("chromium")
    for flag in (*CHROMIUM_FLAGS, *arguments):
        options.add_argument(flag)
    profile = tmp / "chromium-profile"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    options.unhandled_prompt_behavior = "dismiss"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(
        executable_path=require_tool("chromedriver"),
        log_output=str(tmp / "chromedriver.log"),
        env=clean_env(tmp),
    )
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(wait)
        driver.set_script_timeout(wait)
        yield driver
    finally:
        driver.quit()
