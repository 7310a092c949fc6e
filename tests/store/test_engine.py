"""The database under the store: retries, the StoreError boundary, opening and closing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from monitor.errors import ConfigError, StoreError
from monitor.models import FeedSpec
from monitor.store import Store
from monitor.store.engine import Database
from tests.store.records import T0

FEED = FeedSpec("http://a.test/feed", "a", 600)


class _DeadlockError(Exception):
    sqlstate = "40P01"


def failing_writes(monkeypatch: pytest.MonkeyPatch, errors: list[Exception]) -> list[Exception]:
    """Make the next write transactions fail with ``errors``, in order; the ones raised."""
    real: Callable[[Database], Any] = Database.write
    raised: list[Exception] = []

    def write(db: Database) -> Any:
        if errors:
            raised.append(errors.pop(0))
            raise raised[-1]
        return real(db)

    monkeypatch.setattr(Database, "write", write)
    return raised


def test_a_deadlocked_transaction_is_run_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadlock = OperationalError("UPDATE feeds", {}, _DeadlockError("deadlock detected"))
    raised = failing_writes(monkeypatch, [deadlock])
    store.sync_feeds([FEED], T0)
    assert raised == [deadlock]
    assert [s.url for s in store.feed_states()] == [FEED.url]


def test_a_transaction_deadlocked_every_time_fails_as_a_store_error(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    deadlocks = [
        OperationalError("UPDATE feeds", {}, _DeadlockError("deadlock detected")) for _ in range(9)
    ]
    raised = failing_writes(monkeypatch, deadlocks)
    with pytest.raises(StoreError, match="deadlock detected"):
        store.sync_feeds([FEED], T0)
    assert len(raised) == 4


def test_other_operational_errors_are_not_retried(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = OperationalError("UPDATE feeds", {}, Exception("disk I/O error"))
    raised = failing_writes(monkeypatch, [broken, broken])
    with pytest.raises(StoreError, match="disk I/O error") as failure:
        store.sync_feeds([FEED], T0)
    assert raised == [broken]
    assert failure.value.__cause__ is broken


def test_a_failed_read_is_a_store_error(store: Store, store_url: str) -> None:
    store.sync_feeds([FEED], T0)
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE webhook_state"))
    engine.dispose()
    with pytest.raises(StoreError, match="webhook_state"):
        store.disabled_webhooks()
    assert store.check_writable() is None  # the database itself takes writes


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # The one redaction rule (monitor.redact): userinfo removed, secret query values masked.
        ("postgresql://nm:pw-s3cret@127.0.0.1:1/state", "'postgresql://127.0.0.1:1/state'"),
        ("postgres://:pw-s3cret@127.0.0.1:1/state", "'postgres://127.0.0.1:1/state'"),
        ("mysql://nm:pw-s3cret@127.0.0.1:1/state", "'mysql://127.0.0.1:1/state'"),
        ("nonsense://nm:pw-s3cret@127.0.0.1:1", "'nonsense://127.0.0.1:1'"),
        (
            "postgresql://127.0.0.1:1/state?password=pw-s3cret",
            "'postgresql://127.0.0.1:1/state?password=***'",
        ),
    ],
)
def test_a_store_that_cannot_open_never_shows_the_password(url: str, shown: str) -> None:
    with pytest.raises(StoreError) as failure:
        Store(url)
    message = str(failure.value)
    assert shown in message
    assert "s3cret" not in message


def test_a_failure_message_never_shows_the_password() -> None:
    db = Database("postgresql://nm:pw-s3cret@127.0.0.1:1/state")  # nothing connects yet
    try:
        error = OperationalError("SELECT 1", {}, Exception("auth as nm:pw-s3cret failed"))
        assert str(db.failure(error)).count("s3cret") == 0
        assert "auth as nm:*** failed" in str(db.failure(error))
    finally:
        db.close()


def test_the_store_is_a_context_manager_that_closes(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[Database] = []
    real = Database.close

    def close(db: Database) -> None:
        closed.append(db)
        real(db)

    monkeypatch.setattr(Database, "close", close)
    with Store(store_url) as store:
        store.sync_feeds([FEED], T0)
        assert closed == []
    assert len(closed) == 1


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody can write to, root included: a read-only tmpfs mount."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]
    if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_state_directory_is_named_in_one_line(
    tmp_path: Path, read_only_dir: Path
) -> None:
    config = tmp_path / "m.yaml"
    config.write_text(f"state: sqlite:///{read_only_dir}/state.db\nfeeds: []\n")
    result = subprocess.run(
        [sys.executable, "-m", "monitor", "once", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"error: state sqlite:///{read_only_dir}/state.db: cannot write to {read_only_dir} "
        "(read-only directory or no permission)\n"
    )


def test_a_missing_state_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"cannot write to {tmp_path}/gone \\(no such directory"):
        Database(f"sqlite:///{tmp_path}/gone/state.db")
