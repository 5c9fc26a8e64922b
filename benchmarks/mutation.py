"""``python -m benchmarks.mutation``: a mutation campaign over the fake's engine and HTTP
modules, under mutmut 3, judged by the contract suite (and optionally the fast unit tests).

    python -m benchmarks.mutation [--modules PATH ...] [--tests contract|fast]
                                  [--max-mutants N] [--seed S] [--json FILE]
                                  [--workdir DIR] [--report-only]

It asks how well the tests, above all ``contract_tests/`` (the suite that judges any Wiro
server), catch a broken fake: mutmut rewrites one small thing at a time in the modules
named (an operator, a constant, a string, a returned value), and each mutant is run
against only the tests that reach its function (mutmut's per-function stats). A mutant is
*killed* when a test fails, *survives* when every test still passes.

Everything happens in a scratch copy (``.mutation/<tests>/``, git-ignored): the project
is copied there with a ``[tool.mutmut]`` section written for this run, and mutmut mutates
its own ``mutants/`` copy of that. The work tree is never touched. One worker, run under
``nice`` (``--nice``, default 19). ``--max-mutants`` draws a sample, stratified by module
(each module's share of the sample is its share of the mutants), from ``--seed``.

Prints, and with ``--json`` writes, the kill rate per module and every surviving mutant
(file:line and its diff), then how many of those have each verdict of
``benchmarks/mutation_verdicts.py`` (E, O, G), which have none and which verdicts are
stale. Not part of CI nor of the pytest suite: needs the ``mutation`` extra
(``pip install -e '.[mutation]'``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks import mutation_verdicts

ROOT = Path(__file__).resolve().parent.parent

#: The modules most central to the contract: admission (96/97), auth (signatures),
#: lifecycle and stepper (the task's states, money, outputs), params (Run validation),
#: and the HTTP wire shapes and routes.
DEFAULT_MODULES = (
    "mock_wiro/engine/admission.py",
    "mock_wiro/engine/auth.py",
    "mock_wiro/engine/lifecycle.py",
    "mock_wiro/engine/stepper.py",
    "mock_wiro/engine/params.py",
    "mock_wiro/http/wire.py",
    "mock_wiro/http/routes.py",
)

#: ``contract``: the suite that judges any server, alone. ``fast``: it plus the unit tests
#: of tests/ that run in seconds (no browser, no subprocess servers, no packaging, no
#: property-based fuzzing whose examples change from run to run).
TEST_SETS: dict[str, tuple[str, ...]] = {
    "contract": ("contract_tests",),
    "fast": (
        "contract_tests",
        "tests/engine",
        "tests/http/test_auth.py",
        "tests/http/test_endpoints.py",
        "tests/http/test_hostile_input.py",
        "tests/http/test_input_limits.py",
        "tests/http/test_model_catalog.py",
        "tests/push/test_callbacks.py",
        "tests/push/test_socket.py",
        "tests/control",
        "tests/security/test_edges.py",
        "tests/security/test_files.py",
    ),
}

#: What the scratch copy holds (mutmut copies it again into ``mutants/``).
COPIED = ("mock_wiro", "mock_wiro_fixtures", "contract_tests", "tests", "hailuo_client")

#: mutmut's exit codes, as its ``status_by_exit_code`` reads them (kept here so the
#: report code runs without mutmut installed).
STATUS_BY_EXIT_CODE: dict[int | None, str] = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    2: "interrupted",
    None: "not checked",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}

#: Statuses that count as the tests noticing the mutant.
DETECTED = frozenset({"killed", "timeout", "caught by type check", "segfault"})

_GENERATE = """
import json, os, sys
from pathlib import Path
from mutmut.mutation.trampoline import set_mutant_under_test
from mutmut.utils.file_utils import copy_src_dir
from mutmut.__main__ import create_mutants
set_mutant_under_test("mutant_generation")
os.makedirs("mutants", exist_ok=True)
copy_src_dir()
create_mutants(1)
"""

_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
names = json.load(sys.stdin)
out = {}
for name in names:
    try:
        out[name] = get_diff_for_mutant(name)
    except Exception as exc:  # a diff that cannot be read is reported, not fatal
        out[name] = f"(no diff: {exc!r})"
json.dump(out, sys.stdout)
"""


@dataclass
class Mutant:
    name: str
    module: str
    status: str = "not checked"
    seconds: float | None = None
    line: int | None = None
    diff: str = ""


