"""astroagent: a self-improving research pipeline for astrophysics.

An Experimenter runs real analyses on real data; a Lab Technician reads its logs, finds
recurring failures and slow methods, and changes its code safely; a ContinuousPipeline
runs both for hours.
"""

__version__ = "0.1.0"

from astroagent.errors import (  # noqa: E402
    ArchiveError,
    AstroAgentError,
    ConfigError,
    DataError,
    LLMError,
    LogFormatError,
    PatchRejected,
    RollbackFailed,
    UnknownAgentError,
    UsageError,
    ValidationFailed,
)

__all__ = [
    "__version__",
    "AstroAgentError",
    "ConfigError",
    "UsageError",
    "UnknownAgentError",
    "LogFormatError",
    "DataError",
    "ArchiveError",
    "PatchRejected",
    "ValidationFailed",
    "RollbackFailed",
    "LLMError",
]
