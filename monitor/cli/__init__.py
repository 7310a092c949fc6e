"""The `monitor` command: one module per command group.

User mistakes print one line and exit ``EXIT_CONFIG``; no tracebacks.
"""

EXIT_CONFIG = 2
