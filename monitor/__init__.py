"""news-monitor: poll news feeds, match rules, deliver signed webhooks.

The pipeline, one module (or small package) a step::

    config -> schedule -> fetch -> parse -> identity -> store -> query -> deliver
"""

__version__ = "0.1.0"
