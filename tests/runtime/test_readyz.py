"""``/readyz`` tells the truth about the store: 503, with the reason, when it cannot write."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from monitor.runtime.compose import open_app
from monitor.runtime.daemon import Daemon
from tests.deliver.consumer import make_config


def test_readyz_is_503_with_the_reason_once_the_state_file_is_truncated_or_deleted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    config = make_config(state=f"sqlite:///{path}")

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        async with open_app(config) as app:
            daemon = Daemon(app, tmp_path / "monitor.yaml")
            daemon.scheduler.start()
            answers = []
            try:
                for damage in (lambda: None, lambda: os.truncate(path, 0), path.unlink):
                    damage()
                    status, _type, body = await daemon.readyz()
                    answers.append((status, json.loads(body)))
            finally:
                daemon.scheduler.shutdown(wait=False)
            return answers

    healthy, truncated, deleted = asyncio.run(scenario())
    assert healthy == (200, {"store": True, "scheduler": True, "config": True})
    assert truncated == (
        503,
        {
            "store": False,
            "scheduler": True,
            "config": True,
            "reason": f"state file {path} was truncated to 0 bytes",
        },
    )
    assert deleted[0] == 503
    assert deleted[1]["reason"].startswith(f"state file {path} was deleted while open")
