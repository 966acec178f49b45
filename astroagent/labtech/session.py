"""One Lab Technician session: analyse → judge pending changes → improve → report.

The agent (and so the ContinuousPipeline, whose worker runs the agent) and ``astroagent labtech
improve`` both run this one flow; they differ only in how they read their inputs and show the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astroagent.config.models import AstroAgentConfig
from astroagent.labtech.models import Analysis, Opportunity
from astroagent.paths import agent_log_dir, lab_technician_dir

__all__ = ["SessionRequest", "SessionResult", "run_session", "opportunity_summary"]


@dataclass(frozen=True)
class SessionRequest:
    """What one session is asked to do; ``None`` means the configured default."""

    log_dir: Path | None = None
    targets: tuple[Path, ...] = ()
    test_command: str | None = None
    engine: str | None = None
    max_improvements: int | None = None
    window_hours: float | None = None
    force: bool = False
    dry_run: bool = False
    agent: str = "experimenter"
    design: str = "before_after"        # concurrent: a pipeline runs each change as a canary


@dataclass(frozen=True)
class SessionResult:
    """What a session did: its analysis, the changes and verdicts, notes in words, files written."""

    analysis: Analysis
    improvements: tuple[dict[str, Any], ...]
    verdicts: tuple[dict[str, Any], ...]
    notes: tuple[str, ...]
    improved: bool
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def report_path(self) -> str | None:
        path = self.outputs.get("report_path")
        return str(path) if path else None

    def to_output(self) -> dict[str, Any]:
        """The agent's ``output_data`` (DESIGN §2/§4 keys)."""
        analysis_path = self.outputs.get("analysis_path")
        return {
            "success": True,
            "improvements_made": list(self.improvements),
            "opportunities": [opportunity_summary(o) for o in self.analysis.opportunities],
            "verdicts": list(self.verdicts),
            "notes": list(self.notes),
            "success_rate": self.analysis.executions.success_rate,
            "executions": self.analysis.executions.total,
            "needs_intervention": self.analysis.needs_intervention,
            "report_path": self.report_path,
            "analysis_path": str(analysis_path) if analysis_path else None,
            "plots": [str(p) for p in self.outputs.get("plots") or []],
        }


def opportunity_summary(opp: Opportunity) -> dict[str, Any]:
    """The public face of an opportunity (DESIGN §4): type, priority, description, target, fix."""
    return {"type": opp.type, "priority": opp.priority, "description": opp.description,
            "target": opp.target, "fix": opp.fix}


def run_session(request: SessionRequest, *, config: AstroAgentConfig, workspace: Path | None,
                data_dir: Path, no_intervention_hint: str = "") -> SessionResult:
    """Run the whole flow once; a report that cannot be written is a note, never a lost change."""
    from astroagent.labtech.analysis.analyze import default_targets, run_analysis
    from astroagent.labtech.changes.improve import no_intervention_note, run_improvements
    from astroagent.labtech.reports.render import write_outputs

    lab = config.lab_technician
    log_dir = request.log_dir if request.log_dir is not None else agent_log_dir(request.agent, data_dir)
    state_dir = lab_technician_dir(data_dir)
    targets: Sequence[Path] = request.targets or default_targets(
        lab, workspace, code_package=config.experimenter.code_package)
    analysis = run_analysis(lab, log_dir, state_dir, workspace=workspace, targets=list(targets),
                            window_hours=request.window_hours, force=request.force)
    improve = request.force or analysis.needs_intervention
    outcome = run_improvements(analysis, config=config, workspace=workspace, data_dir=data_dir,
                               targets=list(request.targets) or None, test_command=request.test_command,
                               engine=request.engine or lab.engine,
                               max_improvements=request.max_improvements if improve else 0,
                               dry_run=request.dry_run, force=request.force, design=request.design)
    notes = list(outcome.notes)
    if not improve:
        notes.append(no_intervention_note(analysis, config) + no_intervention_hint)
    try:
        outputs = write_outputs(analysis, state_dir, improvements=outcome.improvements)
    except Exception as exc:  # the changes are made and in the ledger; a broken report must not hide them
        outputs = {}
        notes.append(f"report not written: {type(exc).__name__}: {exc}")
    return SessionResult(analysis=analysis, improvements=tuple(outcome.improvements),
                         verdicts=tuple(outcome.verdicts), notes=tuple(notes), improved=improve,
                         outputs=outputs)
