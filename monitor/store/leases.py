"""Leases on feed and delivery rows: who works on a row, until when, under which token.

A claim leases rows so no one else picks them up while they are in flight; whatever ends
the work (a recorded poll or attempt, a release, a take-over, a replay) un-leases them.

Every claim and take-over bumps the row's ``lease_token`` (a fencing token). A lease can
end without its holder knowing (a process that stood still past its heartbeats is taken
over), so the holder's writes carry the token it claimed under and the store refuses them
once it is not the row's current one: the work is then someone else's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, Update, update


def lease_rows(conn: Connection, key: Any, keys: Sequence[Any], owner: str, until: float) -> None:
    """Mark rows (already locked by the claiming SELECT) as ``owner``'s until ``until``,
    under a new token."""
    table = key.table
    conn.execute(
        update(table)
        .where(key.in_(list(keys)))
        .values(lease_owner=owner, lease_until=until, lease_token=table.c.lease_token + 1)
    )


def unlease(table: Table, *where: ColumnElement[bool], **values: Any) -> Update:
    """UPDATE that frees the matching rows, and sets ``values`` on them."""
    return update(table).where(*where).values(lease_owner=None, lease_until=None, **values)


def take_back(table: Table, *where: ColumnElement[bool]) -> Update:
    """UPDATE that frees the matching rows from their holder, whose token goes stale: what
    it still writes under it is refused."""
    return unlease(table, *where, lease_token=table.c.lease_token + 1)
