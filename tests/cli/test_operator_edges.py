"""Rough edges of the real ``monitor`` command (issue 14): one line and an exit code, never a
traceback, whatever the operator does."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.store import Store
from tests.deliver.consumer import SECRET, add_alerts, open_store
from tests.e2e.servers import Receiver, free_port

pytestmark = pytest.mark.e2e

RULE = "rules:\n  - {name: coalition-exit, query: 'coalition AND exit'}\n"


def monitor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_config(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "monitor.yaml"
    config.write_text(
        f"state: sqlite:///{tmp_path}/state.db\nnetwork: {{allow_private: true}}\n{body}"
    )
    return config


def test_a_port_in_use_is_one_line_naming_server_listen(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, f"server: {{listen: '127.0.0.1:{port}'}}\nfeeds: []\n")
        result = monitor("run", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line == (
        f"error: server.listen: cannot listen on 127.0.0.1:{port}: address already in use"
    )


def test_once_exits_1_when_every_feed_failed_and_0_when_some_did(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/gone.xml"
    both = write_config(
        tmp_path, f"feeds:\n  - {{name: a, url: '{dead}'}}\n  - {{name: b, url: '{dead}?b'}}\n"
    )
    result = monitor("once", "-c", str(both), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "error: every feed failed (2 of 2)" in result.stderr.splitlines()
    none = write_config(tmp_path, "feeds: []\n")
    assert monitor("once", "-c", str(none), cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("target", ["url", "apprise"])  # Apprise sends from a thread
def test_once_stops_on_ctrl_c_while_a_webhook_hangs_and_leaves_the_outbox(
    tmp_path: Path, target: str
) -> None:
    receiver = Receiver(secrets=(), behaviour=lambda n: (time.sleep(30), 204)[1])  # hangs
    store = open_store(tmp_path)
    try:
        (alert,) = add_alerts(store, 1, ("h",))
        config = write_config(
            tmp_path,
            "feeds: []\nwebhooks:\n"
            + (
                f"  - {{name: h, url: '{receiver.url()}', secret: '{SECRET}', timeout: 25s}}\n"
                if target == "url"
                else f"  - {{name: h, apprise: 'json://127.0.0.1:{receiver.port}/hook', "
                "timeout: 25s}\n"
            ),
        )
        with subprocess.Popen(
            [sys.executable, "-m", "monitor", "once", "-c", str(config)],
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            deadline = time.monotonic() + 30
            while receiver.attempts == 0 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert receiver.attempts == 1
            os.kill(process.pid, signal.SIGINT)
            sent = time.monotonic()
            try:
                code = process.wait(timeout=5)
            finally:
                process.kill()
            waited = time.monotonic() - sent
            assert process.stderr is not None
            stderr = process.stderr.read()
        assert code == 130, stderr
        assert waited < 2.0
        assert "Traceback" not in stderr
        (row,) = Store(f"sqlite:///{tmp_path}/state.db").list_deliveries()
        assert (row.alert_id, row.state, row.attempts) == (alert, "pending", 0)
    finally:
        store.close()
        receiver.close()


@pytest.mark.parametrize("command", ["feeds", "alerts"])
def test_a_pipe_closed_early_ends_quietly(tmp_path: Path, command: str) -> None:
    store = open_store(tmp_path)
    add_alerts(store, 2000, ("h",))
    store.close()
    feeds = "".join(f"  - {{name: f{n}, url: 'http://127.0.0.1:1/{n}.xml'}}\n" for n in range(3000))
    config = write_config(
        tmp_path,
        f"feeds:\n{feeds}webhooks:\n  - {{name: h, url: 'http://127.0.0.1:1/', secret: '{SECRET}'}}\n",
    )
    limit = ["--limit", "2000"] if command == "alerts" else []
    with subprocess.Popen(
        [sys.executable, "-m", "monitor", command, "-c", str(config), *limit],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # what `| head -1` does
        code = process.wait(timeout=60)
        stderr = process.stderr.read().decode()
    assert code == 141
    assert stderr == ""


POSITIONS = [
    ["-c", "{config}", "--log-level", "debug", "check"],
    ["--log-level", "debug", "check", "-c", "{config}"],
    ["check", "-c", "{config}", "--log-level", "debug"],
    ["-c", "{config}", "check", "--log-level", "debug"],
    ["-c", "{config}", "alerts", "--log-level", "warning"],
    ["alerts", "--log-level", "warning", "-c", "{config}"],
    ["--log-level", "warning", "-c", "{config}", "alerts", "show", "nope"],
    ["alerts", "show", "nope", "-c", "{config}", "--log-level", "warning"],
]


@pytest.mark.parametrize("position", POSITIONS, ids=[" ".join(p) for p in POSITIONS])
def test_config_and_log_level_work_before_and_after_the_command(
    tmp_path: Path, position: list[str]
) -> None:
    config = write_config(tmp_path, f"feeds: []\n{RULE}")
    args = [str(config) if a == "{config}" else a for a in position]
    result = monitor(*args, cwd=tmp_path)
    assert "usage:" not in result.stderr
    assert "no such file" not in result.stderr.lower()
    expected = 2 if "show" in args else 0  # an unknown alert is the operator's mistake
    assert result.returncode == expected, result.stderr


def test_a_later_config_option_wins_over_an_earlier_one(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"feeds: []\n{RULE}")
    result = monitor("-c", str(tmp_path / "absent.yaml"), "check", "-c", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("query", "code", "says"),
    [
        (
            "coalition-exti",
            2,
            "error: no rule named 'coalition-exti' (did you mean 'coalition-exit'?); write it as a phrase ('\"...\"') to test it as a query",
        ),
        (
            "colition_exit",
            2,
            "error: no rule named 'colition_exit' (did you mean 'coalition-exit'?); write it as a phrase ('\"...\"') to test it as a query",
        ),
        # Close to no rule: a hyphenated word is the query it looks like.
        ("covid-19", 0, "0 of 1 item(s) match 'query'"),
        ("coalition-exit", 0, "1 of 1 item(s) match 'coalition-exit'"),
        ("coalition", 0, "1 of 1 item(s) match 'query'"),
        ('"coalition-exti"', 0, "0 of 1 item(s) match 'query'"),
        ("coalition AND exti", 0, "0 of 1 item(s) match 'query'"),
    ],
)
def test_test_rule_refuses_a_misspelled_rule_name(
    tmp_path: Path, query: str, code: int, says: str
) -> None:
    config = write_config(tmp_path, f"feeds: []\n{RULE}")
    result = monitor(
        "test-rule", query, "--text", "coalition exit", "-c", str(config), cwd=tmp_path
    )
    assert "Traceback" not in result.stderr
    assert says in (result.stdout + result.stderr).splitlines(), result.stdout + result.stderr
    assert result.returncode == code
