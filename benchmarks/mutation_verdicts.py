"""Verdicts on the mutation campaign's missed mutants, so its report is not hand-kept.

``python -m benchmarks.mutation`` prints, and writes in its JSON (``verdicts``), how many of
the mutants it missed (survived, or reached by no test) are of each kind below, which it
has no verdict for (*unclassified*: read the diff, decide, add it here) and which verdicts
name no missed mutant of the run (*stale*: killed by a new test, or the function's source
changed; drop them once a whole run shows it). The kinds are docs/contract.md's
("Mutation campaign", "Surviving mutants"):

- **E, equivalent**: no response, frame, callback or file of the fake changes, for any
  input a client could send (or the mutated code is unreachable over HTTP: the ``why``
  says why).
- **O, outside the contract**: a behaviour no rule of docs/wiro-api.md states: the fake's
  own configuration checks, /_mock scenarios and faults, issue 18's hardening, [A]-marked
  choices, free-text messages whose wording is the fake's.
- **G, a real gap**: the mutant breaks a rule of the contract (contract_tests/rules.py,
  docs/wiro-api.md) that no contract test notices; the ``why`` names the rule and what a
  test that kills it checks.

Keys are mutmut's mutant names (``mock_wiro.<module>.x_<function>__mutmut_<n>``,
``...xǁ<Class>ǁ<method>__mutmut_<n>``): mutmut numbers the mutants of a function in
order, so a name keeps its meaning as long as that function's source does not change. The
verdicts below are those of docs/mutation/final2-contract.json's 138 missed mutants (made
on after-contract.json's, then final-contract.json's, dropping each one a new test
killed); line numbers in the comments are those of the sources they were made on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

Kind = Literal["E", "O", "G"]

KINDS: dict[Kind, str] = {"E": "equivalent", "O": "outside the contract", "G": "a real gap"}

#: The statuses of a mutant the tests did not notice (the report's survivors).
MISSED = frozenset({"survived", "no tests"})


@dataclass(frozen=True)
class Verdict:
    """Why a missed mutant is missed: ``kind`` (E, O or G) and one sentence saying why."""

    kind: Kind
    why: str


class Classification(NamedTuple):
    """A report's missed mutants sorted against the verdicts (names, in report order)."""

    classified: list[str]
    """Missed mutants that have a verdict."""
    unclassified: list[str]
    """Missed mutants that have none."""
    stale: list[str]
    """Verdicts whose mutant is not among the report's missed ones (sorted)."""


def _field(mutant: object, key: str) -> str:
    """A mutant's ``name`` or ``status``, from a report's JSON (a dict) or a ``Mutant``."""
    value = mutant[key] if isinstance(mutant, Mapping) else getattr(mutant, key)
    return str(value)


def missed(mutants: Iterable[object]) -> list[str]:
    """The names of the mutants the tests missed (status survived or no tests)."""
    return [_field(m, "name") for m in mutants if _field(m, "status") in MISSED]


def _module_prefixes(modules: Iterable[str]) -> tuple[str, ...]:
    return tuple(m.removesuffix(".py").replace("/", ".") + "." for m in modules)


def classify(
    mutants: Iterable[object],
    verdicts: Mapping[str, Verdict] | None = None,
    modules: Iterable[str] | None = None,
) -> Classification:
    """Sort a report's missed mutants against ``verdicts`` (default :data:`VERDICTS`).

    ``mutants``: the report's ``mutants`` (dicts from its JSON, or ``Mutant`` objects).
    ``modules`` (paths, ``mock_wiro/engine/auth.py``): when given, only verdicts of those
    modules can be stale (a run over fewer modules does not make the others stale). A
    verdict of a mutant the run did not check (outside its sample, or left "not checked")
    is stale too: drop a stale verdict only once a whole run shows it killed."""
    table = VERDICTS if verdicts is None else verdicts
    names = missed(mutants)
    found = set(names)
    prefixes = _module_prefixes(modules) if modules is not None else None
    return Classification(
        classified=[n for n in names if n in table],
        unclassified=[n for n in names if n not in table],
        stale=sorted(
            n for n in table if n not in found and (prefixes is None or n.startswith(prefixes))
        ),
    )


def summary(
    mutants: Iterable[object],
    verdicts: Mapping[str, Verdict] | None = None,
    modules: Iterable[str] | None = None,
) -> dict[str, Any]:
    """What a report says of the verdicts (the ``verdicts`` key of its JSON): the count
    of missed mutants of each kind, the unclassified ones and the stale verdicts."""
    table = VERDICTS if verdicts is None else verdicts
    sorted_ = classify(mutants, table, modules)
    counts = Counter(table[n].kind for n in sorted_.classified)
    return {
        "counts": {kind: counts.get(kind, 0) for kind in KINDS},
        "unclassified": sorted_.unclassified,
        "stale": sorted_.stale,
    }


def summary_text(found: Mapping[str, Any]) -> str:
    """:func:`summary` as the report prints it."""
    counts = found["counts"]
    kinds = ", ".join(f"{k} ({KINDS[k]}) {counts.get(k, 0)}" for k in KINDS)
    lines = [f"verdicts on the missed mutants: {kinds}"]
    lines.append(f"unclassified ({len(found['unclassified'])}): read the diff, add a verdict")
    lines += [f"  {name}" for name in found["unclassified"]]
    lines.append(f"stale verdicts ({len(found['stale'])}): no such missed mutant in this run")
    lines += [f"  {name}" for name in found["stale"]]
    return "\n".join(lines)


