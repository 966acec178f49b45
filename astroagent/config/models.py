"""Typed, frozen configuration. Defaults live here and in the packaged ``agents.yaml``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AstroAgentConfig",
    "LabTechnicianConfig",
    "ImprovementPreferences",
    "SafetyConstraints",
    "LLMConfig",
    "VerdictConfig",
    "ExperimenterConfig",
    "PipelineConfig",
    "ArchiveConfig",
    "WatchedAgentConfig",
    "FIX_TYPES",
]

FIX_TYPES = (
    "add_retry_mechanism",
    "add_caching",
    "add_timeout",
    "add_circuit_breaker",
    "add_instrumentation",
    "llm_rewrite",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ImprovementPreferences(_Section):
    prioritize_reliability: bool = True
    prioritize_performance: bool = True
    allowed_fixes: tuple[str, ...] = FIX_TYPES

    @field_validator("allowed_fixes")
    @classmethod
    def _known_fixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [f for f in value if f not in FIX_TYPES]
        if unknown:
            raise ValueError(f"unknown fix {unknown[0]!r}; known: {', '.join(FIX_TYPES)}")
        return value


class SafetyConstraints(_Section):
    max_improvements: int = Field(3, ge=0, le=20)
    require_validation: bool = True
    require_tests: bool = True
    test_timeout_seconds: float = Field(120.0, gt=0)
    import_timeout_seconds: float = Field(30.0, gt=0)
    max_file_kb: int = Field(512, gt=0)
    protected_paths: tuple[str, ...] = ("tests/*", "test_*.py", "*_test.py", "conftest.py")


class LLMConfig(_Section):
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout_seconds: float = Field(60.0, gt=0)
    max_retries: int = Field(2, ge=0, le=10)
    max_response_chars: int = Field(200_000, gt=0)
    # modules an LLM change may newly import (a prefix covers its submodules); the guard refuses others
    allowed_imports: tuple[str, ...] = (
        "math", "cmath", "statistics", "fractions", "decimal", "numbers", "functools", "itertools", "operator",
        "collections", "dataclasses", "typing", "enum", "re", "string", "textwrap", "bisect", "heapq", "copy",
        "json", "datetime", "time", "pathlib", "warnings", "numpy", "scipy", "astropy", "tenacity", "cachetools")

    @field_validator("allowed_imports")
    @classmethod
    def _dotted_modules(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [m for m in value if not all(part.isidentifier() for part in m.split("."))]
        if bad:
            raise ValueError(f"not a module name: {bad[0]!r}")
        return value


class VerdictConfig(_Section):
    min_executions: int = Field(12, ge=2)
    alpha: float = Field(0.05, gt=0, lt=1)
    success_tolerance: float = Field(0.02, ge=0, le=1)
    time_tolerance: float = Field(0.10, ge=0)
    max_canary_executions: int = Field(200, ge=10)


class LabTechnicianConfig(_Section):
    model: str = "gpt-4o-mini"
    temperature: float = Field(0.1, ge=0, le=2)
    max_tokens: int = Field(4000, gt=0)
    analysis_window_hours: float = Field(24.0, gt=0)
    improvement_threshold: float = Field(0.9, ge=0, le=1)
    backup_before_changes: bool = True
    engine: Literal["auto", "rules", "llm"] = "auto"
    approval: Literal["auto", "manual"] = "auto"
    slow_method_seconds: float = Field(2.0, gt=0)
    execution_timeout_seconds: float = Field(900.0, gt=0)
    min_pattern_count: int = Field(3, ge=1)
    complexity_threshold: int = Field(12, ge=2)
    outage_streak: int = Field(5, ge=2)
    cache_min_seconds: float = Field(0.001, ge=0)
    cache_min_saving_seconds: float = Field(0.05, ge=0)
    cache_min_repeat_fraction: float = Field(0.3, ge=0, le=1)
    ingest_engine: Literal["auto", "duckdb", "python"] = "auto"
    targets: tuple[str, ...] = ()
    test_command: str | None = None
    improvement_preferences: ImprovementPreferences = ImprovementPreferences()
    safety_constraints: SafetyConstraints = SafetyConstraints()
    llm: LLMConfig = LLMConfig()
    verdict: VerdictConfig = VerdictConfig()


class ExperimenterConfig(_Section):
    archive_url: str | None = None
    request_timeout_seconds: float = Field(10.0, gt=0)
    seed: int = 42
    default_area: str = "exoplanets"
    code_package: str = "experimenter"


class PipelineConfig(_Section):
    lab_technician_interval: float = Field(3600.0, gt=0)
    min_lab_interval: float = Field(60.0, gt=0)
    max_lab_interval: float = Field(4 * 3600.0, gt=0)
    projects_per_cycle: int = Field(4, ge=1)
    experiment_timeout_seconds: float = Field(120.0, gt=0)
    restart_backoff_seconds: float = Field(1.0, ge=0)
    max_restart_backoff_seconds: float = Field(60.0, ge=0)
    shutdown_deadline_seconds: float = Field(20.0, gt=0)
    lab_technician_timeout_seconds: float = Field(900.0, gt=0)
    min_experiments_between_lab: int = Field(1, ge=0)
    experiments_during_lab: bool = True
    judge_before_changing: bool = True
    research_areas: tuple[str, ...] = ("stellar_evolution", "exoplanets")
    workers: int = Field(1, ge=1, le=1024)
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    rollout: Literal["canary", "switch"] = "canary"
    canary_fraction: float = Field(0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _bounds(self) -> "PipelineConfig":
        if self.min_lab_interval > self.max_lab_interval:
            raise ValueError("min_lab_interval must not exceed max_lab_interval")
        return self


class ArchiveConfig(_Section):
    host: Literal["127.0.0.1", "localhost", "::1"] = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    fault_rate: float = Field(0.0, ge=0, le=1)
    reset_rate: float = Field(0.0, ge=0, le=1)
    stall_rate: float = Field(0.0, ge=0, le=1)
    stall_seconds: float = Field(5.0, ge=0)
    error_rate: float = Field(0.0, ge=0, le=1)
    outage_rate: float = Field(0.0, ge=0, le=1)
    outage_seconds: float = Field(10.0, ge=0)
    seed: int = 0


_AGENT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class WatchedAgentConfig(_Section):
    """One program the Lab Technician watches: the code it may change (a package, or files and
    folders) and how a change is judged. ``None`` falls back to the ``lab_technician`` keys."""

    code_package: str | None = None
    targets: tuple[str, ...] = ()
    test_command: str | None = None
    logs: str | None = None            # its log folder (default <data>/logs/<name>)


class AstroAgentConfig(_Section):
    lab_technician: LabTechnicianConfig = LabTechnicianConfig()
    experimenter: ExperimenterConfig = ExperimenterConfig()
    pipeline: PipelineConfig = PipelineConfig()
    archive: ArchiveConfig = ArchiveConfig()
    agents: dict[str, WatchedAgentConfig] = Field(default_factory=dict)

    @field_validator("agents")
    @classmethod
    def _agent_names(cls, value: dict[str, WatchedAgentConfig]) -> dict[str, WatchedAgentConfig]:
        for name in value:
            if not _AGENT_NAME.fullmatch(name) or name == "lab_technician":
                raise ValueError(f"agent name {name!r} must be a plain folder name (not lab_technician)")
        return value
