"""A daemon killed with SIGKILL takes its feed worker processes with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import rss
from tests.e2e.servers import FeedServer, free_port

pytestmark = pytest.mark.e2e


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc: no psutil here)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def wait_for(condition: Callable[[], object], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_workers_exit_when_the_daemon_is_killed(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.documents["/wire.xml"] = rss(("a", "Union gives ultimatum", "Strike."))
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"state: sqlite:///{tmp_path}/state.db\n"
        f"server: {{listen: '127.0.0.1:{free_port()}'}}\n"
        "network: {allow_private: true}\n"
        "feeds:\n"
        f"  - {{name: wire, url: '{feed_server.url('/wire.xml')}', interval: 1s, min_interval: 1s}}\n"
        "rules:\n"
        "  - {name: ultimatum, query: ultimatum}\n"
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "monitor", "--log-level", "warning", "run", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: set[int] = set()
    try:
        # A worker starts on first use: once the feed was fetched, and compiles the rules.
        assert wait_for(lambda: feed_server.requests and children(daemon.pid), 60)
        time.sleep(2.0)  # let the worker get through its initializer
        workers = children(daemon.pid)
        assert workers
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        assert wait_for(lambda: not any(alive(pid) for pid in workers), 5), [
            Path(f"/proc/{pid}/cmdline").read_bytes() for pid in workers if alive(pid)
        ]
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)
        for pid in workers:  # orphans of a failed run must not outlive the test either
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
