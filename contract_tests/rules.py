"""The contract's rules, one entry each: what the suite's tests judge.

Every rule comes from a section of ``docs/wiro-api.md`` (``section`` is that section's
heading) and has a one-line ``statement``. Every contract test names the rules it judges
with ``@pytest.mark.rule("id", ...)``; an unknown id, or a test naming none, is a
collection error (``conftest.py``). ``python -m contract_tests.matrix`` turns the markers
into the rule matrix of ``docs/contract.md``.

Two texts say why a rule is not judged on a real target:

- ``mock_only_why``: the rule can only be judged through the fake's control surface
  (every test naming it is ``mock_only``): why.
- ``untested``: no test names the rule yet: why (shown in the matrix and the run's
  summary; ``tests/contract/test_rule_matrix.py`` still fails while a rule has no test,
  and when a rule with a test keeps this text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

HOSTS: Final = "Hosts"
AUTH: Final = "Authentication"
ERRORS: Final = "Errors"
LIMITS: Final = "Limits and billing"
RUN: Final = "Run"
LIFECYCLE: Final = "Task lifecycle"
DETAIL: Final = "Task/Detail"
CANCEL_KILL: Final = "Task/Cancel and Task/Kill"
FILES: Final = "Task/List, Task/InputOutputDelete and files"
TOOLS: Final = "Tool/Detail, Tool/List and Tool/Explore"
SOCKET: Final = "WebSocket"
CALLBACK: Final = "Callback"
CURL_FLOW: Final = "The seed's curl flow, literally"

SECTIONS: Final = (
    HOSTS,
    AUTH,
    ERRORS,
    LIMITS,
    RUN,
    LIFECYCLE,
    DETAIL,
    CANCEL_KILL,
    FILES,
    TOOLS,
    SOCKET,
    CALLBACK,
    CURL_FLOW,
)
"""The headings of ``docs/wiro-api.md`` the rules come from, in the document's order."""

NOT_JUDGED: Final = "not judged"
"""How a test that could not judge its rule says so: ``pytest.skip("not judged: <why>")``
(or ``pytest.xfail`` with the same prefix), e.g. when a race missed the state it needed.
The end-of-run summary counts such a test as not having judged its rules."""


@dataclass(frozen=True)
class Rule:
    """One rule of the contract."""

    id: str
    section: str
    statement: str
    mock_only_why: str | None = None
    untested: str | None = None


_FAKE_STAGES = (
    "only the fake can be told to fail a task at a chosen stage (a /_mock scenario) and "
    "be waited on through /_mock"
)

