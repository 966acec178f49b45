"""Opportunities from logs + target code: each detector, its fix rule, targets, gating, the registry."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from astroagent.config.models import LabTechnicianConfig
from astroagent.labtech.analysis.analyze import default_targets, run_analysis
from astroagent.labtech.models import Opportunity
from astroagent.labtech.analysis.opportunities import DETECTORS, Detector, register

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FETCH = '''from urllib.request import urlopen
from astroagent.telemetry import instrument


@instrument(digest_args=True)
def fetch_dataset(name):
    with urlopen("http://127.0.0.1:9/" + name) as resp:
        return resp.read()
'''
STATS = '''def period_stats(values):
    total = 0.0
    for v in values:
        total += v * v
    return total


def parse_header(text):
    key, value = text.split("=")
    return {key: value}


def complicated(a, b, c):
    out = 0
''' + "".join(f"    if a > {i} and b < {i}:\n        out += {i}\n" for i in range(8)) + "    return out\n"
FIT = '''def fit_transit(curve):
    return curve["depth"] / curve["width"]
'''


def _line(t: datetime, eid: str, et: str, data: dict) -> bytes:
    return orjson.dumps({"timestamp": t.isoformat(), "execution_id": eid, "event_type": et, "event_data": data}) + b"\n"


def _failed(method: str, etype: str, msg: str, file: str, function: str, line: int, digest: str) -> dict:
    return {"method": method, "duration": 0.2, "error_type": etype, "error": f"{etype}: {msg}",
            "location": {"file": file, "function": function, "line": line}, "args_digest": digest}


def _logs(log_dir: Path, n: int = 40) -> None:
    out = bytearray()
    t = NOW - timedelta(hours=3)
    for i in range(n):
        eid = f"e{i:03d}"
        t += timedelta(minutes=3)
        out += _line(t, eid, "execution_start", {"code_version": "v1"})
        out += _line(t, eid, "method_complete", {"method": "period_stats", "duration": 0.6, "success": True,
                                                 "args_digest": f"p{i % 3}"})
        failure = None
        if i < 8:
            failure = _failed("fetch_dataset", "ConnectionError", f"[Errno 111] Connection refused port {9000 + i}",
                              "experimenter/fetch.py", "fetch_dataset", 7, f"f{i % 4}")
        elif i in (10, 14, 18, 22):
            failure = _failed("fit_transit", "KeyError", "'depth'", "experimenter/fit.py", "fit_transit", 2, "k1")
        elif i in (11, 15, 19):
            failure = _failed("load", "ValueError", "not enough values to unpack (expected 2, got 1)",
                              "experimenter/stats.py", "parse_header", 9, f"h{i}")
        else:
            out += _line(t, eid, "method_complete", {"method": "fetch_dataset", "duration": 0.3, "success": True,
                                                     "args_digest": f"f{i % 4}"})
        if failure is not None:
            out += _line(t + timedelta(seconds=1), eid, "method_failed", failure)
        out += _line(t + timedelta(seconds=2), eid, "execution_complete",
                     {"success": failure is None, "duration": 2.0})
    log_dir.mkdir(parents=True)
    (log_dir / "execution_20240301.jsonl").write_bytes(bytes(out))


def _workspace(root: Path, log: bytes | None = None, **modules: str) -> Path:
    """A workspace under ``root`` with ``experimenter/<name>.py`` per module and, when given, one day's log."""
    ws = root / "ws"
    (ws / "experimenter").mkdir(parents=True)
    (ws / "astroagent.yaml").write_text("{}\n")
    (ws / "experimenter" / "__init__.py").write_text("")
    for name, source in modules.items():
        (ws / "experimenter" / f"{name}.py").write_text(source)
    if log is not None:
        (ws / "data" / "logs" / "experimenter").mkdir(parents=True)
        (ws / "data" / "logs" / "experimenter" / "execution_20240301.jsonl").write_bytes(log)
    return ws


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    ws = _workspace(tmp_path, fetch=FETCH, stats=STATS, fit=FIT)
    _logs(ws / "data" / "logs" / "experimenter")
    return ws