VERDICTS: dict[str, Verdict] = {
    # ----------------------------------------------------------------------
    # mock_wiro/engine/admission.py: how a Run is admitted (96/97), how a request names a task
    # :37
    "mock_wiro.engine.admission.xǁTaskRefǁfrom_params__mutmut_4": Verdict(
        "E",
        '`params.get("tasktoken", None) or ...` gives the same value as with "": both are falsy.',
    ),
    # :55
    "mock_wiro.engine.admission.x_interned__mutmut_5": Verdict(
        "E",
        "Only the sys.intern of `resolution` is dropped: interning shares memory, the value is "
        "equal.",
    ),
    # :85
    "mock_wiro.engine.admission.x_check_can_run__mutmut_18": Verdict(
        "E",
        '`policy` is always "reserve" (BALANCE_POLICY; the one caller passes none), and the '
        "bound only spares a sum that cannot refuse (the prices held are at most _MAX_PRICE per "
        "task).",
    ),
    # :87
    "mock_wiro.engine.admission.x_check_can_run__mutmut_26": Verdict(
        "O",
        "Judged by tests/security/test_edges.py (parallel Runs that would overdraw), not "
        "the contract: the reserve held for unfinished tasks is the fake's own policy [A: "
        "BALANCE_POLICY], and it refuses only above $250 with some 750 unfinished tasks.",
    ),
    # :87
    "mock_wiro.engine.admission.x_check_can_run__mutmut_28": Verdict(
        "O",
        "Judged by tests/security/test_edges.py (parallel Runs that would overdraw), not "
        "the contract: the reserve held for unfinished tasks is the fake's own policy [A: "
        "BALANCE_POLICY], and it refuses only above $250 with some 750 unfinished tasks.",
    ),
    # :87
    "mock_wiro.engine.admission.x_check_can_run__mutmut_32": Verdict(
        "O",
        "Judged by tests/security/test_edges.py (parallel Runs that would overdraw), not "
        "the contract: the reserve held for unfinished tasks is the fake's own policy [A: "
        "BALANCE_POLICY], and it refuses only above $250 with some 750 unfinished tasks.",
    ),
    # :88
    "mock_wiro.engine.admission.x_check_can_run__mutmut_33": Verdict(
        "O",
        "Judged by tests/security/test_edges.py (parallel Runs that would overdraw), not "
        "the contract: the reserve held for unfinished tasks is the fake's own policy [A: "
        "BALANCE_POLICY], and it refuses only above $250 with some 750 unfinished tasks.",
    ),
    # :89
    "mock_wiro.engine.admission.x_check_can_run__mutmut_36": Verdict(
        "O",
        "Judged by tests/security/test_edges.py (parallel Runs that would overdraw), not "
        "the contract: the reserve held for unfinished tasks is the fake's own policy [A: "
        "BALANCE_POLICY], and it refuses only above $250 with some 750 unfinished tasks.",
    ),
    # ----------------------------------------------------------------------
    # mock_wiro/engine/auth.py: the fake's credentials and the signature check
    # :27
    "mock_wiro.engine.auth.x_check_credentials__mutmut_2": Verdict(
        "O",
        "check_credentials judges the fake's own configuration (--api-key, /_mock projects, "
        "create_project) [A: CREDENTIAL_RULE], never a /v1 request: every API key is refused.",
    ),
    # :28
    "mock_wiro.engine.auth.x_check_credentials__mutmut_5": Verdict(
        "O",
        "check_credentials judges the fake's own configuration (--api-key, /_mock projects, "
        "create_project) [A: CREDENTIAL_RULE], never a /v1 request: a one-character API key is "
        "refused.",
    ),
    # :28
    "mock_wiro.engine.auth.x_check_credentials__mutmut_6": Verdict(
        "O",
        "check_credentials judges the fake's own configuration (--api-key, /_mock projects, "
        "create_project) [A: CREDENTIAL_RULE], never a /v1 request: an empty API key is "
        "accepted.",
    ),
    # :32
    "mock_wiro.engine.auth.x_check_credentials__mutmut_9": Verdict(
        "O",
        "check_credentials judges the fake's own configuration (--api-key, /_mock projects, "
        "create_project) [A: CREDENTIAL_RULE], never a /v1 request: the API-key check is "
        "inverted.",
    ),
    # :33
    "mock_wiro.engine.auth.x_check_credentials__mutmut_11": Verdict(
        "O",
        "check_credentials judges the fake's own configuration (--api-key, /_mock projects, "
        "create_project) [A: CREDENTIAL_RULE], never a /v1 request: its message quotes 81 "
        "characters, not 80.",
    ),
    # :36
    "mock_wiro.engine.auth.x_check_credentials__mutmut_15": Verdict(
        "E", '"UTF-8" names the same codec as "utf-8".'
    ),
    # :37
    "mock_wiro.engine.auth.x_check_credentials__mutmut_16": Verdict(
        "O",
        "check_credentials judges the fake's own configuration (--api-key, /_mock projects, "
        "create_project) [A: CREDENTIAL_RULE], never a /v1 request: every secret is refused.",
    ),
    # :40
    "mock_wiro.engine.auth.x_check_credentials__mutmut_22": Verdict(
        "O",
        "check_credentials judges the fake's own configuration (--api-key, /_mock projects, "
        "create_project) [A: CREDENTIAL_RULE], never a /v1 request: a one-character secret is "
        "refused.",
    ),
    # :42
    "mock_wiro.engine.auth.x_check_credentials__mutmut_25": Verdict(
        "O",
        "check_credentials judges the fake's own configuration (--api-key, /_mock projects, "
        "create_project) [A: CREDENTIAL_RULE], never a /v1 request: the secret's refusal has no "
        "message.",
    ),
    # :103
    "mock_wiro.engine.auth.xǁAuthenticatorǁauthenticate__mutmut_39": Verdict(
        "E",
        "The error handler is consulted only for a character latin-1 cannot encode, and a "
        "header value handed over by WSGI is latin-1 text, so it never is (only `python -X dev` "
        "checks the name eagerly).",
    ),
    # :115
    "mock_wiro.engine.auth.xǁAuthenticatorǁauthenticate__mutmut_63": Verdict(
        "O",
        "Nonce bookkeeping runs only with Settings.reject_reused_nonce, off by default [A]; "
        "auth.nonce_reuse accepts either answer to a reused nonce.",
    ),
    # :116
    "mock_wiro.engine.auth.xǁAuthenticatorǁauthenticate__mutmut_69": Verdict(
        "O",
        "The 401 message of a rejected reused nonce, reached only with "
        "Settings.reject_reused_nonce on [A: mock_wiro/engine/auth.py].",
    ),
    # :116
    "mock_wiro.engine.auth.xǁAuthenticatorǁauthenticate__mutmut_71": Verdict(
        "O",
        "The 401 message of a rejected reused nonce, reached only with "
        "Settings.reject_reused_nonce on [A: mock_wiro/engine/auth.py].",
    ),
    # ----------------------------------------------------------------------
    # mock_wiro/engine/lifecycle.py: stages, progress objects, plans
    # :92
    "mock_wiro.engine.lifecycle.xǁ_Outputsǁ__repr____mutmut_1": Verdict(
        "E",
        "The OUTPUTS marker is replaced by the outputs array before its frame is emitted; its "
        "repr reaches no response, frame or callback.",
    ),
    # :145
    "mock_wiro.engine.lifecycle.x__progress__mutmut_10": Verdict(
        "O",
        'The progress object\'s `task` label: the docs show one example ("Generate"), not '
        "a rule for every model or step; the suite does not require the example's value.",
    ),
    # :149
    "mock_wiro.engine.lifecycle.x__progress__mutmut_35": Verdict(
        "E",
        "The `speed` guard differs only for 0 < seconds_per_step <= 1, and it is "
        "GENERATION_SECONDS / PROGRESS_STEPS >= 4 s for every (resolution, duration).",
    ),
    # :168
    "mock_wiro.engine.lifecycle.x_success_plan__mutmut_5": Verdict(
        "O",
        "The banner stdout line (a task_output string, a debugoutput line) says None for the "
        "resolution or duration: the fake's own wording, no rule fixes it.",
    ),
    # :168
    "mock_wiro.engine.lifecycle.x_success_plan__mutmut_6": Verdict(
        "O",
        "The banner stdout line (a task_output string, a debugoutput line) says None for the "
        "resolution or duration: the fake's own wording, no rule fixes it.",
    ),
    # :170
    "mock_wiro.engine.lifecycle.x_success_plan__mutmut_21": Verdict(
        "O",
        'One more progress frame, at step 0 (percentage "0", stepCurrent "0"), consistent with '
        "every documented key; how many progress frames come is [A: PROGRESS_STEPS].",
    ),
    # :172
    "mock_wiro.engine.lifecycle.x_success_plan__mutmut_52": Verdict(
        "O",
        'The case of the last stdout line ("Video generated; uploading output"): the fake\'s own '
        "wording, no rule fixes it.",
    ),
    # :172
    "mock_wiro.engine.lifecycle.x_success_plan__mutmut_53": Verdict(
        "O",
        'The case of the last stdout line ("Video generated; uploading output"): the fake\'s own '
        "wording, no rule fixes it.",
    ),
    # :202
    "mock_wiro.engine.lifecycle.x_fail_after__mutmut_22": Verdict(
        "O",
        "Only the delays of a /_mock scenario failure's stderr lines change: stage timings are "
        "[A: FAILURE_TAIL], and the order of frames is unchanged.",
    ),
    # :202
    "mock_wiro.engine.lifecycle.x_fail_after__mutmut_23": Verdict(
        "O",
        "Only the delays of a /_mock scenario failure's stderr lines change: stage timings are "
        "[A: FAILURE_TAIL], and the order of frames is unchanged.",
    ),
    # :208
    "mock_wiro.engine.lifecycle.x_fail_after__mutmut_39": Verdict(
        "O",
        'A /_mock failure at task_output_full drops the "Video generated" stdout line before '
        "it; the raw log stays consistent and which task_output lines come is the fake's own "
        "text.",
    ),
    # :215
    "mock_wiro.engine.lifecycle.x_with_timings__mutmut_1": Verdict(
        "O", "A /_mock scenario's `timings` are ignored: a feature of the control surface, no rule."
    ),
    # :215
    "mock_wiro.engine.lifecycle.x_with_timings__mutmut_5": Verdict(
        "O",
        "A /_mock scenario with `timings` crashes its plan (TypeError): only the control "
        "surface sets timings.",
    ),
    # :215
    "mock_wiro.engine.lifecycle.x_with_timings__mutmut_7": Verdict(
        "O",
        "A /_mock scenario with `timings` crashes its plan (TypeError): only the control "
        "surface sets timings.",
    ),
    # :239
    "mock_wiro.engine.lifecycle.x_build_plan__mutmut_1": Verdict(
        "E",
        "The default `fail_message` is never used: plan_for, the only caller passing "
        "fail_stage, always passes the scenario's fail_message too.",
    ),
    # ----------------------------------------------------------------------
    # mock_wiro/engine/stepper.py: frames, outputs and billing as steps apply
    # :71
    "mock_wiro.engine.stepper.xǁStepperǁstop__mutmut_6": Verdict(
        "O",
        "canceltime after Cancel/Kill: the seed's own cancelled task shows canceltime "
        '"0", so no rule asks for it to be set; the fake sets it [A].',
    ),
    # :79
    "mock_wiro.engine.stepper.xǁStepperǁ_output__mutmut_5": Verdict(
        "E",
        "The output file's project_id is never read (nothing reads a StoredFile's project_id), "
        "so no response, frame or file changes.",
    ),
    # :90
    "mock_wiro.engine.stepper.xǁStepperǁ_output__mutmut_35": Verdict(
        "O",
        "A /_mock output fault (empty, truncated, download_404) no longer applies: the fake's "
        "chaos feature, no rule.",
    ),
    # :90
    "mock_wiro.engine.stepper.xǁStepperǁ_output__mutmut_36": Verdict(
        "O",
        "A /_mock output fault (empty, truncated, download_404) no longer applies: the fake's "
        "chaos feature, no rule.",
    ),
    # :92
    "mock_wiro.engine.stepper.xǁStepperǁ_output__mutmut_40": Verdict(
        "O",
        "A /_mock output fault (empty, truncated, download_404) no longer applies: the fake's "
        "chaos feature, no rule.",
    ),
    # :94
    "mock_wiro.engine.stepper.xǁStepperǁ_output__mutmut_46": Verdict(
        "O",
        "A /_mock output fault (empty, truncated, download_404) no longer applies: the fake's "
        "chaos feature, no rule.",
    ),
    # :100
    "mock_wiro.engine.stepper.xǁStepperǁ_finish__mutmut_1": Verdict(
        "E",
        "A failed task is never rendered: a planned failure (bad image, /_mock scenario) "
        "returns before the render, and a render that raises leaves `render` None; so "
        "`failure is None or render is not None` is `failure is None` for every task.",
    ),
    # :106
    "mock_wiro.engine.stepper.xǁStepperǁ_finish__mutmut_18": Verdict(
        "O",
        "cps divides by elapsed even when it is 0, which only /_mock scenario timings of 0 s "
        "(or a /_mock push) can make happen: a crash reachable through the control surface "
        "only.",
    ),
    # ----------------------------------------------------------------------
    # mock_wiro/engine/params.py: Run validation and the values Detail echoes
    # :62
    "mock_wiro.engine.params.x_require__mutmut_8": Verdict(
        "O",
        'Differs only for a folder named exactly "XXXX" (mutmut\'s marker): an empty '
        "name is still refused by the backend with the same message; no rule names that "
        "folder.",
    ),
    # :70
    "mock_wiro.engine.params.x_int_field__mutmut_4": Verdict(
        "E",
        '`fields.get(name, None) or str(default)` gives the same value as with "": both are falsy.',
    ),
    # :126
    "mock_wiro.engine.params.x_check_fields__mutmut_5": Verdict(
        "E",
        "The routes always pass the file counts as a dict, so the non-Mapping branch is "
        "unreachable over HTTP.",
    ),
    # :126
    "mock_wiro.engine.params.x_check_fields__mutmut_9": Verdict(
        "E",
        "The routes always pass the file counts as a dict, so the non-Mapping branch is "
        "unreachable over HTTP.",
    ),
    # :129
    "mock_wiro.engine.params.x_check_fields__mutmut_24": Verdict(
        "E",
        "The routes count only non-empty file parts, so no count is 0 and `n >= 0` keeps the "
        "same names as `n > 0`.",
    ),
    # :132
    "mock_wiro.engine.params.x_check_fields__mutmut_43": Verdict(
        "O",
        "An unknown Run field is refused or ignored as Settings.unknown_fields says [A]; the "
        "mutant swaps the two, and no rule fixes either.",
    ),
    # :146
    "mock_wiro.engine.params.x_check_fields__mutmut_82": Verdict(
        "E",
        "Checked.files is not read by parse_run_params, the only caller of check_fields on /v1.",
    ),
    # :168
    "mock_wiro.engine.params.x__collapse_lists__mutmut_39": Verdict(
        "E",
        "`counts.get(name, None)` / `counts.get(name)` is as falsy as `counts.get(name, 0)` for "
        "a missing name.",
    ),
    # :168
    "mock_wiro.engine.params.x__collapse_lists__mutmut_41": Verdict(
        "E",
        "`counts.get(name, None)` / `counts.get(name)` is as falsy as `counts.get(name, 0)` for "
        "a missing name.",
    ),
    # :183
    "mock_wiro.engine.params.x__check_url_lengths__mutmut_6": Verdict(
        "O",
        "An alias field's URL is no longer length-checked: both the limit [A: MAX_URL_CHARS] "
        "and the aliases [A: Settings.accept_image_aliases] are the fake's.",
    ),
    # :183
    "mock_wiro.engine.params.x__check_url_lengths__mutmut_7": Verdict(
        "O",
        "With aliases off, an over-long alias field gets the URL-length error instead of the "
        "unknown-field one (code 0 both): settings and messages that are [A].",
    ),
    # :188
    "mock_wiro.engine.params.x__check_url_lengths__mutmut_17": Verdict(
        "O",
        "The URL-length refusal [A: MAX_URL_CHARS] keeps code 0 but loses its message (the "
        "fake's wording).",
    ),
    # :209
    "mock_wiro.engine.params.x__resolve_aliases__mutmut_18": Verdict(
        "O",
        "Which of an alias and its real field wins when one is empty is the fake's choice [A: "
        "Settings.accept_image_aliases].",
    ),
    # :216
    "mock_wiro.engine.params.x__reject_unknown__mutmut_4": Verdict(
        "O",
        "Unknown fields are refused only when both a text and a file field carry them: "
        "unknown-field handling is [A: Settings.unknown_fields].",
    ),
    # :219
    "mock_wiro.engine.params.x__reject_unknown__mutmut_8": Verdict(
        "O",
        "The unknown-field refusal [A: Settings.unknown_fields] keeps code 0; only its message "
        "(the fake's wording) changes.",
    ),
    # :221
    "mock_wiro.engine.params.x__reject_unknown__mutmut_11": Verdict(
        "O",
        "The unknown-field refusal [A: Settings.unknown_fields] keeps code 0; only its message "
        "(the fake's wording) changes.",
    ),
    # :237
    "mock_wiro.engine.params.x__file_input__mutmut_9": Verdict(
        "E",
        "The model's only file parameter has a URL companion, so `url_name or True` is as true "
        "as `url_name`.",
    ),
    # :238
    "mock_wiro.engine.params.x__file_input__mutmut_17": Verdict(
        "O",
        "Reached only with the image file under one of inputImage/inputImageFirst and a text "
        "under the other: the text is then echoed instead of the upload's URL; alias precedence "
        "is [A: Settings.accept_image_aliases].",
    ),
    # :241
    "mock_wiro.engine.params.x__file_input__mutmut_27": Verdict(
        "O",
        "The case of the both-images refusal's message, which is [A: parse_run_params()]; code "
        "0 stays.",
    ),
    # :247
    "mock_wiro.engine.params.x__file_input__mutmut_41": Verdict(
        "E",
        "The model's only file parameter has a URL companion, so `url_name or True` is as true "
        "as `url_name`.",
    ),
    # :253
    "mock_wiro.engine.params.x__value__mutmut_4": Verdict(
        "O",
        'The default of an omitted promptOptimizer (and reading "TRUE"/"1"): the seed '
        'always sends "true"; the default is the fake\'s [A].',
    ),
    # :256
    "mock_wiro.engine.params.x__value__mutmut_30": Verdict(
        "E", '`params.get(name, None) or default` gives the same value as with "": both are falsy.'
    ),
    # :256
    "mock_wiro.engine.params.x__value__mutmut_34": Verdict(
        "E",
        "`allowed[0]` is reached only for a select without a default, and both selects "
        "(resolution, duration) have one.",
    ),
    # ----------------------------------------------------------------------
    # mock_wiro/http/wire.py: the Task/Detail shape
    # :54
    "mock_wiro.http.wire.x_task_detail__mutmut_2": Verdict(
        "O",
        "Whether Detail still lists a task's outputs after Task/InputOutputDelete is "
        "not documented; what is (their URLs stop serving them, the task stays "
        "finished) is judged.",
    ),
    # :74
    "mock_wiro.http.wire.x_task_detail__mutmut_60": Verdict(
        "O",
        'The seed\'s constant `description` / `modelfileid` "", values the real API may vary; '
        "detail.shape judges their type, which stays a string.",
    ),
    # :78
    "mock_wiro.http.wire.x_task_detail__mutmut_73": Verdict(
        "O",
        'The seed\'s constant `description` / `modelfileid` "", values the real API may vary; '
        "detail.shape judges their type, which stays a string.",
    ),
    # :86
    "mock_wiro.http.wire.x_task_detail__mutmut_100": Verdict(
        "O", "The case of `modeldescription`, free text (only the field is [docs])."
    ),
    # ----------------------------------------------------------------------
    # mock_wiro/http/routes.py: reading bodies, the handlers, serving files
    # :52
    "mock_wiro.http.routes.x__to_str__mutmut_8": Verdict(
        "O",
        'A JSON false becomes "FALSE": parse_bool lowercases it for promptOptimizer, so only a '
        "boolean sent to a text field (prompt) shows it, and how non-string JSON is turned into "
        "text is the fake's choice.",
    ),
    # :56
    "mock_wiro.http.routes.x__to_str__mutmut_10": Verdict(
        "O",
        "A JSON object in a scalar field is refused with code 0 either way; only the message "
        "(the fake's wording) is lost.",
    ),
    # :64
    "mock_wiro.http.routes.xǁBodyTooLargeǁ__init____mutmut_3": Verdict(
        "O",
        "The wording of the 413 answer to an over-1-MiB body [A: MAX_JSON_BODY_BYTES], issue "
        "18's hardening.",
    ),
    # :64
    "mock_wiro.http.routes.xǁBodyTooLargeǁ__init____mutmut_6": Verdict(
        "O",
        "The wording of the 413 answer to an over-1-MiB body [A: MAX_JSON_BODY_BYTES], issue "
        "18's hardening.",
    ),
    # :81
    "mock_wiro.http.routes.x_read_small_body__mutmut_8": Verdict(
        "O",
        "An over-1-MiB body crashes (TypeError, HTTP 500) instead of the 413: the limit and its "
        "status are [A: MAX_JSON_BODY_BYTES, OVERSIZE_HTTP_STATUS], issue 18's hardening.",
    ),
    # :92
    "mock_wiro.http.routes.x_read_small_body__mutmut_25": Verdict(
        "O",
        "An over-1-MiB body crashes (TypeError, HTTP 500) instead of the 413: the limit and its "
        "status are [A: MAX_JSON_BODY_BYTES, OVERSIZE_HTTP_STATUS], issue 18's hardening.",
    ),
    # :92
    "mock_wiro.http.routes.x_read_small_body__mutmut_27": Verdict(
        "O",
        "An over-1-MiB body crashes (TypeError, HTTP 500) instead of the 413: the limit and its "
        "status are [A: MAX_JSON_BODY_BYTES, OVERSIZE_HTTP_STATUS], issue 18's hardening.",
    ),
    # :92
    "mock_wiro.http.routes.x_read_small_body__mutmut_28": Verdict(
        "O",
        "An over-1-MiB body crashes (TypeError, HTTP 500) instead of the 413: the limit and its "
        "status are [A: MAX_JSON_BODY_BYTES, OVERSIZE_HTTP_STATUS], issue 18's hardening.",
    ),
    # :93
    "mock_wiro.http.routes.x_read_small_body__mutmut_30": Verdict(
        "E",
        "Under the fake's werkzeug server request.stream.read(n) returns the whole body (up to "
        "n) in one call, with Content-Length or chunked (tried: 300 kB, and two chunks 0.5 s "
        "apart), so at most one chunk is ever joined.",
    ),
    # :103
    "mock_wiro.http.routes.x__entries__mutmut_3": Verdict(
        "O", "The type named in a refused list field's message (the fake's wording); code 0 stays."
    ),
    # :105
    "mock_wiro.http.routes.x__entries__mutmut_7": Verdict(
        "E",
        "_entries is called only for a list or a dict value, and a dict raises first: the "
        "scalar branch is unreachable over HTTP.",
    ),
    # :106
    "mock_wiro.http.routes.x__entries__mutmut_11": Verdict(
        "E",
        "_entries is called only for a list or a dict value, and a dict raises first: the "
        "scalar branch is unreachable over HTTP.",
    ),
    # :111
    "mock_wiro.http.routes.x__entries__mutmut_16": Verdict(
        "O",
        "The wording of the refusal of an array holding a non-string (code 0 stays, as "
        "run.image_array asks).",
    ),
    # :111
    "mock_wiro.http.routes.x__entries__mutmut_17": Verdict(
        "O",
        "The wording of the refusal of an array holding a non-string (code 0 stays, as "
        "run.image_array asks).",
    ),
    # :128
    "mock_wiro.http.routes.x__json_fields__mutmut_10": Verdict(
        "O",
        "The case of the refusal of a non-object JSON body (code 0 stays); which documented "
        "message applies to such a body is the fake's choice.",
    ),
    # :145
    "mock_wiro.http.routes.x__multipart_fields__mutmut_6": Verdict(
        "O",
        "The case of the refusal of a nameless multipart part (code 0 stays): a case no rule "
        "covers, the fake's wording.",
    ),
    # :145
    "mock_wiro.http.routes.x__multipart_fields__mutmut_7": Verdict(
        "O",
        "The case of the refusal of a nameless multipart part (code 0 stays): a case no rule "
        "covers, the fake's wording.",
    ),
    # :146
    "mock_wiro.http.routes.x__multipart_fields__mutmut_10": Verdict(
        "O",
        "The case of the refusal of a nameless multipart part (code 0 stays): a case no rule "
        "covers, the fake's wording.",
    ),
    # :154
    "mock_wiro.http.routes.x__multipart_fields__mutmut_26": Verdict(
        "O",
        "File-part bookkeeping: an empty file part under an unknown name is no longer refused "
        "as unknown, a non-empty one adds an empty text field; multipart edge cases and unknown "
        "fields are the fake's [A: Settings.unknown_fields].",
    ),
    # :155
    "mock_wiro.http.routes.x__multipart_fields__mutmut_30": Verdict(
        "O",
        'An empty file part under a non-list name becomes the field "" (so a Run is refused '
        "naming it) instead of an empty field: a multipart edge case no rule covers.",
    ),
    # :170
    "mock_wiro.http.routes.x_read_fields__mutmut_14": Verdict(
        "E",
        "werkzeug's url-encoded parser ignores the mimetype options, and None is their default.",
    ),
    # :172
    "mock_wiro.http.routes.x_read_fields__mutmut_25": Verdict(
        "E", "`form.get(key, default)` for a key taken from the form itself never uses its default."
    ),
    # :180
    "mock_wiro.http.routes.x_read_fields__mutmut_41": Verdict(
        "O",
        "The case of the reason part of the unsupported-Content-Type refusal (the fake's "
        "wording; code 0 stays).",
    ),
    # :202
    "mock_wiro.http.routes.x__run__mutmut_33": Verdict(
        "E",
        "File parts without a filename are dropped by _multipart_fields, so `file.filename or "
        '"image"` never falls back.',
    ),
    # :204
    "mock_wiro.http.routes.x__run__mutmut_36": Verdict(
        "O",
        "The image URL is no longer resolved at the host this request reached but at the public "
        "URL (and loopback): different only with a fixed --public-url or an untrusted Host and "
        "a URL the client built at that host, the fake's own host handling.",
    ),
    # :204
    "mock_wiro.http.routes.x__run__mutmut_40": Verdict(
        "O",
        "The image URL is no longer resolved at the host this request reached but at the public "
        "URL (and loopback): different only with a fixed --public-url or an untrusted Host and "
        "a URL the client built at that host, the fake's own host handling.",
    ),
    # :206
    "mock_wiro.http.routes.x__run__mutmut_55": Verdict(
        "O",
        "The image URL is no longer resolved at the host this request reached but at the public "
        "URL (and loopback): different only with a fixed --public-url or an untrusted Host and "
        "a URL the client built at that host, the fake's own host handling.",
    ),
    # :240
    "mock_wiro.http.routes.x__list__mutmut_34": Verdict(
        "O",
        "limit=1001: the docs give 1-1000 but not what the API does past it (refuse or "
        "clamp); only a project with over 1000 tasks could tell the two apart.",
    ),
    # :241
    "mock_wiro.http.routes.x__list__mutmut_39": Verdict(
        "E", '`fields.get("order", None)` / `fields.get("order")` is as falsy as "" when missing.'
    ),
    # :241
    "mock_wiro.http.routes.x__list__mutmut_41": Verdict(
        "E", '`fields.get("order", None)` / `fields.get("order")` is as falsy as "" when missing.'
    ),
    # :274
    "mock_wiro.http.routes.x__upload__mutmut_31": Verdict(
        "E",
        'A missing `folderid` reads None instead of "", and both mean the root folder '
        "(`folderid or root`).",
    ),
    # :356
    "mock_wiro.http.routes.x__shown_inline__mutmut_14": Verdict(
        "O", "SVG is shown inline again: issue 18's file-serving hardening, no rule."
    ),
    # :362
    "mock_wiro.http.routes.x__serve__mutmut_12": Verdict(
        "O",
        "The message of the 404 of a file URL naming no file is [A: MissingFileError]; the 404 "
        "stays.",
    ),
    # :363
    "mock_wiro.http.routes.x__serve__mutmut_15": Verdict(
        "O",
        "Every file is served as an attachment with `Content-Security-Policy: sandbox`: headers "
        "of issue 18's hardening; bytes and Content-Type are unchanged.",
    ),
    # :367
    "mock_wiro.http.routes.x__serve__mutmut_28": Verdict(
        "O",
        "File URLs lose Range and 304 handling: no rule asks for them (outputs.mp4 asks for the "
        "whole file).",
    ),
    # :368
    "mock_wiro.http.routes.x__serve__mutmut_21": Verdict(
        "O",
        "Content-Disposition names the file on disk (its id) instead of its name: a header no "
        "rule states.",
    ),
    # :369
    "mock_wiro.http.routes.x__serve__mutmut_22": Verdict(
        "O",
        "Non-media files (HTML, SVG, text) are shown inline instead of downloaded: issue 18's "
        "hardening.",
    ),
    # :371
    "mock_wiro.http.routes.x__serve__mutmut_31": Verdict(
        "O", "The nosniff / sandbox headers of issue 18's hardening; no rule of the contract."
    ),
    # :373
    "mock_wiro.http.routes.x__serve__mutmut_37": Verdict(
        "O", "The nosniff / sandbox headers of issue 18's hardening; no rule of the contract."
    ),
    "mock_wiro.engine.auth.x_check_credentials__mutmut_19": Verdict(
        "O",
        "The fake's own configuration check (a secret UTF-8 cannot encode, given to "
        "--api-secret or /_mock/projects): no rule of the Wiro API.",
    ),
    "mock_wiro.engine.auth.xǁAuthenticatorǁauthenticate__mutmut_66": Verdict(
        "O",
        "Only with --reject-reused-nonces (off by default: the real API accepts a "
        "reused nonce, finding reused_nonce = accepted); judged by "
        "tests/http/test_auth.py.",
    ),
    "mock_wiro.engine.lifecycle.x__progress__mutmut_32": Verdict(
        "O",
        'The progress object\'s `speed` value: the docs show one example ("1.2"), no '
        "rule ties it to the steps; the key and its string type are judged.",
    ),
    "mock_wiro.engine.lifecycle.x__progress__mutmut_50": Verdict(
        "O",
        'The progress object\'s `remainingTime` value: the docs show one example ("3s"), '
        "no rule ties it to the steps; the key and its string type are judged.",
    ),
    "mock_wiro.engine.lifecycle.x_fail_after__mutmut_30": Verdict(
        "E",
        "`task_error_full` is never among the passed stages (they come from a success "
        "plan, which has none), so the tail keeps it with or without the `or`.",
    ),
    "mock_wiro.engine.lifecycle.x_success_plan__mutmut_18": Verdict(
        "O",
        "A delay of the fake's timeline (the banner line 1.5 s instead of 0.5 s after "
        "task_start): durations are [A] and scaled; order and frames are unchanged.",
    ),
    "mock_wiro.engine.stepper.xǁStepperǁ_output__mutmut_37": Verdict(
        "O",
        "The `empty` output fault of a /_mock scenario; judged by tests/control, not a "
        "rule of the API.",
    ),
    "mock_wiro.engine.stepper.xǁStepperǁ_output__mutmut_41": Verdict(
        "O",
        "The `truncated` output fault of a /_mock scenario; judged by tests/control, "
        "not a rule of the API.",
    ),
    "mock_wiro.engine.stepper.xǁStepperǁemit__mutmut_23": Verdict(
        "E",
        "The text of a server-side log line about a listener error: nothing a client receives.",
    ),
    "mock_wiro.engine.params.x__collapse_lists__mutmut_32": Verdict(
        "O",
        "The count in the message refusing a too-long file array: its wording is [A]; "
        "the refusal (code 0) is judged.",
    ),
    "mock_wiro.engine.params.x__reject_unknown__mutmut_1": Verdict(
        "O",
        "Reached only with unknown_fields=reject (not the default): how the real API "
        "answers an unknown field is not known; judged by tests/http.",
    ),
    "mock_wiro.engine.params.x_parse_bool__mutmut_7": Verdict(
        "E",
        "`fields.get(name,)` is `fields.get(name)`: None or the value, and `None or "
        'default` is the default as "" was.',
    ),
    "mock_wiro.http.wire.x_task_detail__mutmut_101": Verdict(
        "O",
        "The text of `modeldescription`, a field newer docs add [docs] with no fixed value.",
    ),
    "mock_wiro.http.wire.x_task_detail__mutmut_66": Verdict(
        "O",
        '`runtype`\'s value: the seed shows "model" for its task, but no rule fixes it; '
        "the field's presence and type are judged.",
    ),
    "mock_wiro.http.routes.x__json_fields__mutmut_24": Verdict(
        "O",
        "The field name in the message refusing a JSON value that is not a scalar: "
        "wording [A]; the refusal is judged.",
    ),
    "mock_wiro.http.routes.x__multipart_fields__mutmut_8": Verdict(
        "O",
        "The wording of the refusal of a nameless multipart part [A] (issue 18's "
        "edges); tests/http judges it.",
    ),
    "mock_wiro.http.routes.x__serve__mutmut_38": Verdict(
        "O",
        "The Content-Security-Policy sandbox header of issue 18's hardening "
        "(tests/security); no rule of the contract.",
    ),
    "mock_wiro.http.routes.x__serve__mutmut_41": Verdict(
        "O",
        "The Content-Security-Policy sandbox header of issue 18's hardening "
        "(tests/security); no rule of the contract.",
    ),
    "mock_wiro.http.routes.x__shown_inline__mutmut_15": Verdict(
        "O",
        "SVG served as a download, not inline: issue 18's hardening (tests/security); "
        "no rule of the contract.",
    ),
    "mock_wiro.http.routes.x__upload__mutmut_26": Verdict(
        "O",
        "The name given to an upload that came without a file name [A]: clients always send one.",
    ),
    "mock_wiro.http.routes.x_read_fields__mutmut_39": Verdict(
        "O",
        "The wording of the refusal of an unsupported Content-Type [A]; the refusal is "
        "judged by tests/http.",
    ),
    "mock_wiro.http.routes.x_read_small_body__mutmut_12": Verdict(
        "O",
        "The 1 MiB body bound of issue 18 [A: MAX_JSON_BODY_BYTES], one byte off at the "
        "bound; judged by tests/http/test_input_limits.py.",
    ),
    "mock_wiro.http.routes.x_read_small_body__mutmut_13": Verdict(
        "O",
        "The 1 MiB body bound of issue 18 [A: MAX_JSON_BODY_BYTES], one byte off at the "
        "bound; judged by tests/http/test_input_limits.py.",
    ),
    "mock_wiro.http.routes.x_read_small_body__mutmut_16": Verdict(
        "O",
        "The 1 MiB body bound of issue 18 [A]: reads more per chunk on a chunked body; "
        "judged by tests/http/test_input_limits.py.",
    ),
    "mock_wiro.http.routes.x_read_small_body__mutmut_26": Verdict(
        "O",
        "The size named in the 413 message of issue 18's body bound [A]; judged by tests/http.",
    ),
    "mock_wiro.http.routes.x_read_small_body__mutmut_3": Verdict(
        "O",
        "The 1 MiB body bound of issue 18 [A]: an over-long Content-Length is caught "
        "while reading instead of up front; judged by tests/http.",
    ),
    "mock_wiro.http.routes.x_read_small_body__mutmut_6": Verdict(
        "O",
        "The size named in the 413 message of issue 18's body bound [A]; judged by tests/http.",
    ),
    "mock_wiro.http.routes.xǁBodyTooLargeǁ__init____mutmut_2": Verdict(
        "O",
        "The wording of the 413 message of issue 18's body bound [A]; no contract test "
        "sends a body that large.",
    ),
}


