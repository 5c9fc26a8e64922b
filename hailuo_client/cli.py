"""``hailuo``: MiniMax Hailuo 2.3 Fast from the command line.

::

    hailuo generate cat.jpg --prompt "the cat turns its head" --out cat.mp4
    hailuo generate cat.jpg --prompt "..." --no-wait --json   # {"id": ..., "token": ...}
    hailuo watch 534574          # follow a task to its end (--out v.mp4: then download it)
    hailuo status 534574 | cancel ID | kill ID | download ID --out v.mp4 | upload FILE | list

Credentials and URLs come from ``WIRO_API_KEY``, ``WIRO_API_SECRET``,
``WIRO_BASE_URL`` and ``WIRO_SOCKET_URL`` (or the matching options), so the same
command runs against the fake and the real API. On a terminal, progress is a
live display on stderr; elsewhere it is one plain line per step. The result goes
to stdout (``--json`` for a JSON object). Exit codes: see ``EXIT_*`` and ``EXITS``.
``--out`` and the input file are checked before a Run spends money; once a task
exists, any failure names it and the command that fetches its video.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib.metadata
import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

from .client import DEFAULT_BASE_URL, Client, _NotSent
from .exceptions import (
    APIError,
    InvalidInput,
    TaskCancelled,
    TaskError,
    TaskFailed,
    TransportError,
    WaitTimeout,
    WiroError,
)
from .models import Event, File, Status, Task

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_BROKEN_PIPE",
    "EXIT_CANCELLED",
    "EXIT_INTERRUPTED",
    "EXIT_LOCAL_ERROR",
    "EXIT_OK",
    "EXIT_TASK_FAILED",
    "EXIT_TIMEOUT",
    "EXIT_TRANSPORT_ERROR",
    "EXIT_USAGE",
    "main",
]

EXIT_OK: Final = 0
"""The command did what was asked (for generate/watch: the task succeeded)."""
EXIT_TASK_FAILED: Final = 1
"""The task finished with a non-zero pexit."""
EXIT_USAGE: Final = 2
"""Bad arguments, missing credentials or base URL, or an input refused before any request."""
EXIT_CANCELLED: Final = 3
"""The task ended in task_cancel (cancelled or killed)."""
EXIT_TIMEOUT: Final = 4
"""The wait's deadline passed; the task may still be running."""
EXIT_API_ERROR: Final = 5
"""The API refused a call (authentication, not found, validation, codes 96/97...)."""
EXIT_TRANSPORT_ERROR: Final = 6
"""No usable answer from the server (network, timeouts, a broken download)."""
EXIT_LOCAL_ERROR: Final = 7
"""A local file could not be read or written: a missing or unreadable input file, an
``--out`` under a regular file or in a folder that cannot be written (checked before Run)."""
EXIT_BROKEN_PIPE: Final = 141
"""stdout was closed by its reader (as a command killed by SIGPIPE exits)."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted (Ctrl-C); a running task keeps running."""

_STAGES: Final = {
    Status.QUEUE: "queued",
    Status.ACCEPT: "accepted",
    Status.PREPROCESS_START: "preprocessing",
    Status.PREPROCESS_END: "preprocessed",
    Status.ASSIGN: "assigned to a worker",
    Status.START: "starting",
    Status.OUTPUT: "generating",
    Status.OUTPUT_FULL: "generated",
    Status.ERROR_FULL: "generated (with errors)",
    Status.END: "finishing",
    Status.POSTPROCESS_START: "uploading the video",
    Status.POSTPROCESS_END: "done",
    Status.CANCEL: "cancelled",
}


EXITS: Final = (
    (EXIT_OK, "success"),
    (EXIT_TASK_FAILED, "task failed"),
    (EXIT_USAGE, "usage error"),
    (EXIT_CANCELLED, "cancelled"),
    (EXIT_TIMEOUT, "timeout"),
    (EXIT_API_ERROR, "API error"),
    (EXIT_TRANSPORT_ERROR, "transport error"),
    (EXIT_LOCAL_ERROR, "local file error"),
    (EXIT_INTERRUPTED, "interrupted"),
    (EXIT_BROKEN_PIPE, "stdout closed"),
)
"""Every exit code with its short name, as ``hailuo --help`` lists them."""


class _UsageError(Exception):
    """A problem with the command line itself (exit 2)."""


class _LocalError(Exception):
    """A local file that cannot be read or written (exit 7)."""


