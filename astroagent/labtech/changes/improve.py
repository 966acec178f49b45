"""The improvement stage: judge earlier changes, then turn the best opportunities into safe changes.

    recover() → judge pending changes (roll back the worse ones) → for each opportunity, highest
    priority first: allow-list → allowed fix → not tried before → engine proposes → guard →
    validate in a scratch copy → (dry run: stop) → backup + journaled apply → ledger

Several fixes to one file in one run compose: each is computed on the source the previous one
left, applied as its own change with its own backup, and all are judged against the code
version that ran before the run (roll them back newest first).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from astroagent.config.models import AstroAgentConfig
from astroagent.errors import AstroAgentError, RollbackFailed, UsageError
from astroagent.labtech.changes.apply import apply_recorded_change, labtech_lock, recover, sha256_bytes
from astroagent.labtech.changes.approval import AWAITING, record_awaiting
from astroagent.labtech.changes.dependencies import dependency_note, new_imports, undeclared
from astroagent.labtech.changes.ledger import Ledger, bar_note, new_change_id
from astroagent.labtech.models import PRIORITY_ORDER, Analysis, Opportunity
from astroagent.labtech.changes.rollback import rollback_change
from astroagent.labtech.changes.targets import refuse_target, protected_reason, resolve_targets
from astroagent.labtech.changes.validate import validate_change
from astroagent.labtech.changes.canary import judge_concurrent
from astroagent.labtech.changes.record import BEFORE_AFTER, CONCURRENT
from astroagent.labtech.changes.verdicts import Verdict, baseline_of, judge, tampering_verdict
from astroagent.paths import agent_log_dir, lab_technician_dir, package_of
from astroagent.telemetry import workspace_code_version
from astroagent.telemetry.writer import utcnow


__all__ = ["BEFORE_AFTER", "ImproveOutcome", "run_improvements", "judge_pending", "sorted_opportunities", "resolve_targets",
           "no_intervention_note", "protected_reason"]



@dataclass(frozen=True)
class ImproveOutcome:
    """What one improvement run did: the changes it tried, the verdicts it gave, and notes in words."""

    improvements: tuple[dict[str, Any], ...] = ()
    verdicts: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    applied: int = field(default=0)


def sorted_opportunities(opportunities: Sequence[Opportunity]) -> list[Opportunity]:
    """Highest priority first, then the highest score."""
    return sorted(opportunities, key=lambda o: (PRIORITY_ORDER.get(o.priority, 9), -o.score))


def no_intervention_note(analysis: Analysis, config: AstroAgentConfig) -> str:
    """Why no change was tried this run, in words."""
    if not analysis.executions.total:
        return "no executions in the analysis window; no changes tried"
    return (f"success rate {analysis.executions.success_rate:.0%} needs no intervention (threshold "
            f"{config.lab_technician.improvement_threshold:.0%}); no changes tried")


def _diff(old: str, new: str, rel: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{rel}", tofile=f"b/{rel}"))


def _verdict(change: dict[str, Any], analysis: Analysis, config: AstroAgentConfig, data_dir: Path,
             now: datetime | None) -> Verdict:
    """Tampering first; then a concurrent canary on its own arms, any other change before/after."""
    if change.get("design") != CONCURRENT:
        return judge(change, analysis, config.lab_technician.verdict)
    if (tampered := tampering_verdict(change, analysis)) is not None:
        return tampered
    log_dir = agent_log_dir(change.get("agent") or "experimenter", data_dir)
    return judge_concurrent(change, log_dir, config.lab_technician.verdict, now=now)


def judge_pending(analysis: Analysis, *, config: AstroAgentConfig, workspace: Path | None, data_dir: Path,
                  dry_run: bool = False, now: datetime | None = None, agent: str | None = None
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Judge every applied change still pending (newest first, so stacked changes unwind); roll back the worse.
    With ``agent``, only that agent's changes: ``analysis`` read its logs, not another's."""
    ledger = Ledger(data_dir)
    verdicts: list[dict[str, Any]] = []
    notes: list[str] = []
    stamp = (now or utcnow()).isoformat()
    pending = [c for c in ledger.pending() if agent is None or (c.get("agent") or "experimenter") == agent]
    for change in reversed(pending):
        verdict = _verdict(change, analysis, config, data_dir, now)
        shared = set(change.get("code_versions_after") or ())
        together = [c["id"] for c in pending
                    if c["id"] != change["id"] and shared & set(c.get("code_versions_after") or ())]
        if together:      # changes that landed together are measured on the same executions
            verdict.evidence["judged_with"] = together
        entry = {"id": change["id"], "type": change.get("type"), "target": change.get("target"),
                 "verdict": verdict.verdict, "reason": verdict.reason, "evidence": verdict.evidence}
        if verdict.verdict == "rolled_back":
            if dry_run:
                entry["verdict"] = "pending"
                entry["reason"] = f"would roll back (dry run): {verdict.reason}"
            elif workspace is None:
                entry["verdict"] = "pending"
                entry["reason"] = f"should be rolled back but there is no workspace: {verdict.reason}"
            else:
                try:
                    rollback_change(change["id"], data_dir=data_dir, workspace=workspace,
                                    reason=f"automatic rollback: {verdict.reason}",
                                    verdict_evidence=verdict.evidence, now=now)
                    notes.append(f"{change['id']} rolled back automatically: {verdict.reason}")
                except RollbackFailed as exc:
                    entry["verdict"] = "pending"
                    entry["reason"] = f"judged worse but not rolled back: {exc}"
                    notes.append(f"{change['id']}: {entry['reason']}")
                    ledger.update(change["id"], verdict_reason=entry["reason"], verdict_evidence=verdict.evidence,
                                  judged_at=stamp, now=now)
        elif not dry_run and (verdict.verdict == "kept" or change.get("verdict_reason") != verdict.reason):
            ledger.update(change["id"], verdict=verdict.verdict, verdict_reason=verdict.reason,
                          verdict_evidence=verdict.evidence, judged_at=stamp, now=now)
        verdicts.append(entry)
    if dry_run and verdicts:
        notes.append("dry run: verdicts shown, not recorded; nothing rolled back")
    return verdicts, notes


