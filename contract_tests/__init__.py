"""The Wiro API contract, as one pytest suite that judges the fake and the real API alike.

Run ``pytest contract_tests``; see ``conftest.py`` for pointing it at another server.
"""
