"""Load the configuration: packaged defaults, then a workspace file, then ``ASTROAGENT_`` variables.

Every leaf key remembers which source set it, so a validation error names the file (or the
variable) that holds the bad value, the key and what was expected, in one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from astroagent.config.models import AstroAgentConfig
from astroagent.errors import ConfigError
from astroagent.paths import WORKSPACE_FILE, find_workspace

__all__ = ["load_config", "packaged_config_path", "ENV_PREFIX"]

ENV_PREFIX = "ASTROAGENT_"
_NOT_CONFIG_ENV = {"ASTROAGENT_DATA_DIR", "ASTROAGENT_WORKSPACE", "ASTROAGENT_DEBUG", "ASTROAGENT_CONFIG"}


def packaged_config_path() -> Path:
    return Path(str(resources.files("astroagent.config").joinpath("agents.yaml")))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config is not UTF-8 text") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any], origin: str, origins: dict[tuple, str],
           prefix: tuple = ()) -> None:
    for key, value in over.items():
        path = (*prefix, key)
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, origins, path)
        else:
            base[key] = dict(value) if isinstance(value, Mapping) else value
            origins[path] = origin
            if isinstance(value, Mapping):
                _mark(value, origin, origins, path)


def _mark(tree: Mapping[str, Any], origin: str, origins: dict[tuple, str], prefix: tuple) -> None:
    for key, value in tree.items():
        origins[(*prefix, key)] = origin
        if isinstance(value, Mapping):
            _mark(value, origin, origins, (*prefix, key))


def _env_layer(env: Mapping[str, str]) -> list[tuple[str, dict[str, Any]]]:
    layers = []
    for name, raw in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in _NOT_CONFIG_ENV:
            continue
        keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]
        if len(keys) < 2:
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        tree: dict[str, Any] = {keys[-1]: value}
        for key in reversed(keys[:-1]):
            tree = {key: tree}
        layers.append((f"${name}", tree))
    return layers


def _origin_of(loc: tuple[str, ...], origins: dict[tuple, str], order: list[str]) -> str | None:
    """The source that set ``loc`` (or an ancestor); for a whole-section error, the latest
    source that set anything below it."""
    for i in range(len(loc), 0, -1):
        if loc[:i] in origins:
            found = origins[loc[:i]]
            below = [origins[k] for k in origins if k[: len(loc)] == loc and len(k) > len(loc)]
            if i == len(loc) and below:
                return max(below + [found], key=order.index)
            return found
    below = [origins[k] for k in origins if k[: len(loc)] == loc]
    return max(below, key=order.index) if below else None


def first_error(exc: ValidationError) -> tuple[tuple[str, ...], str]:
    """The first error of a pydantic ValidationError as (key path, what was expected and got):
    the one conversion of a validation error into a line that every edge uses."""
    first = exc.errors()[0]
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return tuple(str(p) for p in first.get("loc", ())), _describe(first) + more


def _describe(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    msg = error.get("msg", "invalid value")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    given = error.get("input")
    if kind not in ("missing",) and not isinstance(given, (dict, list)):
        msg = f"{msg} (got {given!r})"
    return msg


def load_config(workspace: Path | None = None, *, env: Mapping[str, str] | None = None,
                extra_file: Path | None = None) -> AstroAgentConfig:
    """The effective configuration. Raises ConfigError with one line on any bad value."""
    env = os.environ if env is None else env
    origins: dict[tuple, str] = {}
    merged: dict[str, Any] = {}
    packaged = packaged_config_path()
    sources: list[tuple[str, Mapping[str, Any]]] = [(str(packaged), _read_yaml(packaged))]
    ws = workspace if workspace is not None else find_workspace()
    if ws is not None and (ws / WORKSPACE_FILE).is_file():
        sources.append((str(ws / WORKSPACE_FILE), _read_yaml(ws / WORKSPACE_FILE)))
    explicit = extra_file or (Path(env["ASTROAGENT_CONFIG"]) if env.get("ASTROAGENT_CONFIG") else None)
    if explicit is not None:
        sources.append((str(explicit), _read_yaml(explicit)))
    sources.extend(_env_layer(env))
    for origin, tree in sources:
        _merge(merged, tree, origin, origins)
    try:
        return AstroAgentConfig.model_validate(merged)
    except ValidationError as exc:
        loc, what = first_error(exc)
        origin = _origin_of(loc, origins, [name for name, _ in sources]) or str(packaged)
        raise ConfigError(f"{origin}: {'.'.join(loc) or '(top level)'}: {what}") from None
