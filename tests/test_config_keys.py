"""The packaged agents.yaml lists every key of the configuration with its default (issue 14)."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from astroagent.config import load_config, packaged_config_path
from astroagent.config.models import AstroAgentConfig, WatchedAgentConfig


def _missing(model: type[BaseModel], tree: dict[str, Any], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        if name not in tree:
            out.append(prefix + name)
            continue
        sub = field.annotation
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out += _missing(sub, tree[name] or {}, f"{prefix}{name}.")
    return out


def test_every_model_field_appears_in_the_packaged_yaml() -> None:
    tree = yaml.safe_load(packaged_config_path().read_text(encoding="utf-8"))
    assert _missing(AstroAgentConfig, tree, "") == []
    assert _missing(WatchedAgentConfig, tree["agents"]["experimenter"], "agents.experimenter.") == []


def test_the_yaml_values_are_the_model_defaults() -> None:
    """``astroagent config --json`` on no workspace equals the models' own defaults, key by key."""
    loaded = load_config(env={}).model_dump(mode="json")
    defaults = AstroAgentConfig().model_dump(mode="json")
    assert loaded.pop("agents") == {"experimenter": WatchedAgentConfig().model_dump(mode="json")}
    defaults.pop("agents")
    assert loaded == defaults


def test_a_bad_agent_name_is_one_line_naming_the_file(tmp_path) -> None:
    import pytest

    from astroagent.errors import ConfigError
    (tmp_path / "astroagent.yaml").write_text("agents:\n  ../up: {code_package: x}\n")
    with pytest.raises(ConfigError, match=r"astroagent.yaml: agents: agent name '../up' must be a plain folder"):
        load_config(tmp_path, env={})
    (tmp_path / "astroagent.yaml").write_text("agents:\n  mypkg: {code_pakage: x}\n")
    with pytest.raises(ConfigError, match=r"agents.mypkg.code_pakage: unknown key"):
        load_config(tmp_path, env={})
