"""Bring a database to the current schema at start-up (``schema.MIGRATIONS``)."""

from __future__ import annotations

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from monitor.store import schema
from monitor.store.engine import Database

# Taken by the instance that migrates: several starting together wait for it.
_MIGRATION_LOCK = 7146032201


def schema_version(conn: Connection) -> int:
    """The version the database is at (0: an empty database)."""
    return int(conn.execute(select(func.max(schema.schema_version.c.version))).scalar() or 0)


def migrate(db: Database) -> None:
    """Apply the migrations the database lacks, in one transaction."""
    try:
        with db.write() as conn:
            if db.dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
            schema.schema_version.create(conn, checkfirst=True)
            version = schema_version(conn)
            for step in schema.MIGRATIONS[version:]:
                step(conn)
                version += 1
                conn.execute(schema.schema_version.delete())
                conn.execute(schema.schema_version.insert().values(version=version))
    except SQLAlchemyError as exc:
        raise db.failure(
            exc, f"state {db.shown_url!r}: cannot open: {exc.__class__.__name__}: "
        ) from None
