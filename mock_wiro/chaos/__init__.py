"""Chaos: the edge cases a test arms on purpose, as data and matching only.

What lives here: scenarios matched at Run (:mod:`.scenarios`), HTTP fault rules
(:mod:`.http_faults`), and WebSocket and callback fault rules (:mod:`.push_faults`).
Applying them is the job of the part they break (the engine, ``http``, ``push``).

It may import: ``mock_wiro.settings``, ``mock_wiro.errors`` and the engine's data
(stage names). Never a web framework, and never ``http``, ``push`` or ``control``.
"""
