"""The mutation campaign's verdict registry (``benchmarks/mutation_verdicts.py``), without
running a campaign: how a report's missed mutants are sorted against the verdicts, what
the report says of them, and that every verdict is well formed and names a mutant of one
of the campaign's modules. mutmut itself is not needed (nor imported) here."""

from __future__ import annotations

import re

import pytest

from benchmarks import mutation, mutation_verdicts
from benchmarks.mutation_verdicts import VERDICTS, Verdict

AUTH = "mock_wiro.engine.auth.x_check_credentials__mutmut_"
ROUTES = "mock_wiro.http.routes.x__list__mutmut_"

#: A small report's ``mutants`` (as its JSON holds them) and verdicts of its own.
REPORT = [
    {"name": AUTH + "1", "module": "mock_wiro/engine/auth.py", "status": "killed"},
    {"name": AUTH + "2", "module": "mock_wiro/engine/auth.py", "status": "survived"},
    {"name": AUTH + "3", "module": "mock_wiro/engine/auth.py", "status": "no tests"},
    {"name": AUTH + "4", "module": "mock_wiro/engine/auth.py", "status": "timeout"},
    {"name": ROUTES + "1", "module": "mock_wiro/http/routes.py", "status": "survived"},
    {"name": ROUTES + "2", "module": "mock_wiro/http/routes.py", "status": "not checked"},
]
TABLE = {
    AUTH + "2": Verdict("O", "the fake's configuration check"),
    AUTH + "3": Verdict("E", "the same codec"),
    AUTH + "4": Verdict("G", "killed now: a stale verdict"),
    ROUTES + "2": Verdict("G", "not checked in this run: stale too"),
    "mock_wiro.engine.params.x_require__mutmut_8": Verdict("G", "another module"),
}

#: ``x_<function>`` or ``xǁ<Class>ǁ<method>``, then mutmut's number.
_TAIL = re.compile(r"(x_\w+|xǁ\w+ǁ\w+)__mutmut_[1-9]\d*")


def test_classify_sorts_missed_mutants_into_classified_unclassified_and_stale() -> None:
    found = mutation_verdicts.classify(REPORT, TABLE)
    assert found.classified == [AUTH + "2", AUTH + "3"]
    assert found.unclassified == [ROUTES + "1"]
    assert found.stale == sorted(
        [AUTH + "4", ROUTES + "2", "mock_wiro.engine.params.x_require__mutmut_8"]
    )
    # a run over fewer modules does not make the other modules' verdicts stale
    only = mutation_verdicts.classify(
        REPORT, TABLE, modules=["mock_wiro/engine/auth.py", "mock_wiro/http/routes.py"]
    )
    assert only.stale == [AUTH + "4", ROUTES + "2"]
    assert only.classified == found.classified and only.unclassified == found.unclassified


def test_classify_reads_mutant_objects_as_well_as_json() -> None:
    objects = [mutation.Mutant(m["name"], m["module"], m["status"]) for m in REPORT]
    assert mutation_verdicts.classify(objects, TABLE) == mutation_verdicts.classify(REPORT, TABLE)
    assert mutation_verdicts.missed(objects) == [AUTH + "2", AUTH + "3", ROUTES + "1"]


def test_summary_counts_each_kind_and_lists_what_needs_a_verdict() -> None:
    found = mutation_verdicts.summary(REPORT, TABLE, modules=["mock_wiro/engine/auth.py"])
    assert found == {
        "counts": {"E": 1, "O": 1, "G": 0},
        "unclassified": [ROUTES + "1"],
        "stale": [AUTH + "4"],
    }
    text = mutation_verdicts.summary_text(found)
    assert "E (equivalent) 1, O (outside the contract) 1, G (a real gap) 0" in text
    assert "unclassified (1)" in text and f"  {ROUTES}1" in text
    assert "stale verdicts (1)" in text and f"  {AUTH}4" in text
    empty = mutation_verdicts.summary([], {})
    assert empty == {"counts": {"E": 0, "O": 0, "G": 0}, "unclassified": [], "stale": []}


def test_the_default_table_is_the_registry() -> None:
    name, verdict = next(iter(VERDICTS.items()))
    report = [{"name": name, "status": "survived"}]
    assert mutation_verdicts.classify(report).classified == [name]
    counts = mutation_verdicts.summary(
        report, modules=[mutation.module_of(name, mutation.DEFAULT_MODULES)]
    )
    assert counts["counts"][verdict.kind] == 1


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_every_verdict_is_well_formed(name: str) -> None:
    verdict = VERDICTS[name]
    assert verdict.kind in ("E", "O", "G")
    assert verdict.why.strip() and "\n" not in verdict.why
    module = mutation.module_name(mutation.module_of(name, mutation.DEFAULT_MODULES))
    tail = name.removeprefix(module + ".")
    assert "." not in tail and _TAIL.fullmatch(tail), f"not a mutmut mutant name: {name}"
