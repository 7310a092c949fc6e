"""Apprise URLs: whether the installed Apprise knows one, and the network host it names.

Apprise only parses the URL here (no connection is made), so the config can check a target
when it loads and the sender can check the host before each attempt.
"""

from __future__ import annotations

import warnings
from types import ModuleType


def load_apprise() -> ModuleType:
    """The apprise package, imported on first use: most configs have no Apprise target."""
    with warnings.catch_warnings():
        # Its PGP helper, loaded lazily by the email plugin, imports imghdr (deprecated
        # since 3.11): load both here, once, quietly, not later inside a send.
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise
        import apprise.utils.pgp
    return apprise


def apprise_host(url: str) -> str | None:
    """The network host an Apprise URL names, or None if Apprise does not know the URL."""
    service = load_apprise().Apprise.instantiate(url)
    if service is None:
        return None
    return str(service.host or "").strip("[]")
