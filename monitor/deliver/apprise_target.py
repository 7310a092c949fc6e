"""Apprise targets: a webhook entry with ``apprise: <Apprise URL>`` instead of ``url``.

Such a delivery goes through the same outbox, lanes, breaker and retry schedule as an HTTP
one; only the attempt differs. Apprise's ``notify`` is synchronous and does its own
networking, so it runs in a worker thread, bounded by the webhook's ``timeout`` (Apprise's
own call deadline, and ours around the thread). A ``False`` result, a timeout or an
exception is a failed attempt, retried on the schedule; there is no HTTP status, so an
Apprise target is never disabled by a 410.

The message is plain text: the item's title, its link (only a plain http(s) URL) and the
matched snippets, each line cut to a budget, so every message is bounded whatever the feed.
A digest (``alert.digest``) is its heading as the title and one line per listed alert (title,
rule, link), whole lines within a budget, then how many more it had no room for.

SSRF guard: Apprise opens its own connections, out of the guarded httpx transport's sight.
Before each attempt the URL's host is resolved and every address must pass
``monitor.net.guard.check_address`` (private and loopback hosts are refused unless
``network.allow_private``); a host that does not resolve is taken as a service token
(``discord://webhook_id/token`` has no network host: Apprise sends to the service's fixed
public API), and is let through. Then the HTTP requests Apprise makes run inside
``monitor.net.requests_guard``: each connection is checked as it is made and its socket
opens to the very address checked (no DNS rebinding), no redirect is followed (a redirect
is a failed attempt, its ``last_error`` says so), and an answer is read up to ``ANSWER_LIMIT``.
Plugins that speak another protocol (SMTP, MQTT, ...) get the first check only: a DNS answer
that changes between it and their connect (DNS rebinding) is not caught.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from monitor.config.apprise_url import apprise_host, load_apprise
from monitor.documents.links import safe_link
from monitor.documents.markup import (
    BLANK,
    DIGEST_LINE_TITLE,
    LABEL_LIMIT,
    PLAIN,
    digest_heading,
    fill_lines,
    match_lines,
    more_line,
    text,
    units,
)
from monitor.documents.payload import is_digest
from monitor.errors import FetchError
from monitor.net.guard import NetworkPolicy, check_address

TITLE_LIMIT = 250
MATCHES_LIMIT = 1500  # all snippet lines together
DIGEST_BODY_LIMIT = 4000  # a digest's lines together, its "and N more" included
UNTITLED = "(untitled)"
# A service's answer is read up to this: plugins parse some (JSON), none needs more.
ANSWER_LIMIT = 1024 * 1024


def apprise_message(payload: dict[str, Any]) -> tuple[str, str]:
    """``(title, body)`` of an ``alert.matched`` or ``alert.digest`` payload: plain text,
    bounded."""
    if is_digest(payload):
        return digest_message(payload)
    data = payload["data"]
    item = data["item"]
    title = text(item["title"], TITLE_LIMIT, PLAIN, placeholder=UNTITLED)
    lines = [f"{data['rule']}: {title}"]
    link = safe_link(item["link"])
    if link:
        lines.append(link)
    lines += match_lines(data["matches"], MATCHES_LIMIT, PLAIN)
    return title, "\n".join(lines)


def digest_message(payload: dict[str, Any]) -> tuple[str, str]:
    """``(title, body)`` of an ``alert.digest`` payload: the heading, a line per alert."""
    data = payload["data"]
    lines = []
    for entry in data["alerts"]:
        line = "• " + text(entry["title"], DIGEST_LINE_TITLE, PLAIN, placeholder=UNTITLED)
        line += " · " + text(entry["rule"], LABEL_LIMIT, PLAIN, placeholder=BLANK)
        link = safe_link(entry["link"])
        lines.append(f"{line} {link}" if link else line)
    room = DIGEST_BODY_LIMIT - units(more_line(data["count"], 0)) - 1
    kept, count = fill_lines(lines, room)
    more = more_line(data["count"], count)
    return text(digest_heading(data), TITLE_LIMIT, PLAIN), "\n".join(
        [*kept, more] if more else kept
    )


def check_apprise_url(url: str, policy: NetworkPolicy) -> None:
    """Raise ``FetchError`` if ``url`` is unknown to Apprise or its host is not allowed."""
    host = apprise_host(url)
    if host is None:
        scheme = url.split("://", 1)[0]
        raise FetchError("refused", f"not a usable Apprise URL (scheme {scheme!r})")
    if not host:
        return
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return  # not a network host: a service token (see the module docstring)
    for info in infos:
        check_address(str(info[4][0]), policy, host=host)


def notify(url: str, title: str, body: str, timeout: float, policy: NetworkPolicy) -> str | None:
    """Send one message (blocking); the error text, or None once Apprise accepted it."""
    # Imported here as Apprise is: it loads requests, which only Apprise targets use.
    from monitor.net.requests_guard import guarded_requests

    try:
        check_apprise_url(url, policy)
        sender = load_apprise().Apprise()
        if not sender.add(url):
            return "Apprise refused the URL"
        with guarded_requests(policy, timeout=timeout, body_limit=ANSWER_LIMIT) as egress:
            result = sender.notify(body=body, title=title, timeout=timeout)
    except FetchError as exc:
        return str(exc)
    except Exception as exc:  # a plugin may raise anything; each is one failed attempt
        return f"Apprise: {exc.__class__.__name__}: {exc}"
    if result:
        return None
    if egress.refusal is not None:  # the plugin saw a refused connection or redirect
        return egress.refusal
    return f"Apprise notify failed: {result.status.name.lower()}"


async def notify_async(
    url: str, payload: dict[str, Any], timeout: float, policy: NetworkPolicy
) -> str | None:
    """``notify`` off the event loop; the error text, or None if delivered."""
    title, body = apprise_message(payload)
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(notify, url, title, body, timeout, policy)
    except TimeoutError:
        return f"timed out after {timeout:g}s"
