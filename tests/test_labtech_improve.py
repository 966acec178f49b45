"""The improvement stage end to end on hand-made workspaces: real fixes, real validation, real runs."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from _labtech_ws import FETCH, MODEL, TEST_MODEL, TEST_FETCH, FlakyArchive, make_workspace, run_workload

from astroagent.config import AstroAgentConfig
from astroagent.labtech.changes.improve import run_improvements, sorted_opportunities
from astroagent.labtech.changes.ledger import Ledger
from astroagent.labtech.models import Analysis, ErrorPattern, Opportunity, VersionStats
from astroagent.telemetry import package_code_version

CONFIG = AstroAgentConfig()
STATS = '''\
"""Ratios."""


def ratio(a, b):
    return a / b


def scale(values, factor):
    return [v * factor for v in values]
'''


def _retry_opp(target: str = "experimenter/fetch.py::fetch_dataset", signature: str = "sig-reset",
               **extra) -> Opportunity:
    fields = dict(type="frequent_error", priority="high", score=10.0, target=target, fix="add_retry_mechanism",
                  signature=signature, method=target.rsplit("::", 1)[-1], error_types=("ConnectionResetError",),
                  description="ConnectionResetError in fetch_dataset: 25 of 60 executions")
    fields.update(extra)
    return Opportunity(**fields)


def _analysis(*opps: Opportunity, patterns=(), per_version=None) -> Analysis:
    return Analysis(generated_at=datetime.now(UTC), window_hours=24, log_dir="logs", opportunities=opps,
                    error_patterns=patterns, per_version=per_version or {}, needs_intervention=True)


def _transient(signature: str = "sig-reset") -> ErrorPattern:
    return ErrorPattern(signature=signature, error_type="ConnectionResetError", template="reset", count=25,
                        transient=True)


def _fetch_ws(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws", {"experimenter/fetch.py": FETCH, "tests/test_fetch.py": TEST_FETCH})


def test_opportunities_sort_by_priority_then_score() -> None:
    a = _retry_opp(priority="low", score=99, signature="a")
    b = _retry_opp(priority="critical", score=1, signature="b")
    c = _retry_opp(priority="critical", score=5, signature="c")
    assert [o.signature for o in sorted_opportunities([a, b, c])] == ["c", "b", "a"]


def test_a_retry_lifts_the_flaky_archive_workload(tmp_path: Path) -> None:
    ws = _fetch_ws(tmp_path)
    with FlakyArchive(reset_rate=1 / 3, seed=11) as archive:
        before, _, _ = run_workload(ws, archive.url, 30)
        outcome = run_improvements(_analysis(_retry_opp(), patterns=(_transient(),)), config=CONFIG,
                                   workspace=ws, data_dir=ws / "data")
        after, _, _ = run_workload(ws, archive.url, 30)
    [change] = outcome.improvements
    assert change["status"] == "applied", change["reason"]
    assert "tenacity" in change["diff"] and change["engine"] == "rules"
    assert "tenacity.retry" in (ws / "experimenter/fetch.py").read_text()
    print(f"\nflaky archive: success {before}/30 before, {after}/30 after the retry")
    assert before / 30 <= 0.8 and after / 30 >= 0.95
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=ws,
                           capture_output=True, text=True, env={"PYTHONPATH": str(ws), "PATH": "/usr/bin:/bin"})
    assert tests.returncode == 0, tests.stdout
    record = Ledger(ws / "data").get(change["id"])
    assert record["verdict"] == "pending" and Path(record["backup"]).read_text() == FETCH
    assert record["code_version_after"] == package_code_version(ws / "experimenter") != record["code_version_before"]
    again = run_improvements(_analysis(_retry_opp(), patterns=(_transient(),)), config=CONFIG, workspace=ws,
                             data_dir=ws / "data")
    assert again.improvements == () and any("tried before" in n for n in again.notes)


def test_a_deterministic_bug_never_gets_a_retry(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", {"experimenter/stats.py": STATS})
    det = ErrorPattern(signature="sig-zero", error_type="ZeroDivisionError", template="division by zero",
                       count=30, transient=False)
    opps = (_retry_opp("experimenter/stats.py::ratio", "sig-zero", error_types=("ZeroDivisionError",)),
            _retry_opp("experimenter/stats.py::ratio", "sig-zero2", error_types=("ZeroDivisionError",),
                       type="deterministic_failure", fix="llm_rewrite"))
    outcome = run_improvements(_analysis(*opps, patterns=(det,)), config=CONFIG, workspace=ws, data_dir=ws / "data")
    assert outcome.improvements == ()
    assert (ws / "experimenter/stats.py").read_text() == STATS
    assert any("deterministic" in n for n in outcome.notes)
    assert any("reported only" in n and "no LLM" in n for n in outcome.notes)
    # and from real logs: a ZeroDivisionError on constant input is reported, never retried
    from astroagent.labtech.analysis.analyze import run_analysis
    from astroagent.labtech.analysis.analyze import default_targets
    ok, _, _ = run_workload(ws, "-", 12, "ratio")
    assert ok == 0
    real = run_analysis(CONFIG.lab_technician, ws / "data/logs/experimenter", ws / "data/logs/lab_technician",
                        workspace=ws, targets=default_targets(CONFIG.lab_technician, ws), force=True)
    assert any(o.target == "experimenter/stats.py::ratio" for o in real.opportunities)
    assert not any(o.fix == "add_retry_mechanism" for o in real.opportunities)
    from_logs = run_improvements(real, config=CONFIG, workspace=ws, data_dir=ws / "data", engine="rules")
    assert not [i for i in from_logs.improvements if i["fix"] == "add_retry_mechanism"]
    assert "tenacity" not in (ws / "experimenter/stats.py").read_text()


def test_dry_run_shows_the_diff_and_changes_nothing(tmp_path: Path) -> None:
    ws = _fetch_ws(tmp_path)
    outcome = run_improvements(_analysis(_retry_opp(), patterns=(_transient(),)), config=CONFIG, workspace=ws,
                               data_dir=ws / "data", dry_run=True)
    [change] = outcome.improvements
    assert change["status"] == "proposed" and change["diff"].startswith("--- a/experimenter/fetch.py")
    assert (ws / "experimenter/fetch.py").read_text() == FETCH
    assert not (ws / "data/logs/lab_technician/backups").exists()
    assert not Ledger(ws / "data").already_tried("sig-reset", "add_retry_mechanism")


def test_a_change_failing_the_pinned_tests_is_rejected_and_tried_again_later(tmp_path: Path) -> None:
    ws = _fetch_ws(tmp_path)
    outcome = run_improvements(_analysis(_retry_opp(), patterns=(_transient(),)), config=CONFIG, workspace=ws,
                               data_dir=ws / "data", test_command="exit 1")
    [change] = outcome.improvements
    assert change["status"] == "rejected" and "validation failed (tests)" in change["reason"]
    assert (ws / "experimenter/fetch.py").read_text() == FETCH
    second = run_improvements(_analysis(_retry_opp(), patterns=(_transient(),)), config=CONFIG, workspace=ws,
                              data_dir=ws / "data")      # a failed validation bars nothing: the tests pass now
    [applied] = second.improvements
    assert applied["status"] == "applied" and "tenacity.retry" in (ws / "experimenter/fetch.py").read_text()


def test_targets_outside_the_allow_list_are_refused(tmp_path: Path) -> None:
    ws = _fetch_ws(tmp_path)
    (tmp_path / "outside.py").write_text(FETCH)
    opps = [_retry_opp("tests/test_fetch.py::test_fetch_reads_a_local_file", "s1"),
            _retry_opp("../outside.py::fetch_dataset", "s2"),
            _retry_opp("experimenter/fetch.py::fetch_dataset", "s3")]
    outcome = run_improvements(_analysis(*opps), config=CONFIG, workspace=ws, data_dir=ws / "data",
                               targets=[ws / "experimenter" / "compute.py"])
    assert outcome.improvements == ()
    text = " | ".join(outcome.notes)
    assert "tests" in text and "outside the workspace" in text and "allow-list" in text
    assert (tmp_path / "outside.py").read_text() == FETCH and (ws / "experimenter/fetch.py").read_text() == FETCH


def test_at_most_max_improvements_and_fixes_to_one_file_compose(tmp_path: Path) -> None:
    two = FETCH + '''

@instrument
def fetch_catalog(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()
'''
    ws = make_workspace(tmp_path / "ws", {"experimenter/fetch.py": two, "tests/test_fetch.py": TEST_FETCH})
    opps = (_retry_opp(signature="s1"), _retry_opp("experimenter/fetch.py::fetch_catalog", "s2", score=5),
            _retry_opp("experimenter/compute.py::square", "s3", score=1))
    patterns = tuple(_transient(s) for s in ("s1", "s2", "s3"))
    outcome = run_improvements(_analysis(*opps, patterns=patterns), config=CONFIG, workspace=ws,
                               data_dir=ws / "data", max_improvements=2)
    assert [i["status"] for i in outcome.improvements] == ["applied", "applied"]
    text = (ws / "experimenter/fetch.py").read_text()
    assert text.count("@tenacity.retry(") == 2
    assert any("max_improvements (2) reached" in n for n in outcome.notes)
    first, second = (Ledger(ws / "data").get(i["id"]) for i in outcome.improvements)
    assert first["code_version_before"] == second["code_version_before"]   # both judged against what ran
    assert second["code_version_after"] in first["code_versions_after"]
    judged = run_improvements(_analysis(), config=CONFIG, workspace=ws, data_dir=ws / "data")
    assert {v["id"] for v in judged.verdicts} == {first["id"], second["id"]}
    assert all(v["verdict"] == "pending" and v["evidence"]["judged_with"] for v in judged.verdicts)


def test_a_worse_change_is_rolled_back_automatically(tmp_path: Path) -> None:
    ws = _fetch_ws(tmp_path)
    applied = run_improvements(_analysis(_retry_opp(), patterns=(_transient(),)), config=CONFIG, workspace=ws,
                               data_dir=ws / "data")
    change = Ledger(ws / "data").get(applied.improvements[0]["id"])
    old, new = change["code_version_before"], change["code_version_after"]
    per_version = {old: VersionStats(code_version=old, executions=40, failed=2),
                   new: VersionStats(code_version=new, executions=30, failed=15)}
    outcome = run_improvements(_analysis(per_version=per_version), config=CONFIG, workspace=ws,
                               data_dir=ws / "data")
    [verdict] = outcome.verdicts
    assert verdict["verdict"] == "rolled_back" and verdict["evidence"]["success"]["p_worse"] < 0.05
    assert (ws / "experimenter/fetch.py").read_text() == FETCH
    record = Ledger(ws / "data").get(change["id"])
    assert record["status"] == "rolled_back" and "automatic rollback" in record["reason"]
    assert Ledger(ws / "data").already_tried("sig-reset", "add_retry_mechanism")


def test_without_a_workspace_nothing_is_changed(tmp_path: Path) -> None:
    outcome = run_improvements(_analysis(_retry_opp()), config=CONFIG, workspace=None, data_dir=tmp_path / "data")
    assert outcome.improvements == () and any("no workspace" in n for n in outcome.notes)


def test_llm_engine_answer_is_guarded_and_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fake_llm_server import FakeLLMServer, Reply

    from astroagent.config.models import LabTechnicianConfig, LLMConfig
    ws = make_workspace(tmp_path / "ws", {"experimenter/stats.py": STATS, "tests/test_stats.py":
                        "from experimenter.stats import ratio\n\n\ndef test_ratio():\n    assert ratio(1, 2) == 0.5\n"})
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    opp = Opportunity(type="deterministic_failure", priority="critical", score=9, signature="sig-zero",
                      description="ZeroDivisionError in ratio on b == 0", target="experimenter/stats.py::ratio",
                      fix="llm_rewrite", method="ratio", error_types=("ZeroDivisionError",))
    hostile = "def ratio(a, b):\n    import os\n    os.system('rm -rf /tmp/x')\n    return a / b\n"
    good = "def ratio(a, b):\n    if b == 0:\n        return float('nan')\n    return a / b\n"
    with FakeLLMServer([Reply.code(hostile), Reply.code(good)]) as server:
        config = AstroAgentConfig(lab_technician=LabTechnicianConfig(llm=LLMConfig(base_url=server.base_url)))
        first = run_improvements(_analysis(opp), config=config, workspace=ws, data_dir=ws / "data")
        assert first.improvements[0]["status"] == "rejected" and "guard" in first.improvements[0]["reason"]
        assert (ws / "experimenter/stats.py").read_text() == STATS
        second = run_improvements(_analysis(opp), config=config, workspace=ws, data_dir=ws / "data")
    assert second.improvements[0]["status"] == "applied" and second.improvements[0]["engine"] == "llm"
    assert "float('nan')" in (ws / "experimenter/stats.py").read_text()
    assert list((ws / "data/logs/lab_technician/llm_transcripts").glob("llm_*.json"))


def _cache_opp(qualname: str, signature: str) -> Opportunity:
    return Opportunity(type="uncached_repeated_work", priority="medium", score=4.0, signature=signature,
                       description=f"{qualname} called again with equal arguments", method=qualname,
                       target=f"experimenter/model.py::{qualname}", fix="add_caching",
                       evidence={"repeated_args": 0.9, "distinct_args": 1, "calls": 40})


def test_a_cache_makes_a_slow_pure_function_faster_and_an_impure_one_gets_none(tmp_path: Path) -> None:
    from astroagent.labtech.analysis.analyze import run_analysis
    from astroagent.labtech.analysis.analyze import default_targets

    ws = make_workspace(tmp_path / "ws", {"experimenter/model.py": MODEL, "tests/test_model.py": TEST_MODEL})
    ok, slow, results_before = run_workload(ws, "-", 5, "model")
    assert ok == 5
    analysis = run_analysis(CONFIG.lab_technician, ws / "data/logs/experimenter", ws / "data/logs/lab_technician",
                            workspace=ws, targets=default_targets(CONFIG.lab_technician, ws), force=True)
    assert any(o.fix == "add_caching" and o.target == "experimenter/model.py::model_flux"
               for o in analysis.opportunities), analysis.opportunities
    # an impure function with the same evidence (as if analysis had been fooled) still gets no cache
    analysis = analysis.model_copy(update={"opportunities": (*analysis.opportunities,
                                                             _cache_opp("noisy_flux", "sig-noisy"))})
    outcome = run_improvements(analysis, config=CONFIG, workspace=ws, data_dir=ws / "data")
    by_target = {i["target"].rsplit("::", 1)[1]: i for i in outcome.improvements}
    assert by_target["model_flux"]["status"] == "applied", by_target["model_flux"]["reason"]
    assert by_target["noisy_flux"]["status"] == "rejected" and "random" in by_target["noisy_flux"]["reason"]
    ok, fast, results_after = run_workload(ws, "-", 5, "model")
    print(f"\nslow pure function: {slow:.3f}s before, {fast:.3f}s after ({slow / fast:.1f}x)")
    assert ok == 5 and results_after == results_before and slow / fast >= 3
    assert "noisy_flux(period: float) -> float:\n" in (ws / "experimenter/model.py").read_text()
    assert (ws / "experimenter/model.py").read_text().count("lru_cache") == 1


def test_an_edit_made_while_the_change_was_validated_is_kept_and_the_change_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import astroagent.labtech.changes.improve as improve

    ws = _fetch_ws(tmp_path)
    real = improve.validate_change

    def validate_while_the_scientist_edits(workspace, rel, *a, **k):
        with open(Path(workspace) / rel, "a", encoding="utf-8") as fh:
            fh.write("\n# the scientist's note, written during validation\n")
        return real(workspace, rel, *a, **k)

    monkeypatch.setattr(improve, "validate_change", validate_while_the_scientist_edits)
    outcome = run_improvements(_analysis(_retry_opp(), patterns=(_transient(),)), config=CONFIG, workspace=ws,
                               data_dir=ws / "data")
    assert outcome.applied == 0
    text = (ws / "experimenter" / "fetch.py").read_text()
    assert "the scientist's note" in text and "tenacity" not in text
    assert any("changed on disk" in str(i.get("reason")) for i in outcome.improvements) or any(
        "changed on disk" in n for n in outcome.notes)
