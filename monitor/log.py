"""Structured logging: one event per line, JSON off a terminal, colour on one."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from monitor.redact import REDACTED, is_secret_name, redact_text


class _Redactor:
    """The last word on every event: no secret is logged, whoever wrote the event.

    A value under a secret-looking key is replaced whole; every other string has its URLs
    redacted and the config's known secret values (``hide``) removed. Tracebacks are
    formatted to text before this runs, so they are redacted too.
    """

    def __init__(self) -> None:
        self.secrets: frozenset[str] = frozenset()

    def __call__(
        self, _logger: Any, _name: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if is_secret_name(key):
                event[key] = REDACTED
            elif isinstance(value, str):
                event[key] = redact_text(value, self.secrets)
        return event


_redactor = _Redactor()


def hide(secrets: Iterable[str]) -> None:
    """Never log these values (the loaded config's secrets; a reload adds its own)."""
    _redactor.secrets = _redactor.secrets | frozenset(secrets)


def configure(level: str = "info", *, json_output: bool | None = None) -> None:
    """Set up structlog for the process. ``json_output`` defaults to "stderr is not a tty"."""
    if json_output is None:
        json_output = not sys.stderr.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        # Plain tracebacks: the exception is text by then (format_exc_info), redacted.
        else structlog.dev.ConsoleRenderer(
            colors=True, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redactor,
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
