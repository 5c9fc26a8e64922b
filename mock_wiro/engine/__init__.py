"""The engine: the fake's state and the task lifecycle, with no web framework.

What lives here: the records (:mod:`.models`), the models served, described once
(:mod:`.catalog`), the lifecycle as data and the one plan
builder (:mod:`.lifecycle`), the clock (:mod:`.clock`), Run's parameters
(:mod:`.params`), the input image rules (:mod:`.images`), the output videos
(:mod:`.video`), the journal (:mod:`.journal`), and the :class:`~.backend.Backend`
facade over its collaborators: the state behind one interface (:mod:`.store`),
authentication (:mod:`.auth`), files and their URLs (:mod:`.files`), the image check
and render (:mod:`.preparer`), frames and billing (:mod:`.stepper`), and the engine
thread and waits (:mod:`.scheduler`), all sharing one :class:`~.context.Context`.

It may import: the standard library, Pillow and PyAV, and ``mock_wiro.settings`` /
``mock_wiro.errors``. Never Flask, werkzeug, ``requests`` or any other part of
``mock_wiro`` (http, push, chaos, control): those stand on the engine, not under it.
"""
