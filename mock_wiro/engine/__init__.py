"""The engine: the fake's state and the task lifecycle, with no web framework.

What lives here: the records (:mod:`.models`), the lifecycle as data
(:mod:`.lifecycle`), the clock (:mod:`.clock`), Run's parameters (:mod:`.params`),
the input image rules (:mod:`.images`), the output videos (:mod:`.video`), the
journal (:mod:`.journal`) and the :class:`~.backend.Backend` that owns them.

It may import: the standard library, Pillow and PyAV, and ``mock_wiro.settings`` /
``mock_wiro.errors``. Never Flask, werkzeug, ``requests`` or any other part of
``mock_wiro`` (http, push, chaos, control): those stand on the engine, not under it.
"""
