"""What Wiro's own public clients send, as data, read from their code (issue 17).

Each :class:`Step` is one request a client makes, with the source it was read from:
repository, file and function (line numbers where counted from the stored copy; the
stored copies are of the commits named in ``Source.commit``). Only what the code shows
is written down; anything else is in ``guess`` and says so.

``test_client_flows.py`` replays these forms against the fake over real HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Nonce = Literal["ms-fresh", "ms-monotonic-fresh", "s-once-reused", "none"]
Body = Literal["json", "multipart", "none"]


@dataclass(frozen=True)
class Source:
    repo: str
    path: str
    where: str  # the function / lines read
    commit: str = ""


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str  # under /v1, as the client builds it
    body: Body
    fields: dict[str, Any]  # field -> example value, with the client's types
    source: Source
    headers: tuple[str, ...] = ("x-api-key", "x-nonce", "x-signature")
    reads: tuple[str, ...] = ()  # response fields the client reads
    guess: str = ""


@dataclass(frozen=True)
class Client:
    name: str
    repo: str
    files_read: tuple[str, ...]
    signing: str
    nonce: Nonce
    steps: tuple[Step, ...]
    socket: dict[str, Any] | None = None
    terminal_statuses: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)


# HMAC-SHA256(key=API_KEY, msg=API_SECRET + NONCE), lowercase hex: every client below.
SIGNATURE = "hex(HMAC-SHA256(key=api_key, msg=api_secret + nonce))"

_MCP = "wiroai/Wiro-MCP"
_MCP_CLIENT = Source(_MCP, "src/client.ts", "", "7295e51b2e50f9d4e59b6ecdb0dfdce6a7e9f71a")

WIRO_MCP = Client(
    name="wiro-mcp",
    repo=_MCP,
    files_read=(
        "src/client.ts (commits 7295e51b, 68b44972)",
        "src/tools/run-model.ts",
        "src/tools/upload-file.ts",
        "src/tools/wait-for-task.ts",
        "src/types.ts (commit 5400eb31)",
    ),
    signing=SIGNATURE + "; src/client.ts getAuthHeaders(): nonce = Date.now().toString()",
    nonce="ms-fresh",  # getAuthHeaders() is called by request() for every call
    steps=(
        Step(
            "schema",
            "POST",
            "/Tool/Detail",
            "json",
            {"slugowner": "minimax", "slugproject": "hailuo-2-3-fast"},
            Source(_MCP, "src/client.ts", "getModelSchema(): model.split('/') into clean slugs"),
            reads=(
                "tool[0].parameters[].items[].{id,type,label,required,placeholder,note,options[{label,value}]}",
                "tool[0].cleanslugowner",
                "tool[0].cleanslugproject",
            ),
        ),
        Step(
            "upload",
            "POST",
            "/File/Upload",
            "multipart",
            {"file": "<bytes fetched from a URL>, filename = last URL segment"},
            Source(
                _MCP,
                "src/client.ts",
                "uploadFile(): FormData.append('file', blob, name); Content-Type deleted",
                "68b44972e45ea8c8bc9ffefb163e4709f464b98e",
            ),
            headers=("x-api-key", "x-nonce", "x-signature"),
            reads=("result", "list[0].name", "list[0].contenttype", "list[0].size", "list[0].url"),
        ),
        Step(
            "run",
            "POST",
            "/Run/minimax/hailuo-2-3-fast",
            "json",
            {"inputImageFirst": "<url>", "prompt": "waves"},
            Source(
                _MCP,
                "src/client.ts",
                "runModel(): POST `/Run/${owner}/${project}` with params as given",
            ),
            reads=("result", "errors[].message", "taskid", "socketaccesstoken"),
            guess="the params are whatever the calling model passes (run-model.ts: z.record); "
            "the ids come from Tool/Detail, so the field name and whether a file is a string "
            "or an array depend on the schema the fake serves",
        ),
        Step(
            "poll",
            "POST",
            "/Task/Detail",
            "json",
            {"tasktoken": "<socketaccesstoken>"},
            Source(
                _MCP,
                "src/client.ts",
                "waitForTask(): getTask({tasktoken}) every 3000 ms until TERMINAL_STATUSES",
            ),
            reads=(
                "tasklist[0].status",
                "tasklist[0].outputs[].{name,contenttype,size,url,content}",
                "tasklist[0].pexit",
                "tasklist[0].debugoutput",
                "tasklist[0].modeldescription",
                "tasklist[0].modelslugowner",
                "tasklist[0].modelslugproject",
            ),
        ),
        Step(
            "list models",
            "POST",
            "/Tool/List",
            "json",
            {
                "start": "0",
                "limit": "20",
                "search": "",
                "categories": [],
                "sort": "relevance",
                "hideworkflows": True,
                "summary": True,
            },
            Source(
                _MCP, "src/client.ts", "searchModels()", "68b44972e45ea8c8bc9ffefb163e4709f464b98e"
            ),
            reads=("total", "tool[]"),
        ),
        Step(
            "explore",
            "POST",
            "/Tool/Explore",
            "json",
            {},
            Source(_MCP, "src/client.ts", "explore()", "68b44972e45ea8c8bc9ffefb163e4709f464b98e"),
            reads=("explore[].{id,title,tools[],url,total}",),
        ),
    ),
    terminal_statuses=("task_postprocess_end", "task_cancel"),
    notes=(
        "src/types.ts (commit 5400eb31) TERMINAL_STATUSES = [task_postprocess_end, task_cancel]; "
        "the contract's claim that Wiro-MCP counts task_error terminal is not in the version read",
        "no socket: MCP only polls; it never downloads (it hands the output URL to the caller)",
        "Task/Cancel and Task/Kill are sent as {tasktoken} (client.ts cancelTask/killTask)",
    ),
)

_N8N = "wiroai/n8n-nodes-wiroai"
N8N = Client(
    name="n8n",
    repo=_N8N,
    files_read=(
        "nodes/WiroAI/Hailuo23Fast/Hailuo23Fast.node.ts (commits 5f653e45, a1bd2b0a)",
        "nodes/WiroAI/utils/auth.ts",
        "nodes/WiroAI/utils/polling.ts (commit a1bd2b0a)",
    ),
    signing=SIGNATURE + "; utils/auth.ts generateWiroAuthHeaders(): nonce = floor(Date.now()/1000)",
    nonce="s-once-reused",  # Hailuo23Fast.execute() signs once, passes the headers to polling
    steps=(
        Step(
            "run",
            "POST",
            "/Run/MiniMax/hailuo-2.3-Fast",
            "json",
            {
                "inputImageUrl": "<url>",
                "prompt": "",
                "promptOptimizer": "false",
                "resolution": "1080P",
                "duration": "10",
            },
            Source(
                _N8N,
                "nodes/WiroAI/Hailuo23Fast/Hailuo23Fast.node.ts",
                "execute(): helpers.httpRequest url 'https://api.wiro.ai/v1/Run/MiniMax/"
                "hailuo-2.3-Fast'; the values shown are the node's property defaults",
            ),
            reads=("taskid", "socketaccesstoken"),
        ),
        Step(
            "poll",
            "POST",
            "/Task/Detail",
            "json",
            {"tasktoken": "<socketaccesstoken>"},
            Source(
                _N8N,
                "nodes/WiroAI/utils/polling.ts",
                "pollTaskUntilComplete(): every 20000 ms, 30 attempts, the same headers",
            ),
            reads=(
                "tasklist[0].status",
                "tasklist[0].outputs[].url",
                "tasklist[0].outputs[0].content.message",
            ),
        ),
    ),
    terminal_statuses=("task_postprocess_end", "task_cancel"),
    notes=(
        "no upload, no socket, no download: the node returns {taskid, url, status}; "
        "task_postprocess_end without outputs is 'failed' ('-3'); any thrown error is '-2'",
        "the duration property's description: 'If resolution set to 1080p duration is 6 "
        "seconds by default. 10 seconds videos only available for 768P.' (defaults 1080P, 10)",
    ),
)

_RN = "wiroai/ReactNative-QuickStart"
_RN_CLIENT = "packages/wirokit/src/client/wiro-client.ts"
WIROKIT_RN = Client(
    name="wirokit-react-native",
    repo=_RN,
    files_read=(
        _RN_CLIENT + " (commit 4889dc31)",
        "packages/wirokit/src/internal/signature.ts",
        "packages/wirokit/src/internal/runtime.ts",
        "packages/wirokit/src/internal/multipart-form-data.ts",
        "packages/wirokit/src/transport/http-transport.ts",
        "packages/wirokit/src/transport/socket-session.ts",
        "packages/wirokit/src/requests/typed-requests.ts",
        "packages/wirokit/src/models/task-status.ts",
        "packages/wirokit/src/models/socket-event.ts",
    ),
    signing=SIGNATURE + "; internal/signature.ts createWiroSignature(); runtime.ts "
    "createMonotonicNonceProvider(): max(previous + 1, Date.now())",
    nonce="ms-monotonic-fresh",  # buildAuthHeaders() per attempt (postJson loop, sendUpload)
    steps=(
        Step(
            "upload",
            "POST",
            "/File/Upload",
            "multipart",
            {"file": "<bytes>; part Content-Type application/octet-stream"},
            Source(
                _RN,
                "packages/wirokit/src/internal/multipart-form-data.ts",
                'buildMultipartFileFraming(): name="file"',
            ),
            headers=("x-api-key", "x-nonce", "x-signature", "User-Agent: WiroKit-ReactNative/<v>"),
            reads=("list[0].url",),  # resolveFileInput(): result.files[0]?.url
        ),
        Step(
            "run",
            "POST",
            "/Run/minimax/hailuo-2-3-fast",
            "json",
            {
                "inputImage": ["<url>"],
                "duration": "6",
                "prompt": "waves",
                "promptOptimizer": "true",
                "resolution": "768P",
            },
            Source(
                _RN,
                "packages/wirokit/src/requests/typed-requests.ts",
                "WiroHailuo23FastRequest.parameters(): inputImage = filesRequired([...]) "
                "(an array), duration = stringInteger",
            ),
            headers=(
                "x-api-key",
                "x-nonce",
                "x-signature",
                "User-Agent",
                "Content-Type: application/json",
            ),
            reads=("taskid", "socketaccesstoken"),
        ),
        Step(
            "poll",
            "POST",
            "/Task/Detail",
            "json",
            {"tasktoken": "<socketaccesstoken>"},
            Source(
                _RN,
                _RN_CLIENT,
                "getTask(); pollTaskSnapshots() (polling mode, and after the socket ends)",
            ),
            reads=("tasklist[0]",),
        ),
    ),
    socket={
        "send": {"type": "task_info", "tasktoken": "<socketaccesstoken>"},
        "source": Source(
            _RN,
            _RN_CLIENT,
            "taskInfoHandshakeJson(); runSocketSession() stops at a terminal type, "
            "then trackTaskWithSocketUpdates() calls getTask()",
        ),
        "reads": ("type", "id", "tasktoken", "message", "result"),
        "types_known": ("task_stream_ready", "task_stream_end"),
        "progress_keys": ("answer", "isThinking", "thinking", "raw", "percentage", "..."),
    },
    terminal_statuses=("task_postprocess_end", "task_cancel"),
    notes=(
        "Task/Kill by token sends {socketaccesstoken}, by id {taskid}; Task/Cancel {taskid}",
        "Run and File/Upload are never retried (isRetryablePath)",
    ),
)

_DART = "wiroai/Dart-QuickStart"
WIROKIT_DART = Client(
    name="wirokit-dart",
    repo=_DART,
    files_read=("lib/src/request/wiro_hailuo_2_3_fast_request.dart (commit f0216fe6)",),
    signing="not read in this pass (lib/src/wiro_client.dart): assumed the WiroKit scheme",
    nonce="ms-monotonic-fresh",
    steps=(
        Step(
            "run",
            "POST",
            "/Run/minimax/hailuo-2-3-fast",
            "json",
            {
                "inputImage": ["<url>"],
                "duration": "6",
                "prompt": "waves",
                "promptOptimizer": "true",
                "resolution": "768P",
            },
            Source(
                _DART,
                "lib/src/request/wiro_hailuo_2_3_fast_request.dart",
                "WiroHailuo23FastRequest.toJson(): 'inputImage': "
                "inputImages.map(wireValue).toList(), 'duration': '$duration'",
            ),
            guess="the headers, nonce and polling are not read here (wiro_client.dart)",
        ),
    ),
    notes=("WiroModelId('minimax', 'hailuo-2-3-fast'); 'schema of 2026-07-24' in its doc comment",),
)

_KT = "wiroai/Kotlin-QuickStart"
WIROKIT_KOTLIN = Client(
    name="wirokit-kotlin",
    repo=_KT,
    files_read=(
        "wirokit/src/main/java/ai/wiro/wirokit/WiroSignature.kt (commit 76674489)",
        "wirokit/src/androidTest/java/ai/wiro/wirokit/live/WiroLiveModelsAndroidTest.kt",
    ),
    signing=SIGNATURE + "; WiroSignature.sign()",
    nonce="ms-monotonic-fresh",
    steps=(
        Step(
            "upload",
            "POST",
            "/File/Upload",
            "multipart",
            {"file": "<generated PNG bytes>"},
            Source(
                _KT,
                "wirokit/src/androidTest/java/ai/wiro/wirokit/live/WiroLiveModelsAndroidTest.kt",
                "m11_hailuo23Fast(): client.uploadFile(...).files.first().url",
            ),
            guess="the multipart part name is not read here (MultipartFormData.kt)",
        ),
        Step(
            "run",
            "POST",
            "/Run/minimax/hailuo-2-3-fast",
            "json",
            {
                "inputImage": ["<uploaded url>"],
                "duration": "6",
                "prompt": "subtle camera push-in",
                "resolution": "768P",
            },
            Source(
                _KT,
                "wirokit/src/androidTest/java/ai/wiro/wirokit/live/WiroLiveModelsAndroidTest.kt",
                "m11_hailuo23Fast(): Wiro.hailuo23Fast(WiroFileInput.Url(url), 6, ..., R768P) "
                "and assertSuccessfulModel",
            ),
            guess="the JSON encoding (array) is WiroVideoAudioRequests.kt's, not read here; "
            "assumed the same as the RN and Dart kits",
        ),
    ),
    notes=("a live test against the real API that expects this task to succeed",),
)

WIROKIT_SWIFT = Client(
    name="wirokit-swift",
    repo="wiroai/Swift-QuickStart",
    files_read=(),
    signing="not read in this pass",
    nonce="ms-monotonic-fresh",
    steps=(),
    notes=(
        "listed only: Sources/WiroKit/Requests/WiroVideoAudioRequests.swift, "
        "Client/WiroClient+Upload.swift, Transport/WiroSocketSession.swift exist; "
        "their wire form was not read, so nothing is claimed for it",
    ),
)

CLIENTS: tuple[Client, ...] = (
    WIRO_MCP,
    N8N,
    WIROKIT_RN,
    WIROKIT_DART,
    WIROKIT_KOTLIN,
    WIROKIT_SWIFT,
)

# Fields or statuses a client reads that the fake never sends (report list).
NEVER_SENT: tuple[tuple[str, Source], ...] = (
    (
        "Task/Detail outputs[].content (.message, .raw, .answer)",
        Source(
            _N8N,
            "nodes/WiroAI/utils/polling.ts",
            "pollTaskUntilComplete(): outputs[0]?.content?.message",
        ),
    ),
    (
        "socket types task_stream_ready / task_stream_end",
        Source(
            _RN,
            "packages/wirokit/src/models/task-status.ts",
            "WiroTaskStatus.streamReady/streamEnded",
        ),
    ),
    (
        "Tool/Detail cleanslugowner, cleanslugproject, dynamicprice, taskstat, "
        "samples, readme, seotitle...",
        Source(_MCP, "src/types.ts", "ToolListItem"),
    ),
    (
        "Tool/Detail item note / placeholder, options {label, value}",
        Source(_MCP, "src/types.ts", "ToolParameterItem"),
    ),
    (
        "Tool/List total + tool[]; Tool/Explore explore[]",
        Source(_MCP, "src/client.ts", "searchModels(), explore()"),
    ),
)
