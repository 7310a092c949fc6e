"""Loading the config: YAML + includes + ${ENV} -> frozen, validated settings.

``load_config(path)`` returns a :class:`Config` or raises :class:`ConfigError` whose text is one
line naming the file, the line and the key path. Everything a user can get wrong is checked
here, before the daemon starts: types, unknown keys, environment variables, durations, URLs,
rule queries (with a caret under the error), duplicate names, webhook references, secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from monitor.config.apprise_url import apprise_host
from monitor.config.model import CONSOLE_WEBHOOK, Config
from monitor.config.yamlsource import KeyPath, SourceDoc, format_path, load_yaml
from monitor.documents.secret import validate_secret
from monitor.errors import ConfigError, DeliveryError, QuerySyntaxError

DEFAULT_CONFIG = Path("config/monitor.yaml")
_MERGED_LISTS = ("feeds", "rules", "webhooks")


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