class _Run:
    """The state of one improvement run (kept small so ``run_improvements`` reads as the flow)."""

    def __init__(self, analysis: Analysis, config: AstroAgentConfig, workspace: Path, data_dir: Path,
                 allow: tuple[str, ...], test_command: str | None, engine: str, dry_run: bool,
                 now: datetime | None):
        self.analysis, self.config, self.workspace, self.data_dir = analysis, config, workspace, data_dir
        self.allow, self.test_command, self.engine, self.dry_run, self.now = allow, test_command, engine, dry_run, now
        self.ledger = Ledger(data_dir)
        self.sources: dict[str, str] = {}         # what each file holds now (after this run's changes)
        self.shas: dict[str, str] = {}            # sha256 of those bytes: an edit made meanwhile is refused
        self.versions: dict[str, str] = {}        # each package's code version when the run began
        self.notes: list[str] = []
        self.design = BEFORE_AFTER
        self.agent, self.code_package = "experimenter", config.experimenter.code_package   # whose code this is

    def engine_for(self, opp: Opportunity) -> str | None:
        from astroagent.labtech.llm.engine import llm_configured
        if self.engine == "llm":
            return "llm"
        if opp.fix is None:
            return None                       # report only (the llm engine, asked for, still tries)
        if opp.fix == "llm_rewrite":
            if self.engine == "auto" and llm_configured(self.config.lab_technician):
                return "llm"
            return None
        return "rules"

    def propose(self, engine: str, source: str, rel: str, qualname: str, opp: Opportunity
                ) -> tuple[str | None, str, tuple[str, ...]]:
        """(new source or None, reason, warnings) from the chosen engine."""
        if engine == "llm":
            from astroagent.labtech.llm.engine import propose_fix
            proposal = propose_fix(source, qualname, opp, self.config.lab_technician, path=rel,
                                   transcript_dir=lab_technician_dir(self.data_dir) / "llm_transcripts")
            ok = proposal.status == "proposed" and proposal.new_source
            return (proposal.new_source if ok else None), proposal.reason, ()
        from astroagent.labtech.fixes import apply_fix
        outcome = apply_fix(source, qualname, opp)
        if outcome.status == "applied" and outcome.new_source and outcome.new_source != source:
            return outcome.new_source, outcome.reason, tuple(outcome.warnings)
        prefix = "nothing to change: " if outcome.status == "skipped" else ""
        return None, prefix + outcome.reason, tuple(outcome.warnings)

    def attempt(self, opp: Opportunity, engine: str, rel: str, qualname: str) -> dict[str, Any] | None:
        """One candidate change through engine → guard → validation → apply; its improvement dict."""
        from astroagent.labtech.changes.guard import check_change, kind_for
        fix = opp.fix or "llm_rewrite"
        source = self.sources.get(rel)
        if source is None:
            data = (self.workspace / rel).read_bytes()
            source = self.sources[rel] = data.decode("utf-8")
            self.shas[rel] = sha256_bytes(data)
        package = package_of(self.workspace, rel)
        if package not in self.versions and (version := workspace_code_version(self.workspace, package)):
            self.versions[package] = version
        before_version = self.versions.get(package)
        record: dict[str, Any] = {
            "id": new_change_id(), "created_at": (self.now or utcnow()).isoformat(), "agent": self.agent,
            "type": opp.type, "priority": opp.priority, "description": opp.description,
            "signature": opp.signature, "target": f"{rel}::{qualname}", "file": rel, "qualname": qualname,
            "package": package if workspace_code_version(self.workspace, package) else None, "method": opp.method,
            "error_types": list(opp.error_types), "evidence": opp.evidence, "engine": engine, "fix": fix,
            "code_version_before": before_version, "verdict": "pending", "diff": "",
        }
        new_source, reason, warnings = self.propose(engine, source, rel, qualname, opp)
        record["warnings"] = list(warnings)
        if new_source is None:
            if reason.startswith("nothing to change"):
                self.notes.append(f"{opp.fix} on {rel}::{qualname}: {reason}")
                return None
            return self.finish(record, "rejected", f"{fix} not proposed: {reason}")
        record["diff"] = _diff(source, new_source, rel)
        if added := undeclared(new_imports(source, new_source), self.workspace):   # say so, don't hide it
            record["adds_dependencies"] = added
            reason += dependency_note(added, self.workspace)
        guard = check_change(source, new_source, path=rel, kind=kind_for(engine, opp.fix), functions=(qualname,),
                             allowed_imports=self.config.lab_technician.llm.allowed_imports, workspace=self.workspace)
        if not guard.ok:
            return self.finish(record, "rejected", "guard: " + "; ".join(guard.violations))
        safety = self.config.lab_technician.safety_constraints
        if safety.require_validation:
            result = validate_change(self.workspace, rel, new_source,
                                     test_command=self.test_command or self.config.lab_technician.test_command,
                                     import_timeout=safety.import_timeout_seconds,
                                     test_timeout=safety.test_timeout_seconds, require_tests=safety.require_tests)
            record["validation"] = {"stage": result.stage, "detail": result.detail, "duration": result.duration}
            if not result.ok:
                return self.finish(record, "rejected", f"validation failed ({result.stage}): {result.detail}")
        if self.dry_run:
            return self.finish(record, "proposed", f"{fix}: {reason} (dry run, nothing applied)")
        record["reason"] = f"{fix}: {reason}"
        record["baseline"] = baseline_of(self.analysis, before_version, opp.method)
        record["sha_before"] = self.shas[rel]     # as read, before proposing and validating
        if self.config.lab_technician.approval == "manual":   # a person decides (changes/approval.py)
            return _improvement(record_awaiting(record, new_source, data_dir=self.data_dir, reason=record["reason"]))
        record["design"] = self.design
        stored = apply_recorded_change(record, new_source, workspace=self.workspace, data_dir=self.data_dir,
                                       backup=self.config.lab_technician.backup_before_changes, now=self.now)
        self.sources[rel] = new_source
        self.shas[rel] = stored.get("sha_after") or sha256_bytes(new_source.encode("utf-8"))
        return _improvement(stored)

    def finish(self, record: dict[str, Any], status: str, reason: str) -> dict[str, Any]:
        record.update(status=status, reason=reason, verdict=None)
        self.ledger.record_change(record)
        return _improvement(record)


