"""Secrets kept in: the one rule for how a URL or an error is shown outside the process.

Pure, standard library only, at the bottom of the package: every stage that lets text out
(webhook payloads, logs, CLI output, stored error texts) uses these functions, so "what is a
secret" has one answer.

A URL carries credentials in three places:

* its userinfo (``https://user:pass@host/``) -- removed;
* its query or fragment (``?token=...``) -- a parameter whose name looks secret keeps its
  name, its value becomes ``***``; the rest of the URL is kept as it is;
* its path, for chat webhooks (Slack, Discord, Teams: the path *is* the credential) -- so a
  webhook URL is shown as scheme and host only (``webhook_display``).

Free text (an exception's message, an error from a library) can hold URLs and values known
to be secret; ``redact_text`` deals with both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

REDACTED = "***"

# Parameter names taken as secret, also as the last word of a longer name (x-api-key,
# client_secret, refresh_token). Case and the separators - _ . do not matter.
_SECRET_WORDS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "auth",
        "auth_code",
        "authorization",
        "credential",
        "credentials",
        "hmac",
        "jwt",
        "key",
        "pass",
        "passwd",
        "password",
        "pwd",
        "secret",
        "sessid",
        "session_id",
        "sessionid",
        "sig",
        "signature",
        "token",
    }
)
# Secret only as the whole name: as a last word they mostly are not (status_code, zip_code).
_SECRET_NAMES = frozenset({"code", "session"})
# A word this long is secret at the end of a name even without a separator before it
# (authtoken, sslpassword); a shorter one needs the separator (feed_key, not monkey).
_BARE_SUFFIX = 5
_SEPARATORS = re.compile(r"[-.\s]")
# A URL inside free text: a scheme, ``://``, then up to whitespace, a quote or an angle
# bracket, and not the punctuation that ends a sentence or a parenthesis after it.
_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]*[^\s'\"<>`.,;:!?)\]]")
# Known secret values shorter than this are not replaced in free text: they would blank
# out ordinary words, and the places a URL keeps them are redacted by rule anyway.
MIN_SECRET_LENGTH = 4


def is_secret_name(name: str) -> bool:
    """Whether a query parameter (or log key) named ``name`` holds a secret."""
    normalized = _SEPARATORS.sub("_", unquote_plus(name).strip().lower())
    if normalized in _SECRET_NAMES or normalized in _SECRET_WORDS:
        return True
    for word in _SECRET_WORDS:
        if normalized.endswith(word):
            before = normalized[-len(word) - 1]
            if before == "_" or len(word) >= _BARE_SUFFIX:
                return True
    return False


def _redact_params(text: str) -> str:
    """``a=1&token=x`` -> ``a=1&token=***``: only secret-named values change."""
    parts = []
    for part in text.split("&"):
        name, equals, value = part.partition("=")
        if equals and value and is_secret_name(name):
            part = f"{name}={REDACTED}"
        parts.append(part)
    return "&".join(parts)


def _split(url: str) -> tuple[str, str, str]:
    """``(scheme + "://", authority, rest)``; no ``://``: ``("", "", url)``.

    Split by hand, not by ``urllib.parse``: any text must redact without an error, and what
    is not a secret must come out exactly as it went in.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return "", "", url
    end = _delimiter(rest)
    at = rest.rfind("@")
    if at > end:
        # An @ past the first / ? #: in the path, or in a password written unencoded
        # (``user:pa/ss@host``, which database URLs accept). ``host:8080`` is a port.
        _user, colon, after = rest[:end].partition(":")
        if colon and not after.isdigit():
            end = at + _delimiter(rest[at:])
    return scheme + separator, rest[:end], rest[end:]


def _delimiter(text: str) -> int:
    """Where the authority at the start of ``text`` ends: its first / ? or #."""
    return min((i for i in (text.find(c) for c in "/?#") if i >= 0), default=len(text))


def redact_url(url: str) -> str:
    """``url`` without userinfo, its secret-named query and fragment values as ``***``."""
    scheme, authority, rest = _split(url)
    host = authority.rpartition("@")[2]
    rest, hash_mark, fragment = rest.partition("#")
    path, question_mark, query = rest.partition("?")
    if "=" in fragment:  # an OAuth-style fragment carries parameters too
        fragment = _redact_params(fragment)
    return f"{scheme}{host}{path}{question_mark}{_redact_params(query)}{hash_mark}{fragment}"


def webhook_display(url: str | None) -> str:
    """A webhook URL as scheme and host (with its port): its path may be its credential."""
    if url is None:
        return REDACTED
    scheme, authority, _rest = _split(url)
    if not scheme:
        return REDACTED
    return scheme + authority.rpartition("@")[2]


def url_secrets(url: str) -> tuple[str, ...]:
    """The secret values written in ``url``: its password (or a userinfo that is only a
    token) and its secret-named query values, each as written and percent-decoded."""
    _scheme, authority, rest = _split(url)
    userinfo, at, _host = authority.rpartition("@")
    found: list[str] = []
    if at:
        user, colon, password = userinfo.partition(":")
        found.append(password if colon else user)
    query = rest.partition("#")[0].partition("?")[2]
    for part in query.split("&"):
        name, equals, value = part.partition("=")
        if equals and is_secret_name(name):
            found.append(value)
    decoded = [unquote_plus(value) for value in found]
    return tuple(dict.fromkeys(value for value in (*found, *decoded) if value))


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each known secret value replaced by ``***`` and each URL in it redacted.

    ``secrets`` are values known to be secret (webhook secrets, webhook URLs, passwords);
    those shorter than ``MIN_SECRET_LENGTH`` are left to the URL rule.
    """
    known = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
    for secret in known:  # the longest first: a secret may contain a shorter one
        text = text.replace(secret, REDACTED)
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)
