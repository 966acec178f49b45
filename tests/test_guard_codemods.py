"""The codemods' own outputs are never refused: every rule on every function of every scenario program and
of the Experimenter's workspace code, alone and on top of another rule's output, judged with its kind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from astroagent.labtech.changes.guard import check_change
from astroagent.labtech.fixes import apply_fix
from astroagent.labtech.models import Opportunity

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    [p for p in (ROOT / "benchmarks" / "scenarios").glob("*/*/*.py") if p.parent.name != "tests"]
    + list((ROOT / "astroagent" / "workspace_template" / "experimenter").glob("*.py")))

# the evidence each rule needs to act (what the analysis writes for it)
EVIDENCE = {
    "add_retry_mechanism": (("ConnectionResetError", "HTTPError", "TimeoutError", "IncompleteRead"), {}),
    "add_caching": ((), {"repeated_args": 0.6, "distinct_args": 20}),
    "add_timeout": (("TimeoutError",), {"already_retries": False, "typical_p75": 0.4, "stall_seconds": 8.0}),
    "add_circuit_breaker": (("ConnectionRefusedError", "URLError"), {}),
    "add_instrumentation": ((), {}),
}
WIDER = ("ConnectionResetError", "ReadTimeout", "gaierror")


def _functions(source: str) -> list[str]:
    out = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append(node.name)
        elif isinstance(node, ast.ClassDef):
            out += [f"{node.name}.{m.name}" for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return out


def _opportunity(fix: str, errors: tuple[str, ...] | None = None) -> Opportunity:
    types, evidence = EVIDENCE[fix]
    return Opportunity(type="frequent_error", priority="high", description="d", signature=f"s-{fix}", fix=fix,
                       error_types=types if errors is None else errors, evidence=evidence)


def _cases() -> list[tuple[Path, str]]:
    return [(path, qual) for path in SOURCES for qual in _functions(path.read_text(encoding="utf-8"))]


def test_the_corpus_of_programs_is_there():
    assert len(SOURCES) >= 12 and len(_cases()) >= 30


@pytest.mark.parametrize("path, qual", _cases(), ids=lambda v: v if isinstance(v, str) else v.parent.name + "/" + v.name)
def test_every_rule_output_passes_the_guard_with_its_kind(path: Path, qual: str):
    source = path.read_text(encoding="utf-8")
    applied = 0
    for fix in EVIDENCE:
        outcome = apply_fix(source, qual, _opportunity(fix))
        if outcome.status != "applied":
            continue
        applied += 1
        report = check_change(source, outcome.new_source, path=path.name, kind=f"rule:{fix}", functions=(qual,))
        assert report.ok, (fix, qual, report.violations)
        assert check_change(source, outcome.new_source, kind=None).ok   # "any known shape" accepts it too
        for second in EVIDENCE:   # a second rule on top of the first's output
            errors = WIDER if second == fix == "add_retry_mechanism" else None   # the retry widened
            again = apply_fix(outcome.new_source, qual, _opportunity(second, errors))
            if again.status == "applied":
                report = check_change(outcome.new_source, again.new_source, kind=f"rule:{second}", functions=(qual,))
                assert report.ok, (fix, second, qual, report.violations)


def test_a_rule_output_is_refused_as_another_rule_or_for_another_function():
    path = next(p for p in SOURCES if p.name == "fetch.py" and p.parent.name == "experimenter")
    source = path.read_text(encoding="utf-8")
    outcome = apply_fix(source, "fetch_dataset", _opportunity("add_retry_mechanism"))
    assert outcome.status == "applied"
    assert not check_change(source, outcome.new_source, kind="rule:add_caching").ok
    assert not check_change(source, outcome.new_source, kind="rule:add_retry_mechanism",
                            functions=("load_dataset",)).ok
    # the retry moved below @instrument (its failed attempts no longer logged) is not the rule's shape
    lines = outcome.new_source.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("@tenacity.retry("))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(")"))
    retry, rest = lines[start:end + 1], lines[:start] + lines[end + 1:]
    at = next(i for i, line in enumerate(rest) if line.startswith("def fetch_dataset"))
    swapped = "".join(rest[:at] + retry + rest[at:])
    assert swapped != outcome.new_source
    assert not check_change(source, swapped, kind="rule:add_retry_mechanism", functions=("fetch_dataset",)).ok


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.parent.name + "/" + p.name)
def test_whole_module_timeouts_pass_the_guard(path: Path):
    source = path.read_text(encoding="utf-8")
    outcome = apply_fix(source, "<module>", _opportunity("add_timeout"))
    if outcome.status == "applied":
        assert check_change(source, outcome.new_source, kind="rule:add_timeout", functions=("<module>",)).ok
        changed = outcome.new_source.replace("timeout=", "timeout=__import__('os') or ", 1)
        assert not check_change(source, changed, kind="rule:add_timeout").ok
