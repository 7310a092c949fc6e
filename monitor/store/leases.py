"""Leases on feed and delivery rows: who works on a row, until when.

A claim leases rows so no one else picks them up while they are in flight; whatever ends
the work (a recorded poll or attempt, a release, a take-over, a replay) un-leases them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, Update, update


def lease_rows(conn: Connection, key: Any, keys: Sequence[Any], owner: str, until: float) -> None:
    """Mark rows (already locked by the claiming SELECT) as ``owner``'s until ``until``."""
    conn.execute(
        update(key.table).where(key.in_(list(keys))).values(lease_owner=owner, lease_until=until)
    )


def unlease(table: Table, *where: ColumnElement[bool], **values: Any) -> Update:
    """UPDATE that frees the matching rows, and sets ``values`` on them."""
    return update(table).where(*where).values(lease_owner=None, lease_until=None, **values)