@dataclass
class ModuleRow:
    module: str
    mutants_generated: int
    run: int = 0
    killed: int = 0
    timeout: int = 0
    survived: int = 0
    no_tests: int = 0
    other: int = 0
    kill_rate: float | None = None
    survivors: list[str] = field(default_factory=list)


def module_name(path: str) -> str:
    """``mock_wiro/engine/admission.py`` -> ``mock_wiro.engine.admission``."""
    return path.removesuffix(".py").replace("/", ".")


def module_of(mutant: str, modules: Iterable[str]) -> str:
    """The module path (``mock_wiro/...py``) a mutant name belongs to."""
    for path in modules:
        if mutant.startswith(module_name(path) + "."):
            return path
    raise ValueError(f"mutant {mutant} is in none of the modules")


def sample(names: dict[str, list[str]], max_mutants: int, seed: int) -> dict[str, list[str]]:
    """At most ``max_mutants`` names, stratified: each module keeps its share (at least
    one while it has any), drawn with ``seed``. ``max_mutants`` <= 0 keeps them all."""
    total = sum(len(v) for v in names.values())
    if max_mutants <= 0 or total <= max_mutants:
        return {m: sorted(v) for m, v in names.items()}
    rng = random.Random(seed)
    picked: dict[str, list[str]] = {}
    for module in sorted(names):
        pool = sorted(names[module])
        k = min(len(pool), max(1 if pool else 0, round(max_mutants * len(pool) / total)))
        picked[module] = sorted(rng.sample(pool, k))
    return picked


