"""The control surface: ``/_mock`` (JSON, for tests) and the Python handle.

What lives here: the composition of one fake (:class:`~.fake.Fake`, with its one
:meth:`~.fake.Fake.reset`), the ``/_mock`` surface (one parent blueprint,
:mod:`.blueprint`, with nested children :mod:`.base`, :mod:`.tasks`, :mod:`.scenarios`,
:mod:`.faults`, :mod:`.push_faults`) and :class:`~.handle.FakeHandle`, the handle a
test holds on a running fake.

It may import: every other part (engine, chaos, http, push), Flask, and
``mock_wiro.settings`` / ``mock_wiro.errors``. Nothing but the runtime (``app``,
``server``, ``inprocess``) imports it.
"""
