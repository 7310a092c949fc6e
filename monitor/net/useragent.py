"""How the monitor introduces itself to every server it talks to: feeds and webhooks."""

from monitor import __version__

USER_AGENT = f"news-monitor/{__version__} (+https://github.com/news-monitor/news-monitor)"
