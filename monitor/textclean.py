"""Plain text out of feed fields: HTML to text, control characters out, bounded length.

Pure functions, no I/O. Feed text ends up in rule matching, snippets and webhook bodies, so
it must be plain (no markup), printable and of bounded size whatever a publisher sends.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

# Elements whose text is never reader-visible prose.
_DROPPED = frozenset({"script", "style", "template", "head", "title", "noscript", "iframe", "svg"})
# Elements that start a new line of text; every other element is inline.
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "td", "th",
        "tr", "ul", "caption", "tbody", "thead", "tfoot",
    }
)  # fmt: skip

# C0 controls except tab/newline, DEL, C1 controls, lone surrogates (JSON can carry them and
# they cannot be encoded as UTF-8 later), and the non-characters U+FFFE/U+FFFF.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACES = re.compile(r"[^\S\n]+")  # any whitespace run except newlines
_ANY_SPACE = re.compile(r"\s+")
_MARKUP_HINT = re.compile(r"[<&]")
# A tag with quoted attribute values only (none holding < or >), for ``tidy_markup_parts``.
_TIDY_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9]*)"
    r"((?:\s+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'))?)*)"
    r"\s*(/?)>"
)
# Elements whose content html.parser reads as raw text (in some Python version or other).
_RAW_TEXT_ELEMENT = re.compile(
    r"<\s*/?\s*(?:script|style|textarea|title|xmp|iframe|noembed|noframes|noscript|plaintext)",
    re.IGNORECASE,
)
ELLIPSIS = "…"


class _TextExtractor(HTMLParser):
    """Collects reader-visible text; block elements become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._dropping = 0  # depth inside script/style/...

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:
            self._dropping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        elif tag == "img":
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <p/>, <script/>: no content, so never enters a dropped region.
        if tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            self._dropping = max(0, self._dropping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.parts.append(data)


def remove_controls(text: str) -> str:
    """Drop control characters, lone surrogates and non-characters; tabs become spaces."""
    return _CONTROL.sub("", text.replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n"))


def _tidy_lines(text: str) -> str:
    """Collapse whitespace within lines, drop empty lines."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def html_to_text(markup: str) -> str:
    """Reader-visible text of an HTML fragment: tags out, entities decoded, script/style
    dropped, block elements on their own lines, whitespace collapsed."""
    if not _MARKUP_HINT.search(markup):
        return _tidy_lines(remove_controls(markup))
    parts = tidy_markup_parts(markup)
    if parts is None:
        parts = parsed_markup_parts(markup)
    return _tidy_lines(remove_controls("".join(parts)))


def parsed_markup_parts(markup: str) -> list[str]:
    """The text pieces of any markup, by ``html.parser`` (pure Python, so the slow way)."""
    extractor = _TextExtractor()
    extractor.feed(markup)
    extractor.close()
    return extractor.parts


def tidy_markup_parts(markup: str) -> list[str] | None:
    """The same pieces as ``parsed_markup_parts`` for tidy markup, ~5x faster; else None.

    Tidy: text, entities and tags whose attributes are all quoted, nothing else. Comments,
    CDATA, doctypes, a ``<`` that opens no tag, unquoted attributes and elements whose
    content is raw text to a parser (script, style, ...) are left to ``html.parser``. Only
    the tokenizing is done here: the pieces come from the same ``_TextExtractor`` handlers.
    """
    if _RAW_TEXT_ELEMENT.search(markup):
        return None
    extractor = _TextExtractor()
    position = 0
    while True:
        opening = markup.find("<", position)
        text = markup[position:] if opening < 0 else markup[position:opening]
        if text:
            extractor.handle_data(unescape(text))
        if opening < 0:
            return extractor.parts
        tag = _TIDY_TAG.match(markup, opening)
        if tag is None:
            return None
        closing, name, attributes, self_closing = tag.groups()
        name = name.lower()
        if closing:
            if attributes or self_closing:
                return None
            extractor.handle_endtag(name)
        elif self_closing:
            extractor.handle_startendtag(name, [])
        else:
            extractor.handle_starttag(name, [])
        position = tag.end()


def plain_text(text: str) -> str:
    """Text that is already plain (no markup): controls out, whitespace collapsed."""
    return _tidy_lines(remove_controls(text))


def one_line(text: str) -> str:
    """Collapse every whitespace run, newlines included, to one space (titles, names)."""
    return _ANY_SPACE.sub(" ", remove_controls(text)).strip()


def truncate(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut on a word boundary, with an ellipsis when cut.

    Falls back to a hard cut when the text has no space in its last quarter (one huge word).
    """
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    space = max(head.rfind(" "), head.rfind("\n"))
    if space >= len(head) * 3 // 4:
        head = head[:space]
    return head.rstrip() + ELLIPSIS


def bounded_text(raw: str, limit: int, *, is_html: bool, single_line: bool = False) -> str:
    """Plain, bounded text from a raw field value.

    The raw value is cut before conversion so a megabyte of markup costs no more than needed:
    the text of ``8 * limit`` raw characters is more than ``limit`` for any real markup.
    """
    raw = raw[: limit * 8]
    text = html_to_text(raw) if is_html else plain_text(raw)
    if single_line:
        text = " ".join(text.split("\n"))
    return truncate(text, limit)