def _analyse(ws: Path, state: str = "s", config: LabTechnicianConfig | None = None, **kw):
    config = config or LabTechnicianConfig()
    targets = kw.pop("targets", default_targets(config, ws))
    return run_analysis(config, ws / "data" / "logs" / "experimenter", ws / "data" / state, workspace=ws,
                        targets=targets, now=NOW, **kw)


def _by(opps: Iterable[Opportunity], kind: str) -> list[Opportunity]:
    return [o for o in opps if o.type == kind]


def test_each_detector_finds_its_case_with_the_right_fix_and_target(workspace: Path) -> None:
    a = _analyse(workspace)
    [retry] = [o for o in _by(a.opportunities, "frequent_error") if o.method == "fetch_dataset"]
    assert retry.fix == "add_retry_mechanism" and retry.target == "experimenter/fetch.py::fetch_dataset"
    assert retry.error_types == ("ConnectionError",) and retry.evidence["count"] == 8
    bugs = {o.error_types[0]: o for o in _by(a.opportunities, "deterministic_failure")}
    assert set(bugs) == {"KeyError", "ValueError"}
    bug = bugs["KeyError"]
    assert bug.fix == "llm_rewrite" and bug.target == "experimenter/fit.py::fit_transit"
    assert not [o for o in a.opportunities if o.signature == bug.signature and o.fix == "add_retry_mechanism"]
    [outage] = _by(a.opportunities, "dependency_outage")
    assert outage.fix == "add_circuit_breaker" and outage.evidence["longest_failure_streak"] == 8
    assert outage.evidence["outage_seconds"] == 1260.0 and outage.evidence["breaker_cooldown"] == 30.0
    [cache] = _by(a.opportunities, "uncached_repeated_work")
    assert cache.fix == "add_caching" and cache.target == "experimenter/stats.py::period_stats"
    [timeout] = _by(a.opportunities, "missing_timeout")
    assert timeout.fix == "add_timeout" and timeout.target == "experimenter/fetch.py::fetch_dataset"
    [instr] = _by(a.opportunities, "missing_instrumentation")
    assert instr.fix == "add_instrumentation" and instr.target == "experimenter/stats.py::parse_header"
    [cx] = _by(a.opportunities, "complexity")
    assert cx.target == "experimenter/stats.py::complicated" and cx.fix == "llm_rewrite"
    assert _by(a.opportunities, "low_success_rate") and a.needs_intervention
    order = [("critical", "high", "medium", "low").index(o.priority) for o in a.opportunities]
    assert order == sorted(order)


def test_signatures_are_stable_across_runs(workspace: Path) -> None:
    first = {(o.type, o.signature) for o in _analyse(workspace, "s1").opportunities}
    second = {(o.type, o.signature) for o in _analyse(workspace, "s2").opportunities}
    assert first == second


def test_without_targets_nothing_maps_and_no_cache_is_proposed(workspace: Path) -> None:
    a = _analyse(workspace, targets=[])
    assert a.opportunities and all(o.target is None for o in a.opportunities)
    assert all(o.fix != "add_caching" for o in a.opportunities)
    assert any("no target code" in n for n in a.notes)


def test_intervention_is_gated_by_the_threshold_unless_forced(workspace: Path, tmp_path: Path) -> None:
    healthy = tmp_path / "healthy"
    healthy.mkdir()
    out = bytearray()
    for i in range(10):
        t = NOW - timedelta(minutes=30 - i)
        out += _line(t, f"h{i}", "execution_start", {"code_version": "v"})
        out += _line(t, f"h{i}", "execution_complete", {"success": True, "duration": 1.0})
    (healthy / "execution_20240301.jsonl").write_bytes(bytes(out))
    cfg = LabTechnicianConfig()
    assert not run_analysis(cfg, healthy, tmp_path / "s", now=NOW).needs_intervention
    assert run_analysis(cfg, healthy, tmp_path / "s", now=NOW, force=True).needs_intervention
    lenient = LabTechnicianConfig(improvement_threshold=0.1)
    a = _analyse(workspace, "s3", lenient)
    assert a.executions.success_rate > 0.1 and a.needs_intervention  # high-priority patterns still count


