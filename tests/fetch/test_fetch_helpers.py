"""Pure pieces of the fetcher: freshness lifetime, bounded inflating."""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime

import pytest

from monitor.errors import FetchError
from monitor.fetch.caching import parse_max_age
from monitor.fetch.inflate import Inflater

NOW = datetime(2024, 10, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"cache-control": "max-age=300"}, 300.0),
        ({"cache-control": "public, s-maxage=10, max-age=60"}, 60.0),
        ({"cache-control": "no-cache"}, 0.0),
        ({"cache-control": "private, no-store"}, 0.0),
        ({"cache-control": "must-revalidate"}, None),
        ({"expires": "Tue, 01 Oct 2024 13:00:00 GMT"}, 3600.0),
        (
            {"expires": "Tue, 01 Oct 2024 13:00:00 GMT", "date": "Tue, 01 Oct 2024 12:30:00 GMT"},
            1800.0,
        ),
        ({"expires": "0"}, 0.0),
        ({"expires": "Tue, 01 Oct 2024 11:00:00 GMT"}, 0.0),
        ({"cache-control": "max-age=120", "expires": "0"}, 120.0),
    ],
)
def test_parse_max_age(headers: dict[str, str], expected: float | None) -> None:
    assert parse_max_age(headers, NOW) == expected


DATA = b"news " * 50_000


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize(
    ("encoding", "encoded"),
    [
        ("identity", DATA),
        ("", DATA),
        ("gzip", gzip.compress(DATA)),
        ("x-gzip", gzip.compress(DATA)),
        ("GZIP", gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:])),  # two members
        ("gzip", gzip.compress(DATA) + b"\0\0\0"),  # zero padding after the member
        ("deflate", zlib.compress(DATA)),
        ("deflate", zlib.compress(DATA)[2:-4]),
    ],
)
@pytest.mark.parametrize("chunk", [1, 7, 65536])
def test_inflater_round_trip_in_bounded_pieces(encoding: str, encoded: bytes, chunk: int) -> None:
    inflater = Inflater(encoding)
    pieces = [p for part in split(encoded, chunk) for p in inflater.feed(part)]
    inflater.finish()
    assert b"".join(pieces) == DATA
    assert max(len(p) for p in pieces) <= 65536


@pytest.mark.parametrize(
    ("encoding", "data", "message"),
    [
        ("br", b"", "unsupported content-encoding 'br'"),
        ("gzip, gzip", b"", "unsupported content-encoding"),
        ("gzip", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff", "corrupt gzip"),
        ("gzip", gzip.compress(DATA)[:-20], "truncated gzip body"),
        ("deflate", b"x", "truncated deflate body"),
        ("deflate", b"\x78\x9c\xff\xff\xff", "corrupt deflate body"),
    ],
)
def test_inflater_errors(encoding: str, data: bytes, message: str) -> None:
    def inflate() -> None:
        inflater = Inflater(encoding)
        list(inflater.feed(data))
        inflater.finish()

    with pytest.raises(FetchError, match=message) as caught:
        inflate()
    assert caught.value.kind == "decode"
