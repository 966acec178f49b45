"""Telemetry: write the log contract (``docs/log-format.md``) from any Python program."""

from astroagent.telemetry.code_version import code_version, package_code_version, workspace_code_version
from astroagent.telemetry.instrument import (
    Execution,
    Span,
    Telemetry,
    args_digest,
    call_digest,
    current_execution,
    error_location,
    instrument,
)
from astroagent.atomic import atomic_write_bytes
from astroagent.telemetry.metrics import MetricsRecorder, merge_metrics
from astroagent.telemetry.writer import EventWriter, utcnow

__all__ = [
    "Telemetry",
    "Execution",
    "Span",
    "instrument",
    "current_execution",
    "args_digest",
    "call_digest",
    "error_location",
    "code_version",
    "package_code_version",
    "workspace_code_version",
    "EventWriter",
    "MetricsRecorder",
    "merge_metrics",
    "atomic_write_bytes",
    "utcnow",
]