def test_fixes_not_allowed_by_config_become_reports(workspace: Path) -> None:
    cfg = LabTechnicianConfig(improvement_preferences={"allowed_fixes": ["add_timeout"]})
    a = _analyse(workspace, "s4", cfg)
    assert {o.fix for o in a.opportunities} <= {"add_timeout", None}


def test_a_new_detector_is_one_registered_class(workspace: Path) -> None:
    @register
    class Everything(Detector):
        type = "complexity"  # reuse a known type name: the registry is keyed by it

        def detect(self, ctx):
            yield Opportunity(type="complexity", priority="low", description="x", signature="x:y")

    try:
        assert any(o.signature == "x:y" for o in _analyse(workspace, "s5").opportunities)
    finally:
        from astroagent.labtech.analysis import opportunities as mod
        DETECTORS["complexity"] = mod.Complexity()


CATALOG = '''import math

from astroagent.telemetry import instrument


class ExtinctionModel:
    def __init__(self, rv: float = 3.1) -> None:
        self.rv = rv

    @instrument(digest_args=True)
    def galactic_extinction(self, l_deg: float, b_deg: float) -> float:
        total = 0.0
        for k in range(20000):
            total += math.sin(math.radians(l_deg + k)) ** 2 * abs(math.cos(math.radians(b_deg)))
        return total / 20000

    @instrument(digest_args=True)
    def reddening(self, ebv: float) -> float:
        return self.rv * ebv
'''


def test_a_pure_method_that_never_reads_self_gets_a_cache_and_one_that_reads_self_a_report(
        tmp_path: Path) -> None:
    from astroagent.labtech.fixes import apply_fix

    out = bytearray()
    t = NOW - timedelta(hours=2)
    for i in range(30):   # 30 runs over 5 sky fields: 25 of 30 calls repeat an earlier (l, b)
        t += timedelta(minutes=3)
        eid = f"c{i:03d}"
        out += _line(t, eid, "execution_start", {"code_version": "v1"})
        out += _line(t, eid, "method_complete", {"method": "ExtinctionModel.galactic_extinction",
                                                 "duration": 0.062 + 0.004 * (i % 4), "success": True,
                                                 "args_digest": f"field{i % 5}"})
        out += _line(t, eid, "method_complete", {"method": "ExtinctionModel.reddening", "duration": 0.07,
                                                 "success": True, "args_digest": f"ebv{i % 2}"})
        out += _line(t + timedelta(seconds=1), eid, "execution_complete", {"success": True, "duration": 0.5})
    ws = _workspace(tmp_path, bytes(out), catalog=CATALOG)

    a = _analyse(ws)
    found = {o.method: o for o in _by(a.opportunities, "uncached_repeated_work")}
    cache = found["ExtinctionModel.galactic_extinction"]
    assert cache.fix == "add_caching" and cache.target == "experimenter/catalog.py::ExtinctionModel.galactic_extinction"
    assert cache.priority == "high" and cache.evidence["repeated_successful_calls"] == 25
    assert cache.evidence["method_without_self"] is True
    report = found["ExtinctionModel.reddening"]
    assert report.fix is None and report.priority == "low" and "reads self" in report.evidence["not_cacheable"]
    # the proposed fix is one the caching rule carries out (through a module-level helper)
    outcome = apply_fix(CATALOG, "ExtinctionModel.galactic_extinction", cache)
    assert outcome.status == "applied", outcome.reason
    assert "def _cached_ExtinctionModel_galactic_extinction(l_deg: float, b_deg: float)" in outcome.new_source
    assert apply_fix(CATALOG, "ExtinctionModel.reddening", cache.model_copy(
        update={"target": report.target})).status == "rejected"


