"""Config loading: every mistake is one line naming file, line and key path."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from monitor.config import CONSOLE_WEBHOOK, load_config, parse_duration
from monitor.errors import ConfigError

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return str(info.value)


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path / "m.yaml", "feeds:\n  - url: https://www.example.org/rss.xml\n"), env={}
    )
    feed = cfg.feeds[0]
    assert (feed.name, feed.interval) == ("example.org", 600.0)
    assert cfg.state == "sqlite:///state.db"
    assert not cfg.network.allow_private
    assert cfg.rules == ()
    assert cfg.webhooks == ()


def test_full_config_with_include_env_and_routing(tmp_path: Path) -> None:
    write(
        tmp_path / "rules" / "extra.yaml",
        """
        rules:
          - name: quake
            query: earthquake
            webhooks: [ops]
        feeds:
          - url: https://two.example/feed
        """,
    )
    path = write(
        tmp_path / "m.yaml",
        """
        state: ${STATE:-sqlite:///x.db}
        include: [rules/extra.yaml]
        network: {allow_private: true}
        feeds:
          - {url: "https://one.example/rss", name: one, interval: 5m}
        rules:
          - {name: all, query: news}
        webhooks:
          - {name: ops, url: "https://hooks.example/a", secret: "${HOOK_SECRET}"}
          - {name: chat, url: "https://hooks.example/b", format: slack}
        """,
    )
    cfg = load_config(path, env={"HOOK_SECRET": SECRET})
    assert cfg.state == "sqlite:///x.db"
    assert [f.name for f in cfg.feeds] == ["one", "two.example"]
    assert cfg.feeds[0].interval == 300
    assert [r.name for r in cfg.rules] == ["all", "quake"]
    assert cfg.webhooks_for(cfg.rules[0]) == ("ops", "chat")
    assert cfg.webhooks_for(cfg.rules[1]) == ("ops",)
    assert cfg.webhooks[0].secrets == (SECRET,)
    assert cfg.sources == (path, tmp_path / "rules" / "extra.yaml")


def test_without_webhooks_alerts_go_to_the_console(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path / "m.yaml", "feeds: []\nrules: [{name: r, query: word}]\n"), env={}
    )
    assert cfg.webhooks_for(cfg.rules[0]) == (CONSOLE_WEBHOOK,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("feeds: [\n", "m.yaml:2: invalid YAML"),
        ("feeds: []\nfeedz: []\n", "m.yaml:2: feedz: unknown key"),
        ("state: x\n", "m.yaml:1: feeds: required key is missing"),
        (
            "feeds:\n  - url: https://a.example/\n    intervall: 5m\n",
            "m.yaml:3: feeds[0].intervall: unknown key",
        ),
        (
            "feeds:\n  - url: https://a.example/\n    interval: soon\n",
            "m.yaml:3: feeds[0].interval: invalid duration 'soon'",
        ),
        ("feeds:\n  - url: ftp://a.example/\n", "m.yaml:2: feeds[0].url: not an http(s) URL"),
        (
            "feeds:\n  - url: https://a.example/\n    interval: 0\n",
            "m.yaml:3: feeds[0].interval: must be more than 0s",
        ),
        (
            "feeds:\n  - {url: 'https://a.example/', min_interval: 0s}\n",
            "m.yaml:2: feeds[0].min_interval: must be more than 0s",
        ),
        (
            "feeds:\n  - url: https://a.example/\n    min_interval: -1\n",
            "m.yaml:3: feeds[0].min_interval: a duration cannot be negative",
        ),
        (
            "feeds:\n  - url: https://a.example/\n    max_interval: 0\n",
            "m.yaml:3: feeds[0].max_interval: must be more than 0s",
        ),
        (
            "feeds:\n  - url: https://a.example/\n    min_interval: 2h\n    max_interval: 1h\n",
            "m.yaml:3: feeds[0].min_interval: min_interval is larger than max_interval",
        ),
        (
            "feeds: []\nstate: mysql://monitor:hunter2@127.0.0.1/news\n",
            "m.yaml:2: state: only sqlite:/// and postgresql:// URLs are supported, "
            "not 'mysql://127.0.0.1/news'",
        ),
        ("feeds: []\nstate: state.db\n", "m.yaml:2: state: only sqlite:/// and postgresql://"),
        ("feeds: {url: x}\n", "m.yaml:1: feeds: must be a list"),
        (
            "feeds: []\nnetwork:\n  allow_private: maybe\n",
            "m.yaml:3: network.allow_private: Input should be a valid boolean",
        ),
        ("feeds: []\nstate: ${NOPE}\n", "m.yaml:2: state: environment variable NOPE is not set"),
        ("feeds: []\nfeeds: []\n", "m.yaml:2: feeds: duplicate key"),
        (
            "feeds: []\nrules:\n  - {name: a, query: x}\n  - {name: a, query: y}\n",
            "m.yaml:4: rules[1].name: duplicate rule name 'a'",
        ),
        (
            "feeds: []\nrules:\n  - {name: a, query: x, webhooks: [nope]}\n",
            "m.yaml:3: rules[0].webhooks[0]: unknown webhook 'nope' (none are configured)",
        ),
        (
            "feeds: []\nwebhooks:\n  - {name: h, url: 'https://h.example/', secret: notasecret}\n",
            "m.yaml:3: webhooks[0].secret:",
        ),
        (
            "feeds: []\nrules:\n  - {name: a, query: 'x', stem: klingon}\n",
            "m.yaml:3: rules[0].stem: unknown stemmer 'klingon'",
        ),
        (
            "feeds:\n  - {url: 'https://a.example/x', name: a}\n  - {url: 'https://a.example/x', name: b}\n",
            "m.yaml:3: feeds[1].url: duplicate feed url",
        ),
        (
            "feeds: []\ncluster:\n  lease: 60s\n",
            "m.yaml:3: cluster.lease: must exceed network.deadline (60s) plus a full claim's "
            "turns at one host (32s) by at least 5s",
        ),
        (
            "feeds: []\nnetwork: {per_host_gap: 0}\ncluster:\n  lease: 60s\n",
            "m.yaml:4: cluster.lease: must exceed network.deadline (60s) by at least 5s",
        ),
        (
            "feeds: []\nwebhooks:\n  - {name: h, url: 'https://h.example/', retry_schedule: []}\n",
            "m.yaml:3: webhooks[0].retry_schedule: give at least one delay, or leave "
            "retry_schedule out for the default",
        ),
        ("feeds: []\ninclude: [m.yaml]\n", "m.yaml:2: include[0]: m.yaml includes itself"),
        ("feeds: []\ninclude: [missing.yaml]\n", "missing.yaml: file not found"),
    ],
)
def test_mistakes_name_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    message = load_error(write(tmp_path / "m.yaml", text))
    assert expected in message
    assert "\n" not in message


def test_a_config_mistake_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.yaml",
        "feeds: []\nwebhooks:\n  - {name: h, url: 'https://h.example/', retry_schedule: []}\n",
    )
    check = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 2
    assert check.stdout == ""
    assert check.stderr == (
        f"error: {path}:3: webhooks[0].retry_schedule: give at least one delay, "
        "or leave retry_schedule out for the default\n"
    )


@pytest.mark.parametrize(
    ("rules", "warning"),
    [("", "warning: {path}: no rules: nothing will alert\n"), ("rules: [{name: a, query: x}]", "")],
)
def test_check_warns_when_no_rule_can_alert(tmp_path: Path, rules: str, warning: str) -> None:
    path = write(tmp_path / "m.yaml", f"feeds: []\n{rules}\n")
    check = subprocess.run(
        [sys.executable, "-m", "monitor", "check", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0
    assert check.stdout.startswith(f"{path}: OK\n")
    assert check.stderr == warning.format(path=path)


def test_bad_query_names_rule_and_shows_caret(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.yaml", "feeds: []\nrules:\n  - name: broken\n    query: 'a AND (b OR'\n"
    )
    message = load_error(path)
    first, *caret = message.splitlines()
    assert first.startswith(f"{path}:4: rules[0].query: rule 'broken':")
    assert caret[0].strip() == "a AND (b OR"
    assert caret[1].strip() == "^"


def test_error_in_an_included_file_points_into_that_file(tmp_path: Path) -> None:
    write(
        tmp_path / "inc" / "rules.yaml",
        "rules:\n  - name: ok\n    query: x\n  - name: bad\n    qery: y\n",
    )
    message = load_error(write(tmp_path / "m.yaml", "feeds: []\ninclude: [inc/rules.yaml]\n"))
    assert message.startswith(f"{tmp_path / 'inc' / 'rules.yaml'}:5: rules[1].qery: unknown key")


def test_included_file_may_not_set_top_level_settings(tmp_path: Path) -> None:
    write(tmp_path / "inc.yaml", "state: sqlite:///other.db\n")
    message = load_error(write(tmp_path / "m.yaml", "feeds: []\ninclude: [inc.yaml]\n"))
    assert "inc.yaml:1: state: an included file may only hold" in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30.0),
        (1.5, 1.5),
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("7d", 604800.0),
        ("250ms", 0.25),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "10x", "m10", -5, True, None, "1h 3"])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_env_default_and_literal_dollar(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.yaml",
        "feeds:\n  - url: 'https://a.example/?q=$${raw}'\n    name: ${NAME:-fallback}\n",
    )
    feed = load_config(path, env={}).feeds[0]
    assert (feed.url, feed.name) == ("https://a.example/?q=${raw}", "fallback")
    assert load_config(path, env={"NAME": "given"}).feeds[0].name == "given"


def test_shipped_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Path(__file__).resolve().parents[2]
    cfg = load_config(root / "config" / "monitor.yaml", env={})
    assert {r.name for r in cfg.rules} == {"coalition-exit", "ultimatum"}
    assert len(cfg.feeds) >= 8
    assert all(f.url.startswith("https://") for f in cfg.feeds)
