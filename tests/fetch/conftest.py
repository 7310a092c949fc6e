"""Fixtures: a helper to run fetches against the misbehaving real ``server`` (in
tests/conftest.py) or against a ``site`` behind a mock transport (no socket)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from monitor.fetch.fetcher import Fetcher
from monitor.models import FetchResult
from monitor.net.guard import NetworkPolicy
from tests.fetch.mock import MockSite

LOCAL = NetworkPolicy(allow_private=True)


@dataclass
class FetchRunner:
    """Runs fetches in a fresh event loop with a fresh Fetcher (short limits for tests)."""

    defaults: dict[str, Any] = field(
        default_factory=lambda: {"policy": LOCAL, "timeout": 2.0, "deadline": 5.0}
    )

    def __call__(self, url: str, **kwargs: Any) -> FetchResult:
        return self.many([url], **kwargs)[0]

    def many(
        self,
        urls: list[str],
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        **fetcher_kwargs: Any,
    ) -> list[FetchResult]:
        async def go() -> list[FetchResult]:
            async with Fetcher(**{**self.defaults, **fetcher_kwargs}) as fetcher:
                jobs = [fetcher.fetch(u, etag=etag, last_modified=last_modified) for u in urls]
                return list(await asyncio.gather(*jobs))

        return asyncio.run(go())


@pytest.fixture
def fetch() -> FetchRunner:
    return FetchRunner()


@pytest.fixture
def site() -> MockSite:
    return MockSite()


@pytest.fixture
def fetch_mock(site: MockSite) -> FetchRunner:
    """Fetches that go through ``site``'s mock transport."""
    runner = FetchRunner()
    runner.defaults["transport"] = site.transport
    return runner
