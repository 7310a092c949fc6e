"""A feed's CPU-bound work in one call: parse -> identify -> match, never on the event loop.

``process_feed`` is pure (bytes and rules in, items and their matches out), so it runs in
worker processes (``FeedWorkers``): the event loop's process keeps only HTTP and SQL, and
each feed crosses the process boundary once. Every worker compiles the rules once, when it
starts; a config reload starts fresh workers with the new rules, so the daemon's process
never compiles or holds a rule set. A run too short to pay for workers processes feeds in
one thread instead (``FeedThread``). Either is a ``FeedProcessor``.

A thread is not enough for a daemon: on a 20,000-item feed its event loop answered
``/healthz`` at p99 63 ms (max 153 ms) with the work in a thread, 3 ms with it in a worker,
and a thread cannot be preempted while one C call (a regex, the XML parser) holds the GIL.

Every item is matched, seen or not: the worker cannot know which are new (the store
decides, in the main process), and the results of the seen ones are simply dropped.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Protocol

from monitor.config import Config
from monitor.core.identity import items_from_document
from monitor.models import FeedJob, ProcessedFeed, RuleSpec
from monitor.query import RuleSet, compile_rules


def rule_specs(config: Config) -> tuple[RuleSpec, ...]:
    return tuple(RuleSpec(r.name, r.query, r.stem) for r in config.rules)


def process_feed(job: FeedJob, rules: RuleSet) -> ProcessedFeed:
    """Parse, identify and match one feed document. Raises ``FeedParseError``."""
    document = items_from_document(
        job.body, url=job.url, content_type=job.content_type, feed=job.feed, feed_url=job.feed_url
    )
    return ProcessedFeed(
        items=document.items,
        matches=tuple(tuple(rules.match(item)) for item in document.items),
        ttl_seconds=document.ttl_seconds,
        warnings=document.warnings,
    )


# -- in the worker processes -------------------------------------------------------------

_worker_rules: RuleSet | None = None
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _start_worker(specs: tuple[RuleSpec, ...], parent: int) -> None:
    global _worker_rules
    _exit_with_parent(parent)
    _worker_rules = compile_rules(specs)


def _exit_with_parent(parent: int) -> None:
    """End this worker when the daemon dies, even by SIGKILL (no shutdown reaches it then).

    On Linux the kernel sends SIGTERM (``PR_SET_PDEATHSIG``: when the thread that started
    the worker ends, the event loop's, which lives as long as the daemon); everywhere, a
    thread notices the worker was re-parented within a second. ``parent`` is checked after
    both are set, so a daemon that died while this worker started is not missed.
    """
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _process_in_worker(job: FeedJob) -> ProcessedFeed:
    if _worker_rules is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("feed worker started without rules")
    return process_feed(job, _worker_rules)


class FeedProcessor(Protocol):
    """Runs ``process_feed`` away from the event loop, with the rules it was last given."""

    async def process(self, job: FeedJob) -> ProcessedFeed: ...

    async def prepare(self, specs: Sequence[RuleSpec]) -> Callable[[], None]:
        """Get new rules ready (compiling them off the event loop); calling the result
        switches later jobs to them, so a reload swaps rules and config in one step."""
        ...

    def shutdown(self, *, wait: bool = False) -> None: ...


class FeedWorkers:
    """Worker processes running ``process_feed``, each with its own compiled rules.

    "spawn": a fork of a process with threads may inherit a held lock. Starting a worker
    costs ~0.5 s of CPU (imports, compiling the rules); workers start on first use.
    """

    def __init__(self, workers: int, specs: Sequence[RuleSpec]) -> None:
        self.workers = workers
        self._pool = self._start(specs)

    def _start(self, specs: Sequence[RuleSpec]) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(tuple(specs), os.getpid()),
        )

    async def prepare(self, specs: Sequence[RuleSpec]) -> Callable[[], None]:
        """Fresh workers compile the new rules when they start: nothing to do here."""
        return functools.partial(self._switch, tuple(specs))

    def _switch(self, specs: tuple[RuleSpec, ...]) -> None:
        """Later jobs go to fresh workers; jobs already queued finish on the old ones."""
        old, self._pool = self._pool, self._start(specs)
        old.shutdown(wait=False)

    async def process(self, job: FeedJob) -> ProcessedFeed:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _process_in_worker, job)

    def pids(self) -> list[int]:
        """The running workers' process ids (for measurements)."""
        return [p.pid for p in (self._pool._processes or {}).values() if p.pid is not None]

    def shutdown(self, *, wait: bool = False) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=True)


class FeedThread:
    """``process_feed`` in one thread of this process, for a run too short to pay for worker
    processes (``monitor once`` with few feeds). One thread: under the GIL more would not be
    faster, and each would take the GIL from the event loop as often."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="feed-processing")

    async def process(self, job: FeedJob) -> ProcessedFeed:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, process_feed, job, self.rules)

    async def prepare(self, specs: Sequence[RuleSpec]) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        rules = await loop.run_in_executor(self._thread, compile_rules, tuple(specs))
        return functools.partial(self._switch, rules)

    def _switch(self, rules: RuleSet) -> None:
        self.rules = rules

    def shutdown(self, *, wait: bool = False) -> None:
        self._thread.shutdown(wait=wait, cancel_futures=True)
