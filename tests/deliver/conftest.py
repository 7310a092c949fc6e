"""The sender tests' store: a real SQLite outbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from tests.deliver.consumer import open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite outbox for the sender's tests (the store contract runs on both backends)."""
    s = open_store(tmp_path)
    try:
        yield s
    finally:
        s.close()
