"""The sender tests' store: a real SQLite outbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from tests.deliver.consumer import Consumer, open_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite outbox for the sender's tests (the store contract runs on both backends)."""
    s = open_store(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def consumers() -> Iterator[list[Consumer]]:
    """Every consumer a test starts (``consumer.start``), closed afterwards."""
    started: list[Consumer] = []
    try:
        yield started
    finally:
        for consumer in started:
            consumer.close()
