"""The journal across a restart: kept at a clean stop (bounded as ever), given back at
the next start, and then forgotten by the data dir, so a crash after that start never
brings back a journal older than the one it lost (docs/persistence.md)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import requests

from mock_wiro.engine.sqlite_store import DB_NAME
from mock_wiro.server import MockWiroServer
from mock_wiro.settings import Settings


def _serve(data: Path) -> MockWiroServer:
    return MockWiroServer(Settings(clock_mode="manual", data_dir=str(data))).start()


def _kept_row(data: Path) -> object:
    with sqlite3.connect(data / DB_NAME) as db:
        row = db.execute("SELECT value FROM meta WHERE key = 'journal'").fetchone()
    return None if row is None else json.loads(row[0])


def test_the_journal_survives_a_clean_stop(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = _serve(data)
    try:
        server.create_project("journal-key", auth="apikey")
        answer = requests.post(
            server.base_url + "/Task/List", headers={"x-api-key": "journal-key"}, timeout=30
        )
        assert answer.status_code == 200
        before = [e.to_json() for e in server.journal.entries()]
        assert any(e["kind"] == "request" for e in before)
    finally:
        server.stop()
    assert _kept_row(data) == before

    again = _serve(data)
    try:
        assert [e.to_json() for e in again.journal.entries()] == before
        assert _kept_row(data) is None  # given back once: a crash now loses it, not older
        requests.get(again.base_url + "/nothing", timeout=30)
        newest = again.journal.entries()[-1]
        assert newest.seq == before[-1]["seq"] + 1  # numbering goes on
    finally:
        again.stop()
    third = _serve(data)
    try:
        assert [e.seq for e in third.journal.entries()] == [*(e["seq"] for e in before), newest.seq]
    finally:
        third.stop()


def test_an_in_memory_fake_keeps_no_journal(tmp_path: Path) -> None:
    with MockWiroServer(Settings(clock_mode="manual")) as server:
        server.create_project()
        assert server.backend.store.kept_journal() == []
