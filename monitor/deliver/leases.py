"""Crash recovery: take back leases held by a process of this host that no longer runs.

A lease normally expires on its own (minutes, to outlast a batch of slow sends). After a
SIGKILL and a restart on the same host, waiting that long is pointless: the owner id
(``host:pid:random``, see ``monitor.app.instance_id``) says which process held it, and the
OS says whether it still runs. Another host's leases are never touched. A wrong guess (two
containers sharing a hostname) costs a duplicate send with the same webhook-id, which
at-least-once delivery allows anyway.
"""

from __future__ import annotations

import os
import socket


def is_dead_local_owner(owner: str, me: str) -> bool:
    """Was ``owner`` a process on this host that is gone? ``me`` is our own owner id."""
    parts = owner.rsplit(":", 2)
    if owner == me or len(parts) != 3 or parts[0] != socket.gethostname():
        return False
    try:
        pid = int(parts[1])
    except ValueError:
        return False
    if pid == os.getpid():  # an earlier run with our pid (pid 1 in a container): gone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # runs, as another user
        return False
    return False