def _fetch_workspace(tmp_path: Path, durations: list[float], failures: dict[int, tuple[str, str]] | None = None
                     ) -> Path:
    out = bytearray()
    t = NOW - timedelta(hours=3)
    for i, duration in enumerate(durations):
        t += timedelta(minutes=2)
        eid = f"t{i:03d}"
        out += _line(t, eid, "execution_start", {"code_version": "v1"})
        failure = (failures or {}).get(i)
        if failure:
            out += _line(t, eid, "method_failed", {**_failed("fetch_dataset", failure[0], failure[1],
                                                             "experimenter/fetch.py", "fetch_dataset", 7, f"d{i}"),
                                                   "duration": duration})
        else:
            out += _line(t, eid, "method_complete", {"method": "fetch_dataset", "duration": duration,
                                                     "success": True, "args_digest": f"d{i}"})
        out += _line(t + timedelta(seconds=8), eid, "execution_complete", {"success": not failure, "duration": 8.0})
    return _workspace(tmp_path, bytes(out), fetch=FETCH)


def test_stalls_call_for_a_timeout_even_when_every_call_succeeded(tmp_path: Path) -> None:
    from astroagent.labtech.fixes import apply_fix

    # 60 fetches of ~0.3 s; 2 stall 6 s and still succeed: p95 stays low, the success rate 100 %
    durations = [0.25 + 0.01 * (i % 10) for i in range(60)]
    durations[17] = durations[43] = 6.02
    a = _analyse(_fetch_workspace(tmp_path, durations))
    assert a.executions.success_rate == 1.0 and a.needs_intervention
    [opp] = _by(a.opportunities, "missing_timeout")
    assert opp.priority == "high" and opp.fix == "add_timeout" and "stalled" in opp.description
    ev = opp.evidence
    assert ev["stall_calls"] == 2 and ev["stall_seconds"] == 6.02 and ev["typical_p75"] < 0.4
    assert ev["success_rate"] == 1.0
    new = apply_fix(FETCH, "fetch_dataset", opp).new_source
    assert 'urlopen("http://127.0.0.1:9/" + name, timeout=3.0)' in new   # cuts a 6 s stall, spares 0.3 s calls
    assert ev["already_retries"] is False and "tenacity.stop_after_attempt(3)" in new   # a cut stall is retried


def test_timeout_errors_count_and_a_healthy_fast_method_is_only_reported(tmp_path: Path) -> None:
    timed_out = _analyse(_fetch_workspace(tmp_path / "a", [0.3] * 30, {
        i: ("TimeoutError", "The read operation timed out") for i in (3, 9, 15, 21)}))
    [opp] = _by(timed_out.opportunities, "missing_timeout")
    assert opp.priority == "high" and opp.error_types == ("TimeoutError",)
    healthy = _analyse(_fetch_workspace(tmp_path / "b", [0.3 + 0.01 * (i % 5) for i in range(30)]))
    [quiet] = _by(healthy.opportunities, "missing_timeout")
    assert quiet.priority == "medium" and quiet.evidence["stall_calls"] == 0 and not healthy.needs_intervention


def test_duration_profile_separates_stalls_only_from_a_bimodal_minority() -> None:
    from astroagent.labtech.analysis.opportunities import duration_profile

    bimodal = duration_profile([0.3] * 45 + [0.35] * 5 + [6.0, 6.1, 7.5])
    assert bimodal["stall_calls"] == 3 and bimodal["stall_seconds"] == 6.0 and bimodal["typical_max"] == 0.35
    smooth = duration_profile([0.2 * 1.15 ** k for k in range(40)])        # a smooth tail: no gap to split at
    assert smooth["stall_calls"] == 0 and smooth["stall_seconds"] is None
    mostly_slow = duration_profile([0.3] * 5 + [6.0] * 20)                  # the common case is not a stall
    assert mostly_slow["stall_calls"] == 0
    assert duration_profile([0.01, 0.01, 0.05])["stall_calls"] == 0          # short blips are not stalls
    assert duration_profile([]) == {}


