"""Reports: the seed's markdown layout, the analysis json, PNG plots, the latest copy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analyze import run_analysis
from astroagent.labtech.reports.render import LATEST_REPORT, analyze_json, latest_report, write_outputs

SEED = Path(__file__).parent / "data" / "seed_logs"
NOW = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)


def test_report_json_and_plots(tmp_path: Path) -> None:
    analysis = run_analysis(LabTechnicianConfig(), SEED, tmp_path / "lt", now=NOW)
    improvements = [{"id": "c1", "type": "add_retry_mechanism", "target": "experimenter/fetch.py::fetch",
                     "status": "applied", "reason": "transient ConnectionError", "verdict": "pending"}]
    out = write_outputs(analysis, tmp_path / "lt", improvements=improvements, now=NOW)
    text = out["report_path"].read_text()
    for section in ("## Summary", "## Performance Analysis", "## Improvement Opportunities",
                    "## Improvements Applied"):
        assert section in text
    assert "ConnectionError" in text and "75.0%" in text and "add_retry_mechanism" in text and "| c1 |" in text
    data = orjson.loads(out["analysis_path"].read_bytes())
    assert out["analysis_path"].name == "analysis_20240115T120000000Z.json"
    assert data["executions"]["total"] == 20 and data["improvements"][0]["id"] == "c1"
    assert len(out["plots"]) == 2
    for png in out["plots"]:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert (tmp_path / "lt" / LATEST_REPORT).read_text() == text
    assert latest_report(tmp_path / "lt") == tmp_path / "lt" / LATEST_REPORT


def test_analyze_json_has_the_design_keys(tmp_path: Path) -> None:
    data = analyze_json(run_analysis(LabTechnicianConfig(), SEED, tmp_path, now=NOW))
    assert {"log_entries_analyzed", "malformed_lines", "executions", "avg_execution_time", "error_patterns",
            "slow_methods", "opportunities"} <= set(data)
    assert set(data["executions"]) == {"total", "failed", "success_rate"}
    assert {"error_type", "template", "count", "method", "location", "transient"} <= set(data["error_patterns"][0])
    assert {"method", "calls", "mean", "p50", "p95"} <= set(data["slow_methods"][0])
    assert {"type", "priority", "description", "target", "fix"} <= set(data["opportunities"][0])


def test_empty_analysis_still_reports(tmp_path: Path) -> None:
    empty = tmp_path / "logs"
    empty.mkdir()
    analysis = run_analysis(LabTechnicianConfig(), empty, tmp_path / "lt", now=NOW)
    out = write_outputs(analysis, tmp_path / "lt", now=NOW)
    assert out["plots"] == [] and "none in this window" in out["report_path"].read_text()


def test_only_the_newest_runs_outputs_are_kept(tmp_path: Path, monkeypatch) -> None:
    import astroagent.labtech.reports.render as reports
    from astroagent.labtech.models import Analysis

    monkeypatch.setattr(reports, "KEEP_RUNS", 2)
    analysis = Analysis(generated_at=datetime(2026, 1, 1, tzinfo=UTC), window_hours=24, log_dir="x")
    written = [reports.write_outputs(analysis, tmp_path, now=datetime(2026, 1, 1, 10, m, tzinfo=UTC))
               for m in range(4)]
    assert sorted(tmp_path.glob("lab_technician_report_*.md")) == [w["report_path"] for w in written[-2:]]
    assert sorted(tmp_path.glob("analysis_*.json")) == [w["analysis_path"] for w in written[-2:]]
    assert (tmp_path / "latest_report.md").read_text() == written[-1]["report_path"].read_text()


def test_a_results_glob_finds_analyses_not_internal_state(tmp_path: Path, monkeypatch) -> None:
    import astroagent.labtech.reports.render as reports

    monkeypatch.setattr(reports, "KEEP_RUNS", 2)
    lab = tmp_path / "lab_technician"
    written = [write_outputs(run_analysis(LabTechnicianConfig(), SEED, lab, now=NOW), lab,
                             now=datetime(2026, 1, 1, 10, m, tzinfo=UTC)) for m in range(3)]
    results = [w["analysis_path"] for w in written[-2:]]
    assert sorted(lab.glob(reports.ANALYSIS_RESULTS)) == results
    # the seed's glob: the newest analyses and the checkpoints the seed keeps there, no caches or aggregates
    assert sorted(lab.glob("analysis_*.json")) == [*results, lab / "analysis_state.json"]
    assert (lab / "state" / "analysis_hours.json").is_file() and (lab / "state" / "analysis_cache.json").is_file()


def test_the_report_shows_each_verdict_with_both_sides_of_its_evidence(tmp_path) -> None:
    from astroagent.labtech.reports.render import render_markdown
    analysis = run_analysis(LabTechnicianConfig(), SEED, tmp_path / "lt", now=NOW)
    verdict = {"id": "chg-1", "type": "frequent_error", "target": "experimenter/fetch.py::fetch_dataset",
               "verdict": "kept", "reason": "keep after 26 pairs: success difference +0.31",
               "evidence": {"design": "concurrent", "canary": {"executions": 32, "failed": 2},
                            "baseline": {"executions": 36, "failed": 12},
                            "period": {"first": "2026-12-02T20:00:54Z", "last": "2026-12-02T20:02:09Z"}}}
    text = render_markdown(analysis, verdicts=[verdict])
    assert "## Verdicts on Earlier Changes" in text
    assert "canary 30/32 ok, baseline 24/36 ok, 2026-12-02T20:00:54 to 20:02:09" in text
    assert "keep after 26 pairs" in text
