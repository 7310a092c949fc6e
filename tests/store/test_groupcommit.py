"""The group commit: items queued during a write share the next one; failures reach their items."""

from __future__ import annotations

import asyncio
import threading

import pytest

from monitor.store.groupcommit import GroupCommit


class Disk:
    """A write function that records its batches; ``gate`` holds the first write."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.gate = threading.Event()
        self.fail_on = fail_on

    def write(self, batch: list[int]) -> list[str]:
        self.gate.wait(5)
        self.batches.append(batch)
        if self.fail_on in batch:
            raise OSError(f"disk full at {self.fail_on}")
        return [f"done {n}" for n in batch]


async def commit_all(
    commits: GroupCommit[int, str], disk: Disk, n: int
) -> list[str | BaseException]:
    """Commit 0 .. n-1: the first write is held until the others have queued behind it."""
    first = asyncio.create_task(commits.commit(0))
    await asyncio.sleep(0.02)  # the writer took item 0 and waits on the gate
    rest = [asyncio.create_task(commits.commit(k)) for k in range(1, n)]
    disk.gate.set()
    return list(await asyncio.gather(first, *rest, return_exceptions=True))


def test_the_first_item_goes_alone_and_the_rest_share_the_next_writes() -> None:
    disk = Disk()

    results = asyncio.run(commit_all(GroupCommit(disk.write, max_batch=4), disk, 10))
    assert results == [f"done {n}" for n in range(10)]
    assert disk.batches == [[0], [1, 2, 3, 4], [5, 6, 7, 8], [9]]


def test_a_failed_write_fails_every_item_of_its_batch_and_only_those() -> None:
    disk = Disk(fail_on=2)

    results = asyncio.run(commit_all(GroupCommit(disk.write, max_batch=3), disk, 7))
    assert disk.batches == [[0], [1, 2, 3], [4, 5, 6]]
    assert results[0] == "done 0"
    assert [str(r) for r in results[1:4]] == ["disk full at 2"] * 3
    assert results[4:] == ["done 4", "done 5", "done 6"]


def test_queued_items_are_written_by_flush_which_raises_a_failed_write() -> None:
    disk = Disk()
    disk.gate.set()

    async def scenario() -> None:
        commits: GroupCommit[int, str] = GroupCommit(disk.write, gather=0.02)
        for n in range(5):
            commits.queue(n)
        assert disk.batches == []  # nothing written before the gathering wait ends
        await commits.flush()
        assert disk.batches == [[0, 1, 2, 3, 4]]  # one write for all of them
        disk.fail_on = 7
        commits.queue(7)
        with pytest.raises(OSError, match="disk full at 7"):
            await commits.flush()
        await commits.flush()  # the failure was reported once

    asyncio.run(scenario())
