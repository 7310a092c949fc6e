"""Content-Encoding decoding in bounded pieces, so a decompression bomb is never held whole."""

from __future__ import annotations

import zlib
from collections.abc import Iterator

from monitor.errors import FetchError

# Only encodings we can inflate with a bounded output size (zlib's max_length).
ACCEPT_ENCODING = "gzip, deflate"
_INFLATE_STEP = 64 * 1024  # decompressed bytes produced per zlib call


class Inflater:
    """Bounded, incremental decoder for a Content-Encoding (identity, gzip, deflate).

    ``feed`` yields pieces of at most 64 KiB however well the input compresses, so a
    decompression bomb is stopped by the caller's size count, never held in memory.
    """

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding.strip().lower() or "identity"
        if self.encoding not in ("identity", "gzip", "x-gzip", "deflate"):
            raise FetchError("decode", f"unsupported content-encoding {encoding!r}")
        self._zlib: zlib._Decompress | None = None
        self._head = b""  # deflate: bytes held until the zlib header can be checked

    def _new_decompressor(self, data: bytes) -> zlib._Decompress:
        if self.encoding == "deflate":
            # "deflate" should be zlib-wrapped; some servers send a raw deflate stream.
            wrapped = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            return zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.encoding == "identity":
            if data:
                yield data
            return
        if self._zlib is None:
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            self._zlib = self._new_decompressor(data)
        try:
            while data:
                piece = self._zlib.decompress(data, _INFLATE_STEP)
                if piece:
                    yield piece
                data = self._zlib.unconsumed_tail
                if self._zlib.eof:
                    # A gzip body may be several members back to back; anything after a
                    # deflate stream's end is trailing garbage.
                    rest = self._zlib.unused_data
                    if self.encoding == "deflate" or not rest.strip(b"\0"):
                        return
                    self._zlib = self._new_decompressor(rest)
                    data = rest
        except zlib.error as exc:
            raise FetchError("decode", f"corrupt {self.encoding} body: {exc}") from None

    def finish(self) -> None:
        """Raise if the compressed stream stopped before its end (a truncated body)."""
        if self.encoding != "identity" and (self._zlib is None or not self._zlib.eof):
            raise FetchError("decode", f"truncated {self.encoding} body")
