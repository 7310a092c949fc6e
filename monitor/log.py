"""Structured logging: one event per line, JSON off a terminal, colour on one."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = ("secret", "password", "token", "authorization")


def _redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event:
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = "***"
    return event


def configure(level: str = "info", *, json_output: bool | None = None) -> None:
    """Set up structlog for the process. ``json_output`` defaults to "stderr is not a tty"."""
    if json_output is None:
        json_output = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # APScheduler reports every skipped overlapping tick; overlap is by design here.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)


def get(name: str) -> Any:
    return structlog.get_logger(name)