RULES: Final[tuple[Rule, ...]] = (
    # ------------------------------------------------------------------ Hosts
    Rule(
        "hosts.urls",
        HOSTS,
        "The REST base ends in `/v1`; the task socket is a `ws://` or `wss://` URL.",
    ),
    # ------------------------------------------------------------------ Authentication
    Rule(
        "auth.signature",
        AUTH,
        "`x-signature` = hex HMAC-SHA256(key = API key, message = secret + nonce) is "
        "accepted, with a seconds or a milliseconds nonce.",
    ),
    Rule(
        "auth.openssl_line",
        AUTH,
        "The seed's openssl output line (`SHA2-256(stdin)= <hex>`) is accepted as `x-signature`.",
    ),
    Rule(
        "auth.unknown_key",
        AUTH,
        "An unknown or missing `x-api-key`: HTTP 401, code 0 `Project authorization is not "
        "founded.`",
    ),
    Rule(
        "auth.signature_required",
        AUTH,
        "A signature project without `x-signature` or `x-nonce`: HTTP 401, code 0 "
        "`Project requires signature authentication. ...`",
    ),
    Rule(
        "auth.wrong_signature",
        AUTH,
        "A wrong signature (wrong secret, or another nonce's): HTTP 401, code 0 "
        "`Project authorization is not valid.`",
    ),
    Rule(
        "auth.apikey_only",
        AUTH,
        "An API-key-only project authenticates with `x-api-key` alone.",
    ),
    Rule(
        "auth.nonce_reuse",
        AUTH,
        "A nonce sent twice: the second call is accepted, or refused with the "
        "wrong-signature 401 (a finding).",
    ),
    # ------------------------------------------------------------------ Errors
    Rule(
        "errors.envelope",
        ERRORS,
        "A failure other than auth or an unknown path is HTTP 200 "
        '`{"result": false, "errors": [{"code", "message"}]}`, with an integer code.',
    ),
    Rule(
        "errors.unknown_path",
        ERRORS,
        "A path naming nothing (a Run slug naming no model): HTTP 404, code 0 `Error parsing url.`",
    ),
    Rule(
        "errors.strings",
        ERRORS,
        "All ids, numbers and timestamps are strings.",
    ),
    # ------------------------------------------------------------------ Limits and billing
    Rule(
        "limits.concurrency",
        LIMITS,
        "Over max(1, floor(balance x 0.10)) active tasks (balance <= $250), Run answers "
        "code 96 with the documented message; a task frees its slot once terminal.",
        mock_only_why="needs a project with a chosen small balance and tasks held in the "
        "queue; on a real account the limit is balance/10 tasks, and filling it would run "
        "(and bill) that many",
    ),
    Rule(
        "limits.balance",
        LIMITS,
        "Below the minimum balance of $0.50 Run answers code 97 `Insufficient balance`; "
        "at $0.50 it runs.",
        mock_only_why="needs a project whose balance is set around $0.50; the suite cannot "
        "set or drain a real account's balance",
    ),
    Rule(
        "billing.success_cost",
        LIMITS,
        "A successful task is billed: its `totalcost` is a decimal string above 0.",
    ),
    Rule(
        "billing.cps",
        LIMITS,
        "`cps` x `elapsedseconds` equals `totalcost` within rounding (the seed's arithmetic).",
    ),
    Rule(
        "billing.free_when_not_successful",
        LIMITS,
        'A failed, cancelled or killed task is not billed: its `totalcost` is "0".',
    ),
    # ------------------------------------------------------------------ Run
    Rule(
        "run.response",
        RUN,
        "An accepted Run answers the seed's envelope "
        '`{"errors": [], "taskid", "socketaccesstoken", "result": true}`, strings.',
    ),
    Rule(
        "run.bodies",
        RUN,
        "Run takes a multipart body (the seed's), a JSON one or a url-encoded one [docs].",
    ),
    Rule(
        "run.image_url",
        RUN,
        "The first frame may be a URL in `inputImageFirstUrl` (`inputImageFirst` empty): "
        "the seed's sample, or a File/Upload `url`.",
    ),
    Rule(
        "run.image_array",
        RUN,
        '`{"inputImage": ["<url>"]}` runs like the string; `[]` is absent (refused, '
        "code 0, required); more than one image, or non-strings, code 0.",
    ),
    Rule(
        "run.display_slug",
        RUN,
        "`Run/MiniMax/hailuo-2.3-Fast` (display slugs) works like the clean path.",
    ),
    Rule(
        "run.validation.image_required",
        RUN,
        "No first frame: code 0 `Request files [inputImageFirst] required`.",
    ),
    Rule(
        "run.validation.number",
        RUN,
        "A number field given a non-number: code 0 "
        "`Request parameter [duration] must be integer or float`.",
    ),
    Rule(
        "run.validation.choice",
        RUN,
        "A value outside the allowed set (`resolution=720P`): code 0.",
    ),
    Rule(
        "run.validation.prompt",
        RUN,
        "A prompt over 2000 characters is refused with code 0.",
    ),
    Rule(
        "run.validation.both_images",
        RUN,
        "`inputImageFirst` and a different `inputImageFirstUrl` both given: code 0.",
    ),
    Rule(
        "run.validation.no_task",
        RUN,
        "A refused Run creates no task.",
    ),
    Rule(
        "run.hd_long_duration",
        RUN,
        "1080P with 10 s is refused with code 0, or run as a 6 s video (a finding).",
    ),
    Rule(
        "run.image_rules",
        RUN,
        "A first frame breaking the image rules (format, short side, aspect ratio, "
        "unreadable) is refused at Run, or the task fails naming the rule.",
    ),
    # ------------------------------------------------------------------ outputs (Run)
    Rule(
        "outputs.mp4",
        RUN,
        "Each output URL serves, to anyone, a whole MP4 (`ftyp`, `moov`, `mdat`) as `video/mp4`.",
    ),
    Rule(
        "outputs.metadata",
        DETAIL,
        "Each output has the seed's fields and types; `contenttype` `video/mp4`, `size` "
        "a string equal to the bytes served.",
    ),
    Rule(
        "outputs.duration",
        RUN,
        "The video lasts the duration the task ran (a 1080P fallback: 6 s).",
    ),
    # ------------------------------------------------------------------ Task lifecycle
    Rule(
        "lifecycle.order",
        LIFECYCLE,
        "Frames and statuses follow `task_queue` ... `task_postprocess_end` in order, never "
        "backwards.",
    ),
    Rule(
        "terminal.states",
        LIFECYCLE,
        "`task_postprocess_end` and `task_cancel` are terminal, `task_end` is not; nothing "
        "follows a terminal status.",
    ),
    Rule(
        "terminal.final",
        LIFECYCLE,
        "A terminal task stays as it ended: a refused Kill, or releasing a held task, "
        "changes neither its status, `pexit`, `totalcost` nor outputs.",
    ),
    Rule(
        "lifecycle.success",
        LIFECYCLE,
        'Success: `task_postprocess_end`, `pexit` "0", `outputs` non-empty.',
    ),
    Rule(
        "lifecycle.failure",
        LIFECYCLE,
        'Failure: `task_postprocess_end`, `pexit` not "0", `outputs` empty, `totalcost` '
        '"0", the reason in `debugerror`.',
    ),
    Rule(
        "lifecycle.views_agree",
        LIFECYCLE,
        "The socket and Task/Detail tell the same ending with the same outputs; every "
        "polled status is a frame the socket sent.",
    ),
    Rule(
        "lifecycle.queue",
        LIFECYCLE,
        "A queued task stays `task_queue`, without outputs, while others finish.",
        mock_only_why="only the fake can hold a task in the queue (a /_mock scenario); a "
        "real queue moves on its own",
    ),
    # ------------------------------------------------------------------ Task/Detail
    Rule(
        "detail.shape",
        DETAIL,
        'Task/Detail answers `{"total": "1", "errors": [], "tasklist": [TASK], '
        '"result": true}`, TASK with the seed\'s fields and types.',
    ),
    Rule(
        "detail.timestamps",
        DETAIL,
        "A finished task's lifecycle times (`createtime` ... `postprocessendtime`) are Unix "
        "seconds as strings, set and in lifecycle order, as the seed's task shows.",
    ),
    Rule(
        "detail.parameters",
        DETAIL,
        "`parameters` echoes the Run: an object keyed by the Run's fields, each text field "
        "as sent, an uploaded first frame as its File URL.",
    ),
    Rule(
        "detail.categories",
        DETAIL,
        "`categories` is a JSON array encoded as a string.",
    ),
    Rule(
        "detail.by_token",
        DETAIL,
        '`{"taskid"}` and `{"tasktoken": <socketaccesstoken>}` name the same task.',
    ),
    Rule(
        "detail.errors",
        DETAIL,
        "No id: code 0 `taskid or socketaccesstoken is required`; an unknown id or token: "
        "code 1 `There is no task yet.`",
    ),
    Rule(
        "detail.project_isolation",
        DETAIL,
        "Another project's task answers as unknown (code 1) and is not in its Task/List.",
    ),
    # ------------------------------------------------------------------ Cancel and Kill
    Rule(
        "cancel.queued",
        CANCEL_KILL,
        "A queued task cancels: the seed's answer, `task_cancel` in Task/Detail and on the socket.",
    ),
    Rule(
        "cancel.queue_only",
        CANCEL_KILL,
        "Past the queue Cancel is refused, code 1 `Task is not in a cancellable state.`, "
        "and the task finishes normally.",
    ),
    Rule(
        "cancel.by_token",
        CANCEL_KILL,
        "Cancel and Kill also take the task by `tasktoken` / `socketaccesstoken`.",
    ),
    Rule(
        "kill.running",
        CANCEL_KILL,
        "Kill stops a started task: the seed's answer, `task_cancel` in Task/Detail and "
        "last on the socket.",
    ),
    Rule(
        "kill.finished_refused",
        CANCEL_KILL,
        "A finished task cannot be killed: code 1 `Task could not be killed: {reason}`.",
    ),
    # ------------------------------------------------------------------ Task/List and files
    Rule(
        "list.own_tasks",
        FILES,
        "Task/List `{start, limit}` pages the project's own tasks, each shaped like Task/Detail's.",
    ),
    Rule(
        "list.paging",
        FILES,
        "Task/List orders by `order` (`DESC`, newest first, by default; `ASC`) and pages by "
        "`start`/`limit` (at most 20 tasks when `limit` is not given).",
    ),
    Rule(
        "list.input_output_delete",
        FILES,
        "Task/InputOutputDelete deletes a finished task's input and outputs; idempotent.",
    ),
    Rule(
        "files.folder_create",
        FILES,
        'File/FolderCreate `{name}` answers the folder (`size` "0", `contenttype` ""); '
        "without a name, code 0.",
    ),
    Rule(
        "files.upload",
        FILES,
        "File/Upload (multipart `file`, optional `folderid`) answers the entry's "
        "documented fields, `size` the bytes sent.",
    ),
    Rule(
        "files.url",
        FILES,
        "An uploaded file's `url` serves the same bytes, without credentials.",
    ),
    # ------------------------------------------------------------------ Tools
    Rule(
        "tool.detail",
        TOOLS,
        "Tool/Detail by clean or display slugs describes the model with the documented fields.",
    ),
    Rule(
        "tool.parameters",
        TOOLS,
        "Tool/Detail `parameters`: groups `{title, items[]}`, items with the documented "
        "fields, selects offering the seed's values.",
    ),
    Rule(
        "tool.list",
        TOOLS,
        "Tool/List: `search` finds the model, nonsense finds `total` 0, `start`/`limit` page.",
    ),
    Rule(
        "tool.explore",
        TOOLS,
        "Tool/Explore answers `explore: [{id, title, tools: [...]}]`.",
    ),
    # ------------------------------------------------------------------ WebSocket
    Rule(
        "socket.frames",
        SOCKET,
        "Every frame is JSON `{type, id, tasktoken, message, result: true}` for the task, "
        "its `message` as its type says.",
    ),
    Rule(
        "socket.progress",
        SOCKET,
        'A `task_output` progress object is `{type: "progressGenerate", task, percentage, '
        "stepCurrent, stepTotal, speed, speedType, elapsedTime, remainingTime}`, every value "
        "a string; `percentage` is 100 x `stepCurrent` / `stepTotal` rounded, `stepCurrent` "
        "is at most `stepTotal` and never goes back.",
    ),
    Rule(
        "socket.raw_log",
        SOCKET,
        '`task_output_full`\'s `{"raw"}` is the whole output log: each plain `task_output` '
        "line sent before it is one of its lines, in the order sent.",
    ),
    Rule(
        "socket.cancel",
        SOCKET,
        "A cancelled or killed task's socket ends with one `task_cancel` and never sends "
        "`task_postprocess_end`.",
    ),
    Rule(
        "socket.error_frames",
        SOCKET,
        "`task_error` lines are interim stderr, gathered in `task_error_full` "
        '`{"raw"}`; a failed task\'s frames end `task_end` ... `task_postprocess_end` [].',
    ),
    # ------------------------------------------------------------------ Callback
    Rule(
        "callback.delivery",
        CALLBACK,
        "A `callbackUrl` gets a POST once the task is terminal: JSON naming the task and "
        "Task/Detail's terminal status, never before.",
    ),
    Rule(
        "callback.body",
        CALLBACK,
        "[A] The callback's body is the Task/Detail response, sent once.",
        mock_only_why="an assumption of the fake (the body is undocumented): checked "
        "against the fake's delivery records (/_mock)",
    ),
    Rule(
        "callback.every_ending",
        CALLBACK,
        "[A] A cancelled, killed or failed task gets its callback too.",
        mock_only_why="an assumption of the fake (the docs say only 'when the task "
        "completes'); ending a task each way needs /_mock scenarios",
    ),
    Rule(
        "callback.retries",
        CALLBACK,
        "[A] A non-2xx answer is retried, 3 attempts in all.",
        mock_only_why="an assumption of the fake (retries are undocumented): checked "
        "against the fake's delivery records (/_mock)",
    ),
    Rule(
        "callback.undeliverable",
        CURL_FLOW,
        "[A] The seed's sample text as `callbackUrl` is accepted; the task runs and the "
        "callback is undeliverable.",
        mock_only_why="an assumption of the fake (the real API's answer is unknown); the "
        "delivery record is read through /_mock",
    ),
)

BY_ID: Final[dict[str, Rule]] = {rule.id: rule for rule in RULES}
assert len(BY_ID) == len(RULES), "duplicate rule ids"
