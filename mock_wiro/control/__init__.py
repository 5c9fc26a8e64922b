"""The control surface: ``/_mock`` (JSON, for tests) and the Python handle.

What lives here: the ``/_mock`` blueprints (:mod:`.base`, :mod:`.scenarios`,
:mod:`.faults`, :mod:`.push_faults`) and :class:`~.handle.FakeControls`, the handle a
test holds on a running fake.

It may import: every other part (engine, chaos, http, push), Flask, and
``mock_wiro.settings`` / ``mock_wiro.errors``. Nothing but the runtime (``app``,
``server``, ``inprocess``) imports it.
"""
