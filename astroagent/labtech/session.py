"""One Lab Technician session: analyse → judge pending changes → improve → report.

The agent (and so the ContinuousPipeline, whose worker runs the agent) and ``astroagent labtech
improve`` both run this one flow; they differ only in how they read their inputs and show the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from astroagent.config.models import AstroAgentConfig
from astroagent.errors import ConfigError
from astroagent.labtech.changes.record import BEFORE_AFTER
from astroagent.labtech.models import Analysis, Opportunity
from astroagent.config.watched import DEFAULT_AGENT, WatchedAgent, agent_lab_dir, select_agents, watched_agents

__all__ = ["SessionRequest", "SessionResult", "run_session", "run_agents", "agent_code", "combined_output",
           "opportunity_summary"]


@dataclass(frozen=True)
class SessionRequest:
    """What one session is asked to do; ``None`` means the configured default."""

    log_dir: Path | None = None
    log_format: str = "auto"            # contract | otel (OpenTelemetry spans) | auto: detected
    targets: tuple[Path, ...] = ()
    test_command: str | None = None
    engine: str | None = None
    max_improvements: int | None = None
    window_hours: float | None = None
    force: bool = False
    dry_run: bool = False
    agent: str = DEFAULT_AGENT
    design: str = BEFORE_AFTER          # concurrent: a pipeline runs each change as a canary


@dataclass(frozen=True)
class SessionResult:
    """What a session did: its analysis, the changes and verdicts, notes in words, files written."""

    analysis: Analysis
    agent: str
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
            "agent": self.agent,
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


def _agent(request: SessionRequest, config: AstroAgentConfig, workspace: Path | None,
           data_dir: Path) -> WatchedAgent:
    """The agent the request names (UsageError naming the known ones when there is none)."""
    return select_agents(watched_agents(config, workspace=workspace, data_dir=data_dir), request.agent)[0]


def agent_code(agent: WatchedAgent, config: AstroAgentConfig, workspace: Path | None,
               targets: tuple[Path, ...] = ()) -> tuple[list[Path], list[Path]]:
    """(the code analysis reads, the allow-list): ``--target`` files, else the agent's targets (both),
    else its whole package (read; no allow-list, the package rule applies)."""
    from astroagent.labtech.analysis.analyze import default_targets

    if targets:
        return list(targets), list(targets)
    if agent.name != DEFAULT_AGENT and workspace is not None:
        for entry in agent.targets:    # a typo would silently leave nothing it may change
            if not (Path(workspace) / entry.split("::", 1)[0]).exists():
                raise ConfigError(f"agents.{agent.name}.targets: {entry!r} matches no file or folder in {workspace}")
    lab = config.lab_technician.model_copy(update={"targets": agent.targets})
    files = default_targets(lab, workspace, code_package=agent.code_package or agent.name)
    return files, (files if agent.targets else [])


def run_session(request: SessionRequest, *, config: AstroAgentConfig, workspace: Path | None,
                data_dir: Path, no_intervention_hint: str = "") -> SessionResult:
    """Run the whole flow once for ``request.agent``; a report that cannot be written is a note,
    never a lost change."""
    from astroagent.labtech.analysis.analyze import run_analysis
    from astroagent.labtech.changes.improve import no_intervention_note, run_improvements
    from astroagent.labtech.reports.render import write_outputs

    lab = config.lab_technician
    agent = _agent(request, config, workspace, data_dir)
    log_dir = request.log_dir if request.log_dir is not None else agent.log_dir
    state_dir = agent_lab_dir(agent.name, data_dir)
    read, allow = agent_code(agent, config, workspace, request.targets)
    analysis = run_analysis(lab, log_dir, state_dir, workspace=workspace, targets=read,
                            window_hours=request.window_hours, force=request.force, log_format=request.log_format)
    analysis = analysis.model_copy(update={"agent": agent.name})
    improve = request.force or analysis.needs_intervention
    outcome = run_improvements(analysis, config=config, workspace=workspace, data_dir=data_dir,
                               targets=allow or None, test_command=request.test_command or agent.test_command,
                               engine=request.engine or lab.engine,
                               max_improvements=request.max_improvements if improve else 0,
                               dry_run=request.dry_run, force=request.force, design=request.design,
                               agent=agent.name, code_package=agent.code_package)
    notes = list(outcome.notes)
    if not improve:
        notes.append(no_intervention_note(analysis, config) + no_intervention_hint)
    try:
        outputs = write_outputs(analysis, state_dir, improvements=outcome.improvements, verdicts=outcome.verdicts)
    except Exception as exc:  # the changes are made and in the ledger; a broken report must not hide them
        outputs = {}
        notes.append(f"report not written: {type(exc).__name__}: {exc}")
    return SessionResult(analysis=analysis, agent=agent.name, improvements=tuple(outcome.improvements),
                         verdicts=tuple(outcome.verdicts), notes=tuple(notes), improved=improve,
                         outputs=outputs)


def run_agents(request: SessionRequest, *, agent: str | None, config: AstroAgentConfig, workspace: Path | None,
               data_dir: Path, no_intervention_hint: str = "") -> list[SessionResult]:
    """One session per agent: ``agent``'s when named (or when a log folder is given: the request's own),
    else every agent with logs — the Experimenter alone when none has any (its session says so)."""
    if agent is not None or request.log_dir is not None:
        names = [agent or request.agent]
    else:
        names = [a.name for a in select_agents(watched_agents(config, workspace=workspace, data_dir=data_dir), None)]
    results = []
    for name in names or [request.agent]:
        design = request.design if name == DEFAULT_AGENT else BEFORE_AFTER   # the fleet canaries the Experimenter
        results.append(run_session(replace(request, agent=name, design=design), config=config,
                                   workspace=workspace, data_dir=data_dir, no_intervention_hint=no_intervention_hint))
    return results


def combined_output(results: list[SessionResult]) -> dict[str, Any]:
    """Several sessions as one ``output_data``: the first agent's figures on top (the seed's keys), the
    changes, opportunities, verdicts and notes of all, each naming its agent, and one line per agent."""
    out = results[0].to_output()
    for key in ("improvements_made", "opportunities", "verdicts", "notes"):
        out[key] = []
    for result in results:
        one = result.to_output()
        for key in ("improvements_made", "opportunities", "verdicts"):
            out[key] += [{**item, "agent": result.agent} for item in one[key]]
        out["notes"] += [f"{result.agent}: {n}" if len(results) > 1 else n for n in one["notes"]]
    out["agents"] = [{"agent": r.agent, "executions": r.analysis.executions.total,
                      "success_rate": r.analysis.executions.success_rate,
                      "needs_intervention": r.analysis.needs_intervention, "report_path": r.report_path}
                     for r in results]
    return out

