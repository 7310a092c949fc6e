"""The database under the store: one engine, its dialect's quirks, and the error boundary.

* SQLite (the embedded default) runs in WAL with a durable commit, and a write transaction
  takes the write lock up front (``BEGIN IMMEDIATE``); PostgreSQL needs nothing extra.
* On SQLite, the file is watched and its WAL checkpointed (``sqlitefile``).
* ``writes`` runs a write transaction again when the database aborted it to break a
  deadlock; ``reads`` and ``writes`` turn every ``SQLAlchemyError`` into ``StoreError``,
  so nothing above the store knows SQLAlchemy, and no message shows the URL's password.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import Connection, Engine, Select, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from monitor.errors import ConfigError, StoreError
from monitor.redact import redact_text, redact_url, url_secrets
from monitor.store.sqlitefile import SqliteFile, is_disk_full

# PostgreSQL deadlock / serialization failure, SQLite busy: the transaction was rolled back
# whole, so running it again is safe.
_TRANSIENT_SQLSTATES = {"40P01", "40001"}
_ATTEMPTS = 4


class _WriteIntent(threading.local):
    active = False


# Set while this thread opens a write transaction (``Database.write``).
_write_intent = _WriteIntent()


def _sqlite_pragmas(engine: Engine, file: SqliteFile | None) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" below decide transactions, not pysqlite's guesswork.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed alert survives a crash
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if file is not None:
            file.opened()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Connection) -> None:
        # A write takes the write lock up front: no deadlock upgrading a read to a write.
        # A read (``Database.read``) must not take it: in WAL, reads never wait for writers.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _write_intent.active else "BEGIN")


class Database:
    """An SQLite or PostgreSQL database. Thread-safe: each transaction has its connection."""

    def __init__(self, url: str) -> None:
        # The one redaction rule: no password or secret query value (``?password=``) in a
        # message, whether it quotes the URL or the driver repeats a part of it.
        self._secrets = url_secrets(url)
        self.shown_url = redact_url(url)
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):  # psycopg 3 is the driver we ship, not psycopg2
                url = "postgresql+psycopg://" + url.removeprefix(plain)
        try:
            self.engine = create_engine(url, future=True)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise StoreError(self.redact(f"state {self.shown_url!r}: {exc}")) from None
        self.dialect = self.engine.dialect.name
        # The SQLite database file (None: PostgreSQL, an in-memory database, or a URI,
        # whose file is the driver's to find).
        self.file: SqliteFile | None = None
        if self.dialect == "sqlite":
            path = self.engine.url.database
            if path and path != ":memory:" and "uri" not in self.engine.url.query:
                self.file = SqliteFile(path)
                unwritable = self.file.unwritable()
                if unwritable is not None:
                    # The operator's to fix where the state is put: a config error (exit 2).
                    raise ConfigError(f"state {self.shown_url}: {unwritable}")
            _sqlite_pragmas(self.engine, self.file)
        elif self.dialect != "postgresql":
            raise StoreError(
                f"state {self.shown_url!r}: only sqlite:// and postgresql:// are supported"
            )
        # SQLite has one writer at a time and its busy handler polls rather than queues: with
        # dozens of polls committing at once, a thread can lose every race for longer than
        # busy_timeout. This process's writers queue on a lock instead.
        self._writer: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.dialect == "sqlite" else contextlib.nullcontext()
        )
        self.queries = 0  # statements sent, for /status and capacity planning
        event.listen(self.engine, "before_cursor_execute", self._count_query)

    def _count_query(self, *_args: Any) -> None:
        self.queries += 1

    def read(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection for reads (on SQLite in WAL, it never waits for a writer)."""
        return self.engine.connect()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction, committed on leaving, rolled back on an exception."""
        with self._writer:
            _write_intent.active = True
            try:
                with self.engine.begin() as conn:
                    yield conn
            except OperationalError as exc:
                if self.file is not None and is_disk_full(exc):
                    self.file.disk_full(self.engine)
                raise
            finally:
                _write_intent.active = False
            if self.file is not None:
                self.file.after_write(self.engine)

    def file_trouble(self) -> str | None:
        """Why the SQLite file cannot be trusted with writes now (``SqliteFile.trouble``)."""
        if self.file is None:
            return None
        with self._writer:
            return self.file.trouble()

    def insert(self, table: Table) -> Any:
        """The dialect's INSERT, which knows ON CONFLICT (both spell it the same way)."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    def skip_locked(self, query: Select[Any]) -> Select[Any]:
        """Rows another transaction is claiming are skipped, not waited for."""
        if self.dialect == "postgresql":
            return query.with_for_update(skip_locked=True)
        return query  # SQLite: BEGIN IMMEDIATE already serializes writers

    def redact(self, message: str) -> str:
        return redact_text(message, self._secrets)

    def failure(self, exc: SQLAlchemyError, doing: str = "") -> StoreError:
        """``exc`` as a ``StoreError``: its message, without the URL's password."""
        return StoreError(self.redact(f"{doing}{exc}"))

    def close(self) -> None:
        self.engine.dispose()


class _OnDatabase(Protocol):
    @property
    def db(self) -> Database: ...


_S = TypeVar("_S", bound=_OnDatabase)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _is_transient(exc: OperationalError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate in _TRANSIENT_SQLSTATES or "database is locked" in str(exc.orig)


def reads(
    method: Callable[Concatenate[_S, _P], _R],
) -> Callable[Concatenate[_S, _P], _R]:
    """A store operation that raises ``StoreError`` for any database failure."""

    @functools.wraps(method)
    def run(part: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(part, *args, **kwargs)
        except SQLAlchemyError as exc:
            raise part.db.failure(exc) from exc

    return run


def writes(
    method: Callable[Concatenate[_S, _P], _R],
) -> Callable[Concatenate[_S, _P], _R]:
    """A store operation with a write transaction: run again when the database aborted it
    to break a deadlock (nothing of it was kept), else as ``reads``."""

    @functools.wraps(method)
    def run(part: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                return method(part, *args, **kwargs)
            except OperationalError as exc:
                if attempt == _ATTEMPTS or not _is_transient(exc):
                    raise part.db.failure(exc) from exc
                time.sleep(0.02 * attempt)
            except SQLAlchemyError as exc:
                raise part.db.failure(exc) from exc
        raise AssertionError("unreachable")

    return run
