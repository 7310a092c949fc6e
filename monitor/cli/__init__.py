"""The `monitor` command: one module per command group.

User mistakes print one line and exit ``EXIT_CONFIG``; no tracebacks.
"""

EXIT_CONFIG = 2
EXIT_BROKEN_PIPE = 141
"""Stdout closed early (``monitor feeds | head``): 128 + SIGPIPE, as a shell reports it."""
EXIT_INTERRUPTED = 130
"""Ctrl-C: 128 + SIGINT, as a shell reports it."""
