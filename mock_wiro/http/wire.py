"""The API's JSON shapes, as pure functions of the engine's records.

No Flask here (a callback, :mod:`mock_wiro.push.callbacks`, POSTs the same Task/Detail
shape the REST surface answers). Each function takes the base of file URLs as a
function (``url_for``, the backend's) and reads a task as it is: call it under the
backend's ``state_lock`` for a consistent picture of a running task.

The output object's shape is the engine's (:func:`mock_wiro.engine.models.output_record`:
the socket's task_postprocess_end frame carries it too, recorded when the frame is);
:data:`OUTPUT_FIELDS` is its order, which the OpenAPI schema follows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Generic, TypeVar

from ..engine.models import (
    OUTPUT_FIELDS,
    Folder,
    StoredFile,
    Task,
    output_record,
    run_parameters,
    stamp,
)
from ..settings import MODEL_ID, MODEL_SLUG_OWNER, MODEL_SLUG_PROJECT, SEED_CATEGORIES

__all__ = [
    "OUTPUT_FIELDS",
    "SharedItem",
    "UrlFor",
    "file_item",
    "folder_item",
    "output",
    "task_detail",
    "task_detail_shared",
]

UrlFor = Callable[[StoredFile], str]
V = TypeVar("V")
output = output_record
"""An output object [seed]: ``output(stored, task_uuid, url)``."""

_TIME_FIELDS = (
    "createtime",
    "canceltime",
    "assigntime",
    "accepttime",
    "preprocessstarttime",
    "preprocessendtime",
    "postprocessstarttime",
    "postprocessendtime",
)


def _money(value: Decimal) -> str:
    return f"{value:.12f}" if value else "0"  # [seed] 12 decimals; [contract] a failure's "0"


class _Kept(Generic[V]):
    """A bounded map of task id to (what it was made of, the value made), the most
    recently read kept (``bound()`` of them: read at each store, so a test can lower
    it); a value is found only while what it was made of is the same."""

    def __init__(self, bound: Callable[[], int]) -> None:
        self._items: OrderedDict[str, tuple[Any, V]] = OrderedDict()
        self._lock = threading.Lock()
        self._bound = bound

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def get(self, task_id: str, made_of: Any) -> V | None:
        with self._lock:
            hit = self._items.get(task_id)
            if hit is None or not (hit[0] is made_of or hit[0] == made_of):
                return None
            self._items.move_to_end(task_id)
            return hit[1]

    def put(self, task_id: str, made_of: Any, value: V) -> None:
        with self._lock:
            self._items[task_id] = (made_of, value)
            self._items.move_to_end(task_id)
            while len(self._items) > self._bound():
                self._items.popitem(last=False)


RETIRED_CACHE_SIZE = 1024
"""Retired tasks whose history-derived Task/Detail fields are kept (the most recently
read), so a finished task polled again is not decompressed again."""
_retired: _Kept[dict[str, Any]] = _Kept(lambda: RETIRED_CACHE_SIZE)


def _history_fields(task: Task) -> dict[str, Any]:
    """The tasklist item's fields that come from the task's parameters, image and
    history. A retired task's are cached (bounded, :data:`RETIRED_CACHE_SIZE`) under its
    packed bytes: decompressed once per change, not once per read. Read-only."""
    packed = task.packed
    if packed is not None and (hit := _retired.get(task.id, packed)) is not None:
        return hit
    params, image, history = task.snapshot()  # one unpacking, if it was retired
    times = history.times
    fields = {
        "parameters": run_parameters(params, image),
        "debugoutput": "\n".join(history.stdout),
        "debugerror": "\n".join(history.stderr),
        "starttime": stamp(times.get("starttime")),
        "endtime": stamp(times.get("endtime")),
        "callbackurl": params.callback_url,
        **{name: stamp(times.get(name)) for name in _TIME_FIELDS},
    }
    if packed is not None:
        _retired.put(task.id, packed, fields)
    return fields


def task_detail(task: Task, url_for: UrlFor) -> dict[str, Any]:
    """A Task/Detail ``tasklist`` item, every field in the seed's order and type."""
    outputs = [] if task.files_deleted else list(task.outputs)
    known = _history_fields(task)
    return {
        "id": task.id,
        "uuid": task.uuid,
        "name": "",
        "socketaccesstoken": task.token,
        "parameters": dict(known["parameters"]),
        "debugoutput": known["debugoutput"],
        "debugerror": known["debugerror"],
        "starttime": known["starttime"],
        "endtime": known["endtime"],
        "elapsedseconds": f"{task.elapsed:.4f}",
        "status": task.status,
        "cps": _money(task.cps),
        "totalcost": _money(task.totalcost),
        "guestid": None,
        "projectid": task.project_id,
        "modelid": MODEL_ID,
        "description": "",
        "basemodelid": "0",
        "runtype": "model",
        "modelfolderid": "",
        "modelfileid": "",
        "callbackurl": known["callbackurl"],
        "marketplaceid": None,
        **{name: known[name] for name in _TIME_FIELDS},
        "pexit": task.pexit,
        "categories": SEED_CATEGORIES,
        "outputs": [output(o, task.uuid, url_for(o)) for o in outputs],
        "size": str(sum(o.size for o in outputs)),
        "modeldescription": "MiniMax Hailuo 2.3 Fast image-to-video",
        "modelslugowner": MODEL_SLUG_OWNER,
        "modelslugproject": MODEL_SLUG_PROJECT,
    }


