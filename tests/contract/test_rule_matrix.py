"""The rule matrix: every rule of ``contract_tests/rules.py`` has a test (or says why not),
every rule judged only on the fake says why, ``docs/contract.md``'s table is the one the
suite's markers make, and a run's "wiro rules" summary counts only what was judged.

The matrix comes from ``python -m contract_tests.matrix`` (a subprocess: it collects the
suite with pytest's own collection).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contract_tests.judging import Outcome, judge, marker_problems, note_report
from contract_tests.rules import RULES, SECTIONS
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings
from tests.helpers import REPO
from tests.helpers.suite import contract_env, run_suite

TIMEOUT = 300


def matrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "contract_tests.matrix", *args],
        cwd=REPO,
        env=contract_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    """The matrix as ``--json`` prints it."""
    result = matrix("--json")
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_every_rule_has_a_test(data: dict[str, Any]) -> None:
    """Every rule of the contract is judged by at least one test (an ``untested`` reason
    explains a gap in the matrix and the summary; it does not excuse it)."""
    bare = {r["id"]: r["untested"] for r in data["rules"] if not (r["real"] or r["fake_only"])}
    assert not bare, f"rules no test judges: {bare}"
    stale = [r["id"] for r in data["rules"] if (r["real"] or r["fake_only"]) and r["untested"]]
    assert not stale, f"rules with a test that still say `untested`: remove it: {stale}"


def test_rules_judged_only_on_the_fake_say_why(data: dict[str, Any]) -> None:
    only_fake = [r for r in data["rules"] if r["fake_only"] and not r["real"]]
    print(f"\n{len(only_fake)} rules are judged only on the fake:")
    for rule in only_fake:
        tests = dict.fromkeys(t.split("[", 1)[0] for t in rule["fake_only"])
        print(f"  {rule['id']}: {rule['mock_only_why']}  ({', '.join(tests)})")
    untested = [r for r in data["rules"] if r["untested"]]
    print(f"{len(untested)} rules have no test yet:")
    for rule in untested:
        print(f"  {rule['id']}: {rule['untested']}")
    no_why = [r["id"] for r in only_fake if not r["mock_only_why"]]
    assert not no_why, f"rules judged only by mock_only tests, without a mock_only_why: {no_why}"
    stale = [r["id"] for r in data["rules"] if r["real"] and r["mock_only_why"]]
    assert not stale, f"rules judged on a real target that still have a mock_only_why: {stale}"


def test_every_contract_test_names_known_rules(data: dict[str, Any]) -> None:
    known = {r.id for r in RULES}
    assert len(data["tests"]) >= 90, len(data["tests"])
    for test in data["tests"]:
        assert test["rules"] and set(test["rules"]) <= known, test


def test_rules_come_from_sections_of_the_contract() -> None:
    headings = re.findall(r"^## (.+)$", (REPO / "docs" / "wiro-api.md").read_text(), re.M)
    assert set(SECTIONS) <= set(headings), sorted(set(SECTIONS) - set(headings))
    assert {r.section for r in RULES} <= set(SECTIONS)
    assert len({r.id for r in RULES}) == len(RULES)


def test_contract_md_shows_the_current_matrix() -> None:
    result = matrix("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_marker_problems() -> None:
    assert marker_problems("t", ["auth.signature"]) == []
    assert "no @pytest.mark.rule" in marker_problems("t", [])[0]
    assert "unknown rule 'no.such'" in marker_problems("t", ["auth.signature", "no.such"])[0]


# ---------------------------------------------------------------- judged or not


def report(when: str, outcome: str, longrepr: Any = None, **extra: Any) -> SimpleNamespace:
    return SimpleNamespace(
        when=when,
        passed=outcome == "passed",
        failed=outcome == "failed",
        skipped=outcome == "skipped",
        longrepr=longrepr,
        **extra,
    )


def outcome_of(*reports: SimpleNamespace) -> Outcome:
    made = Outcome()
    for one in reports:
        note_report(made, one)
    return made


def test_what_counts_as_judged() -> None:
    ok = [report("setup", "passed"), report("call", "passed"), report("teardown", "passed")]
    assert outcome_of(*ok).judged
    assert outcome_of(report("setup", "passed"), report("call", "failed")).judged
    assert outcome_of(report("setup", "failed")).judged  # an error is a failure: seen
    skipped = outcome_of(report("setup", "skipped", ("f.py", 1, "Skipped: mock_only: x")))
    assert not skipped.judged and skipped.skipped == "mock_only: x"
    race = outcome_of(
        report("setup", "passed"),
        report("call", "skipped", ("f.py", 9, "Skipped: not judged: the race missed")),
    )
    assert not race.judged and race.skipped == "not judged: the race missed"
    xrace = report("call", "skipped", None, wasxfail="reason: not judged: killed too late")
    assert not outcome_of(xrace).judged
    gap = report("call", "skipped", None, wasxfail="issue 17: a gap")  # a fake_gap xfail ran
    assert outcome_of(gap).judged


def test_a_rule_is_judged_by_any_of_its_tests() -> None:
    selected = {"a": ["kill.running"], "b": ["kill.running", "cancel.queued"], "c": ["hosts.urls"]}
    outcomes = {
        "a": Outcome(ran=True, skipped="not judged: finished before the kill"),
        "b": Outcome(ran=True),
        "c": Outcome(ran=True, failed=True),
    }
    result = judge(selected, outcomes)
    assert {"kill.running", "cancel.queued", "hosts.urls"} <= set(result.judged)
    assert result.failing == ["hosts.urls"]
    outcomes["b"] = Outcome(skipped="mock_only: needs the fake")
    result = judge(selected, outcomes)
    assert result.not_judged["kill.running"] == [
        "not judged: finished before the kill (1 test)",
        "mock_only: needs the fake (1 test)",
    ]
    assert result.not_judged["auth.signature"] == ["no test selected"]
    assert len(result.judged) + len(result.not_judged) == len(RULES)


# ---------------------------------------------------------------- the suite itself


def suite_copy(tmp_path: Path, test_source: str) -> Path:
    """A copy of contract_tests with one more test file; the copy's directory."""
    copy = tmp_path / "contract_tests"
    shutil.copytree(REPO / "contract_tests", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "test_extra.py").write_text(test_source, encoding="utf-8")
    return copy