def _version() -> str:
    """The installed distribution's version (the client ships in ``mock-wiro``)."""
    try:
        return importlib.metadata.version("mock-wiro")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hailuo",
        description="MiniMax Hailuo 2.3 Fast image-to-video on the Wiro API.",
        epilog=(
            "environment: WIRO_API_KEY, WIRO_API_SECRET, WIRO_BASE_URL, WIRO_SOCKET_URL. "
            "exit codes: " + ", ".join(f"{code} {name}" for code, name in EXITS) + "."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hailuo {_version()}")
    parser.add_argument("--api-key", help="API key (default: $WIRO_API_KEY)")
    parser.add_argument("--api-secret", help="API secret (default: $WIRO_API_SECRET)")
    parser.add_argument("--base-url", help="REST base (default: $WIRO_BASE_URL or the real API)")
    parser.add_argument("--socket-url", help="task socket (default: $WIRO_SOCKET_URL or derived)")
    parser.add_argument(
        "--http-timeout", type=float, default=30.0, help="seconds per HTTP request (default 30)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
        return sub

    def waiting(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--via", choices=("auto", "socket", "poll"), default="auto")
        sub.add_argument(
            "--timeout", type=float, default=900.0, help="overall wait in seconds (default 900)"
        )

    gen = command("generate", "Animate IMAGE (path or http(s) URL) into a video.")
    gen.add_argument("image")
    gen.add_argument("--prompt", "-p", default="", help="what should happen (up to 2000 chars)")
    gen.add_argument("--resolution", choices=("768P", "1080P"), default="768P")
    gen.add_argument("--duration", type=int, choices=(6, 10), default=6, help="seconds")
    gen.add_argument("--no-optimizer", action="store_true", help="turn the prompt optimizer off")
    gen.add_argument("--callback-url", default="", help="URL Wiro POSTs to when the task ends")
    gen.add_argument("--out", "-o", help="where to save the video (default hailuo-<id>.mp4)")
    gen.add_argument("--no-wait", action="store_true", help="print the task and exit")
    gen.add_argument("--no-check", action="store_true", help="skip the local image checks")
    waiting(gen)

    for name, help_text in (
        ("status", "Show a task (by id or token)."),
        ("cancel", "Cancel a queued task."),
        ("kill", "Kill a running task."),
    ):
        command(name, help_text).add_argument("task")
    watch = command("watch", "Follow a task to its end (with --out, then download its video).")
    watch.add_argument("task")
    watch.add_argument("--out", "-o", help="save the video here once done (file or directory)")
    waiting(watch)
    download = command("download", "Download a finished task's video.")
    download.add_argument("task")
    download.add_argument("--out", "-o", help="file or directory (default hailuo-<id>.mp4)")
    upload = command("upload", "Upload a file; its URL can be given to generate.")
    upload.add_argument("file")
    upload.add_argument("--folder", help="folder id")
    listing = command("list", "List the project's tasks.")
    listing.add_argument("--start", type=int, default=0, help="skip this many (default 0)")
    listing.add_argument("--limit", type=int, default=20)
    return parser


class _Reporter:
    """Shows a task's progress: a live display on a terminal, plain lines elsewhere."""

    def __init__(self, stream: IO[str], live: bool) -> None:
        self.stream = stream
        self.live = live
        self._progress: Any = None
        self._bar: Any = None
        self._last_line = ""

    def __enter__(self) -> _Reporter:
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                SpinnerColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            console = Console(file=self.stream, force_terminal=True)
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            self._progress.start()
            self._bar = self._progress.add_task("submitting", total=100)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def note(self, text: str) -> None:
        """A one-off message (above the live display on a terminal)."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def event(self, event: Event) -> None:
        """Show one wait event."""
        stage = _STAGES.get(event.status, event.raw_type or event.status.value)
        percent = event.progress.percentage if event.progress else None
        if self._progress is not None:
            description = f"task {event.task_id}: {stage}"
            if percent is not None:
                self._progress.update(
                    self._bar, description=description, completed=percent, refresh=True
                )
            else:
                done = 100 if event.status is Status.POSTPROCESS_END else None
                self._progress.update(
                    self._bar, description=description, completed=done, refresh=True
                )
            return
        if event.status is Status.ERROR:
            return  # stderr lines of the model: not progress
        line = f"task {event.task_id}: {stage}"
        if percent is not None:
            line += f" {percent:.0f}%"
        if line != self._last_line:  # one line per step, not per unparsed output frame
            print(line, file=self.stream, flush=True)
            self._last_line = line


def _stage(task: Task) -> str:
    """The task's stage in the progress display's words (``failed`` for a non-zero pexit)."""
    if task.failed:
        return "failed"
    return _STAGES.get(task.status, task.raw_status or task.status.value)


def _task_json(task: Task, saved: Path | None = None) -> dict[str, Any]:
    video = task.video
    return {
        "id": str(task.id),
        "token": task.token,
        "status": task.raw_status or task.status.value,
        "stage": _stage(task),
        "pexit": task.pexit if task.terminal else None,  # meaningless until the task ended
        "succeeded": task.succeeded,
        "debugerror": task.debugerror,
        "totalcost": str(task.totalcost) if task.totalcost is not None else None,
        "url": video.url if video else None,
        "size": video.size if video else None,
        "saved": str(saved) if saved else None,
    }


def _file_json(file: File) -> dict[str, Any]:
    return {"id": file.id, "name": file.name, "url": file.url, "size": file.size}


def _base_source(args: argparse.Namespace) -> str:
    """Where the base URL came from, as the user would change it."""
    if args.base_url:
        return "--base-url"
    if os.environ.get("WIRO_BASE_URL"):
        return "WIRO_BASE_URL"
    return "the default base URL (no WIRO_BASE_URL set)"


def _client(args: argparse.Namespace) -> Client:
    try:
        client = Client(
            args.api_key,
            args.api_secret,
            base_url=args.base_url,
            socket_url=args.socket_url,
            timeout=args.http_timeout,
        )
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    parts = urlsplit(client.base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _UsageError(
            f"{_base_source(args)} must be an http:// or https:// URL ending in /v1 "
            f"(e.g. http://127.0.0.1:8080/v1 for mock-wiro serve); got {client.base_url!r}"
        )
    return client


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code (see ``EXIT_*``)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help is 0, a usage error 2
        return int(exc.code or 0)
    out, err = sys.stdout, sys.stderr
    state = _State()
    try:
        code = _COMMANDS[args.command](args, out, err, state)
        out.flush()  # a closed pipe shows here, not at exit where it can't be handled
        return code
    except BrokenPipeError:  # e.g. `hailuo list | head -1`: the reader left; say nothing
        with contextlib.suppress(OSError):  # no second error when Python flushes at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        if state.task_id is not None:
            if state.finished:
                message = f"interrupted; task {state.task_id} had finished"
            else:
                message = (
                    f"interrupted; task {state.task_id} keeps running "
                    f"(stop it: hailuo kill {state.task_id})"
                )
            _fail(args, out, err, message, EXIT_INTERRUPTED, state)
        else:
            _fail(args, out, err, "interrupted", EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as exc:
        code, message = _exit_for(exc, args, state)
        if isinstance(exc, TaskError):
            _print_result(args, out, exc.task, error=message, code=code)
            print(f"hailuo: {message}", file=err)
        else:
            _fail(args, out, err, message, code, state)
        return code


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _exit_for(exc: Exception, args: argparse.Namespace, state: _State) -> tuple[int, str]:
    """The exit code and message for an exception escaping a command (re-raises others)."""
    if isinstance(exc, _UsageError):
        return EXIT_USAGE, f"error: {exc}"
    if isinstance(exc, _LocalError):
        return EXIT_LOCAL_ERROR, str(exc)
    if isinstance(exc, InvalidInput):
        return EXIT_USAGE, f"refused before sending: {exc}"
    if isinstance(exc, TaskCancelled):
        return EXIT_CANCELLED, str(exc)
    if isinstance(exc, TaskError):
        return EXIT_TASK_FAILED, str(exc)
    if isinstance(exc, WaitTimeout):
        task_id = exc.task.id if exc.task is not None else state.task_id
        return (
            EXIT_TIMEOUT,
            f"{exc}; the task may still be running (stop it: hailuo kill {task_id})",
        )
    if isinstance(exc, _NotSent):
        found = _ERRNO.search(str(exc))
        reason = found.group(0).strip() if found else "no connection"
        url = str(exc).split(": could not connect", 1)[0]
        if _client_base(args).rstrip("/") not in url:  # an output URL on another host
            return EXIT_TRANSPORT_ERROR, f"could not connect ({reason}) for {url}"
        return EXIT_TRANSPORT_ERROR, (
            f"could not connect ({reason}) for {url}. Check {_base_source(args)} "
            f"(now {_client_base(args)}) and that the server is running there "
            "(for the fake: mock-wiro serve)"
        )
    if isinstance(exc, TransportError):
        message = str(exc)
        if state.following and args.via == "socket":
            message += " (--via auto falls back to polling when the socket fails)"
        return EXIT_TRANSPORT_ERROR, message
    if isinstance(exc, APIError) and exc.status == 404 and state.task_id is None:
        base = _client_base(args)
        if not urlsplit(base).path.rstrip("/").endswith("/v1"):
            return EXIT_API_ERROR, (
                f"{str(exc).rstrip('.')}. {_base_source(args)} is {base}, "
                "which does not end in /v1: "
                f"the Wiro API lives under /v1 (try {base.rstrip('/')}/v1)"
            )
    if isinstance(exc, WiroError):
        return EXIT_API_ERROR, str(exc)
    if isinstance(exc, OSError):
        return EXIT_LOCAL_ERROR, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    raise exc


def _client_base(args: argparse.Namespace) -> str:
    return str(args.base_url or os.environ.get("WIRO_BASE_URL") or DEFAULT_BASE_URL)


def _fail(
    args: argparse.Namespace,
    out: IO[str],
    err: IO[str],
    message: str,
    code: int = 0,
    state: _State | None = None,
) -> None:
    """Report a failure: on stderr, and with --json as ``{"error", "exit"}`` on stdout,
    plus the task's ``id`` and the ``fetch`` command when a task already exists."""
    print(f"hailuo: {message}", file=err)
    fetch = state.fetch() if state is not None else None
    if fetch is not None and state is not None:
        print(f"hailuo: task {state.task_id} exists; to fetch its video: {fetch}", file=err)
    if getattr(args, "json", False):
        answer: dict[str, Any] = {"error": message, "exit": code}
        if fetch is not None and state is not None:
            answer.update(id=state.task_id, fetch=fetch)
        print(json.dumps(answer), file=out, flush=True)


class _State:
    """What a command is doing: a task that exists, for the messages after a failure."""

    def __init__(self) -> None:
        self.task_id: str | None = None  # a task made or named, once it is known
        self.out: str | None = None  # the --out asked for
        self.following = False  # inside wait()
        self.finished = False  # the task ended; its video is being downloaded

    def fetch(self) -> str | None:
        """The command that fetches the task's video, once there is a task to fetch."""
        if self.task_id is None:
            return None
        out = f" --out {shlex.quote(self.out)}" if self.out else ""
        if self.finished:
            return f"hailuo download {self.task_id}{out}"
        return f"hailuo watch {self.task_id} --out {shlex.quote(self.out or '.')}"


def _check_out(out: str | None) -> None:
    """Raise _LocalError if a video could not be saved at ``out`` (a file or a folder,
    default the current one): checked before a Run spends money. A folder to be made is
    checked at its first existing ancestor, by creating (and removing) a file there."""
    target = Path(out) if out else Path.cwd()
    folder = target if target.is_dir() or (out or "").endswith(("/", os.sep)) else target.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    shown = out if out else "."
    if existing.exists() and not existing.is_dir():
        raise _LocalError(f"cannot save to {shown}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".hailuo-check-"):
            pass
    except OSError as exc:  # ENOENT: a folder no file can be made in (/proc)
        why = "not writable" if exc.errno == errno.ENOENT else exc.strerror or str(exc)
        raise _LocalError(f"cannot save to {shown}: cannot write in {existing} ({why})") from None


def _readable(path_text: str, what: str) -> Path:
    """The path of a local input file, or _LocalError (exit 7) if it cannot be read."""
    path = Path(path_text)
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise _LocalError(f"cannot read {what} {path_text}: {exc.strerror or exc}") from None
    if not path.is_file():
        raise _LocalError(f"cannot read {what} {path_text}: not a regular file")
    return path


def _print_result(
    args: argparse.Namespace,
    out: IO[str],
    task: Task,
    saved: Path | None = None,
    *,
    error: str | None = None,
    code: int = 0,
) -> None:
    if getattr(args, "json", False):
        answer = _task_json(task, saved)
        if error is not None:
            answer.update(error=error, exit=code)
        print(json.dumps(answer), file=out, flush=True)


def _follow(
    args: argparse.Namespace, client: Client, task: Task | str, err: IO[str], state: _State
) -> Task:
    state.task_id = str(task.id) if isinstance(task, Task) else task
    state.following = True
    with _Reporter(err, live=err.isatty()) as reporter:
        if isinstance(task, Task):
            reporter.note(f"task {task.id} submitted (token {task.token})")
        done = client.wait(task, timeout=args.timeout, via=args.via, on_event=reporter.event)
    state.following = False
    state.task_id, state.finished = str(done.id), True
    return done


def _generate(args: argparse.Namespace, out: IO[str], err: IO[str], state: _State) -> int:
    client = _client(args)
    image: str = args.image
    if not image.startswith(("http://", "https://")):
        _readable(image, "image")
    if not args.no_wait:
        _check_out(args.out)  # before Run: a video nobody can save is money lost
    task = client.run(
        image,
        args.prompt,
        prompt_optimizer=not args.no_optimizer,
        resolution=args.resolution,
        duration=args.duration,
        callback_url=args.callback_url,
        check=not args.no_check,
    )
    if args.no_wait:
        if args.json:
            print(json.dumps(_task_json(task)), file=out)
        else:
            print(f"task {task.id} token {task.token}", file=out)
        return EXIT_OK
    state.out = args.out
    done = _follow(args, client, task, err, state)
    saved = client.download(done, args.out)
    if args.json:
        _print_result(args, out, done, saved)
    else:
        print(f"saved {saved}", file=out)
    return EXIT_OK


def _watch(args: argparse.Namespace, out: IO[str], err: IO[str], state: _State) -> int:
    client = _client(args)
    if args.out is not None:
        _check_out(args.out)
        state.out = args.out
    done = _follow(args, client, args.task, err, state)
    saved = client.download(done, args.out) if args.out is not None else None
    if args.json:
        _print_result(args, out, done, saved)
    elif saved is not None:
        print(f"saved {saved}", file=out)
    else:
        video = done.video
        print(f"task {done.id} succeeded: {video.url if video else 'no output'}", file=out)
    return EXIT_OK


def _single(action: str) -> Callable[[argparse.Namespace, IO[str], IO[str], _State], int]:
    def command(args: argparse.Namespace, out: IO[str], err: IO[str], state: _State) -> int:
        client = _client(args)
        task: Task = getattr(client, action)(args.task)
        if args.json:
            _print_result(args, out, task)
        else:
            raw = task.raw_status or task.status.value
            ended = f", pexit {task.pexit}" if task.terminal and task.pexit is not None else ""
            line = f"task {task.id}: {_stage(task)} ({raw}{ended})"
            if task.debugerror:
                line += f": {task.debugerror}"
            video = task.video
            if video is not None:
                line += f" {video.url}"
            print(line, file=out)
        return EXIT_OK

    command.__doc__ = f"``hailuo {action}``."
    return command


def _download(args: argparse.Namespace, out: IO[str], err: IO[str], state: _State) -> int:
    client = _client(args)
    _check_out(args.out)
    task = client.detail(args.task)
    if not task.terminal:
        raise _UsageError(
            f"task {task.id} is {_stage(task)}, not finished: "
            f"hailuo watch {task.id} --out {shlex.quote(args.out or '.')} downloads it once done"
        )
    if task.cancelled:
        raise TaskCancelled(task)
    if task.failed:
        raise TaskFailed(task)
    saved = client.download(task, args.out)
    if args.json:
        _print_result(args, out, task, saved)
    else:
        print(f"saved {saved}", file=out)
    return EXIT_OK


def _upload(args: argparse.Namespace, out: IO[str], err: IO[str], state: _State) -> int:
    client = _client(args)
    path = _readable(args.file, "file")
    files = client.upload(path, folder_id=args.folder)
    if args.json:
        print(json.dumps([_file_json(file) for file in files]), file=out)
    for file in [] if args.json else files:
        print(f"{file.id} {file.url}", file=out)
    return EXIT_OK


def _list(args: argparse.Namespace, out: IO[str], err: IO[str], state: _State) -> int:
    client = _client(args)
    tasks = client.list(start=args.start, limit=args.limit)
    if args.json:
        print(json.dumps([_task_json(task) for task in tasks]), file=out)
    for task in [] if args.json else tasks:
        print(f"{task.id} {task.raw_status or task.status.value}", file=out)
    return EXIT_OK


_COMMANDS: Final[dict[str, Callable[[argparse.Namespace, IO[str], IO[str], _State], int]]] = {
    "generate": _generate,
    "watch": _watch,
    "status": _single("detail"),
    "cancel": _single("cancel"),
    "kill": _single("kill"),
    "download": _download,
    "upload": _upload,
    "list": _list,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