def test_a_helper_without_a_timeout_is_judged_on_the_timings_of_its_instrumented_caller() -> None:
    from astroagent.labtech.analysis.analytics import WindowStats
    from astroagent.labtech.models import MethodStats, VersionStats
    from astroagent.labtech.analysis.opportunities import find_opportunities
    from astroagent.labtech.analysis.static import analyze_source

    src = ("from urllib.request import urlopen\nfrom astroagent.telemetry import instrument\n\n\n"
           "def fetch_rows(url):\n    with urlopen(url) as resp:\n        return resp.read()\n\n\n"
           "@instrument\ndef absolute_magnitudes(url):\n    return fetch_rows(url)\n")
    static = {k: f.to_json() for k, f in analyze_source(src, "experimenter/mags.py").items()}
    durations = tuple([0.3] * 50 + [6.0] * 3)
    stats = WindowStats(
        methods={"absolute_magnitudes": MethodStats(method="absolute_magnitudes", calls=53, mean=0.62, p50=0.3,
                                                    p95=0.3)},
        per_version={"v1": VersionStats(code_version="v1", method_durations={"absolute_magnitudes": durations})})
    [opp] = find_opportunities(stats, LabTechnicianConfig(), static, detectors=["missing_timeout"])
    assert opp.target == "experimenter/mags.py::fetch_rows" and opp.priority == "high"
    assert opp.evidence["timed_method"] == "absolute_magnitudes" and opp.evidence["stall_seconds"] == 6.0


def test_unchanged_targets_are_not_parsed_again(workspace: Path, monkeypatch) -> None:
    first = _analyse(workspace)
    import astroagent.labtech.analysis.static as static

    def parse_again(*a, **k):
        raise AssertionError("unchanged target files were parsed again")

    monkeypatch.setattr(static, "analyze_files", parse_again)
    assert _analyse(workspace, window_hours=first.window_hours + 1).static == first.static


def test_one_retry_covers_every_transient_type_seen_at_the_target_however_rare(tmp_path: Path) -> None:
    failures = {i: ("ConnectionResetError", "[Errno 104] Connection reset by peer") for i in range(0, 60, 4)}
    failures.update({7: ("HTTPError", "HTTP Error 503: Service Unavailable"),
                     31: ("HTTPError", "HTTP Error 503: Service Unavailable")})
    a = _analyse(_fetch_workspace(tmp_path, [0.3] * 60, failures))
    [retry] = [o for o in _by(a.opportunities, "frequent_error") if o.fix == "add_retry_mechanism"]
    assert retry.error_types == ("ConnectionResetError", "HTTPError")   # 2 x 503 is under min_pattern_count


def test_the_breaker_stays_open_a_quarter_of_the_longest_outage() -> None:
    """Polls after the dependency came back fail until the cooldown ends: 40 s outages get a 10 s breaker."""
    from astroagent.labtech.analysis.analytics import WindowStats
    from astroagent.labtech.fixes import apply_fix
    from astroagent.labtech.models import ErrorPattern
    from astroagent.labtech.analysis.opportunities import find_opportunities

    pattern = ErrorPattern(signature="s", error_type="HTTPError", template="HTTP Error <n>: Service Unavailable",
                           count=87, method="fetch_cepheids", transient=True)
    stats = WindowStats(patterns=[pattern], streaks={"fetch_cepheids": 87},
                        streak_spans={"fetch_cepheids": [87, 1000.0, 1040.0]})
    [opp] = find_opportunities(stats, LabTechnicianConfig(), {}, detectors=["dependency_outage"])
    assert opp.evidence["outage_seconds"] == 40.0 and opp.evidence["breaker_cooldown"] == 10.0
    src = ("import urllib.request\n\n\ndef fetch_cepheids(url):\n"
           "    return urllib.request.urlopen(url, timeout=5).read()\n")
    assert "cooldown=10," in apply_fix(src, "fetch_cepheids", opp).new_source
    blip = WindowStats(patterns=[pattern], streaks={"fetch_cepheids": 9},
                       streak_spans={"fetch_cepheids": [9, 1000.0, 1001.0]})
    [short] = find_opportunities(blip, LabTechnicianConfig(), {}, detectors=["dependency_outage"])
    assert short.evidence["breaker_cooldown"] == 1.0
    burst = WindowStats(patterns=[pattern], streaks={"fetch_cepheids": 9},
                        streak_spans={"fetch_cepheids": [9, 1000.0, 1000.0]})       # all in one instant
    [instant] = find_opportunities(burst, LabTechnicianConfig(), {}, detectors=["dependency_outage"])
    assert instant.evidence["breaker_cooldown"] == 1.0


