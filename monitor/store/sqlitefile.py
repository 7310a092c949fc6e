"""The SQLite file under the store: still the file that was opened, and its WAL kept small.

* SQLite goes on writing, without an error, into a file deleted or replaced under it (the
  unlinked inode) or truncated (through its page cache and WAL). ``trouble`` notices: the
  path's inode against the one opened, the header against the file's size. Every write
  compares the inode too (a stat), so writing into a lost file is logged even unasked.
* SQLite's own checkpoint (PASSIVE, at 1000 pages) never shrinks the WAL file, and on a
  disk smaller than that never runs: the WAL fills the disk and stays. The WAL is
  checkpointed and truncated (``after_write``) past ``WAL_LIMIT``, and after a write failed
  on a full disk, after every write until a checkpoint succeeds.

All methods but ``opened`` run under the database's writer lock, so never during one of
this process's checkpoints (which leave the header ahead of the file's size for a moment).
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from monitor import log

logger = log.get("monitor.store")

# Below SQLite's own autocheckpoint (1000 pages of 4 KiB): ours runs first and truncates.
WAL_LIMIT = 1 << 20
_MAGIC = b"SQLite format 3\x00"
_HEADER = 100


def is_disk_full(exc: OperationalError) -> bool:
    return getattr(exc.orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


class SqliteFile:
    """The database file at ``path``; ``opened`` records which file that is."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.shown = f"state file {self.path}"
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file opened
        self._lost_logged = False  # a deleted or replaced file never comes back: log once
        self._disk_full = False  # a write failed on a full disk; no checkpoint since
        self._checkpoint_owed = False  # the disk was full, or the last checkpoint failed

    def opened(self) -> None:
        """A connection opened the file (the first one tells which file the store uses)."""
        if self._identity is None:
            found = os.stat(self.path)
            self._identity = (found.st_dev, found.st_ino)

    def unwritable(self) -> str | None:
        """Why SQLite could not create or write this file, or None.

        SQLite says only "unable to open database file"; its journal and WAL are created
        next to the file, so the directory must be writable even when the file exists.
        """
        folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            return f"cannot write to {folder} (no such directory)"
        if not os.access(folder, os.W_OK | os.X_OK) or (
            os.path.exists(self.path) and not os.access(self.path, os.R_OK | os.W_OK)
        ):
            return f"cannot write to {folder} (read-only directory or no permission)"
        return None

    def trouble(self) -> str | None:
        """Why writes to this file cannot be trusted now, or None."""
        try:
            found = os.stat(self.path)
            with open(self.path, "rb") as file:
                header = file.read(_HEADER)
        except OSError as exc:
            return self._unreadable(exc)
        lost = self._other_file(found)
        if lost is not None:
            return lost
        if not header:
            return f"{self.shown} was truncated to 0 bytes"
        if len(header) < _HEADER or not header.startswith(_MAGIC):
            return f"{self.shown} has a damaged header: it is not an SQLite database any more"
        size = _size_in_header(header)
        # A failed checkpoint may have left the header ahead of the file: the WAL has the rest.
        if not self._checkpoint_owed and size is not None and found.st_size < size:
            return f"{self.shown} was truncated: {found.st_size} bytes, its header says {size}"
        if self._disk_full:
            return f"{self.shown}: the disk was full, the WAL is not checkpointed since"
        return None

    def after_write(self, engine: Engine) -> None:
        """After a committed write. Never raises: the write is kept."""
        try:
            lost = self._other_file(os.stat(self.path))
        except OSError as exc:
            lost = self._unreadable(exc)
        if lost is not None and not self._lost_logged:
            self._lost_logged = True
            logger.error("state file lost under the open store; restart it", reason=lost)
        if self._checkpoint_owed or self._wal_bytes() > WAL_LIMIT:
            self._checkpoint(engine)

    def disk_full(self, engine: Engine) -> None:
        """A write failed on a full disk: checkpoint now, and after each write until one
        succeeds (the WAL holds disk space a checkpoint gives back)."""
        self._disk_full = self._checkpoint_owed = True
        self._checkpoint(engine)

    def _unreadable(self, exc: OSError) -> str:
        if isinstance(exc, FileNotFoundError):
            return f"{self.shown} was deleted while open: writes go to a file no one will read"
        return f"{self.shown} cannot be read: {exc.strerror}"

    def _other_file(self, found: os.stat_result) -> str | None:
        if self._identity is not None and (found.st_dev, found.st_ino) != self._identity:
            return f"{self.shown} was replaced while open: writes go to a file no one will read"
        return None

    def _wal_bytes(self) -> int:
        try:
            return os.stat(self.path + "-wal").st_size
        except OSError:
            return 0

    def _checkpoint(self, engine: Engine) -> None:
        error = ""
        try:
            # A raw connection: the PRAGMA must run outside a transaction.
            raw = engine.raw_connection()
            try:
                cursor: Any = raw.cursor()
                busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                cursor.close()
            finally:
                raw.close()
        except (sqlite3.Error, SQLAlchemyError) as exc:
            busy, error = 1, str(exc)
        failed = busy != 0  # busy: a reader kept it from finishing
        if failed and not self._checkpoint_owed:
            logger.warning("state WAL checkpoint failed; retried after each write", error=error)
        elif not failed and self._checkpoint_owed:
            logger.info("state WAL checkpointed", path=self.path)
        self._checkpoint_owed = failed
        self._disk_full = self._disk_full and failed


def _size_in_header(header: bytes) -> int | None:
    """The database's size in bytes its header gives, when the header vouches for it."""
    page_size = int.from_bytes(header[16:18], "big")
    pages = int.from_bytes(header[28:32], "big")
    # The page count is valid only when the change counter matches "version-valid-for".
    if not pages or header[24:28] != header[92:96]:
        return None
    return pages * (65536 if page_size == 1 else page_size)