def _function_span(source: str, mutant: str) -> tuple[int, int] | None:
    """The first and last line of the function a mutant name points at (its decorators
    included), or None. Names look like ``pkg.mod.x_func__mutmut_3`` or
    ``pkg.mod.xǁClassǁmethod__mutmut_3``."""
    tail = mutant.rpartition(".")[2]
    tail = re.sub(r"__mutmut_\d+$", "", tail)
    if tail.startswith("xǁ"):
        parts = [p for p in tail.removeprefix("xǁ").split("ǁ") if p]
    else:
        parts = [tail.removeprefix("x_")]
    tree = ast.parse(source)
    body: Sequence[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        node = next(
            (
                n
                for n in body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and n.name == part
            ),
            None,
        )
        if node is None:
            return None
        body = node.body if isinstance(node, ast.ClassDef) else []
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return None
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return first, node.end_lineno or node.lineno


def locate(source: str, mutant: str, diff: str) -> int | None:
    """The line of ``source`` that the mutant changes: the first removed line of its diff,
    found in the function's span (the diff's line numbers count from the function)."""
    span = _function_span(source, mutant)
    removed = [
        ln[1:] for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")
    ]
    hunk = re.search(r"^@@ -(\d+)", diff, re.M)
    if span is None or not removed:
        return None
    lines = source.splitlines()
    target = removed[0].strip()
    estimate = span[0]
    if hunk:
        old = int(hunk.group(1))
        body = diff[hunk.end() :].splitlines()[1:]
        offset = 0
        for ln in body:
            if ln.startswith(("-", "+")):
                break
            offset += 1
        estimate = span[0] + old - 1 + offset
    hits = [
        i + 1 for i in range(span[0] - 1, min(span[1], len(lines))) if lines[i].strip() == target
    ]
    if not hits:
        return estimate
    return min(hits, key=lambda n: abs(n - estimate))


def summarize(
    modules: Sequence[str], generated: dict[str, int], mutants: list[Mutant]
) -> list[ModuleRow]:
    rows = {m: ModuleRow(module=m, mutants_generated=generated.get(m, 0)) for m in modules}
    for mu in mutants:
        row = rows[mu.module]
        if mu.status == "not checked":
            continue
        row.run += 1
        if mu.status in {"killed", "caught by type check", "segfault"}:
            row.killed += 1
        elif mu.status == "timeout":
            row.timeout += 1
        elif mu.status == "survived":
            row.survived += 1
            row.survivors.append(mu.name)
        elif mu.status == "no tests":
            row.no_tests += 1
        else:
            row.other += 1
    for row in rows.values():
        if row.run:
            row.kill_rate = round((row.killed + row.timeout) / row.run, 4)
    return list(rows.values())


def total_row(rows: Sequence[ModuleRow]) -> ModuleRow:
    total = ModuleRow(module="total", mutants_generated=sum(r.mutants_generated for r in rows))
    for r in rows:
        total.run += r.run
        total.killed += r.killed
        total.timeout += r.timeout
        total.survived += r.survived
        total.no_tests += r.no_tests
        total.other += r.other
    if total.run:
        total.kill_rate = round((total.killed + total.timeout) / total.run, 4)
    return total


def table(rows: Sequence[ModuleRow]) -> str:
    head = (
        "| module | generated | run | killed | timeout | survived | no tests | other | kill rate |"
    )
    lines = [head, "|" + "---|" * 9]
    for r in [*rows, total_row(rows)]:
        rate = "-" if r.kill_rate is None else f"{100 * r.kill_rate:.1f}%"
        lines.append(
            f"| {r.module} | {r.mutants_generated} | {r.run} | {r.killed} | {r.timeout} | "
            f"{r.survived} | {r.no_tests} | {r.other} | {rate} |"
        )
    return "\n".join(lines)


def survivors_text(mutants: Sequence[Mutant]) -> str:
    out = []
    for mu in mutants:
        if mu.status not in {"survived", "no tests"}:
            continue
        where = f"{mu.module}:{mu.line}" if mu.line else mu.module
        out.append(f"### {where}  [{mu.status}]  {mu.name}")
        out.append(
            "\n".join(ln for ln in mu.diff.splitlines() if not ln.startswith(("---", "+++")))
        )
        out.append("")
    return "\n".join(out)


# -- running mutmut ----------------------------------------------------------------------


def _mutmut_config(modules: Sequence[str], tests: Sequence[str]) -> str:
    def arr(items: Iterable[str]) -> str:
        return "[" + ", ".join(json.dumps(i) for i in items) + "]"

    return (
        "\n\n[tool.mutmut]\n"
        'source_paths = ["mock_wiro"]\n'
        f"only_mutate = {arr(modules)}\n"
        f"also_copy = {arr(c for c in COPIED if c != 'mock_wiro')}\n"
        f"pytest_add_cli_args_test_selection = {arr(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        # A mutant that stalls a task makes the suite wait for it: stop it after
        # (its tests' time + 2 s) x 5 rather than mutmut's x 15 (a timeout is a kill).
        "timeout_multiplier = 5.0\n"
        "timeout_constant = 2.0\n"
    )


def prepare(workdir: Path, modules: Sequence[str], tests: Sequence[str]) -> None:
    """A fresh scratch copy of the project, with this run's ``[tool.mutmut]``."""
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        shutil.copytree(ROOT / name, workdir / name, ignore=ignore)
    write_config(workdir, modules, tests)


def write_config(workdir: Path, modules: Sequence[str], tests: Sequence[str]) -> None:
    """The scratch copy's pyproject.toml: the project's, and this run's ``[tool.mutmut]``."""
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    (workdir / "pyproject.toml").write_text(text + _mutmut_config(modules, tests), "utf-8")


def _meta(workdir: Path, module: str) -> dict[str, Any]:
    path = workdir / "mutants" / (module + ".meta")
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


def _niced(level: int) -> Any:
    def lower() -> None:
        if level:
            os.nice(level)

    return lower


def generate(workdir: Path, modules: Sequence[str], nice: int) -> dict[str, list[str]]:
    """Every mutant name mutmut makes for each module (then forgets them: ``mutmut run``
    makes the same names again from the same sources)."""
    subprocess.run(
        [sys.executable, "-c", _GENERATE],
        cwd=workdir,
        check=True,
        stdout=subprocess.DEVNULL,
        preexec_fn=_niced(nice),
    )
    names = {m: sorted(_meta(workdir, m).get("exit_code_by_key", {})) for m in modules}
    shutil.rmtree(workdir / "mutants")
    return names


def run_mutmut(workdir: Path, names: Sequence[str], nice: int, max_minutes: float) -> int:
    """``mutmut run`` on ``names`` with one worker; past ``max_minutes`` (0: no bound) it
    is interrupted as Ctrl-C would (mutmut keeps what it had judged) and the rest stays
    "not checked"."""
    log = workdir / "mutmut.log"
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", "1", *names]
    # `python -m mutmut` warns that its __main__ ran twice; the console script does not.
    script = Path(sys.executable).with_name("mutmut")
    if script.exists():
        cmd = [str(script), *cmd[3:]]
    # mutmut ties a function to the test during which it ran: a task shared by the
    # session would be tied to the first test that read it only, and every other test
    # reading it would never be run against a mutant of the engine that made it
    env = {**os.environ, "WIRO_FRESH_TASKS": "1"}
    with log.open("a", encoding="utf-8") as out:
        proc = subprocess.Popen(
            cmd,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_niced(nice),
            start_new_session=True,
        )
        try:
            return proc.wait(timeout=max_minutes * 60 if max_minutes > 0 else None)
        except subprocess.TimeoutExpired:
            print(f"stopping mutmut after {max_minutes} minutes", flush=True)
            os.killpg(proc.pid, signal.SIGINT)
            try:
                return proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                return proc.wait()


def checked_names(workdir: Path, modules: Sequence[str]) -> set[str]:
    """The mutants mutmut has a verdict for (any exit code but "interrupted")."""
    done: set[str] = set()
    for module in modules:
        codes = _meta(workdir, module).get("exit_code_by_key", {})
        done |= {n for n, c in codes.items() if c is not None and c != 2}
    return done


def unchecked(
    workdir: Path, modules: Sequence[str], selected: dict[str, list[str]], carried: Collection[str]
) -> list[str]:
    """The sample's mutants still without a verdict (and not carried over)."""
    done = checked_names(workdir, modules) | set(carried)
    return [n for m in modules for n in selected[m] if n not in done]


def diffs(workdir: Path, names: Sequence[str]) -> dict[str, str]:
    if not names:
        return {}
    proc = subprocess.run(
        [sys.executable, "-c", _DIFFS],
        cwd=workdir,
        input=json.dumps(list(names)),
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, str] = json.loads(proc.stdout)
    return result


def collect(
    workdir: Path,
    modules: Sequence[str],
    selected: dict[str, list[str]],
    carried: dict[str, str] | None = None,
) -> list[Mutant]:
    """The sample's outcomes from mutmut's ``.meta`` files (``carried``: outcomes of an
    earlier run, kept as they were), with a diff and a line for each one missed."""
    carried = carried or {}
    out: list[Mutant] = []
    for module in modules:
        meta = _meta(workdir, module)
        codes = meta.get("exit_code_by_key", {})
        durations = meta.get("durations_by_key", {})
        for name in selected.get(module, []):
            code = codes.get(name)
            seconds = durations.get(name)
            out.append(
                Mutant(
                    name=name,
                    module=module,
                    status=carried.get(name) or STATUS_BY_EXIT_CODE.get(code, "suspicious"),
                    seconds=round(seconds, 2) if isinstance(seconds, int | float) else None,
                )
            )
    missed = [m.name for m in out if m.status in {"survived", "no tests"}]
    found = diffs(workdir, missed)
    for mu in out:
        if mu.name in found:
            mu.diff = found[mu.name]
            mu.line = locate((ROOT / mu.module).read_text("utf-8"), mu.name, mu.diff)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mutation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--modules", nargs="+", default=list(DEFAULT_MODULES), metavar="PATH")
    parser.add_argument("--tests", choices=sorted(TEST_SETS), default="contract")
    parser.add_argument("--max-mutants", type=int, default=0, help="sample size (0: all)")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", type=Path, default=None, help="write the report here")
    parser.add_argument("--workdir", type=Path, default=None, help="default .mutation/<tests>")
    parser.add_argument(
        "--max-minutes", type=float, default=0, help="stop mutmut after this long (0: never)"
    )
    parser.add_argument(
        "--chunk", type=int, default=40, help="mutants per mutmut call (shuffled across modules)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="go on with the workdir's sample: run only its mutants without a verdict",
    )
    parser.add_argument("--nice", type=int, default=19, help="niceness of mutmut (0: as is)")
    parser.add_argument(
        "--report-only", action="store_true", help="report the workdir's last run, run nothing"
    )
    parser.add_argument(
        "--recheck",
        type=Path,
        default=None,
        metavar="JSON",
        help="a report of an earlier run: run its sample again, but only the mutants it "
        "missed (survived, no tests); those it caught are carried over as caught. With "
        "--tests fast after a contract run, this gives the fast set's kill rate cheaply.",
    )
    args = parser.parse_args(argv)
    modules = [m.replace(os.sep, "/") for m in args.modules]
    for m in modules:
        if not (m.startswith("mock_wiro/") and m.endswith(".py") and (ROOT / m).is_file()):
            parser.error(f"not a module of mock_wiro: {m}")
    tests = TEST_SETS[args.tests]
    workdir = (args.workdir or ROOT / ".mutation" / args.tests).resolve()
    plan = workdir / "plan.json"

    started = time.monotonic()
    if args.report_only or args.resume:
        saved = json.loads(plan.read_text("utf-8"))
        modules, selected, generated = saved["modules"], saved["selected"], saved["generated"]
        args.seed, args.max_mutants, args.tests = (
            saved["seed"],
            saved["max_mutants"],
            saved["tests"],
        )
        tests = TEST_SETS[args.tests]
        carried = saved.get("carried", {})
        run_seconds = saved.get("seconds") or 0.0
        if args.resume:
            write_config(workdir, modules, tests)
    else:
        saved = {}
        carried = {}
        if args.recheck is not None:
            earlier = json.loads(args.recheck.read_text("utf-8"))
            modules, args.seed = earlier["modules"], earlier["seed"]
            args.max_mutants = earlier["max_mutants"]
            prepare(workdir, modules, tests)
            generated = {r["module"]: r["mutants_generated"] for r in earlier["rows"]}
            selected = {m: [] for m in modules}
            for mu in earlier["mutants"]:
                selected[mu["module"]].append(mu["name"])
                if mu["status"] not in {"survived", "no tests", "not checked"}:
                    carried[mu["name"]] = mu["status"]
        else:
            prepare(workdir, modules, tests)
            names = generate(workdir, modules, args.nice)
            generated = {m: len(v) for m, v in names.items()}
            selected = sample(names, args.max_mutants, args.seed)
        run_seconds = 0.0
        saved = {
            "modules": modules,
            "tests": args.tests,
            "seed": args.seed,
            "max_mutants": args.max_mutants,
            "generated": generated,
            "selected": selected,
            "carried": carried,
        }
        plan.write_text(json.dumps(saved, indent=1), "utf-8")
    if not args.report_only:
        count = sum(len(v) for v in selected.values())
        print(
            f"{sum(generated.values())} mutants in {len(modules)} modules; sample {count} "
            f"({len(carried)} carried over as caught); tests: {' '.join(tests)}"
        )
        print(f"log: {workdir / 'mutmut.log'}", flush=True)
        deadline = started + args.max_minutes * 60 if args.max_minutes > 0 else None
        rng = random.Random(args.seed)
        while True:
            todo = unchecked(workdir, modules, selected, carried)
            if not todo:
                break
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left < 30:
                print(f"stopped at --max-minutes: {len(todo)} of the sample not checked")
                break
            rng.shuffle(todo)  # chunks mix the modules: a stop leaves a random remainder
            batch = sorted(todo[: args.chunk])
            print(f"running {len(batch)} of {len(todo)} left", flush=True)
            code = run_mutmut(workdir, batch, args.nice, (left or 0) / 60)
            if code != 0:
                print(f"mutmut exited {code}; see {workdir / 'mutmut.log'}", file=sys.stderr)
                if not set(batch) & set(checked_names(workdir, modules)):
                    break  # it judged none of them: running it again would not either
        run_seconds = round(run_seconds + time.monotonic() - started, 1)
        saved["seconds"] = run_seconds
        plan.write_text(json.dumps(saved, indent=1), "utf-8")

    mutants = collect(workdir, modules, selected, carried)
    rows = summarize(modules, generated, mutants)
    print(table(rows))
    print()
    print(survivors_text(mutants))
    verdicts = mutation_verdicts.summary(mutants, modules=modules)
    print(mutation_verdicts.summary_text(verdicts))
    print(f"wall time of the run: {run_seconds} s")
    if carried:
        rechecked = [m for m in mutants if m.name not in carried and m.status != "not checked"]
        caught = [m for m in rechecked if m.status in DETECTED]
        missed = sum(len(v) for v in selected.values()) - len(carried)
        print(
            f"recheck: {len(rechecked)} of the {missed} mutants the earlier run missed or "
            f"left unchecked were run again; {len(caught)} of them are caught by these tests"
        )
    if args.json:
        report = {
            "tool": "mutmut",
            "tests": args.tests,
            "test_paths": list(tests),
            "modules": modules,
            "max_mutants": args.max_mutants,
            "seed": args.seed,
            "seconds": run_seconds,
            "recheck_of": str(args.recheck) if args.recheck else None,
            "carried_over": len(carried),
            "rows": [asdict(r) for r in rows],
            "total": asdict(total_row(rows)),
            "mutants": [asdict(m) for m in mutants],
            "verdicts": verdicts,
        }
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
