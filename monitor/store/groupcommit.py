"""Group commit: items that arrive while a write is in progress share the next write.

On SQLite every transaction ends in an fsync; with hundreds of polls or delivery outcomes
finishing per second, one transaction each would make the disk the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


class GroupCommit(Generic[ItemT, ResultT]):
    """Writes queued items in batches, one ``write`` (in a thread) at a time.

    ``write`` takes a batch of at most ``max_batch`` items (None: every item queued) and
    returns one result per item, in order. Idle, an item is written at once, alone, or
    after ``gather`` seconds, when a short wait lets many items share one write. A batch
    whose write fails fails every item in it (none half-written); later batches go on.
    """

    def __init__(
        self,
        write: Callable[[list[ItemT]], Sequence[ResultT]],
        *,
        max_batch: int | None = None,
        gather: float = 0.0,
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._gather = gather
        self._pending: list[tuple[ItemT, asyncio.Future[ResultT] | None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._unreported: Exception | None = None  # a failed write nobody waited for

    async def commit(self, item: ItemT) -> ResultT:
        """Queue ``item`` and wait for its write: its result, or the write's error."""
        done: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._enqueue(item, done)
        return await done

    def queue(self, item: ItemT) -> None:
        """Queue ``item`` without waiting; a failed write is raised by the next ``flush``."""
        self._enqueue(item, None)

    async def flush(self) -> None:
        """Wait until everything queued so far is written; raise a failed write's error."""
        while self._writer is not None and not self._writer.done():
            await asyncio.wait([self._writer])
        if self._unreported is not None:
            error, self._unreported = self._unreported, None
            raise error

    def _enqueue(self, item: ItemT, done: asyncio.Future[ResultT] | None) -> None:
        self._pending.append((item, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())

    async def _write_pending(self) -> None:
        if self._gather:
            await asyncio.sleep(self._gather)
        while self._pending:
            size = len(self._pending) if self._max_batch is None else self._max_batch
            batch = self._pending[:size]
            del self._pending[:size]
            try:
                results = await asyncio.to_thread(self._write, [item for item, _ in batch])
            except Exception as exc:  # handed to every item of the batch
                for _, done in batch:
                    if done is None:
                        self._unreported = exc
                    elif not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                if done is not None and not done.done():
                    done.set_result(result)
