"""The ``/v1`` REST surface: routes, body parsing, wire shapes, OpenAPI.

What lives here: the Flask blueprint of ``/v1`` and the public file URLs
(:mod:`.routes`), the JSON shapes as pure functions (:mod:`.wire`, no Flask: push
uses them too), ``Tool/Detail``, ``Tool/List`` and ``Tool/Explore`` (:mod:`.tool`) and
the OpenAPI document (:mod:`.openapi`).

It may import: Flask and werkzeug, ``mock_wiro.settings`` / ``mock_wiro.errors``, the
engine and the chaos rules. Never ``push`` or ``control``.
"""
