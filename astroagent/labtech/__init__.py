"""The Lab Technician: reads an agent's logs, finds what fails or is slow, and changes its code safely.

The subpackages follow the data flow (docs/architecture.md):

    analysis/   log lines → hourly rows → window statistics → code facts → opportunities
    knowledge/  what analysis and fixes must agree on: transient errors, network calls, purity
    fixes/      one LibCST codemod a file (retry, cache, timeout, breaker, instrumentation)
    llm/        the optional LLM engine (OpenAI-compatible chat API)
    changes/    guard → validation in a scratch copy → backup + journaled apply → ledger →
                verdicts → rollback
    reports/    markdown/JSON reports and plots
    session     one run: analyse → judge pending → improve → report

The CLI, the agents, the orchestration and the dashboard use only the names below. They load
on first use, so importing this package stays cheap (the CLI starts in well under a second).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Analysis", "Opportunity", "Ledger", "SessionRequest", "SessionResult",
    "run_session", "run_agents", "combined_output", "agent_code", "run_analysis", "default_targets",
    "opportunity_summary", "resolve_targets", "protected_reason", "bar_note", "has_tests",
    "check_change", "rollback_change", "rollback_last", "labtech_lock", "recover",
    "approve_change", "reject_change", "write_outputs", "latest_report", "analyze_json", "version_line",
    "absorbed_line", "CANNOT_RUN", "CANNOT_RUN_STREAK", "BEFORE_AFTER", "CONCURRENT", "evidence_line",
    "parse_kind", "ANALYSIS_RESULTS", "LOG_FORMATS",
]

_HOME = {
    "Analysis": "models", "Opportunity": "models",
    "Ledger": "changes.ledger",
    "SessionRequest": "session", "SessionResult": "session", "run_session": "session",
    "opportunity_summary": "session", "run_agents": "session", "combined_output": "session",
    "agent_code": "session", "protected_reason": "changes.targets", "bar_note": "changes.ledger",
    "has_tests": "changes.validate",
    "run_analysis": "analysis.analyze", "default_targets": "analysis.analyze",
    "resolve_targets": "changes.targets",
    "check_change": "changes.guard",
    "rollback_change": "changes.rollback", "rollback_last": "changes.rollback",
    "labtech_lock": "changes.apply", "recover": "changes.apply",
    "approve_change": "changes.approval", "reject_change": "changes.approval",
    "BEFORE_AFTER": "changes.record", "CONCURRENT": "changes.record", "evidence_line": "changes.record",
    "CANNOT_RUN": "changes.canary", "CANNOT_RUN_STREAK": "changes.canary",
    "write_outputs": "reports.render", "latest_report": "reports.render", "analyze_json": "reports.render",
    "version_line": "reports.render", "absorbed_line": "reports.render",
    "parse_kind": "changes.guard",
    "ANALYSIS_RESULTS": "reports.render",
    "LOG_FORMATS": "analysis.log_formats",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'astroagent.labtech' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"astroagent.labtech.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
