from __future__ import annotations

from pathlib import Path

import pytest

from astroagent.cli import main
from astroagent.config import load_config
from astroagent.errors import ConfigError


def test_packaged_defaults_hold_the_seed_keys() -> None:
    lab = load_config(env={}).lab_technician
    for key in ("model", "temperature", "max_tokens", "analysis_window_hours", "improvement_threshold",
                "backup_before_changes", "improvement_preferences", "safety_constraints"):
        assert hasattr(lab, key)
    assert lab.safety_constraints.max_improvements == 3
    assert lab.analysis_window_hours == 24


def test_workspace_file_overrides_and_env_overrides_it(tmp_path: Path) -> None:
    (tmp_path / "astroagent.yaml").write_text("lab_technician:\n  improvement_threshold: 0.7\n  model: llama3\n")
    config = load_config(tmp_path, env={"ASTROAGENT_LAB_TECHNICIAN__MODEL": "qwen2"})
    assert config.lab_technician.improvement_threshold == 0.7
    assert config.lab_technician.model == "qwen2"
    assert config.lab_technician.max_tokens == 4000  # untouched keys keep their defaults


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("lab_technician:\n  improvement_threshold: 1.5\n", "lab_technician.improvement_threshold: Input should be less than or equal to 1 (got 1.5)"),
        ("lab_technician:\n  temprature: 0.2\n", "lab_technician.temprature: unknown key"),
        ("pipeline:\n  projects_per_cycle: many\n", "pipeline.projects_per_cycle: Input should be a valid integer"),
        ("lab_technician:\n  improvement_preferences:\n    allowed_fixes: [add_magic]\n", "unknown fix 'add_magic'"),
        ("- just\n- a list\n", "expected a mapping of sections"),
        ("lab_technician: [unclosed\n", "line"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path, yaml_text: str, expected: str) -> None:
    (tmp_path / "astroagent.yaml").write_text(yaml_text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, env={})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "astroagent.yaml"))
    assert expected in message


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^\$ASTROAGENT_LAB_TECHNICIAN__MAX_TOKENS: lab_technician.max_tokens"):
        load_config(env={"ASTROAGENT_LAB_TECHNICIAN__MAX_TOKENS": "-5"})


def test_cli_reports_bad_config_in_one_line_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "astroagent.yaml").write_text("archive:\n  stall_rate: 2\n")
    monkeypatch.chdir(tmp_path)
    assert main(["config", "--json"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "astroagent.yaml: archive.stall_rate" in err
    assert "Traceback" not in err