def pytest_in(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_suite(contract_env(), *args, cwd=directory.parent)


@pytest.mark.parametrize(
    ("decorator", "message"),
    [("", "no @pytest.mark.rule"), ('@pytest.mark.rule("no.such.rule")', "unknown rule")],
    ids=["no-marker", "unknown-rule"],
)
def test_a_test_without_a_known_rule_stops_collection(
    tmp_path: Path, decorator: str, message: str
) -> None:
    source = f"import pytest\n\n\n{decorator}\ndef test_extra() -> None:\n    pass\n"
    copy = suite_copy(tmp_path, source)
    result = pytest_in(copy, "--collect-only", "-q", "contract_tests")
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert message in result.stderr and "test_extra.py::test_extra" in result.stderr


def test_the_summary_counts_a_missed_race_as_not_judged(tmp_path: Path) -> None:
    source = (
        "import pytest\n\n\n"
        '@pytest.mark.rule("hosts.urls")\n'
        "def test_extra() -> None:\n"
        '    pytest.skip("not judged: the race missed its state")\n'
    )
    copy = suite_copy(tmp_path, source)
    result = pytest_in(copy, "contract_tests/test_extra.py", "contract_tests/test_tool.py")
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.split("wiro rules", 1)[1]
    assert "judged 4 of" in summary, summary  # tool.detail, parameters, list, explore
    assert "hosts.urls: not judged: the race missed its state (1 test)" in summary, summary


def test_the_summary_on_a_real_target_names_the_mock_only_rules() -> None:
    with MockWiroServer(Settings(clock_mode="realtime", speed=400)) as server:
        project = server.create_project()
        env = contract_env(
            WIRO_TARGET="real",
            WIRO_BASE_URL=server.base_url,
            WIRO_API_KEY=project.api_key,
            WIRO_API_SECRET=project.api_secret,
        )
        result = run_suite(env, "contract_tests/test_auth.py", "contract_tests/test_mock_only.py")
    assert result.returncode == 0, result.stdout[-3000:]
    summary = result.stdout.split("wiro rules", 1)[1]
    assert f"real, {server.base_url}" in summary, summary
    assert re.search(r"^limits\.balance\b", summary, re.M) is None  # indented, not a pytest line
    assert "  limits.balance: mock_only: needs the fake's control surface" in summary, summary
    assert "  auth.signature:" not in summary, summary  # judged: free, no spending needed
