"""What a body is before any parser sees it: JSON or XML, not HTML or binary, which charset."""

from __future__ import annotations

import codecs
import re

from monitor.errors import FeedParseError

_JSON_TYPES = frozenset({"application/feed+json", "application/json"})
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# Single-byte charsets a server often claims by default for a body that is really UTF-8.
_SINGLE_BYTE = re.compile(r"^(ascii|latin_1|iso8859_\d+|cp125\d)$")
_HTML_START = re.compile(
    rb"^(?:\s|<\?.*?\?>|<!--.*?-->)*<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f]")


def media_type(content_type: str | None) -> tuple[str, str | None]:
    """(lower-case media type, charset or None) of a Content-Type header value."""
    if not content_type:
        return "", None
    mime, _, params = content_type.partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip(" \"'"):
            charset = value.strip(" \"'")
    return mime.strip().lower(), charset


def is_json(stripped: bytes, mime: str) -> bool:
    """Whether a body (leading BOM and whitespace stripped) is to be read as JSON: it opens
    an object, or is served as JSON and does not open a tag."""
    return stripped.startswith(b"{") or (mime in _JSON_TYPES and not stripped.startswith(b"<"))


def reject_non_xml(stripped: bytes, body: bytes) -> None:
    """Fail fast, with a clear reason, on bodies that cannot be a feed."""
    head = stripped[:1024]
    if _HTML_START.match(head):
        raise FeedParseError("not a feed: looks like an HTML page")
    utf16_or_32 = body.startswith(_BOMS[1:]) or head[:2] in (b"<\x00", b"\x00<")
    if not utf16_or_32 and (b"\x00" in head or len(_BINARY_BYTES.findall(head)) > 8):
        raise FeedParseError("not a feed: binary data")


def trusted_charset(body: bytes, charset: str | None) -> str | None:
    """The HTTP charset, unless the body itself says better.

    A byte-order mark wins over the header. A body that is valid UTF-8 with non-ASCII bytes
    is UTF-8 even when the server claims a single-byte charset (a common server default):
    real Latin-1 text is practically never valid UTF-8.
    """
    if charset is None or body.startswith(_BOMS):
        return None
    try:
        codec = codecs.lookup(charset).name
    except LookupError:
        return None
    if _SINGLE_BYTE.match(codec.replace("-", "_")) and not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return charset
        return None
    return charset
