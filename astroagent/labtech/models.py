"""The Lab Technician's data: what analysis finds and what the improvement stage acts on.

These models are shared between analysis (ingest, analytics, patterns, opportunities,
reports), improvement (fixes, guard, validation, apply, ledger, verdicts) and the pipeline.
Fields may be added; existing ones keep their meaning. All are frozen and JSON-serialisable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Location",
    "ErrorPattern",
    "MethodStats",
    "SlowMethod",
    "ExecutionStats",
    "VersionStats",
    "Opportunity",
    "OpportunityType",
    "Priority",
    "PRIORITY_ORDER",
    "Analysis",
]

OpportunityType = Literal[
    "low_success_rate",
    "frequent_error",
    "slow_method",
    "deterministic_failure",
    "missing_timeout",
    "uncached_repeated_work",
    "complexity",
    "dependency_outage",
    "missing_instrumentation",
    "tampering",
]
Priority = Literal["critical", "high", "medium", "low"]
PRIORITY_ORDER: dict[str, int] = {"critical": 0, "high": 1, "medium": 2, "low": 3}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(_Model):
    file: str
    function: str | None = None
    line: int | None = None


class ErrorPattern(_Model):
    """Errors grouped by type, message template, method and code location."""

    signature: str                      # stable id of (error_type, template, method, location)
    error_type: str
    template: str                       # message with hosts, numbers, ids, paths masked
    count: int                          # every failed call, absorbed ones included
    executions: int = 0                 # distinct executions that saw it
    absorbed: int = 0                   # of count: the method succeeded later in the same execution (a retry)
    absorbed_executions: int = 0        # of executions: those where every such failure was absorbed
    method: str | None = None
    location: Location | None = None
    transient: bool = False
    evidence: tuple[str, ...] = ()      # why transient / deterministic, in words
    deterministic: bool = False         # the same input fails every time (never transient)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    examples: tuple[str, ...] = ()      # a few raw messages
    code_versions: dict[str, int] = Field(default_factory=dict)    # failed calls per version, absorbed ones included
    failed_versions: dict[str, int] = Field(default_factory=dict)  # per version: the failures no retry absorbed
    derives_from: str | None = None     # error_type is the program's own class; its nearest known base

    @property
    def unabsorbed(self) -> int:
        """Failures no retry absorbed (the method did not succeed later in the same execution)."""
        return self.count - self.absorbed


class MethodStats(_Model):
    method: str
    calls: int
    errors: int = 0                     # failed calls, absorbed ones included
    absorbed: int = 0                   # of errors: the method succeeded later in the same execution (a retry)
    success_rate: float = 1.0           # calls that did not fail for good: absorbed failures count as successes
    mean: float = 0.0
    p50: float = 0.0
    p95: float = 0.0
    total: float = 0.0
    repeated_args: float = 0.0          # fraction of calls whose args_digest was seen before
    distinct_args: int = 0

    @property
    def unabsorbed(self) -> int:
        """Failed calls no retry absorbed."""
        return self.errors - self.absorbed


class SlowMethod(_Model):
    method: str
    calls: int
    mean: float
    p50: float
    p95: float
    total: float = 0.0
    share: float = 0.0                  # fraction of all timed seconds spent in it


class ExecutionStats(_Model):
    total: int = 0
    failed: int = 0
    success_rate: float = 1.0


class VersionStats(_Model):
    """Outcomes of one ``code_version`` — what verdicts compare."""

    code_version: str
    executions: int = 0
    failed: int = 0
    success_rate: float = 1.0
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    execution_times: tuple[float, ...] = ()                       # bounded sample
    method_durations: dict[str, tuple[float, ...]] = Field(default_factory=dict)  # bounded samples
    method_errors: dict[str, int] = Field(default_factory=dict)                   # absorbed ones included
    method_absorbed: dict[str, int] = Field(default_factory=dict)
    method_calls: dict[str, int] = Field(default_factory=dict)


class Opportunity(_Model):
    """Something worth changing, with its evidence and the kind of fix it calls for."""

    type: OpportunityType
    priority: Priority
    score: float = 0.0                  # higher first, within a priority
    description: str
    target: str | None = None           # "path::qualname", path relative to the workspace
    fix: str | None = None              # a fix rule name (see config FIX_TYPES) or None = report only
    signature: str                      # the failure signature this addresses (dedupe key)
    method: str | None = None
    error_types: tuple[str, ...] = ()   # exception types observed (what a retry may catch)
    evidence: dict[str, Any] = Field(default_factory=dict)


class Analysis(_Model):
    """One analysis of a window of logs."""

    generated_at: datetime
    window_hours: float
    log_dir: str
    agent: str | None = None            # whose logs these are (config ``agents:``); None: not said
    log_entries_analyzed: int = 0
    malformed_lines: int = 0
    executions: ExecutionStats = ExecutionStats()
    avg_execution_time: float = 0.0
    execution_time_p50: float = 0.0
    execution_time_p95: float = 0.0
    error_patterns: tuple[ErrorPattern, ...] = ()
    slow_methods: tuple[SlowMethod, ...] = ()
    methods: dict[str, MethodStats] = Field(default_factory=dict)
    per_version: dict[str, VersionStats] = Field(default_factory=dict)
    on_disk: tuple[str, ...] = ()       # the analysed packages' code versions on disk (the current code)
    trend: dict[str, Any] = Field(default_factory=dict)
    static: dict[str, Any] = Field(default_factory=dict)     # path::qualname -> static facts
    opportunities: tuple[Opportunity, ...] = ()
    needs_intervention: bool = False
    notes: tuple[str, ...] = ()
