"""`monitor demo` runs the whole pipeline offline and prints verified alerts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, run_monitor

pytestmark = pytest.mark.e2e


def test_demo_delivers_verified_alerts_offline(tmp_path: Path) -> None:
    result = run_monitor("demo", "-c", str(ROOT / "config" / "monitor.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    alerts = [line for line in result.stdout.splitlines() if line.startswith("━━ ALERT")]
    assert all("signature verified" in line for line in alerts)
    rules = sorted(line.split()[2] for line in alerts)
    assert rules == ["coalition-exit", "coalition-exit", "ultimatum", "ultimatum", "ultimatum"]
    assert "5 alerts delivered and verified" in result.stdout
    # Look-alikes in the sample feeds stay quiet.
    for quiet in ("Exit polls", "Frisbee", "income tax", "کرکٹ"):
        assert quiet not in result.stdout
    assert result.stderr == ""
