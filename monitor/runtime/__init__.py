"""The shell that runs the pipeline: the composition root (``compose``), the poller, the worker
processes, the daemon with its scheduler and HTTP endpoints, metrics."""