def test_a_type_new_since_astroagent_s_retry_widens_it_and_a_hand_written_retry_is_left(tmp_path: Path) -> None:
    from astroagent.labtech.fixes import apply_fix

    failures = {i: ("HTTPError", "HTTP Error 502: Bad Gateway") for i in (3, 11, 19, 27)}
    failures.update({i: ("ConnectionResetError", "[Errno 104] Connection reset by peer") for i in (5, 13, 21)})
    retried = apply_fix(FETCH, "fetch_dataset", Opportunity(
        type="frequent_error", priority="high", description="d", signature="s", fix="add_retry_mechanism",
        error_types=("ConnectionResetError",))).new_source
    ws = _fetch_workspace(tmp_path / "ours", [0.3] * 30, failures)
    (ws / "experimenter" / "fetch.py").write_text(retried)
    [widen] = [o for o in _by(_analyse(ws).opportunities, "frequent_error") if o.description.startswith("HTTPError")]
    assert widen.fix == "add_retry_mechanism" and widen.error_types == ("ConnectionResetError", "HTTPError")
    assert "HTTP 5xx/429" in apply_fix(retried, "fetch_dataset", widen).reason
    [covered] = [o for o in _by(_analyse(ws, "s2").opportunities, "frequent_error")
                 if o.error_types == ("ConnectionResetError",)]
    assert covered.fix is None and "already covers" in covered.evidence["note"]   # nothing to try again
    theirs = _fetch_workspace(tmp_path / "theirs", [0.3] * 30, failures)
    (theirs / "experimenter" / "fetch.py").write_text(
        "import tenacity\n" + FETCH.replace("@instrument",
                                             "@tenacity.retry(stop=tenacity.stop_after_attempt(2))\n@instrument"))
    [left] = [o for o in _by(_analyse(theirs).opportunities, "frequent_error") if o.error_types == ("HTTPError",)]
    assert left.fix is None and "already retries" in left.evidence["note"]


def test_traced_code_is_told_to_add_a_span_not_given_astroagent_s_decorator(workspace: Path) -> None:
    from astroagent.labtech.analysis.analytics import WindowStats
    from astroagent.labtech.analysis.opportunities import find_opportunities
    from astroagent.labtech.models import ErrorPattern, Location, MethodStats
    a = _analyse(workspace)
    pattern = ErrorPattern(signature="s", error_type="ValueError", template="bad header", count=4,
                           location=Location(file="experimenter/stats.py", function="parse_header",
                                             line=a.static["experimenter/stats.py::parse_header"]["line"] + 1))
    stats = WindowStats(patterns=[pattern], methods={"spectra.io.read": MethodStats(method="spectra.io.read",
                                                                                   calls=3, mean=0.1)})
    for spans, fix, tail in ((False, "add_instrumentation", "never timed"),
                             (True, None, "never timed; give it a span of its own to time it")):
        [instr] = _by(find_opportunities(stats, LabTechnicianConfig(), a.static, spans=spans),
                      "missing_instrumentation")
        assert instr.fix == fix and instr.target == "experimenter/stats.py::parse_header"
        assert instr.description.endswith(tail)
    # timed under its module-qualified name (a span's code.namespace + code.function): nothing to add
    stats.methods["experimenter.stats.parse_header"] = MethodStats(method="experimenter.stats.parse_header",
                                                                   calls=4, mean=0.01)
    assert not _by(find_opportunities(stats, LabTechnicianConfig(), a.static, spans=True), "missing_instrumentation")