def _improvement(record: dict[str, Any]) -> dict[str, Any]:
    return {key: record.get(key) for key in ("id", "type", "target", "status", "reason", "diff", "fix", "engine",
                                              "verdict", "code_version_before", "code_version_after")}


def run_improvements(analysis: Analysis, *, config: AstroAgentConfig, workspace: Path | None, data_dir: Path,
                     targets: Sequence[Path] | None = None, test_command: str | None = None, engine: str = "auto",
                     max_improvements: int | None = None, dry_run: bool = False, force: bool = False,
                     design: str = BEFORE_AFTER, agent: str = "experimenter", code_package: str | None = None,
                     now: datetime | None = None) -> ImproveOutcome:
    """Judge earlier changes, then make at most ``max_improvements`` new ones (see the module docstring).
    ``force`` is accepted for symmetry with the CLI: it never re-applies a fix tried before.
    ``design``: ``concurrent`` when a pipeline runs each change as a canary beside its baseline
    (then one change at a time: a second must not share the first one's evidence).
    ``agent``: whose logs ``analysis`` read (only its changes are judged on it; new ones are recorded
    as its own); ``code_package``: what it may change without ``targets`` (default the Experimenter's)."""
    if design not in (BEFORE_AFTER, CONCURRENT):
        raise UsageError(f"unknown verdict design {design!r}; expected {BEFORE_AFTER} or {CONCURRENT}")
    if engine not in ("auto", "rules", "llm"):
        raise UsageError(f"unknown engine {engine!r}; expected auto, rules or llm")
    data_dir = Path(data_dir)
    workspace = Path(workspace).resolve() if workspace is not None else None
    limit = config.lab_technician.safety_constraints.max_improvements if max_improvements is None else max_improvements
    if limit < 0:
        raise UsageError(f"--max-improvements {limit}: must be 0 or more")
    with labtech_lock(data_dir):
        notes = list(recover(data_dir, workspace))
        verdicts, verdict_notes = judge_pending(analysis, config=config, workspace=workspace, data_dir=data_dir,
                                                dry_run=dry_run, now=now, agent=agent)
        notes += verdict_notes
        if workspace is None:
            notes.append("no workspace (astroagent.yaml) found: nothing the Lab Technician may change; "
                         "no code was changed")
            return ImproveOutcome((), tuple(verdicts), tuple(notes), 0)
        allow = resolve_targets(workspace, targets or ()) or tuple(config.lab_technician.targets)
        if design == CONCURRENT:
            limit = _one_canary(Ledger(data_dir), limit, notes)
        run = _Run(analysis, config, workspace, data_dir, allow, test_command, engine, dry_run, now)
        run.design = design
        run.agent, run.code_package = agent, code_package or config.experimenter.code_package
        improvements = _improve(run, limit)
        notes += run.notes
    applied = sum(1 for i in improvements if i["status"] in ("applied", "proposed"))
    return ImproveOutcome(tuple(improvements), tuple(verdicts), tuple(notes), applied)


