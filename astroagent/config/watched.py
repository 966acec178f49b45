"""The programs the Lab Technician watches (``agents:`` in the config), resolved to folders.

The Experimenter comes first and stays the default; then every configured agent; then any log
folder below ``<data>/logs`` that no entry names (what ``astroagent watch`` wrote), whose code
package is its own name. ``labtech analyze|improve`` and the pipeline run one session per agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from astroagent.config.models import AstroAgentConfig, WatchedAgentConfig
from astroagent.errors import UsageError
from astroagent.paths import agent_log_dir, lab_technician_dir

__all__ = ["WatchedAgent", "DEFAULT_AGENT", "watched_agents", "select_agents", "agent_lab_dir"]

DEFAULT_AGENT = "experimenter"
_NOT_AGENTS = {"lab_technician"}


@dataclass(frozen=True)
class WatchedAgent:
    """One agent as a session needs it: its name, the code it may change, its judge, its logs."""

    name: str
    code_package: str | None
    targets: tuple[str, ...]
    test_command: str | None
    log_dir: Path
    configured: bool = True

    @property
    def has_logs(self) -> bool:
        return self.log_dir.is_dir() and any(self.log_dir.glob("execution_*.jsonl"))


def agent_lab_dir(agent: str, data_dir: Path) -> Path:
    """Where an agent's reports and analysis state live: the seed's folder for the Experimenter,
    ``lab_technician/agents/<name>/`` for every other (so agents never share incremental state)."""
    lab = lab_technician_dir(Path(data_dir))
    return lab if agent == DEFAULT_AGENT else lab / "agents" / agent


def _resolve(name: str, entry: WatchedAgentConfig, config: AstroAgentConfig, workspace: Path | None,
             data_dir: Path, configured: bool) -> WatchedAgent:
    lab = config.lab_technician
    default = name == DEFAULT_AGENT
    package = entry.code_package or (config.experimenter.code_package if default else None)
    targets = entry.targets or (lab.targets if default else ())
    if package is None and not targets:
        package = name
    log_dir = agent_log_dir(name, data_dir)
    if entry.logs:
        logs = Path(entry.logs).expanduser()
        log_dir = logs if logs.is_absolute() else (workspace or Path.cwd()) / logs
    return WatchedAgent(name, package, tuple(targets), entry.test_command or lab.test_command,
                        log_dir.resolve(), configured)


def watched_agents(config: AstroAgentConfig, *, workspace: Path | None, data_dir: Path) -> list[WatchedAgent]:
    """Every agent: the Experimenter, the configured ones, then unconfigured log folders (see above)."""
    entries = {DEFAULT_AGENT: config.agents.get(DEFAULT_AGENT, WatchedAgentConfig()), **config.agents}
    agents = [_resolve(n, e, config, workspace, Path(data_dir), True) for n, e in entries.items()]
    taken = {a.log_dir for a in agents} | {Path(data_dir).resolve() / "logs" / n for n in _NOT_AGENTS}
    logs = Path(data_dir) / "logs"
    found = sorted(p for p in logs.iterdir() if p.is_dir()) if logs.is_dir() else []
    for folder in found:
        if folder.resolve() not in taken and folder.name not in entries and any(folder.glob("execution_*.jsonl")):
            agents.append(_resolve(folder.name, WatchedAgentConfig(), config, workspace, Path(data_dir), False))
    return agents


def select_agents(agents: Sequence[WatchedAgent], name: str | None) -> list[WatchedAgent]:
    """``name``'s agent (UsageError naming the known ones if there is none), else every agent with logs."""
    if name is not None:
        hit = [a for a in agents if a.name == name]
        if not hit:
            raise UsageError(f"--agent {name}: no such agent; known: {', '.join(a.name for a in agents)} "
                             f"(configure it under agents: in astroagent.yaml, or watch it first)")
        return hit
    return [a for a in agents if a.has_logs]
