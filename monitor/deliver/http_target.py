"""HTTP webhook targets: one signed POST per attempt, its answer as an ``AttemptReply``.

Redirects are not followed (a signed body must not be replayed to another host) and no
environment proxy is used (it would connect out of the SSRF guard's sight). By default each
webhook sends on SSRF-guarded one-connection clients (``monitor.net.clients``); a transport
passed in (tests: ``httpx.MockTransport``) takes every POST instead.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from monitor.config import WebhookSettings
from monitor.core.delivery import RETRY_AFTER_STATUSES
from monitor.core.httpdate import parse_retry_after
from monitor.documents.render import render
from monitor.documents.sign import signature_headers
from monitor.errors import DeliveryError, FetchError
from monitor.models import AttemptReply, DeliveryJob
from monitor.net.clients import OneConnectionClients, one_connection_transport
from monitor.net.guard import NetworkPolicy

IDLE_CLIENTS_MAX = 256  # idle keep-alive connections kept over all webhooks
ANSWER_LIMIT = 64 * 1024  # bytes of a consumer's answer read; only its status is used


class _WebhookClient(httpx.AsyncClient):
    """One SSRF-guarded connection, kept for its lifecycle: ``OneConnectionClients`` lends
    clients out and closes them. Sends skip the client layer (see ``_exchange``)."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self.transport_direct = one_connection_transport(policy)
        super().__init__(
            transport=self.transport_direct,
            follow_redirects=False,  # a 3xx is a failure: consumers must give the real URL
            trust_env=False,  # an environment proxy would bypass the SSRF guard
        )


async def _exchange(transport: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    """The response, its body read and dropped, its connection back in the pool for the next
    send; a body longer than ``ANSWER_LIMIT`` is not read to its end: closing the response
    then closes its connection, so a consumer's endless answer costs nothing more.

    Straight to the transport: a webhook send needs nothing from the client layer (URL
    merging, cookies, auth, redirects, event hooks), and it cost a quarter of a request's CPU.
    """
    response = await transport.handle_async_request(request)
    try:
        # A transport may answer with the body read already (``httpx.MockTransport``).
        if not response.is_stream_consumed:
            size = 0
            async for chunk in response.aiter_raw():  # raw: the body is dropped, not decoded
                size += len(chunk)
                if size > ANSWER_LIMIT:
                    break
    finally:
        await response.aclose()
    return response


@functools.lru_cache(maxsize=256)
def _url(url: str) -> httpx.URL:
    """Parsed once per webhook URL, not once per send."""
    return httpx.URL(url)


class WebhookPoster:
    """Sends one delivery's signed POST; signs with the time ``wall()`` gives."""

    def __init__(
        self,
        policy: NetworkPolicy,
        wall: Callable[[], float],
        user_agent: str,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._wall = wall
        self._user_agent = user_agent
        self._transport = transport
        # One-connection clients per webhook (a send takes one for its duration); the
        # sender's semaphores cap how many a webhook has busy, so the idle cap is a backstop.
        self.clients = OneConnectionClients(
            lambda: _WebhookClient(policy), max_idle=IDLE_CLIENTS_MAX
        )

    async def aclose(self) -> None:
        await self.clients.aclose()

    async def post(self, hook: WebhookSettings, job: DeliveryJob) -> AttemptReply:
        sent_at = datetime.fromtimestamp(self._wall(), UTC)
        try:
            content_type, body = render(hook.format, job.payload)
            headers = {
                "user-agent": self._user_agent,
                "content-type": content_type,
                "webhook-id": job.alert_id,
            }
            headers["webhook-timestamp"] = str(int(sent_at.timestamp()))
            if hook.secrets:
                headers.update(signature_headers(job.alert_id, sent_at, body, hook.secrets))
        except DeliveryError as exc:  # config validation should make this unreachable
            return AttemptReply(error=str(exc))
        request = httpx.Request(
            "POST",
            _url(hook.url or ""),
            content=body,
            headers=headers,
            extensions={"timeout": httpx.Timeout(hook.timeout).as_dict()},
        )
        try:
            response = await self._send(hook, request)
        except TimeoutError:
            return AttemptReply(error=f"timed out after {hook.timeout:g}s")
        except FetchError as exc:  # the SSRF guard refused the address the host resolves to
            return AttemptReply(error=str(exc))
        except httpx.HTTPError as exc:
            return AttemptReply(error=f"{exc.__class__.__name__}: {exc}" if str(exc) else repr(exc))
        status = response.status_code
        if 200 <= status < 300:
            return AttemptReply(status)
        retry_after = None
        if status in RETRY_AFTER_STATUSES:
            retry_after = parse_retry_after(response.headers.get("retry-after"), sent_at)
        return AttemptReply(
            status, retry_after=retry_after, location=response.headers.get("location")
        )

    async def _send(self, hook: WebhookSettings, request: httpx.Request) -> httpx.Response:
        if self._transport is not None:
            async with asyncio.timeout(hook.timeout):
                return await _exchange(self._transport, request)
        async with self.clients.client(hook.name) as client, asyncio.timeout(hook.timeout):
            return await _exchange(client.transport_direct, request)