def _one_canary(ledger: Ledger, limit: int, notes: list[str]) -> int:
    """At most one concurrent canary at a time: none while one is still being judged."""
    running = [c for c in ledger.pending() if c.get("design") == CONCURRENT]
    if running:
        c = running[-1]
        if limit:
            notes.append(f"canary {c['id']} ({c.get('fix')} on {c.get('target')}) is still being judged; "
                         "new changes wait for its verdict")
        return 0
    return min(limit, 1)


def _transient(analysis: Analysis, opp: Opportunity) -> bool:
    """A retry only for failures analysis judged transient (DESIGN §5 rule 7), checked again here."""
    if opp.type == "deterministic_failure":
        return False
    patterns = [p for p in analysis.error_patterns if p.signature == opp.signature]
    return all(p.transient for p in patterns)


def _improve(run: _Run, limit: int) -> list[dict[str, Any]]:
    improvements: list[dict[str, Any]] = []
    allowed = set(run.config.lab_technician.improvement_preferences.allowed_fixes)
    done = attempts = 0
    seen: set[tuple[str, str]] = set()
    for opp in sorted_opportunities(run.analysis.opportunities):
        if done >= limit:
            if limit and opp.fix:
                run.notes.append(f"max_improvements ({limit}) reached; {opp.type} on {opp.target} waits")
            continue
        if attempts >= 2 * limit + 2:
            run.notes.append("too many rejected candidates this run; the rest wait for the next run")
            break
        if not opp.target or "::" not in opp.target:
            if opp.fix or opp.type == "deterministic_failure":
                run.notes.append(f"{opp.type}: {opp.description} (no code location; reported only)")
            continue
        engine = run.engine_for(opp)
        if engine is None:
            if opp.fix == "llm_rewrite":
                why = "no LLM is configured" if run.engine == "auto" else "the rules engine has no fix for it"
                run.notes.append(f"{opp.type} in {opp.target}: reported only ({why})")
            continue
        fix = opp.fix or "llm_rewrite"
        rel, _, qualname = opp.target.partition("::")
        if fix not in allowed:
            run.notes.append(f"{fix} on {opp.target}: not in improvement_preferences.allowed_fixes")
            continue
        refusal = refuse_target(run.workspace, rel, run.config, run.allow, run.code_package)
        if refusal:
            run.notes.append(f"{fix} on {opp.target}: refused, {refusal}")
            continue
        if fix == "add_retry_mechanism" and not _transient(run.analysis, opp):
            run.notes.append(f"{opp.target}: no retry, the failure {opp.signature} is deterministic")
            continue
        if (opp.signature, fix) in seen:
            continue                          # another opportunity of this run already asked for it
        if (barred := run.ledger.bar(opp.signature, fix)) is not None:
            run.notes.append(bar_note(barred, fix, opp.target, opp.method))
            continue
        seen.add((opp.signature, fix))
        attempts += 1
        try:
            result = run.attempt(opp, engine, rel, qualname)
        except (AstroAgentError, OSError, UnicodeDecodeError) as exc:
            run.notes.append(f"{fix} on {opp.target}: not applied, {type(exc).__name__}: {exc}")
            continue
        if result is None:
            continue
        improvements.append(result)
        if result["status"] in ("applied", "proposed", AWAITING):
            done += 1
    return improvements
