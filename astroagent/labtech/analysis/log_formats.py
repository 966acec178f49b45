"""The log formats the Lab Technician reads (a leaf: the command line's options name them at start-up)."""

__all__ = ["LOG_FORMATS"]

LOG_FORMATS = ("auto", "contract", "otel")   # auto: OpenTelemetry spans when the folder has no execution_*.jsonl
