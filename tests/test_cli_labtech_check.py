"""``astroagent labtech check``: exit 0 / 1 with one line per broken rule / 2 for unreadable files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from astroagent.cli import main
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.models import Opportunity

OLD = '''import logging

log = logging.getLogger(__name__)


def fetch(url, retries=3):
    log.info("fetch %s", url)
    return url


def keep(x):
    return x
'''


@pytest.fixture
def files(tmp_path: Path):
    target = tmp_path / "fetch.py"
    target.write_text(OLD)
    proposed = tmp_path / "proposed.py"
    return target, proposed


def test_a_safe_proposal_exits_0(files, capsys):
    target, proposed = files
    outcome = apply_fix(OLD, "fetch", Opportunity(type="frequent_error", priority="high", description="d",
                                                  signature="s", fix="add_retry_mechanism",
                                                  error_types=("ConnectionResetError",)))
    proposed.write_text(outcome.new_source)
    assert main(["labtech", "check", "--target", str(target), "--proposed", str(proposed),
                 "--kind", "rule:add_retry_mechanism", "--function", "fetch"]) == 0
    assert "ok" in capsys.readouterr().out
    # judged as the rule's output for another function, the same file is refused
    assert main(["labtech", "check", "--target", str(target), "--proposed", str(proposed),
                 "--kind", "rule:add_retry_mechanism", "--function", "keep"]) == 1
    assert "fetch" in capsys.readouterr().out


def test_a_rule_output_with_anything_more_is_refused(files, capsys):
    target, proposed = files
    outcome = apply_fix(OLD, "fetch", Opportunity(type="frequent_error", priority="high", description="d",
                                                  signature="s", fix="add_retry_mechanism",
                                                  error_types=("ConnectionResetError",)))
    proposed.write_text(outcome.new_source.replace("    return url", "    return url.upper()"))
    assert main(["labtech", "check", "--target", str(target), "--proposed", str(proposed),
                 "--kind", "rule:add_retry_mechanism"]) == 1
    assert "shape:" in capsys.readouterr().out


def test_an_unknown_kind_is_bad_usage(files, capsys):
    target, proposed = files
    proposed.write_text(OLD)
    assert main(["labtech", "check", "--target", str(target), "--proposed", str(proposed), "--kind", "rule:nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rule:add_caching" in err


def test_help_states_the_rules_without_pointing_at_a_design_document(capsys):
    assert main(["labtech", "check", "--help"]) == 0
    out = capsys.readouterr().out
    assert "DESIGN" not in out and "--kind" in out and "--function" in out and "allow-list" in out


def test_a_hostile_proposal_exits_1_with_one_line_per_broken_rule(files, capsys):
    target, proposed = files
    proposed.write_text("import os\nimport subprocess\n\n\ndef fetch(url):\n    subprocess.run(['rm', url])\n"
                        "    os.remove(url)\n    try:\n        return url\n    except Exception:\n        pass\n")
    assert main(["labtech", "check", "--target", str(target), "--proposed", str(proposed)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    rules = sorted(line.split(": ")[1] for line in lines)
    # the import of logging and the logger were dropped too ("shape"), and os is no allowed import
    assert len(lines) == 8 and rules == ["except-widened", "file-deletion", "imports", "logging", "parameters",
                                         "process", "public-api", "shape"]
    assert all(line.startswith(str(target)) for line in lines)


def test_json_output(files, capsys):
    target, proposed = files
    proposed.write_text("def fetch(:\n")
    assert main(["labtech", "check", "--target", str(target), "--proposed", str(proposed), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False and len(data["violations"]) == 1 and "parse" in data["violations"][0]


def test_binary_proposal_is_a_violation_not_a_crash(files, capsys):
    target, proposed = files
    proposed.write_bytes(b"\x00\xff\xfe" * 100)
    assert main(["labtech", "check", "--target", str(target), "--proposed", str(proposed)]) == 1
    assert "does not parse" in capsys.readouterr().out


@pytest.mark.parametrize("which", ["missing", "directory"])
def test_unreadable_files_exit_2_with_one_line(files, capsys, which):
    target, proposed = files
    bad = target.parent / "nope.py" if which == "missing" else target.parent
    assert main(["labtech", "check", "--target", str(bad), "--proposed", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--target" in err


def test_missing_option_is_usage_error(files, capsys):
    target, _ = files
    assert main(["labtech", "check", "--target", str(target)]) == 2
    assert "--proposed" in capsys.readouterr().err


def test_real_subprocess_exit_codes(files):
    target, proposed = files
    proposed.write_text(OLD.replace("def keep(x):\n    return x\n", ""))
    run = subprocess.run([sys.executable, "-m", "astroagent", "labtech", "check", "--target", str(target),
                          "--proposed", str(proposed)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1, run.stderr
    assert run.stdout.strip().endswith("public-api: function keep removed (old line 11)")


def test_the_workspace_s_allowed_imports_are_the_ones_checked(files, capsys, monkeypatch):
    target, proposed = files
    monkeypatch.delenv("ASTROAGENT_WORKSPACE", raising=False)
    proposed.write_text(OLD.replace("    return x\n", "    import pandas\n    return pandas.Series(x)\n"))
    args = ["labtech", "check", "--target", str(target), "--proposed", str(proposed), "--function", "keep"]
    assert main(args) == 1
    assert "pandas" in capsys.readouterr().out
    (target.parent / "astroagent.yaml").write_text(
        "lab_technician:\n  llm:\n    allowed_imports: [math, pandas]\n")
    assert main(args) == 0
    (target.parent / "astroagent.yaml").write_text("lab_technician:\n  llm:\n    allowed_imports: ['no such']\n")
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "allowed_imports" in err[0]