class SharedItem(dict[str, Any]):
    """A retired task's tasklist item, shared by every read that finds the task unchanged
    (:func:`task_detail_shared`): read-only. ``texts`` keeps its JSON text for each
    encoder that wrote it (the fast path's, :mod:`.fast`), so a finished task polled
    again is not encoded again either."""

    __slots__ = ("texts",)

    def __init__(self, fields: dict[str, Any]) -> None:
        super().__init__(fields)
        self.texts: dict[int, str] = {}


SHARED_CACHE_SIZE = 1024
"""Retired tasks whose whole tasklist item (and its JSON text) is kept, the most recently
read: a test suite or a load test polling finished tasks gets them without building or
encoding them again."""
_shared: _Kept[SharedItem] = _Kept(lambda: SHARED_CACHE_SIZE)


def task_detail_shared(task: Task, url_for: UrlFor) -> dict[str, Any]:
    """:func:`task_detail` of ``task``; a retired task's is a :class:`SharedItem` kept
    (bounded, :data:`SHARED_CACHE_SIZE`) under everything it is made of that could still
    change or differ between fakes in one process: the packed record, the status, exit,
    elapsed time and costs, the outputs and their URLs (a public URL set later changes
    them), the deleted-files flag, the task's own ids. Read-only: a caller that changes
    the item must copy it."""
    packed = task.packed
    if packed is None:  # running: it changes under every read
        return task_detail(task, url_for)
    outputs = () if task.files_deleted else tuple(task.outputs)
    key = (
        packed,
        task.uuid,
        task.token,
        task.project_id,
        task.status,
        task.pexit,
        task.elapsed,
        task.cps,
        task.totalcost,
        task.files_deleted,
        outputs,
        tuple(url_for(o) for o in outputs),
    )
    item = _shared.get(task.id, key)
    if item is None:
        item = SharedItem(task_detail(task, url_for))
        _shared.put(task.id, key, item)
    return item


def file_item(stored: StoredFile, url_for: UrlFor) -> dict[str, Any]:
    """A File/Upload list item [docs]."""
    return {
        "id": stored.id,
        "name": stored.name,
        "contenttype": stored.contenttype,
        "size": str(stored.size),
        "parentid": stored.parentid,
        "url": url_for(stored),
        "addedtime": stamp(stored.addedtime),
        "accesskey": stored.accesskey,
    }


def folder_item(folder: Folder) -> dict[str, Any]:
    """A File/FolderCreate list item [docs]."""
    return {
        "id": folder.id,
        "name": folder.name,
        "parentid": folder.parentid,
        "size": "0",
        "contenttype": "",
        "addedtime": stamp(folder.addedtime),
    }
