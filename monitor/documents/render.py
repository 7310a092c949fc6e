"""Render an alert or digest payload for each kind of webhook consumer.

One module per format: ``json_formats`` (json, cloudevents), ``slack``, ``discord`` and
``teams``; the chat formats share the text toolkit in ``markup`` and the link rule in
``links``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from monitor.documents.discord import render_digest_discord, render_discord
from monitor.documents.json_formats import (
    render_cloudevents,
    render_digest_cloudevents,
    render_json,
)
from monitor.documents.payload import is_digest
from monitor.documents.slack import render_digest_slack, render_slack
from monitor.documents.teams import render_digest_teams, render_teams
from monitor.errors import DeliveryError

FORMATS: tuple[str, ...] = ("json", "cloudevents", "slack", "discord", "teams")

Renderer = Callable[[dict[str, Any]], tuple[str, bytes]]

_RENDERERS: dict[str, Renderer] = {
    "json": render_json,
    "cloudevents": render_cloudevents,
    "slack": render_slack,
    "discord": render_discord,
    "teams": render_teams,
}
_DIGEST_RENDERERS: dict[str, Renderer] = {
    "json": render_json,
    "cloudevents": render_digest_cloudevents,
    "slack": render_digest_slack,
    "discord": render_digest_discord,
    "teams": render_digest_teams,
}


def render(fmt: str, payload: dict[str, Any]) -> tuple[str, bytes]:
    """``(content type, body)`` of ``payload`` in format ``fmt``; body is UTF-8."""
    renderer = (_DIGEST_RENDERERS if is_digest(payload) else _RENDERERS).get(fmt)
    if renderer is None:
        raise DeliveryError(f"unknown webhook format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return renderer(payload)
