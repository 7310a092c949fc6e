"""Whether the store can take writes now: what readiness (``/readyz``) reports.

Answering a SELECT proves little: a full disk, a read-only database, or (SQLite) a file
deleted, replaced or truncated under the open store all still answer one. The check
writes, and on SQLite also checks the file at the path (``sqlitefile``).
"""

from __future__ import annotations

import threading

from sqlalchemy import update

from monitor import log
from monitor.errors import StoreError
from monitor.store.engine import Database, writes
from monitor.store.schema import schema_version

logger = log.get("monitor.store")


class Health:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._failing = False  # logged once when it starts failing, once when it recovers

    def check_writable(self) -> str | None:
        """Why the store cannot take writes now, or None when it can.

        Cheap enough to be polled: a one-row write in its own transaction, and on SQLite a
        stat and a 100-byte read of the file.
        """
        try:
            self._probe()
        except StoreError as exc:
            rejected: str | None = f"state store rejects writes: {exc}"
        else:
            rejected = None
        return self._noted(self.db.file_trouble() or rejected)

    @writes
    def _probe(self) -> None:
        # A real write (a new row version on PostgreSQL, a WAL frame on SQLite) that
        # changes nothing: the one row of schema_version, set to itself.
        with self.db.write() as conn:
            conn.execute(update(schema_version).values(version=schema_version.c.version))

    def _noted(self, reason: str | None) -> str | None:
        """``reason``, logged when the store turns unwritable, and when it is writable again."""
        with self._lock:
            changed = (reason is not None) != self._failing
            self._failing = reason is not None
        if changed and reason is not None:
            logger.error("state store not writable: not ready", reason=reason)
        elif changed:
            logger.info("state store writable again: ready")
        return reason
