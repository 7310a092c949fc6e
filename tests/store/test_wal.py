"""SQLite's WAL: kept small, and a full disk is survived (``monitor.store.sqlitefile``).

A full disk is tested for real on a 2 MB tmpfs where mounting is allowed (root), and always
emulated with ``PRAGMA max_page_count``, which fails writes with the same SQLITE_FULL.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from monitor.errors import StoreError
from monitor.models import FeedSpec
from monitor.store import Store
from monitor.store.engine import Database
from monitor.store.feeds import Feeds
from monitor.store.health import Health
from monitor.store.migrations import migrate
from monitor.store.sqlitefile import WAL_LIMIT
from tests.store.records import T0


def specs(batch: int, count: int = 20) -> list[FeedSpec]:
    """``count`` new feeds with long names: about 8 KB of rows per batch."""
    return [
        FeedSpec(f"http://a.test/{batch}/{n}/{'x' * 200}", "a" * 100, 600) for n in range(count)
    ]


def write_until_full(write: Callable[[int], object]) -> int:
    """``write(batch)`` for batches 0, 1, ... until the disk is full: how many went through."""
    written = 0

    def fill() -> None:
        nonlocal written
        while written < 1000:
            write(written)
            written += 1

    with pytest.raises(StoreError, match="database or disk is full"):
        fill()
    return written


def wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_wal_is_truncated_once_it_passes_its_limit(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    sizes = []
    with Store(f"sqlite:///{path}") as store:
        wanted: list[FeedSpec] = []
        for batch in range(60):
            wanted += specs(batch)
            store.sync_feeds(wanted, T0)
            sizes.append(wal_bytes(path))
    assert max(sizes) <= WAL_LIMIT + 256 * 1024  # the limit, and one write past it
    assert 0 in sizes[1:]  # truncated, not just reused from its start


def test_a_full_disk_fails_writes_then_they_go_through_checkpointed_emulated(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    db = Database(f"sqlite:///{path}")
    try:
        migrate(db)
        feeds, health = Feeds(db), Health(db)
        pages = {"max": 0}  # the "disk": pages the database may have (0: no bound)

        @event.listens_for(db.engine, "connect")
        def bound(dbapi_conn: Any, _record: Any) -> None:
            if pages["max"]:
                dbapi_conn.execute(f"PRAGMA max_page_count={pages['max']}")

        with db.read() as conn:
            pages["max"] = conn.exec_driver_sql("PRAGMA page_count").scalar_one() + 20
        db.engine.dispose()  # connections from now on have the bound
        written = write_until_full(lambda batch: feeds.sync_feeds(specs(batch), T0))
        assert written > 0
        # The failed write owed a checkpoint; it ran at once: the WAL gave its space back.
        assert wal_bytes(path) == 0
        assert health.check_writable() is None  # a one-row write fits
        pages["max"] = 0  # room again
        db.engine.dispose()
        feeds.sync_feeds(specs(-1), T0)
        assert len(feeds.feed_states()) == (written + 1) * 20
    finally:
        db.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB filesystem (a tmpfs mount: needs root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)]
    try:
        subprocess.run(mount, check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot mount a 2 MB tmpfs here ({exc}); the emulated test still runs")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True, timeout=10)


def test_a_full_disk_fails_writes_then_freed_space_lets_them_through_checkpointed(
    small_disk: Path,
) -> None:
    path = small_disk / "state.db"
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 1_200_000)
    with Store(f"sqlite:///{path}") as store:
        written = write_until_full(lambda batch: store.sync_feeds(specs(batch), T0))
        full_wal = wal_bytes(path)
        reason = store.check_writable()
        assert reason is not None
        assert "full" in reason
        filler.unlink()
        store.sync_feeds(specs(-1), T0)  # space freed: writes go through...
        assert wal_bytes(path) == 0 < full_wal  # ...and the owed checkpoint truncated the WAL
        assert store.check_writable() is None
        assert len(store.feed_states()) == (written + 1) * 20
