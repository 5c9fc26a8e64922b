"""Push: what the fake sends on its own, the task WebSocket and ``callbackUrl`` POSTs.

What lives here: the socket hub that fans frames out (:mod:`.hub`), the flask-sock
route at ``/v1`` (:mod:`.route`) and the callback dispatcher (:mod:`.callbacks`).

It may import: Flask, flask-sock and ``requests``, ``mock_wiro.settings`` /
``mock_wiro.errors``, the engine and the chaos rules. Never ``http`` or ``control``.
"""
