"""Readiness that tells the truth: ``check_writable`` writes, and on SQLite checks the file.

A SELECT still answers with the disk full, the database read-only, or the SQLite file
deleted, replaced or truncated under the open store; readiness must not.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog.testing
from sqlalchemy import create_engine

from monitor.models import FeedSpec
from monitor.store import Store
from tests.store.records import T0

FEED = FeedSpec("http://a.test/feed", "a", 600)
# What a trigger does to every write of the probe's row (a rejected write, on each backend).
REJECT = {
    "sqlite": [
        "CREATE TRIGGER reject BEFORE UPDATE ON schema_version"
        " BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION reject() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'disk on fire'; END $$",
        "CREATE TRIGGER reject BEFORE UPDATE ON schema_version"
        " FOR EACH ROW EXECUTE FUNCTION reject()",
    ],
}
ACCEPT = {
    "sqlite": ["DROP TRIGGER reject"],
    "postgresql": ["DROP TRIGGER reject ON schema_version"],
}


def run_outside(url: str, statements: list[str]) -> None:
    """Run ``statements`` from another connection, as an operator or another process would."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    engine.dispose()


def store_events(logs: list[dict[str, object]]) -> list[str]:
    return [str(entry["event"]) for entry in logs if str(entry["event"]).startswith("state ")]


def test_a_healthy_store_is_writable(store: Store) -> None:
    assert store.check_writable() is None


def test_a_store_rejecting_writes_is_not_ready_logged_once_and_recovers(
    store: Store, store_url: str
) -> None:
    dialect = "sqlite" if store_url.startswith("sqlite") else "postgresql"
    run_outside(store_url, REJECT[dialect])
    with structlog.testing.capture_logs() as logs:
        first, second = store.check_writable(), store.check_writable()
        run_outside(store_url, ACCEPT[dialect])
        recovered = store.check_writable()
    assert first is not None
    assert "disk on fire" in first
    assert second == first
    assert recovered is None
    assert store_events(logs) == [
        "state store not writable: not ready",
        "state store writable again: ready",
    ]


def test_the_probe_is_cheap(store: Store) -> None:
    """``/readyz`` is polled often: a check costs milliseconds (one small commit)."""
    runs = 50
    started = time.perf_counter()
    for _ in range(runs):
        assert store.check_writable() is None
    mean = (time.perf_counter() - started) / runs
    assert mean < 0.05, f"{mean * 1000:.1f} ms per check"


# -- SQLite: the file under the open store ---------------------------------------------------


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Store, Path]]:
    path = tmp_path / "state.db"
    with Store(f"sqlite:///{path}") as store:
        store.sync_feeds([FeedSpec(f"http://a.test/{n}", "a", 600) for n in range(50)], T0)
        yield store, path


def checkpointed(path: Path) -> None:
    """Copy the WAL into the file, so the file holds every page (as it does after a while)."""
    run_outside(f"sqlite:///{path}", ["PRAGMA wal_checkpoint(TRUNCATE)"])


def test_a_file_truncated_to_nothing_is_not_ready(sqlite_store: tuple[Store, Path]) -> None:
    store, path = sqlite_store
    os.truncate(path, 0)
    assert store.check_writable() == f"state file {path} was truncated to 0 bytes"


def test_a_file_cut_short_is_not_ready(sqlite_store: tuple[Store, Path]) -> None:
    store, path = sqlite_store
    checkpointed(path)
    size = path.stat().st_size
    os.truncate(path, size // 2)
    reason = store.check_writable()
    assert reason == f"state file {path} was truncated: {size // 2} bytes, its header says {size}"


def test_a_file_with_garbage_over_its_header_is_not_ready(
    sqlite_store: tuple[Store, Path],
) -> None:
    store, path = sqlite_store
    with path.open("r+b") as file:
        file.write(b"\xff" * 100)
    reason = store.check_writable()
    assert (
        reason == f"state file {path} has a damaged header: it is not an SQLite database any more"
    )


def test_a_deleted_file_is_not_ready_and_writing_into_it_is_logged(
    sqlite_store: tuple[Store, Path],
) -> None:
    store, path = sqlite_store
    path.unlink()
    deleted = f"state file {path} was deleted while open: writes go to a file no one will read"
    with structlog.testing.capture_logs() as logs:
        # Writes go on into the unlinked file, but not silently: once, even if no one asks.
        store.sync_feeds([FEED], T0)
        store.sync_feeds([FEED], T0)
        assert store.check_writable() == deleted
        assert store.check_writable() == deleted
    assert [(e["event"], e["reason"]) for e in logs if e["event"].startswith("state")] == [
        ("state file lost under the open store; restart it", deleted),
        ("state store not writable: not ready", deleted),
    ]


def test_a_replaced_file_is_not_ready(sqlite_store: tuple[Store, Path], tmp_path: Path) -> None:
    store, path = sqlite_store
    with Store(f"sqlite:///{tmp_path / 'other.db'}"):
        pass
    (tmp_path / "other.db").replace(path)  # a valid database, but not the one open
    reason = store.check_writable()
    assert reason == (
        f"state file {path} was replaced while open: writes go to a file no one will read"
    )