SURVIVORS_START = "<!-- mutation-survivors:start -->"
SURVIVORS_END = "<!-- mutation-survivors:end -->"


def markdown(report: Mapping[str, Any], verdicts: Mapping[str, Verdict] | None = None) -> str:
    """The survivors section of docs/contract.md for ``report`` (a campaign's JSON): a
    count per kind, then one row per missed mutant with its verdict, kinds in the order
    G, O, E and each by module and line; a missed mutant with no verdict is listed as
    "unclassified" (so a stale page shows)."""
    table = VERDICTS if verdicts is None else verdicts
    rows = [m for m in report["mutants"] if m["status"] in MISSED]
    order = {"G": 0, "?": 1, "O": 2, "E": 3}

    def kind_of(name: str) -> str:
        return table[name].kind if name in table else "?"

    rows.sort(key=lambda m: (order[kind_of(m["name"])], m["module"], m["line"] or 0, m["name"]))
    counts = Counter(kind_of(m["name"]) for m in rows)
    named = {"?": "unclassified", **KINDS}
    total = ", ".join(
        f"**{counts[k]}** {named[k]} ({k})" for k in ("G", "O", "E", "?") if counts[k]
    )
    source = report.get("source", "the report")
    out = [
        SURVIVORS_START,
        f"<!-- generated by `python -m benchmarks.mutation_verdicts {source}` from "
        "benchmarks/mutation_verdicts.py: do not edit by hand -->",
        "",
        f"{len(rows)} mutants missed: {total or 'none'}.",
        "",
        "| where | mutant | kind | why |",
        "|---|---|---|---|",
    ]
    for m in rows:
        name = m["name"]
        short = name.rsplit(".", 1)[-1].replace("ǁ", ".").replace("__mutmut_", " #")
        where = f"{m['module'].removeprefix('mock_wiro/')}:{m['line'] or '?'}"
        verdict = table.get(name)
        why = verdict.why if verdict is not None else "no verdict yet: read the diff"
        out.append(f"| {where} | `{short}` | {kind_of(name)} | {why.replace('|', '/')} |")
    out.append(SURVIVORS_END)
    return "\n".join(out)


def write_section(page: str, section: str) -> str:
    """``page`` with its survivors section replaced by ``section``."""
    start, end = page.index(SURVIVORS_START), page.index(SURVIVORS_END) + len(SURVIVORS_END)
    return page[:start] + section + page[end:]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.mutation_verdicts REPORT.json [--write PAGE] [--check PAGE]``:
    print the survivors section for a campaign's report, write it into a page between its
    markers, or exit 1 when the page's section is not that."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m benchmarks.mutation_verdicts")
    parser.add_argument("report", type=Path)
    parser.add_argument("--write", type=Path, default=None, metavar="PAGE")
    parser.add_argument("--check", type=Path, default=None, metavar="PAGE")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text("utf-8"))
    section = markdown({**report, "source": args.report.as_posix()})
    if args.write is not None:
        page = args.write.read_text("utf-8")
        args.write.write_text(write_section(page, section), "utf-8")
    elif args.check is not None:
        page = args.check.read_text("utf-8")
        if write_section(page, section) != page:
            print(f"{args.check}: the survivors section is stale; run with --write")
            return 1
    else:
        print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
