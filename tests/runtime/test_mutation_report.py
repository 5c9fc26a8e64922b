"""The mutation campaign's own code (``python -m benchmarks.mutation``), without running a
campaign: its arguments, its stratified sample, where a mutant's diff lands in its file,
and the report's counts. mutmut itself is not needed (nor imported) here."""

from __future__ import annotations

import pytest

from benchmarks import mutation

SOURCE = '''\
import os


class TaskRef:
    """A ref."""

    @classmethod
    def from_params(cls, params):
        """Doc."""
        token = params.get("tasktoken", "") or params.get("socketaccesstoken", "")
        return token


def check(balance):
    if balance < 2:
        raise ValueError("low")
    return None
'''

METHOD_DIFF = """\
--- m.py
+++ m.py
@@ -1,5 +1,5 @@
 @classmethod
 def from_params(cls, params):
     \"\"\"Doc.\"\"\"
-    token = params.get("tasktoken", "") or params.get("socketaccesstoken", "")
+    token = params.get("tasktoken", None) or params.get("socketaccesstoken", "")
     return token"""

FUNCTION_DIFF = """\
--- m.py
+++ m.py
@@ -1,4 +1,4 @@
 def check(balance):
-    if balance < 2:
+    if balance <= 2:
         raise ValueError("low")
     return None"""


def test_locate_finds_the_changed_line_of_a_method_and_of_a_function() -> None:
    assert mutation.locate(SOURCE, "m.xǁTaskRefǁfrom_params__mutmut_4", METHOD_DIFF) == 10
    assert mutation.locate(SOURCE, "m.x_check__mutmut_2", FUNCTION_DIFF) == 15
    assert mutation.locate(SOURCE, "m.x_nowhere__mutmut_1", FUNCTION_DIFF) is None


def test_sample_is_stratified_seeded_and_bounded() -> None:
    names = {
        "a.py": [f"a.x_f__mutmut_{i}" for i in range(300)],
        "b.py": [f"b.x_g__mutmut_{i}" for i in range(100)],
        "c.py": ["c.x_h__mutmut_1"],
    }
    picked = mutation.sample(names, 40, seed=3)
    assert [len(picked[m]) for m in ("a.py", "b.py", "c.py")] == [30, 10, 1]
    assert picked == mutation.sample(names, 40, seed=3)
    assert picked != mutation.sample(names, 40, seed=4)
    assert all(set(picked[m]) <= set(names[m]) for m in names)
    assert mutation.sample(names, 0, seed=3) == {m: sorted(v) for m, v in names.items()}


def test_summary_counts_kill_rate_and_survivors() -> None:
    statuses = ["killed", "killed", "timeout", "survived", "no tests", "not checked"]
    mutants = [
        mutation.Mutant(name=f"p.x_f__mutmut_{i}", module="p.py", status=s)
        for i, s in enumerate(statuses)
    ]
    (row,) = mutation.summarize(["p.py"], {"p.py": 9}, mutants)
    assert (row.run, row.killed, row.timeout, row.survived, row.no_tests) == (5, 2, 1, 1, 1)
    assert row.kill_rate == 0.6
    assert row.survivors == ["p.x_f__mutmut_3"]
    text = mutation.table([row])
    assert "| p.py | 9 | 5 | 2 | 1 | 1 | 1 | 0 | 60.0% |" in text
    assert "| total |" in text
    assert "p.x_f__mutmut_4" in mutation.survivors_text(mutants)


def test_module_names_and_argument_checks() -> None:
    assert mutation.module_name("mock_wiro/http/wire.py") == "mock_wiro.http.wire"
    assert mutation.module_of("mock_wiro.http.wire.x__money__mutmut_1", ["mock_wiro/http/wire.py"])
    with pytest.raises(SystemExit) as exc:
        mutation.main(["--modules", "benchmarks/mutation.py"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit):
        mutation.main(["--tests", "everything"])
