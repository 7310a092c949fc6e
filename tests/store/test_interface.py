"""``Store`` satisfies the protocol of each of its consumers (``monitor.store.interface``).

mypy checks ``as_consumers`` (``test_mypy_agrees``); the other test compares the calls'
parameters at run time, so a drift shows up in a plain test run too.
"""

from __future__ import annotations

import inspect

import mypy.api
import pytest

from monitor.store import Store
from monitor.store.interface import CliStore, DaemonStore, PollerStore, SenderStore

PROTOCOLS = (PollerStore, SenderStore, DaemonStore, CliStore)


def as_consumers(store: Store) -> tuple[PollerStore, SenderStore, DaemonStore, CliStore]:
    return store, store, store, store


def members(protocol: type) -> list[str]:
    return [name for name in vars(protocol) if not name.startswith("_")]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_store_has_every_call_with_the_same_parameters(store: Store, protocol: type) -> None:
    for name in members(protocol):
        wanted = getattr(protocol, name)
        if isinstance(wanted, property):
            assert isinstance(getattr(store, name), int), name
            continue
        given = inspect.signature(getattr(store, name))
        expected = inspect.signature(wanted).replace(
            parameters=list(inspect.signature(wanted).parameters.values())[1:]  # self
        )
        assert [(p.name, p.kind, p.default) for p in given.parameters.values()] == [
            (p.name, p.kind, p.default) for p in expected.parameters.values()
        ], name


def test_mypy_agrees() -> None:
    out, err, status = mypy.api.run(["--strict", "--follow-imports=silent", __file__])
    assert status == 0, out + err
