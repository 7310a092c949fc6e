"""YAML loading that remembers where every value came from.

Config errors must name the file, the key path and the line; PyYAML's composed node tree
carries the marks, so values are built from nodes here and each path's line is recorded.
``${VAR}`` and ``${VAR:-default}`` are expanded in string scalars (``$${`` is a literal ``${``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.errors import ConfigError

KeyPath = tuple[str | int, ...]

_ENV_REF = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def format_path(path: KeyPath) -> str:
    """``("rules", 0, "query")`` -> ``rules[0].query``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


@dataclass
class SourceDoc:
    """One parsed YAML file: its data and the line of every key path in it."""

    path: Path
    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)

    def where(self, key_path: KeyPath) -> str:
        """``file:line`` for the deepest known prefix of ``key_path``."""
        probe = key_path
        while probe and probe not in self.lines:
            probe = probe[:-1]
        line = self.lines.get(probe)
        return f"{self.path}:{line}" if line else str(self.path)


def expand_env(text: str, where: str, env: Mapping[str, str]) -> str:
    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return default
        return value

    return _ENV_REF.sub(substitute, text)


class _Builder:
    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        self.path = path
        self.env = env
        self.lines: dict[KeyPath, int] = {}
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node, key_path: KeyPath) -> Any:
        line = node.start_mark.line + 1
        self.lines[key_path] = line
        where = f"{self.path}:{line}: {format_path(key_path)}"
        if isinstance(node, yaml.MappingNode):
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self._constructor.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise ConfigError(f"{where}: keys must be strings, got {key!r}")
                if key in result:
                    raise ConfigError(
                        f"{self.path}:{key_node.start_mark.line + 1}: "
                        f"{format_path((*key_path, key))}: duplicate key"
                    )
                result[key] = self.build(value_node, (*key_path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*key_path, i)) for i, child in enumerate(node.value)]
        value = self._constructor.construct_object(node, deep=True)
        if isinstance(value, str):
            return expand_env(value, where, self.env)
        return value


def load_yaml(path: Path, env: Mapping[str, str] | None = None) -> SourceDoc:
    """Parse one YAML file; raise ConfigError (one line, file and line) on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{path}{line}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    builder = _Builder(path, os.environ if env is None else env)
    try:
        data = builder.build(node, ()) if node is not None else {}
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: invalid YAML value: {exc.problem}") from None
    return SourceDoc(path=path, data=data, lines=builder.lines)
