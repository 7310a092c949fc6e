"""Configuration: YAML + includes + ${ENV} -> frozen, validated settings.

``load_config(path)`` returns a :class:`Config` or raises :class:`ConfigError` whose text is one
line naming the file, the line and the key path. Everything a user can get wrong is checked
here, before the daemon starts: types, unknown keys, environment variables, durations, URLs,
rule queries (with a caret under the error), duplicate names, webhook references, secrets.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor.config.yamlsource import KeyPath, SourceDoc, format_path, load_yaml
from monitor.errors import ConfigError, DeliveryError, QuerySyntaxError

DEFAULT_CONFIG = Path("config/monitor.yaml")
CONSOLE_WEBHOOK = "console"
_MERGED_LISTS = ("feeds", "rules", "webhooks")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


def parse_duration(value: object) -> float:
    """``"90s"``, ``"10m"``, ``"1h30m"``, ``"7d"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or like 30s, 10m, 2h, 7d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            return float(text)
        if text and _DURATION.sub("", text) == "":
            return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(text))
    raise ValueError(
        f"invalid duration {value!r}: use a number of seconds or like 30s, 10m, 2h, 7d"
    )


Seconds = Annotated[float, BeforeValidator(parse_duration)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


HttpUrlText = Annotated[str, AfterValidator(_http_url)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkSettings(_Settings):
    allow_private: bool = False
    allow_cidrs: tuple[str, ...] = ()
    user_agent: str | None = None
    timeout: Seconds = 30.0
    deadline: Seconds = 60.0
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    concurrency: int = Field(default=32, ge=1)
    per_host: int = Field(default=2, ge=1)
    per_host_gap: Seconds = 0.5  # between request starts to one host: <= 2 requests/s

    @field_validator("allow_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)
        return value


class FeedSettings(_Settings):
    url: HttpUrlText
    name: str = ""  # filled from the host when empty
    interval: Seconds = 600.0
    min_interval: Seconds = 60.0
    max_interval: Seconds = 86400.0


class ExampleItem(_Settings):
    """A rule example written as an item; a plain string example is an item's title."""

    title: str = ""
    summary: str = ""
    content: str = ""
    link: str = ""
    feed: str = ""
    lang: str = ""


class RuleExamples(_Settings):
    match: tuple[str | ExampleItem, ...] = ()
    no_match: tuple[str | ExampleItem, ...] = ()


class ThrottleSettings(_Settings):
    """At most ``max`` individual alerts per fixed window of ``per``; the rest are digested."""

    max: int = Field(ge=1)
    per: Seconds

    @field_validator("per")
    @classmethod
    def _per(cls, value: float) -> float:
        if value < 60:
            raise ValueError(f"must be at least 1m, not {value:g}s")
        return value


class RuleSettings(_Settings):
    name: Annotated[str, Field(pattern=_NAME)]
    query: Annotated[str, Field(min_length=1)]
    description: str = ""
    stem: str | None = None
    webhooks: tuple[str, ...] | None = None  # None: every webhook
    examples: RuleExamples = RuleExamples()
    throttle: ThrottleSettings | None = None  # see monitor.core.routing


class WebhookSettings(_Settings):
    name: Annotated[str, Field(pattern=_NAME)]
    # Exactly one target: an HTTP endpoint (signed), or an Apprise URL (deliver.apprise_target).
    url: HttpUrlText | None = None
    apprise: str | None = None
    secret: str | tuple[str, ...] | None = None
    format: Literal["json", "cloudevents", "slack", "discord", "teams"] = "json"
    timeout: Seconds = 15.0
    concurrency: int = Field(default=4, ge=1)
    retry_schedule: tuple[Seconds, ...] | None = None
    failure_threshold: int = Field(default=5, ge=1)
    # How long the circuit stays open before one probe; doubles per failed probe (max 10m).
    breaker_cooldown: Seconds = Field(default=30.0, gt=0, le=600)
    # One summary per hour or day instead of individual alerts (monitor.core.routing);
    # digest_at: "HH:MM" UTC when the window closes (hourly: "00:MM"), default "00:00".
    digest: Literal["hourly", "daily"] | None = None
    digest_at: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> WebhookSettings:
        if (self.url is None) == (self.apprise is None):
            raise ValueError("give exactly one of url and apprise")
        if self.digest_at is not None:
            from monitor.core.routing import parse_digest_at

            if self.digest is None:
                raise ValueError("digest_at: set digest (hourly or daily) too")
            parse_digest_at(self.digest, self.digest_at)
        if self.apprise is not None and self.secret is not None:
            raise ValueError("secret: Apprise targets are not signed; remove it")
        return self

    @property
    def secrets(self) -> tuple[str, ...]:
        if self.secret is None:
            return ()
        return (self.secret,) if isinstance(self.secret, str) else self.secret


class ServerSettings(_Settings):
    listen: str = "127.0.0.1:8080"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        from monitor.runtime.httpserver import parse_listen

        parse_listen(value)
        return value


class ClusterSettings(_Settings):
    """Sharing one PostgreSQL store between instances (also used, harmlessly, on SQLite)."""

    lease: Seconds = 120.0  # how long a claimed feed stays one instance's; > network.deadline
    heartbeat: Seconds = 10.0  # how often an instance says it is alive


class RetentionSettings(_Settings):
    """How long the store keeps things. Keys outlive text so a re-published item stays seen."""

    content: Seconds = 30 * 86400.0  # item text, for `test-rule --since` backtests
    keys: Seconds = 365 * 86400.0  # item identity keys, alerts and their deliveries


class Config(_Settings):
    state: str = "sqlite:///state.db"
    include: tuple[str, ...] = ()
    network: NetworkSettings = NetworkSettings()
    server: ServerSettings = ServerSettings()
    retention: RetentionSettings = RetentionSettings()
    cluster: ClusterSettings = ClusterSettings()
    feeds: tuple[FeedSettings, ...]
    rules: tuple[RuleSettings, ...] = ()
    webhooks: tuple[WebhookSettings, ...] = ()
    # Every file the config was read from (for hot reload); not a YAML key.
    sources: tuple[Path, ...] = Field(default=(), exclude=True)

    def webhooks_for(self, rule: RuleSettings) -> tuple[str, ...]:
        """Names of the webhooks a rule's alerts go to (the console when none are set)."""
        if not self.webhooks:
            return (CONSOLE_WEBHOOK,)
        if rule.webhooks is None:
            return tuple(w.name for w in self.webhooks)
        return rule.webhooks

    def webhook(self, name: str) -> WebhookSettings | None:
        return next((w for w in self.webhooks if w.name == name), None)


@dataclass(frozen=True)
class _Origin:
    doc: SourceDoc
    index: int  # position of the element within its own file's list


class _Merged:
    """The top file's mapping with the lists of every include appended, and their origins."""

    def __init__(self, top: SourceDoc) -> None:
        self.top = top
        self.data: dict[str, Any] = {}
        self.origins: dict[str, list[_Origin]] = {key: [] for key in _MERGED_LISTS}
        self.sources: list[Path] = []

    def where(self, loc: KeyPath) -> tuple[str, KeyPath]:
        """File:line and the key path as written in that file, for a merged location."""
        if len(loc) >= 2 and loc[0] in self.origins and isinstance(loc[1], int):
            origins = self.origins[str(loc[0])]
            if loc[1] < len(origins):
                origin = origins[loc[1]]
                own = (loc[0], origin.index, *loc[2:])
                return origin.doc.where(own), own
        return self.top.where(loc), loc


def _merge(path: Path, env: Mapping[str, str] | None) -> _Merged:
    top = load_yaml(path, env)
    if not isinstance(top.data, dict):
        raise ConfigError(f"{top.where(())}: the config must be a mapping of keys")
    merged = _Merged(top)
    _absorb(merged, top, is_top=True, chain=(path.resolve(),), env=env)
    return merged


def _absorb(
    merged: _Merged,
    doc: SourceDoc,
    *,
    is_top: bool,
    chain: tuple[Path, ...],
    env: Mapping[str, str] | None,
) -> None:
    merged.sources.append(doc.path)
    data: dict[str, Any] = doc.data
    for key, value in data.items():
        if key in _MERGED_LISTS:
            if not isinstance(value, list):
                raise ConfigError(f"{doc.where((key,))}: {key}: must be a list")
            merged.data.setdefault(key, []).extend(value)
            merged.origins[key].extend(_Origin(doc, i) for i in range(len(value)))
        elif key == "include":
            continue
        elif is_top:
            merged.data[key] = value
        else:
            raise ConfigError(
                f"{doc.where((key,))}: {key}: an included file may only hold "
                "feeds, rules, webhooks and include"
            )
    includes = data.get("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list):
        raise ConfigError(f"{doc.where(('include',))}: include: must be a list of paths")
    if is_top:
        merged.data["include"] = includes
    for i, name in enumerate(includes):
        if not isinstance(name, str):
            raise ConfigError(f"{doc.where(('include', i))}: include[{i}]: must be a path")
        target = (doc.path.parent / name).resolve()
        if target in chain:
            raise ConfigError(f"{doc.where(('include', i))}: include[{i}]: {name} includes itself")
        child = load_yaml(doc.path.parent / name, env)
        if child.data is None or child.data == {}:
            merged.sources.append(child.path)
            continue
        if not isinstance(child.data, dict):
            raise ConfigError(f"{child.where(())}: an included file must be a mapping of keys")
        _absorb(merged, child, is_top=False, chain=(*chain, target), env=env)


def _pydantic_message(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    message = str(error.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def _default_name(url: str, taken: set[str]) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or "feed").removeprefix("www.")
    if host not in taken:
        return host
    path = parts.path.strip("/").replace("/", "-")
    return f"{host}-{path}" if path else f"{host}-{len(taken)}"


def load_config(path: Path | str = DEFAULT_CONFIG, env: Mapping[str, str] | None = None) -> Config:
    """Read, merge, validate. Raises ConfigError with one line: ``file:line: key.path: what``."""
    merged = _merge(Path(path), env)
    if "feeds" not in merged.data:
        raise ConfigError(f"{merged.top.where(())}: feeds: required key is missing")
    try:
        config = Config.model_validate({**merged.data, "sources": tuple(merged.sources)})
    except ValidationError as exc:
        errors = exc.errors()
        # A misspelt key also makes the real one "missing": name the misspelling first.
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        where, own = merged.where(tuple(first["loc"]))
        more = exc.error_count() - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise ConfigError(
            f"{where}: {format_path(own)}: {_pydantic_message(first)}{suffix}"
        ) from None
    config = _name_feeds(config)
    _check_semantics(config, merged)
    return config


def _name_feeds(config: Config) -> Config:
    taken = {f.name for f in config.feeds if f.name}
    feeds = []
    for feed in config.feeds:
        if not feed.name:
            name = _default_name(feed.url, taken)
            taken.add(name)
            feed = feed.model_copy(update={"name": name})
        feeds.append(feed)
    return config.model_copy(update={"feeds": tuple(feeds)})


def _duplicate(names: list[str]) -> int | None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            return i
        seen.add(name)
    return None


def _check_semantics(config: Config, merged: _Merged) -> None:
    from monitor.deliver.apprise_target import apprise_host
    from monitor.documents.sign import validate_secret
    from monitor.query import parse_query

    def fail(loc: KeyPath, message: str) -> ConfigError:
        where, own = merged.where(loc)
        return ConfigError(f"{where}: {format_path(own)}: {message}")

    for key, names in (
        ("feeds", [f.name for f in config.feeds]),
        ("rules", [r.name for r in config.rules]),
        ("webhooks", [w.name for w in config.webhooks]),
    ):
        dup = _duplicate(names)
        if dup is not None:
            raise fail((key, dup, "name"), f"duplicate {key[:-1]} name {names[dup]!r}")
    dup_url = _duplicate([f.url for f in config.feeds])
    if dup_url is not None:
        raise fail(("feeds", dup_url, "url"), f"duplicate feed url {config.feeds[dup_url].url}")
    if CONSOLE_WEBHOOK in {w.name for w in config.webhooks}:
        i = [w.name for w in config.webhooks].index(CONSOLE_WEBHOOK)
        raise fail(("webhooks", i, "name"), f"{CONSOLE_WEBHOOK!r} is reserved for console output")
    net = config.network
    # A claim holds up to 2 x concurrency feeds (the daemon's poll tick), which may all wait
    # for their turn at one host before their fetch starts.
    turns = 2 * net.concurrency * net.per_host_gap
    if config.cluster.lease < net.deadline + turns + 5:
        queued = f" plus a full claim's turns at one host ({turns:g}s)" if turns else ""
        raise fail(
            ("cluster", "lease"),
            f"must exceed network.deadline ({net.deadline:g}s){queued} by at least 5s, "
            "or a slow fetch could outlive its lease and be polled twice",
        )
    for i, feed in enumerate(config.feeds):
        if feed.min_interval > feed.max_interval:
            raise fail(("feeds", i, "min_interval"), "min_interval is larger than max_interval")
    known = {w.name for w in config.webhooks}
    for i, rule in enumerate(config.rules):
        try:
            parse_query(rule.query)
        except QuerySyntaxError as exc:
            caret = "\n    " + exc.caret().replace("\n", "\n    ")
            raise fail(("rules", i, "query"), f"rule {rule.name!r}: {exc}{caret}") from None
        if rule.stem is not None and rule.stem not in _stemmers():
            raise fail(("rules", i, "stem"), f"unknown stemmer {rule.stem!r}")
        for j, name in enumerate(rule.webhooks or ()):
            if name not in known:
                listed = ", ".join(sorted(known)) or "none are configured"
                raise fail(("rules", i, "webhooks", j), f"unknown webhook {name!r} ({listed})")
    for i, hook in enumerate(config.webhooks):
        if hook.apprise is not None and apprise_host(hook.apprise) is None:
            scheme = hook.apprise.split("://", 1)[0]
            raise fail(("webhooks", i, "apprise"), f"not an Apprise URL it knows ({scheme}://...)")
        for secret in hook.secrets:
            try:
                validate_secret(secret)
            except DeliveryError as exc:
                raise fail(("webhooks", i, "secret"), str(exc)) from None


def _stemmers() -> set[str]:
    import snowballstemmer

    return set(snowballstemmer.algorithms())
